//! The outbox relay: publishes the events that [`Store::transition`] wrote
//! to `ticket_events` onto `tickets.events`.
//!
//! It claims a batch of unrelayed rows (a lease, so two relays do not both
//! take them), produces them in order and marks them relayed once the bus
//! has them. A relay that dies mid-batch leaves the lease to run out and the
//! rows are relayed again: at least once, with the event id stable, so
//! consumers drop the copy. It wakes as soon as a transition in this process
//! commits, and polls for those of other processes.
//!
//! [`Store::transition`]: switchboard_store::Store::transition

use std::time::Duration;

use crate::message::OutgoingMessage;
use crate::runner::backoff;
use crate::{Result, StageContext};

pub const STAGE_NAME: &str = "outbox";

const BATCH: u32 = 256;
const LEASE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(500);

/// Relays until `ctx.shutdown` fires.
pub async fn relay(ctx: StageContext) -> Result<()> {
    let topic = ctx.config.topics().events();
    tracing::info!(stage = STAGE_NAME, %topic, "outbox relay started");
    let mut failures = 0_u32;
    loop {
        if ctx.shutdown.is_cancelled() {
            break;
        }
        let relayed = relay_batch(&ctx, &topic).await;
        let pause = match relayed {
            Ok(count) if count == BATCH as usize => {
                failures = 0;
                continue;
            }
            Ok(_) => {
                failures = 0;
                POLL
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                tracing::warn!(stage = STAGE_NAME, %error, "cannot relay ticket events; will retry");
                backoff(&ctx.config.runner, failures)
            }
        };
        tokio::select! {
            () = ctx.shutdown.cancelled() => break,
            () = ctx.store.outbox_written(), if failures == 0 => {}
            () = tokio::time::sleep(pause) => {}
        }
    }
    tracing::info!(stage = STAGE_NAME, "outbox relay stopped");
    Ok(())
}

/// Relays one batch; how many events it relayed. Events are marked relayed
/// only up to the first one the bus refused: the rest are given back and
/// sent again, in order, so one ticket's events never overtake each other.
async fn relay_batch(ctx: &StageContext, topic: &str) -> Result<usize> {
    if !ctx.store.outbox_pending().await? {
        return Ok(0);
    }
    let lease_micros = i64::try_from(LEASE.as_micros()).unwrap_or(i64::MAX);
    let records = ctx.store.outbox_claim(BATCH, lease_micros).await?;
    if records.is_empty() {
        return Ok(0);
    }
    let seqs: Vec<i64> = records.iter().map(|record| record.seq).collect();
    // Sends start in claim order, which keeps one ticket's events in order
    // on its partition.
    let sends = records.into_iter().map(|record| {
        ctx.bus.produce(OutgoingMessage::for_encoded_envelope(
            topic,
            record.ticket_id,
            record.event_id,
            record.request_id.as_deref(),
            record.envelope,
        ))
    });
    let results = futures::future::join_all(sends).await;
    let delivered = results.iter().take_while(|result| result.is_ok()).count();
    ctx.store.outbox_mark_relayed(&seqs[..delivered]).await?;
    if let Some(Err(error)) = results.into_iter().nth(delivered) {
        ctx.store.outbox_release(&seqs[delivered..]).await?;
        return Err(error);
    }
    Ok(delivered)
}
