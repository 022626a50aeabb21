//! Configuration types, their defaults and their validation.
//!
//! Loading (defaults < file < `SWITCHBOARD_*` environment) happens in the
//! binary; this module only says what a valid configuration is.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::topics::Topics;

/// A value that never appears in logs or `Debug` output.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The value itself; call only where it is used, never to log it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("[redacted]")
    }
}

/// Kafka client properties that carry Switchboard's durability promises.
pub const GUARDED_KAFKA_PROPERTIES: &[&str] =
    &["acks", "request.required.acks", "enable.idempotence", "enable.auto.offset.store"];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the embedded store (and anything else on disk) lives.
    pub data_dir: PathBuf,
    /// The HTTP address of ingest and the API.
    pub listen: SocketAddr,
    pub store: StoreConfig,
    pub bus: BusConfig,
    pub runner: RunnerConfig,
    pub ingest: IngestConfig,
    pub attachments: AttachmentsConfig,
    pub triage: TriageConfig,
    pub kb: KbConfig,
    pub router: RouterConfig,
    pub outbound: OutboundConfig,
    pub notifier: NotifierConfig,
    pub live: LiveConfig,
    pub mail: MailConfig,
    pub http: HttpConfig,
    pub auth: AuthConfig,
    pub retention: RetentionConfig,
    pub log: LogConfig,
    pub dispatch: DispatchConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./switchboard-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            store: StoreConfig::default(),
            bus: BusConfig::default(),
            runner: RunnerConfig::default(),
            ingest: IngestConfig::default(),
            attachments: AttachmentsConfig::default(),
            triage: TriageConfig::default(),
            kb: KbConfig::default(),
            router: RouterConfig::default(),
            outbound: OutboundConfig::default(),
            notifier: NotifierConfig::default(),
            live: LiveConfig::default(),
            mail: MailConfig::default(),
            http: HttpConfig::default(),
            auth: AuthConfig::default(),
            retention: RetentionConfig::default(),
            log: LogConfig::default(),
            dispatch: DispatchConfig::default(),
        }
    }
}

