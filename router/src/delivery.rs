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
//! Destinations are checked against server-side request forgery: unless
//! `router.allow_private_destinations`, a URL that is or resolves to a
//! loopback, private, link-local or otherwise non-public address is refused
//! (at connection time, so a name cannot resolve differently later).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use rand::Rng;
use switchboard_bus::StageContext;
use switchboard_core::Scope;
use switchboard_core::config::RouterConfig;
use switchboard_core::routing::{Destination, delivery_body};
use switchboard_core::signing::SigningSecret;
use switchboard_core::topics::stages;
use switchboard_store::{AttemptOutcome, DeliveryRecord, NewDelivery, Store};
use time::OffsetDateTime;

use crate::select;

pub const STAGE_NAME: &str = stages::DELIVERY;

/// How long a claimed delivery is the claimer's beyond its request timeout.
const LEASE_MARGIN: Duration = Duration::from_secs(30);
/// The longest the worker sleeps without looking for due deliveries.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// The delivery stage, until `ctx.shutdown` fires.
pub async fn stage(ctx: StageContext) -> crate::Result<()> {
    let worker = Arc::new(Worker::new(ctx.store.clone(), ctx.config.router.clone())?);
    tracing::info!(stage = STAGE_NAME, "delivery to team servers started");
    let lease = time::Duration::try_from(worker.timeout + LEASE_MARGIN).unwrap_or(time::Duration::MINUTE);
    loop {
        let claimed = tokio::select! {
            () = ctx.shutdown.cancelled() => break,
            claimed = ctx.store.claim_due_deliveries(lease, worker.config.concurrency as u32) => claimed,
        };
        match claimed {
            Ok(deliveries) if !deliveries.is_empty() => {
                futures::stream::iter(deliveries)
                    .for_each_concurrent(worker.config.concurrency, |delivery| {
                        let worker = worker.clone();
                        async move { worker.attempt(delivery).await }
                    })
                    .await;
                continue;
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(stage = STAGE_NAME, %error, "cannot read the delivery schedule; will retry"),
        }
        let wait = match ctx.store.next_delivery_due().await {
            Ok(Some(due)) => (due - OffsetDateTime::now_utc()).try_into().unwrap_or(Duration::ZERO).min(IDLE_POLL),
            _ => IDLE_POLL,
        };
        tokio::select! {
            () = ctx.shutdown.cancelled() => break,
            () = ctx.store.deliveries_due().notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
    tracing::info!(stage = STAGE_NAME, "delivery to team servers stopped");
    Ok(())
}

struct Worker {
    store: Store,
    client: reqwest::Client,
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
    fn new(store: Store, config: RouterConfig) -> crate::Result<Self> {
        let timeout = Duration::from_millis(config.request_timeout_ms);
        let client = reqwest::Client::builder()
            .timeout(timeout)
            // A proxy would resolve names itself, past the check below.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(PublicOnly { allow_private: config.allow_private_destinations })
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| crate::Error::Config(format!("cannot build the delivery HTTP client: {error}")))?;
        Ok(Self { store, client, config, timeout })
    }

    #[tracing::instrument(skip_all, fields(ticket_id = %delivery.ticket_id, delivery = %delivery.id))]
    async fn attempt(&self, delivery: DeliveryRecord) {
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
        let url = url::Url::parse(url).map_err(|error| Failure::permanent(None, format!("bad URL: {error}")))?;
        if let Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) = url.host()
            && let Some(address) = url.socket_addrs(|| None).ok().and_then(|addresses| addresses.into_iter().next())
            && !self.config.allow_private_destinations
            && !is_public(address.ip())
        {
            return Err(Failure::permanent(None, format!("{} is not a public address", address.ip())));
        }
        let webhook_id = switchboard_store::webhook_id(delivery.id);
        let timestamp = OffsetDateTime::now_utc().unix_timestamp();
        let signature = secret.sign(&webhook_id, timestamp, delivery.payload.as_bytes());
        let response = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &webhook_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .header("idempotency-key", &webhook_id)
            .body(delivery.payload.clone())
            .send()
            .await;
        let response = match response {
            Ok(response) => response,
            Err(error) => {
                let what = if error.is_timeout() { "timed out" } else { "could not connect" };
                return Err(Failure {
                    status: None,
                    error: format!("{what}: {error}"),
                    permanent: false,
                    retry_after: None,
                });
            }
        };
        let status = response.status().as_u16();
        if response.status().is_success() {
            return Ok(status);
        }
        let retry_after =
            response.headers().get("retry-after").and_then(|value| value.to_str().ok()).and_then(parse_retry_after);
        let permanent = (400..500).contains(&status) && status != 408 && status != 429;
        Err(Failure { status: Some(status), error: format!("the server answered {status}"), permanent, retry_after })
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

/// `Retry-After` as seconds or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds.min(3_600)));
    }
    let date = OffsetDateTime::parse(value.trim(), &time::format_description::well_known::Rfc2822).ok()?;
    Some((date - OffsetDateTime::now_utc()).try_into().unwrap_or(Duration::ZERO).min(Duration::from_secs(3_600)))
}

/// Whether deliveries may go to `address` without
/// `router.allow_private_destinations`.
pub fn is_public(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space (RFC 6598)
                || (a == 192 && b == 0 && v4.octets()[2] == 0) // IETF protocol assignments
                || (a == 198 && (18..20).contains(&b)) // benchmarking (RFC 2544)
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let segments = v6.segments();
            let embedded = |high: u16, low: u16| std::net::Ipv4Addr::from((u32::from(high) << 16) | u32::from(low));
            // IPv4 inside IPv6: NAT64 (64:ff9b::/96), 6to4 (2002::/16) and
            // the deprecated IPv4-compatible form (::/96) reach IPv4 hosts.
            if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || segments[..6] == [0, 0, 0, 0, 0, 0] {
                return !v6.is_loopback()
                    && !v6.is_unspecified()
                    && is_public(IpAddr::V4(embedded(segments[6], segments[7])));
            }
            if segments[0] == 0x2002 {
                return is_public(IpAddr::V4(embedded(segments[1], segments[2])));
            }
            let first = segments[0];
            !(v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link local
                || (first & 0xffc0) == 0xfec0 // site local (deprecated)
                || first == 0x2001 && segments[1] == 0x0db8) // documentation
        }
    }
}

/// Resolves names as the system does, then keeps only public addresses
/// (all of them when private destinations are allowed).
struct PublicOnly {
    allow_private: bool,
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> =
                addresses.into_iter().filter(|address| allow_private || is_public(address.ip())).collect();
            if allowed.is_empty() {
                return Err(format!("`{host}` resolves to no public address").into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(private.parse().expect("an address")), "{private}");
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "64:ff9b::808:808", "2002:808:808::"] {
            assert!(is_public(public.parse().expect("an address")), "{public}");
        }
    }

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO), "a date in the past");
        assert_eq!(parse_retry_after("soon"), None);
    }
}
