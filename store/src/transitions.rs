//! The one owner of ticket state: [`Store::transition`], and the outbox its
//! events leave through.
//!
//! A transition is a compare-and-set against the lifecycle map in `core`:
//! in one transaction it reads the ticket, checks the action against the
//! map for the actor's role, updates the row only if its status is still
//! the one it read (`… WHERE id = $1 AND status = $from`), and writes the
//! audit event (`ticket_events`). Nothing else writes a ticket's status. A
//! race lost to another writer is [`TransitionError::Conflict`], never a
//! silent overwrite.
//!
//! `ticket_events` is also the outbox: the relay (`switchboard_bus::outbox`)
//! claims unrelayed rows, produces their envelopes to `tickets.events`, and
//! marks them relayed, so an event reaches the bus at least once and only
//! for a change that committed.

use switchboard_core::events::{TicketEvent, TransitionDetails};
use switchboard_core::lifecycle::{self, Action, Actor, TransitionError};
use switchboard_core::{AccountId, Envelope, EventId, Scope, Status, Ticket, TicketId, VehicleId};
use uuid::Uuid;

use crate::Store;
use crate::db::{BeginWrite, now_micros, on_pool};
use crate::error::{Error, Result};
use crate::knowledge::{REPORT_COLUMNS, ReportRow};
use crate::tickets::{TICKET_COLUMNS, TicketRow, push_scope};

/// What [`Store::transition`] is asked to do.
#[derive(Clone, Debug, PartialEq)]
pub struct TransitionRequest {
    pub ticket_id: TicketId,
    pub action: Action,
    pub actor: Actor,
    /// The audit event's id, and the request's idempotency key: asking
    /// again with the same id returns the first outcome instead of acting
    /// twice. Stages derive it from the message they handle.
    pub event_id: EventId,
    /// The `x-request-id` that started it, for tracing.
    pub request_id: Option<String>,
    pub details: TransitionDetails,
}

/// A transition that happened.
#[derive(Clone, Debug, PartialEq)]
pub struct Transitioned {
    /// The ticket after the transition.
    pub ticket: Ticket,
    pub from: Status,
    pub to: Status,
    pub event_id: EventId,
    /// True when this request had been carried out before (same event id):
    /// nothing changed now.
    pub replayed: bool,
}

/// One audit event as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    pub seq: i64,
    pub event_id: EventId,
    pub ticket_id: TicketId,
    pub action: String,
    pub from: String,
    pub to: String,
    pub actor_role: String,
    pub actor_account: Option<AccountId>,
    pub request_id: Option<String>,
    pub created_at_micros: i64,
    pub relayed: bool,
}

/// An outbox row claimed for relaying.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxRecord {
    pub seq: i64,
    pub ticket_id: TicketId,
    pub event_id: EventId,
    pub request_id: Option<String>,
    /// The `Envelope<TicketEvent>` as JSON, to produce as it is.
    pub envelope: Vec<u8>,
}

/// The insert of one audit (and outbox) event.
pub(crate) const INSERT_EVENT: &str = "INSERT INTO ticket_events (event_id, ticket_id, company, action, from_status, \
     to_status, actor_role, actor_id, request_id, envelope, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (event_id) DO NOTHING";

/// Writes an audit event in the transaction `$transaction` (either
/// database): `$event` is a [`NewEvent`], `$now` the time in microseconds.
macro_rules! insert_event {
    ($transaction:expr, $event:expr, $now:expr) => {{
        let event: $crate::transitions::NewEvent<'_> = $event;
        let envelope = event.envelope_json()?;
        sqlx::query($crate::transitions::INSERT_EVENT)
            .bind(event.event_id.0)
            .bind(event.ticket_id.0)
            .bind(event.company.as_str())
            .bind(event.action)
            .bind(event.from.as_str())
            .bind(event.to.as_str())
            .bind(event.actor.role.as_str())
            .bind(event.actor.account.map(|account| account.0))
            .bind(event.request_id)
            .bind(envelope)
            .bind($now)
            .execute(&mut *$transaction)
            .await?
    }};
}
pub(crate) use insert_event;

/// One audit event to write with [`insert_event!`].
pub(crate) struct NewEvent<'a> {
    pub event_id: EventId,
    pub ticket_id: TicketId,
    pub company: &'a switchboard_core::CompanyId,
    pub action: &'a str,
    pub from: Status,
    pub to: Status,
    pub actor: Actor,
    pub request_id: Option<&'a str>,
    pub event: TicketEvent,
}

