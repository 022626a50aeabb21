//! The public event catalogue: what webhooks (and later e-mail and live
//! updates) tell about tickets, built from the bus's events.
//!
//! Every notification is `{"type", "timestamp", "data"}` (the Standard
//! Webhooks payload); `data` always holds the `ticket` as it was after the
//! event (for `ticket.deleted`, only its id), plus what the type adds. The
//! shapes are version 1: a change that is not an added field gets a new
//! type name.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::events::{TicketEvent, TicketRouted, TicketTriaged};
use crate::lifecycle::{Action, Actor};
use crate::{AccountId, CompanyId, Envelope, EventId, Ticket, TicketId};

/// Every event type, by its public name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
pub enum EventType {
    /// A ticket was filed. `data`: `ticket`.
    #[serde(rename = "ticket.created")]
    TicketCreated,
    /// Triage set its category and urgency. `data`: `ticket` (with `triage`).
    #[serde(rename = "ticket.triaged")]
    TicketTriaged,
    /// The knowledge base answered it. `data`: `ticket`, `answer`.
    #[serde(rename = "ticket.answered_by_faq")]
    TicketAnsweredByFaq,
    /// The router sent it to a team. `data`: `ticket`, `routing`.
    #[serde(rename = "ticket.routed")]
    TicketRouted,
    /// It got an assignee. `data`: `ticket`, `assignee`, `vehicle`, `actor`.
    #[serde(rename = "ticket.assigned")]
    TicketAssigned,
    /// Its status changed. `data`: `ticket`, `action`, `from`, `to`, `actor`.
    #[serde(rename = "ticket.status_changed")]
    TicketStatusChanged,
    /// A reply or an internal note. `data`: `ticket`, `message`.
    #[serde(rename = "ticket.message_added")]
    TicketMessageAdded,
    /// The assignee asked the customer to approve the report. `data`:
    /// `ticket`, `report`.
    #[serde(rename = "ticket.report_submitted")]
    TicketReportSubmitted,
    /// The customer approved the report. `data`: `ticket`.
    #[serde(rename = "ticket.report_approved")]
    TicketReportApproved,
    /// The customer rejected the report. `data`: `ticket`, `reason`.
    #[serde(rename = "ticket.report_rejected")]
    TicketReportRejected,
    /// Resolved with an approved report. `data`: `ticket`, `report`.
    #[serde(rename = "ticket.resolved")]
    TicketResolved,
    /// Staff corrected the category or urgency. `data`: `ticket`, `before`,
    /// `after`.
    #[serde(rename = "ticket.labels_corrected")]
    TicketLabelsCorrected,
    /// A closed ticket was deleted. `data`: `ticket_id`.
    #[serde(rename = "ticket.deleted")]
    TicketDeleted,
    /// An admin sent the ticket by hand
    /// (`POST /v1/tickets/{id}/notifications`). `data`: `ticket`, `actor`.
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
            data: json!({"ticket": ticket, "actor": actor}),
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

    /// The body sent: `{"type", "timestamp", "data"}`.
    pub fn body(&self) -> String {
        let timestamp = self.occurred_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        json!({"type": self.kind.as_str(), "timestamp": timestamp, "data": self.data}).to_string()
    }
}

/// What a `tickets.events` event tells (an `open` both changes the status
/// and assigns; a saved draft report tells nothing).
pub fn of_ticket_event(envelope: &Envelope<TicketEvent>) -> Vec<Notification> {
    let one = |kind, ticket: &Ticket, mut data: Value| {
        data["ticket"] = json!(ticket);
        vec![Notification::of(envelope, kind, Some(ticket), data)]
    };
    match &envelope.payload {
        TicketEvent::Created { ticket, .. } => one(EventType::TicketCreated, ticket, json!({})),
        TicketEvent::AnsweredByFaq { ticket, answer } => {
            one(EventType::TicketAnsweredByFaq, ticket, json!({"answer": answer}))
        }
        TicketEvent::Resolved { ticket, report } => one(EventType::TicketResolved, ticket, json!({"report": report})),
        TicketEvent::StatusChanged { ticket, action, from, to, actor } => {
            let mut told = one(
                EventType::TicketStatusChanged,
                ticket,
                json!({"action": action, "from": from, "to": to, "actor": actor}),
            );
            if *action == Action::Open
                && let Some(assignee) = ticket.assignee
            {
                told.extend(one(
                    EventType::TicketAssigned,
                    ticket,
                    json!({"assignee": assignee, "vehicle": ticket.vehicle, "actor": actor}),
                ));
            }
            told
        }
        TicketEvent::Assigned { ticket, assignee, vehicle, actor } => {
            one(EventType::TicketAssigned, ticket, json!({"assignee": assignee, "vehicle": vehicle, "actor": actor}))
        }
        TicketEvent::ReportSaved { ticket, report, submitted: true, .. } => {
            one(EventType::TicketReportSubmitted, ticket, json!({"report": report}))
        }
        TicketEvent::ReportSaved { submitted: false, .. } => Vec::new(),
        TicketEvent::ReportDecided { ticket, approved: true, .. } => {
            one(EventType::TicketReportApproved, ticket, json!({}))
        }
        TicketEvent::ReportDecided { ticket, approved: false, reason, .. } => {
            one(EventType::TicketReportRejected, ticket, json!({"reason": reason}))
        }
        TicketEvent::MessageAdded { ticket, message } => {
            one(EventType::TicketMessageAdded, ticket, json!({"message": message}))
        }
        TicketEvent::LabelsCorrected { ticket, before, after, .. } => {
            one(EventType::TicketLabelsCorrected, ticket, json!({"before": before, "after": after}))
        }
        TicketEvent::Deleted { ticket_id, .. } => {
            vec![Notification::of(envelope, EventType::TicketDeleted, None, json!({"ticket_id": ticket_id}))]
        }
    }
}

/// `tickets.triaged`: `ticket.triaged`.
pub fn of_triaged(envelope: &Envelope<TicketTriaged>) -> Notification {
    let ticket = &envelope.payload.ticket;
    Notification::of(envelope, EventType::TicketTriaged, Some(ticket), json!({"ticket": ticket}))
}

/// `tickets.routed`: `ticket.routed`.
pub fn of_routed(envelope: &Envelope<TicketRouted>) -> Notification {
    let TicketRouted { ticket, routing } = &envelope.payload;
    Notification::of(envelope, EventType::TicketRouted, Some(ticket), json!({"ticket": ticket, "routing": routing}))
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
