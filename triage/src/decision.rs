//! The triage stage's decision about one ticket, in `switchboard-core`'s
//! terms: what the stage puts on `tickets.triaged`.

use switchboard_core::Ticket;
use switchboard_core::events::{Classification, POLICY_RULES_MAX_CHARS, Triage, UrgencySource as CoreUrgencySource};
use time::OffsetDateTime;

use crate::model::{Model, Prediction};
use crate::policy::{CompiledPolicy, PolicyInput, UrgencySource};
use crate::text::ticket_text;
use crate::urgency_of;

impl Prediction {
    /// The prediction as the ticket records it.
    pub fn classification(&self) -> Classification {
        Classification {
            label: self.label.clone(),
            confidence: self.confidence,
            out_of_scope: self.unsure == Some(crate::model::UnsureReason::OutOfScope),
            model_version: self.model_version.clone(),
        }
    }
}

/// Classifies a ticket with both models and applies the urgency policy. Pure
/// and CPU-bound (tens of microseconds): call it off the async executor.
///
/// `needs_human` is set when the category model was unsure, or when the
/// urgency model was unsure and no policy rule decided the urgency.
pub fn triage_ticket(
    category_model: &Model,
    urgency_model: &Model,
    policy: &CompiledPolicy,
    ticket: &Ticket,
    triaged_at: OffsetDateTime,
) -> Triage {
    let text = ticket_text(ticket);
    let category = category_model.predict(&text);
    let urgency = urgency_model.predict(&text);
    let decision = policy.apply(&PolicyInput {
        model_urgency: urgency_of(&urgency),
        category: category.label.as_deref(),
        text: &text,
    });
    let urgency_source = match decision.source {
        UrgencySource::Model => CoreUrgencySource::Model,
        UrgencySource::Default => CoreUrgencySource::Default,
        UrgencySource::Policy => CoreUrgencySource::Policy { rule: describe_rules(policy, &decision.matched_rules) },
    };
    let needs_human = category.is_unsure() || (urgency.is_unsure() && decision.source != UrgencySource::Policy);
    Triage {
        category: category.classification(),
        urgency_model: urgency.classification(),
        urgency: decision.urgency,
        urgency_source,
        needs_human,
        triaged_at,
    }
}

/// The matched rules' names (or descriptions), joined, cut at
/// [`POLICY_RULES_MAX_CHARS`] so the ticket stays small however many rules
/// matched.
fn describe_rules(policy: &CompiledPolicy, matched: &[usize]) -> String {
    let joined = matched.iter().map(|&index| policy.policy().rules[index].describe()).collect::<Vec<_>>().join("; ");
    match joined.char_indices().nth(POLICY_RULES_MAX_CHARS) {
        Some((end, _)) => format!("{}…", &joined[..end]),
        None => joined,
    }
}