impl Config {
    /// Checks what serde cannot: ranges and combinations.
    pub fn validate(&self) -> Result<()> {
        let fail = |message: String| Err(Error::Config(message));
        if self.bus.partitions == 0 || self.bus.partitions > 1024 {
            return fail(format!("bus.partitions must be 1..=1024, got {}", self.bus.partitions));
        }
        if self.bus.backend == BusBackend::Kafka && self.bus.kafka.brokers.trim().is_empty() {
            return fail("bus.kafka.brokers must name at least one broker".into());
        }
        if self.bus.kafka.replication_factor < 1 {
            return fail("bus.kafka.replication_factor must be at least 1".into());
        }
        // A 202 promises a durable write and an offset moves only after the
        // work is done: no property may quietly weaken either.
        if let Some(key) = self.bus.kafka.properties.keys().find(|key| GUARDED_KAFKA_PROPERTIES.contains(&key.as_str()))
        {
            return fail(format!(
                "bus.kafka.properties.{key} cannot be set: Switchboard sets it (acks=all, enable.idempotence=true, \
                 enable.auto.offset.store=false) so that an accepted ticket is durable and offsets move only after \
                 the work is done"
            ));
        }
        let kafka = &self.bus.kafka;
        if kafka.replication_factor < 1 {
            return fail("bus.kafka.replication_factor must be at least 1".into());
        }
        if !(1..=kafka.replication_factor).contains(&kafka.min_insync_replicas()) {
            return fail(format!(
                "bus.kafka.min_insync_replicas must be 1 to the replication factor ({}), got {}",
                kafka.replication_factor,
                kafka.min_insync_replicas()
            ));
        }
        if self.bus.kafka.properties.contains_key("message.max.bytes") {
            return fail(
                "bus.kafka.properties.message.max.bytes cannot be set: set bus.max_message_bytes, which ingest, the \
                 stages and the topics all follow"
                    .into(),
            );
        }
        self.auth.validate()?;
        self.dispatch.validate()?;
        self.ingest.web_form.validate()?;
        if self.ingest.email.max_message_bytes < 1024 || self.ingest.email.per_sender_per_hour == 0 {
            return fail(
                "ingest.email.max_message_bytes must be at least 1024 and ingest.email.per_sender_per_hour at least 1"
                    .into(),
            );
        }
        self.ingest.imap.validate()?;
        self.attachments.validate()?;
        self.router.validate()?;
        self.notifier.validate()?;
        self.live.validate()?;
        self.mail.validate()?;
        for origin in &self.http.cors_origins {
            let valid = (origin.starts_with("https://") || origin.starts_with("http://"))
                && !origin.ends_with('/')
                && origin.split_once("://").is_some_and(|(_, host)| !host.is_empty() && !host.contains('/'))
                && origin.chars().all(|character| character.is_ascii_graphic());
            if !valid {
                return fail(format!(
                    "http.cors_origins: `{origin}` is not an origin; write scheme://host[:port], e.g. \
                     https://console.example.com (no path, no trailing slash, no wildcard)"
                ));
            }
        }
        if self.runner.max_in_flight == 0 {
            return fail("runner.max_in_flight must be at least 1".into());
        }
        if self.runner.max_attempts == 0 {
            return fail("runner.max_attempts must be at least 1".into());
        }
        if self.runner.backoff_initial_ms == 0 || self.runner.backoff_initial_ms > self.runner.backoff_max_ms {
            return fail("runner.backoff_initial_ms must be between 1 and runner.backoff_max_ms".into());
        }
        if self.ingest.produce_timeout_ms == 0 {
            return fail("ingest.produce_timeout_ms must be at least 1".into());
        }
        let smallest_message = crate::envelope::STAGE_HEADROOM_BYTES + crate::envelope::MIN_INGEST_MESSAGE_BYTES;
        if self.bus.max_message_bytes < smallest_message {
            return fail(format!(
                "bus.max_message_bytes must be at least {smallest_message} (room for a ticket and what the stages add to it)"
            ));
        }
        if self.ingest.max_body_bytes < 1024 {
            return fail("ingest.max_body_bytes must be at least 1024".into());
        }
        if self.kb.suggestions == 0 || self.kb.suggestions > 50 {
            return fail(format!("kb.suggestions must be 1..=50, got {}", self.kb.suggestions));
        }
        if self.triage.reload_interval_ms < 100 {
            return fail("triage.reload_interval_ms must be at least 100".into());
        }
        if self.http.request_timeout_ms == 0 || self.http.upload_timeout_ms == 0 {
            return fail("http.request_timeout_ms and http.upload_timeout_ms must be at least 1".into());
        }
        if self.http.header_read_timeout_ms == 0 {
            return fail("http.header_read_timeout_ms must be at least 1".into());
        }
        if self.http.max_connections == 0 {
            return fail("http.max_connections must be at least 1".into());
        }
        if self.http.max_in_flight == 0 {
            return fail("http.max_in_flight must be at least 1".into());
        }
        if self.retention.interval_seconds == 0 {
            return fail("retention.interval_seconds must be at least 1".into());
        }
        if self.retention.bus_log_hours == 0 {
            return fail("retention.bus_log_hours must be at least 1".into());
        }
        if self.retention.live_events_hours == 0 {
            return fail("retention.live_events_hours must be at least 1".into());
        }
        if !(1..=36_500).contains(&self.retention.notification_log_days) {
            return fail("retention.notification_log_days must be 1 to 36500".into());
        }
        if self.store.max_connections == 0 {
            return fail("store.max_connections must be at least 1".into());
        }
        if self.store.write_connections == 0 {
            return fail("store.write_connections must be at least 1".into());
        }
        if self.store.read_statement_timeout_ms == 0 {
            return fail("store.read_statement_timeout_ms must be at least 1".into());
        }
        if let Some(url) = &self.store.url {
            let url = url.expose();
            if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return fail("store.url must start with sqlite:, postgres:// or postgresql://".into());
            }
        }
        Ok(())
    }

    /// The store URL: the configured one, or an SQLite file in `data_dir`.
    pub fn store_url(&self) -> String {
        match &self.store.url {
            Some(url) => url.expose().clone(),
            None => format!("sqlite://{}", self.data_dir.join("switchboard.db").display()),
        }
    }

    pub fn topics(&self) -> Topics {
        Topics::new(self.bus.topic_prefix.clone())
    }

    /// Where attachments are kept on the local file system: the configured
    /// directory, or `attachments` in `data_dir`.
    pub fn attachments_dir(&self) -> PathBuf {
        self.attachments.dir.clone().unwrap_or_else(|| self.data_dir.join("attachments"))
    }

    /// The knowledge-base index directory: the configured one, or
    /// `kb-index` in `data_dir`.
    pub fn kb_index_dir(&self) -> PathBuf {
        self.kb.index_dir.clone().unwrap_or_else(|| self.data_dir.join("kb-index"))
    }

    /// The consumer group of the `stage` stage (`triage`, `kb`, …), shared by
    /// every process running it.
    pub fn group(&self, stage: &str) -> String {
        format!("{}switchboard-{stage}", self.bus.topic_prefix)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TriageConfig {
    /// A model file to use for categories instead of the active model in the
    /// store (or, when the store has none, the model shipped with Switchboard).
    pub category_model: Option<PathBuf>,
    /// The same for urgency.
    pub urgency_model: Option<PathBuf>,
    /// How often the stage checks the store for a newly activated model or a
    /// changed urgency policy.
    pub reload_interval_ms: u64,
}

impl Default for TriageConfig {
    fn default() -> Self {
        Self { category_model: None, urgency_model: None, reload_interval_ms: 5_000 }
    }
}

impl TriageConfig {
    pub fn reload_interval(&self) -> Duration {
        Duration::from_millis(self.reload_interval_ms)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KbConfig {
    /// The index directory. Unset: `kb-index` in `data_dir`. Each process
    /// that holds an index needs a directory of its own.
    pub index_dir: Option<PathBuf>,
    /// Suggestions attached to each ticket.
    pub suggestions: usize,
    /// Names this process's copy of the index: it follows `kb.changes` in a
    /// consumer group of its own, `switchboard-kb-sync-<instance>`. Unset:
    /// the host name. Keep it stable across restarts.
    pub instance: Option<String>,
}

impl Default for KbConfig {
    fn default() -> Self {
        Self { index_dir: None, suggestions: 5, instance: None }
    }
}

/// The router: how deliveries to team servers are attempted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouterConfig {
    /// Attempts at one server before the ticket falls back to the next.
    pub delivery_attempts: u32,
    /// The first retry's delay; each later one doubles it (with jitter),
    /// up to `retry_max_ms`. A server's `Retry-After` is honoured when later.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// How long one delivery request may take.
    pub request_timeout_ms: u64,
    /// Failed deliveries in a row that open a server's circuit: it gets no
    /// new tickets for `circuit_open_ms`.
    pub circuit_failures: u32,
    pub circuit_open_ms: u64,
    /// How long the active ruleset and the teams are cached: a change by API
    /// reaches the router within this, without a restart.
    pub refresh_ms: u64,
    /// Deliveries attempted at once by one process.
    pub concurrency: usize,
}

/// Webhooks: the retry schedule and the limits of one attempt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifierConfig {
    /// When each attempt of a message is made, counted from the failure
    /// before it (the first from when the message was stored), each
    /// jittered by up to a tenth: after the last, the message is kept as
    /// failed (replayable).
    pub schedule_ms: Vec<u64>,
    pub connect_timeout_ms: u64,
    /// One attempt, from connecting to the last byte read.
    pub request_timeout_ms: u64,
    /// The most of an answer read and kept in the log.
    pub max_response_bytes: usize,
    /// An endpoint whose every attempt failed for this long is disabled.
    pub disable_after_failing_ms: u64,
    /// How long the old secret keeps signing after a rotation.
    pub rotation_overlap_ms: u64,
    /// How long each company's endpoints are cached by the notifier stage.
    pub refresh_ms: u64,
    /// Messages attempted at once by one process.
    pub concurrency: usize,
}

impl Default for NotifierConfig {
    fn default() -> Self {
        const SECOND: u64 = 1_000;
        const MINUTE: u64 = 60 * SECOND;
        const HOUR: u64 = 60 * MINUTE;
        Self {
            // Immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
            schedule_ms: vec![0, 5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR],
            connect_timeout_ms: 5 * SECOND,
            request_timeout_ms: 15 * SECOND,
            max_response_bytes: 64 * 1024,
            disable_after_failing_ms: 5 * 24 * HOUR,
            rotation_overlap_ms: 24 * HOUR,
            refresh_ms: 2 * SECOND,
            concurrency: 32,
        }
    }
}

impl NotifierConfig {
    fn validate(&self) -> Result<()> {
        if self.schedule_ms.is_empty() || self.schedule_ms.len() > 100 {
            return Err(Error::Config("notifier.schedule_ms must list 1 to 100 attempts".into()));
        }
        let positive = [
            ("connect_timeout_ms", self.connect_timeout_ms),
            ("request_timeout_ms", self.request_timeout_ms),
            ("max_response_bytes", self.max_response_bytes as u64),
            ("concurrency", self.concurrency as u64),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(Error::Config(format!("notifier.{name} must be at least 1")));
        }
        // Times far enough out to overflow a date are mistakes.
        const YEAR_MS: u64 = 366 * 24 * 60 * 60 * 1_000;
        let bounded = [
            ("schedule_ms", self.schedule_ms.iter().copied().max().unwrap_or(0)),
            ("disable_after_failing_ms", self.disable_after_failing_ms),
            ("rotation_overlap_ms", self.rotation_overlap_ms),
            ("connect_timeout_ms", self.connect_timeout_ms),
            ("request_timeout_ms", self.request_timeout_ms),
        ];
        if let Some((name, _)) = bounded.iter().find(|(_, value)| *value > YEAR_MS) {
            return Err(Error::Config(format!("notifier.{name} must be at most a year")));
        }
        Ok(())
    }
}

/// Live updates (`GET /v1/live`, `GET /v1/live/ws`): how each API process
/// follows the feed the notifier records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LiveConfig {
    /// How often the API looks for new feed entries while a stream is open.
    /// Entries the notifier records in the same process (`switchboard up`)
    /// are seen at once; this bounds the delay when it runs elsewhere.
    pub poll_ms: u64,
    /// How often an idle stream gets a keep-alive (an SSE comment, a
    /// WebSocket ping), and its credential is checked again: a stream
    /// whose session was revoked ends.
    pub keep_alive_seconds: u64,
    /// Streams one account or API key may have open at once (per API
    /// process); one more is 429.
    pub max_streams_per_caller: usize,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self { poll_ms: 50, keep_alive_seconds: 15, max_streams_per_caller: 16 }
    }
}

