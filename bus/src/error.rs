use std::sync::Arc;
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use thiserror::Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Error, Clone)]
pub enum Error {
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("cannot create topic `{topic}`: {code}")]
    CreateTopic { topic: String, code: RDKafkaErrorCode },
    #[error("the embedded log failed")]
    Store(#[source] Arc<switchboard_store::Error>),
    #[error("unknown topic `{0}`: topics are created at start-up, never on first use")]
    UnknownTopic(String),
    #[error("the Kafka producer failed fatally and must be restarted: {0}")]
    Fatal(String),
    #[error("the bus is shut down")]
    Closed,
    #[error("no answer from the bus within {0:?}")]
    Timeout(Duration),
    #[error("invalid message: {0}")]
    Invalid(String),
    #[error("a message of {bytes} bytes for `{topic}` is over the bus's limit of {limit} (bus.max_message_bytes)")]
    TooLarge { topic: String, bytes: usize, limit: usize },
}

impl From<switchboard_store::Error> for Error {
    fn from(error: switchboard_store::Error) -> Self {
        match error {
            switchboard_store::Error::UnknownTopic(topic) => Error::UnknownTopic(topic),
            other => Error::Store(Arc::new(other)),
        }
    }
}

/// Whether a failure is worth retrying. Every error a stage handler can
/// meet implements it, so [`crate::HandlerError::classify`] is the one place
/// a failure becomes transient (retried) or permanent (dead-lettered).
pub trait Transience: std::error::Error + Send + Sync + 'static {
    /// True when trying the same thing again later may work: a dependency
    /// is down or busy, as opposed to a message or configuration that is wrong.
    fn is_transient(&self) -> bool;
}

impl Transience for switchboard_store::Error {
    fn is_transient(&self) -> bool {
        switchboard_store::Error::is_transient(self)
    }
}

impl Transience for Error {
    fn is_transient(&self) -> bool {
        Error::is_transient(self)
    }
}

impl Error {
    /// Whether trying again later may work: broker or database trouble, as
    /// opposed to a message or a configuration that is wrong.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Kafka(error) => !matches!(
                error.rdkafka_error_code(),
                Some(
                    RDKafkaErrorCode::MessageSizeTooLarge
                        | RDKafkaErrorCode::InvalidMessage
                        | RDKafkaErrorCode::UnknownTopicOrPartition
                        | RDKafkaErrorCode::TopicAuthorizationFailed
                        | RDKafkaErrorCode::InvalidConfig
                )
            ),
            Error::Store(error) => error.is_transient(),
            Error::Timeout(_) | Error::Closed => true,
            Error::Fatal(_)
            | Error::CreateTopic { .. }
            | Error::UnknownTopic(_)
            | Error::Invalid(_)
            | Error::TooLarge { .. } => false,
        }
    }
}
