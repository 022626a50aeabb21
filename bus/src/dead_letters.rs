//! Reading and replaying a stage's dead letters (`switchboard dlq`).
//!
//! A stage's dead letters are on `<topic>.<stage>.dlq`, one topic per topic
//! it reads. Both commands read them in the consumer group
//! `switchboard-dlq-<stage>` up to their current end: `list` without moving
//! the group on (it shows what a replay would send), `replay` putting each
//! message back on its origin topic with [`headers::REPLAY_STAGE`] naming
//! the stage, then committing. Only that stage handles a replayed message;
//! the others reading the topic skip it. A message that fails again is
//! dead-lettered again, as a new entry. A stub (a message too large to
//! dead-letter whole, [`headers::DLQ_TRUNCATED`]) has nothing to replay:
//! `replay` moves past it and reports its provenance, where the original is.

use std::collections::HashMap;
use std::time::Duration;

use switchboard_core::config::Config;
use switchboard_core::topics::{self, STAGE_INPUTS};

use crate::message::{Message, OutgoingMessage, headers};
use crate::{Bus, Error, Result};

/// How long to wait for the next dead letter that the backlog says exists.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// One dead letter, as `dlq list` shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DeadLetter {
    pub dlq_topic: String,
    pub partition: i32,
    pub offset: i64,
    pub origin_topic: Option<String>,
    pub origin_partition: Option<String>,
    pub origin_offset: Option<String>,
    pub key: Option<String>,
    pub error: Option<String>,
    pub attempts: Option<String>,
    pub failed_at: Option<String>,
    /// On a stub: the size of the message it stands for.
    pub truncated_bytes: Option<String>,
}

impl DeadLetter {
    /// Where it is: `topic[partition]@offset`.
    pub fn position(&self) -> String {
        format!("{}[{}]@{}", self.dlq_topic, self.partition, self.offset)
    }

    /// Where the original was read: `topic[partition]@offset`, `?` for what
    /// the headers do not say.
    pub fn origin(&self) -> String {
        format!("{}[{}]@{}", shown(&self.origin_topic), shown(&self.origin_partition), shown(&self.origin_offset))
    }
}

/// A header's value, or `?` when it is missing.
pub fn shown(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("?")
}

/// What a replay did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Messages put back, per origin topic.
    pub replayed: Vec<(String, usize)>,
    /// Stubs moved past: their originals are at the origin offsets.
    pub skipped_stubs: Vec<DeadLetter>,
}

/// The consumer group the dlq commands read `stage`'s dead letters in.
pub fn group(config: &Config, stage: &str) -> String {
    config.group(&format!("dlq-{stage}"))
}

/// `stage`'s dead-letter topics, or a clear error naming the known stages.
pub fn dead_letter_topics(config: &Config, stage: &str) -> Result<Vec<String>> {
    if topics::inputs_of(stage).is_none() {
        let known: Vec<&str> = STAGE_INPUTS.iter().map(|(name, _)| *name).collect();
        return Err(Error::Invalid(format!("no stage `{stage}` reads topics; stages: {}", known.join(", "))));
    }
    Ok(config.topics().dead_letters(stage))
}

/// Every dead letter of `stage` not replayed yet, oldest first per topic.
pub async fn list(bus: &dyn Bus, config: &Config, stage: &str) -> Result<Vec<DeadLetter>> {
    let messages = read_to_end(bus, config, stage).await?;
    Ok(messages.iter().map(describe).collect())
}

