//! The `webhooks` stage: works the store's schedule of webhook messages.
//!
//! Each due message (the earliest pending one of its ticket for its
//! endpoint) is claimed with a lease and POSTed through
//! `switchboard_outbound::Sender`: `webhook-id` is the message's id on every
//! attempt, signed with the endpoint's secret (and, during a rotation, the
//! previous one too). Every attempt is logged. Then:
//!
//! * 2xx: delivered;
//! * 410 Gone: the endpoint is disabled (its messages wait, pending);
//! * anything else: the next attempt per `notifier.schedule_ms` (jittered;
//!   a later `Retry-After` wins), or, when it ran out, the message is kept
//!   as failed; an endpoint that has failed every attempt for
//!   `notifier.disable_after_failing_ms` is disabled.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use switchboard_bus::StageContext;
use switchboard_bus::group_commit::GroupCommit;
use switchboard_core::CompanyId;
use switchboard_core::cache::TtlCache;
use switchboard_core::config::NotifierConfig;
use switchboard_core::ids::WebhookId;
use switchboard_core::signing::SigningSecret;
use switchboard_core::topics::stages;
use switchboard_outbound::worker::Schedule;
use switchboard_outbound::{Sender, SenderOptions, SignedPost};
use switchboard_store::{
    AttemptFacts, FinishedAttempt, MessageOutcome, Recorded, Store, WebhookMessageRecord, WebhookRecord,
};
use time::OffsetDateTime;

use crate::mail_queue::MailQueue;
use crate::schedule::next_attempt;

pub const STAGE_NAME: &str = stages::WEBHOOKS;

/// How long a claimed message is the claimer's beyond its request timeout.
const LEASE_MARGIN: Duration = Duration::from_secs(30);

/// The webhooks stage, until `ctx.shutdown` fires.
pub async fn stage(ctx: StageContext) -> crate::Result<()> {
    let config = ctx.config.notifier.clone();
    let options = SenderOptions {
        connect_timeout: Duration::from_millis(config.connect_timeout_ms),
        request_timeout: Duration::from_millis(config.request_timeout_ms),
        max_response_bytes: config.max_response_bytes,
    };
    let sender = Sender::new(&ctx.config.outbound, options).map_err(crate::Error::Config)?;
    let concurrency = config.concurrency;
    let endpoints = TtlCache::new(Duration::from_millis(config.refresh_ms), MAX_CACHED_ENDPOINTS);
    let recorder = attempt_recorder(ctx.store.clone(), concurrency);
    // Tells admins of an endpoint it disabled (when mail is on).
    let mail = MailQueue::new(ctx.store.clone(), &ctx.config.mail);
    let worker = Arc::new(Worker { store: ctx.store.clone(), sender, config, endpoints, recorder, mail });
    tracing::info!(stage = STAGE_NAME, "webhook delivery started");
    switchboard_outbound::worker::run(worker, ctx.store.webhooks_due(), concurrency, &ctx.shutdown, STAGE_NAME).await;
    tracing::info!(stage = STAGE_NAME, "webhook delivery stopped");
    Ok(())
}

impl Schedule for Worker {
    type Item = WebhookMessageRecord;

    async fn claim(&self, limit: usize) -> Result<Vec<WebhookMessageRecord>, String> {
        let timeout = Duration::from_millis(self.config.request_timeout_ms);
        let lease = time::Duration::try_from(timeout + LEASE_MARGIN).unwrap_or(time::Duration::MINUTE);
        let limit = u32::try_from(limit).unwrap_or(u32::MAX);
        let now = OffsetDateTime::now_utc();
        self.store.claim_due_webhook_messages(now, lease, limit).await.map_err(|error| error.to_string())
    }

    async fn next_due(&self) -> Result<Option<OffsetDateTime>, String> {
        self.store.next_webhook_message_due().await.map_err(|error| error.to_string())
    }

    async fn attempt(self: Arc<Self>, message: WebhookMessageRecord) {
        self.attempt_one(message).await;
    }
}

struct Worker {
    store: Store,
    sender: Sender,
    config: NotifierConfig,
    /// Endpoints read at most every `notifier.refresh_ms` (most attempts
    /// go to few endpoints).
    endpoints: TtlCache<(CompanyId, WebhookId), Option<Arc<WebhookRecord>>>,
    recorder: AttemptRecorder,
    mail: Option<MailQueue>,
}

/// A finished attempt, to record.
type Finished = (WebhookMessageRecord, AttemptFacts, MessageOutcome);

/// Records finished attempts: those that finish together share one
/// transaction (one fsync), as the projector's writes do.
type AttemptRecorder = GroupCommit<Finished, Recorded, switchboard_store::Error>;

fn attempt_recorder(store: Store, max_batch: usize) -> AttemptRecorder {
    GroupCommit::spawn(max_batch, max_batch, move |batch: Vec<Finished>| {
        let store = store.clone();
        async move {
            let finished: Vec<FinishedAttempt<'_>> =
                batch.iter().map(|(message, facts, outcome)| FinishedAttempt { message, facts, outcome }).collect();
            match store.finish_webhook_attempts(&finished).await {
                Ok(recorded) => recorded.into_iter().map(Ok).collect(),
                Err(error) if finished.len() == 1 => vec![Err(error)],
                // One bad attempt must not fail its neighbours.
                Err(_) => {
                    let mut results = Vec::with_capacity(finished.len());
                    for one in &finished {
                        results.push(store.finish_webhook_attempts(std::slice::from_ref(one)).await.map(|r| r[0]));
                    }
                    results
                }
            }
        }
    })
}

