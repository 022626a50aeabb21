//! The semantics every bus backend must share.

use std::time::Duration;

use switchboard_bus::testing::TestBus;
use switchboard_bus::{Consumer, Headers, Message, OutgoingMessage};

const WAIT: Duration = Duration::from_secs(30);

fn message(topic: &str, key: &str, payload: &str) -> OutgoingMessage {
    let mut headers = Headers::default();
    headers.set("request-id", format!("req-{payload}"));
    OutgoingMessage {
        topic: topic.to_owned(),
        key: Some(key.as_bytes().to_vec()),
        payload: payload.as_bytes().to_vec(),
        headers,
    }
}

async fn receive(consumer: &dyn Consumer, count: usize) -> Vec<Message> {
    let mut received = Vec::with_capacity(count);
    while received.len() < count {
        let next = tokio::time::timeout(WAIT, consumer.recv()).await.expect("a message in time").expect("recv");
        received.push(next);
    }
    received
}

async fn messages_of_one_key_arrive_in_order_and_intact(test: TestBus) {
    let topic = test.topic("ordered");
    test.bus.create_topics(std::slice::from_ref(&topic), 3).await.expect("create");
    // Creating again is harmless.
    test.bus.create_topics(std::slice::from_ref(&topic), 3).await.expect("create again");
    let sends = (0..50).map(|index| test.bus.produce(message(&topic, "ticket-1", &index.to_string())));
    let deliveries = futures::future::join_all(sends).await;
    assert!(deliveries.iter().all(Result::is_ok), "{deliveries:?}");

    let consumer = test.bus.subscribe(&test.topic("group"), std::slice::from_ref(&topic)).await.expect("subscribe");
    let received = receive(consumer.as_ref(), 50).await;
    let mut offsets: Vec<i64> = received.iter().map(|m| m.offset).collect();
    let in_order = offsets.windows(2).all(|pair| pair[0] < pair[1]);
    assert!(in_order, "one key, one partition, increasing offsets: {offsets:?}");
    offsets.dedup();
    assert_eq!(offsets.len(), 50);
    let first = &received[0];
    assert_eq!(first.key_str(), Some("ticket-1"));
    assert_eq!(first.topic, topic);
    assert_eq!(
        first.headers.get("request-id"),
        Some(format!("req-{}", String::from_utf8_lossy(&first.payload)).as_str())
    );
    let payloads: Vec<String> = received.iter().map(|m| String::from_utf8_lossy(&m.payload).into_owned()).collect();
    // Concurrent sends of one key are accepted in send order by both backends'
    // ordered producers, and read back in exactly that order.
    let sent: Vec<String> = (0..50).map(|index: u32| index.to_string()).collect();
    assert_eq!(payloads, sent);
    consumer.close().await.expect("close");
}

async fn a_group_resumes_after_its_stored_offsets(test: TestBus) {
    let topic = test.topic("resume");
    let group = test.topic("group");
    test.bus.create_topics(std::slice::from_ref(&topic), 1).await.expect("create");
    for index in 0..10 {
        test.bus.produce(message(&topic, "k", &index.to_string())).await.expect("produce");
    }
    let consumer = test.bus.subscribe(&group, std::slice::from_ref(&topic)).await.expect("subscribe");
    let first_half = receive(consumer.as_ref(), 5).await;
    let last = first_half.last().expect("five messages");
    consumer.store_offset(&last.topic, last.partition, last.offset + 1).expect("store");
    consumer.commit().await.expect("commit");
    consumer.close().await.expect("close");
    drop(consumer);

    let consumer = test.bus.subscribe(&group, std::slice::from_ref(&topic)).await.expect("subscribe again");
    let rest = receive(consumer.as_ref(), 5).await;
    assert_eq!(
        rest.iter().map(|m| String::from_utf8_lossy(&m.payload).into_owned()).collect::<Vec<_>>(),
        (5..10).map(|i| i.to_string()).collect::<Vec<_>>()
    );
    consumer.close().await.expect("close");

    // Another group starts from the beginning.
    let other = test.bus.subscribe(&test.topic("other"), std::slice::from_ref(&topic)).await.expect("subscribe other");
    let everything = receive(other.as_ref(), 10).await;
    assert_eq!(String::from_utf8_lossy(&everything[0].payload), "0");
    other.close().await.expect("close");
}

async fn a_consumer_receives_what_is_produced_after_it_subscribed(test: TestBus) {
    let topic = test.topic("wake");
    test.bus.create_topics(std::slice::from_ref(&topic), 1).await.expect("create");
    let consumer = test.bus.subscribe(&test.topic("group"), std::slice::from_ref(&topic)).await.expect("subscribe");
    let waiting = tokio::spawn({
        let consumer = consumer.clone();
        async move { receive(consumer.as_ref(), 1).await }
    });
    tokio::task::yield_now().await;
    test.bus.produce(message(&topic, "k", "late")).await.expect("produce");
    let received = waiting.await.expect("join");
    assert_eq!(received[0].payload, b"late");
    consumer.close().await.expect("close");
}