impl LiveConfig {
    fn validate(&self) -> Result<()> {
        if !(1..=60_000).contains(&self.poll_ms) {
            return Err(Error::Config("live.poll_ms must be 1 to 60000".into()));
        }
        if !(1..=3_600).contains(&self.keep_alive_seconds) {
            return Err(Error::Config("live.keep_alive_seconds must be 1 to 3600".into()));
        }
        if !(1..=10_000).contains(&self.max_streams_per_caller) {
            return Err(Error::Config("live.max_streams_per_caller must be 1 to 10000".into()));
        }
        Ok(())
    }

    pub fn poll(&self) -> Duration {
        Duration::from_millis(self.poll_ms)
    }

    pub fn keep_alive(&self) -> Duration {
        Duration::from_secs(self.keep_alive_seconds)
    }
}

/// E-mail to people: where it goes out (SMTP), what it says it is from, and
/// its retry schedule. Without `smtp_url` no mail is queued at all.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    /// The SMTP server, as lettre reads it: `smtp://host:port` (plain, or
    /// STARTTLS when the server offers it), `smtp://host?tls=required`
    /// (STARTTLS or fail), `smtps://user:password@host` (TLS from the
    /// start; credentials in the URL). `None`: mail is off.
    pub smtp_url: Option<Secret<String>>,
    /// The `From:` of every mail, `Name <address>` or a bare address.
    pub from: String,
    /// The base of the links in mails (the console people open).
    pub public_url: String,
    /// The right-hand side of `Message-ID`s; by default the domain of
    /// `from`.
    pub message_id_domain: Option<String>,
    /// One SMTP command (connecting included).
    pub command_timeout_ms: u64,
    /// One whole attempt, from connecting to the server's answer.
    pub send_timeout_ms: u64,
    /// When each attempt of a mail is made, counted from the failure before
    /// it (the first from when the mail was queued), each jittered by up to
    /// a tenth; after the last, the mail is kept as failed.
    pub schedule_ms: Vec<u64>,
    /// Mails sent at once by one process.
    pub concurrency: usize,
    /// How long each company's templates are cached by the notifier stage.
    pub refresh_ms: u64,
}

impl Default for MailConfig {
    fn default() -> Self {
        const SECOND: u64 = 1_000;
        const MINUTE: u64 = 60 * SECOND;
        const HOUR: u64 = 60 * MINUTE;
        Self {
            smtp_url: None,
            from: "Switchboard <no-reply@localhost>".into(),
            public_url: "http://127.0.0.1:8080".into(),
            message_id_domain: None,
            command_timeout_ms: 30 * SECOND,
            send_timeout_ms: 2 * MINUTE,
            // Immediately, 30 s, 2 min, 10 min, 30 min, 2 h, 6 h.
            schedule_ms: vec![0, 30 * SECOND, 2 * MINUTE, 10 * MINUTE, 30 * MINUTE, 2 * HOUR, 6 * HOUR],
            concurrency: 4,
            refresh_ms: 2 * SECOND,
        }
    }
}

impl MailConfig {
    /// The domain of `Message-ID`s: `message_id_domain`, else the domain of
    /// `from`.
    pub fn message_id_domain(&self) -> &str {
        match &self.message_id_domain {
            Some(domain) => domain,
            None => crate::mail::address_domain(&self.from).unwrap_or("localhost"),
        }
    }

    fn validate(&self) -> Result<()> {
        let fail = |message: String| Err(Error::Config(message));
        if let Some(url) = &self.smtp_url {
            let url = url.expose();
            if !(url.starts_with("smtp://") || url.starts_with("smtps://")) || url.contains(char::is_whitespace) {
                return fail("mail.smtp_url must be smtp://host[:port] or smtps://[user:password@]host[:port]".into());
            }
        }
        if crate::mail::address_domain(&self.from).is_none() {
            return fail(format!(
                "mail.from must be an address, `Name <no-reply@example.com>` or `no-reply@example.com`, got `{}`",
                self.from
            ));
        }
        let public = self.public_url.trim_end_matches('/');
        if !(public.starts_with("http://") || public.starts_with("https://")) || public.contains(char::is_whitespace) {
            return fail(format!("mail.public_url must be an http(s) URL, got `{}`", self.public_url));
        }
        if let Some(domain) = &self.message_id_domain
            && (domain.is_empty() || !domain.chars().all(|c| c.is_ascii_alphanumeric() || ".-".contains(c)))
        {
            return fail(format!("mail.message_id_domain must be a domain name, got `{domain}`"));
        }
        if self.schedule_ms.is_empty() || self.schedule_ms.len() > 100 {
            return fail("mail.schedule_ms must list 1 to 100 attempts".into());
        }
        let positive = [
            ("command_timeout_ms", self.command_timeout_ms),
            ("send_timeout_ms", self.send_timeout_ms),
            ("concurrency", self.concurrency as u64),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return fail(format!("mail.{name} must be at least 1"));
        }
        const YEAR_MS: u64 = 366 * 24 * 60 * 60 * 1_000;
        let bounded = [
            ("schedule_ms", self.schedule_ms.iter().copied().max().unwrap_or(0)),
            ("command_timeout_ms", self.command_timeout_ms),
            ("send_timeout_ms", self.send_timeout_ms),
        ];
        if let Some((name, _)) = bounded.iter().find(|(_, value)| *value > YEAR_MS) {
            return fail(format!("mail.{name} must be at most a year"));
        }
        Ok(())
    }
}

/// Where Switchboard's own requests may go (deliveries to team servers,
/// webhooks), and whom they trust.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboundConfig {
    /// Destinations at loopback, private, link-local and other non-public
    /// addresses. Off in production (a URL an admin sets must not reach
    /// into the network Switchboard runs in); on for a single machine and
    /// tests.
    pub allow_private_destinations: bool,
    /// A PEM file of certificate authorities trusted for `https`
    /// destinations besides the system's (an internal CA, a test's own).
    pub ca_file: Option<PathBuf>,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            delivery_attempts: 5,
            retry_base_ms: 1_000,
            retry_max_ms: 60_000,
            request_timeout_ms: 10_000,
            circuit_failures: 5,
            circuit_open_ms: 30_000,
            refresh_ms: 2_000,
            concurrency: 16,
        }
    }
}

