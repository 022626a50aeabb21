//! The assignee's report and its approval, the conversation on a ticket,
//! and deleting a closed ticket. Each change writes its audit event
//! (`ticket_events`, relayed to `tickets.events`) in the same transaction.
//!
//! A report goes `draft` → `submitted` → `approved` (the customer, with
//! their password) or `rejected` (back to the assignee, who edits and
//! submits again) → `resolved` (the `resolve` transition, which only an
//! approved report allows; from then on it is a past solution).

use switchboard_core::events::{Labels, Report, TicketEvent, TicketMessage};
use switchboard_core::lifecycle::Actor;
use switchboard_core::{Attachment, EventId, Scope, Status, Ticket, TicketId, Urgency};
use uuid::Uuid;

use crate::Store;
use crate::attachments::record_attachments;
use crate::db::{BeginWrite, from_micros, now_micros, on_pool};
use crate::dispatch::{TicketTravel, TravelRow};
use crate::error::{Error, Result};
use crate::knowledge::{REPORT_COLUMNS, ReportRow};
use crate::tickets::{TICKET_COLUMNS, TicketRow, push_scope};
use crate::transitions::{NewEvent, insert_event};

/// Where a report is in its approval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportState {
    Draft,
    Submitted,
    Approved,
    Rejected,
    /// The ticket was resolved with it.
    Resolved,
}

impl ReportState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportState::Draft => "draft",
            ReportState::Submitted => "submitted",
            ReportState::Approved => "approved",
            ReportState::Rejected => "rejected",
            ReportState::Resolved => "resolved",
        }
    }

    fn parse(text: &str) -> Result<Self> {
        [Self::Draft, Self::Submitted, Self::Approved, Self::Rejected, Self::Resolved]
            .into_iter()
            .find(|state| state.as_str() == text)
            .ok_or_else(|| Error::Corrupt(format!("report state `{text}`")))
    }
}

/// A ticket's report as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportRecord {
    pub ticket_id: TicketId,
    pub report: Report,
    pub state: ReportState,
    /// Why the customer rejected it, while it is rejected.
    pub rejection_reason: Option<String>,
}

/// Who asks, for the audit event.
#[derive(Clone, Debug, PartialEq)]
pub struct Change<'a> {
    pub ticket_id: TicketId,
    pub actor: Actor,
    pub request_id: Option<&'a str>,
}

fn refused(code: &'static str, message: impl Into<String>) -> Error {
    Error::Refused { code, message: message.into() }
}

