//! `Idempotency-Key` bookkeeping for ingest.
//!
//! The first request with a key claims it, together with the ticket id and
//! the exact bus message it will produce. A retry with the same key finds the
//! claim: if the body hash differs it is refused; otherwise it gets the same
//! ticket id, and if the first attempt never confirmed the produce, the same
//! message is produced again (consumers drop the duplicate by ticket id).

use switchboard_core::{CompanyId, TicketId};
use uuid::Uuid;

use crate::Store;
use crate::db::{now_micros, on_pool};
use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct IdempotencyRecord {
    pub request_hash: Vec<u8>,
    pub ticket_id: Uuid,
    /// The bus message the first request produced (or tried to).
    pub message: Vec<u8>,
    /// True once the bus confirmed the produce.
    pub accepted: bool,
}

impl IdempotencyRecord {
    pub fn ticket_id(&self) -> TicketId {
        TicketId(self.ticket_id)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdempotencyOutcome {
    /// This request is the first with the key.
    Claimed,
    /// An earlier request holds the key.
    Existing(IdempotencyRecord),
}

impl Store {
    /// Claims `key` of `company` for this request unless a live claim
    /// exists (keys are per company: another company's same key is another
    /// claim). Claims older than `ttl_micros` are forgotten first.
    pub async fn claim_idempotency_key(
        &self,
        company: &CompanyId,
        key: &str,
        record: &IdempotencyRecord,
        ttl_micros: i64,
    ) -> Result<IdempotencyOutcome> {
        let now = now_micros();
        let cutoff = now.saturating_sub(ttl_micros);
        on_pool!(&self.writer, |pool| {
            sqlx::query("DELETE FROM idempotency_keys WHERE company = $1 AND idempotency_key = $2 AND created_at < $3")
                .bind(company.as_str())
                .bind(key)
                .bind(cutoff)
                .execute(pool)
                .await?;
            let claimed = sqlx::query(
                "INSERT INTO idempotency_keys \
                 (company, idempotency_key, request_hash, ticket_id, message, accepted, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (company, idempotency_key) DO NOTHING",
            )
            .bind(company.as_str())
            .bind(key)
            .bind(&record.request_hash)
            .bind(record.ticket_id)
            .bind(&record.message)
            .bind(false)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
                == 1;
            if claimed {
                return Ok(IdempotencyOutcome::Claimed);
            }
            let existing: Option<IdempotencyRecord> = sqlx::query_as(
                "SELECT request_hash, ticket_id, message, accepted FROM idempotency_keys \
                 WHERE company = $1 AND idempotency_key = $2",
            )
            .bind(company.as_str())
            .bind(key)
            .fetch_optional(pool)
            .await?;
            // The claim can only vanish between the two statements if it
            // expired and was purged meanwhile; report it as a conflict the
            // caller retries rather than inventing a result.
            existing
                .map(IdempotencyOutcome::Existing)
                .ok_or_else(|| Error::Corrupt(format!("idempotency key `{key}` vanished while read")))
        })
    }

    /// Notes that the produce for `key` was confirmed by the bus.
    pub async fn mark_idempotency_key_accepted(&self, company: &CompanyId, key: &str) -> Result<()> {
        on_pool!(&self.writer, |pool| sqlx::query(
            "UPDATE idempotency_keys SET accepted = $1 WHERE company = $2 AND idempotency_key = $3"
        )
        .bind(true)
        .bind(company.as_str())
        .bind(key)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Forgets claims older than `ttl_micros`; returns how many went.
    pub async fn purge_idempotency_keys(&self, ttl_micros: i64) -> Result<u64> {
        let cutoff = now_micros().saturating_sub(ttl_micros);
        let deleted = on_pool!(&self.writer, |pool| sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(cutoff)
            .execute(pool)
            .await
            .map(|result| result.rows_affected()))?;
        Ok(deleted)
    }
}