impl NewEvent<'_> {
    /// The `Envelope<TicketEvent>` the outbox relays, as JSON.
    pub(crate) fn envelope_json(&self) -> Result<Vec<u8>> {
        let envelope = Envelope {
            event_id: self.event_id,
            ..Envelope::new(self.ticket_id, self.company.clone(), self.request_id.map(str::to_owned), &self.event)
        };
        serde_json::to_vec(&envelope).map_err(|error| Error::Corrupt(error.to_string()))
    }
}

#[derive(sqlx::FromRow)]
struct EarlierTransition {
    from_status: String,
    to_status: String,
}

/// `seq IN ($…)` for the outbox rows `seqs`.
fn push_seq_in<'args, DB>(query: &mut sqlx::QueryBuilder<'args, DB>, seqs: &[i64])
where
    DB: sqlx::Database,
    i64: sqlx::Encode<'args, DB> + sqlx::Type<DB>,
{
    query.push("seq IN (");
    let mut separated = query.separated(", ");
    for seq in seqs {
        separated.push_bind(*seq);
    }
    query.push(")");
}

impl EarlierTransition {
    /// The outcome of a request carried out before, returned again.
    fn replayed(self, ticket: Ticket, event_id: EventId) -> Result<Transitioned> {
        let parse =
            |text: &str| Status::parse(text).ok_or_else(|| Error::Corrupt(format!("ticket event status `{text}`")));
        Ok(Transitioned {
            ticket,
            from: parse(&self.from_status)?,
            to: parse(&self.to_status)?,
            event_id,
            replayed: true,
        })
    }
}

