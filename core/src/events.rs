//! Payloads of the ticket topics.
//!
//! Each pipeline stage emits the whole ticket as it now stands (so the next
//! stage and the projector need nothing else), with the stage's findings
//! filled in: `tickets.triaged` carries [`Ticket::triage`], `tickets.matched`
//! also [`Ticket::suggestions`] and, when the knowledge base answered the
//! customer, [`Ticket::answered_by_faq`].

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::config::Secret;
use crate::ids::{AccountId, EventId, VehicleId};
use crate::lifecycle::{Action, Actor, Status};
use crate::tenant::CompanyId;
use crate::ticket::{Ticket, Urgency};

/// `tickets.submitted`: a validated ticket, as ingest accepted it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TicketSubmitted {
    pub ticket: Ticket,
    /// Who filed it: a person's session, or an integration's key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filed_by: Option<Actor>,
}

/// `tickets.triaged`: the ticket with its triage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TicketTriaged {
    pub ticket: Ticket,
}

/// `tickets.matched`: the ticket with its knowledge-base suggestions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TicketMatched {
    pub ticket: Ticket,
}

/// `tickets.routed`: the ticket (with the team and server it went to, and
/// what rules changed) and the routing decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TicketRouted {
    pub ticket: Ticket,
    pub routing: Routing,
}

/// Where the router sent a ticket, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Routing {
    /// The ruleset version applied; `None` before the company had one.
    pub ruleset_version: Option<u32>,
    pub decision: crate::routing::Decision,
    pub team: Option<crate::ids::TeamId>,
    /// The server the ticket is delivered to; `None` for review, or when
    /// no server was available.
    pub server: Option<crate::ids::ServerId>,
    /// Why that server (or why none).
    pub server_reason: String,
    /// What came of the assignment a rule asked for (`decision.assignee`):
    /// assigned, or why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment: Option<String>,
}

/// What one classifier said.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Classification {
    /// `None` when the model was unsure.
    pub label: Option<String>,
    /// Calibrated probability of `label` (of the best label when unsure).
    pub confidence: f32,
    /// The model was sure the text is none of its labels (its out-of-scope
    /// label won): `label` is `None`, but not for want of confidence.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub out_of_scope: bool,
    /// The version of the model that decided.
    pub model_version: String,
}

/// The longest `UrgencySource::Policy::rule` triage writes (in characters;
/// longer lists of matched rules are cut, ending in `…`).
pub const POLICY_RULES_MAX_CHARS: usize = 1_000;

/// Where the effective urgency came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum UrgencySource {
    /// The urgency model's prediction.
    Model,
    /// An admin's policy rule overrode (or filled in for) the model.
    Policy { rule: String },
    /// Neither model nor policy decided; the default applies.
    Default,
}

/// The triage stage's decision about a ticket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Triage {
    pub category: Classification,
    /// The urgency model's own prediction (before the policy).
    pub urgency_model: Classification,
    /// The urgency the ticket got.
    pub urgency: Urgency,
    pub urgency_source: UrgencySource,
    /// A person should triage this ticket: a model was unsure.
    pub needs_human: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub triaged_at: OffsetDateTime,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SuggestionKind {
    Faq,
    PastSolution,
}

/// A knowledge-base match offered to the engineer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Suggestion {
    pub kind: SuggestionKind,
    /// FAQ id, or the id of the ticket whose report this is.
    pub id: String,
    pub title: String,
    pub snippet: String,
    pub score: f32,
    /// Calibrated probability that this match answers the ticket.
    pub confidence: f32,
}

/// The knowledge base answered the customer directly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AutoAnswer {
    pub faq_id: String,
    pub question: String,
    pub answer: String,
    pub confidence: f32,
    #[serde(with = "time::serde::rfc3339")]
    pub answered_at: OffsetDateTime,
}

/// The assignee's report on a ticket: what was wrong, what fixed it, and
/// what it took. Once the customer approved it and the ticket is resolved,
/// the knowledge base offers it as a past solution.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Report {
    /// The malfunctions found.
    pub malfunction: String,
    /// The solutions applied.
    pub solution: String,
    /// Parts used.
    #[serde(default)]
    pub parts: Vec<String>,
    /// Labour time.
    #[serde(default)]
    pub time_spent_minutes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub travel_minutes: Option<u32>,
    /// Road distance travelled, in metres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub travel_distance_m: Option<u32>,
    /// Set when the travel figures were not written but estimated when the
    /// ticket was assigned (from the vehicle's or the assignee's home base
    /// to the equipment's site): who estimated them (`offline`, `osrm`,
    /// `google`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub travel_source: Option<String>,
    #[serde(default)]
    pub equipment_model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equipment_serial: Option<String>,
    /// Free notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

