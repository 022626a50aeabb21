//! Retention purges what every reader has passed, and nothing else.

use std::sync::Arc;

use switchboard_bus::retention::{Purged, purge_once};
use switchboard_bus::testing::TestBus;
use switchboard_bus::{Bus, OutgoingMessage, StageContext};
use switchboard_core::config::Config;
use switchboard_store::{IdempotencyRecord, Store};
use tokio_util::sync::CancellationToken;

fn message(topic: &str, payload: &str) -> OutgoingMessage {
    OutgoingMessage {
        topic: topic.into(),
        key: Some(b"k".to_vec()),
        payload: payload.into(),
        headers: Default::default(),
    }
}

fn context(store: Store, bus: Arc<dyn Bus>, adjust: impl FnOnce(&mut Config)) -> StageContext {
    let mut config = Config::default();
    adjust(&mut config);
    StageContext {
        config: Arc::new(config),
        bus,
        store,
        shutdown: CancellationToken::new(),
        resources: Default::default(),
    }
}

async fn committed_messages_past_their_age_go_and_the_rest_stay(test: TestBus, store: Store) {
    let topic = test.topic("kept");
    let unread = test.topic("unread");
    test.bus.create_topics(&[topic.clone(), unread.clone()], 1).await.expect("create");
    for index in 0..5 {
        test.bus.produce(message(&topic, &index.to_string())).await.expect("produce");
    }
    test.bus.produce(message(&unread, "nobody reads me")).await.expect("produce");
    // Two groups read `topic`; the slower one has finished three messages.
    let fast = test.bus.subscribe(&test.topic("fast"), std::slice::from_ref(&topic)).await.expect("subscribe");
    fast.store_offset(&topic, 0, 5).expect("store");
    fast.commit().await.expect("commit");
    let slow = test.bus.subscribe(&test.topic("slow"), std::slice::from_ref(&topic)).await.expect("subscribe");
    slow.store_offset(&topic, 0, 3).expect("store");
    slow.commit().await.expect("commit");
    let claim =
        IdempotencyRecord { request_hash: vec![1], ticket_id: uuid::Uuid::now_v7(), message: vec![], accepted: true };
    let company = switchboard_core::CompanyId::parse("acme").expect("valid");
    store.claim_idempotency_key(&company, &test.topic("key"), &claim, 3_600_000_000).await.expect("claim");

    // Young messages and keys are kept, whoever has read them.
    let keep_young = context(store.clone(), test.bus.clone(), |_| {});
    assert_eq!(purge_once(&keep_young).await.expect("purge"), Purged::default());

    // With no minimum age, what every group passed goes.
    let purge_all_read = context(store.clone(), test.bus.clone(), |config| {
        config.retention.bus_log_hours = 0;
        config.ingest.idempotency_ttl_hours = 0;
    });
    let purged = purge_once(&purge_all_read).await.expect("purge");
    assert_eq!(purged.log_messages, 3, "only below the slowest group's offset");
    assert!(purged.idempotency_keys >= 1);
    let left: Vec<i64> =
        store.log_read(&topic, 0, 100).await.expect("read").iter().map(|record| record.offset).collect();
    assert_eq!(left, [3, 4]);
    assert_eq!(store.log_read(&unread, 0, 100).await.expect("read").len(), 1, "a topic nobody committed on is kept");
    // The slow group still reads on from where it was.
    let slow = test.bus.subscribe(&test.topic("slow"), std::slice::from_ref(&topic)).await.expect("subscribe");
    let next =
        tokio::time::timeout(std::time::Duration::from_secs(30), slow.recv()).await.expect("in time").expect("recv");
    assert_eq!((next.offset, next.payload.as_slice()), (3, b"3".as_slice()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_sqlite_retention() {
    let test = switchboard_bus::testing::embedded_sqlite().await;
    let store = test.store.as_ref().expect("an embedded bus has a store").store.clone();
    committed_messages_past_their_age_go_and_the_rest_stay(test, store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_postgres_retention() {
    let Some(test) = switchboard_bus::testing::embedded_postgres().await else { return };
    let store = test.store.as_ref().expect("an embedded bus has a store").store.clone();
    committed_messages_past_their_age_go_and_the_rest_stay(test, store).await;
}