/// Replays every dead letter of `stage` to its origin topic, for `stage`
/// alone, and moves the group past them.
pub async fn replay(bus: &dyn Bus, config: &Config, stage: &str) -> Result<ReplayReport> {
    let group = group(config, stage);
    let dead_topics = dead_letter_topics(config, stage)?;
    let consumer = bus.subscribe(&group, &dead_topics).await?;
    let mut replayed: HashMap<String, usize> = HashMap::new();
    let mut skipped_stubs = Vec::new();
    let result = async {
        for message in read_backlog(bus, &group, &dead_topics, consumer.as_ref()).await? {
            if message.headers.get(headers::DLQ_TRUNCATED).is_some() {
                consumer.store_offset(&message.topic, message.partition, message.offset + 1)?;
                skipped_stubs.push(describe(&message));
                continue;
            }
            let origin = message.headers.get(headers::DLQ_ORIGIN_TOPIC).map(str::to_owned).ok_or_else(|| {
                Error::Invalid(format!("dead letter {}@{} names no origin topic", message.topic, message.offset))
            })?;
            let Message { topic, partition, offset, key, payload, headers: mut replay_headers, .. } = message;
            replay_headers.0.retain(|(name, _)| !name.starts_with("dlq-"));
            replay_headers.set(headers::REPLAY_STAGE, stage);
            bus.produce(OutgoingMessage { topic: origin.clone(), key, payload, headers: replay_headers }).await?;
            consumer.store_offset(&topic, partition, offset + 1)?;
            *replayed.entry(origin).or_default() += 1;
        }
        Ok::<_, Error>(())
    }
    .await;
    let closed = consumer.close().await;
    result?;
    closed?;
    let mut replayed: Vec<(String, usize)> = replayed.into_iter().collect();
    replayed.sort();
    Ok(ReplayReport { replayed, skipped_stubs })
}

async fn read_to_end(bus: &dyn Bus, config: &Config, stage: &str) -> Result<Vec<Message>> {
    let group = group(config, stage);
    let dead_topics = dead_letter_topics(config, stage)?;
    let consumer = bus.subscribe(&group, &dead_topics).await?;
    let read = read_backlog(bus, &group, &dead_topics, consumer.as_ref()).await;
    // Nothing was stored: closing commits nothing, the group stays put.
    let closed = consumer.close().await;
    let messages = read?;
    closed?;
    Ok(messages)
}

/// Reads from `consumer` until every partition of `dead_topics` reached the
/// end it had when this started.
async fn read_backlog(
    bus: &dyn Bus,
    group: &str,
    dead_topics: &[String],
    consumer: &dyn crate::Consumer,
) -> Result<Vec<Message>> {
    let mut remaining: HashMap<(String, i32), i64> = HashMap::new();
    for topic in dead_topics {
        for partition in bus.backlog(group, topic).await? {
            if partition.pending() > 0 {
                remaining.insert((topic.clone(), partition.partition), partition.end);
            }
        }
    }
    let mut messages = Vec::new();
    while !remaining.is_empty() {
        let message =
            tokio::time::timeout(READ_TIMEOUT, consumer.recv()).await.map_err(|_| Error::Timeout(READ_TIMEOUT))??;
        let key = (message.topic.clone(), message.partition);
        let Some(end) = remaining.get(&key).copied() else { continue };
        if message.offset >= end {
            remaining.remove(&key);
            continue;
        }
        if message.offset + 1 >= end {
            remaining.remove(&key);
        }
        messages.push(message);
    }
    messages.sort_by(|a, b| (&a.topic, a.partition, a.offset).cmp(&(&b.topic, b.partition, b.offset)));
    Ok(messages)
}

fn describe(message: &Message) -> DeadLetter {
    let header = |name: &str| message.headers.get(name).map(str::to_owned);
    DeadLetter {
        dlq_topic: message.topic.clone(),
        partition: message.partition,
        offset: message.offset,
        origin_topic: header(headers::DLQ_ORIGIN_TOPIC),
        origin_partition: header(headers::DLQ_ORIGIN_PARTITION),
        origin_offset: header(headers::DLQ_ORIGIN_OFFSET),
        key: message.key_str().map(str::to_owned),
        error: header(headers::DLQ_ERROR),
        attempts: header(headers::DLQ_ATTEMPTS),
        failed_at: header(headers::DLQ_FAILED_AT),
        truncated_bytes: header(headers::DLQ_TRUNCATED),
    }
}
