//! The public event catalogue: what webhooks (and later e-mail and live
//! updates) tell about tickets, built from the bus's events.
//!
//! Every notification is `{"type", "timestamp", "data"}` (the Standard
//! Webhooks payload); `data` always holds the `ticket` as it was after the
//! event (for `ticket.deleted`, only its id), plus what the type adds. Each
//! type's `data` is written from one struct here (`TicketData`,
//! `RoutedData`, …) whose schema the OpenAPI document publishes as
//! `<type>.v<version>` ([`EventType::data_schema`]), so the document and the
//! bodies cannot drift apart. The shapes are version 1: a change that is not
//! an added field gets a new version.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;

use crate::events::{AutoAnswer, Labels, Report, Routing, TicketEvent, TicketMessage, TicketRouted, TicketTriaged};
use crate::http::{Schemas, reference_to};
use crate::lifecycle::{Action, Actor, Status};
use crate::{AccountId, CompanyId, Envelope, EventId, Ticket, TicketId, VehicleId};

/// Every event type, by its public name (what each means:
/// [`EventType::summary`]; its `data`: [`EventType::data_schema`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
pub enum EventType {
    #[serde(rename = "ticket.created")]
    TicketCreated,
    #[serde(rename = "ticket.triaged")]
    TicketTriaged,
    #[serde(rename = "ticket.answered_by_faq")]
    TicketAnsweredByFaq,
    #[serde(rename = "ticket.routed")]
    TicketRouted,
    #[serde(rename = "ticket.assigned")]
    TicketAssigned,
    #[serde(rename = "ticket.status_changed")]
    TicketStatusChanged,
    #[serde(rename = "ticket.message_added")]
    TicketMessageAdded,
    #[serde(rename = "ticket.report_submitted")]
    TicketReportSubmitted,
    #[serde(rename = "ticket.report_approved")]
    TicketReportApproved,
    #[serde(rename = "ticket.report_rejected")]
    TicketReportRejected,
    #[serde(rename = "ticket.resolved")]
    TicketResolved,
    #[serde(rename = "ticket.labels_corrected")]
    TicketLabelsCorrected,
    #[serde(rename = "ticket.deleted")]
    TicketDeleted,
    #[serde(rename = "ticket.shared")]
    TicketShared,
}

impl EventType {
    pub const ALL: [EventType; 14] = [
        EventType::TicketCreated,
        EventType::TicketTriaged,
        EventType::TicketAnsweredByFaq,
        EventType::TicketRouted,
        EventType::TicketAssigned,
        EventType::TicketStatusChanged,
        EventType::TicketMessageAdded,
        EventType::TicketReportSubmitted,
        EventType::TicketReportApproved,
        EventType::TicketReportRejected,
        EventType::TicketResolved,
        EventType::TicketLabelsCorrected,
        EventType::TicketDeleted,
        EventType::TicketShared,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::TicketCreated => "ticket.created",
            EventType::TicketTriaged => "ticket.triaged",
            EventType::TicketAnsweredByFaq => "ticket.answered_by_faq",
            EventType::TicketRouted => "ticket.routed",
            EventType::TicketAssigned => "ticket.assigned",
            EventType::TicketStatusChanged => "ticket.status_changed",
            EventType::TicketMessageAdded => "ticket.message_added",
            EventType::TicketReportSubmitted => "ticket.report_submitted",
            EventType::TicketReportApproved => "ticket.report_approved",
            EventType::TicketReportRejected => "ticket.report_rejected",
            EventType::TicketResolved => "ticket.resolved",
            EventType::TicketLabelsCorrected => "ticket.labels_corrected",
            EventType::TicketDeleted => "ticket.deleted",
            EventType::TicketShared => "ticket.shared",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    /// What happened, for people (the OpenAPI document's summary).
    pub fn summary(self) -> &'static str {
        match self {
            EventType::TicketCreated => "A ticket was filed",
            EventType::TicketTriaged => "Triage set the ticket's category and urgency",
            EventType::TicketAnsweredByFaq => "The knowledge base answered the ticket with an FAQ article",
            EventType::TicketRouted => "The router sent the ticket to a team's server, or to review",
            EventType::TicketAssigned => "The ticket got an assignee (and maybe a vehicle)",
            EventType::TicketStatusChanged => "The ticket moved along its lifecycle",
            EventType::TicketMessageAdded => "A reply or an internal note was added",
            EventType::TicketReportSubmitted => "The assignee asked the customer to approve the report",
            EventType::TicketReportApproved => "The customer approved the report",
            EventType::TicketReportRejected => "The customer rejected the report",
            EventType::TicketResolved => "The ticket was resolved with an approved report",
            EventType::TicketLabelsCorrected => "Staff corrected the category or urgency",
            EventType::TicketDeleted => "A closed ticket was deleted",
            EventType::TicketShared => "An admin sent the ticket by hand (POST /v1/tickets/{id}/notifications)",
        }
    }