impl Store {
    /// Takes `request.action` on a ticket inside `scope` as `request.actor`;
    /// see the module documentation. Errors: [`Error::TicketNotFound`] (no
    /// such ticket in the scope), [`Error::Transition`] (not allowed from
    /// the current status or for the role, or a race lost).
    #[tracing::instrument(skip_all, fields(ticket_id = %request.ticket_id, action = request.action.as_str()))]
    pub async fn transition(&self, scope: &Scope, request: TransitionRequest) -> Result<Transitioned> {
        let now = now_micros();
        let transitioned = on_pool!(&self.writer, |pool| {
            let mut transaction = pool.begin_write().await?;
            let earlier: Option<EarlierTransition> = sqlx::query_as(
                "SELECT from_status, to_status FROM ticket_events WHERE event_id = $1 AND ticket_id = $2",
            )
            .bind(request.event_id.0)
            .bind(request.ticket_id.0)
            .fetch_optional(&mut *transaction)
            .await?;
            let mut select = sqlx::QueryBuilder::new(format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE id = "));
            select.push_bind(request.ticket_id.0);
            push_scope(&mut select, scope);
            let row: Option<TicketRow> = select.build_query_as().fetch_optional(&mut *transaction).await?;
            let mut ticket = Ticket::try_from(row.ok_or(Error::TicketNotFound)?)?;
            if let Some(earlier) = earlier {
                transaction.commit().await?;
                return earlier.replayed(ticket, request.event_id);
            }
            let from = ticket.status;
            let allowed = lifecycle::apply(from, request.action, request.actor.role);
            if let Err(refusal @ TransitionError::Forbidden { .. }) = allowed {
                return Err(Error::Transition(refusal));
            }
            let answer = match &request.details {
                TransitionDetails::FaqAnswer(answer) => Some(answer.clone()),
                _ => None,
            };
            let (assignee, vehicle) = match &request.details {
                TransitionDetails::Assignment { assignee, vehicle } => (Some(*assignee), *vehicle),
                _ => (None, None),
            };
            let answer_json = answer
                .as_ref()
                .map(|answer| serde_json::to_string(answer).map_err(|error| Error::Corrupt(error.to_string())))
                .transpose()?;
            let updated = match allowed {
                Ok(to) => sqlx::query(
                    "UPDATE tickets SET status = $1, updated_at = $2, answered_by_faq = COALESCE($3, answered_by_faq), \
                     assignee_id = COALESCE($6, assignee_id), vehicle_id = COALESCE($7, vehicle_id) \
                     WHERE id = $4 AND status = $5",
                )
                .bind(to.as_str())
                .bind(now)
                .bind(&answer_json)
                .bind(request.ticket_id.0)
                .bind(from.as_str())
                .bind(assignee.map(|id| id.0))
                .bind(vehicle.map(|id| id.0))
                .execute(&mut *transaction)
                .await?
                .rows_affected(),
                Err(_) => 0,
            };
            if updated != 1 {
                // The ticket may have moved because this very request was
                // carried out meanwhile (a redelivery racing the first
                // delivery): that is its outcome, not a refusal.
                let carried_out: Option<EarlierTransition> =
                    sqlx::query_as("SELECT from_status, to_status FROM ticket_events WHERE event_id = $1")
                        .bind(request.event_id.0)
                        .fetch_optional(&mut *transaction)
                        .await?;
                if let Some(earlier) = carried_out {
                    transaction.commit().await?;
                    return earlier.replayed(ticket, request.event_id);
                }
                return Err(Error::Transition(match allowed {
                    // The row left `from` between the read and the update.
                    Ok(_) => TransitionError::Conflict { from, action: request.action },
                    Err(refusal) => refusal,
                }));
            }
            let to = allowed.map_err(Error::Transition)?;
            let mut details = request.details;
            if request.action == Action::Resolve {
                // Only with the customer's approval; the report is then a
                // past solution, and the event carries it.
                let row: Option<ReportRow> = sqlx::query_as(&format!(
                    "SELECT {REPORT_COLUMNS} FROM ticket_reports WHERE ticket_id = $1 AND state = 'approved'"
                ))
                .bind(ticket.id.0)
                .fetch_optional(&mut *transaction)
                .await?;
                let Some(row) = row else {
                    return Err(Error::Refused {
                        code: "report_not_approved",
                        message: "a ticket is resolved once the customer approved the assignee's report".into(),
                    });
                };
                sqlx::query("UPDATE ticket_reports SET state = 'resolved', updated_at = $1 WHERE ticket_id = $2")
                    .bind(now)
                    .bind(ticket.id.0)
                    .execute(&mut *transaction)
                    .await?;
                details = TransitionDetails::Report(row.report()?);
            }
            ticket.status = to;
            if let Some(assignee) = assignee {
                ticket.assignee = Some(assignee);
                ticket.vehicle = vehicle.or(ticket.vehicle);
            }
            if answer.is_some() {
                ticket.answered_by_faq = answer;
            }
            let event = TicketEvent::of_transition(ticket.clone(), from, request.action, request.actor, details);
            insert_event!(
                transaction,
                NewEvent {
                    event_id: request.event_id,
                    ticket_id: ticket.id,
                    company: &ticket.company,
                    action: request.action.as_str(),
                    from,
                    to,
                    actor: request.actor,
                    request_id: request.request_id.as_deref(),
                    event,
                },
                now
            );
            transaction.commit().await?;
            Ok::<_, Error>(Transitioned { ticket, from, to, event_id: request.event_id, replayed: false })
        })?;
        if !transitioned.replayed {
            self.outbox_written.notify_one();
        }
        Ok(transitioned)
    }

    /// Gives an opened or in-progress ticket another assignee and vehicle
    /// (a new ticket gets its first one with the `open` transition). In one
    /// transaction with its audit event (action `assign`, status unchanged).
    /// A ticket in another status is [`Error::Transition`] `InvalidTransition`
    /// for `open`, the move that assigns it.
    pub async fn reassign(
        &self,
        scope: &Scope,
        request: &TransitionRequest,
        assignee: AccountId,
        vehicle: Option<VehicleId>,
    ) -> Result<Ticket> {
        let now = now_micros();
        let ticket = on_pool!(&self.writer, |pool| {
            let mut transaction = pool.begin_write().await?;
            let mut select = sqlx::QueryBuilder::new(format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE id = "));
            select.push_bind(request.ticket_id.0);
            push_scope(&mut select, scope);
            let row: Option<TicketRow> = select.build_query_as().fetch_optional(&mut *transaction).await?;
            let mut ticket = Ticket::try_from(row.ok_or(Error::TicketNotFound)?)?;
            let status = ticket.status;
            if !matches!(status, Status::Opened | Status::InProgress) {
                return Err(Error::Transition(TransitionError::InvalidTransition {
                    from: status,
                    action: Action::Open,
                }));
            }
            let updated = sqlx::query(
                "UPDATE tickets SET assignee_id = $1, vehicle_id = $2, updated_at = $3 WHERE id = $4 AND status = $5",
            )
            .bind(assignee.0)
            .bind(vehicle.map(|id| id.0))
            .bind(now)
            .bind(request.ticket_id.0)
            .bind(status.as_str())
            .execute(&mut *transaction)
            .await?
            .rows_affected();
            if updated != 1 {
                return Err(Error::Transition(TransitionError::Conflict { from: status, action: Action::Open }));
            }
            ticket.assignee = Some(assignee);
            ticket.vehicle = vehicle;
            let event =
                TicketEvent::Assigned { ticket: Box::new(ticket.clone()), assignee, vehicle, actor: request.actor };
            insert_event!(
                transaction,
                NewEvent {
                    event_id: request.event_id,
                    ticket_id: ticket.id,
                    company: &ticket.company,
                    action: "assign",
                    from: status,
                    to: status,
                    actor: request.actor,
                    request_id: request.request_id.as_deref(),
                    event,
                },
                now
            );
            transaction.commit().await?;
            Ok::<_, Error>(ticket)
        })?;
        self.outbox_written.notify_one();
        Ok(ticket)
    }

    /// A ticket's audit trail inside `scope`, oldest first.
    pub async fn ticket_events(&self, scope: &Scope, ticket_id: TicketId) -> Result<Vec<AuditEvent>> {
        type Row = (i64, Uuid, Uuid, String, String, String, String, Option<Uuid>, Option<String>, i64, Option<i64>);
        let rows: Vec<Row> = on_pool!(&self.db, |pool| {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT seq, event_id, ticket_id, action, from_status, to_status, actor_role, actor_id, request_id, \
                 created_at, relayed_at FROM ticket_events WHERE ticket_id = ",
            );
            query.push_bind(ticket_id.0);
            push_scope(&mut query, scope);
            query.push(" ORDER BY seq");
            query.build_query_as().fetch_all(pool).await
        })?;
        Ok(rows
            .into_iter()
            .map(
                |(
                    seq,
                    event_id,
                    ticket_id,
                    action,
                    from,
                    to,
                    actor_role,
                    actor_id,
                    request_id,
                    created_at,
                    relayed_at,
                )| AuditEvent {
                    seq,
                    event_id: EventId(event_id),
                    ticket_id: TicketId(ticket_id),
                    action,
                    from,
                    to,
                    actor_role,
                    actor_account: actor_id.map(AccountId),
                    request_id,
                    created_at_micros: created_at,
                    relayed: relayed_at.is_some(),
                },
            )
            .collect())
    }

    /// Whether any event waits to be relayed: a read, so an idle relay never
    /// takes the write lock (SQLite has one writer, which the bus log needs).
    pub async fn outbox_pending(&self) -> Result<bool> {
        let found: Option<i64> = on_pool!(&self.db, |pool| sqlx::query_scalar(
            "SELECT seq FROM ticket_events WHERE relayed_at IS NULL LIMIT 1"
        )
        .fetch_optional(pool)
        .await)?;
        Ok(found.is_some())
    }

    /// Claims up to `limit` unrelayed events, oldest first, for `lease_micros`
    /// (another relay skips them meanwhile; if this one dies, they come back
    /// once the lease runs out).
    pub async fn outbox_claim(&self, limit: u32, lease_micros: i64) -> Result<Vec<OutboxRecord>> {
        let now = now_micros();
        type Row = (i64, Uuid, Uuid, Option<String>, Vec<u8>);
        let mut rows: Vec<Row> = on_pool!(&self.writer, |pool| sqlx::query_as(
            "UPDATE ticket_events SET claimed_until = $1 \
             WHERE seq IN (SELECT seq FROM ticket_events WHERE relayed_at IS NULL \
                           AND (claimed_until IS NULL OR claimed_until < $2) ORDER BY seq LIMIT $3) \
             AND relayed_at IS NULL AND (claimed_until IS NULL OR claimed_until < $2) \
             RETURNING seq, ticket_id, event_id, request_id, envelope"
        )
        .bind(now.saturating_add(lease_micros))
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)?;
        rows.sort_by_key(|(seq, ..)| *seq);
        Ok(rows
            .into_iter()
            .map(|(seq, ticket_id, event_id, request_id, envelope)| OutboxRecord {
                seq,
                ticket_id: TicketId(ticket_id),
                event_id: EventId(event_id),
                request_id,
                envelope,
            })
            .collect())
    }

    /// Marks relayed events done.
    pub async fn outbox_mark_relayed(&self, seqs: &[i64]) -> Result<()> {
        if seqs.is_empty() {
            return Ok(());
        }
        let now = now_micros();
        on_pool!(&self.writer, |pool| {
            let mut query = sqlx::QueryBuilder::new("UPDATE ticket_events SET relayed_at = ");
            query.push_bind(now).push(", claimed_until = NULL WHERE ");
            push_seq_in(&mut query, seqs);
            query.build().execute(pool).await.map(|_| ())
        })?;
        Ok(())
    }

    /// Gives claimed events back before their lease runs out (a relay that
    /// could not send them), so the next claim retries them at once.
    pub async fn outbox_release(&self, seqs: &[i64]) -> Result<()> {
        if seqs.is_empty() {
            return Ok(());
        }
        on_pool!(&self.writer, |pool| {
            let mut query = sqlx::QueryBuilder::new("UPDATE ticket_events SET claimed_until = NULL WHERE ");
            push_seq_in(&mut query, seqs);
            query.push(" AND relayed_at IS NULL");
            query.build().execute(pool).await.map(|_| ())
        })?;
        Ok(())
    }

    /// Resolves when a transition in this process may have written an
    /// outbox row (the relay's wake-up; other processes' writes are found by
    /// its poll).
    pub async fn outbox_written(&self) {
        self.outbox_written.notified().await;
    }
}
