//! Webhook endpoints, and the messages the notifier owes them: a durable
//! retry schedule (a message is a row, each attempt a row of the log).
//!
//! A message waits while an earlier message of the same ticket to the same
//! endpoint is pending, so each endpoint sees a ticket's events in order.
//! Times are passed in (`now`) rather than read here, so the schedule can
//! be tested with a clock the test controls.

use switchboard_core::config::Secret;
use switchboard_core::ids::WebhookId;
use switchboard_core::notifications::{EventType, Notification};
use switchboard_core::{CompanyId, EventId, Scope, TicketId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Store;
use crate::db::{BeginWrite, from_micros, now_micros, on_pool, to_micros};
use crate::deliveries::DeliveryState;
use crate::error::{Error, Result};
use crate::tickets::push_scope;

/// How long without a failed attempt ends an endpoint's failing streak.
const FAILING_STREAK_GAP_MICROS: i64 = 24 * 60 * 60 * 1_000_000;

/// What an admin sets on an endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookFields {
    pub url: String,
    pub description: Option<String>,
    /// The types sent; empty sends every type.
    pub event_types: Vec<EventType>,
    /// Only tickets this query of the filter language selects.
    pub filter: Option<String>,
    pub enabled: bool,
}

/// An endpoint as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookRecord {
    pub id: WebhookId,
    pub company: CompanyId,
    pub fields: WebhookFields,
    /// Standard Webhooks secret (`whsec_…`) every message is signed with.
    pub secret: Secret<String>,
    /// The secret before the last rotation, which also signs until
    /// `previous_secret_until`.
    pub previous_secret: Option<Secret<String>>,
    pub previous_secret_until: Option<OffsetDateTime>,
    /// Why the notifier disabled it (410 Gone, failing too long).
    pub disabled_reason: Option<String>,
    /// Since when every attempt has failed: `None` after a success, and a
    /// failure more than a day after the previous one starts anew.
    pub failing_since: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl WebhookRecord {
    /// Whether a notification of `kind` is for this endpoint (before its
    /// filter): one that is enabled, or that the notifier disabled (410,
    /// failing too long: its messages wait, so that nothing is lost once an
    /// admin enables it again). One an admin disabled gets nothing.
    pub fn wants(&self, kind: EventType) -> bool {
        (self.fields.enabled || self.disabled_reason.is_some())
            && (self.fields.event_types.is_empty() || self.fields.event_types.contains(&kind))
    }

    /// The secrets that sign at `now`: the current one, and the previous
    /// one while its overlap lasts.
    pub fn signing_secrets(&self, now: OffsetDateTime) -> Vec<&str> {
        let mut secrets = vec![self.secret.expose().as_str()];
        if let (Some(previous), Some(until)) = (&self.previous_secret, self.previous_secret_until)
            && now < until
        {
            secrets.push(previous.expose().as_str());
        }
        secrets
    }
}

const ENDPOINT_COLUMNS: &str = "id, company, url, description, event_types, filter, enabled, secret, previous_secret, \
     previous_secret_until, disabled_reason, failing_since, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct EndpointRow {
    id: Uuid,
    company: String,
    url: String,
    description: Option<String>,
    event_types: String,
    filter: Option<String>,
    enabled: bool,
    secret: String,
    previous_secret: Option<String>,
    previous_secret_until: Option<i64>,
    disabled_reason: Option<String>,
    failing_since: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<EndpointRow> for WebhookRecord {
    type Error = Error;

    fn try_from(row: EndpointRow) -> Result<Self> {
        let corrupt = |what: &str| Error::Corrupt(format!("webhook {}: bad {what}", row.id));
        let names: Vec<String> = serde_json::from_str(&row.event_types).map_err(|_| corrupt("event types"))?;
        let event_types = EventType::parse_list(&names).map_err(|_| corrupt("event types"))?;
        Ok(WebhookRecord {
            id: WebhookId(row.id),
            company: CompanyId::parse(&row.company).map_err(|_| corrupt("company"))?,
            fields: WebhookFields {
                url: row.url,
                description: row.description,
                event_types,
                filter: row.filter,
                enabled: row.enabled,
            },
            secret: Secret::new(row.secret),
            previous_secret: row.previous_secret.map(Secret::new),
            previous_secret_until: row.previous_secret_until.map(from_micros).transpose()?,
            disabled_reason: row.disabled_reason,
            failing_since: row.failing_since.map(from_micros).transpose()?,
            created_at: from_micros(row.created_at)?,
            updated_at: from_micros(row.updated_at)?,
        })
    }
}

