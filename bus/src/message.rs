use serde::Serialize;
use switchboard_core::{Envelope, EventId, SCHEMA_VERSION, TicketId};

use crate::error::{Error, Result};
use crate::runner::HandlerError;

/// Header names Switchboard sets on every message it produces.
pub mod headers {
    /// The `x-request-id` of the HTTP request that started the chain.
    pub const REQUEST_ID: &str = "request-id";
    /// The envelope's event id, readable without decoding the payload.
    pub const EVENT_ID: &str = "event-id";
    pub const CONTENT_TYPE: &str = "content-type";
    /// Provenance on a dead-letter topic.
    pub const DLQ_ORIGIN_TOPIC: &str = "dlq-origin-topic";
    pub const DLQ_ORIGIN_PARTITION: &str = "dlq-origin-partition";
    pub const DLQ_ORIGIN_OFFSET: &str = "dlq-origin-offset";
    pub const DLQ_ERROR: &str = "dlq-error";
    pub const DLQ_ATTEMPTS: &str = "dlq-attempts";
    pub const DLQ_STAGE: &str = "dlq-stage";
    pub const DLQ_FAILED_AT: &str = "dlq-failed-at";
    /// On a dead-letter stub: the size in bytes of the message that was too
    /// large to dead-letter whole. The stub has no payload; the original is
    /// at the origin offset (for the topic's retention).
    pub const DLQ_TRUNCATED: &str = "dlq-truncated";
    /// On a message `switchboard dlq replay` put back on its topic: the one
    /// stage that is to handle it. Every other stage reading the topic
    /// skips it (it handled the original already).
    pub const REPLAY_STAGE: &str = "replay-stage";
}

/// Message headers: an ordered list of UTF-8 names and values (a name may
/// repeat; [`Headers::get`] returns the last).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Headers(pub Vec<(String, String)>);

impl Headers {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().rev().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    /// Sets `name`, replacing earlier values.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.0.retain(|(key, _)| key != name);
        self.0.push((name.to_owned(), value.into()));
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(key, value)| (key.as_str(), value.as_str()))
    }
}

/// A message to produce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingMessage {
    pub topic: String,
    /// Decides the partition: messages with one key stay in order.
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: Headers,
}

impl OutgoingMessage {
    /// What counts against [`crate::Bus::max_message_bytes`]: payload, key
    /// and every header name and value.
    pub fn size_bytes(&self) -> usize {
        self.payload.len()
            + self.key.as_ref().map_or(0, Vec::len)
            + self.headers.iter().map(|(name, value)| name.len() + value.len()).sum::<usize>()
    }

    /// Refuses a message over `limit` bytes before it is sent.
    pub fn check_size(&self, limit: usize) -> Result<()> {
        let bytes = self.size_bytes();
        if bytes > limit { Err(Error::TooLarge { topic: self.topic.clone(), bytes, limit }) } else { Ok(()) }
    }

    /// The message for an envelope: keyed by ticket id, JSON payload, with the
    /// request id and event id as headers.
    pub fn for_envelope<T: Serialize>(topic: impl Into<String>, envelope: &Envelope<T>) -> Result<Self> {
        let payload = serde_json::to_vec(envelope).map_err(|error| Error::Invalid(error.to_string()))?;
        Ok(Self::for_encoded_envelope(
            topic,
            envelope.ticket_id,
            envelope.event_id,
            envelope.request_id.as_deref(),
            payload,
        ))
    }

    /// [`OutgoingMessage::for_envelope`] for an envelope already encoded
    /// (the outbox keeps them so): the same key and headers.
    pub fn for_encoded_envelope(
        topic: impl Into<String>,
        ticket_id: TicketId,
        event_id: EventId,
        request_id: Option<&str>,
        payload: Vec<u8>,
    ) -> Self {
        Self::json(topic, ticket_id.to_string(), event_id, request_id, payload)
    }

    /// A JSON event message under `key`, with the event id and request id
    /// headers every Switchboard message has.
    pub fn json(
        topic: impl Into<String>,
        key: String,
        event_id: EventId,
        request_id: Option<&str>,
        payload: Vec<u8>,
    ) -> Self {
        let mut headers = Headers::default();
        headers.set(headers::EVENT_ID, event_id.to_string());
        headers.set(headers::CONTENT_TYPE, "application/json");
        if let Some(request_id) = request_id {
            headers.set(headers::REQUEST_ID, request_id);
        }
        Self { topic: topic.into(), key: Some(key.into_bytes()), payload, headers }
    }
}

/// Where a produced message landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub partition: i32,
    pub offset: i64,
}

/// A consumed message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: Headers,
    pub timestamp_ms: Option<i64>,
    /// Changes whenever the consumer's partition assignment changes; offsets
    /// of messages from an older generation are not stored (their partitions
    /// may belong to another member now).
    pub generation: u64,
}

impl Message {
    pub fn key_str(&self) -> Option<&str> {
        self.key.as_deref().and_then(|key| std::str::from_utf8(key).ok())
    }

    /// Decodes a JSON envelope payload.
    pub fn envelope<T: serde::de::DeserializeOwned>(&self) -> Result<Envelope<T>, serde_json::Error> {
        serde_json::from_slice(&self.payload)
    }
}

/// Decodes a message's JSON envelope for a stage: an undecodable payload or
/// an envelope of a newer schema than this build knows is a permanent
/// failure (dead-lettered, never retried).
pub fn decode_envelope<T: serde::de::DeserializeOwned>(message: &Message) -> Result<Envelope<T>, HandlerError> {
    let envelope: Envelope<T> =
        message.envelope().map_err(|error| HandlerError::permanent(format!("undecodable envelope: {error}")))?;
    if envelope.schema_version > SCHEMA_VERSION {
        return Err(HandlerError::permanent(format!(
            "envelope schema version {} is newer than this build's {SCHEMA_VERSION}",
            envelope.schema_version
        )));
    }
    Ok(envelope)
}