    /// Types from their names, sorted and without repeats; an unknown one
    /// is refused with its index and a message naming the known ones.
    pub fn parse_list(texts: &[String]) -> Result<Vec<Self>, (usize, String)> {
        let mut kinds = Vec::with_capacity(texts.len());
        for (index, text) in texts.iter().enumerate() {
            let kind = Self::parse(text.trim()).ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|kind| kind.as_str()).collect();
                (index, format!("unknown event type `{text}`; one of {}", known.join(", ")))
            })?;
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        kinds.sort();
        Ok(kinds)
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// One thing to tell: an event of the catalogue about one ticket.
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    /// Derived from the bus event's id and the type: the same on every
    /// redelivery of that event.
    pub id: EventId,
    pub kind: EventType,
    pub company: CompanyId,
    pub ticket_id: TicketId,
    /// The ticket after the event, for subscription filters; `None` once
    /// deleted.
    pub ticket: Option<Ticket>,
    pub occurred_at: OffsetDateTime,
    pub data: Value,
}

impl Notification {
    fn of<T>(envelope: &Envelope<T>, kind: EventType, ticket: Option<&Ticket>, data: Value) -> Self {
        Self {
            id: EventId::derived(envelope.event_id, kind.as_str()),
            kind,
            company: envelope.company.clone(),
            ticket_id: envelope.ticket_id,
            ticket: ticket.cloned(),
            occurred_at: envelope.occurred_at,
            data,
        }
    }

    /// `ticket.shared`: an admin (`actor`) sends the ticket as it is now.
    pub fn shared(ticket: &Ticket, actor: Actor) -> Self {
        Self {
            id: EventId::new(),
            kind: EventType::TicketShared,
            company: ticket.company.clone(),
            ticket_id: ticket.id,
            ticket: Some(ticket.clone()),
            occurred_at: OffsetDateTime::now_utc(),
            data: value(SharedData { ticket, actor }),
        }
    }

    /// Whether only the company's staff may see it: what the customer must
    /// not read (an internal note, the routing decision, a label
    /// correction, an admin's sharing).
    pub fn staff_only(&self) -> bool {
        match self.kind {
            EventType::TicketRouted | EventType::TicketLabelsCorrected | EventType::TicketShared => true,
            EventType::TicketMessageAdded => self.data["message"]["internal"].as_bool() != Some(false),
            _ => false,
        }
    }

    /// The account that filed the ticket, who may see what is not
    /// [`Notification::staff_only`] (none once the ticket is deleted).
    pub fn customer(&self) -> Option<AccountId> {
        self.ticket.as_ref().and_then(|ticket| ticket.requester.account)
    }

    /// A [`body`](Self::body) as the ticket's customer may read it: its
    /// `data.ticket` (if any) seen through [`Ticket::for_customer`]. A body
    /// that does not read is left out (`None`).
    pub fn body_for_customer(body: &str) -> Option<String> {
        let mut value: Value = serde_json::from_str(body).ok()?;
        if let Some(ticket) = value.get_mut("data").and_then(|data| data.get_mut("ticket")) {
            let seen: Ticket = serde_json::from_value(ticket.take()).ok()?;
            *ticket = serde_json::to_value(seen.for_customer()).ok()?;
        }
        Some(value.to_string())
    }

    /// The body sent: `{"type", "timestamp", "data"}`.
    pub fn body(&self) -> String {
        let timestamp = self.occurred_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        json!({"type": self.kind.as_str(), "timestamp": timestamp, "data": self.data}).to_string()
    }
}

