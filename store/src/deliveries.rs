//! What the router decided for each ticket, and the deliveries to team
//! servers that carry it out: a durable retry schedule that survives
//! restarts (a delivery is a row; its attempts update it).

use std::collections::HashMap;

use switchboard_core::events::Routing;
use switchboard_core::ids::ServerId;
use switchboard_core::{CompanyId, Scope, Ticket, TicketId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Store;
use crate::db::{BeginWrite, from_micros, now_micros, on_pool, to_micros};
use crate::error::{Error, Result};
use crate::tickets::push_scope;

/// The `webhook-id` header of every attempt of the delivery `id`: what
/// receivers de-duplicate by, and what the delivery log shows.
pub fn webhook_id(id: Uuid) -> String {
    format!("msg_{}", id.simple())
}

/// The id a [`webhook_id`] was made from.
pub fn parse_webhook_id(text: &str) -> Option<Uuid> {
    let hex = text.trim().strip_prefix("msg_")?;
    (hex.len() == 32).then(|| Uuid::try_parse(hex).ok()).flatten()
}

/// A delivery to create: its id gives the `webhook-id` of every attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDelivery {
    pub id: Uuid,
    pub server: ServerId,
    /// Why this server (`routed`, `fallback from …`, `distributed by …`).
    pub reason: String,
    /// The JSON body POSTed on every attempt.
    pub payload: String,
}

/// A routing to record, with the first delivery it calls for.
#[derive(Clone, Debug)]
pub struct NewRouting<'a> {
    pub ticket: &'a Ticket,
    pub routing: &'a Routing,
    pub delivery: Option<NewDelivery>,
}

/// A ticket's routing as recorded; `routing.server` is the server the
/// ticket is delivered to now (a fallback moves it).
#[derive(Clone, Debug, PartialEq)]
pub struct RoutingRecord {
    pub ticket_id: TicketId,
    pub company: CompanyId,
    pub routing: Routing,
    pub routed_at: OffsetDateTime,
}

/// Where a delivery to a team server, or a webhook message, stands on its
/// schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not yet acknowledged; attempts continue.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up on: a team server that refused or ran out of attempts (the
    /// ticket fell back to the next server), a webhook message whose
    /// schedule ran out (kept, and replayable).
    Failed,
}

impl DeliveryState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        [DeliveryState::Pending, DeliveryState::Delivered, DeliveryState::Failed]
            .into_iter()
            .find(|state| state.as_str() == text)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub id: Uuid,
    pub company: CompanyId,
    pub ticket_id: TicketId,
    pub server: ServerId,
    pub reason: String,
    pub payload: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub next_attempt_at: OffsetDateTime,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// How one attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered {
        status: u16,
    },
    /// Try again at `next_attempt_at`.
    Retry {
        status: Option<u16>,
        error: String,
        next_attempt_at: OffsetDateTime,
    },
    /// Give up on this server; deliver `fallback` instead, if any.
    GiveUp {
        status: Option<u16>,
        error: String,
        fallback: Option<NewDelivery>,
    },
}

const DELIVERY_COLUMNS: &str = "id, company, ticket_id, server_id, reason, payload, state, attempts, next_attempt_at, \
     last_status, last_error, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: Uuid,
    company: String,
    ticket_id: Uuid,
    server_id: Uuid,
    reason: String,
    payload: String,
    state: String,
    attempts: i64,
    next_attempt_at: i64,
    last_status: Option<i64>,
    last_error: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl crate::lease::LeasedRow for DeliveryRow {
    fn id(&self) -> Uuid {
        self.id
    }

    fn set_next_attempt_at(&mut self, until: i64) {
        self.next_attempt_at = until;
    }
}

impl TryFrom<DeliveryRow> for DeliveryRecord {
    type Error = Error;

    fn try_from(row: DeliveryRow) -> Result<Self> {
        let corrupt = |what: &str| Error::Corrupt(format!("delivery {}: bad {what}", row.id));
        Ok(DeliveryRecord {
            id: row.id,
            company: CompanyId::parse(&row.company).map_err(|_| corrupt("company"))?,
            ticket_id: TicketId(row.ticket_id),
            server: ServerId(row.server_id),
            reason: row.reason.clone(),
            payload: row.payload.clone(),
            state: DeliveryState::parse(&row.state).ok_or_else(|| corrupt("state"))?,
            attempts: u32::try_from(row.attempts).map_err(|_| corrupt("attempts"))?,
            next_attempt_at: from_micros(row.next_attempt_at)?,
            last_status: row.last_status.and_then(|status| u16::try_from(status).ok()),
            last_error: row.last_error.clone(),
            created_at: from_micros(row.created_at)?,
            updated_at: from_micros(row.updated_at)?,
        })
    }
}