impl RouterConfig {
    fn validate(&self) -> Result<()> {
        let positive = [
            ("delivery_attempts", u64::from(self.delivery_attempts)),
            ("retry_base_ms", self.retry_base_ms),
            ("request_timeout_ms", self.request_timeout_ms),
            ("circuit_failures", u64::from(self.circuit_failures)),
            ("concurrency", self.concurrency as u64),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(Error::Config(format!("router.{name} must be at least 1")));
        }
        if self.retry_max_ms < self.retry_base_ms {
            return Err(Error::Config("router.retry_max_ms must be at least router.retry_base_ms".into()));
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://path` or `postgres://…`. Unset: `sqlite://<data_dir>/switchboard.db`.
    pub url: Option<Secret<String>>,
    /// Connections for reads (per process).
    pub max_connections: u32,
    /// PostgreSQL: connections for writes, the bus log's appends among
    /// them; a pool of their own, so reads cannot starve ingest.
    pub write_connections: u32,
    /// PostgreSQL: the longest a read may run (`statement_timeout`) before
    /// it is cancelled and answered 503.
    pub read_statement_timeout_ms: u64,
    /// Apply pending migrations at start-up.
    pub migrate: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self { url: None, max_connections: 8, write_connections: 4, read_statement_timeout_ms: 10_000, migrate: true }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BusBackend {
    /// The durable log inside the store: one machine, no broker.
    Embedded,
    /// Apache Kafka or any Kafka-protocol broker.
    Kafka,
}

/// The default `bus.max_message_bytes`: librdkafka's default producer limit.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1_000_000;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusConfig {
    pub backend: BusBackend,
    /// Partitions of each topic created at start-up.
    pub partitions: u32,
    /// Prepended to every topic name.
    pub topic_prefix: String,
    /// The largest message (payload, key and headers) the bus takes. Ingest
    /// accepts a ticket only when its message leaves room for what the
    /// stages add (`envelope::STAGE_HEADROOM_BYTES`), so every stage's
    /// output fits. On Kafka, topics are created with a matching
    /// `max.message.bytes`, and the producer's `message.max.bytes` follows.
    pub max_message_bytes: usize,
    pub kafka: KafkaConfig,
    pub embedded: EmbeddedBusConfig,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            backend: BusBackend::Embedded,
            partitions: 4,
            topic_prefix: String::new(),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            kafka: KafkaConfig::default(),
            embedded: EmbeddedBusConfig::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// Comma-separated `host:port` list. Use IPv4 addresses.
    pub brokers: String,
    pub replication_factor: i32,
    /// Replicas that must have a write before it is acknowledged (topics are
    /// created with it as `min.insync.replicas`). Unset: one less than the
    /// replication factor, at least 1 (2 of 3).
    pub min_insync_replicas: Option<i32>,
    pub client_id: String,
    /// How long a produce may take before ingest answers 503.
    pub message_timeout_ms: u64,
    /// Extra librdkafka properties, applied last (for TLS, SASL, tuning).
    pub properties: std::collections::BTreeMap<String, Secret<String>>,
}

impl KafkaConfig {
    /// `min_insync_replicas`, or its default for the replication factor.
    pub fn min_insync_replicas(&self) -> i32 {
        self.min_insync_replicas.unwrap_or((self.replication_factor - 1).max(1))
    }
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            replication_factor: 1,
            min_insync_replicas: None,
            client_id: "switchboard".into(),
            message_timeout_ms: 5_000,
            properties: Default::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddedBusConfig {
    /// Most messages written in one transaction (group commit).
    pub max_batch: usize,
    /// Most messages handed to a consumer per read.
    pub fetch_max: usize,
    /// Safety-net re-read interval when no wake-up arrives (another process
    /// wrote to a shared PostgreSQL log without notifying, say).
    pub idle_poll_ms: u64,
}

impl Default for EmbeddedBusConfig {
    fn default() -> Self {
        Self { max_batch: 1024, fetch_max: 256, idle_poll_ms: 1_000 }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunnerConfig {
    /// Messages being handled at once by one stage.
    pub max_in_flight: usize,
    /// Attempts of a transient failure before the message is dead-lettered.
    pub max_attempts: u32,
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
    /// After a stop signal, how long in-flight work may take to finish.
    pub shutdown_grace_ms: u64,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            max_in_flight: 64,
            max_attempts: 5,
            backoff_initial_ms: 100,
            backoff_max_ms: 30_000,
            shutdown_grace_ms: 10_000,
        }
    }
}

impl RunnerConfig {
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Largest request body accepted (413 beyond).
    pub max_body_bytes: usize,
    /// Seconds a client is told to wait (`Retry-After`) when the bus cannot
    /// take a ticket.
    pub retry_after_seconds: u32,
    /// How long an `Idempotency-Key` is remembered.
    pub idempotency_ttl_hours: u32,
    /// How long ingest waits for the bus to make a ticket durable before it
    /// answers 503.
    pub produce_timeout_ms: u64,
    /// The public form of each company that switched it on.
    pub web_form: WebFormConfig,
    /// Support mail in (`POST /v1/inbound/email`, `switchboard mailgate`).
    pub email: EmailInConfig,
    /// Support mailboxes read over IMAP (the `imap` stage).
    pub imap: ImapConfig,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            retry_after_seconds: 5,
            idempotency_ttl_hours: 24,
            produce_timeout_ms: 10_000,
            web_form: WebFormConfig::default(),
            email: EmailInConfig::default(),
            imap: ImapConfig::default(),
        }
    }
}

/// Support mail in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailInConfig {
    /// The largest raw message (413 beyond). Attachments travel in base64,
    /// a third larger than the files: the default leaves room for
    /// `attachments.max_ticket_bytes` of them.
    pub max_message_bytes: usize,
    /// Mails one sender may send one company per hour (429 beyond, which a
    /// mail gate turns into "try again later").
    pub per_sender_per_hour: u32,
}

impl Default for EmailInConfig {
    fn default() -> Self {
        Self { max_message_bytes: 40 * 1024 * 1024, per_sender_per_hour: 60 }
    }
}

/// Support mailboxes the `imap` stage reads: each mail in one becomes a
/// ticket of the mailbox's company (or a reply on the ticket it answers),
/// exactly as `POST /v1/inbound/email` would take it.
///
/// ```toml
/// [[ingest.imap.mailboxes]]
/// company = "acme"
/// host = "imap.example.com"
/// username = "support@acme.example"
/// password = "…"
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImapConfig {
    /// The mailboxes polled, each by its own task; none by default.
    pub mailboxes: Vec<ImapMailboxConfig>,
}

/// The longest IDLE before the poller re-checks: RFC 2177 asks clients to
/// re-issue IDLE at least every 29 minutes, as servers may log out an idle
/// client after 30.
pub const IMAP_IDLE_MAX: Duration = Duration::from_secs(29 * 60);

/// One mailbox on an IMAP server and the company its mail belongs to.
/// Mail is read by UID, not by `\Seen`: on first contact every message of
/// the folder is taken, read or not, so point it at a folder that holds
/// only mail to file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImapMailboxConfig {
    /// The company every mail of this mailbox is filed for, whatever its
    /// recipients say (a company id, e.g. `acme`).
    pub company: String,
    /// The IMAP server's host name or address.
    pub host: String,
    /// 993 by default (IMAP over TLS); 143 is usual for `starttls`.
    pub port: u16,
    /// `tls` (TLS from the first byte, the default), `starttls` (plain,
    /// then STARTTLS before logging in) or `none` (no encryption: only for
    /// a server on 127.0.0.1 or localhost).
    pub tls: ImapTls,
    pub username: String,
    pub password: Secret<String>,
    /// The folder read; `INBOX` by default.
    pub mailbox: String,
    /// What happens to a mail once its ticket is durable (or once it was
    /// refused for good): `seen` (the default) sets `\Seen` and leaves it
    /// there; `move:<Folder>` also moves it to that folder (created if
    /// missing; MOVE where the server has it, else COPY and EXPUNGE).
    pub after: ImapAfter,
    /// How often the mailbox is checked when the server lacks IDLE; with
    /// IDLE, how long one IDLE lasts before a re-check (at most 29 minutes,
    /// whatever this says).
    pub poll_seconds: u64,
    /// Messages fetched in one `UID FETCH`.
    pub batch: u32,
}

impl Default for ImapMailboxConfig {
    fn default() -> Self {
        Self {
            company: String::new(),
            host: String::new(),
            port: 993,
            tls: ImapTls::Tls,
            username: String::new(),
            password: Secret::default(),
            mailbox: "INBOX".into(),
            after: ImapAfter::Seen,
            poll_seconds: 60,
            batch: 50,
        }
    }
}

