//! The company's teams: the categories each handles, its members and the
//! servers that host it.

use switchboard_core::ids::{ServerId, TeamId};
use switchboard_core::routing::TeamCategories;
use switchboard_core::{AccountId, CompanyId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Store;
use crate::db::{from_micros, now_micros, on_pool};
use crate::error::{Error, Result};

/// A team as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeamRecord {
    pub id: TeamId,
    pub company: CompanyId,
    pub fields: TeamFields,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// What an admin sets on a team.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeamFields {
    /// Unique within the company.
    pub name: String,
    /// Ticket categories it handles: with no rule routing a ticket, its
    /// category picks the team.
    pub categories: Vec<String>,
    pub members: Vec<AccountId>,
    /// The servers it works on; the router picks among them.
    pub servers: Vec<ServerId>,
}

const COLUMNS: &str = "id, company, name, categories, members, servers, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    company: String,
    name: String,
    categories: String,
    members: String,
    servers: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<Row> for TeamRecord {
    type Error = Error;

    fn try_from(row: Row) -> Result<Self> {
        let corrupt = |what: &str| Error::Corrupt(format!("team {}: bad {what}", row.id));
        Ok(TeamRecord {
            id: TeamId(row.id),
            company: CompanyId::parse(&row.company).map_err(|_| corrupt("company"))?,
            fields: TeamFields {
                name: row.name.clone(),
                categories: serde_json::from_str(&row.categories).map_err(|_| corrupt("categories"))?,
                members: serde_json::from_str(&row.members).map_err(|_| corrupt("members"))?,
                servers: serde_json::from_str(&row.servers).map_err(|_| corrupt("servers"))?,
            },
            created_at: from_micros(row.created_at)?,
            updated_at: from_micros(row.updated_at)?,
        })
    }
}

impl TeamRecord {
    /// What category routing needs of the team.
    pub fn categories(&self) -> TeamCategories {
        TeamCategories { team: self.id, name: self.fields.name.clone(), categories: self.fields.categories.clone() }
    }
}

fn json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|error| Error::Corrupt(error.to_string()))
}

/// Another team of the company has this name.
fn name_taken(error: sqlx::Error) -> Error {
    match &error {
        sqlx::Error::Database(database) if database.is_unique_violation() => {
            Error::Refused { code: "already_exists", message: "another team of the company has this name".into() }
        }
        _ => error.into(),
    }
}

impl Store {
    pub async fn create_team(&self, company: &CompanyId, fields: &TeamFields) -> Result<TeamRecord> {
        let (id, now) = (TeamId::new(), now_micros());
        let (categories, members, servers) =
            (json(&fields.categories)?, json(&fields.members)?, json(&fields.servers)?);
        on_pool!(&self.writer, |pool| sqlx::query(
            "INSERT INTO teams (id, company, name, categories, members, servers, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)"
        )
        .bind(id.0)
        .bind(company.as_str())
        .bind(&fields.name)
        .bind(&categories)
        .bind(&members)
        .bind(&servers)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))
        .map_err(name_taken)?;
        let at = from_micros(now)?;
        Ok(TeamRecord { id, company: company.clone(), fields: fields.clone(), created_at: at, updated_at: at })
    }

    pub async fn team(&self, company: &CompanyId, id: TeamId) -> Result<Option<TeamRecord>> {
        let row: Option<Row> = on_pool!(&self.db, |pool| sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM teams WHERE id = $1 AND company = $2"
        ))
        .bind(id.0)
        .bind(company.as_str())
        .fetch_optional(pool)
        .await)?;
        row.map(TeamRecord::try_from).transpose()
    }

    /// The company's teams, oldest first (the order category routing tries
    /// them in).
    pub async fn list_teams(&self, company: &CompanyId) -> Result<Vec<TeamRecord>> {
        let rows: Vec<Row> = on_pool!(&self.db, |pool| sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM teams WHERE company = $1 ORDER BY id"
        ))
        .bind(company.as_str())
        .fetch_all(pool)
        .await)?;
        rows.into_iter().map(TeamRecord::try_from).collect()
    }

    /// What category routing needs of the company's teams, in the order it
    /// tries them (oldest first).
    pub async fn team_categories(&self, company: &CompanyId) -> Result<Vec<TeamCategories>> {
        Ok(self.list_teams(company).await?.iter().map(TeamRecord::categories).collect())
    }

    /// Replaces a team's fields; `None` if the company has no such team.
    pub async fn update_team(
        &self,
        company: &CompanyId,
        id: TeamId,
        fields: &TeamFields,
    ) -> Result<Option<TeamRecord>> {
        let (categories, members, servers) =
            (json(&fields.categories)?, json(&fields.members)?, json(&fields.servers)?);
        let updated = on_pool!(&self.writer, |pool| sqlx::query(
            "UPDATE teams SET name = $1, categories = $2, members = $3, servers = $4, updated_at = $5 \
             WHERE id = $6 AND company = $7"
        )
        .bind(&fields.name)
        .bind(&categories)
        .bind(&members)
        .bind(&servers)
        .bind(now_micros())
        .bind(id.0)
        .bind(company.as_str())
        .execute(pool)
        .await
        .map(|result| result.rows_affected() == 1))
        .map_err(name_taken)?;
        if !updated {
            return Ok(None);
        }
        self.team(company, id).await
    }

    /// `false` if the company has no such team.
    pub async fn delete_team(&self, company: &CompanyId, id: TeamId) -> Result<bool> {
        on_pool!(&self.writer, |pool| sqlx::query("DELETE FROM teams WHERE id = $1 AND company = $2")
            .bind(id.0)
            .bind(company.as_str())
            .execute(pool)
            .await
            .map(|result| result.rows_affected() == 1))
        .map_err(Error::from)
    }
}
