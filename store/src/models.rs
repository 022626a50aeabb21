//! Trained triage models, so every triage process loads the same one and an
//! admin can switch models without a restart.

use uuid::Uuid;

use crate::Store;
use crate::db::{BeginWrite, from_micros, now_micros, on_pool};
use crate::error::{Error, Result};

/// A model's description, without its (large) artefact.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ModelInfo {
    pub id: Uuid,
    pub task: String,
    pub version: String,
    pub active: bool,
    /// JSON: what the model says about itself (metrics, data fingerprint…).
    pub metadata: serde_json::Value,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct ModelRow {
    id: Uuid,
    task: String,
    version: String,
    active: bool,
    metadata: String,
    created_at: i64,
}

impl TryFrom<ModelRow> for ModelInfo {
    type Error = Error;

    fn try_from(row: ModelRow) -> Result<Self> {
        Ok(ModelInfo {
            metadata: serde_json::from_str(&row.metadata)
                .map_err(|error| Error::Corrupt(format!("model {}: bad metadata: {error}", row.id)))?,
            created_at: from_micros(row.created_at)?,
            id: row.id,
            task: row.task,
            version: row.version,
            active: row.active,
        })
    }
}

impl Store {
    /// Stores a trained model for `task`; with `activate`, it becomes the one
    /// in use (in the same transaction).
    pub async fn insert_triage_model(
        &self,
        task: &str,
        version: &str,
        artefact: &[u8],
        metadata: &serde_json::Value,
        activate: bool,
    ) -> Result<Uuid> {
        let id = Uuid::now_v7();
        on_pool!(&self.writer, |pool| {
            let mut transaction = pool.begin_write().await?;
            if activate {
                sqlx::query("UPDATE triage_models SET active = $1 WHERE task = $2 AND active = $3")
                    .bind(false)
                    .bind(task)
                    .bind(true)
                    .execute(&mut *transaction)
                    .await?;
            }
            sqlx::query(
                "INSERT INTO triage_models (id, task, version, artefact, metadata, active, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(id)
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

    /// Makes model `id` the active one for its task; false if there is no
    /// such model.
    pub async fn activate_triage_model(&self, id: Uuid) -> Result<bool> {
        on_pool!(&self.writer, |pool| {
            let mut transaction = pool.begin_write().await?;
            let task: Option<String> = sqlx::query_scalar("SELECT task FROM triage_models WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *transaction)
                .await?;
            let Some(task) = task else {
                return Ok(false);
            };
            sqlx::query("UPDATE triage_models SET active = $1 WHERE task = $2 AND active = $3")
                .bind(false)
                .bind(&task)
                .bind(true)
                .execute(&mut *transaction)
                .await?;
            sqlx::query("UPDATE triage_models SET active = $1 WHERE id = $2")
                .bind(true)
                .bind(id)
                .execute(&mut *transaction)
                .await?;
            transaction.commit().await?;
            Ok::<_, Error>(true)
        })
    }

    pub async fn list_triage_models(&self) -> Result<Vec<ModelInfo>> {
        let rows: Vec<ModelRow> = on_pool!(&self.db, |pool| sqlx::query_as(
            "SELECT id, task, version, active, metadata, created_at FROM triage_models ORDER BY created_at DESC"
        )
        .fetch_all(pool)
        .await)?;
        rows.into_iter().map(ModelInfo::try_from).collect()
    }

    /// The id and version of the active model per task: cheap to poll.
    pub async fn active_triage_models(&self) -> Result<Vec<(String, Uuid, String)>> {
        let rows: Vec<(String, Uuid, String)> = on_pool!(&self.db, |pool| sqlx::query_as(
            "SELECT task, id, version FROM triage_models WHERE active = $1 ORDER BY task"
        )
        .bind(true)
        .fetch_all(pool)
        .await)?;
        Ok(rows)
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
