//! The ticket repository.

use switchboard_core::EventId;
use switchboard_core::events::{TicketEvent, Triage, UrgencySource};
use switchboard_core::filter::{self, Query};
use switchboard_core::ids::{AccountId, ServerId, TeamId, VehicleId};
use switchboard_core::lifecycle::Actor;
use switchboard_core::{Channel, CompanyId, Equipment, Requester, Scope, Status, Ticket, TicketId, Urgency};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Store;
use crate::attachments::record_attachments;
use crate::db::{BeginWrite, from_micros, now_micros, on_pool, to_micros};
use crate::deliveries::{RoutingRecord, routing_record};
use crate::error::{Error, Result};
use crate::transitions::{NewEvent, insert_event};

/// Largest page `list_tickets` returns, whatever the caller asks for.
pub const MAX_PAGE_SIZE: u32 = 500;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InsertOutcome {
    Inserted,
    /// A ticket with this id was already there; nothing changed.
    AlreadyExisted,
}

/// Which stage's view of a ticket to apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProjectionKind {
    /// `tickets.submitted`: create the ticket if it is not there.
    Submitted,
    /// `tickets.triaged`: also set the triage (and the category and urgency
    /// unless staff set them).
    Triaged,
    /// `tickets.matched`: also set the suggestions. (An auto-answer is a
    /// transition: `Store::transition` writes the status and the answer.)
    Matched,
}

impl ProjectionKind {
    fn on_conflict(self) -> &'static str {
        match self {
            ProjectionKind::Submitted => "ON CONFLICT (id) DO NOTHING",
            ProjectionKind::Triaged => TRIAGE_UPDATE,
            ProjectionKind::Matched => MATCH_UPDATE,
        }
    }
}

/// One ticket as a stage reported it.
#[derive(Clone, Copy, Debug)]
pub struct Projection<'a> {
    pub kind: ProjectionKind,
    pub ticket: &'a Ticket,
    /// Write the ticket's `create` audit event (once per ticket, however
    /// often the submission is projected): the projector's submissions do.
    pub audit_creation: bool,
    /// Who filed it (as ingest recorded), for that event.
    pub filed_by: Option<Actor>,
    pub request_id: Option<&'a str>,
}

impl<'a> Projection<'a> {
    /// A projection that says nothing of who filed the ticket.
    pub fn of(kind: ProjectionKind, ticket: &'a Ticket) -> Self {
        Self { kind, ticket, audit_creation: false, filed_by: None, request_id: None }
    }
}

/// Creates a ticket's row. A ticket whose requester's account was deleted
/// before the row was first written (its events were still in flight) is
/// stored without the address, as deletion left the others.
const INSERT_TICKET: &str = "INSERT INTO tickets (id, company, title, description, requester_email, requester_name, \
     channel, tags, equipment_model, equipment_serial, created_at, updated_at, status, urgency, category, server_id, \
     team_id, assignee_id, triage, needs_human_triage, category_source, urgency_source, suggestions, answered_by_faq, \
     requester_account, search_text, requester_domain, category_confidence, urgency_confidence) \
     VALUES ($1, $2, $3, $4, \
     CASE WHEN EXISTS (SELECT 1 FROM accounts WHERE id = $25 AND deleted_at IS NOT NULL) THEN '' ELSE $5 END, \
     CASE WHEN EXISTS (SELECT 1 FROM accounts WHERE id = $25 AND deleted_at IS NOT NULL) THEN NULL ELSE $6 END, \
     $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, \
     CASE WHEN EXISTS (SELECT 1 FROM accounts WHERE id = $25 AND deleted_at IS NOT NULL) THEN NULL ELSE $27 END, \
     $28, $29)";

const TRIAGE_UPDATE: &str = "ON CONFLICT (id) DO UPDATE SET \
     triage = excluded.triage, \
     needs_human_triage = excluded.needs_human_triage, \
     category = CASE WHEN tickets.category_source = 'staff' THEN tickets.category ELSE excluded.category END, \
     category_source = CASE WHEN tickets.category_source = 'staff' THEN 'staff' ELSE excluded.category_source END, \
     urgency = CASE WHEN tickets.urgency_source IN ('staff', 'routing') THEN tickets.urgency ELSE excluded.urgency END, \
     urgency_source = CASE WHEN tickets.urgency_source IN ('staff', 'routing') THEN tickets.urgency_source \
     ELSE excluded.urgency_source END, \
     category_confidence = excluded.category_confidence, \
     urgency_confidence = excluded.urgency_confidence, \
     updated_at = excluded.updated_at";

