//! The embedded bus: a durable log inside the store, for one machine.
//!
//! * **Produce** hands the message to a single writer task. The writer takes
//!   everything queued (up to `max_batch`) and appends it in one transaction,
//!   so many concurrent producers share one fsync (group commit). A produce
//!   resolves only after that transaction committed.
//! * **Consume** reads each subscribed topic from the group's position. After
//!   every commit the writer bumps a version that wakes idle consumers, so
//!   they do not poll; a slow safety-net re-read (`idle_poll_ms`) covers
//!   writes made by another process on a shared PostgreSQL log.
//! * Each topic is a single partition (partition 0): one process reads it, and
//!   the stage runner still handles many tickets at once, in order per ticket.
//! * One member per consumer group at a time: the embedded bus is for one
//!   process (`switchboard up`); distributed deployments use Kafka.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use switchboard_core::config::EmbeddedBusConfig;
use switchboard_store::{AppendRecord, LogRecord, Store};
use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::group_commit::GroupCommit;
use crate::message::{Delivery, Headers, Message, OutgoingMessage};
use crate::{Bus, Consumer, PartitionBacklog};

/// Requests waiting for the writer; producers wait here when it falls behind.
const WRITER_QUEUE: usize = 16 * 1024;

pub struct EmbeddedBus {
    store: Store,
    config: EmbeddedBusConfig,
    max_message_bytes: usize,
    writer: GroupCommit<AppendRecord, i64, Error>,
    /// Bumped after every committed append.
    appended: watch::Receiver<u64>,
    known_topics: RwLock<HashSet<String>>,
}

impl std::fmt::Debug for EmbeddedBus {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("EmbeddedBus").field("backend", &self.store.backend()).finish()
    }
}

impl EmbeddedBus {
    /// Starts the writer task on the current runtime. The store must be
    /// migrated.
    pub fn new(store: Store, config: EmbeddedBusConfig, max_message_bytes: usize) -> Self {
        let (version, appended) = watch::channel(0_u64);
        let writer_store = store.clone();
        let writer = GroupCommit::spawn(config.max_batch, WRITER_QUEUE, move |records: Vec<AppendRecord>| {
            let (store, version) = (writer_store.clone(), version.clone());
            async move { append(&store, &version, records).await }
        });
        Self { store, config, max_message_bytes, writer, appended, known_topics: RwLock::new(HashSet::new()) }
    }

    async fn ensure_known(&self, topic: &str) -> Result<()> {
        if self.known_topics.read().is_ok_and(|known| known.contains(topic)) {
            return Ok(());
        }
        let topics = self.store.log_topics().await?;
        let exists = topics.contains_key(topic);
        if let Ok(mut known) = self.known_topics.write() {
            known.extend(topics.into_keys());
        }
        if exists { Ok(()) } else { Err(Error::UnknownTopic(topic.to_owned())) }
    }
}

/// Writes one batch in one transaction and wakes consumers.
async fn append(store: &Store, version: &watch::Sender<u64>, records: Vec<AppendRecord>) -> Vec<Result<i64>> {
    let count = records.len();
    let started = std::time::Instant::now();
    let result = store.log_append(&records).await;
    metrics::histogram!("switchboard_bus_embedded_append_seconds").record(started.elapsed().as_secs_f64());
    metrics::histogram!("switchboard_bus_embedded_batch_messages").record(count as f64);
    match result {
        Ok(offsets) => {
            version.send_modify(|version| *version += 1);
            offsets.into_iter().map(Ok).collect()
        }
        Err(error) => {
            tracing::warn!(%error, messages = count, "embedded log append failed");
            let error = Error::from(error);
            vec![Err(error); count]
        }
    }
}

#[async_trait]
impl Bus for EmbeddedBus {
    fn backend(&self) -> &'static str {
        "embedded"
    }

    fn max_message_bytes(&self) -> usize {
        self.max_message_bytes
    }

    async fn create_topics(&self, topics: &[String], _partitions: u32) -> Result<()> {
        for topic in topics {
            if self.store.log_create_topic(topic).await? {
                tracing::info!(topic, "created topic");
            }
        }
        if let Ok(mut known) = self.known_topics.write() {
            known.extend(topics.iter().cloned());
        }
        Ok(())
    }

    async fn produce(&self, message: OutgoingMessage) -> Result<Delivery> {
        message.check_size(self.max_message_bytes)?;
        self.ensure_known(&message.topic).await?;
        let headers = serde_json::to_string(&message.headers).map_err(|error| Error::Invalid(error.to_string()))?;
        let record = AppendRecord {
            topic: message.topic,
            key: message.key,
            payload: message.payload,
            headers,
            timestamp_ms: now_ms(),
        };
        let offset = self.writer.submit(record).await.map_err(|_| Error::Closed)??;
        Ok(Delivery { partition: 0, offset })
    }

    async fn subscribe(&self, group: &str, topics: &[String]) -> Result<Arc<dyn Consumer>> {
        for topic in topics {
            self.ensure_known(topic).await?;
        }
        let committed = self.store.log_committed_offsets(group).await?;
        let positions =
            topics.iter().map(|topic| (topic.clone(), committed.get(topic).copied().unwrap_or(0))).collect();
        Ok(Arc::new(EmbeddedConsumer {
            store: self.store.clone(),
            group: group.to_owned(),
            topics: topics.to_vec(),
            fetch_max: u32::try_from(self.config.fetch_max.max(1)).unwrap_or(u32::MAX),
            idle_poll: Duration::from_millis(self.config.idle_poll_ms.max(10)),
            appended: tokio::sync::Mutex::new(self.appended.clone()),
            state: Mutex::new(ConsumerState { positions, buffer: VecDeque::new(), stored: HashMap::new() }),
        }))
    }

    async fn check(&self) -> Result<()> {
        if self.writer.is_stopped() {
            return Err(Error::Closed);
        }
        self.store.ping().await?;
        Ok(())
    }

    async fn backlog(&self, group: &str, topic: &str) -> Result<Vec<PartitionBacklog>> {
        let end = *self.store.log_topics().await?.get(topic).ok_or_else(|| Error::UnknownTopic(topic.to_owned()))?;
        let resume = self.store.log_committed_offsets(group).await?.get(topic).copied().unwrap_or(0);
        Ok(vec![PartitionBacklog { partition: 0, resume, end }])
    }
}

