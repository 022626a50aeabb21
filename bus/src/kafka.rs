//! The Kafka backend, through `rdkafka` (librdkafka).
//!
//! * Producer: idempotent (`enable.idempotence`, `acks=all`), many sends in
//!   flight (callers await their own delivery future), a delivery timeout
//!   after which a produce fails instead of hanging.
//! * Consumer: `enable.auto.offset.store=false`, so an offset is stored only
//!   when the runner says the message is done; stored offsets are committed
//!   in the background by librdkafka (`enable.auto.commit`), asynchronously
//!   on request, and synchronously on a blocking thread at close.
//! * Rebalances bump a generation carried by every message, so offsets of
//!   messages from partitions we may have lost are not stored.
//! * Topics are created through the admin API at start-up; clients use IPv4.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer as _, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers as _, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::util::Timeout;
use rdkafka::{ClientContext, Message as _, Offset, TopicPartitionList};
use switchboard_core::config::KafkaConfig;

use crate::error::{Error, Result};
use crate::message::{Delivery, Headers, Message, OutgoingMessage};
use crate::{Bus, Consumer, PartitionBacklog};

const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// Kafka's limit for `bus.max_message_bytes`: the same plus room for the
/// record's own framing, which our size does not count.
fn kafka_message_limit(max_message_bytes: usize) -> String {
    (max_message_bytes + 1024).to_string()
}

pub struct KafkaBus {
    config: KafkaConfig,
    max_message_bytes: usize,
    producer: FutureProducer,
    admin: AdminClient<DefaultClientContext>,
}

impl std::fmt::Debug for KafkaBus {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("KafkaBus").field("brokers", &self.config.brokers).finish()
    }
}

/// Settings every client shares.
fn base_config(config: &KafkaConfig) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &config.brokers)
        .set("client.id", &config.client_id)
        .set("broker.address.family", "v4")
        .set("socket.keepalive.enable", "true");
    apply_unguarded(&mut client, config);
    client
}

/// A client-configuration error names the property but never its value
/// (which may be a password: `sasl.password`, `ssl.key.password`).
fn without_values(error: KafkaError) -> Error {
    match error {
        KafkaError::ClientConfig(_, description, key, value) => {
            let description = if value.is_empty() { description } else { description.replace(&value, "***") };
            Error::Invalid(format!("Kafka property `{key}`: {description}"))
        }
        other => Error::Kafka(other),
    }
}

/// The configured extra properties, except those that carry Switchboard's
/// durability promises.
fn apply_unguarded(client: &mut ClientConfig, config: &KafkaConfig) {
    for (key, value) in &config.properties {
        if !switchboard_core::config::GUARDED_KAFKA_PROPERTIES.contains(&key.as_str()) {
            client.set(key, value.expose());
        }
    }
}

impl KafkaBus {
    /// Creates the producer and admin clients. librdkafka connects lazily,
    /// so this succeeds without a broker; [`Bus::check`] tells if one answers.
    pub fn new(config: KafkaConfig, max_message_bytes: usize) -> Result<Self> {
        let mut producer_config = base_config(&config);
        producer_config
            .set("message.max.bytes", kafka_message_limit(max_message_bytes))
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "2")
            .set("message.timeout.ms", config.message_timeout_ms.to_string());
        // Extra properties win over the tuning defaults above, never over the
        // durability settings (configuration validation refuses those keys;
        // this keeps them whoever builds the bus).
        apply_unguarded(&mut producer_config, &config);
        producer_config.set("enable.idempotence", "true").set("acks", "all");
        let producer: FutureProducer = producer_config.create().map_err(without_values)?;
        let admin: AdminClient<DefaultClientContext> = base_config(&config).create().map_err(without_values)?;
        Ok(Self { config, max_message_bytes, producer, admin })
    }
}