impl Store {
    /// The ticket's report, if it has one (inside `scope`).
    pub async fn report(&self, scope: &Scope, ticket_id: TicketId) -> Result<Option<ReportRecord>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            report: ReportRow,
            state: String,
            rejection_reason: Option<String>,
        }
        let row: Option<Row> = on_pool!(&self.db, |pool| {
            let mut query = sqlx::QueryBuilder::new(format!(
                "SELECT {REPORT_COLUMNS}, state, rejection_reason FROM ticket_reports WHERE ticket_id = "
            ));
            query.push_bind(ticket_id.0);
            push_scope(&mut query, scope);
            query.build_query_as().fetch_optional(pool).await
        })?;
        row.map(|row| {
            Ok(ReportRecord {
                ticket_id,
                report: row.report.report()?,
                state: ReportState::parse(&row.state)?,
                rejection_reason: row.rejection_reason,
            })
        })
        .transpose()
    }

    /// Saves the assignee's report on an in-progress ticket, as a draft or
    /// submitted for approval. An approved report is final
    /// ([`Error::Refused`] `report_locked`).
    pub async fn save_report(
        &self,
        scope: &Scope,
        change: Change<'_>,
        report: &Report,
        submit: bool,
    ) -> Result<ReportRecord> {
        let now = now_micros();
        let state = if submit { ReportState::Submitted } else { ReportState::Draft };
        let parts = serde_json::to_string(&report.parts).map_err(|error| Error::Corrupt(error.to_string()))?;
        let minutes = |value: Option<u32>| value.map(|minutes| i32::try_from(minutes).unwrap_or(i32::MAX));
        let stored = on_pool!(&self.writer, |pool| {
            let mut transaction = pool.begin_write().await?;
            let ticket = locked_ticket(&mut transaction, scope, change.ticket_id).await?;
            // The equipment defaults to the ticket's.
            let equipment = ticket.equipment.as_ref();
            // Travel defaults to the estimate taken at assignment, when the
            // report gives neither time nor distance.
            let estimated: Option<TravelRow> = if report.travel_minutes.is_none() && report.travel_distance_m.is_none()
            {
                sqlx::query_as("SELECT distance_m, duration_s, source FROM ticket_travel WHERE ticket_id = $1")
                    .bind(ticket.id.0)
                    .fetch_optional(&mut *transaction)
                    .await?
            } else {
                None
            };
            let estimated = estimated.map(TicketTravel::from_row);
            let report = Report {
                travel_minutes: report.travel_minutes.or(estimated.as_ref().map(TicketTravel::minutes)),
                travel_distance_m: report.travel_distance_m.or(estimated.as_ref().map(|travel| travel.distance_m)),
                travel_source: estimated.map(|travel| travel.source),
                equipment_model: report.equipment_model.clone().or(equipment.map(|equipment| equipment.model.clone())),
                equipment_serial: report
                    .equipment_serial
                    .clone()
                    .or(equipment.and_then(|equipment| equipment.serial.clone())),
                ..report.clone()
            };
            if ticket.status != Status::InProgress {
                return Err(refused(
                    "invalid_transition",
                    format!("a report is written while the ticket is in progress; it is {}", ticket.status),
                ));
            }
            let current: Option<String> = sqlx::query_scalar("SELECT state FROM ticket_reports WHERE ticket_id = $1")
                .bind(ticket.id.0)
                .fetch_optional(&mut *transaction)
                .await?;
            if let Some(current) = current.as_deref().map(ReportState::parse).transpose()?
                && matches!(current, ReportState::Approved | ReportState::Resolved)
            {
                return Err(refused("report_locked", "the customer approved this report; it cannot change now"));
            }
            sqlx::query(
                "INSERT INTO ticket_reports (ticket_id, company, title, malfunction, solution, parts, \
                 time_spent_minutes, travel_minutes, travel_distance_m, travel_source, equipment_model, \
                 equipment_serial, notes, state, author_id, rejection_reason, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $15, $16, $9, $10, $11, $12, $13, NULL, $14, $14) \
                 ON CONFLICT (ticket_id) DO UPDATE SET malfunction = excluded.malfunction, \
                 solution = excluded.solution, parts = excluded.parts, \
                 time_spent_minutes = excluded.time_spent_minutes, travel_minutes = excluded.travel_minutes, \
                 travel_distance_m = excluded.travel_distance_m, travel_source = excluded.travel_source, \
                 equipment_model = excluded.equipment_model, equipment_serial = excluded.equipment_serial, \
                 notes = excluded.notes, state = excluded.state, author_id = excluded.author_id, \
                 rejection_reason = NULL, updated_at = excluded.updated_at",
            )
            .bind(ticket.id.0)
            .bind(ticket.company.as_str())
            .bind(&ticket.title)
            .bind(&report.malfunction)
            .bind(&report.solution)
            .bind(&parts)
            .bind(minutes(report.time_spent_minutes))
            .bind(minutes(report.travel_minutes))
            .bind(&report.equipment_model)
            .bind(&report.equipment_serial)
            .bind(&report.notes)
            .bind(state.as_str())
            .bind(change.actor.account.map(|account| account.0))
            .bind(now)
            .bind(report.travel_distance_m.map(|metres| i32::try_from(metres).unwrap_or(i32::MAX)))
            .bind(&report.travel_source)
            .execute(&mut *transaction)
            .await?;
            let event = TicketEvent::ReportSaved {
                ticket: Box::new(ticket.clone()),
                report: report.clone(),
                submitted: submit,
                actor: change.actor,
            };
            let action = if submit { "submit_report" } else { "save_report" };
            insert_event!(transaction, audit(&ticket, &change, action, event), now);
            transaction.commit().await?;
            Ok::<_, Error>(report)
        })?;
        self.outbox_written.notify_one();
        Ok(ReportRecord { ticket_id: change.ticket_id, report: stored, state, rejection_reason: None })
    }

    /// The customer's decision on a submitted report: approved, or rejected
    /// with `reason` (back to the assignee). Anything but a submitted report
    /// is [`Error::Refused`] `report_not_submitted`.
    pub async fn decide_report(
        &self,
        scope: &Scope,
        change: Change<'_>,
        approved: bool,
        reason: Option<&str>,
    ) -> Result<ReportRecord> {
        let now = now_micros();
        let state = if approved { ReportState::Approved } else { ReportState::Rejected };
        on_pool!(&self.writer, |pool| {
            let mut transaction = pool.begin_write().await?;
            let ticket = locked_ticket(&mut transaction, scope, change.ticket_id).await?;
            let updated = sqlx::query(
                "UPDATE ticket_reports SET state = $1, rejection_reason = $2, updated_at = $3 \
                 WHERE ticket_id = $4 AND state = 'submitted'",
            )
            .bind(state.as_str())
            .bind(reason)
            .bind(now)
            .bind(ticket.id.0)
            .execute(&mut *transaction)
            .await?
            .rows_affected();
            if updated != 1 {
                return Err(refused("report_not_submitted", "there is no submitted report to approve or reject"));
            }
            let event = TicketEvent::ReportDecided {
                ticket: Box::new(ticket.clone()),
                approved,
                reason: reason.map(str::to_owned),
                actor: change.actor,
            };
            let action = if approved { "approve_report" } else { "reject_report" };
            insert_event!(transaction, audit(&ticket, &change, action, event), now);
            transaction.commit().await?;
            Ok::<_, Error>(())
        })?;
        self.outbox_written.notify_one();
        self.report(scope, change.ticket_id).await?.ok_or(Error::TicketNotFound)
    }

    /// Adds a reply or an internal note to a ticket's conversation.
    pub async fn add_message(
        &self,
        scope: &Scope,
        change: Change<'_>,
        internal: bool,
        body: &str,
    ) -> Result<TicketMessage> {
        let now = now_micros();
        let message = TicketMessage {
            id: EventId::new(),
            author: change.actor.account,
            author_role: change.actor.role,
            internal,
            body: body.to_owned(),
            created_at: from_micros(now)?,
        };
        on_pool!(&self.writer, |pool| {
            let mut transaction = pool.begin_write().await?;
            let ticket = locked_ticket(&mut transaction, scope, change.ticket_id).await?;
            insert_message!(transaction, ticket, change, message, now);
            transaction.commit().await?;
            Ok::<_, Error>(())
        })?;
        self.outbox_written.notify_one();
        Ok(message)
    }

    /// A reply that came by e-mail, with its files: recorded once per
    /// Message-ID (`None` when this mail was recorded before).
    pub async fn add_mail_reply(
        &self,
        scope: &Scope,
        change: Change<'_>,
        mail: &MailReply<'_>,
    ) -> Result<Option<TicketMessage>> {
        let now = now_micros();
        let message = TicketMessage {
            id: EventId::new(),
            author: change.actor.account,
            author_role: change.actor.role,
            internal: mail.internal,
            body: mail.body.to_owned(),
            created_at: from_micros(now)?,
        };
        let added = on_pool!(&self.writer, |pool| {
            let mut transaction = pool.begin_write().await?;
            let ticket = locked_ticket(&mut transaction, scope, change.ticket_id).await?;
            let first = sqlx::query(
                "INSERT INTO inbound_mails (company, message_id, ticket_id, sender, received_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (company, message_id) DO NOTHING",
            )
            .bind(ticket.company.as_str())
            .bind(mail.message_id)
            .bind(ticket.id.0)
            .bind(mail.sender)
            .bind(now)
            .execute(&mut *transaction)
            .await?
            .rows_affected()
                == 1;
            if first {
                insert_message!(transaction, ticket, change, message, now);
                record_attachments!(transaction, ticket, mail.attachments, Some(message.id.0), now);
                transaction.commit().await?;
            }
            Ok::<_, Error>(first)
        })?;
        if !added {
            return Ok(None);
        }
        self.outbox_written.notify_one();
        Ok(Some(message))
    }

    /// The ticket's conversation, oldest first; internal notes only when
    /// `with_internal`.
    pub async fn messages(
        &self,
        scope: &Scope,
        ticket_id: TicketId,
        with_internal: bool,
    ) -> Result<Vec<TicketMessage>> {
        type Row = (Uuid, Option<Uuid>, String, bool, String, i64);
        let rows: Vec<Row> = on_pool!(&self.db, |pool| {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT id, author_id, author_role, internal, body, created_at FROM ticket_messages WHERE ticket_id = ",
            );
            query.push_bind(ticket_id.0);
            push_scope(&mut query, scope);
            if !with_internal {
                query.push(" AND internal = ").push_bind(false);
            }
            query.push(" ORDER BY id");
            query.build_query_as().fetch_all(pool).await
        })?;
        rows.into_iter()
            .map(|(id, author, role, internal, body, created_at)| {
                Ok(TicketMessage {
                    id: EventId(id),
                    author: author.map(switchboard_core::AccountId),
                    author_role: switchboard_core::Role::parse(&role)
                        .ok_or_else(|| Error::Corrupt(format!("message {id}: role `{role}`")))?,
                    internal,
                    body,
                    created_at: from_micros(created_at)?,
                })
            })
            .collect()
    }

    /// Staff set or corrected a ticket's category and/or urgency (stages
    /// never overwrite these), with a `correct_labels` audit event holding
    /// the labels before and after. False if there is no such ticket in
    /// `scope`.
    pub async fn set_staff_labels(
        &self,
        scope: &Scope,
        change: Change<'_>,
        category: Option<&str>,
        urgency: Option<Urgency>,
    ) -> Result<bool> {
        let now = now_micros();
        let changed = on_pool!(&self.writer, |pool| {
            let mut transaction = pool.begin_write().await?;
            let before = match locked_ticket(&mut transaction, scope, change.ticket_id).await {
                Ok(ticket) => ticket,
                Err(Error::TicketNotFound) => return Ok(false),
                Err(error) => return Err(error),
            };
            if let Some(category) = category {
                sqlx::query(
                    "UPDATE tickets SET category = $1, category_source = 'staff', updated_at = $2 WHERE id = $3",
                )
                .bind(category)
                .bind(now)
                .bind(before.id.0)
                .execute(&mut *transaction)
                .await?;
            }
            if let Some(urgency) = urgency {
                sqlx::query("UPDATE tickets SET urgency = $1, urgency_source = 'staff', updated_at = $2 WHERE id = $3")
                    .bind(urgency.as_str())
                    .bind(now)
                    .bind(before.id.0)
                    .execute(&mut *transaction)
                    .await?;
            }
            let after = Labels {
                category: category.map(str::to_owned).or(before.category.clone()),
                urgency: urgency.or(before.urgency),
            };
            let event = TicketEvent::LabelsCorrected {
                ticket: Box::new(before.clone()),
                before: Labels { category: before.category.clone(), urgency: before.urgency },
                after,
                actor: change.actor,
            };
            insert_event!(transaction, audit(&before, &change, "correct_labels", event), now);
            transaction.commit().await?;
            Ok::<_, Error>(true)
        })?;
        if changed {
            self.outbox_written.notify_one();
        }
        Ok(changed)
    }

    /// Deletes a closed ticket with its tags, messages and report, leaving
    /// its audit trail and a `delete` tombstone event. Another status is
    /// [`Error::Refused`] `not_closed`.
    pub async fn delete_ticket(&self, scope: &Scope, change: Change<'_>) -> Result<()> {
        let now = now_micros();
        on_pool!(&self.writer, |pool| {
            let mut transaction = pool.begin_write().await?;
            let ticket = locked_ticket(&mut transaction, scope, change.ticket_id).await?;
            if ticket.status != Status::Closed {
                return Err(refused(
                    "not_closed",
                    format!("only a closed ticket can be deleted; it is {}", ticket.status),
                ));
            }
            // Webhook messages, mails and the live feed hold the ticket; the
            // messages' log goes with them.
            for table in [
                "ticket_messages",
                "ticket_tags",
                "ticket_reports",
                "ticket_travel",
                "webhook_attempts",
                "webhook_messages",
                "mails",
                "live_events",
            ] {
                sqlx::query(&format!("DELETE FROM {table} WHERE ticket_id = $1"))
                    .bind(ticket.id.0)
                    .execute(&mut *transaction)
                    .await?;
            }
            sqlx::query("DELETE FROM tickets WHERE id = $1 AND status = 'closed'")
                .bind(ticket.id.0)
                .execute(&mut *transaction)
                .await?;
            let event = TicketEvent::Deleted { ticket_id: ticket.id, actor: change.actor };
            insert_event!(transaction, audit(&ticket, &change, "delete", event), now);
            transaction.commit().await?;
            Ok::<_, Error>(())
        })?;
        self.outbox_written.notify_one();
        Ok(())
    }
}