struct ConsumerState {
    /// The next offset to read, per topic.
    positions: HashMap<String, i64>,
    buffer: VecDeque<Message>,
    /// Offsets stored but not yet committed.
    stored: HashMap<String, i64>,
}

struct EmbeddedConsumer {
    store: Store,
    group: String,
    topics: Vec<String>,
    fetch_max: u32,
    idle_poll: Duration,
    appended: tokio::sync::Mutex<watch::Receiver<u64>>,
    state: Mutex<ConsumerState>,
}

impl EmbeddedConsumer {
    fn lock(&self) -> std::sync::MutexGuard<'_, ConsumerState> {
        // A panic while holding this lock leaves plain data behind; keep going.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads every topic once from its position into the buffer; true if
    /// anything arrived.
    async fn fetch(&self) -> Result<bool> {
        let mut any = false;
        for topic in &self.topics {
            let from = self.lock().positions.get(topic).copied().unwrap_or(0);
            let records = self.store.log_read(topic, from, self.fetch_max).await?;
            let Some(last) = records.last().map(|record| record.offset) else {
                continue;
            };
            let messages: Vec<Message> = records.into_iter().map(|record| to_message(topic, record)).collect();
            let mut state = self.lock();
            // Only advance if nobody else moved the position meanwhile (recv
            // is called from one task, but stay safe if that ever changes).
            if state.positions.get(topic).copied().unwrap_or(0) == from {
                state.positions.insert(topic.clone(), last + 1);
                state.buffer.extend(messages);
                any = true;
            }
        }
        Ok(any)
    }
}

fn to_message(topic: &str, record: LogRecord) -> Message {
    let headers: Headers = serde_json::from_str(&record.headers).unwrap_or_default();
    Message {
        topic: topic.to_owned(),
        partition: 0,
        offset: record.offset,
        key: record.key,
        payload: record.payload,
        headers,
        timestamp_ms: Some(record.timestamp_ms),
        generation: 0,
    }
}

#[async_trait]
impl Consumer for EmbeddedConsumer {
    async fn recv(&self) -> Result<Message> {
        loop {
            if let Some(message) = self.lock().buffer.pop_front() {
                return Ok(message);
            }
            let mut appended = self.appended.lock().await;
            // Mark the current version seen *before* reading, so an append
            // that lands after the read still wakes us.
            appended.borrow_and_update();
            if self.fetch().await? {
                continue;
            }
            if let Ok(Err(_)) = tokio::time::timeout(self.idle_poll, appended.changed()).await {
                return Err(Error::Closed);
            }
        }
    }

    fn store_offset(&self, topic: &str, _partition: i32, next_offset: i64) -> Result<()> {
        let mut state = self.lock();
        let stored = state.stored.entry(topic.to_owned()).or_insert(next_offset);
        *stored = (*stored).max(next_offset);
        Ok(())
    }

    /// Cancel-safe: the stored offsets are forgotten only once the store
    /// has them, so a commit dropped half-way (a stage stopping) loses
    /// nothing and the next commit or `close` writes them.
    async fn commit(&self) -> Result<()> {
        let offsets: Vec<(String, i64)> =
            self.lock().stored.iter().map(|(topic, offset)| (topic.clone(), *offset)).collect();
        if offsets.is_empty() {
            return Ok(());
        }
        self.store.log_commit_offsets(&self.group, &offsets).await?;
        let mut state = self.lock();
        for (topic, offset) in offsets {
            // Keep what was stored since: it is further along.
            if state.stored.get(&topic) == Some(&offset) {
                state.stored.remove(&topic);
            }
        }
        Ok(())
    }

    async fn close(&self) -> Result<()> {
        self.commit().await
    }
}

fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}