#[async_trait]
impl Bus for KafkaBus {
    fn backend(&self) -> &'static str {
        "kafka"
    }

    fn max_message_bytes(&self) -> usize {
        self.max_message_bytes
    }

    async fn create_topics(&self, topics: &[String], partitions: u32) -> Result<()> {
        let partitions = i32::try_from(partitions).map_err(|_| Error::Invalid("too many partitions".into()))?;
        let replication_factor = self.config.replication_factor;
        // With acks=all, a write is acknowledged only once this many
        // replicas have it: a lone surviving leader cannot acknowledge.
        let min_insync = self.config.min_insync_replicas().to_string();
        let max_message = kafka_message_limit(self.max_message_bytes);
        let new_topics: Vec<NewTopic<'_>> = topics
            .iter()
            .map(|topic| {
                NewTopic::new(topic, partitions, TopicReplication::Fixed(replication_factor))
                    .set("min.insync.replicas", &min_insync)
                    .set("max.message.bytes", &max_message)
            })
            .collect();
        let options = AdminOptions::new().operation_timeout(Some(Timeout::After(ADMIN_TIMEOUT)));
        let results = self.admin.create_topics(&new_topics, &options).await?;
        for result in results {
            match result {
                Ok(topic) => tracing::info!(topic, partitions, "created topic"),
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => return Err(Error::CreateTopic { topic, code }),
            }
        }
        Ok(())
    }

    async fn produce(&self, message: OutgoingMessage) -> Result<Delivery> {
        message.check_size(self.max_message_bytes)?;
        let mut headers = OwnedHeaders::new_with_capacity(message.headers.0.len());
        for (key, value) in message.headers.iter() {
            headers = headers.insert(Header { key, value: Some(value) });
        }
        let mut record = FutureRecord::to(&message.topic).payload(&message.payload).headers(headers);
        if let Some(key) = &message.key {
            record = record.key(key);
        }
        // The queue timeout only bounds waiting for room in librdkafka's
        // local queue; `message.timeout.ms` bounds the delivery itself.
        let queue_timeout = Duration::from_millis(self.config.message_timeout_ms);
        match self.producer.send(record, Timeout::After(queue_timeout)).await {
            Ok(delivery) => Ok(Delivery { partition: delivery.partition, offset: delivery.offset }),
            Err((error, _message)) => Err(error.into()),
        }
    }

    async fn subscribe(&self, group: &str, topics: &[String]) -> Result<Arc<dyn Consumer>> {
        let generation = Arc::new(AtomicU64::new(0));
        let mut consumer_config = base_config(&self.config);
        consumer_config
            .set("group.id", group)
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "1000")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "1000");
        apply_unguarded(&mut consumer_config, &self.config);
        consumer_config.set("enable.auto.offset.store", "false");
        let consumer: StreamConsumer<RebalanceContext> = consumer_config
            .create_with_context(RebalanceContext { generation: generation.clone() })
            .map_err(without_values)?;
        let topic_names: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topic_names)?;
        Ok(Arc::new(KafkaConsumer { consumer: Arc::new(consumer), generation }))
    }

    async fn check(&self) -> Result<()> {
        // An idempotent producer that hit a fatal error (fenced, or a
        // sequence gap it cannot repair) fails every send from then on.
        if let Some((code, reason)) = self.producer.client().fatal_error() {
            return Err(Error::Fatal(format!("{code:?}: {reason}")));
        }
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || {
            producer.client().fetch_metadata(None, Timeout::After(CHECK_TIMEOUT)).map(|_| ())
        })
        .await
        .map_err(|_| Error::Closed)??;
        Ok(())
    }

    async fn backlog(&self, group: &str, topic: &str) -> Result<Vec<PartitionBacklog>> {
        // A consumer that never subscribes: it only reads the group's
        // committed offsets, so it does not join (or disturb) the group.
        let mut consumer_config = base_config(&self.config);
        consumer_config.set("group.id", group).set("enable.auto.commit", "false");
        let consumer: rdkafka::consumer::BaseConsumer = consumer_config.create()?;
        let topic = topic.to_owned();
        tokio::task::spawn_blocking(move || {
            let timeout = Timeout::After(ADMIN_TIMEOUT);
            let metadata = consumer.fetch_metadata(Some(&topic), timeout)?;
            let partitions: Vec<i32> = metadata
                .topics()
                .iter()
                .filter(|found| found.name() == topic)
                .flat_map(|found| found.partitions().iter().map(|partition| partition.id()))
                .collect();
            if partitions.is_empty() {
                return Err(Error::UnknownTopic(topic.clone()));
            }
            let mut list = TopicPartitionList::new();
            for partition in &partitions {
                list.add_partition(&topic, *partition);
            }
            let committed = consumer.committed_offsets(list, timeout)?;
            let mut backlog = Vec::with_capacity(partitions.len());
            for partition in partitions {
                let (low, high) = consumer.fetch_watermarks(&topic, partition, timeout)?;
                let resume = match committed.find_partition(&topic, partition).map(|entry| entry.offset()) {
                    Some(Offset::Offset(offset)) => offset.max(low),
                    _ => low,
                };
                backlog.push(PartitionBacklog { partition, resume, end: high });
            }
            Ok(backlog)
        })
        .await
        .map_err(|_| Error::Closed)?
    }
}

