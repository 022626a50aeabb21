//! The envelope every bus message carries, and the payloads of the ticket
//! topics.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use crate::events::TicketSubmitted;
use crate::ids::{EventId, TicketId};
use crate::tenant::CompanyId;

/// Bumped when a payload changes incompatibly. Consumers refuse (dead-letter)
/// envelopes from a newer major schema than they know.
pub const SCHEMA_VERSION: u16 = 1;

/// What the stages after ingest may add to a ticket's message, at most:
/// triage's decision, the knowledge base's suggestions (up to 50, each
/// bounded by the FAQ and ticket field limits) and auto-answer (one answer of
/// at most `kb::limits::ANSWER_MAX_BYTES`, JSON-escaped), and a dead letter's
/// provenance headers. Ingest keeps this much of `bus.max_message_bytes`
/// free, so no stage's output or dead-letter copy can outgrow the bus.
/// `kb-index/tests/message_size.rs` checks the bound against the worst case.
pub const STAGE_HEADROOM_BYTES: usize = 512 * 1024;

/// The smallest message room ingest may be left with for a ticket.
pub const MIN_INGEST_MESSAGE_BYTES: usize = 16 * 1024;

/// The largest ticket message ingest accepts when the bus takes
/// `max_message_bytes`.
pub fn ingest_message_limit(max_message_bytes: usize) -> usize {
    max_message_bytes.saturating_sub(STAGE_HEADROOM_BYTES)
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// Unique per event and stable across re-sends, so consumers can drop
    /// duplicates.
    pub event_id: EventId,
    /// Also the message key: one ticket's events stay in order on one partition.
    pub ticket_id: TicketId,
    pub company: CompanyId,
    pub schema_version: u16,
    /// The `x-request-id` of the HTTP request that started this chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// 1 when the event is first produced; a producer that sends the same
    /// event again (same `event_id`) increments it.
    pub attempt: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    pub payload: T,
}

impl<T> Envelope<T> {
    pub fn new(ticket_id: TicketId, company: CompanyId, request_id: Option<String>, payload: T) -> Self {
        Self {
            event_id: EventId::new(),
            ticket_id,
            company,
            schema_version: SCHEMA_VERSION,
            request_id,
            attempt: 1,
            occurred_at: OffsetDateTime::now_utc(),
            payload,
        }
    }

    /// A follow-on event about the same ticket, keeping the request id so a
    /// trace spans every stage.
    pub fn follow<U>(&self, payload: U) -> Envelope<U> {
        Envelope::new(self.ticket_id, self.company.clone(), self.request_id.clone(), payload)
    }

    /// The event a stage emits in response to this one: like
    /// [`follow`](Self::follow), but with an id derived from this event's id
    /// and `tag`, so handling this event again emits the same event again.
    pub fn derive<U>(&self, tag: &str, payload: U) -> Envelope<U> {
        Envelope { event_id: EventId::derived(self.event_id, tag), ..self.follow(payload) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ticket::{Channel, NewRequester, NewTicket};

    #[test]
    fn envelopes_round_trip_through_json() {
        let ticket = NewTicket {
            title: Some("t".into()),
            requester: Some(NewRequester { email: Some("a@b.co".into()), name: None }),
            ..NewTicket::default()
        }
        .validate(TicketId::new(), Channel::Api, OffsetDateTime::UNIX_EPOCH)
        .expect("valid");
        let envelope = Envelope::new(
            ticket.id,
            ticket.company.clone(),
            Some("req-1".into()),
            TicketSubmitted { ticket, filed_by: None },
        );
        let json = serde_json::to_vec(&envelope).expect("serialize");
        let back: Envelope<TicketSubmitted> = serde_json::from_slice(&json).expect("deserialize");
        assert_eq!(back, envelope);
        let next = envelope.follow(());
        assert_eq!((next.ticket_id, next.request_id.as_deref()), (envelope.ticket_id, Some("req-1")));
        assert_ne!(next.event_id, envelope.event_id);
    }
}