/// The embedded consumer waits for the writer's signal, not for its poll:
/// with a poll interval of ten minutes, only the signal can deliver in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_embedded_consumer_is_woken_by_the_append_itself() {
    let store = switchboard_store::testing::sqlite().await;
    let config = switchboard_core::config::EmbeddedBusConfig { idle_poll_ms: 600_000, ..Default::default() };
    let bus = switchboard_bus::embedded::EmbeddedBus::new(
        store.store.clone(),
        config,
        switchboard_bus::testing::MAX_MESSAGE_BYTES,
    );
    use switchboard_bus::Bus;
    bus.create_topics(&["wake".to_owned()], 1).await.expect("create");
    let consumer = bus.subscribe("group", &["wake".to_owned()]).await.expect("subscribe");
    // First a message it finds by reading, then one it must be woken for.
    bus.produce(message("wake", "k", "first")).await.expect("produce");
    assert_eq!(receive(consumer.as_ref(), 1).await[0].payload, b"first");
    let waiting = tokio::spawn({
        let consumer = consumer.clone();
        async move { receive(consumer.as_ref(), 1).await }
    });
    // Let it go idle (if it has not yet, it reads the message directly,
    // which passes too; what must never happen is waiting for the poll).
    tokio::task::yield_now().await;
    bus.produce(message("wake", "k", "late")).await.expect("produce");
    let received = tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .expect("woken by the append, long before the ten-minute poll")
        .expect("join");
    assert_eq!(received[0].payload, b"late");
}

async fn the_backlog_is_what_a_group_has_left_to_read(test: TestBus) {
    let topic = test.topic("backlog");
    let group = test.topic("group");
    test.bus.create_topics(std::slice::from_ref(&topic), 1).await.expect("create");
    for index in 0..3 {
        test.bus.produce(message(&topic, "k", &index.to_string())).await.expect("produce");
    }
    let fresh = test.bus.backlog(&test.topic("fresh"), &topic).await.expect("backlog");
    assert_eq!(fresh, [switchboard_bus::PartitionBacklog { partition: 0, resume: 0, end: 3 }]);
    let consumer = test.bus.subscribe(&group, std::slice::from_ref(&topic)).await.expect("subscribe");
    let first = receive(consumer.as_ref(), 1).await.remove(0);
    consumer.store_offset(&first.topic, first.partition, first.offset + 1).expect("store");
    consumer.close().await.expect("close");
    let left = test.bus.backlog(&group, &topic).await.expect("backlog");
    assert_eq!(left, [switchboard_bus::PartitionBacklog { partition: 0, resume: 1, end: 3 }]);
    assert_eq!(left[0].pending(), 2);
}

async fn the_bus_reports_itself_ready(test: TestBus) {
    test.bus.check().await.expect("ready");
}

async fn a_message_over_the_limit_is_refused_before_it_is_sent(test: TestBus) {
    let topic = test.topic("large");
    test.bus.create_topics(std::slice::from_ref(&topic), 1).await.expect("create");
    assert_eq!(test.bus.max_message_bytes(), switchboard_bus::testing::MAX_MESSAGE_BYTES);
    let mut large = message(&topic, "k", "");
    large.payload = vec![b'x'; switchboard_bus::testing::MAX_MESSAGE_BYTES];
    let error = test.bus.produce(large.clone()).await.expect_err("over the limit with key and header");
    assert!(matches!(error, switchboard_bus::Error::TooLarge { .. }), "{error}");
    assert!(!error.is_transient(), "retrying cannot help");
    // Exactly at the limit is taken.
    large.payload.truncate(switchboard_bus::testing::MAX_MESSAGE_BYTES - (large.size_bytes() - large.payload.len()));
    assert_eq!(large.size_bytes(), switchboard_bus::testing::MAX_MESSAGE_BYTES);
    test.bus.produce(large).await.expect("at the limit");
}

async fn a_commit_dropped_half_way_loses_no_offset(test: TestBus) {
    let topic = test.topic("dropped-commit");
    let group = test.topic("group");
    test.bus.create_topics(std::slice::from_ref(&topic), 1).await.expect("create");
    for index in 0..3 {
        test.bus.produce(message(&topic, "k", &index.to_string())).await.expect("produce");
    }
    let consumer = test.bus.subscribe(&group, std::slice::from_ref(&topic)).await.expect("subscribe");
    let received = receive(consumer.as_ref(), 2).await;
    consumer.store_offset(&received[1].topic, received[1].partition, received[1].offset + 1).expect("store");
    // A stage stopping drops its committer's commit wherever it is.
    {
        let commit = consumer.commit();
        futures::pin_mut!(commit);
        let _ = futures::poll!(commit.as_mut());
    }
    consumer.close().await.expect("close");
    let left = test.bus.backlog(&group, &topic).await.expect("backlog");
    assert_eq!(left[0].pending(), 1, "the two handled messages stay committed: {left:?}");
}

switchboard_bus::test_every_bus!(
    a_message_over_the_limit_is_refused_before_it_is_sent,
    a_commit_dropped_half_way_loses_no_offset,
    messages_of_one_key_arrive_in_order_and_intact,
    a_group_resumes_after_its_stored_offsets,
    a_consumer_receives_what_is_produced_after_it_subscribed,
    the_bus_reports_itself_ready,
    the_backlog_is_what_a_group_has_left_to_read,
);

#[tokio::test]
async fn the_embedded_bus_refuses_unknown_topics() {
    let test = switchboard_bus::testing::embedded_sqlite().await;
    let error = test.bus.produce(message("never-created", "k", "x")).await.expect_err("unknown topic");
    assert!(matches!(error, switchboard_bus::Error::UnknownTopic(_)), "{error}");
    assert!(!error.is_transient());
}
