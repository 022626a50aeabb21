//! The `delivery` stage: works the store's delivery schedule.
//!
//! Each due delivery is claimed (leased, so a second worker does not take it
//! meanwhile) and POSTed to its server with the Standard Webhooks headers
//! (`webhook-id` is the delivery's id on every attempt, and the
//! `Idempotency-Key` too). Then:
//!
//! * 2xx: delivered; the server's circuit closes;
//! * 4xx other than 408 and 429: a permanent refusal; the ticket falls back;
//! * anything else (5xx, 408, 429, no connection, a timeout): retried after
//!   a jittered, doubling delay (or the server's `Retry-After` when later);
//!   after `router.delivery_attempts`, the ticket falls back; failures in a
//!   row open the server's circuit.
//!
//! Falling back means the next available server of the ticket's team, then
//! the central server; each gets a delivery of its own (a new `webhook-id`),
//! and a server given up on gets no more attempts for that ticket, even
//! when it comes back.
//!
//! Requests go through `switchboard_outbound::Sender`, the notifier's too:
//! `http` or `https` (verified certificates), and destinations checked
//! against server-side request forgery (`outbound.*`).

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use switchboard_bus::StageContext;
use switchboard_core::Scope;
use switchboard_core::config::{OutboundConfig, RouterConfig};
use switchboard_core::routing::{Destination, delivery_body};
use switchboard_core::signing::SigningSecret;
use switchboard_core::topics::stages;
use switchboard_outbound::worker::Schedule;
use switchboard_outbound::{Sender, SenderOptions, SignedPost};
use switchboard_store::{AttemptOutcome, DeliveryRecord, NewDelivery, Store};
use time::OffsetDateTime;

use crate::select;

pub const STAGE_NAME: &str = stages::DELIVERY;

/// The most of a team server's answer read.
const RESPONSE_EXCERPT: usize = 4_096;
/// How long a claimed delivery is the claimer's beyond its request timeout.
const LEASE_MARGIN: Duration = Duration::from_secs(30);

/// The delivery stage, until `ctx.shutdown` fires.
pub async fn stage(ctx: StageContext) -> crate::Result<()> {
    let worker = Arc::new(Worker::new(ctx.store.clone(), ctx.config.router.clone(), &ctx.config.outbound)?);
    tracing::info!(stage = STAGE_NAME, "delivery to team servers started");
    let concurrency = worker.config.concurrency;
    switchboard_outbound::worker::run(worker, ctx.store.deliveries_due(), concurrency, &ctx.shutdown, STAGE_NAME).await;
    tracing::info!(stage = STAGE_NAME, "delivery to team servers stopped");
    Ok(())
}

impl Schedule for Worker {
    type Item = DeliveryRecord;

    async fn claim(&self, limit: usize) -> Result<Vec<DeliveryRecord>, String> {
        let lease = time::Duration::try_from(self.timeout + LEASE_MARGIN).unwrap_or(time::Duration::MINUTE);
        let limit = u32::try_from(limit).unwrap_or(u32::MAX);
        self.store.claim_due_deliveries(lease, limit).await.map_err(|error| error.to_string())
    }

    async fn next_due(&self) -> Result<Option<OffsetDateTime>, String> {
        self.store.next_delivery_due().await.map_err(|error| error.to_string())
    }

    async fn attempt(self: Arc<Self>, delivery: DeliveryRecord) {
        self.attempt_one(delivery).await;
    }
}

struct Worker {
    store: Store,
    sender: Sender,
    config: RouterConfig,
    timeout: Duration,
}

/// Why an attempt did not deliver.
struct Failure {
    status: Option<u16>,
    error: String,
    permanent: bool,
    retry_after: Option<Duration>,
}

impl Worker {
    fn new(store: Store, config: RouterConfig, outbound: &OutboundConfig) -> crate::Result<Self> {
        let timeout = Duration::from_millis(config.request_timeout_ms);
        let options =
            SenderOptions { connect_timeout: timeout, request_timeout: timeout, max_response_bytes: RESPONSE_EXCERPT };
        let sender = Sender::new(outbound, options).map_err(crate::Error::Config)?;
        Ok(Self { store, sender, config, timeout })
    }