const MATCH_UPDATE: &str = "ON CONFLICT (id) DO UPDATE SET \
     triage = COALESCE(excluded.triage, tickets.triage), \
     needs_human_triage = excluded.needs_human_triage, \
     category = CASE WHEN tickets.category_source = 'staff' THEN tickets.category ELSE excluded.category END, \
     category_source = CASE WHEN tickets.category_source = 'staff' THEN 'staff' ELSE excluded.category_source END, \
     urgency = CASE WHEN tickets.urgency_source IN ('staff', 'routing') THEN tickets.urgency ELSE excluded.urgency END, \
     urgency_source = CASE WHEN tickets.urgency_source IN ('staff', 'routing') THEN tickets.urgency_source \
     ELSE excluded.urgency_source END, \
     suggestions = excluded.suggestions, \
     category_confidence = COALESCE(excluded.category_confidence, tickets.category_confidence), \
     urgency_confidence = COALESCE(excluded.urgency_confidence, tickets.urgency_confidence), \
     updated_at = excluded.updated_at";

/// The JSON and derived columns of a ticket row.
struct ProjectedRow {
    tags: String,
    triage: Option<String>,
    needs_human: bool,
    category_source: Option<&'static str>,
    urgency_source: Option<&'static str>,
    suggestions: Option<String>,
    filter: FilterColumns,
}

/// The columns the filter language's SQL reads, derived as its in-memory
/// evaluation derives them (see the 0007 migration).
pub(crate) struct FilterColumns {
    pub(crate) search_text: String,
    pub(crate) requester_domain: Option<String>,
    pub(crate) category_confidence: Option<f64>,
    pub(crate) urgency_confidence: Option<f64>,
}

impl FilterColumns {
    pub(crate) fn new(title: &str, description: &str, requester_email: &str, triage: Option<&Triage>) -> Self {
        Self {
            search_text: filter::searchable_text(title, description),
            requester_domain: filter::requester_domain(requester_email),
            category_confidence: triage.map(|triage| f64::from(triage.category.confidence)),
            urgency_confidence: triage.map(|triage| f64::from(triage.urgency_model.confidence)),
        }
    }
}

impl ProjectedRow {
    fn new(ticket: &Ticket) -> Result<Self> {
        let triage = ticket.triage.as_ref();
        Ok(Self {
            filter: FilterColumns::new(&ticket.title, &ticket.description, &ticket.requester.email, triage),
            tags: to_json(&ticket.tags)?,
            triage: triage.map(to_json).transpose()?,
            needs_human: triage.is_some_and(|triage| triage.needs_human),
            category_source: triage.and(ticket.category.as_ref()).map(|_| "model"),
            urgency_source: triage.map(|triage| match triage.urgency_source {
                UrgencySource::Model => "model",
                UrgencySource::Policy { .. } => "policy",
                UrgencySource::Default => "default",
            }),
            suggestions: ticket.suggestions.as_ref().map(to_json).transpose()?,
        })
    }
}

fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|error| Error::Corrupt(error.to_string()))
}

/// A label staff can set on a ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelField {
    Category,
    Urgency,
}

/// Conditions on `list_tickets`; all that are set must hold.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TicketFilter {
    /// Any of these statuses (all when empty).
    pub statuses: Vec<Status>,
    pub channel: Option<Channel>,
    pub urgency: Option<Urgency>,
    pub tag: Option<String>,
    /// Inclusive.
    pub created_after: Option<OffsetDateTime>,
    /// Exclusive.
    pub created_before: Option<OffsetDateTime>,
    pub category: Option<String>,
    /// Only tickets that triage flagged for a person (or only those not).
    pub needs_human_triage: Option<bool>,
    /// Only tickets this customer's account filed.
    pub requester_account: Option<AccountId>,
    /// Only tickets assigned to this account.
    pub assignee: Option<AccountId>,
    /// Only tickets this filter-language query selects.
    pub query: Query,
}

