//! The stage runner: consume → handle → produce outputs → store offset.
//!
//! * **Ordering.** Each message goes to one of `max_in_flight` lanes chosen by
//!   its key (the ticket id); a lane handles one message at a time, so one
//!   ticket's messages are handled in order while different tickets proceed
//!   in parallel.
//! * **Bounded work.** A semaphore caps received-but-unfinished messages at
//!   `max_in_flight`; when it is exhausted the runner stops reading, and the
//!   backlog stays in the log rather than in memory.
//! * **At-least-once.** A message's offset becomes storable only after its
//!   outputs are durable (or it is dead-lettered), and only once every
//!   earlier message of its partition is done too (see the tracker).
//! * **Failures.** A transient failure is retried with jittered exponential
//!   backoff up to `max_attempts`; a permanent one, or the last transient
//!   one, sends the message to the stage's own `<topic>.<stage>.dlq` with its
//!   provenance in headers, and the partition moves on. Output produce
//!   failures that are transient are retried until they succeed or the stage
//!   stops: the handler did its work, only the bus is unavailable.
//! * **Replays.** A message that `switchboard dlq replay` put back on its
//!   topic names the one stage that is to handle it
//!   ([`headers::REPLAY_STAGE`]); every other stage skips it.
//! * **Shutdown.** When `shutdown` fires the runner stops reading, lets
//!   messages already being handled finish within `shutdown_grace_ms`, drops
//!   the ones not started, commits, and returns. Anything not finished is
//!   read again on the next start.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rand::Rng;
use switchboard_core::config::RunnerConfig;
use switchboard_core::topics;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::error::{Error, Result, Transience};
use crate::message::{Headers, Message, OutgoingMessage, headers};
use crate::tracker::OffsetTracker;
use crate::{Bus, Consumer};

/// How often stored offsets are committed while the stage runs.
const COMMIT_INTERVAL: Duration = Duration::from_millis(200);

/// What a stage is called and what it reads.
#[derive(Clone, Debug)]
pub struct Stage {
    /// For logs and metrics: `projector`, `triage`, …
    pub name: String,
    /// The consumer group; every process of the stage shares it.
    pub group: String,
    pub topics: Vec<String>,
}

/// A stage's work on one message: return the messages to produce (possibly
/// none). It must be idempotent: a message can be handled more than once.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    async fn handle(&self, message: &Message) -> Result<Vec<OutgoingMessage>, HandlerError>;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// Worth retrying: a dependency is down or busy.
    Transient,
    /// Retrying cannot help: the message itself is bad.
    Permanent,
}