/// `data` of `ticket.created`, `ticket.triaged` and `ticket.report_approved`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TicketData<'a> {
    /// The ticket after the event.
    #[schema(value_type = Ticket)]
    pub ticket: &'a Ticket,
}

/// `data` of `ticket.answered_by_faq`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct FaqAnswerData<'a> {
    #[schema(value_type = Ticket)]
    pub ticket: &'a Ticket,
    /// The article that answered, and how sure the match was.
    #[schema(value_type = AutoAnswer)]
    pub answer: &'a AutoAnswer,
}

/// `data` of `ticket.routed`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RoutedData<'a> {
    #[schema(value_type = Ticket)]
    pub ticket: &'a Ticket,
    /// Where it went, why, and the rules' trace.
    #[schema(value_type = Routing)]
    pub routing: &'a Routing,
}

/// `data` of `ticket.assigned`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AssignedData<'a> {
    #[schema(value_type = Ticket)]
    pub ticket: &'a Ticket,
    pub assignee: AccountId,
    pub vehicle: Option<VehicleId>,
    /// Who assigned it (the router, for a rule's assignment).
    pub actor: Actor,
}

/// `data` of `ticket.status_changed`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct StatusChangedData<'a> {
    #[schema(value_type = Ticket)]
    pub ticket: &'a Ticket,
    pub action: Action,
    pub from: Status,
    pub to: Status,
    pub actor: Actor,
}

/// `data` of `ticket.message_added`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MessageAddedData<'a> {
    #[schema(value_type = Ticket)]
    pub ticket: &'a Ticket,
    /// The reply or the internal note (`internal`: staff only).
    #[schema(value_type = TicketMessage)]
    pub message: &'a TicketMessage,
}

/// `data` of `ticket.report_submitted` and `ticket.resolved`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReportData<'a> {
    #[schema(value_type = Ticket)]
    pub ticket: &'a Ticket,
    /// The engineer's report.
    #[schema(value_type = Report)]
    pub report: &'a Report,
}

/// `data` of `ticket.report_rejected`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReportRejectedData<'a> {
    #[schema(value_type = Ticket)]
    pub ticket: &'a Ticket,
    /// The customer's reason.
    #[schema(value_type = Option<String>)]
    pub reason: Option<&'a str>,
}

/// `data` of `ticket.labels_corrected`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LabelsCorrectedData<'a> {
    #[schema(value_type = Ticket)]
    pub ticket: &'a Ticket,
    #[schema(value_type = Labels)]
    pub before: &'a Labels,
    #[schema(value_type = Labels)]
    pub after: &'a Labels,
}

/// `data` of `ticket.deleted`: only the id is left.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DeletedData {
    pub ticket_id: TicketId,
}

/// `data` of `ticket.shared`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SharedData<'a> {
    #[schema(value_type = Ticket)]
    pub ticket: &'a Ticket,
    /// The admin who sent it.
    pub actor: Actor,
}

impl EventType {
    /// The version of the type's `data` shape (in the OpenAPI document, the
    /// schema `<type>.v<version>`).
    pub fn version(self) -> u16 {
        1
    }

    /// A reference to the schema of the type's `data`; `referenced` gets
    /// it and the schemas it refers to.
    pub fn data_schema(self, referenced: &mut Schemas) -> RefOr<Schema> {
        match self {
            EventType::TicketCreated | EventType::TicketTriaged | EventType::TicketReportApproved => {
                reference_to::<TicketData<'_>>(referenced)
            }
            EventType::TicketAnsweredByFaq => reference_to::<FaqAnswerData<'_>>(referenced),
            EventType::TicketRouted => reference_to::<RoutedData<'_>>(referenced),
            EventType::TicketAssigned => reference_to::<AssignedData<'_>>(referenced),
            EventType::TicketStatusChanged => reference_to::<StatusChangedData<'_>>(referenced),
            EventType::TicketMessageAdded => reference_to::<MessageAddedData<'_>>(referenced),
            EventType::TicketReportSubmitted | EventType::TicketResolved => reference_to::<ReportData<'_>>(referenced),
            EventType::TicketReportRejected => reference_to::<ReportRejectedData<'_>>(referenced),
            EventType::TicketLabelsCorrected => reference_to::<LabelsCorrectedData<'_>>(referenced),
            EventType::TicketDeleted => reference_to::<DeletedData>(referenced),
            EventType::TicketShared => reference_to::<SharedData<'_>>(referenced),
        }
    }
}

