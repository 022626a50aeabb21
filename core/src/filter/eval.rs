//! What a query means: its evaluation against one ticket in memory (the
//! router and the notifier decide this way; the store's SQL must agree).

use super::{Condition, Field, Query, Value, micros, rank};
use crate::lifecycle::Status;
use crate::text::normalize;
use crate::ticket::{Ticket, Urgency};

/// A ticket made ready for evaluating queries: what several conditions need
/// (its normalised text, its requester's domain) is worked out once, the
/// text only when a condition first looks at it.
#[derive(Clone, Debug)]
pub struct Subject<'a> {
    ticket: &'a Ticket,
    text: std::cell::OnceCell<String>,
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
    let whole = |start: usize| start > 0 && bytes[start - 1] == b' ' && bytes.get(start + words.len()) == Some(&b' ');
    // Usually the first occurrence decides (or there is none). Otherwise
    // every later occurrence is tried, overlapping ones too: in
    // ` bana na na `, `na na` first matches inside `bana`, then as words.
    let Some(first) = haystack.find(words) else { return false };
    if whole(first) {
        return true;
    }
    let step = words.chars().next().map_or(1, char::len_utf8);
    let mut from = first + step;
    while let Some(offset) = haystack[from..].find(words) {
        let start = from + offset;
        if whole(start) {
            return true;
        }
        from = start + step;
    }
    false
}

impl<'a> Subject<'a> {
    pub fn new(ticket: &'a Ticket) -> Self {
        Self { ticket, text: std::cell::OnceCell::new(), domain: requester_domain(&ticket.requester.email) }
    }

    pub fn ticket(&self) -> &'a Ticket {
        self.ticket
    }

    fn text(&self) -> &str {
        self.text.get_or_init(|| searchable_text(&self.ticket.title, &self.ticket.description))
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
            Field::Text => matches!(value, Value::Text(words) if contains_words(self.text(), words)),
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

impl Query {
    /// Whether the ticket is selected, and why, for routing traces: the
    /// first part that fails an `AND`, the first that holds in an `OR`, and
    /// for a single condition the ticket's own value of the field.
    pub fn explain(&self, subject: &Subject<'_>) -> (bool, String) {
        // Parts are evaluated with `matches`; only the one that decides is
        // put into words (the trace is written for every rule and ticket).
        match self {
            Query::All(parts) if parts.is_empty() => (true, "the empty condition holds for every ticket".into()),
            Query::All(parts) => match parts.iter().find(|part| !part.matches(subject)) {
                Some(failing) => failing.explain(subject),
                None => (true, format!("all {} conditions hold", parts.len())),
            },
            Query::Any(parts) => match parts.iter().find(|part| part.matches(subject)) {
                Some(holding) => holding.explain(subject),
                None => (false, format!("none of the {} alternatives holds", parts.len())),
            },
            Query::Not(inner) => {
                let (holds, why) = inner.explain(subject);
                (!holds, format!("negated: {why}"))
            }
            Query::Condition(condition) => {
                let holds = subject.satisfies(condition);
                let verdict = if holds { "holds" } else { "does not hold" };
                (holds, format!("`{condition}` {verdict}: {}", subject.describe(condition)))
            }
        }
    }
}

impl Subject<'_> {
    /// The ticket's value of the condition's field, in words.
    fn describe(&self, condition: &Condition) -> String {
        let ticket = self.ticket;
        let field = match condition {
            Condition::Has(field) | Condition::Compare { field, .. } => *field,
        };
        let name = field.name();
        let shown = |value: Option<String>| match value {
            Some(value) => format!("{name} is {value}"),
            None => format!("{name} is not set"),
        };
        let id = |value: Option<uuid::Uuid>| shown(value.map(|id| id.to_string()));
        match field {
            Field::Id => id(Some(ticket.id.0)),
            Field::Status => shown(Some(ticket.status.as_str().into())),
            Field::Urgency => shown(ticket.urgency.map(|urgency| urgency.as_str().into())),
            Field::Category => shown(ticket.category.clone()),
            Field::Channel => shown(Some(ticket.channel.as_str().into())),
            Field::Company => shown(Some(ticket.company.to_string())),
            Field::Tag if ticket.tags.is_empty() => "the ticket has no tags".into(),
            Field::Tag => format!("the ticket's tags are {}", ticket.tags.join(", ")),
            Field::Text => "looked for in the title and description".into(),
            Field::RequesterEmail => shown(Some(ticket.requester.email.clone())),
            Field::RequesterDomain => shown(self.domain.clone()),
            Field::RequesterName => shown(ticket.requester.name.clone()),
            Field::RequesterAccount => id(ticket.requester.account.map(|id| id.0)),
            Field::EquipmentModel => shown(ticket.equipment.as_ref().map(|equipment| equipment.model.clone())),
            Field::EquipmentSerial => shown(ticket.equipment.as_ref().and_then(|equipment| equipment.serial.clone())),
            Field::Assignee => id(ticket.assignee.map(|id| id.0)),
            Field::Team => id(ticket.team.map(|id| id.0)),
            Field::Server => id(ticket.server.map(|id| id.0)),
            Field::Vehicle => id(ticket.vehicle.map(|id| id.0)),
            Field::Created => shown(ticket.created_at.format(&time::format_description::well_known::Rfc3339).ok()),
            Field::CategoryConfidence => {
                shown(ticket.triage.as_ref().map(|triage| triage.category.confidence.to_string()))
            }
            Field::UrgencyConfidence => {
                shown(ticket.triage.as_ref().map(|triage| triage.urgency_model.confidence.to_string()))
            }
            Field::Unsure => shown(Some(ticket.triage.as_ref().is_some_and(|triage| triage.needs_human).to_string())),
            Field::Answered => shown(Some(ticket.answered_by_faq.is_some().to_string())),
        }
    }
}