type RoutingRow = (Uuid, String, String, Option<Uuid>, i64);

pub(crate) fn routing_record((ticket_id, company, routing, server, routed_at): RoutingRow) -> Result<RoutingRecord> {
    let corrupt = |what: &str| Error::Corrupt(format!("routing of {ticket_id}: bad {what}"));
    let mut routing: Routing = serde_json::from_str(&routing).map_err(|_| corrupt("routing"))?;
    routing.server = server.map(ServerId);
    Ok(RoutingRecord {
        ticket_id: TicketId(ticket_id),
        company: CompanyId::parse(&company).map_err(|_| corrupt("company"))?,
        routing,
        routed_at: from_micros(routed_at)?,
    })
}

/// Points a ticket and its routing at another server, inside `transaction`.
macro_rules! point_at_server {
    ($transaction:expr, $ticket:expr, $server:expr) => {
        for table in
            ["tickets SET server_id = $1 WHERE id = $2", "ticket_routings SET server_id = $1 WHERE ticket_id = $2"]
        {
            sqlx::query(&format!("UPDATE {table}")).bind($server).bind($ticket).execute(&mut *$transaction).await?;
        }
    };
}

/// Inserts a delivery inside `transaction`; nothing if its id exists.
macro_rules! insert_delivery {
    ($transaction:expr, $company:expr, $ticket:expr, $delivery:expr, $now:expr) => {
        sqlx::query(
            "INSERT INTO deliveries (id, company, ticket_id, server_id, reason, payload, state, attempts, \
             next_attempt_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7, $7) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind($delivery.id)
        .bind($company)
        .bind($ticket)
        .bind($delivery.server.0)
        .bind(&$delivery.reason)
        .bind(&$delivery.payload)
        .bind($now)
        .execute(&mut *$transaction)
        .await?
    };
}

impl Store {
    /// Records the router's decision for a ticket and its first delivery,
    /// once: a second call for the same ticket changes nothing and returns
    /// `false`. The ticket's row (which must exist) gets its team, server,
    /// the urgency a rule set (unless staff set one) and the tags rules
    /// added.
    pub async fn record_routing(&self, routing: NewRouting<'_>) -> Result<bool> {
        let ticket = routing.ticket;
        let decision = &routing.routing.decision;
        let json = serde_json::to_string(routing.routing).map_err(|error| Error::Corrupt(error.to_string()))?;
        let (team, server) = (routing.routing.team, routing.routing.server);
        let now = now_micros();
        let recorded = on_pool!(&self.writer, |pool| {
            let mut transaction = pool.begin_write().await?;
            let inserted = sqlx::query(
                "INSERT INTO ticket_routings (ticket_id, company, ruleset_version, routing, team_id, server_id, \
                 routed_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (ticket_id) DO NOTHING",
            )
            .bind(ticket.id.0)
            .bind(ticket.company.as_str())
            .bind(routing.routing.ruleset_version.map(i64::from))
            .bind(&json)
            .bind(team.map(|id| id.0))
            .bind(server.map(|id| id.0))
            .bind(now)
            .execute(&mut *transaction)
            .await?
            .rows_affected()
                == 1;
            if !inserted {
                transaction.commit().await?;
                return Ok(false);
            }
            let tags: Option<String> = sqlx::query_scalar("SELECT tags FROM tickets WHERE id = $1")
                .bind(ticket.id.0)
                .fetch_optional(&mut *transaction)
                .await?;
            let mut tags: Vec<String> = match tags {
                Some(json) => serde_json::from_str(&json).map_err(|error| Error::Corrupt(error.to_string()))?,
                None => return Err(Error::TicketNotFound),
            };
            for tag in &decision.add_tags {
                if !tags.contains(tag) {
                    tags.push(tag.clone());
                }
                sqlx::query("INSERT INTO ticket_tags (tag, ticket_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                    .bind(tag)
                    .bind(ticket.id.0)
                    .execute(&mut *transaction)
                    .await?;
            }
            let tags = serde_json::to_string(&tags).map_err(|error| Error::Corrupt(error.to_string()))?;
            sqlx::query(
                "UPDATE tickets SET team_id = $1, server_id = $2, tags = $3, updated_at = $4, \
                 urgency = CASE WHEN $5 IS NULL OR urgency_source = 'staff' THEN urgency ELSE $5 END, \
                 urgency_source = CASE WHEN $5 IS NULL OR urgency_source = 'staff' THEN urgency_source \
                 ELSE 'routing' END WHERE id = $6",
            )
            .bind(team.map(|id| id.0))
            .bind(server.map(|id| id.0))
            .bind(&tags)
            .bind(now)
            .bind(decision.urgency.map(|urgency| urgency.as_str()))
            .bind(ticket.id.0)
            .execute(&mut *transaction)
            .await?;
            if let Some(delivery) = &routing.delivery {
                insert_delivery!(transaction, ticket.company.as_str(), ticket.id.0, delivery, now);
            }
            transaction.commit().await?;
            Ok::<_, Error>(true)
        })?;
        if recorded && routing.delivery.is_some() {
            self.deliveries_due.notify_one();
        }
        Ok(recorded)
    }

    /// The ticket's routing, if it was routed and is inside `scope`.
    pub async fn routing_of(&self, scope: &Scope, ticket: TicketId) -> Result<Option<RoutingRecord>> {
        let row: Option<RoutingRow> = on_pool!(&self.db, |pool| {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT ticket_id, company, routing, server_id, routed_at FROM ticket_routings WHERE ticket_id = ",
            );
            query.push_bind(ticket.0);
            push_scope(&mut query, scope);
            query.build_query_as().fetch_optional(pool).await
        })?;
        row.map(routing_record).transpose()
    }

    /// The routings of many tickets inside `scope` (those never routed are
    /// absent), read in chunks.
    pub async fn routings_of(&self, scope: &Scope, tickets: &[TicketId]) -> Result<HashMap<TicketId, RoutingRecord>> {
        let mut found = HashMap::with_capacity(tickets.len());
        for chunk in tickets.chunks(500) {
            let rows: Vec<RoutingRow> = on_pool!(&self.db, |pool| {
                let mut query = sqlx::QueryBuilder::new(
                    "SELECT ticket_id, company, routing, server_id, routed_at FROM ticket_routings WHERE ticket_id IN (",
                );
                let mut separated = query.separated(", ");
                for ticket in chunk {
                    separated.push_bind(ticket.0);
                }
                query.push(")");
                push_scope(&mut query, scope);
                query.build_query_as().fetch_all(pool).await
            })?;
            for row in rows {
                let record = routing_record(row)?;
                found.insert(record.ticket_id, record);
            }
        }
        Ok(found)
    }

    /// Deliveries each of the company's servers has not acknowledged yet:
    /// the load the router balances.
    pub async fn pending_deliveries(&self, company: &CompanyId) -> Result<HashMap<ServerId, u64>> {
        let rows: Vec<(Uuid, i64)> = on_pool!(&self.db, |pool| sqlx::query_as(
            "SELECT server_id, COUNT(*) FROM deliveries WHERE company = $1 AND state = 'pending' GROUP BY server_id"
        )
        .bind(company.as_str())
        .fetch_all(pool)
        .await)?;
        Ok(rows.into_iter().map(|(server, count)| (ServerId(server), u64::try_from(count).unwrap_or(0))).collect())
    }

    /// Claims up to `limit` deliveries due now: each is leased (its next
    /// attempt moved `lease` ahead) so no other worker takes it meanwhile;
    /// a worker that dies leaves it due again when the lease ends.
    pub async fn claim_due_deliveries(&self, lease: time::Duration, limit: u32) -> Result<Vec<DeliveryRecord>> {
        let now = now_micros();
        let leased_until = crate::lease::leased_until(now, lease);
        let rows: Vec<DeliveryRow> = on_pool!(&self.db, |pool| sqlx::query_as(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE state = 'pending' AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at LIMIT $2"
        ))
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)?;
        let leased = self.lease_rows("deliveries", rows, now, leased_until).await?;
        leased.into_iter().map(DeliveryRecord::try_from).collect()
    }

    /// When the next delivery falls due, if any is pending.
    pub async fn next_delivery_due(&self) -> Result<Option<OffsetDateTime>> {
        let next: Option<i64> = on_pool!(&self.db, |pool| sqlx::query_scalar(
            "SELECT MIN(next_attempt_at) FROM deliveries WHERE state = 'pending'"
        )
        .fetch_one(pool)
        .await)?;
        next.map(from_micros).transpose()
    }

    /// Records how an attempt ended, if the claim (`delivery` as
    /// [`Store::claim_due_deliveries`] returned it) still holds: `false` when
    /// the lease ran out and another worker took the delivery over, and
    /// nothing changed. Giving up with a fallback marks this delivery failed
    /// and, if the ticket is still this server's (not sent elsewhere by an
    /// admin meanwhile), creates the fallback's delivery and points the
    /// ticket and its routing at the new server, in one transaction.
    pub async fn finish_attempt(&self, delivery: &DeliveryRecord, outcome: &AttemptOutcome) -> Result<bool> {
        let now = now_micros();
        let (state, status, error, next_attempt_at) = match outcome {
            AttemptOutcome::Delivered { status } => (DeliveryState::Delivered, Some(*status), None, now),
            AttemptOutcome::Retry { status, error, next_attempt_at } => {
                (DeliveryState::Pending, *status, Some(error.as_str()), to_micros(*next_attempt_at))
            }
            AttemptOutcome::GiveUp { status, error, .. } => (DeliveryState::Failed, *status, Some(error.as_str()), now),
        };
        let fallback = match outcome {
            AttemptOutcome::GiveUp { fallback, .. } => fallback.as_ref(),
            _ => None,
        };
        let fell_back = on_pool!(&self.writer, |pool| {
            let mut transaction = pool.begin_write().await?;
            let recorded = sqlx::query(
                "UPDATE deliveries SET state = $1, attempts = attempts + 1, next_attempt_at = $2, last_status = $3, \
                 last_error = $4, updated_at = $5 WHERE id = $6 AND state = 'pending' AND next_attempt_at = $7",
            )
            .bind(state.as_str())
            .bind(next_attempt_at)
            .bind(status.map(i64::from))
            .bind(error)
            .bind(now)
            .bind(delivery.id)
            .bind(to_micros(delivery.next_attempt_at))
            .execute(&mut *transaction)
            .await?
            .rows_affected()
                == 1;
            if !recorded {
                // (`on_pool!` is not a closure: this returns from the method.)
                transaction.rollback().await?;
                return Ok(false);
            }
            let mut fell_back = false;
            if let Some(fallback) = fallback {
                let current: Option<Option<Uuid>> = sqlx::query_scalar("SELECT server_id FROM tickets WHERE id = $1")
                    .bind(delivery.ticket_id.0)
                    .fetch_optional(&mut *transaction)
                    .await?;
                if current == Some(Some(delivery.server.0)) {
                    insert_delivery!(transaction, delivery.company.as_str(), delivery.ticket_id.0, fallback, now);
                    point_at_server!(transaction, delivery.ticket_id.0, fallback.server.0);
                    fell_back = true;
                }
            }
            transaction.commit().await?;
            Ok::<_, Error>(fell_back)
        })?;
        if fell_back {
            self.deliveries_due.notify_one();
        }
        Ok(true)
    }

    /// Adds deliveries of tickets outside the router's flow (an admin's
    /// manual distribution), all in one transaction; each ticket is then
    /// its delivery's server's.
    pub async fn add_deliveries(&self, company: &CompanyId, deliveries: &[(TicketId, NewDelivery)]) -> Result<()> {
        let now = now_micros();
        on_pool!(&self.writer, |pool| {
            let mut transaction = pool.begin_write().await?;
            for (ticket, delivery) in deliveries {
                insert_delivery!(transaction, company.as_str(), ticket.0, delivery, now);
                point_at_server!(transaction, ticket.0, delivery.server.0);
            }
            transaction.commit().await?;
            Ok::<_, Error>(())
        })?;
        self.deliveries_due.notify_one();
        Ok(())
    }

    /// A ticket's deliveries, oldest first (its delivery log).
    pub async fn deliveries_of(&self, scope: &Scope, ticket: TicketId) -> Result<Vec<DeliveryRecord>> {
        let rows: Vec<DeliveryRow> = on_pool!(&self.db, |pool| {
            let mut query =
                sqlx::QueryBuilder::new(format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE ticket_id = "));
            query.push_bind(ticket.0);
            push_scope(&mut query, scope);
            query.push(" ORDER BY created_at, id");
            query.build_query_as().fetch_all(pool).await
        })?;
        rows.into_iter().map(DeliveryRecord::try_from).collect()
    }

    /// Woken when a delivery becomes due at once (a new one, a fallback).
    pub fn deliveries_due(&self) -> &tokio::sync::Notify {
        &self.deliveries_due
    }
}