fn event_types_json(kinds: &[EventType]) -> String {
    serde_json::to_string(&kinds.iter().map(|kind| kind.as_str()).collect::<Vec<_>>()).unwrap_or_else(|_| "[]".into())
}

/// A message to store: `id` derives from the notification and the
/// endpoint, so storing it twice stores it once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewWebhookMessage {
    pub id: Uuid,
    pub company: CompanyId,
    pub endpoint: WebhookId,
    pub event_type: EventType,
    pub ticket_id: TicketId,
    /// The JSON body of every attempt.
    pub payload: String,
    pub occurred_at: OffsetDateTime,
}

impl NewWebhookMessage {
    /// `notification`'s message to `endpoint` with the JSON `body`; its id
    /// derives from both.
    pub fn of(notification: &Notification, endpoint: WebhookId, body: String) -> Self {
        Self {
            id: EventId::derived(notification.id, &endpoint.to_string()).0,
            company: notification.company.clone(),
            endpoint,
            event_type: notification.kind,
            ticket_id: notification.ticket_id,
            payload: body,
            occurred_at: notification.occurred_at,
        }
    }
}

/// What recording an attempt did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// The claim had run out (another worker took the message over):
    /// nothing changed.
    Stale,
    Recorded,
    /// Recorded, and the attempt disabled its endpoint, which was enabled
    /// until then.
    DisabledEndpoint,
}

/// One finished attempt to record ([`Store::finish_webhook_attempts`]).
#[derive(Clone, Copy, Debug)]
pub struct FinishedAttempt<'a> {
    /// The message as claimed.
    pub message: &'a WebhookMessageRecord,
    pub facts: &'a AttemptFacts,
    pub outcome: &'a MessageOutcome,
}

/// A message as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookMessageRecord {
    pub id: Uuid,
    pub company: CompanyId,
    pub endpoint: WebhookId,
    pub event_type: EventType,
    pub ticket_id: TicketId,
    pub payload: String,
    pub state: DeliveryState,
    /// Every attempt made, replays included.
    pub attempts: u32,
    /// The attempts since the message was (re)scheduled: where it stands
    /// on the schedule.
    pub scheduled_attempts: u32,
    pub next_attempt_at: OffsetDateTime,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub occurred_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A message that may be attempted (`m`): pending, its endpoint enabled,
/// and no earlier message of its ticket to its endpoint still pending.
const CLAIMABLE: &str = "m.state = 'pending' \
     AND EXISTS (SELECT 1 FROM webhook_endpoints w WHERE w.id = m.endpoint_id AND w.enabled) \
     AND NOT EXISTS (SELECT 1 FROM webhook_messages e WHERE e.endpoint_id = m.endpoint_id \
     AND e.ticket_id = m.ticket_id AND e.state = 'pending' \
     AND (e.occurred_at < m.occurred_at OR (e.occurred_at = m.occurred_at AND e.id < m.id)))";

const MESSAGE_COLUMNS: &str = "id, company, endpoint_id, event_type, ticket_id, payload, state, attempts, \
     schedule_offset, next_attempt_at, last_status, last_error, occurred_at, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: Uuid,
    company: String,
    endpoint_id: Uuid,
    event_type: String,
    ticket_id: Uuid,
    payload: String,
    state: String,
    attempts: i64,
    schedule_offset: i64,
    next_attempt_at: i64,
    last_status: Option<i64>,
    last_error: Option<String>,
    occurred_at: i64,
    created_at: i64,
    updated_at: i64,
}

