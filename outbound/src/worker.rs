//! The loop that works a durable schedule of outbound messages (the
//! router's deliveries, the notifier's webhook messages): up to
//! `concurrency` attempts in flight, a new claim as soon as half the slots
//! are free, and, once everything due is claimed, a sleep until the next
//! item falls due, a wake-up from the store, or a second at most.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The longest the worker sleeps without looking for due items.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// The shortest sleep when nothing could be claimed: a due time in the
/// past (another worker's claim, a race) never turns into a busy loop.
const MIN_WAIT: Duration = Duration::from_millis(20);

/// A schedule of items to attempt.
pub trait Schedule: Send + Sync + 'static {
    type Item: Send + 'static;

    /// Claims (leases) up to `limit` items due now.
    fn claim(&self, limit: usize) -> impl Future<Output = Result<Vec<Self::Item>, String>> + Send;

    /// When the next item that [`Schedule::claim`] could take falls due.
    fn next_due(&self) -> impl Future<Output = Result<Option<OffsetDateTime>, String>> + Send;

    /// Attempts one claimed item and records how it went.
    fn attempt(self: Arc<Self>, item: Self::Item) -> impl Future<Output = ()> + Send + 'static;
}

/// Works `schedule` until `shutdown`, then lets the attempts in flight
/// finish (each is bounded by its request timeout). `woken` is pulsed when
/// an item becomes due at once.
pub async fn run<S: Schedule>(
    schedule: Arc<S>,
    woken: &Notify,
    concurrency: usize,
    shutdown: &CancellationToken,
    stage: &str,
) {
    let concurrency = concurrency.max(1);
    // A claim is a write: it is made for several items at once, when half
    // the slots are free (or all of them).
    let refill = concurrency.div_ceil(2);
    let mut in_flight = JoinSet::new();
    loop {
        if concurrency - in_flight.len() >= refill || in_flight.is_empty() {
            let free = concurrency - in_flight.len();
            let claimed = tokio::select! {
                () = shutdown.cancelled() => break,
                claimed = schedule.claim(free) => claimed,
            };
            match claimed {
                Ok(items) => {
                    for item in items {
                        in_flight.spawn(schedule.clone().attempt(item));
                    }
                }
                Err(error) => tracing::warn!(stage, %error, "cannot read the schedule; will retry"),
            }
        }
        // Too few slots free to claim: only a finished attempt matters.
        let busy = concurrency - in_flight.len() < refill && !in_flight.is_empty();
        let wait = if busy {
            IDLE_POLL
        } else {
            // The claim took all that was due: sleep until the next one is.
            match schedule.next_due().await {
                Ok(Some(due)) => {
                    (due - OffsetDateTime::now_utc()).try_into().unwrap_or(Duration::ZERO).clamp(MIN_WAIT, IDLE_POLL)
                }
                Ok(None) => IDLE_POLL,
                Err(error) => {
                    tracing::warn!(stage, %error, "cannot read the schedule; will retry");
                    IDLE_POLL
                }
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => break,
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            () = woken.notified(), if !busy => {}
            () = tokio::time::sleep(wait), if !busy => {}
        }
    }
    while in_flight.join_next().await.is_some() {}
}