/// The audit event of a change that keeps the ticket's status.
fn audit<'a>(ticket: &'a Ticket, change: &Change<'a>, action: &'a str, event: TicketEvent) -> NewEvent<'a> {
    NewEvent {
        event_id: EventId::new(),
        ticket_id: ticket.id,
        company: &ticket.company,
        action,
        from: ticket.status,
        to: ticket.status,
        actor: change.actor,
        request_id: change.request_id,
        event,
    }
}

/// What a reply by e-mail brings besides its text's author.
#[derive(Clone, Copy, Debug)]
pub struct MailReply<'a> {
    /// The mail's `Message-ID` (without brackets).
    pub message_id: &'a str,
    /// The sender's address, lowercase.
    pub sender: &'a str,
    pub body: &'a str,
    /// Its files, already in the file store.
    pub attachments: &'a [Attachment],
    /// Kept for staff only (automatic mail kept on its ticket).
    pub internal: bool,
}

/// Inserts `$message` (a reply or a note) and its audit event.
macro_rules! insert_message {
    ($transaction:expr, $ticket:expr, $change:expr, $message:expr, $now:expr) => {
        sqlx::query(
            "INSERT INTO ticket_messages (id, ticket_id, company, author_id, author_role, internal, body, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind($message.id.0)
        .bind($ticket.id.0)
        .bind($ticket.company.as_str())
        .bind($message.author.map(|account| account.0))
        .bind($message.author_role.as_str())
        .bind($message.internal)
        .bind(&$message.body)
        .bind($now)
        .execute(&mut *$transaction)
        .await?;
        let action = if $message.internal { "add_note" } else { "add_reply" };
        let event = TicketEvent::MessageAdded { ticket: Box::new($ticket.clone()), message: $message.clone() };
        insert_event!($transaction, audit(&$ticket, &$change, action, event), $now);
    };
}
use insert_message;

/// Reads the ticket inside `scope` in the transaction (on PostgreSQL with
/// `FOR UPDATE`, so concurrent changes to one ticket serialise; SQLite has
/// one writer anyway).
macro_rules! locked_ticket_body {
    ($transaction:expr, $scope:expr, $id:expr, $lock:expr) => {{
        let mut select = sqlx::QueryBuilder::new(format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE id = "));
        select.push_bind($id.0);
        push_scope(&mut select, $scope);
        select.push($lock);
        let row: Option<TicketRow> = select.build_query_as().fetch_optional(&mut *$transaction).await?;
        Ticket::try_from(row.ok_or(Error::TicketNotFound)?)
    }};
}

pub(crate) trait LockedTicket {
    async fn locked(&mut self, scope: &Scope, id: TicketId) -> Result<Ticket>;
}

impl LockedTicket for sqlx::Transaction<'_, sqlx::Sqlite> {
    async fn locked(&mut self, scope: &Scope, id: TicketId) -> Result<Ticket> {
        locked_ticket_body!(*self, scope, id, "")
    }
}

impl LockedTicket for sqlx::Transaction<'_, sqlx::Postgres> {
    async fn locked(&mut self, scope: &Scope, id: TicketId) -> Result<Ticket> {
        locked_ticket_body!(*self, scope, id, " FOR UPDATE")
    }
}

pub(crate) async fn locked_ticket<T: LockedTicket>(transaction: &mut T, scope: &Scope, id: TicketId) -> Result<Ticket> {
    transaction.locked(scope, id).await
}