impl crate::lease::LeasedRow for MessageRow {
    fn id(&self) -> Uuid {
        self.id
    }

    fn set_next_attempt_at(&mut self, until: i64) {
        self.next_attempt_at = until;
    }
}

impl TryFrom<MessageRow> for WebhookMessageRecord {
    type Error = Error;

    fn try_from(row: MessageRow) -> Result<Self> {
        let corrupt = |what: &str| Error::Corrupt(format!("webhook message {}: bad {what}", row.id));
        Ok(WebhookMessageRecord {
            id: row.id,
            company: CompanyId::parse(&row.company).map_err(|_| corrupt("company"))?,
            endpoint: WebhookId(row.endpoint_id),
            event_type: EventType::parse(&row.event_type).ok_or_else(|| corrupt("event type"))?,
            ticket_id: TicketId(row.ticket_id),
            payload: row.payload,
            state: DeliveryState::parse(&row.state).ok_or_else(|| corrupt("state"))?,
            attempts: u32::try_from(row.attempts).map_err(|_| corrupt("attempts"))?,
            scheduled_attempts: u32::try_from(row.attempts - row.schedule_offset).map_err(|_| corrupt("offset"))?,
            next_attempt_at: from_micros(row.next_attempt_at)?,
            last_status: row.last_status.and_then(|status| u16::try_from(status).ok()),
            last_error: row.last_error,
            occurred_at: from_micros(row.occurred_at)?,
            created_at: from_micros(row.created_at)?,
            updated_at: from_micros(row.updated_at)?,
        })
    }
}

/// One attempt, for the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookAttemptRecord {
    pub message_id: Uuid,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub endpoint: WebhookId,
    pub ticket_id: TicketId,
    pub attempted_at: OffsetDateTime,
    pub status: Option<u16>,
    pub duration_ms: u64,
    pub error: Option<String>,
    pub response_excerpt: Option<String>,
}

#[derive(sqlx::FromRow)]
struct AttemptRow {
    message_id: Uuid,
    attempt: i64,
    endpoint_id: Uuid,
    ticket_id: Uuid,
    attempted_at: i64,
    status: Option<i64>,
    duration_ms: i64,
    error: Option<String>,
    response_excerpt: Option<String>,
}

impl TryFrom<AttemptRow> for WebhookAttemptRecord {
    type Error = Error;

    fn try_from(row: AttemptRow) -> Result<Self> {
        Ok(WebhookAttemptRecord {
            message_id: row.message_id,
            attempt: u32::try_from(row.attempt).unwrap_or(0),
            endpoint: WebhookId(row.endpoint_id),
            ticket_id: TicketId(row.ticket_id),
            attempted_at: from_micros(row.attempted_at)?,
            status: row.status.and_then(|status| u16::try_from(status).ok()),
            duration_ms: u64::try_from(row.duration_ms).unwrap_or(0),
            error: row.error,
            response_excerpt: row.response_excerpt,
        })
    }
}

/// What an attempt tells the schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MessageOutcome {
    Delivered,
    /// Try again at this time.
    Retry(OffsetDateTime),
    /// The schedule ran out: kept as failed.
    Exhausted,
    /// The endpoint is disabled (410 Gone, failing too long): this message
    /// waits, pending, until it is enabled again.
    DisableEndpoint {
        reason: String,
    },
}

/// Which messages a replay puts back on the schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replay {
    /// This one, delivered or failed (a pending one is on its schedule
    /// already).
    Message(Uuid),
    /// Every failed one stored at or after this time.
    FailedSince(OffsetDateTime),
}

