//! The company's team servers: where the router delivers tickets.

use switchboard_core::CompanyId;
use switchboard_core::config::Secret;
use switchboard_core::ids::ServerId;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Store;
use crate::db::{BeginWrite, from_micros, now_micros, on_pool};
use crate::error::{Error, Result};

/// A team server as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerRecord {
    pub id: ServerId,
    pub company: CompanyId,
    pub fields: ServerFields,
    /// Set while the server is skipped after failed deliveries.
    pub circuit_open_until: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// What an admin sets on a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerFields {
    pub name: String,
    pub region: Option<String>,
    /// Deliveries are POSTed here.
    pub base_url: String,
    /// Standard Webhooks secret (`whsec_` and base64) deliveries are signed with.
    pub signing_secret: Secret<String>,
    pub enabled: bool,
    /// Takes the tickets nothing else claims; it hosts no team.
    pub central: bool,
}

const COLUMNS: &str =
    "id, company, name, region, base_url, signing_secret, enabled, central, circuit_open_until, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    company: String,
    name: String,
    region: Option<String>,
    base_url: String,
    signing_secret: String,
    enabled: bool,
    central: bool,
    circuit_open_until: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<Row> for ServerRecord {
    type Error = Error;

    fn try_from(row: Row) -> Result<Self> {
        Ok(ServerRecord {
            id: ServerId(row.id),
            company: CompanyId::parse(&row.company)
                .map_err(|_| Error::Corrupt(format!("server {}: bad company", row.id)))?,
            fields: ServerFields {
                name: row.name,
                region: row.region,
                base_url: row.base_url,
                signing_secret: Secret::new(row.signing_secret),
                enabled: row.enabled,
                central: row.central,
            },
            circuit_open_until: row.circuit_open_until.map(from_micros).transpose()?,
            created_at: from_micros(row.created_at)?,
            updated_at: from_micros(row.updated_at)?,
        })
    }
}

/// The refusal when a second server would be central.
fn one_central(error: sqlx::Error) -> Error {
    match &error {
        sqlx::Error::Database(database) if database.is_unique_violation() => Error::Refused {
            code: "central_taken",
            message: "the company already has a central server; make it not central first".into(),
        },
        _ => error.into(),
    }
}

impl Store {
    pub async fn create_server(&self, company: &CompanyId, fields: &ServerFields) -> Result<ServerRecord> {
        let (id, now) = (ServerId::new(), now_micros());
        on_pool!(&self.writer, |pool| sqlx::query(
            "INSERT INTO servers (id, company, name, region, base_url, signing_secret, enabled, central, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)"
        )
        .bind(id.0)
        .bind(company.as_str())
        .bind(&fields.name)
        .bind(&fields.region)
        .bind(&fields.base_url)
        .bind(fields.signing_secret.expose())
        .bind(fields.enabled)
        .bind(fields.central)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))
        .map_err(one_central)?;
        let at = from_micros(now)?;
        Ok(ServerRecord {
            id,
            company: company.clone(),
            fields: fields.clone(),
            circuit_open_until: None,
            created_at: at,
            updated_at: at,
        })
    }

    pub async fn server(&self, company: &CompanyId, id: ServerId) -> Result<Option<ServerRecord>> {
        let row: Option<Row> = on_pool!(&self.db, |pool| sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM servers WHERE id = $1 AND company = $2"
        ))
        .bind(id.0)
        .bind(company.as_str())
        .fetch_optional(pool)
        .await)?;
        row.map(ServerRecord::try_from).transpose()
    }

    /// The company's servers, oldest first.
    pub async fn list_servers(&self, company: &CompanyId) -> Result<Vec<ServerRecord>> {
        let rows: Vec<Row> = on_pool!(&self.db, |pool| sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM servers WHERE company = $1 ORDER BY id"
        ))
        .bind(company.as_str())
        .fetch_all(pool)
        .await)?;
        rows.into_iter().map(ServerRecord::try_from).collect()
    }

    /// Replaces a server's fields; `None` if the company has no such server.
    pub async fn update_server(
        &self,
        company: &CompanyId,
        id: ServerId,
        fields: &ServerFields,
    ) -> Result<Option<ServerRecord>> {
        let updated = on_pool!(&self.writer, |pool| sqlx::query(
            "UPDATE servers SET name = $1, region = $2, base_url = $3, signing_secret = $4, enabled = $5, \
             central = $6, updated_at = $7 WHERE id = $8 AND company = $9"
        )
        .bind(&fields.name)
        .bind(&fields.region)
        .bind(&fields.base_url)
        .bind(fields.signing_secret.expose())
        .bind(fields.enabled)
        .bind(fields.central)
        .bind(now_micros())
        .bind(id.0)
        .bind(company.as_str())
        .execute(pool)
        .await
        .map(|result| result.rows_affected() == 1))
        .map_err(one_central)?;
        if !updated {
            return Ok(None);
        }
        self.server(company, id).await
    }

    /// Records how a delivery to the server went: a success closes its
    /// circuit, the `threshold`-th failure in a row opens it until `until`.
    pub async fn record_server_result(
        &self,
        id: ServerId,
        succeeded: bool,
        threshold: u32,
        until: OffsetDateTime,
    ) -> Result<()> {
        on_pool!(&self.writer, |pool| {
            if succeeded {
                // Most deliveries succeed to a healthy server: then nothing
                // changes and nothing is written.
                sqlx::query(
                    "UPDATE servers SET consecutive_failures = 0, circuit_open_until = NULL WHERE id = $1 \
                     AND (consecutive_failures <> 0 OR circuit_open_until IS NOT NULL)",
                )
                .bind(id.0)
                .execute(pool)
                .await
                .map(|_| ())
            } else {
                sqlx::query(
                    "UPDATE servers SET consecutive_failures = consecutive_failures + 1, \
                     circuit_open_until = CASE WHEN consecutive_failures + 1 >= $2 THEN $3 ELSE circuit_open_until END \
                     WHERE id = $1",
                )
                .bind(id.0)
                .bind(i64::from(threshold))
                .bind(crate::db::to_micros(until))
                .execute(pool)
                .await
                .map(|_| ())
            }
        })?;
        Ok(())
    }

    /// Deletes a server no team is hosted on: `Ok(false)` if the company has
    /// no such server, [`Error::InUse`] if a team names it.
    pub async fn delete_server(&self, company: &CompanyId, id: ServerId) -> Result<bool> {
        let needle = format!("\"{}\"", id.0);
        on_pool!(&self.writer, |pool| {
            let mut transaction = pool.begin_write().await?;
            let hosts: Vec<String> = sqlx::query_scalar("SELECT servers FROM teams WHERE company = $1")
                .bind(company.as_str())
                .fetch_all(&mut *transaction)
                .await?;
            if hosts.iter().any(|servers| servers.contains(&needle)) {
                return Err(Error::Refused {
                    code: "server_in_use",
                    message: "a team is hosted on this server; take it off the team first".into(),
                });
            }
            let deleted = sqlx::query("DELETE FROM servers WHERE id = $1 AND company = $2")
                .bind(id.0)
                .bind(company.as_str())
                .execute(&mut *transaction)
                .await?
                .rows_affected()
                == 1;
            transaction.commit().await?;
            Ok(deleted)
        })
    }
}
