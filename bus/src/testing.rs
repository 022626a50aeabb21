//! Test helpers: a fresh bus of each backend, with topic names of its own.
//!
//! Kafka tests use the broker at `SWITCHBOARD_TEST_KAFKA_BROKERS` (default
//! `127.0.0.1:9092`, see `scripts/services`). Like the PostgreSQL ones, they
//! are skipped with a note when it is unreachable, except under `CI=true`.

use std::sync::Arc;
use std::time::Duration;

use switchboard_core::config::{EmbeddedBusConfig, KafkaConfig};
use switchboard_store::testing::{self as store_testing, TestStore};

use crate::Bus;
use crate::embedded::EmbeddedBus;
use crate::kafka::KafkaBus;

/// The message size limit test buses have (the default `bus.max_message_bytes`).
pub const MAX_MESSAGE_BYTES: usize = switchboard_core::config::DEFAULT_MAX_MESSAGE_BYTES;

pub const KAFKA_BROKERS_VARIABLE: &str = "SWITCHBOARD_TEST_KAFKA_BROKERS";

pub fn kafka_brokers() -> String {
    std::env::var(KAFKA_BROKERS_VARIABLE).unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

/// A bus with a unique prefix for the topics a test creates.
pub struct TestBus {
    pub bus: Arc<dyn Bus>,
    /// Prepend to every topic name in the test.
    pub prefix: String,
    /// The store behind an embedded bus (kept alive for the test).
    pub store: Option<TestStore>,
}

impl std::fmt::Debug for TestBus {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("TestBus").field("backend", &self.bus.backend()).field("prefix", &self.prefix).finish()
    }
}

impl TestBus {
    pub fn topic(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}

fn unique_prefix() -> String {
    format!("t{}-", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

fn embedded_config() -> EmbeddedBusConfig {
    EmbeddedBusConfig { idle_poll_ms: 200, ..EmbeddedBusConfig::default() }
}

pub async fn embedded_sqlite() -> TestBus {
    let store = store_testing::sqlite().await;
    let bus = Arc::new(EmbeddedBus::new(store.store.clone(), embedded_config(), MAX_MESSAGE_BYTES));
    TestBus { bus, prefix: unique_prefix(), store: Some(store) }
}

pub async fn embedded_postgres() -> Option<TestBus> {
    let store = store_testing::postgres().await?;
    let bus = Arc::new(EmbeddedBus::new(store.store.clone(), embedded_config(), MAX_MESSAGE_BYTES));
    Some(TestBus { bus, prefix: unique_prefix(), store: Some(store) })
}

/// True when something accepts TCP connections at the first test broker.
pub async fn kafka_reachable() -> bool {
    let brokers = kafka_brokers();
    let first = brokers.split(',').next().unwrap_or_default().to_owned();
    matches!(tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(first)).await, Ok(Ok(_)))
}

/// `None` (after a note) when the broker is unreachable outside CI.
pub async fn require_kafka() -> Option<String> {
    if kafka_reachable().await {
        return Some(kafka_brokers());
    }
    if store_testing::in_ci() {
        panic!("a Kafka-protocol broker is required under CI=true but none answers at {}", kafka_brokers());
    }
    eprintln!("skipping a Kafka test: no broker at {} (run scripts/services start)", kafka_brokers());
    None
}

/// Client properties the tests set against Tansu, the test broker. Tansu
/// 0.6.0 answers a fetch from an offset inside a record batch with the
/// batches after it, so a consumer resuming from a commit in the middle of a
/// batch (after a crash) would never see the rest of that batch; with one
/// message per batch every commit falls on a batch boundary. (Apache Kafka
/// returns the whole batch and the client skips what it has seen.)
pub const TEST_BROKER_PROPERTIES: &[(&str, &str)] = &[("batch.num.messages", "1")];

pub fn kafka_config(brokers: String) -> KafkaConfig {
    let properties = TEST_BROKER_PROPERTIES
        .iter()
        .map(|(key, value)| ((*key).to_owned(), switchboard_core::config::Secret::new((*value).to_owned())))
        .collect();
    KafkaConfig { brokers, message_timeout_ms: 10_000, properties, ..KafkaConfig::default() }
}

pub async fn kafka() -> Option<TestBus> {
    let brokers = require_kafka().await?;
    let bus = Arc::new(KafkaBus::new(kafka_config(brokers), MAX_MESSAGE_BYTES).expect("create Kafka clients"));
    Some(TestBus { bus, prefix: unique_prefix(), store: None })
}

/// Runs each named async test function (taking a [`TestBus`]) on the
/// embedded bus over SQLite and over PostgreSQL, and on Kafka.
#[macro_export]
macro_rules! test_every_bus {
    ($($test:ident),* $(,)?) => {
        mod embedded_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test($crate::testing::embedded_sqlite().await).await;
                }
            )*
        }
        mod embedded_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    if let Some(bus) = $crate::testing::embedded_postgres().await {
                        super::$test(bus).await;
                    }
                }
            )*
        }
        mod kafka {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    if let Some(bus) = $crate::testing::kafka().await {
                        super::$test(bus).await;
                    }
                }
            )*
        }
    };
}