fn value(data: impl Serialize) -> Value {
    serde_json::to_value(data).unwrap_or(Value::Null)
}

/// What a `tickets.events` event tells (an `open` both changes the status
/// and assigns; a saved draft report tells nothing).
pub fn of_ticket_event(envelope: &Envelope<TicketEvent>) -> Vec<Notification> {
    let one = |kind, ticket: &Ticket, data: Value| vec![Notification::of(envelope, kind, Some(ticket), data)];
    match &envelope.payload {
        TicketEvent::Created { ticket, .. } => one(EventType::TicketCreated, ticket, value(TicketData { ticket })),
        TicketEvent::AnsweredByFaq { ticket, answer } => {
            one(EventType::TicketAnsweredByFaq, ticket, value(FaqAnswerData { ticket, answer }))
        }
        TicketEvent::Resolved { ticket, report } => {
            one(EventType::TicketResolved, ticket, value(ReportData { ticket, report }))
        }
        TicketEvent::StatusChanged { ticket, action, from, to, actor } => {
            let changed = StatusChangedData { ticket, action: *action, from: *from, to: *to, actor: *actor };
            let mut told = one(EventType::TicketStatusChanged, ticket, value(changed));
            if *action == Action::Open
                && let Some(assignee) = ticket.assignee
            {
                let assigned = AssignedData { ticket, assignee, vehicle: ticket.vehicle, actor: *actor };
                told.extend(one(EventType::TicketAssigned, ticket, value(assigned)));
            }
            told
        }
        TicketEvent::Assigned { ticket, assignee, vehicle, actor } => {
            let assigned = AssignedData { ticket, assignee: *assignee, vehicle: *vehicle, actor: *actor };
            one(EventType::TicketAssigned, ticket, value(assigned))
        }
        TicketEvent::ReportSaved { ticket, report, submitted: true, .. } => {
            one(EventType::TicketReportSubmitted, ticket, value(ReportData { ticket, report }))
        }
        TicketEvent::ReportSaved { submitted: false, .. } => Vec::new(),
        TicketEvent::ReportDecided { ticket, approved: true, .. } => {
            one(EventType::TicketReportApproved, ticket, value(TicketData { ticket }))
        }
        TicketEvent::ReportDecided { ticket, approved: false, reason, .. } => {
            let rejected = ReportRejectedData { ticket, reason: reason.as_deref() };
            one(EventType::TicketReportRejected, ticket, value(rejected))
        }
        TicketEvent::MessageAdded { ticket, message } => {
            one(EventType::TicketMessageAdded, ticket, value(MessageAddedData { ticket, message }))
        }
        TicketEvent::LabelsCorrected { ticket, before, after, .. } => {
            one(EventType::TicketLabelsCorrected, ticket, value(LabelsCorrectedData { ticket, before, after }))
        }
        TicketEvent::Deleted { ticket_id, .. } => {
            let data = value(DeletedData { ticket_id: *ticket_id });
            vec![Notification::of(envelope, EventType::TicketDeleted, None, data)]
        }
    }
}

/// `tickets.triaged`: `ticket.triaged`.
pub fn of_triaged(envelope: &Envelope<TicketTriaged>) -> Notification {
    let ticket = &envelope.payload.ticket;
    Notification::of(envelope, EventType::TicketTriaged, Some(ticket), value(TicketData { ticket }))
}

