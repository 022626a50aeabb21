//! Retention: what the store would otherwise keep for ever.
//!
//! Every `retention.interval_seconds` it deletes expired `Idempotency-Key`
//! claims (`ingest.idempotency_ttl_hours`), expired sessions and used or
//! expired one-time tokens, live-update events older than
//! `retention.live_events_hours`, webhook attempts and settled webhook
//! messages and mails older than `retention.notification_log_days`, the
//! files of submissions whose ticket never came (after
//! `attachments.orphan_grace_hours`), and, on
//! the embedded bus, log
//! messages older than `retention.bus_log_hours` that every consumer group
//! reading their topic has committed past. A topic no group has committed
//! on (a dead-letter topic nobody replayed, `tickets.routed` until the
//! router exists) keeps its messages.

use switchboard_core::config::BusBackend;
use switchboard_store::FileStore;

use crate::{Result, StageContext};

pub const STAGE_NAME: &str = "retention";

/// What one pass deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub idempotency_keys: u64,
    /// Expired sessions and used or expired one-time tokens.
    pub credentials: u64,
    pub log_messages: u64,
    /// Live-update events older than `retention.live_events_hours`.
    pub live_events: u64,
    /// Webhook attempts, and settled webhook messages and mails, older than
    /// `retention.notification_log_days`.
    pub notification_log: u64,
    /// Files of submissions whose ticket never came, after
    /// `attachments.orphan_grace_hours`.
    pub orphaned_files: u64,
}

/// Purges every interval until `ctx.shutdown` fires (the first pass right away).
pub async fn retention(ctx: StageContext) -> Result<()> {
    let mut ticker = tokio::time::interval(ctx.config.retention.interval());
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = ctx.shutdown.cancelled() => return Ok(()),
            _ = ticker.tick() => {}
        }
        match purge_once(&ctx).await {
            Ok(purged) if purged != Purged::default() => {
                tracing::info!(
                    idempotency_keys = purged.idempotency_keys,
                    credentials = purged.credentials,
                    log_messages = purged.log_messages,
                    live_events = purged.live_events,
                    notification_log = purged.notification_log,
                    orphaned_files = purged.orphaned_files,
                    "retention purged"
                );
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "retention pass failed; will try again"),
        }
    }
}

/// One retention pass.
pub async fn purge_once(ctx: &StageContext) -> Result<Purged> {
    let ttl_micros = i64::from(ctx.config.ingest.idempotency_ttl_hours) * 3_600_000_000;
    let idempotency_keys = ctx.store.purge_idempotency_keys(ttl_micros).await?;
    let credentials = ctx.store.purge_expired_credentials().await?;
    let mut log_messages = 0;
    if ctx.config.bus.backend == BusBackend::Embedded {
        let older_than_ms = now_ms() - i64::from(ctx.config.retention.bus_log_hours) * 3_600_000;
        for topic in ctx.store.log_topics().await?.into_keys() {
            if let Some(committed) = ctx.store.log_min_committed_offset(&topic).await? {
                log_messages += ctx.store.log_truncate(&topic, committed, older_than_ms).await?;
            }
        }
    }
    let live_before_micros = (now_ms() - i64::from(ctx.config.retention.live_events_hours) * 3_600_000) * 1_000;
    let live_events = ctx.store.purge_live_events(live_before_micros).await?;
    let log_before_micros = (now_ms() - i64::from(ctx.config.retention.notification_log_days) * 86_400_000) * 1_000;
    let notification_log = ctx.store.purge_webhook_log(log_before_micros).await?
        + ctx.store.purge_settled_mails(log_before_micros).await?;
    let orphaned_files = purge_orphaned_files(ctx).await?;
    Ok(Purged { idempotency_keys, credentials, log_messages, live_events, notification_log, orphaned_files })
}

/// Deletes the files of submissions whose ticket never came.
async fn purge_orphaned_files(ctx: &StageContext) -> Result<u64> {
    const BATCH: u32 = 500;
    let grace_ms = i64::try_from(ctx.config.attachments.orphan_grace().as_millis()).unwrap_or(i64::MAX);
    let before_micros = now_ms().saturating_sub(grace_ms).saturating_mul(1_000);
    let mut purged = 0;
    let mut files = None;
    loop {
        let orphans = ctx.store.orphaned_attachments(before_micros, BATCH).await?;
        if orphans.is_empty() {
            return Ok(purged);
        }
        let files = match &mut files {
            Some(files) => files,
            None => files.insert(FileStore::open(&ctx.config)?),
        };
        let mut deleted = Vec::with_capacity(orphans.len());
        for (company, orphan) in &orphans {
            files.delete(company, orphan.ticket, orphan.id).await?;
            deleted.push(orphan.id);
        }
        ctx.store.remove_pending_attachments(&deleted).await?;
        purged += deleted.len() as u64;
        if orphans.len() < BATCH as usize {
            return Ok(purged);
        }
    }
}

fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}