/// Endpoints cached at once.
const MAX_CACHED_ENDPOINTS: usize = 10_000;

impl Worker {
    #[tracing::instrument(skip_all, fields(ticket_id = %message.ticket_id, message = %message.id))]
    async fn attempt_one(&self, message: WebhookMessageRecord) {
        let key = (message.company.clone(), message.endpoint);
        let read = || async {
            let endpoint = self.store.webhook(&message.company, message.endpoint).await?;
            Ok::<_, switchboard_store::Error>(endpoint.map(Arc::new))
        };
        let endpoint = match self.endpoints.get_or_load(&key, read).await {
            Ok(Some(endpoint)) => endpoint,
            // Deleted meanwhile: its messages went with it.
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(%error, "cannot read the message's endpoint; will retry");
                return;
            }
        };
        let (facts, outcome) = self.post(&message, &endpoint).await;
        let label = match &outcome {
            MessageOutcome::Delivered => "delivered",
            MessageOutcome::Retry(_) => "retry",
            MessageOutcome::Exhausted => "exhausted",
            MessageOutcome::DisableEndpoint { .. } => "endpoint_disabled",
        };
        metrics::counter!("switchboard_webhook_attempts_total", "outcome" => label).increment(1);
        let reason = match &outcome {
            MessageOutcome::DisableEndpoint { reason } => Some(reason.clone()),
            _ => None,
        };
        let attempted_at = facts.attempted_at;
        match self.recorder.submit((message, facts, outcome)).await {
            Ok(Ok(Recorded::Recorded)) => {}
            Ok(Ok(Recorded::DisabledEndpoint)) => {
                let reason = reason.unwrap_or_default();
                tracing::warn!(endpoint = %endpoint.id, reason, "disabled a webhook endpoint");
                if let Some(mail) = &self.mail
                    && let Err(error) = mail.queue_webhook_disabled(&endpoint, &reason, attempted_at).await
                {
                    tracing::warn!(endpoint = %endpoint.id, %error, "cannot mail the admins that an endpoint was disabled");
                }
            }
            Ok(Ok(Recorded::Stale)) => tracing::warn!("the message's lease ran out before its attempt was recorded"),
            // The lease runs out and the message is attempted again: at
            // least once, which the webhook id lets the receiver see through.
            Ok(Err(error)) => tracing::warn!(%error, "cannot record a webhook attempt; it will be attempted again"),
            Err(stopped) => tracing::warn!(%stopped, "cannot record a webhook attempt; it will be attempted again"),
        }
    }

    /// One attempt, and what it means for the schedule.
    async fn post(&self, message: &WebhookMessageRecord, endpoint: &WebhookRecord) -> (AttemptFacts, MessageOutcome) {
        let now = OffsetDateTime::now_utc();
        let secrets: Result<Vec<SigningSecret>, _> =
            endpoint.signing_secrets(now).into_iter().map(SigningSecret::parse).collect();
        let webhook_id = switchboard_store::webhook_id(message.id);
        let attempt = match secrets {
            Ok(secrets) => {
                let secrets: Vec<&SigningSecret> = secrets.iter().collect();
                self.sender
                    .post(SignedPost {
                        url: &endpoint.fields.url,
                        webhook_id: &webhook_id,
                        secrets: &secrets,
                        body: message.payload.as_bytes(),
                    })
                    .await
            }
            Err(error) => {
                let facts = AttemptFacts {
                    attempted_at: now,
                    status: None,
                    duration_ms: 0,
                    error: Some(format!("the endpoint's secret is unusable: {error}")),
                    response_excerpt: None,
                };
                return (facts, MessageOutcome::DisableEndpoint { reason: "its signing secret is unusable".into() });
            }
        };
        let facts = AttemptFacts {
            attempted_at: now,
            status: attempt.status,
            duration_ms: u64::try_from(attempt.duration.as_millis()).unwrap_or(u64::MAX),
            error: attempt.error.clone(),
            response_excerpt: attempt.excerpt.clone(),
        };
        if attempt.delivered() {
            return (facts, MessageOutcome::Delivered);
        }
        if attempt.status == Some(410) {
            return (facts, MessageOutcome::DisableEndpoint { reason: "it answered 410 Gone".into() });
        }
        let failing_for = endpoint.failing_since.map_or(time::Duration::ZERO, |since| now - since);
        if failing_for >= time::Duration::milliseconds(self.config.disable_after_failing_ms as i64) {
            let days = failing_for.whole_hours() as f64 / 24.0;
            let reason = format!("every attempt failed for {days:.1} days");
            return (facts, MessageOutcome::DisableEndpoint { reason });
        }
        // `Retry-After` is honoured on 429 and 503, where it means "later".
        let retry_after = attempt.retry_after.filter(|_| matches!(attempt.status, Some(429 | 503)));
        let jitter = rand::rng().random::<f64>();
        let outcome =
            match next_attempt(&self.config.schedule_ms, message.scheduled_attempts + 1, now, retry_after, jitter) {
                Some(at) => MessageOutcome::Retry(at),
                None => MessageOutcome::Exhausted,
            };
        (facts, outcome)
    }
}