impl Report {
    /// The longest malfunction, solution or notes text, in characters.
    pub const TEXT_MAX_CHARS: usize = 10_000;
    /// At most this many parts, each of at most 200 characters.
    pub const PARTS_MAX: usize = 100;
    /// The most minutes of labour or travel one report records (a month).
    pub const MINUTES_MAX: u32 = 44_640;
    /// The longest travel one report records: half the Earth's
    /// circumference, in metres.
    pub const DISTANCE_MAX_M: u32 = 20_038_000;

    /// Checks lengths, counts and characters, naming the field at fault.
    pub fn validate(&self) -> Result<(), crate::ticket::ValidationError> {
        use crate::ticket::ValidationError;
        let text = |field: &str, value: &str, required: bool, max: usize| {
            if required && value.trim().is_empty() {
                return Err(ValidationError::new("invalid_report", field, format!("`{field}` must not be empty")));
            }
            if value.chars().count() > max {
                return Err(ValidationError::new(
                    "invalid_report",
                    field,
                    format!("`{field}` has more than {max} characters"),
                ));
            }
            crate::ticket::check_characters(field, value)
        };
        text("malfunction", &self.malfunction, true, Self::TEXT_MAX_CHARS)?;
        text("solution", &self.solution, true, Self::TEXT_MAX_CHARS)?;
        text("notes", self.notes.as_deref().unwrap_or_default(), false, Self::TEXT_MAX_CHARS)?;
        text("equipment_model", self.equipment_model.as_deref().unwrap_or_default(), false, 200)?;
        text("equipment_serial", self.equipment_serial.as_deref().unwrap_or_default(), false, 200)?;
        if self.parts.len() > Self::PARTS_MAX {
            return Err(ValidationError::new("invalid_report", "parts", format!("at most {} parts", Self::PARTS_MAX)));
        }
        for (index, part) in self.parts.iter().enumerate() {
            text(&format!("parts[{index}]"), part, true, 200)?;
        }
        for (field, minutes) in
            [("time_spent_minutes", self.time_spent_minutes), ("travel_minutes", self.travel_minutes)]
        {
            if minutes.is_some_and(|minutes| minutes > Self::MINUTES_MAX) {
                return Err(ValidationError::new(
                    "invalid_report",
                    field,
                    format!("`{field}` is at most {}", Self::MINUTES_MAX),
                ));
            }
        }
        if self.travel_distance_m.is_some_and(|metres| metres > Self::DISTANCE_MAX_M) {
            return Err(ValidationError::new(
                "invalid_report",
                "travel_distance_m",
                format!("`travel_distance_m` is at most {}", Self::DISTANCE_MAX_M),
            ));
        }
        Ok(())
    }
}

/// `tickets.events`: things that happened to a ticket that people and other
/// systems may want to hear about. Every lifecycle transition is one of
/// these, written by the store's `transition` in the transaction that
/// changed the status (and relayed to the topic from there), so an event is
/// never announced for a change that did not happen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TicketEvent {
    /// The knowledge base answered; the customer is to be told (and may
    /// reopen the ticket).
    AnsweredByFaq { ticket: Box<Ticket>, answer: AutoAnswer },
    /// The ticket was resolved with a report; the knowledge base learns it.
    Resolved { ticket: Box<Ticket>, report: Report },
    /// Any other lifecycle transition (`open` carries the assignment).
    StatusChanged { ticket: Box<Ticket>, action: Action, from: Status, to: Status, actor: Actor },
    /// An opened ticket went to another assignee or vehicle.
    Assigned { ticket: Box<Ticket>, assignee: AccountId, vehicle: Option<VehicleId>, actor: Actor },
    /// The assignee saved the report, as a draft or submitted for the
    /// customer's approval.
    ReportSaved { ticket: Box<Ticket>, report: Report, submitted: bool, actor: Actor },
    /// The customer approved the report (with their password), or rejected
    /// it with a reason, which sends it back to the assignee.
    ReportDecided { ticket: Box<Ticket>, approved: bool, reason: Option<String>, actor: Actor },
    /// A reply or an internal note was added.
    MessageAdded { ticket: Box<Ticket>, message: TicketMessage },
    /// A closed ticket was deleted; this is its tombstone.
    Deleted { ticket_id: crate::TicketId, actor: Actor },
    /// Staff corrected the category or urgency (`ticket` as it was before).
    LabelsCorrected { ticket: Box<Ticket>, before: Labels, after: Labels, actor: Actor },
    /// The ticket was filed (and stored).
    Created { ticket: Box<Ticket>, actor: Option<Actor> },
}

