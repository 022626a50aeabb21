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
//! offset, with retries, a dead-letter topic and graceful shutdown.

pub mod embedded;
mod error;
pub mod group_commit;
pub mod kafka;
mod message;
pub mod runner;
#[cfg(feature = "testing")]
pub mod testing;
mod tracker;

use std::sync::Arc;

use async_trait::async_trait;

pub use error::{Error, Result};
pub use message::{Delivery, Headers, Message, OutgoingMessage, headers};
pub use runner::{Handler, HandlerError, Stage};

/// A message bus backend. Cheap to share behind an `Arc`.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// `"kafka"` or `"embedded"`, for logs and metrics.
    fn backend(&self) -> &'static str;

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