impl ImapMailboxConfig {
    /// The name the mailbox goes by in the store, logs and metrics:
    /// `company/host/username/mailbox` (never the password).
    pub fn key(&self) -> String {
        format!("{}/{}/{}/{}", self.company, self.host, self.username, self.mailbox)
    }

    /// The pause between checks without IDLE.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_secs(self.poll_seconds)
    }

    /// How long one IDLE lasts before the mailbox is checked anyway.
    pub fn idle_timeout(&self) -> Duration {
        self.poll_interval().min(IMAP_IDLE_MAX)
    }

    fn validate(&self, index: usize) -> Result<()> {
        let name = format!("ingest.imap.mailboxes[{index}]");
        let fail = |message: String| Err(Error::Config(format!("{name}.{message}")));
        if !crate::CompanyId::parse(&self.company).is_ok_and(|company| company.as_str() == self.company) {
            return fail(format!("company must be a company id (e.g. `acme`), got `{}`", self.company));
        }
        let host = self.host.trim();
        if host.is_empty() || host != self.host || self.host.contains(['/', '@']) {
            return fail(format!("host must be a host name or address, got `{}`", self.host));
        }
        if self.port == 0 {
            return fail("port must be 1 to 65535".into());
        }
        if self.tls == ImapTls::None && !is_loopback_host(&self.host) {
            return fail(format!(
                "tls = \"none\" sends the password in the clear, so it is only allowed for a server on 127.0.0.1 or \
                 localhost (the host is `{}`); use \"tls\" or \"starttls\"",
                self.host
            ));
        }
        if self.username.is_empty() || self.password.expose().is_empty() {
            return fail("username and password must be set".into());
        }
        let printable = |text: &str| !text.is_empty() && !text.chars().any(char::is_control);
        if !printable(&self.username) || !printable(&self.mailbox) {
            return fail("username and mailbox must be non-empty and without control characters".into());
        }
        if !(1..=24 * 60 * 60).contains(&self.poll_seconds) {
            return fail(format!("poll_seconds must be 1 to 86400, got {}", self.poll_seconds));
        }
        if !(1..=1000).contains(&self.batch) {
            return fail(format!("batch must be 1 to 1000, got {}", self.batch));
        }
        if let ImapAfter::Move(folder) = &self.after
            && folder == &self.mailbox
        {
            return fail(format!("after moves mail to `{folder}`, the mailbox it is read from"));
        }
        Ok(())
    }
}

impl ImapConfig {
    fn validate(&self) -> Result<()> {
        let mut keys = std::collections::HashSet::new();
        for (index, mailbox) in self.mailboxes.iter().enumerate() {
            mailbox.validate(index)?;
            if !keys.insert(mailbox.key()) {
                return Err(Error::Config(format!(
                    "ingest.imap.mailboxes[{index}] is listed twice (company, host, username and mailbox `{}`)",
                    mailbox.key()
                )));
            }
        }
        Ok(())
    }
}

/// Whether `host` is this machine: a plain-text connection to it never
/// crosses a network.
fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|address| address.is_loopback())
}

/// How the connection to an IMAP server is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImapTls {
    /// TLS from the first byte (IMAPS, port 993).
    Tls,
    /// Plain, upgraded with STARTTLS before anything else is said.
    Starttls,
    /// No encryption: only for a server on this machine.
    None,
}

/// What is done to a mail on the server once it was taken.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ImapAfter {
    /// `seen`: set `\Seen`.
    Seen,
    /// `move:<Folder>`: set `\Seen` and move it to the folder.
    Move(String),
}

impl TryFrom<String> for ImapAfter {
    type Error = String;

    fn try_from(text: String) -> std::result::Result<Self, String> {
        if text == "seen" {
            return Ok(ImapAfter::Seen);
        }
        match text.strip_prefix("move:") {
            Some(folder) if !folder.is_empty() && !folder.chars().any(char::is_control) => {
                Ok(ImapAfter::Move(folder.to_owned()))
            }
            _ => Err(format!("`{text}` is neither `seen` nor `move:<Folder>`")),
        }
    }
}

impl From<ImapAfter> for String {
    fn from(after: ImapAfter) -> String {
        match after {
            ImapAfter::Seen => "seen".into(),
            ImapAfter::Move(folder) => format!("move:{folder}"),
        }
    }
}

/// The public support form, `/support/{company}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebFormConfig {
    /// Photos one submission may carry.
    pub max_photos: usize,
    /// Submissions one client address may make per hour (429 beyond).
    pub submissions_per_address_per_hour: u32,
    /// How long a form page may be submitted after it was served (its
    /// anti-forgery token expires then; the page says to reload).
    pub form_token_hours: u32,
    /// How long the private status link on the confirmation page works.
    pub status_link_days: u32,
}

impl Default for WebFormConfig {
    fn default() -> Self {
        Self { max_photos: 5, submissions_per_address_per_hour: 20, form_token_hours: 12, status_link_days: 90 }
    }
}

impl WebFormConfig {
    fn validate(&self) -> Result<()> {
        let positive = [
            ("max_photos", self.max_photos as u64),
            ("submissions_per_address_per_hour", u64::from(self.submissions_per_address_per_hour)),
            ("form_token_hours", u64::from(self.form_token_hours)),
            ("status_link_days", u64::from(self.status_link_days)),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(Error::Config(format!("ingest.web_form.{name} must be at least 1")));
        }
        if self.max_photos > 50 {
            return Err(Error::Config("ingest.web_form.max_photos must be at most 50".into()));
        }
        Ok(())
    }
}

/// Where files that come with tickets are kept, and how big they may be.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttachmentsConfig {
    /// `file` (the default: a directory on this machine, `dir`) or `s3`
    /// (any S3-compatible store, `s3`). Every process that takes or serves
    /// tickets must see the same store.
    pub backend: AttachmentBackend,
    /// The directory of the `file` backend; by default `attachments` in
    /// `data_dir`.
    pub dir: Option<PathBuf>,
    pub s3: S3Config,
    /// The largest file (413 beyond).
    pub max_file_bytes: u64,
    /// The most all files of one ticket (or one e-mail) may add up to (413
    /// beyond).
    pub max_ticket_bytes: u64,
    /// The most files one ticket (or one e-mail) may bring.
    pub max_files: usize,
    /// Files whose ticket never arrived (a submission that failed after
    /// they were stored, or a crash in between) are deleted once they are
    /// this old and no ticket names them. Keep it longer than the bus may
    /// lag behind.
    pub orphan_grace_hours: u32,
}

impl Default for AttachmentsConfig {
    fn default() -> Self {
        Self {
            backend: AttachmentBackend::File,
            dir: None,
            s3: S3Config::default(),
            max_file_bytes: 10 * 1024 * 1024,
            max_ticket_bytes: 25 * 1024 * 1024,
            max_files: 20,
            orphan_grace_hours: 24,
        }
    }
}

