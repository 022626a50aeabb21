//! The message bus and the stage runner.
//!
//! [`Bus`] is the one interface stages see: create topics, produce (the
//! future resolves only once the message is durable), subscribe as a member
//! of a consumer group, store offsets, commit. Two backends implement it with
//! the same semantics:
//!
//! * [`kafka::KafkaBus`]: Apache Kafka or any Kafka-protocol broker, through
//!   `rdkafka` (the only crate that names it);
//! * [`embedded::EmbeddedBus`]: a durable log kept in the store (SQLite by
//!   default), for one machine and no broker.
//!
//! [`runner`] drives a stage: consume → handle → produce outputs → store the
//! offset, with retries, a dead-letter topic per stage and graceful
//! shutdown. [`StageContext`] is what the binary hands each stage's entry;
//! [`decode_envelope`] and [`Transience`] are the one way stages read
//! messages and classify failures.

mod context;
pub mod dead_letters;
pub mod embedded;
mod error;
pub mod group_commit;
pub mod kafka;
mod message;
pub mod outbox;
pub mod retention;
pub mod runner;
#[cfg(feature = "testing")]
pub mod testing;
mod tracker;

use std::sync::Arc;

use async_trait::async_trait;

pub use context::{Resources, StageContext};
pub use error::{Error, Result, Transience};
pub use message::{Delivery, Headers, Message, OutgoingMessage, decode_envelope, headers};
pub use runner::{Handler, HandlerError, Stage};

/// A message bus backend. Cheap to share behind an `Arc`.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// `"kafka"` or `"embedded"`, for logs and metrics.
    fn backend(&self) -> &'static str;

    /// The largest message [`Bus::produce`] takes
    /// ([`OutgoingMessage::size_bytes`]); larger ones fail with the
    /// permanent [`Error::TooLarge`] before anything is sent.
    fn max_message_bytes(&self) -> usize;

    /// Creates each topic that does not exist yet, with `partitions`
    /// partitions where the backend has partitions. Existing topics are left
    /// as they are.
    async fn create_topics(&self, topics: &[String], partitions: u32) -> Result<()>;

    /// Sends one message. Resolves once the message is durable (acknowledged
    /// by all in-sync replicas, or committed to the store): only then may a
    /// caller tell anyone it is safe. Many calls may be in flight at once.
    async fn produce(&self, message: OutgoingMessage) -> Result<Delivery>;

    /// Joins consumer group `group` reading `topics`. Messages of a partition
    /// arrive in order; reading starts at the group's committed offsets, or
    /// at the beginning for a new group.
    async fn subscribe(&self, group: &str, topics: &[String]) -> Result<Arc<dyn Consumer>>;

    /// A cheap round trip that shows the bus can take work (readiness).
    async fn check(&self) -> Result<()>;

    /// What `group` has left to read of `topic`, per partition: where it
    /// resumes (its committed offset, or the start of the log) and the end
    /// (the offset the next message will get). For tools that read a topic
    /// to its current end and stop (`switchboard dlq`).
    async fn backlog(&self, group: &str, topic: &str) -> Result<Vec<PartitionBacklog>>;
}

/// One partition's part of [`Bus::backlog`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionBacklog {
    pub partition: i32,
    pub resume: i64,
    pub end: i64,
}

impl PartitionBacklog {
    /// Messages left to read.
    pub fn pending(&self) -> i64 {
        (self.end - self.resume).max(0)
    }
}

/// One member of a consumer group.
#[async_trait]
pub trait Consumer: Send + Sync {
    /// The next message. Cancel-safe: dropping the future loses nothing.
    async fn recv(&self) -> Result<Message>;

    /// Records that everything in `topic`/`partition` before `next_offset`
    /// is done, to be committed by the next [`Consumer::commit`] (or
    /// automatically). Only ever move it forward.
    fn store_offset(&self, topic: &str, partition: i32, next_offset: i64) -> Result<()>;

    /// Commits stored offsets without blocking the executor.
    async fn commit(&self) -> Result<()>;

    /// Commits stored offsets one last time and leaves the group.
    async fn close(&self) -> Result<()>;
}