/// A ticket's category and urgency, before or after staff corrected them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Labels {
    pub category: Option<String>,
    pub urgency: Option<Urgency>,
}

/// A message on a ticket's conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TicketMessage {
    pub id: EventId,
    pub author: Option<AccountId>,
    pub author_role: crate::Role,
    /// Internal notes are for staff only, never shown to customers.
    pub internal: bool,
    pub body: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// What a transition carries besides the new status.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TransitionDetails {
    #[default]
    None,
    /// `answer_from_faq`: the answer the customer is sent.
    FaqAnswer(AutoAnswer),
    /// `resolve`: the assignee's report.
    Report(Report),
    /// `open`: who works on the ticket, with which vehicle.
    Assignment { assignee: AccountId, vehicle: Option<VehicleId> },
}

impl TicketEvent {
    /// The audit event of a transition; `ticket` is the ticket after it.
    pub fn of_transition(
        ticket: Ticket,
        from: Status,
        action: Action,
        actor: Actor,
        details: TransitionDetails,
    ) -> Self {
        match details {
            TransitionDetails::FaqAnswer(answer) => TicketEvent::AnsweredByFaq { ticket: Box::new(ticket), answer },
            TransitionDetails::Report(report) => TicketEvent::Resolved { ticket: Box::new(ticket), report },
            TransitionDetails::None | TransitionDetails::Assignment { .. } => {
                let to = ticket.status;
                TicketEvent::StatusChanged { ticket: Box::new(ticket), action, from, to, actor }
            }
        }
    }
}

/// `kb.changes`: an FAQ article changed in the store. An article is named
/// by its owner (`company`, absent for a shared article) and its id within
/// that owner; the message key is [`KbChange::key`]. The knowledge base
/// re-reads the article from the store, so a late or repeated change
/// message converges on the stored state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum KbChange {
    FaqChanged {
        id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        company: Option<String>,
    },
    FaqDeleted {
        id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        company: Option<String>,
    },
}

impl KbChange {
    /// `faq` (as stored) changed.
    pub fn changed(faq: &crate::kb::Faq) -> Self {
        KbChange::FaqChanged { id: faq.id.clone(), company: faq.company.clone() }
    }

    /// The article's owner (`None`: shared) and id.
    pub fn article(&self) -> (Option<&str>, &str) {
        match self {
            KbChange::FaqChanged { id, company } | KbChange::FaqDeleted { id, company } => {
                (company.as_deref(), id.as_str())
            }
        }
    }

    /// The message key: `company/id`, or the id of a shared article, so one
    /// article's changes stay in order.
    pub fn key(&self) -> String {
        match self.article() {
            (Some(company), id) => format!("{company}/{id}"),
            (None, id) => id.to_owned(),
        }
    }
}

/// A message on `accounts.events`: one thing that happened to an account.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountMessage {
    pub event_id: EventId,
    /// Also the message key.
    pub account_id: AccountId,
    pub company: CompanyId,
    pub schema_version: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    #[serde(flatten)]
    pub event: AccountEvent,
}

impl AccountMessage {
    pub fn new(account_id: AccountId, company: CompanyId, request_id: Option<String>, event: AccountEvent) -> Self {
        Self {
            event_id: EventId::new(),
            account_id,
            company,
            schema_version: crate::envelope::SCHEMA_VERSION,
            request_id,
            occurred_at: OffsetDateTime::now_utc(),
            event,
        }
    }
}

/// What happened to an account, as `{"type": …, "data": …}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum AccountEvent {
    /// Someone asked to reset the password of the account with this
    /// address: the notifier e-mails `token` (single use, valid until
    /// `expires_at`) to it. The token appears nowhere else (the store keeps
    /// its hash; `Debug` hides it).
    #[serde(rename = "account.password_reset_requested")]
    PasswordResetRequested {
        email: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        token: Secret<String>,
        #[serde(with = "time::serde::rfc3339")]
        expires_at: OffsetDateTime,
    },
}