impl AttachmentsConfig {
    fn validate(&self) -> Result<()> {
        let fail = |message: String| Err(Error::Config(message));
        if self.max_file_bytes == 0 || self.max_file_bytes > self.max_ticket_bytes {
            return fail("attachments.max_file_bytes must be 1 to attachments.max_ticket_bytes".into());
        }
        if self.max_ticket_bytes > 1024 * 1024 * 1024 {
            return fail("attachments.max_ticket_bytes must be at most 1 GiB".into());
        }
        if self.max_files == 0 || self.max_files > 1000 {
            return fail("attachments.max_files must be 1 to 1000".into());
        }
        if self.orphan_grace_hours == 0 {
            return fail("attachments.orphan_grace_hours must be at least 1".into());
        }
        if self.backend == AttachmentBackend::S3 && self.s3.bucket.trim().is_empty() {
            return fail("attachments.s3.bucket must be set when attachments.backend is s3".into());
        }
        if let Some(endpoint) = &self.s3.endpoint
            && !(endpoint.starts_with("https://") || endpoint.starts_with("http://"))
        {
            return fail(format!("attachments.s3.endpoint must be an http(s) URL, got `{endpoint}`"));
        }
        Ok(())
    }

    pub fn orphan_grace(&self) -> Duration {
        Duration::from_secs(u64::from(self.orphan_grace_hours) * 3600)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentBackend {
    File,
    S3,
}

/// An S3-compatible bucket. Credentials left out come from the usual AWS
/// environment variables.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    pub bucket: String,
    /// e.g. `us-east-1` (the default when empty).
    pub region: String,
    /// Another S3-compatible service (MinIO, Ceph, Garage, …), e.g.
    /// `http://127.0.0.1:9000`; path-style requests are used then.
    pub endpoint: Option<String>,
    pub access_key_id: Option<Secret<String>>,
    pub secret_access_key: Option<Secret<String>>,
    /// Whether an `http://` endpoint is allowed (only for a store on the
    /// same trusted network).
    pub allow_http: bool,
}

impl IngestConfig {
    pub fn produce_timeout(&self) -> Duration {
        Duration::from_millis(self.produce_timeout_ms)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// The longest one request may take before it is answered 503 `timeout`.
    pub request_timeout_ms: u64,
    /// The same for requests that upload files (the support form's POST,
    /// `POST /v1/inbound/email`): 25 MB takes minutes on a slow line.
    pub upload_timeout_ms: u64,
    /// How long a client may take to send a request's headers, and how long
    /// an idle keep-alive connection stays open; then it is closed.
    pub header_read_timeout_ms: u64,
    /// Connections served at once per listener; further ones wait in the
    /// listen backlog until one closes.
    pub max_connections: usize,
    /// Requests handled at once (the ops routes aside); beyond that the
    /// answer is 503 `overloaded` with `Retry-After: 1`.
    pub max_in_flight: usize,
    /// After a stop signal, how long open connections may take to finish
    /// before they are dropped.
    pub drain_timeout_ms: u64,
    /// Browser origins allowed to call the API cross-origin (CORS), e.g.
    /// `https://console.example.com`. Empty (the default): CORS is off and
    /// browsers refuse cross-origin calls.
    pub cors_origins: Vec<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            request_timeout_ms: 30_000,
            upload_timeout_ms: 300_000,
            header_read_timeout_ms: 10_000,
            max_connections: 4096,
            max_in_flight: 1024,
            drain_timeout_ms: 10_000,
            cors_origins: Vec::new(),
        }
    }
}

impl HttpConfig {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    pub fn upload_timeout(&self) -> Duration {
        Duration::from_millis(self.upload_timeout_ms)
    }

    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms)
    }

    pub fn drain_timeout(&self) -> Duration {
        Duration::from_millis(self.drain_timeout_ms)
    }
}

/// Sessions, one-time tokens and sign-in limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// How long a session lasts after sign-in.
    pub session_ttl_hours: u32,
    /// How long a password-reset token stays valid.
    pub reset_token_minutes: u32,
    /// How long the set-password token of an account an admin created (or
    /// of a company's first admin) stays valid.
    pub set_password_token_hours: u32,
    /// The window the sign-in limits count in.
    pub sign_in_window_seconds: u32,
    /// Failed sign-ins per account (username or e-mail) in the window;
    /// beyond it, 429 until the window ends.
    pub sign_in_failures_per_account: u32,
    /// Sign-in attempts per client address in the window.
    pub sign_in_attempts_per_address: u32,
    /// Password hashes computed at once (each takes 19 MiB and tens of
    /// milliseconds of one core); further sign-ins wait their turn.
    pub hash_concurrency: usize,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            session_ttl_hours: 24,
            reset_token_minutes: 30,
            set_password_token_hours: 72,
            sign_in_window_seconds: 300,
            sign_in_failures_per_account: 5,
            sign_in_attempts_per_address: 30,
            hash_concurrency: 4,
        }
    }
}

impl AuthConfig {
    fn validate(&self) -> Result<()> {
        let positive = [
            ("session_ttl_hours", self.session_ttl_hours),
            ("reset_token_minutes", self.reset_token_minutes),
            ("set_password_token_hours", self.set_password_token_hours),
            ("sign_in_window_seconds", self.sign_in_window_seconds),
            ("sign_in_failures_per_account", self.sign_in_failures_per_account),
            ("sign_in_attempts_per_address", self.sign_in_attempts_per_address),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(Error::Config(format!("auth.{name} must be at least 1")));
        }
        if self.hash_concurrency == 0 {
            return Err(Error::Config("auth.hash_concurrency must be at least 1".into()));
        }
        Ok(())
    }

    pub fn session_ttl(&self) -> Duration {
        Duration::from_secs(u64::from(self.session_ttl_hours) * 3600)
    }

    pub fn reset_token_ttl(&self) -> Duration {
        Duration::from_secs(u64::from(self.reset_token_minutes) * 60)
    }

    pub fn set_password_token_ttl(&self) -> Duration {
        Duration::from_secs(u64::from(self.set_password_token_hours) * 3600)
    }

    pub fn sign_in_window(&self) -> Duration {
        Duration::from_secs(u64::from(self.sign_in_window_seconds))
    }
}

/// What is deleted, and how often: expired `Idempotency-Key`s (after
/// `ingest.idempotency_ttl_hours`) and, on the embedded bus, log messages
/// that every consumer group of their topic has passed and that are older
/// than `bus_log_hours`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    pub interval_seconds: u64,
    pub bus_log_hours: u32,
    /// How long live-update events are kept: a stream can resume (SSE's
    /// `Last-Event-ID`) from at most this far back.
    pub live_events_hours: u32,
    /// How long the notification log is kept: webhook attempts, and webhook
    /// messages and mails once delivered or failed (a failed message can
    /// be replayed until then).
    pub notification_log_days: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self { interval_seconds: 3_600, bus_log_hours: 7 * 24, live_events_hours: 24, notification_log_days: 30 }
    }
}

impl RetentionConfig {
    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.interval_seconds)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter, e.g. `info,switchboard_bus=debug`. `RUST_LOG` wins.
    pub filter: String,
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { filter: "info".into(), format: LogFormat::Text }
    }
}

// ---- dispatch ----------------------------------------------------------

/// `[dispatch]`: the dispatch assistant's travel estimates (see
/// `dispatch/README.md`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DispatchConfig {
    pub travel: TravelConfig,
}

impl DispatchConfig {
    pub fn validate(&self) -> Result<()> {
        self.travel.validate()
    }
}

/// Which service estimates travel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// Great-circle distance × `road_factor` ÷ `average_speed_kmh`: needs nothing.
    #[default]
    Offline,
    Osrm,
    Google,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TravelConfig {
    pub provider: ProviderKind,
    /// Road distance ÷ great-circle distance, for offline estimates (and so
    /// for every fallback).
    pub road_factor: f64,
    /// Average driving speed for offline estimates, km/h.
    pub average_speed_kmh: f64,
    /// The longest the configured provider may take for one ticket's
    /// options before its answer is replaced by offline estimates.
    pub timeout_ms: u64,
    pub osrm: OsrmConfig,
    pub google: GoogleConfig,
}