/// Counts rebalances so that messages know which assignment they came from.
struct RebalanceContext {
    generation: Arc<AtomicU64>,
}

impl ClientContext for RebalanceContext {}

impl ConsumerContext for RebalanceContext {
    fn pre_rebalance(&self, _consumer: &rdkafka::consumer::BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        match rebalance {
            Rebalance::Assign(partitions) => {
                tracing::info!(generation, partitions = partitions.count(), "partitions assigned")
            }
            Rebalance::Revoke(partitions) => {
                tracing::info!(generation, partitions = partitions.count(), "partitions revoked")
            }
            Rebalance::Error(error) => tracing::warn!(generation, %error, "rebalance failed"),
        }
    }

    fn commit_callback(&self, result: rdkafka::error::KafkaResult<()>, _offsets: &TopicPartitionList) {
        match result {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(error) => tracing::warn!(%error, "offset commit failed"),
        }
    }
}

struct KafkaConsumer {
    consumer: Arc<StreamConsumer<RebalanceContext>>,
    generation: Arc<AtomicU64>,
}

#[async_trait]
impl Consumer for KafkaConsumer {
    async fn recv(&self) -> Result<Message> {
        let message = self.consumer.recv().await?;
        let headers = message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|header| {
                        let value = header.value.map(|value| String::from_utf8_lossy(value).into_owned());
                        (header.key.to_owned(), value.unwrap_or_default())
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Message {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
            headers: Headers(headers),
            timestamp_ms: message.timestamp().to_millis(),
            generation: self.generation.load(Ordering::SeqCst),
        })
    }

    fn store_offset(&self, topic: &str, partition: i32, next_offset: i64) -> Result<()> {
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(topic, partition, Offset::Offset(next_offset))?;
        match self.consumer.store_offsets(&list) {
            Ok(()) => Ok(()),
            // The partition was revoked meanwhile: its new owner re-reads
            // from the last commit, which is what at-least-once promises.
            Err(KafkaError::StoreOffset(RDKafkaErrorCode::State)) => {
                tracing::debug!(topic, partition, "offset not stored: partition no longer assigned");
                Ok(())
            }
            Err(error) => Err(error.into()),
        }
    }

    async fn commit(&self) -> Result<()> {
        match self.consumer.commit_consumer_state(CommitMode::Async) {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    async fn close(&self) -> Result<()> {
        let consumer = self.consumer.clone();
        tokio::task::spawn_blocking(move || {
            let result = match consumer.commit_consumer_state(CommitMode::Sync) {
                Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => Ok(()),
                Err(error) => Err(error),
            };
            consumer.unsubscribe();
            result
        })
        .await
        .map_err(|_| Error::Closed)??;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use switchboard_core::config::{DEFAULT_MAX_MESSAGE_BYTES, Secret};

    use super::*;

    #[test]
    fn a_bad_property_is_named_without_its_value() {
        for (key, value) in [("sasl.pasword", "hunter2"), ("socket.timeout.ms", "hunter2-not-a-number")] {
            let mut config = KafkaConfig::default();
            config.properties.insert(key.into(), Secret::new(value.into()));
            let error =
                KafkaBus::new(config, DEFAULT_MAX_MESSAGE_BYTES).map(|_| ()).expect_err("a bad property").to_string();
            assert!(error.contains(key), "{error}");
            assert!(!error.contains("hunter2"), "the value leaked: {error}");
        }
    }

    #[tokio::test]
    #[allow(unsafe_code)]
    async fn a_fatal_producer_error_makes_the_bus_not_ready() {
        let bus = KafkaBus::new(KafkaConfig::default(), DEFAULT_MAX_MESSAGE_BYTES).expect("clients");
        // librdkafka's own hook for raising a fatal error in tests.
        let reason = std::ffi::CString::new("fenced by a newer producer (test)").expect("reason");
        let raised = unsafe {
            rdkafka::bindings::rd_kafka_test_fatal_error(
                bus.producer.client().native_ptr(),
                rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR__FENCED,
                reason.as_ptr(),
            )
        };
        assert_eq!(raised, rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR);
        let error = bus.check().await.expect_err("not ready");
        assert!(matches!(error, Error::Fatal(_)), "{error}");
        assert!(error.to_string().contains("fenced by a newer producer"), "{error}");
    }
}