#[derive(Debug, thiserror::Error)]
#[error("{source}")]
pub struct HandlerError {
    pub kind: FailureKind,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl HandlerError {
    pub fn transient(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self { kind: FailureKind::Transient, source: source.into() }
    }

    pub fn permanent(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self { kind: FailureKind::Permanent, source: source.into() }
    }

    /// Transient or permanent as the error itself says: the one place a
    /// stage's failure is classified.
    pub fn classify(error: impl Transience) -> Self {
        if error.is_transient() { Self::transient(error) } else { Self::permanent(error) }
    }

    /// The full cause chain on one line, for the dead-letter header and logs.
    fn describe(&self) -> String {
        switchboard_core::error::describe_chain(&*self.source)
    }
}

/// Everything the lanes share.
struct Shared {
    bus: Arc<dyn Bus>,
    consumer: Arc<dyn Consumer>,
    handler: Arc<dyn Handler>,
    stage: String,
    config: RunnerConfig,
    tracker: Mutex<OffsetTracker>,
    offsets_dirty: AtomicBool,
    shutdown: CancellationToken,
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Handled (outputs durable) or dead-lettered: the offset may move on.
    Done,
    /// Stopped before finishing because the stage is shutting down.
    Abandoned,
}

/// Runs `handler` over `stage`'s topics until `shutdown` fires.
pub async fn run(
    bus: Arc<dyn Bus>,
    stage: Stage,
    handler: Arc<dyn Handler>,
    config: RunnerConfig,
    shutdown: CancellationToken,
) -> Result<()> {
    let consumer = bus.subscribe(&stage.group, &stage.topics).await?;
    tracing::info!(stage = %stage.name, group = %stage.group, topics = ?stage.topics, backend = bus.backend(), "stage started");
    let lane_count = config.max_in_flight.max(1);
    let shared = Arc::new(Shared {
        bus,
        consumer: consumer.clone(),
        handler,
        stage: stage.name.clone(),
        config: config.clone(),
        tracker: Mutex::new(OffsetTracker::default()),
        offsets_dirty: AtomicBool::new(false),
        shutdown: shutdown.clone(),
    });

    let mut lanes = JoinSet::new();
    let mut lane_senders = Vec::with_capacity(lane_count);
    for _ in 0..lane_count {
        // Unbounded, but the semaphore bounds what is queued over all lanes.
        let (sender, receiver) = mpsc::unbounded_channel();
        lanes.spawn(run_lane(shared.clone(), receiver));
        lane_senders.push(sender);
    }
    let stop_committing = CancellationToken::new();
    let committer = tokio::spawn(commit_periodically(shared.clone(), stop_committing.clone()));

    let permits = Arc::new(Semaphore::new(lane_count));
    let mut consecutive_errors = 0_u32;
    loop {
        let received = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            received = consumer.recv() => received,
        };
        let message = match received {
            Ok(message) => {
                consecutive_errors = 0;
                message
            }
            Err(error) => {
                consecutive_errors = consecutive_errors.saturating_add(1);
                tracing::warn!(stage = %shared.stage, %error, "cannot read from the bus");
                if !pause(&shutdown, backoff(&config, consecutive_errors)).await {
                    break;
                }
                continue;
            }
        };
        let permit = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            permit = permits.clone().acquire_owned() => permit.map_err(|_| Error::Closed)?,
        };
        if lock(&shared.tracker).begin(&message.topic, message.partition, message.offset, message.generation) {
            // Where reading resumed: the committed offset, or the log's start.
            tracing::info!(stage = %shared.stage, topic = %message.topic, partition = message.partition, offset = message.offset, generation = message.generation, "reading partition from");
        }
        let lane = lane_for(&message, lane_count);
        if lane_senders[lane].send((message, permit)).is_err() {
            tracing::error!(stage = %shared.stage, lane, "a lane stopped unexpectedly");
            break;
        }
    }

    tracing::info!(stage = %shared.stage, "stage stopping: finishing in-flight messages");
    drop(lane_senders);
    let grace = config.shutdown_grace();
    let drained = tokio::time::timeout(grace, async {
        while let Some(joined) = lanes.join_next().await {
            if let Err(error) = joined {
                tracing::error!(stage = %shared.stage, %error, "a lane failed");
            }
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(stage = %shared.stage, grace_ms = config.shutdown_grace_ms, "abandoning messages still in flight after the grace period");
        lanes.abort_all();
    }
    // Let a commit in progress finish (never abort it half-way); `close`
    // then commits whatever the drained lanes stored since.
    stop_committing.cancel();
    if let Err(error) = committer.await {
        tracing::error!(stage = %shared.stage, %error, "the offset committer failed");
    }
    let closed = consumer.close().await;
    tracing::info!(stage = %shared.stage, "stage stopped");
    closed
}

/// Which lane handles `message`: the same key always maps to the same lane.
fn lane_for(message: &Message, lanes: usize) -> usize {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    match &message.key {
        Some(key) => key.hash(&mut hasher),
        None => (message.partition, message.offset).hash(&mut hasher),
    }
    (hasher.finish() % lanes as u64) as usize
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn run_lane(shared: Arc<Shared>, mut messages: mpsc::UnboundedReceiver<(Message, OwnedSemaphorePermit)>) {
    while let Some((message, permit)) = messages.recv().await {
        // After a stop signal, only messages already started finish; queued
        // ones are left for the next start, keeping per-ticket order.
        if shared.shutdown.is_cancelled() {
            break;
        }
        let outcome = if is_replay_for_another_stage(&message, &shared.stage) {
            count(&shared.stage, "skipped_replay");
            Outcome::Done
        } else {
            process(&shared, &message).await
        };
        if outcome == Outcome::Done {
            let next =
                lock(&shared.tracker).complete(&message.topic, message.partition, message.offset, message.generation);
            if let Some(next_offset) = next {
                match shared.consumer.store_offset(&message.topic, message.partition, next_offset) {
                    Ok(()) => shared.offsets_dirty.store(true, Ordering::Release),
                    Err(error) => tracing::warn!(stage = %shared.stage, %error, "cannot store offset"),
                }
            }
        }
        drop(permit);
    }
}

/// True for a replayed dead letter addressed to a different stage.
fn is_replay_for_another_stage(message: &Message, stage: &str) -> bool {
    message.headers.get(headers::REPLAY_STAGE).is_some_and(|target| target != stage)
}

async fn commit_periodically(shared: Arc<Shared>, stop: CancellationToken) {
    let mut ticker = tokio::time::interval(COMMIT_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        if shared.offsets_dirty.swap(false, Ordering::AcqRel)
            && let Err(error) = shared.consumer.commit().await
        {
            shared.offsets_dirty.store(true, Ordering::Release);
            tracing::warn!(stage = %shared.stage, %error, "offset commit failed; will retry");
        }
    }
}

async fn process(shared: &Shared, message: &Message) -> Outcome {
    let span = tracing::info_span!(
        "handle",
        stage = %shared.stage,
        topic = %message.topic,
        partition = message.partition,
        offset = message.offset,
        ticket_id = message.key_str().unwrap_or_default(),
        request_id = message.headers.get(headers::REQUEST_ID).unwrap_or_default(),
    );
    process_in_span(shared, message).instrument(span).await
}

async fn process_in_span(shared: &Shared, message: &Message) -> Outcome {
    let stage = shared.stage.clone();
    let mut attempt = 0_u32;
    loop {
        attempt += 1;
        let started = Instant::now();
        let result = shared.handler.handle(message).await;
        metrics::histogram!("switchboard_stage_handle_seconds", "stage" => stage.clone())
            .record(started.elapsed().as_secs_f64());
        let error = match result {
            Ok(outputs) => {
                return match produce_outputs(shared, outputs).await {
                    Ok(outcome) => {
                        count(&stage, "ok");
                        outcome
                    }
                    Err(error) => {
                        let error = HandlerError::permanent(error);
                        dead_letter(shared, message, &error, attempt).await
                    }
                };
            }
            Err(error) => error,
        };
        if error.kind == FailureKind::Transient && attempt < shared.config.max_attempts {
            tracing::warn!(attempt, error = %error.describe(), "transient failure; will retry");
            metrics::counter!("switchboard_stage_retries_total", "stage" => stage.clone()).increment(1);
            if !pause(&shared.shutdown, backoff(&shared.config, attempt)).await {
                count(&stage, "abandoned");
                return Outcome::Abandoned;
            }
            continue;
        }
        return dead_letter(shared, message, &error, attempt).await;
    }
}

fn count(stage: &str, outcome: &'static str) {
    metrics::counter!("switchboard_stage_messages_total", "stage" => stage.to_owned(), "outcome" => outcome)
        .increment(1);
}

/// Produces every output, retrying transient failures until they succeed or
/// the stage stops. A permanent failure is returned for dead-lettering.
async fn produce_outputs(shared: &Shared, outputs: Vec<OutgoingMessage>) -> Result<Outcome> {
    let settled = futures::future::join_all(outputs.iter().map(|output| produce_until_settled(shared, output))).await;
    let mut outcome = Outcome::Done;
    for result in settled {
        match result {
            Settled::Written => {}
            Settled::Refused(error) => return Err(error),
            Settled::Abandoned => outcome = Outcome::Abandoned,
        }
    }
    Ok(outcome)
}

/// Sends `message` to this stage's dead-letter topic for its topic, with
/// provenance headers. When the copy cannot be written (too large for the
/// bus, say), a stub is written instead: the provenance and the original's
/// size, no payload (the original stays at its origin offset). Either way
/// the partition moves on.
/// Never gives up while the stage runs: dropping the message would lose it.
async fn dead_letter(shared: &Shared, message: &Message, error: &HandlerError, attempts: u32) -> Outcome {
    let description = error.describe();
    tracing::error!(error = %description, attempts, kind = ?error.kind, "dead-lettering message");
    let mut provenance = Headers::default();
    provenance.set(headers::DLQ_ORIGIN_TOPIC, message.topic.clone());
    provenance.set(headers::DLQ_ORIGIN_PARTITION, message.partition.to_string());
    provenance.set(headers::DLQ_ORIGIN_OFFSET, message.offset.to_string());
    provenance.set(headers::DLQ_ERROR, truncate(&description, 2048));
    provenance.set(headers::DLQ_ATTEMPTS, attempts.to_string());
    provenance.set(headers::DLQ_STAGE, shared.stage.clone());
    provenance.set(
        headers::DLQ_FAILED_AT,
        time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
    );
    let topic = topics::dead_letter(&message.topic, &shared.stage);

    let mut copy_headers = message.headers.clone();
    // A replayed message that fails again is a fresh dead letter.
    copy_headers.0.retain(|(name, _)| name != headers::REPLAY_STAGE);
    for (name, value) in provenance.iter() {
        copy_headers.set(name, value);
    }
    let copy = OutgoingMessage {
        topic: topic.clone(),
        key: message.key.clone(),
        payload: message.payload.clone(),
        headers: copy_headers,
    };
    match produce_until_settled(shared, &copy).await {
        Settled::Written => {
            count(&shared.stage, "dead_lettered");
            return Outcome::Done;
        }
        Settled::Abandoned => {
            count(&shared.stage, "abandoned");
            return Outcome::Abandoned;
        }
        Settled::Refused(refusal) => {
            tracing::error!(topic = %topic, error = %refusal, bytes = copy.size_bytes(), "cannot dead-letter the whole message; writing a stub");
        }
    }

    let mut stub_headers = provenance;
    stub_headers.set(headers::DLQ_TRUNCATED, copy.size_bytes().to_string());
    if let Some(request_id) = message.headers.get(headers::REQUEST_ID) {
        stub_headers.set(headers::REQUEST_ID, truncate(request_id, 128));
    }
    let key = message.key.clone().filter(|key| key.len() <= 256);
    let stub = OutgoingMessage { topic, key, payload: Vec::new(), headers: stub_headers };
    loop {
        match produce_until_settled(shared, &stub).await {
            Settled::Written => {
                count(&shared.stage, "dead_lettered_stub");
                return Outcome::Done;
            }
            Settled::Abandoned => {
                count(&shared.stage, "abandoned");
                return Outcome::Abandoned;
            }
            // A stub of a few kilobytes refused: the dead-letter topic itself
            // is wrong (deleted, forbidden). Keep trying until someone fixes
            // it rather than drop the message.
            Settled::Refused(refusal) => {
                tracing::error!(topic = %stub.topic, error = %refusal, "cannot write a dead-letter stub; will retry");
                if !pause(&shared.shutdown, Duration::from_millis(shared.config.backoff_max_ms)).await {
                    count(&shared.stage, "abandoned");
                    return Outcome::Abandoned;
                }
            }
        }
    }
}

enum Settled {
    Written,
    /// A permanent failure: sending the same again cannot work.
    Refused(Error),
    /// The stage is stopping.
    Abandoned,
}

/// Produces `message`, retrying transient failures with backoff.
async fn produce_until_settled(shared: &Shared, message: &OutgoingMessage) -> Settled {
    let mut attempt = 0_u32;
    loop {
        attempt += 1;
        match shared.bus.produce(message.clone()).await {
            Ok(_) => return Settled::Written,
            Err(error) if !error.is_transient() => return Settled::Refused(error),
            Err(error) => {
                tracing::warn!(topic = %message.topic, %error, attempt, "cannot produce; will retry");
                if !pause(&shared.shutdown, backoff(&shared.config, attempt)).await {
                    return Settled::Abandoned;
                }
            }
        }
    }
}

fn truncate(text: &str, max_bytes: usize) -> String {
    let clipped = switchboard_core::text::clip(text, max_bytes);
    if clipped.len() == text.len() { text.to_owned() } else { format!("{clipped}…") }
}

/// The delay before retry number `attempt` (1-based): exponential from
/// `backoff_initial_ms`, capped at `backoff_max_ms`, with "equal jitter"
/// (a random point in the upper half) so retries of many messages spread out.
pub fn backoff(config: &RunnerConfig, attempt: u32) -> Duration {
    let exponent = attempt.saturating_sub(1).min(32);
    let ceiling = config.backoff_initial_ms.saturating_mul(1_u64 << exponent).min(config.backoff_max_ms);
    let floor = ceiling / 2;
    Duration::from_millis(rand::rng().random_range(floor..=ceiling))
}

/// Sleeps for `duration` unless shutdown comes first; false on shutdown.
async fn pause(shutdown: &CancellationToken, duration: Duration) -> bool {
    tokio::select! {
        () = shutdown.cancelled() => false,
        () = tokio::time::sleep(duration) => true,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn backoff_grows_within_bounds(initial in 1_u64..1_000, extra in 0_u64..100_000, attempt in 1_u32..100) {
            let config = RunnerConfig { backoff_initial_ms: initial, backoff_max_ms: initial + extra, ..RunnerConfig::default() };
            let delay = backoff(&config, attempt).as_millis() as u64;
            let ceiling = initial.saturating_mul(1 << (attempt - 1).min(32)).min(initial + extra);
            prop_assert!(delay <= ceiling && delay >= ceiling / 2, "{} not in [{}, {}]", delay, ceiling / 2, ceiling);
        }

        #[test]
        fn one_key_always_maps_to_one_lane(key in proptest::collection::vec(any::<u8>(), 0..40), lanes in 1_usize..128, offset in 0_i64..1000) {
            let message = |offset| Message {
                topic: "t".into(), partition: 0, offset, key: Some(key.clone()), payload: vec![],
                headers: Default::default(), timestamp_ms: None, generation: 0,
            };
            let lane = lane_for(&message(offset), lanes);
            prop_assert!(lane < lanes);
            prop_assert_eq!(lane, lane_for(&message(offset + 1), lanes));
        }
    }

    #[test]
    fn long_errors_are_cut_on_a_character_boundary() {
        let text = "é".repeat(2000);
        let cut = truncate(&text, 2047);
        assert!(cut.len() <= 2050 && cut.ends_with('…'));
    }
}
