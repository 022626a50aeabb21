//! What a query means: its evaluation against one ticket in memory (the
//! router and the notifier decide this way; the store's SQL must agree).

use super::{Condition, Field, Value, micros, rank};
use crate::lifecycle::Status;
use crate::text::normalize;
use crate::ticket::{Ticket, Urgency};

/// A ticket made ready for evaluating queries: what several conditions need
/// (its normalised text, its requester's domain) is worked out once.
#[derive(Clone, Debug)]
pub struct Subject<'a> {
    ticket: &'a Ticket,
    text: String,
    domain: Option<String>,
}

/// The ticket's title and description as text conditions see them: each
/// through the one normalisation, with a space at either end so that whole
/// words can be found by looking for ` words `, and a `|` between them (never
/// part of normalised words) so that no phrase runs from one into the other.
/// The store keeps this very string.
pub fn searchable_text(title: &str, description: &str) -> String {
    format!(" {} | {} ", normalize(title, usize::MAX), normalize(description, usize::MAX))
}

/// The domain of a requester's address, in lower case; `None` without one
/// (the address of a deleted account is blank).
pub fn requester_domain(email: &str) -> Option<String> {
    email.rsplit_once('@').map(|(_, domain)| domain.to_lowercase()).filter(|domain| !domain.is_empty())
}

/// Whether `haystack` (as [`searchable_text`] makes it) holds `words` as
/// whole words.
fn contains_words(haystack: &str, words: &str) -> bool {
    let bytes = haystack.as_bytes();
    haystack
        .match_indices(words)
        .any(|(start, _)| start > 0 && bytes[start - 1] == b' ' && bytes.get(start + words.len()) == Some(&b' '))
}

impl<'a> Subject<'a> {
    pub fn new(ticket: &'a Ticket) -> Self {
        Self {
            ticket,
            text: searchable_text(&ticket.title, &ticket.description),
            domain: requester_domain(&ticket.requester.email),
        }
    }

    pub fn ticket(&self) -> &'a Ticket {
        self.ticket
    }

    pub(super) fn satisfies(&self, condition: &Condition) -> bool {
        let ticket = self.ticket;
        let (field, op, value) = match condition {
            Condition::Has(field) => return self.has(*field),
            Condition::Compare { field, op, value } => (*field, *op, value),
        };
        let equals_id = |actual: Option<uuid::Uuid>| matches!(value, Value::Id(id) if actual == Some(*id));
        let equals_keyword = |actual: Option<&str>| matches!(value, Value::Keyword(keyword) if actual == Some(keyword));
        let compares_number = |actual: Option<f32>| matches!(value, Value::Number(number) if actual.is_some_and(|actual| op.holds(f64::from(actual), *number)));
        match field {
            Field::Id => equals_id(Some(ticket.id.0)),
            Field::Status => matches!(value, Value::Status(status)
                if op.holds(rank(&Status::ALL, ticket.status), rank(&Status::ALL, *status))),
            Field::Urgency => matches!(value, Value::Urgency(urgency)
                if ticket.urgency.is_some_and(|actual| op.holds(rank(&Urgency::ALL, actual), rank(&Urgency::ALL, *urgency)))),
            Field::Category => equals_keyword(ticket.category.as_deref()),
            Field::Channel => matches!(value, Value::Channel(channel) if ticket.channel == *channel),
            Field::Company => equals_keyword(Some(ticket.company.as_str())),
            Field::Tag => matches!(value, Value::Keyword(keyword) if ticket.tags.contains(keyword)),
            Field::Text => matches!(value, Value::Text(words) if contains_words(&self.text, words)),
            Field::RequesterEmail => equals_keyword(Some(&ticket.requester.email)),
            Field::RequesterDomain => equals_keyword(self.domain.as_deref()),
            Field::RequesterName => equals_keyword(ticket.requester.name.as_deref()),
            Field::RequesterAccount => equals_id(ticket.requester.account.map(|id| id.0)),
            Field::EquipmentModel => {
                equals_keyword(ticket.equipment.as_ref().map(|equipment| equipment.model.as_str()))
            }
            Field::EquipmentSerial => {
                equals_keyword(ticket.equipment.as_ref().and_then(|equipment| equipment.serial.as_deref()))
            }
            Field::Assignee => equals_id(ticket.assignee.map(|id| id.0)),
            Field::Team => equals_id(ticket.team.map(|id| id.0)),
            Field::Server => equals_id(ticket.server.map(|id| id.0)),
            Field::Vehicle => equals_id(ticket.vehicle.map(|id| id.0)),
            Field::Created => match value {
                Value::Time(time) => {
                    let created = micros(ticket.created_at);
                    let (from, to) = time.bounds(op);
                    from.is_none_or(|from| created >= from) && to.is_none_or(|to| created < to)
                }
                _ => false,
            },
            Field::CategoryConfidence => {
                compares_number(ticket.triage.as_ref().map(|triage| triage.category.confidence))
            }
            Field::UrgencyConfidence => {
                compares_number(ticket.triage.as_ref().map(|triage| triage.urgency_model.confidence))
            }
            Field::Unsure => matches!(value, Value::Bool(flag)
                if ticket.triage.as_ref().is_some_and(|triage| triage.needs_human) == *flag),
            Field::Answered => matches!(value, Value::Bool(flag) if ticket.answered_by_faq.is_some() == *flag),
        }
    }

    fn has(&self, field: Field) -> bool {
        let ticket = self.ticket;
        match field {
            Field::Urgency => ticket.urgency.is_some(),
            Field::Category => ticket.category.is_some(),
            Field::Tag => !ticket.tags.is_empty(),
            Field::RequesterDomain => self.domain.is_some(),
            Field::RequesterName => ticket.requester.name.is_some(),
            Field::RequesterAccount => ticket.requester.account.is_some(),
            Field::EquipmentModel => ticket.equipment.is_some(),
            Field::EquipmentSerial => ticket.equipment.as_ref().is_some_and(|equipment| equipment.serial.is_some()),
            Field::Assignee => ticket.assignee.is_some(),
            Field::Team => ticket.team.is_some(),
            Field::Server => ticket.server.is_some(),
            Field::Vehicle => ticket.vehicle.is_some(),
            Field::CategoryConfidence | Field::UrgencyConfidence => ticket.triage.is_some(),
            // Always set: the parser refuses `has:` on these.
            Field::Id
            | Field::Status
            | Field::Channel
            | Field::Company
            | Field::Text
            | Field::RequesterEmail
            | Field::Created
            | Field::Unsure
            | Field::Answered => true,
        }
    }
}