/// `tickets.routed`: `ticket.routed`.
pub fn of_routed(envelope: &Envelope<TicketRouted>) -> Notification {
    let TicketRouted { ticket, routing } = &envelope.payload;
    Notification::of(envelope, EventType::TicketRouted, Some(ticket), value(RoutedData { ticket, routing }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customers_see_their_tickets_events_but_not_staff_only_ones() {
        let new = crate::NewTicket {
            title: Some("Printer on fire".into()),
            requester: Some(crate::ticket::NewRequester { email: Some("ana@example.com".into()), name: None }),
            ..crate::NewTicket::default()
        };
        let mut ticket = new.validate(TicketId::new(), crate::Channel::Api, OffsetDateTime::UNIX_EPOCH).expect("valid");
        let customer = AccountId::new();
        ticket.requester.account = Some(customer);
        let message = |internal| crate::events::TicketMessage {
            id: EventId::new(),
            author: None,
            author_role: crate::Role::Admin,
            internal,
            body: "On our way".into(),
            created_at: OffsetDateTime::UNIX_EPOCH,
        };
        let told = |event| {
            let envelope = Envelope::new(ticket.id, ticket.company.clone(), None, event);
            of_ticket_event(&envelope).remove(0)
        };
        let reply = told(TicketEvent::MessageAdded { ticket: Box::new(ticket.clone()), message: message(false) });
        let note = told(TicketEvent::MessageAdded { ticket: Box::new(ticket.clone()), message: message(true) });
        assert!(!reply.staff_only() && note.staff_only());
        assert_eq!(reply.customer(), Some(customer));
        assert!(Notification::shared(&ticket, Actor::SYSTEM).staff_only());
        let deleted = told(TicketEvent::Deleted { ticket_id: ticket.id, actor: Actor::SYSTEM });
        assert_eq!(deleted.customer(), None, "a deleted ticket's customer is no longer known");

        // What the customer reads of a ticket: the FAQ suggestions, not
        // other tickets' reports, the triage details or the routing.
        let suggestion = |kind, id: &str| crate::events::Suggestion {
            kind,
            id: id.into(),
            title: "t".into(),
            snippet: "s".into(),
            score: 1.0,
            confidence: 0.5,
        };
        ticket.suggestions = Some(vec![
            suggestion(crate::events::SuggestionKind::PastSolution, "another-customers-ticket"),
            suggestion(crate::events::SuggestionKind::Faq, "printer-jam"),
        ]);
        ticket.team = Some(crate::ids::TeamId::new());
        let classification = crate::events::Classification {
            label: Some("hardware".into()),
            confidence: 0.9,
            out_of_scope: false,
            model_version: "m@1".into(),
        };
        ticket.triage = Some(crate::events::Triage {
            needs_human: false,
            category: classification.clone(),
            urgency_model: classification,
            urgency: crate::Urgency::Critical,
            urgency_source: crate::events::UrgencySource::Model,
            triaged_at: OffsetDateTime::UNIX_EPOCH,
        });
        let with_ticket = json!({"type": "ticket.created", "timestamp": "t", "data": {"ticket": ticket}}).to_string();
        let seen: Value =
            serde_json::from_str(&Notification::body_for_customer(&with_ticket).expect("reads")).expect("json");
        let suggestions = seen["data"]["ticket"]["suggestions"].as_array().expect("a list");
        let ids: Vec<&Value> = suggestions.iter().map(|suggestion| &suggestion["id"]).collect();
        assert_eq!(ids, [&json!("printer-jam")]);
        assert_eq!(seen["data"]["ticket"]["team"], Value::Null);
        assert!(seen["data"]["ticket"].get("triage").is_none());
        assert_eq!(seen["data"]["ticket"]["title"], json!("Printer on fire"));
        let without_ticket =
            Notification::body_for_customer(r#"{"type": "ticket.deleted", "data": {}}"#).expect("reads");
        assert_eq!(
            serde_json::from_str::<Value>(&without_ticket).expect("json"),
            json!({"type": "ticket.deleted", "data": {}})
        );
        assert_eq!(Notification::body_for_customer("not json"), None);
    }

    #[test]
    fn event_type_names_round_trip() {
        for kind in EventType::ALL {
            assert_eq!(EventType::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_string(&kind).expect("JSON"), format!("\"{kind}\""));
        }
        let parsed = EventType::parse_list(&["ticket.routed".into(), "ticket.created".into(), "ticket.routed".into()]);
        assert_eq!(parsed, Ok(vec![EventType::TicketCreated, EventType::TicketRouted]));
        let (index, message) =
            EventType::parse_list(&["ticket.created".into(), "ticket.exploded".into()]).expect_err("unknown");
        assert_eq!(index, 1);
        assert!(message.contains("ticket.exploded") && message.contains("ticket.routed"), "{message}");
    }
}