/// One page of tickets, newest first.
#[derive(Clone, Debug, PartialEq)]
pub struct TicketPage {
    pub items: Vec<Ticket>,
    /// Pass back as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

pub(crate) const TICKET_COLUMNS: &str = "id, company, title, description, requester_email, requester_name, channel, tags, \
     equipment_model, equipment_serial, created_at, status, urgency, category, server_id, team_id, assignee_id, \
     triage, suggestions, answered_by_faq, requester_account, vehicle_id";

#[derive(sqlx::FromRow)]
pub(crate) struct TicketRow {
    id: Uuid,
    company: String,
    title: String,
    description: String,
    requester_email: String,
    requester_name: Option<String>,
    channel: String,
    tags: String,
    equipment_model: Option<String>,
    equipment_serial: Option<String>,
    created_at: i64,
    status: String,
    urgency: Option<String>,
    category: Option<String>,
    server_id: Option<Uuid>,
    team_id: Option<Uuid>,
    assignee_id: Option<Uuid>,
    triage: Option<String>,
    suggestions: Option<String>,
    answered_by_faq: Option<String>,
    requester_account: Option<Uuid>,
    vehicle_id: Option<Uuid>,
}

/// A ticket row with its routing's columns (`NULL` until routed).
#[derive(sqlx::FromRow)]
struct RoutedTicketRow {
    #[sqlx(flatten)]
    ticket: TicketRow,
    routing: Option<String>,
    routed_server: Option<Uuid>,
    routed_at: Option<i64>,
}

fn from_json<T: serde::de::DeserializeOwned>(id: Uuid, what: &str, text: Option<&str>) -> Result<Option<T>> {
    text.map(|text| {
        serde_json::from_str(text).map_err(|error| Error::Corrupt(format!("ticket {id}: bad {what}: {error}")))
    })
    .transpose()
}

impl TryFrom<TicketRow> for Ticket {
    type Error = Error;

    fn try_from(row: TicketRow) -> Result<Self> {
        let corrupt = |what: &str, value: &str| Error::Corrupt(format!("ticket {}: bad {what} `{value}`", row.id));
        let channel = match row.channel.as_str() {
            "api" => Channel::Api,
            "web_form" => Channel::WebForm,
            "email" => Channel::Email,
            other => return Err(corrupt("channel", other)),
        };
        let status = Status::parse(&row.status).ok_or_else(|| corrupt("status", &row.status))?;
        let company = CompanyId::parse(&row.company).map_err(|_| corrupt("company", &row.company))?;
        let urgency = match &row.urgency {
            Some(text) => Some(Urgency::parse(text).ok_or_else(|| corrupt("urgency", text))?),
            None => None,
        };
        let tags: Vec<String> = serde_json::from_str(&row.tags).map_err(|_| corrupt("tags", &row.tags))?;
        let triage = from_json(row.id, "triage", row.triage.as_deref())?;
        let suggestions = from_json(row.id, "suggestions", row.suggestions.as_deref())?;
        let answered_by_faq = from_json(row.id, "answered_by_faq", row.answered_by_faq.as_deref())?;
        Ok(Ticket {
            id: TicketId(row.id),
            title: row.title,
            description: row.description,
            requester: Requester {
                email: row.requester_email,
                name: row.requester_name,
                account: row.requester_account.map(AccountId),
            },
            company,
            channel,
            tags,
            equipment: row.equipment_model.map(|model| Equipment { model, serial: row.equipment_serial }),
            created_at: from_micros(row.created_at)?,
            status,
            urgency,
            category: row.category,
            server: row.server_id.map(ServerId),
            team: row.team_id.map(TeamId),
            assignee: row.assignee_id.map(AccountId),
            vehicle: row.vehicle_id.map(VehicleId),
            triage,
            suggestions,
            answered_by_faq,
            attachments: Vec::new(),
        })
    }
}

impl Store {
    /// Stores a ticket unless one with its id exists. Redelivered
    /// submissions therefore change nothing.
    pub async fn insert_ticket(&self, scope: &Scope, ticket: &Ticket) -> Result<InsertOutcome> {
        let outcomes = self.insert_tickets(scope, std::slice::from_ref(ticket)).await?;
        Ok(outcomes[0])
    }

