//! What the dispatch assistant reads about people: each engineer's and
//! technician's field profile (skills and home base, on their account) and
//! how many open tickets they hold.

use switchboard_core::{AccountId, CompanyId, Role};
use uuid::Uuid;

use crate::Store;
use crate::db::on_pool;
use crate::equipment::Coordinates;
use crate::error::{Error, Result};

/// An engineer's or technician's field profile.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FieldProfile {
    /// Equipment models and ticket categories they repair, as written.
    pub skills: Vec<String>,
    pub home_base_address: Option<String>,
    pub home_base: Option<Coordinates>,
}

/// A person the assistant may send.
#[derive(Clone, Debug, PartialEq)]
pub struct DispatchPerson {
    pub id: AccountId,
    pub name: String,
    pub role: Role,
    pub profile: FieldProfile,
    /// Tickets assigned to them that are opened or in progress.
    pub open_assignments: u32,
}

type ProfileRow = (Option<String>, Option<String>, Option<f64>, Option<f64>);

fn profile((skills, home_base_address, latitude, longitude): ProfileRow) -> Result<FieldProfile> {
    let skills = match skills {
        Some(json) => serde_json::from_str(&json).map_err(|error| Error::Corrupt(format!("skills: {error}")))?,
        None => Vec::new(),
    };
    let home_base = match (latitude, longitude) {
        (Some(latitude), Some(longitude)) => Some(Coordinates { latitude, longitude }),
        _ => None,
    };
    Ok(FieldProfile { skills, home_base_address, home_base })
}

impl Store {
    /// The field profile of the company's live account `account`; `None`
    /// when there is no such account.
    pub async fn field_profile(&self, company: &CompanyId, account: AccountId) -> Result<Option<FieldProfile>> {
        let row: Option<ProfileRow> = on_pool!(&self.db, |pool| sqlx::query_as(
            "SELECT skills, home_base_address, home_base_latitude, home_base_longitude FROM accounts \
             WHERE id = $1 AND company = $2 AND deleted_at IS NULL"
        )
        .bind(account.0)
        .bind(company.as_str())
        .fetch_optional(pool)
        .await)?;
        row.map(profile).transpose()
    }

    /// Replaces the field profile of the company's live account `account`;
    /// `false` when there is no such account.
    pub async fn set_field_profile(
        &self,
        company: &CompanyId,
        account: AccountId,
        fields: &FieldProfile,
    ) -> Result<bool> {
        let skills = serde_json::to_string(&fields.skills).map_err(|error| Error::Corrupt(error.to_string()))?;
        let updated = on_pool!(&self.writer, |pool| sqlx::query(
            "UPDATE accounts SET skills = $1, home_base_address = $2, home_base_latitude = $3, \
             home_base_longitude = $4 WHERE id = $5 AND company = $6 AND deleted_at IS NULL"
        )
        .bind(skills)
        .bind(&fields.home_base_address)
        .bind(fields.home_base.map(|point| point.latitude))
        .bind(fields.home_base.map(|point| point.longitude))
        .bind(account.0)
        .bind(company.as_str())
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
        Ok(updated > 0)
    }

    /// The company's live engineers and technicians with their profiles
    /// and open assignments, oldest account first.
    pub async fn dispatch_people(&self, company: &CompanyId) -> Result<Vec<DispatchPerson>> {
        type Row = (Uuid, String, Option<String>, Option<String>, Option<String>, Option<f64>, Option<f64>, i64);
        let rows: Vec<Row> = on_pool!(&self.db, |pool| sqlx::query_as(
            "SELECT a.id, a.role, a.name, a.skills, a.home_base_address, a.home_base_latitude, \
             a.home_base_longitude, \
             (SELECT COUNT(*) FROM tickets t WHERE t.assignee_id = a.id AND t.company = a.company \
              AND t.status IN ('opened', 'in_progress')) \
             FROM accounts a WHERE a.company = $1 AND a.deleted_at IS NULL \
             AND a.role IN ('engineer', 'technician') ORDER BY a.id"
        )
        .bind(company.as_str())
        .fetch_all(pool)
        .await)?;
        rows.into_iter()
            .map(|(id, role, name, skills, address, latitude, longitude, open)| {
                Ok(DispatchPerson {
                    id: AccountId(id),
                    name: name.unwrap_or_default(),
                    role: Role::parse(&role).ok_or_else(|| Error::Corrupt(format!("account {id}: role {role}")))?,
                    profile: profile((skills, address, latitude, longitude))?,
                    open_assignments: u32::try_from(open).unwrap_or(u32::MAX),
                })
            })
            .collect()
    }
}