/// One attempt's facts, as the log keeps them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptFacts {
    pub attempted_at: OffsetDateTime,
    pub status: Option<u16>,
    pub duration_ms: u64,
    pub error: Option<String>,
    pub response_excerpt: Option<String>,
}

impl Store {
    pub async fn create_webhook(
        &self,
        company: &CompanyId,
        fields: &WebhookFields,
        secret: Secret<String>,
    ) -> Result<WebhookRecord> {
        let (id, now) = (WebhookId::new(), now_micros());
        on_pool!(&self.writer, |pool| sqlx::query(
            "INSERT INTO webhook_endpoints (id, company, url, description, event_types, filter, enabled, secret, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)"
        )
        .bind(id.0)
        .bind(company.as_str())
        .bind(&fields.url)
        .bind(&fields.description)
        .bind(event_types_json(&fields.event_types))
        .bind(&fields.filter)
        .bind(fields.enabled)
        .bind(secret.expose())
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))?;
        self.webhook(company, id).await?.ok_or(Error::Corrupt(format!("webhook {id} vanished")))
    }

    pub async fn webhook(&self, company: &CompanyId, id: WebhookId) -> Result<Option<WebhookRecord>> {
        let row: Option<EndpointRow> = on_pool!(&self.db, |pool| sqlx::query_as(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1 AND company = $2"
        ))
        .bind(id.0)
        .bind(company.as_str())
        .fetch_optional(pool)
        .await)?;
        row.map(WebhookRecord::try_from).transpose()
    }

    /// The company's endpoints, oldest first.
    pub async fn list_webhooks(&self, company: &CompanyId) -> Result<Vec<WebhookRecord>> {
        let rows: Vec<EndpointRow> = on_pool!(&self.db, |pool| sqlx::query_as(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE company = $1 ORDER BY id"
        ))
        .bind(company.as_str())
        .fetch_all(pool)
        .await)?;
        rows.into_iter().map(WebhookRecord::try_from).collect()
    }

    /// Replaces an endpoint's fields; enabling it forgets why it was
    /// disabled and since when it failed. `None` if there is no such
    /// endpoint.
    pub async fn update_webhook(
        &self,
        company: &CompanyId,
        id: WebhookId,
        fields: &WebhookFields,
    ) -> Result<Option<WebhookRecord>> {
        let updated = on_pool!(&self.writer, |pool| sqlx::query(
            "UPDATE webhook_endpoints SET url = $1, description = $2, event_types = $3, filter = $4, enabled = $5, \
             disabled_reason = CASE WHEN $5 THEN NULL ELSE disabled_reason END, \
             failing_since = CASE WHEN $5 THEN NULL ELSE failing_since END, updated_at = $6 \
             WHERE id = $7 AND company = $8"
        )
        .bind(&fields.url)
        .bind(&fields.description)
        .bind(event_types_json(&fields.event_types))
        .bind(&fields.filter)
        .bind(fields.enabled)
        .bind(now_micros())
        .bind(id.0)
        .bind(company.as_str())
        .execute(pool)
        .await
        .map(|result| result.rows_affected() == 1))?;
        if updated && fields.enabled {
            self.webhooks_due.notify_one();
        }
        if !updated {
            return Ok(None);
        }
        self.webhook(company, id).await
    }

    /// A new secret; the current one keeps signing until `previous_until`.
    pub async fn rotate_webhook_secret(
        &self,
        company: &CompanyId,
        id: WebhookId,
        secret: Secret<String>,
        previous_until: OffsetDateTime,
    ) -> Result<Option<WebhookRecord>> {
        let rotated = on_pool!(&self.writer, |pool| sqlx::query(
            "UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_until = $1, secret = $2, \
             updated_at = $3 WHERE id = $4 AND company = $5"
        )
        .bind(to_micros(previous_until))
        .bind(secret.expose())
        .bind(now_micros())
        .bind(id.0)
        .bind(company.as_str())
        .execute(pool)
        .await
        .map(|result| result.rows_affected() == 1))?;
        if !rotated {
            return Ok(None);
        }
        self.webhook(company, id).await
    }

    /// Deletes an endpoint with its messages and their log.
    pub async fn delete_webhook(&self, company: &CompanyId, id: WebhookId) -> Result<bool> {
        on_pool!(&self.writer, |pool| {
            let mut transaction = pool.begin_write().await?;
            let deleted = sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1 AND company = $2")
                .bind(id.0)
                .bind(company.as_str())
                .execute(&mut *transaction)
                .await?
                .rows_affected()
                == 1;
            if deleted {
                for table in ["webhook_attempts", "webhook_messages"] {
                    sqlx::query(&format!("DELETE FROM {table} WHERE endpoint_id = $1"))
                        .bind(id.0)
                        .execute(&mut *transaction)
                        .await?;
                }
            }
            transaction.commit().await?;
            Ok::<_, Error>(deleted)
        })
    }

    /// Stores messages, due at once; those already stored, and those of an
    /// endpoint deleted meanwhile, are left out.
    pub async fn add_webhook_messages(&self, messages: &[NewWebhookMessage]) -> Result<()> {
        self.record_notifications(&[], messages, &[]).await
    }

    /// Claims up to `limit` messages due at `now` to enabled endpoints, each
    /// the earliest pending one of its ticket for its endpoint; each is
    /// leased until `now + lease` (no other worker takes it meanwhile; a
    /// worker that dies leaves it due again).
    pub async fn claim_due_webhook_messages(
        &self,
        now: OffsetDateTime,
        lease: time::Duration,
        limit: u32,
    ) -> Result<Vec<WebhookMessageRecord>> {
        let now = to_micros(now);
        let leased_until = crate::lease::leased_until(now, lease);
        let rows: Vec<MessageRow> = on_pool!(&self.db, |pool| {
            sqlx::query_as(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM webhook_messages m WHERE {CLAIMABLE} AND m.next_attempt_at <= $1 \
             ORDER BY m.next_attempt_at LIMIT $2"
            ))
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
        })?;
        let leased = self.lease_rows("webhook_messages", rows, now, leased_until).await?;
        leased.into_iter().map(WebhookMessageRecord::try_from).collect()
    }

    /// Puts an endpoint's messages back on the schedule, due at `now`, from
    /// its first step; returns how many. Each keeps its `webhook-id`, so a
    /// receiver that had one already can tell.
    pub async fn replay_webhook_messages(
        &self,
        company: &CompanyId,
        endpoint: WebhookId,
        which: Replay,
        now: OffsetDateTime,
    ) -> Result<u64> {
        let now = to_micros(now);
        let replayed = on_pool!(&self.writer, |pool| {
            let mut query =
                sqlx::QueryBuilder::new("UPDATE webhook_messages SET state = 'pending', next_attempt_at = ");
            query.push_bind(now);
            query.push(", schedule_offset = attempts, updated_at = ");
            query.push_bind(now);
            query.push(" WHERE company = ");
            query.push_bind(company.as_str());
            query.push(" AND endpoint_id = ");
            query.push_bind(endpoint.0);
            match which {
                Replay::Message(id) => {
                    query.push(" AND state <> 'pending' AND id = ");
                    query.push_bind(id);
                }
                Replay::FailedSince(since) => {
                    query.push(" AND state = 'failed' AND created_at >= ");
                    query.push_bind(to_micros(since));
                }
            }
            query.build().execute(pool).await.map(|result| result.rows_affected())
        })?;
        if replayed > 0 {
            self.webhooks_due.notify_one();
        }
        Ok(replayed)
    }

    /// When the next message [`Store::claim_due_webhook_messages`] could
    /// take falls due, if any (not one waiting for an earlier message of its
    /// ticket, nor one of a disabled endpoint).
    pub async fn next_webhook_message_due(&self) -> Result<Option<OffsetDateTime>> {
        // The due index, stopping at the first claimable row (a MIN() over
        // the condition would test every pending row).
        let next: Option<i64> = on_pool!(&self.db, |pool| sqlx::query_scalar(&format!(
            "SELECT m.next_attempt_at FROM webhook_messages m WHERE {CLAIMABLE} ORDER BY m.next_attempt_at LIMIT 1"
        ))
        .fetch_optional(pool)
        .await)?;
        next.map(from_micros).transpose()
    }

    /// Records an attempt in the log and its outcome, if the claim
    /// (`message` as claimed) still holds; `false` when the lease ran out
    /// and another worker took the message over (nothing changed). The
    /// endpoint learns it too: a success ends its failing streak, a
    /// failure starts one, `DisableEndpoint` disables it.
    pub async fn finish_webhook_attempt(
        &self,
        message: &WebhookMessageRecord,
        facts: &AttemptFacts,
        outcome: &MessageOutcome,
    ) -> Result<bool> {
        let recorded = self.finish_webhook_attempts(&[FinishedAttempt { message, facts, outcome }]).await?;
        Ok(recorded[0] != Recorded::Stale)
    }

    /// [`Store::finish_webhook_attempt`] for many attempts in one
    /// transaction: one result per attempt, in order.
    pub async fn finish_webhook_attempts(&self, finished: &[FinishedAttempt<'_>]) -> Result<Vec<Recorded>> {
        on_pool!(&self.writer, |pool| {
            let mut transaction = pool.begin_write().await?;
            let mut recorded = Vec::with_capacity(finished.len());
            for FinishedAttempt { message, facts, outcome } in finished {
                let now = to_micros(facts.attempted_at);
                let (state, next_attempt_at) = match outcome {
                    MessageOutcome::Delivered => (DeliveryState::Delivered, now),
                    MessageOutcome::Retry(at) => (DeliveryState::Pending, to_micros(*at)),
                    MessageOutcome::Exhausted => (DeliveryState::Failed, now),
                    MessageOutcome::DisableEndpoint { .. } => (DeliveryState::Pending, now),
                };
                let attempt = i64::from(message.attempts) + 1;
                // Fenced by the claim: a message another worker took over
                // changes nothing.
                let claimed = sqlx::query(
                    "UPDATE webhook_messages SET state = $1, attempts = $2, next_attempt_at = $3, last_status = $4, \
                     last_error = $5, updated_at = $6 WHERE id = $7 AND state = 'pending' AND next_attempt_at = $8",
                )
                .bind(state.as_str())
                .bind(attempt)
                .bind(next_attempt_at)
                .bind(facts.status.map(i64::from))
                .bind(&facts.error)
                .bind(now)
                .bind(message.id)
                .bind(to_micros(message.next_attempt_at))
                .execute(&mut *transaction)
                .await?
                .rows_affected()
                    == 1;
                if !claimed {
                    recorded.push(Recorded::Stale);
                    continue;
                }
                sqlx::query(
                    "INSERT INTO webhook_attempts (message_id, attempt, company, endpoint_id, ticket_id, \
                     attempted_at, status, duration_ms, error, response_excerpt) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
                )
                .bind(message.id)
                .bind(attempt)
                .bind(message.company.as_str())
                .bind(message.endpoint.0)
                .bind(message.ticket_id.0)
                .bind(now)
                .bind(facts.status.map(i64::from))
                .bind(i64::try_from(facts.duration_ms).unwrap_or(i64::MAX))
                .bind(&facts.error)
                .bind(&facts.response_excerpt)
                .execute(&mut *transaction)
                .await?;
                let endpoint = match outcome {
                    // A healthy endpoint's success writes nothing.
                    MessageOutcome::Delivered => sqlx::query(
                        "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL",
                    )
                    .bind(message.endpoint.0),
                    // Only an enabled endpoint is disabled: of several
                    // attempts that would, one does (and its admins are told
                    // once).
                    MessageOutcome::DisableEndpoint { reason } => sqlx::query(
                        "UPDATE webhook_endpoints SET enabled = FALSE, disabled_reason = $2, \
                         failing_since = COALESCE(failing_since, $3), last_failure_at = $3, updated_at = $3 \
                         WHERE id = $1 AND enabled",
                    )
                    .bind(message.endpoint.0)
                    .bind(reason)
                    .bind(now),
                    // A failure more than a day after the last one starts a
                    // new streak: a quiet endpoint's old failure does not
                    // count.
                    MessageOutcome::Retry(_) | MessageOutcome::Exhausted => sqlx::query(
                        "UPDATE webhook_endpoints SET failing_since = CASE WHEN failing_since IS NULL \
                         OR last_failure_at IS NULL OR last_failure_at < $3 THEN $2 ELSE failing_since END, \
                         last_failure_at = $2 WHERE id = $1",
                    )
                    .bind(message.endpoint.0)
                    .bind(now)
                    .bind(now - FAILING_STREAK_GAP_MICROS),
                };
                let changed = endpoint.execute(&mut *transaction).await?.rows_affected() > 0;
                let disabled = changed && matches!(outcome, MessageOutcome::DisableEndpoint { .. });
                recorded.push(if disabled { Recorded::DisabledEndpoint } else { Recorded::Recorded });
            }
            transaction.commit().await?;
            Ok::<_, Error>(recorded)
        })
    }

    /// Deletes attempts made, and messages settled (delivered or failed),
    /// before `older_than` (microseconds): the log's retention. A pending
    /// message is kept however old (its endpoint may be disabled).
    pub async fn purge_webhook_log(&self, older_than_micros: i64) -> Result<u64> {
        on_pool!(&self.writer, |pool| {
            let attempts = sqlx::query("DELETE FROM webhook_attempts WHERE attempted_at < $1")
                .bind(older_than_micros)
                .execute(pool)
                .await?
                .rows_affected();
            let messages = sqlx::query("DELETE FROM webhook_messages WHERE state <> 'pending' AND updated_at < $1")
                .bind(older_than_micros)
                .execute(pool)
                .await?
                .rows_affected();
            Ok(attempts + messages)
        })
    }

    /// An endpoint's attempts, newest first, at most `limit`.
    pub async fn webhook_attempts(
        &self,
        company: &CompanyId,
        endpoint: WebhookId,
        limit: u32,
    ) -> Result<Vec<WebhookAttemptRecord>> {
        let rows: Vec<AttemptRow> = on_pool!(&self.db, |pool| sqlx::query_as(
            "SELECT message_id, attempt, endpoint_id, ticket_id, attempted_at, status, duration_ms, error, \
             response_excerpt FROM webhook_attempts WHERE endpoint_id = $1 AND company = $2 \
             ORDER BY attempted_at DESC, message_id DESC, attempt DESC LIMIT $3"
        )
        .bind(endpoint.0)
        .bind(company.as_str())
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)?;
        rows.into_iter().map(WebhookAttemptRecord::try_from).collect()
    }

    /// A ticket's webhook messages, oldest first.
    pub async fn webhook_messages_of(&self, scope: &Scope, ticket: TicketId) -> Result<Vec<WebhookMessageRecord>> {
        let rows: Vec<MessageRow> = on_pool!(&self.db, |pool| {
            let mut query =
                sqlx::QueryBuilder::new(format!("SELECT {MESSAGE_COLUMNS} FROM webhook_messages WHERE ticket_id = "));
            query.push_bind(ticket.0);
            push_scope(&mut query, scope);
            query.push(" ORDER BY occurred_at, id");
            query.build_query_as().fetch_all(pool).await
        })?;
        rows.into_iter().map(WebhookMessageRecord::try_from).collect()
    }

    /// Woken when a webhook message becomes due at once.
    pub fn webhooks_due(&self) -> &tokio::sync::Notify {
        &self.webhooks_due
    }
}
