//! Trained triage models, so every triage process loads the same one and an
//! admin can switch models without a restart.
//!
//! A model belongs to a company, or (no company) to the installation. Each
//! owner has at most one active model per task; a company without an active
//! model of its own is served by the installation's.

use switchboard_core::{CompanyId, Scope};
use uuid::Uuid;

use crate::Store;
use crate::db::{BeginWrite, from_micros, now_micros, on_pool};
use crate::error::{Error, Result};
use crate::knowledge::push_scope_or_shared;
use crate::tickets::push_scope;

/// A model's description, without its (large) artefact.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ModelInfo {
    pub id: Uuid,
    /// The company that trained it; `None` for the installation's model.
    pub company: Option<CompanyId>,
    pub task: String,
    pub version: String,
    /// Active for its owner (the installation's active model serves every
    /// company without an active one of its own).
    pub active: bool,
    /// JSON: what the model says about itself (metrics, data fingerprint…).
    pub metadata: serde_json::Value,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
}

/// Which model is active for one owner and task: cheap to poll.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActiveModel {
    pub company: Option<CompanyId>,
    pub task: String,
    pub id: Uuid,
    pub version: String,
}

#[derive(sqlx::FromRow)]
struct ModelRow {
    id: Uuid,
    company: Option<String>,
    task: String,
    version: String,
    active: bool,
    metadata: String,
    created_at: i64,
}

fn owner(id: Uuid, company: Option<String>) -> Result<Option<CompanyId>> {
    company
        .map(|company| {
            CompanyId::parse(&company).map_err(|_| Error::Corrupt(format!("model {id}: bad company `{company}`")))
        })
        .transpose()
}

impl TryFrom<ModelRow> for ModelInfo {
    type Error = Error;

    fn try_from(row: ModelRow) -> Result<Self> {
        Ok(ModelInfo {
            metadata: serde_json::from_str(&row.metadata)
                .map_err(|error| Error::Corrupt(format!("model {}: bad metadata: {error}", row.id)))?,
            created_at: from_micros(row.created_at)?,
            company: owner(row.id, row.company)?,
            id: row.id,
            task: row.task,
            version: row.version,
            active: row.active,
        })
    }
}

impl Store {
    /// Stores a trained model for `task`, owned by `company` (or the
    /// installation); with `activate`, it becomes its owner's model in use
    /// (in the same transaction).
    pub async fn insert_triage_model(
        &self,
        company: Option<&CompanyId>,
        task: &str,
        version: &str,
        artefact: &[u8],
        metadata: &serde_json::Value,
        activate: bool,
    ) -> Result<Uuid> {
        let id = Uuid::now_v7();
        let company = company.map(|company| company.as_str().to_owned());
        on_pool!(&self.writer, |pool| {
            let mut transaction = pool.begin_write().await?;
            if activate {
                sqlx::query(
                    "UPDATE triage_models SET active = $1 WHERE task = $2 AND active = $3 \
                     AND COALESCE(company, '') = COALESCE($4, '')",
                )
                .bind(false)
                .bind(task)
                .bind(true)
                .bind(&company)
                .execute(&mut *transaction)
                .await?;
            }
            sqlx::query(
                "INSERT INTO triage_models (id, company, task, version, artefact, metadata, active, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(id)
            .bind(&company)
            .bind(task)
            .bind(version)
            .bind(artefact)
            .bind(metadata.to_string())
            .bind(activate)
            .bind(now_micros())
            .execute(&mut *transaction)
            .await?;
            transaction.commit().await?;
            Ok::<_, Error>(())
        })?;
        Ok(id)
    }

    /// Makes model `id` its owner's active one for its task, or (`active`
    /// false) stops using it, so that a company falls back to the
    /// installation's model. False if `scope` has no such model: a company
    /// changes only its own.
    pub async fn set_triage_model_active(&self, scope: &Scope, id: Uuid, active: bool) -> Result<bool> {
        on_pool!(&self.writer, |pool| {
            let mut transaction = pool.begin_write().await?;
            let mut query = sqlx::QueryBuilder::new("SELECT task, company FROM triage_models WHERE id = ");
            query.push_bind(id);
            push_scope(&mut query, scope);
            let found: Option<(String, Option<String>)> =
                query.build_query_as().fetch_optional(&mut *transaction).await?;
            let Some((task, company)) = found else {
                return Ok(false);
            };
            if active {
                sqlx::query(
                    "UPDATE triage_models SET active = $1 WHERE task = $2 AND active = $3 \
                     AND COALESCE(company, '') = COALESCE($4, '')",
                )
                .bind(false)
                .bind(&task)
                .bind(true)
                .bind(&company)
                .execute(&mut *transaction)
                .await?;
            }
            sqlx::query("UPDATE triage_models SET active = $1 WHERE id = $2")
                .bind(active)
                .bind(id)
                .execute(&mut *transaction)
                .await?;
            transaction.commit().await?;
            Ok::<_, Error>(true)
        })
    }

    /// The models `scope` sees, newest first: a company its own and the
    /// installation's (which serve it where it has none active).
    pub async fn list_triage_models(&self, scope: &Scope) -> Result<Vec<ModelInfo>> {
        let rows: Vec<ModelRow> = on_pool!(&self.db, |pool| {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT id, company, task, version, active, metadata, created_at FROM triage_models WHERE 1 = 1",
            );
            push_scope_or_shared(&mut query, scope);
            query.push(" ORDER BY created_at DESC, id DESC");
            query.build_query_as().fetch_all(pool).await
        })?;
        rows.into_iter().map(ModelInfo::try_from).collect()
    }

    /// Every owner's active model per task.
    pub async fn active_triage_models(&self) -> Result<Vec<ActiveModel>> {
        let rows: Vec<(Option<String>, String, Uuid, String)> = on_pool!(&self.db, |pool| {
            sqlx::query_as(
            "SELECT company, task, id, version FROM triage_models WHERE active = $1 ORDER BY COALESCE(company, ''), task"
        )
        .bind(true)
        .fetch_all(pool)
        .await
        })?;
        rows.into_iter()
            .map(|(company, task, id, version)| Ok(ActiveModel { company: owner(id, company)?, task, id, version }))
            .collect()
    }

    /// A model's artefact bytes.
    pub async fn triage_model_artefact(&self, id: Uuid) -> Result<Option<Vec<u8>>> {
        let artefact: Option<Vec<u8>> =
            on_pool!(&self.db, |pool| sqlx::query_scalar("SELECT artefact FROM triage_models WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await)?;
        Ok(artefact)
    }
}