impl Default for TravelConfig {
    fn default() -> Self {
        Self {
            provider: ProviderKind::Offline,
            road_factor: 1.3,
            average_speed_kmh: 50.0,
            timeout_ms: 2_000,
            osrm: OsrmConfig::default(),
            google: GoogleConfig::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OsrmConfig {
    /// The server's root, e.g. `http://osrm:5000`. Required for `provider = "osrm"`.
    pub url: Option<String>,
    /// The profile path segment (`driving`); `osrm-routed` serves whichever
    /// profile its data was extracted with under any name.
    pub profile: String,
}

impl Default for OsrmConfig {
    fn default() -> Self {
        Self { url: None, profile: "driving".into() }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GoogleConfig {
    /// A Distance Matrix API key. Required for `provider = "google"`.
    pub api_key: Option<Secret<String>>,
    /// The API's origin; tests point it at a local server.
    pub base_url: String,
}

impl Default for GoogleConfig {
    fn default() -> Self {
        Self { api_key: None, base_url: "https://maps.googleapis.com".into() }
    }
}

impl TravelConfig {
    /// Checks what serde cannot: ranges, and that the chosen provider has
    /// what it needs.
    pub fn validate(&self) -> Result<()> {
        let fail = |message: String| Err(Error::Config(message));
        // Past 10 the "road" is a detour of a different order; past 300 km/h
        // no service vehicle drives.
        if !(self.road_factor.is_finite() && self.road_factor > 0.0 && self.road_factor <= 10.0) {
            return fail(format!(
                "dispatch.travel.road_factor must be above 0 and at most 10, got {}",
                self.road_factor
            ));
        }
        if !(self.average_speed_kmh.is_finite() && self.average_speed_kmh > 0.0 && self.average_speed_kmh <= 300.0) {
            return fail(format!(
                "dispatch.travel.average_speed_kmh must be above 0 and at most 300, got {}",
                self.average_speed_kmh
            ));
        }
        if !(1..=60_000).contains(&self.timeout_ms) {
            return fail(format!("dispatch.travel.timeout_ms must be 1 to 60000, got {}", self.timeout_ms));
        }
        match self.provider {
            ProviderKind::Offline => {}
            ProviderKind::Osrm => {
                let Some(url) = self.osrm.url.as_deref() else {
                    return fail(
                        "dispatch.travel.osrm.url must be set when dispatch.travel.provider is \"osrm\"".into(),
                    );
                };
                http_url("dispatch.travel.osrm.url", url)?;
                let profile = &self.osrm.profile;
                if profile.is_empty() || !profile.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                    return fail(format!(
                        "dispatch.travel.osrm.profile must be letters, digits, '-' or '_', got {profile:?}"
                    ));
                }
            }
            ProviderKind::Google => {
                let has_key = self.google.api_key.as_ref().is_some_and(|key| !key.expose().trim().is_empty());
                if !has_key {
                    return fail(
                        "dispatch.travel.google.api_key must be set when dispatch.travel.provider is \"google\"".into(),
                    );
                }
                http_url("dispatch.travel.google.base_url", &self.google.base_url)?;
            }
        }
        Ok(())
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// Parses an `http`/`https` URL; the message names the key (never a query
/// string, which could hold a credential).
pub fn http_url(key: &str, value: &str) -> Result<url::Url> {
    let url = url::Url::parse(value).map_err(|error| Error::Config(format!("{key} is not a URL: {error}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Error::Config(format!("{key} must be an http or https URL with a host")));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_embedded() {
        let config = Config::default();
        assert!(config.validate().is_ok());
        assert_eq!(config.bus.backend, BusBackend::Embedded);
        assert!(config.store_url().starts_with("sqlite://"));
    }

    #[test]
    fn cors_origins_and_auth_limits_are_checked() {
        let with_origin = |origin: &str| {
            let mut config = Config::default();
            config.http.cors_origins = vec![origin.to_owned()];
            config.validate()
        };
        assert!(with_origin("https://console.example.com").is_ok());
        assert!(with_origin("http://127.0.0.1:3000").is_ok());
        for bad in ["*", "console.example.com", "https://console.example.com/", "https://a.example/path", "https://"] {
            let error = with_origin(bad).expect_err(bad).to_string();
            assert!(error.contains("http.cors_origins"), "{error}");
        }
        let mut config = Config::default();
        config.auth.session_ttl_hours = 0;
        assert!(config.validate().expect_err("zero").to_string().contains("auth.session_ttl_hours"));
    }

    #[test]
    fn secrets_do_not_print() {
        let config = Config {
            store: StoreConfig { url: Some(Secret::new("postgres://u:hunter2@h/db".into())), ..Default::default() },
            ..Config::default()
        };
        assert!(!format!("{config:?}").contains("hunter2"));
        assert_eq!(config.store_url(), "postgres://u:hunter2@h/db");
    }

    #[test]
    fn bad_ranges_are_reported() {
        let mut config = Config::default();
        config.bus.partitions = 0;
        assert!(config.validate().is_err());
        let mut config = Config::default();
        config.store.url = Some(Secret::new("mysql://x".into()));
        assert!(config.validate().is_err());
    }

    #[test]
    fn durability_properties_cannot_be_configured_away() {
        for key in GUARDED_KAFKA_PROPERTIES.iter().copied() {
            let mut config = Config::default();
            config.bus.kafka.properties.insert(key.to_owned(), Secret::new("0".into()));
            let error = config.validate().expect_err("refused").to_string();
            assert!(error.contains(key) && error.contains("cannot be set"), "{error}");
            assert!(!error.contains("= 0") && !error.contains("\"0\""), "the value is not printed: {error}");
        }
        let mut config = Config::default();
        config.bus.kafka.properties.insert("security.protocol".into(), Secret::new("SSL".into()));
        assert!(config.validate().is_ok(), "other properties stay possible");
    }

    #[test]
    fn message_size_and_replication_settings_are_checked() {
        let refused = |adjust: &dyn Fn(&mut Config)| {
            let mut config = Config::default();
            adjust(&mut config);
            config.validate().expect_err("refused").to_string()
        };
        let error = refused(&|config| {
            config.bus.kafka.properties.insert("message.max.bytes".into(), Secret::new("5000000".into()));
        });
        assert!(error.contains("bus.max_message_bytes"), "{error}");
        let error = refused(&|config| config.bus.max_message_bytes = 100_000);
        assert!(error.contains("bus.max_message_bytes must be at least"), "{error}");
        let error = refused(&|config| {
            config.bus.kafka.replication_factor = 3;
            config.bus.kafka.min_insync_replicas = Some(4);
        });
        assert!(error.contains("min_insync_replicas"), "{error}");
        let error = refused(&|config| config.http.max_in_flight = 0);
        assert!(error.contains("http.max_in_flight"), "{error}");

        let mut config = Config::default();
        config.bus.kafka.replication_factor = 3;
        assert_eq!(config.bus.kafka.min_insync_replicas(), 2, "2 of 3 by default");
        config.bus.kafka.replication_factor = 1;
        assert_eq!(config.bus.kafka.min_insync_replicas(), 1);
        assert!(config.validate().is_ok());
    }

    #[test]
    fn imap_mailboxes_are_checked() {
        let mailbox = ImapMailboxConfig {
            company: "acme".into(),
            host: "imap.example.com".into(),
            username: "support@acme.example".into(),
            password: Secret::new("hunter2".into()),
            ..ImapMailboxConfig::default()
        };
        let with = |adjust: &dyn Fn(&mut ImapMailboxConfig)| {
            let mut config = Config::default();
            let mut entry = mailbox.clone();
            adjust(&mut entry);
            config.ingest.imap.mailboxes = vec![entry];
            config.validate().map_err(|error| error.to_string())
        };
        assert_eq!(with(&|_| {}), Ok(()));
        assert_eq!((mailbox.port, mailbox.tls, &mailbox.mailbox), (993, ImapTls::Tls, &"INBOX".to_owned()));
        assert_eq!(mailbox.key(), "acme/imap.example.com/support@acme.example/INBOX");
        assert!(!format!("{mailbox:?}").contains("hunter2"), "the password does not print");

        let error = with(&|entry| entry.tls = ImapTls::None).expect_err("plain text to a remote host");
        assert!(error.contains("ingest.imap.mailboxes[0].tls") && error.contains("127.0.0.1 or localhost"), "{error}");
        for local in ["127.0.0.1", "localhost", "::1"] {
            assert_eq!(
                with(&|entry| {
                    entry.tls = ImapTls::None;
                    entry.host = local.into();
                }),
                Ok(()),
                "{local}"
            );
        }
        let error = with(&|entry| entry.company = " ".into()).expect_err("no company");
        assert!(error.contains("mailboxes[0].company"), "{error}");
        let error = with(&|entry| entry.password = Secret::default()).expect_err("no password");
        assert!(error.contains("password"), "{error}");
        let error = with(&|entry| entry.batch = 0).expect_err("no batch");
        assert!(error.contains("batch"), "{error}");
        let error = with(&|entry| entry.after = ImapAfter::Move("INBOX".into())).expect_err("into itself");
        assert!(error.contains("after"), "{error}");

        let mut config = Config::default();
        config.ingest.imap.mailboxes = vec![mailbox.clone(), mailbox.clone()];
        assert!(config.validate().expect_err("twice").to_string().contains("listed twice"));

        assert_eq!(
            ImapAfter::try_from("move:Archive/Support".to_owned()),
            Ok(ImapAfter::Move("Archive/Support".into()))
        );
        assert!(ImapAfter::try_from("move:".to_owned()).is_err());
        assert!(ImapAfter::try_from("delete".to_owned()).is_err());
        let long = ImapMailboxConfig { poll_seconds: 3600, ..mailbox.clone() };
        assert_eq!(long.idle_timeout(), IMAP_IDLE_MAX, "IDLE is re-issued within 29 minutes");
        assert_eq!(mailbox.idle_timeout(), Duration::from_secs(60));
    }

    #[test]
    fn mail_settings_are_checked_and_the_message_id_domain_follows_from() {
        let refused = |adjust: &dyn Fn(&mut MailConfig)| {
            let mut config = Config::default();
            adjust(&mut config.mail);
            config.validate().expect_err("refused").to_string()
        };
        let error = refused(&|mail| mail.smtp_url = Some(Secret::new("http://mail.example.com".into())));
        assert!(error.contains("mail.smtp_url"), "{error}");
        let error = refused(&|mail| mail.from = "Switchboard".into());
        assert!(error.contains("mail.from"), "{error}");
        let error = refused(&|mail| mail.public_url = "support.example.com".into());
        assert!(error.contains("mail.public_url"), "{error}");
        let error = refused(&|mail| mail.schedule_ms.clear());
        assert!(error.contains("mail.schedule_ms"), "{error}");
        let error = refused(&|mail| mail.concurrency = 0);
        assert!(error.contains("mail.concurrency"), "{error}");

        let mut mail = MailConfig {
            smtp_url: Some(Secret::new("smtps://user:password@mail.example.com".into())),
            from: "Support <help@support.example.com>".into(),
            ..MailConfig::default()
        };
        assert_eq!(mail.message_id_domain(), "support.example.com");
        assert!(!format!("{mail:?}").contains("password"), "the URL's credentials do not print");
        mail.message_id_domain = Some("threads.example.com".into());
        assert_eq!(mail.message_id_domain(), "threads.example.com");
        assert_eq!(MailConfig::default().message_id_domain(), "localhost");
    }
}
#[cfg(test)]
mod dispatch_tests {
    use super::*;

    fn refused(change: impl FnOnce(&mut TravelConfig)) -> String {
        let mut config = TravelConfig::default();
        change(&mut config);
        config.validate().expect_err("refused").to_string()
    }

    #[test]
    fn defaults_are_offline_and_valid() {
        let config = TravelConfig::default();
        assert_eq!(config.provider, ProviderKind::Offline);
        assert_eq!((config.road_factor, config.average_speed_kmh, config.timeout_ms), (1.3, 50.0, 2_000));
        assert!(config.validate().is_ok());
    }

    #[test]
    fn each_mistake_is_named() {
        assert_eq!(
            refused(|config| config.provider = ProviderKind::Osrm),
            "invalid configuration: dispatch.travel.osrm.url must be set when dispatch.travel.provider is \"osrm\""
        );
        assert_eq!(
            refused(|config| config.provider = ProviderKind::Google),
            "invalid configuration: dispatch.travel.google.api_key must be set when dispatch.travel.provider is \
             \"google\""
        );
        assert!(
            refused(|config| {
                config.provider = ProviderKind::Google;
                config.google.api_key = Some(Secret::new("  ".into()));
            })
            .contains("google.api_key must be set")
        );
        assert!(refused(|config| config.road_factor = 0.0).contains("road_factor must be above 0"));
        assert!(refused(|config| config.road_factor = -1.0).contains("road_factor must be above 0"));
        assert!(refused(|config| config.road_factor = f64::NAN).contains("road_factor"));
        assert!(refused(|config| config.average_speed_kmh = 0.0).contains("average_speed_kmh must be above 0"));
        assert!(refused(|config| config.timeout_ms = 0).contains("timeout_ms must be 1 to 60000"));
        assert!(
            refused(|config| {
                config.provider = ProviderKind::Osrm;
                config.osrm.url = Some("osrm:5000".into());
            })
            .contains("dispatch.travel.osrm.url must be an http or https URL")
        );
        assert!(
            refused(|config| {
                config.provider = ProviderKind::Osrm;
                config.osrm.url = Some("http://osrm:5000".into());
                config.osrm.profile = "../x".into();
            })
            .contains("osrm.profile")
        );
    }

    #[test]
    fn reads_from_toml_shaped_json_and_hides_the_key() {
        let config: DispatchConfig = serde_json::from_value(serde_json::json!({
            "travel": {
                "provider": "google",
                "timeout_ms": 500,
                "google": { "api_key": "AIza-secret", "base_url": "http://127.0.0.1:9" }
            }
        }))
        .expect("deserialises");
        assert_eq!(config.travel.provider, ProviderKind::Google);
        assert_eq!(config.travel.road_factor, 1.3, "unset keys keep their defaults");
        assert!(config.validate().is_ok());
        assert!(!format!("{config:?}").contains("AIza-secret"));
        let unknown = serde_json::from_value::<DispatchConfig>(serde_json::json!({ "travel": { "speed": 3 } }));
        assert!(unknown.is_err(), "unknown keys are refused");
    }
}