    /// [`Store::insert_ticket`] for many tickets in one transaction (one
    /// fsync), with one outcome per ticket, in order.
    pub async fn insert_tickets(&self, scope: &Scope, tickets: &[Ticket]) -> Result<Vec<InsertOutcome>> {
        let projections: Vec<Projection<'_>> =
            tickets.iter().map(|ticket| Projection::of(ProjectionKind::Submitted, ticket)).collect();
        self.project(scope, &projections).await
    }

    /// Applies what the pipeline stages report about tickets, in one
    /// transaction, in order. Each projection is idempotent and does not
    /// depend on arrival order between stages: whichever event comes first
    /// creates the row, the others fill in their parts. Category and urgency
    /// that staff set are kept. Every ticket must be inside `scope`
    /// ([`Error::OutOfScope`] otherwise, and nothing is written).
    #[tracing::instrument(skip_all, fields(tickets = projections.len()))]
    pub async fn project(&self, scope: &Scope, projections: &[Projection<'_>]) -> Result<Vec<InsertOutcome>> {
        if projections.iter().any(|projection| !scope.allows(projection.ticket.company.as_str())) {
            return Err(Error::OutOfScope);
        }
        let updated_at = now_micros();
        let rows = projections
            .iter()
            .map(|projection| ProjectedRow::new(projection.ticket).map(|row| (projection, row)))
            .collect::<Result<Vec<_>>>()?;
        let outcomes = on_pool!(&self.writer, |pool| {
            let mut transaction = pool.begin_write().await?;
            let mut outcomes = Vec::with_capacity(rows.len());
            for (projection, row) in &rows {
                let ticket = projection.ticket;
                let sql = format!("{INSERT_TICKET} {}", projection.kind.on_conflict());
                let result = sqlx::query(&sql)
                    .bind(ticket.id.0)
                    .bind(ticket.company.as_str())
                    .bind(&ticket.title)
                    .bind(&ticket.description)
                    .bind(&ticket.requester.email)
                    .bind(&ticket.requester.name)
                    .bind(ticket.channel.as_str())
                    .bind(&row.tags)
                    .bind(ticket.equipment.as_ref().map(|equipment| equipment.model.as_str()))
                    .bind(ticket.equipment.as_ref().and_then(|equipment| equipment.serial.as_deref()))
                    .bind(to_micros(ticket.created_at))
                    .bind(updated_at)
                    // Every ticket is born new; only `transition` moves it.
                    .bind(Status::New.as_str())
                    .bind(ticket.urgency.map(Urgency::as_str))
                    .bind(&ticket.category)
                    .bind(ticket.server.map(|id| id.0))
                    .bind(ticket.team.map(|id| id.0))
                    .bind(ticket.assignee.map(|id| id.0))
                    .bind(&row.triage)
                    .bind(row.needs_human)
                    .bind(row.category_source)
                    .bind(row.urgency_source)
                    .bind(&row.suggestions)
                    .bind(None::<String>)
                    .bind(ticket.requester.account.map(|id| id.0))
                    .bind(&row.filter.search_text)
                    .bind(&row.filter.requester_domain)
                    .bind(row.filter.category_confidence)
                    .bind(row.filter.urgency_confidence)
                    .execute(&mut *transaction)
                    .await?;
                for tag in &ticket.tags {
                    sqlx::query("INSERT INTO ticket_tags (tag, ticket_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                        .bind(tag)
                        .bind(ticket.id.0)
                        .execute(&mut *transaction)
                        .await?;
                }
                record_attachments!(transaction, ticket, &ticket.attachments, None::<Uuid>, updated_at);
                let changed = result.rows_affected() == 1;
                if projection.audit_creation && projection.kind == ProjectionKind::Submitted {
                    // The ticket's first audit event, written once: its id
                    // derives from the ticket's. Who filed it is ingest's
                    // record, else the customer the ticket names.
                    let actor = projection.filed_by.or(ticket
                        .requester
                        .account
                        .map(|account| Actor { role: switchboard_core::Role::Customer, account: Some(account) }));
                    let mut recorded = ticket.clone();
                    if let Some(account) = ticket.requester.account {
                        let deleted: Option<bool> =
                            sqlx::query_scalar("SELECT deleted_at IS NOT NULL FROM accounts WHERE id = $1")
                                .bind(account.0)
                                .fetch_optional(&mut *transaction)
                                .await?;
                        if deleted == Some(true) {
                            recorded.requester.email.clear();
                            recorded.requester.name = None;
                        }
                    }
                    let event = TicketEvent::Created { ticket: Box::new(recorded), actor };
                    insert_event!(
                        transaction,
                        NewEvent {
                            event_id: EventId::derived(EventId(ticket.id.0), "create"),
                            ticket_id: ticket.id,
                            company: &ticket.company,
                            action: "create",
                            from: Status::New,
                            to: Status::New,
                            actor: actor.unwrap_or(Actor { role: switchboard_core::Role::Integration, account: None }),
                            request_id: projection.request_id,
                            event,
                        },
                        updated_at
                    );
                }
                outcomes.push(if changed { InsertOutcome::Inserted } else { InsertOutcome::AlreadyExisted });
            }
            transaction.commit().await?;
            Ok::<_, Error>(outcomes)
        })?;
        if projections.iter().any(|projection| projection.audit_creation) {
            self.outbox_written.notify_one();
        }
        Ok(outcomes)
    }

    /// The ticket, if it exists inside `scope` (another company's ticket is
    /// `None`, like a missing one).
    pub async fn get_ticket(&self, scope: &Scope, id: TicketId) -> Result<Option<Ticket>> {
        let rows: Vec<TicketRow> = on_pool!(&self.db, |pool| {
            let mut query = sqlx::QueryBuilder::new(format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE id = "));
            query.push_bind(id.0);
            push_scope(&mut query, scope);
            query.build_query_as().fetch_all(pool).await
        })?;
        rows.into_iter().next().map(Ticket::try_from).transpose()
    }

    /// The ticket, if it exists inside `scope`, with its routing if it was
    /// routed. One statement reads both, so the ticket never lacks what its
    /// routing changed (the router writes the two in one transaction).
    pub async fn ticket_with_routing(
        &self,
        scope: &Scope,
        id: TicketId,
    ) -> Result<Option<(Ticket, Option<RoutingRecord>)>> {
        let rows: Vec<RoutedTicketRow> = on_pool!(&self.db, |pool| {
            let mut query = sqlx::QueryBuilder::new(format!(
                "SELECT {TICKET_COLUMNS}, routing, routed_server, routed_at FROM tickets LEFT JOIN \
                 (SELECT ticket_id AS routed_ticket, routing, server_id AS routed_server, routed_at \
                 FROM ticket_routings) routings ON routed_ticket = id WHERE id = "
            ));
            query.push_bind(id.0);
            push_scope(&mut query, scope);
            query.build_query_as().fetch_all(pool).await
        })?;
        let Some(row) = rows.into_iter().next() else { return Ok(None) };
        let routing = match (row.routing, row.routed_at) {
            (Some(routing), Some(routed_at)) => Some(routing_record((
                row.ticket.id,
                row.ticket.company.clone(),
                routing,
                row.routed_server,
                routed_at,
            ))?),
            _ => None,
        };
        Ok(Some((Ticket::try_from(row.ticket)?, routing)))
    }

    /// Tickets matching `filter`, newest first, `limit` at a time (at most
    /// [`MAX_PAGE_SIZE`]). `cursor` is the `next_cursor` of the previous page.
    pub async fn list_tickets(
        &self,
        scope: &Scope,
        filter: &TicketFilter,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<TicketPage> {
        let limit = limit.clamp(1, MAX_PAGE_SIZE);
        let after_id = cursor.map(decode_cursor).transpose()?;
        let rows: Vec<TicketRow> = on_pool!(&self.db, |pool| {
            let mut query = sqlx::QueryBuilder::new(format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE 1 = 1"));
            if !filter.statuses.is_empty() {
                query.push(" AND status IN (");
                let mut separated = query.separated(", ");
                for status in &filter.statuses {
                    separated.push_bind(status.as_str());
                }
                query.push(")");
            }
            if let Some(channel) = filter.channel {
                query.push(" AND channel = ").push_bind(channel.as_str());
            }
            if let Some(urgency) = filter.urgency {
                query.push(" AND urgency = ").push_bind(urgency.as_str());
            }
            if let Some(category) = &filter.category {
                query.push(" AND category = ").push_bind(category.clone());
            }
            if let Some(needs_human) = filter.needs_human_triage {
                query.push(" AND needs_human_triage = ").push_bind(needs_human);
            }
            if let Some(account) = filter.requester_account {
                query.push(" AND requester_account = ").push_bind(account.0);
            }
            if let Some(account) = filter.assignee {
                query.push(" AND assignee_id = ").push_bind(account.0);
            }
            push_scope(&mut query, scope);
            if let Some(tag) = &filter.tag {
                query
                    .push(" AND id IN (SELECT ticket_id FROM ticket_tags WHERE tag = ")
                    .push_bind(tag.clone())
                    .push(")");
            }
            if let Some(after) = filter.created_after {
                query.push(" AND created_at >= ").push_bind(to_micros(after));
            }
            if let Some(before) = filter.created_before {
                query.push(" AND created_at < ").push_bind(to_micros(before));
            }
            if !filter.query.is_everything() {
                query.push(" AND ");
                crate::filter::push_query(&mut query, &filter.query);
            }
            if let Some(after_id) = after_id {
                query.push(" AND id < ").push_bind(after_id);
            }
            query.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(limit) + 1);
            query.build_query_as().fetch_all(pool).await
        })?;
        let has_more = rows.len() > limit as usize;
        let items = rows.into_iter().take(limit as usize).map(Ticket::try_from).collect::<Result<Vec<_>>>()?;
        let next_cursor = match items.last() {
            Some(last) if has_more => Some(encode_cursor(last.id)),
            _ => None,
        };
        Ok(TicketPage { items, next_cursor })
    }

    /// Tickets whose category (or urgency) staff set or corrected, newest
    /// first, at most `limit`: the labelled examples to retrain triage on.
    pub async fn staff_labelled_tickets(&self, scope: &Scope, field: LabelField, limit: u32) -> Result<Vec<Ticket>> {
        let source_column = match field {
            LabelField::Category => "category_source",
            LabelField::Urgency => "urgency_source",
        };
        let rows: Vec<TicketRow> = on_pool!(&self.db, |pool| {
            let mut query = sqlx::QueryBuilder::new(format!(
                "SELECT {TICKET_COLUMNS} FROM tickets WHERE {source_column} = 'staff'"
            ));
            push_scope(&mut query, scope);
            query.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(limit));
            query.build_query_as().fetch_all(pool).await
        })?;
        rows.into_iter().map(Ticket::try_from).collect()
    }

    pub async fn count_tickets(&self) -> Result<i64> {
        let count: i64 =
            on_pool!(&self.db, |pool| sqlx::query_scalar("SELECT COUNT(*) FROM tickets").fetch_one(pool).await)?;
        Ok(count)
    }
}

/// Adds the scope's company condition to a query that has a `WHERE`.
pub(crate) fn push_scope<'args, DB>(query: &mut sqlx::QueryBuilder<'args, DB>, scope: &Scope)
where
    DB: sqlx::Database,
    String: sqlx::Encode<'args, DB> + sqlx::Type<DB>,
{
    if let Some(company) = scope.company() {
        query.push(" AND company = ").push_bind(company.as_str().to_owned());
    }
}

/// Cursors are opaque to clients; today they are the last id seen, in a
/// versioned wrapper so the format can change without breaking old links.
fn encode_cursor(id: TicketId) -> String {
    format!("t1.{}", id.0.simple())
}

fn decode_cursor(cursor: &str) -> Result<Uuid> {
    cursor.strip_prefix("t1.").and_then(|hex| Uuid::try_parse(hex).ok()).ok_or(Error::InvalidCursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let id = TicketId::new();
        assert_eq!(decode_cursor(&encode_cursor(id)).ok(), Some(id.0));
        for bad in ["", "t1.", "t2.0190", "t1.zz", "0190b1c2-0000-7000-8000-000000000000"] {
            assert!(matches!(decode_cursor(bad), Err(Error::InvalidCursor)), "{bad}");
        }
    }
}