    #[tracing::instrument(skip_all, fields(ticket_id = %delivery.ticket_id, delivery = %delivery.id))]
    async fn attempt_one(&self, delivery: DeliveryRecord) {
        let server = match self.store.server(&delivery.company, delivery.server).await {
            Ok(server) => server,
            Err(error) => {
                tracing::warn!(%error, "cannot read the delivery's server; will retry");
                return;
            }
        };
        let result = match &server {
            None => Err(Failure::permanent(None, "the server was removed")),
            Some(server) if !server.fields.enabled => Err(Failure::permanent(None, "the server is disabled")),
            Some(server) => self.post(&delivery, &server.fields.base_url, server.fields.signing_secret.expose()).await,
        };
        let outcome = match result {
            Ok(status) => {
                metrics::counter!("switchboard_deliveries_total", "outcome" => "delivered").increment(1);
                AttemptOutcome::Delivered { status }
            }
            Err(failure) => {
                let attempts = delivery.attempts + 1;
                if failure.permanent || attempts >= self.config.delivery_attempts {
                    metrics::counter!("switchboard_deliveries_total", "outcome" => "given_up").increment(1);
                    let fallback = match self.fallback(&delivery, server.as_ref().map(|s| s.fields.name.as_str())).await
                    {
                        Ok(fallback) => fallback,
                        Err(error) => {
                            tracing::warn!(%error, "cannot choose a fallback server; will retry");
                            return;
                        }
                    };
                    tracing::warn!(error = %failure.error, attempts, fallback = ?fallback.as_ref().map(|f| f.server), "giving up on a team server");
                    AttemptOutcome::GiveUp { status: failure.status, error: failure.error.clone(), fallback }
                } else {
                    metrics::counter!("switchboard_deliveries_total", "outcome" => "retry").increment(1);
                    let delay = self.backoff(attempts).max(failure.retry_after.unwrap_or(Duration::ZERO));
                    tracing::info!(error = %failure.error, attempts, delay_ms = delay.as_millis() as u64, "delivery failed; will retry");
                    AttemptOutcome::Retry {
                        status: failure.status,
                        error: failure.error.clone(),
                        next_attempt_at: OffsetDateTime::now_utc() + delay,
                    }
                }
            }
        };
        if let Some(server) = &server {
            let delivered = matches!(outcome, AttemptOutcome::Delivered { .. });
            let reachable = delivered
                || matches!(&outcome, AttemptOutcome::GiveUp { status: Some(status), .. } if (400..500).contains(status));
            let until = OffsetDateTime::now_utc() + Duration::from_millis(self.config.circuit_open_ms);
            if let Err(error) =
                self.store.record_server_result(server.id, reachable, self.config.circuit_failures, until).await
            {
                tracing::warn!(%error, "cannot record the server's health");
            }
        }
        match self.store.finish_attempt(&delivery, &outcome).await {
            Ok(true) => {}
            // Another worker took the delivery over after the lease ran out;
            // its outcome stands. The server sees the same webhook id twice.
            Ok(false) => tracing::warn!("the delivery's lease ran out before its outcome was recorded"),
            // The lease runs out and the delivery is attempted again: at
            // least once, which the webhook id lets the server see through.
            Err(error) => tracing::warn!(%error, "cannot record a delivery attempt; it will be attempted again"),
        }
    }

    /// One signed POST; the status on 2xx.
    async fn post(&self, delivery: &DeliveryRecord, url: &str, secret: &str) -> Result<u16, Failure> {
        let secret = SigningSecret::parse(secret).map_err(|error| Failure::permanent(None, error.to_string()))?;
        let webhook_id = switchboard_store::webhook_id(delivery.id);
        let attempt = self
            .sender
            .post(SignedPost { url, webhook_id: &webhook_id, secrets: &[&secret], body: delivery.payload.as_bytes() })
            .await;
        match attempt.status {
            Some(status) if attempt.delivered() => Ok(status),
            status => Err(Failure {
                status,
                error: attempt.error.unwrap_or_default(),
                permanent: attempt.refused
                    || status.is_some_and(|status| (400..500).contains(&status) && status != 408 && status != 429),
                retry_after: attempt.retry_after,
            }),
        }
    }

    /// The delay before attempt `attempts + 1`: the base doubled per
    /// attempt, capped, and jittered to between half and all of it.
    fn backoff(&self, attempts: u32) -> Duration {
        let doubled = self.config.retry_base_ms.saturating_mul(1u64 << attempts.saturating_sub(1).min(20));
        let capped = doubled.min(self.config.retry_max_ms);
        Duration::from_millis(rand::rng().random_range(capped / 2..=capped))
    }

    /// The next server for the ticket, if any: another of its team's, then
    /// the central one, never one tried before.
    async fn fallback(
        &self,
        delivery: &DeliveryRecord,
        from: Option<&str>,
    ) -> switchboard_store::Result<Option<NewDelivery>> {
        let scope = Scope::Company(delivery.company.clone());
        let tried: Vec<_> =
            self.store.deliveries_of(&scope, delivery.ticket_id).await?.into_iter().map(|tried| tried.server).collect();
        let routing = self.store.routing_of(&scope, delivery.ticket_id).await?;
        let destination = match routing.as_ref().and_then(|record| record.routing.team) {
            Some(team) => Destination::Team { team },
            None => Destination::Central,
        };
        let teams = self.store.list_teams(&delivery.company).await?;
        let servers = self.store.list_servers(&delivery.company).await?;
        let pending = self.store.pending_deliveries(&delivery.company).await?;
        let choice = select::choose(destination, &teams, &servers, &pending, &tried, OffsetDateTime::now_utc());
        let Some(server) = choice.server else { return Ok(None) };
        let Some(ticket) = self.store.get_ticket(&scope, delivery.ticket_id).await? else { return Ok(None) };
        let reason = format!("fallback from `{}`: {}", from.unwrap_or("a removed server"), choice.reason);
        let payload = delivery_body(&ticket, choice.team, &reason)
            .map_err(|error| switchboard_store::Error::Corrupt(error.to_string()))?;
        Ok(Some(NewDelivery { id: uuid::Uuid::now_v7(), server, reason, payload }))
    }
}

impl Failure {
    fn permanent(status: Option<u16>, error: impl Into<String>) -> Self {
        Self { status, error: error.into(), permanent: true, retry_after: None }
    }
}
