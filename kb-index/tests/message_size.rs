//! No valid ticket can outgrow the bus on its way through the stages: the
//! largest ticket ingest accepts, with the most that triage and the
//! knowledge base can add to it and a dead letter's provenance on top, still
//! fits `bus.max_message_bytes`. The bound is
//! `envelope::STAGE_HEADROOM_BYTES`, which ingest keeps free.

use switchboard_bus::OutgoingMessage;
use switchboard_core::envelope::{STAGE_HEADROOM_BYTES, TicketSubmitted, ingest_message_limit};
use switchboard_core::events::{
    AutoAnswer, Classification, POLICY_RULES_MAX_CHARS, Suggestion, SuggestionKind, TicketMatched, TicketTriaged,
    Triage, UrgencySource,
};
use switchboard_core::kb::limits as faq;
use switchboard_core::ticket::{NewTicket, Urgency, limits as ticket};
use switchboard_core::{Channel, Envelope, TicketId};
use switchboard_kb::search::SNIPPET_CHARS;
use time::OffsetDateTime;

const BUS_LIMIT: usize = switchboard_core::config::DEFAULT_MAX_MESSAGE_BYTES;
/// Most suggestions a ticket gets (`kb.suggestions` is at most 50).
const SUGGESTIONS_MAX: usize = 50;
/// What a dead-letter copy adds: the provenance headers (the error is cut
/// at 2,048 bytes) with topic and stage names.
const DEAD_LETTER_HEADERS: usize = 4 * 1024;
/// Labels and model versions come from the shipped or trained models; this
/// is far above any they have.
const LABEL_MAX_CHARS: usize = 200;

/// `chars` characters that each take the most bytes in JSON without being
/// refused (control characters are): four-byte UTF-8, written unescaped.
fn widest(chars: usize) -> String {
    "𝄞".repeat(chars)
}

/// `bytes` bytes of text that take twice as much in JSON (each is escaped).
fn escaped(bytes: usize) -> String {
    "\"".repeat(bytes)
}

fn largest_valid_ticket() -> switchboard_core::Ticket {
    let submission: NewTicket = serde_json::from_value(serde_json::json!({
        "title": widest(ticket::TITLE_MAX_CHARS),
        "description": escaped(ticket::DESCRIPTION_MAX_BYTES),
        "requester": {
            "email": format!("{}@{label}.{label}.{label}.ex", "a".repeat(ticket::EMAIL_LOCAL_MAX_BYTES), label = "b".repeat(60)),
            "name": widest(ticket::NAME_MAX_CHARS),
        },
        "company": widest(ticket::COMPANY_MAX_CHARS),
        "tags": (0..ticket::TAGS_MAX).map(|index| format!("{index:02}{}", widest(ticket::TAG_MAX_CHARS - 2))).collect::<Vec<_>>(),
        "equipment": {"model": widest(ticket::EQUIPMENT_FIELD_MAX_CHARS), "serial": widest(ticket::EQUIPMENT_FIELD_MAX_CHARS)},
    }))
    .expect("a ticket body");
    submission.validate(TicketId::new(), Channel::Api, OffsetDateTime::now_utc()).expect("the largest valid ticket")
}

fn classification() -> Classification {
    Classification {
        label: Some(widest(LABEL_MAX_CHARS)),
        confidence: 0.5,
        out_of_scope: false,
        model_version: widest(LABEL_MAX_CHARS),
    }
}

#[test]
fn the_largest_ticket_with_the_most_the_stages_add_fits_the_bus() {
    let ticket = largest_valid_ticket();
    let submitted = Envelope::new(
        ticket.id,
        ticket.company.clone(),
        Some("r".repeat(128)),
        TicketSubmitted { ticket: ticket.clone(), filed_by: None },
    );
    let submitted_bytes = OutgoingMessage::for_envelope("tickets.submitted", &submitted).expect("encode").size_bytes();
    assert!(
        submitted_bytes <= ingest_message_limit(BUS_LIMIT),
        "ingest would refuse a valid ticket: {submitted_bytes} bytes"
    );

    let mut grown = ticket;
    grown.urgency = Some(Urgency::Critical);
    grown.category = Some(widest(LABEL_MAX_CHARS));
    grown.triage = Some(Triage {
        category: classification(),
        urgency_model: classification(),
        urgency: Urgency::Critical,
        urgency_source: UrgencySource::Policy { rule: format!("{}…", widest(POLICY_RULES_MAX_CHARS)) },
        needs_human: true,
        triaged_at: OffsetDateTime::now_utc(),
    });
    let triaged = submitted.derive("triage", TicketTriaged { ticket: grown.clone() });
    let triaged_bytes = OutgoingMessage::for_envelope("tickets.triaged", &triaged).expect("encode").size_bytes();

    grown.suggestions = Some(
        (0..SUGGESTIONS_MAX)
            .map(|_| Suggestion {
                kind: SuggestionKind::PastSolution,
                id: "i".repeat(faq::ID_MAX_CHARS),
                title: widest(faq::QUESTION_MAX_CHARS),
                snippet: format!("{}…", widest(SNIPPET_CHARS)),
                score: f32::MAX,
                confidence: 0.123_456_79,
            })
            .collect(),
    );
    grown.answered_by_faq = Some(AutoAnswer {
        faq_id: "i".repeat(faq::ID_MAX_CHARS),
        question: widest(faq::QUESTION_MAX_CHARS),
        answer: escaped(faq::ANSWER_MAX_BYTES),
        confidence: 0.123_456_79,
        answered_at: OffsetDateTime::now_utc(),
    });
    let matched = triaged.derive("kb", TicketMatched { ticket: grown });
    let matched_bytes = OutgoingMessage::for_envelope("tickets.matched", &matched).expect("encode").size_bytes();

    let growth = triaged_bytes.max(matched_bytes) - submitted_bytes + DEAD_LETTER_HEADERS;
    eprintln!("largest ticket {submitted_bytes} bytes, matched {matched_bytes}, growth with a dead letter {growth}");
    assert!(
        growth <= STAGE_HEADROOM_BYTES,
        "the stages can add {growth} bytes, over the {STAGE_HEADROOM_BYTES} kept free"
    );
    assert!(matched_bytes + DEAD_LETTER_HEADERS <= BUS_LIMIT, "{matched_bytes} bytes");
}
