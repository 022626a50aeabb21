//! `switchboard dlq`'s library: listing and replaying a stage's dead
//! letters, on every bus backend.

use switchboard_bus::dead_letters::{list, replay};
use switchboard_bus::testing::TestBus;
use switchboard_bus::{Headers, OutgoingMessage, headers};
use switchboard_core::config::Config;
use switchboard_core::topics::{self, stages};

fn config(test: &TestBus) -> Config {
    let mut config = Config::default();
    config.bus.topic_prefix = test.prefix.clone();
    config
}

fn dead_letter(topic: &str, origin: &str, key: &str, offset: i64) -> OutgoingMessage {
    let mut dead_headers = Headers::default();
    dead_headers.set(headers::DLQ_ORIGIN_TOPIC, origin);
    dead_headers.set(headers::DLQ_ORIGIN_PARTITION, "0");
    dead_headers.set(headers::DLQ_ORIGIN_OFFSET, offset.to_string());
    dead_headers.set(headers::DLQ_ERROR, "undecodable envelope");
    dead_headers.set(headers::DLQ_STAGE, stages::TRIAGE);
    dead_headers.set(headers::REQUEST_ID, format!("req-{key}"));
    OutgoingMessage {
        topic: topic.to_owned(),
        key: Some(key.as_bytes().to_vec()),
        payload: format!("payload {key}").into_bytes(),
        headers: dead_headers,
    }
}

async fn replay_puts_each_dead_letter_back_once_for_its_stage(test: TestBus) {
    let config = config(&test);
    let topics = config.topics();
    test.bus.create_topics(&topics.all_with_dead_letters(), 1).await.expect("create");
    let origin = topics.submitted();
    let dlq = topics::dead_letter(&origin, stages::TRIAGE);
    for (index, key) in ["a", "b"].iter().enumerate() {
        test.bus.produce(dead_letter(&dlq, &origin, key, index as i64)).await.expect("produce");
    }

    let listed = list(test.bus.as_ref(), &config, stages::TRIAGE).await.expect("list");
    assert_eq!(listed.iter().map(|letter| letter.key.as_deref()).collect::<Vec<_>>(), [Some("a"), Some("b")]);
    assert_eq!(listed[0].origin_topic.as_deref(), Some(origin.as_str()));
    assert_eq!(listed[1].origin_offset.as_deref(), Some("1"));
    // Listing moves nothing on.
    assert_eq!(list(test.bus.as_ref(), &config, stages::TRIAGE).await.expect("list").len(), 2);
    assert!(list(test.bus.as_ref(), &config, stages::PROJECTOR).await.expect("list").is_empty());

    let report = replay(test.bus.as_ref(), &config, stages::TRIAGE).await.expect("replay");
    assert_eq!(report.replayed, [(origin.clone(), 2)]);
    assert!(list(test.bus.as_ref(), &config, stages::TRIAGE).await.expect("list").is_empty(), "replayed once");
    let again = replay(test.bus.as_ref(), &config, stages::TRIAGE).await.expect("replay");
    assert!(again.replayed.is_empty());

    let reader = test.bus.subscribe(&test.topic("reader"), std::slice::from_ref(&origin)).await.expect("subscribe");
    for key in ["a", "b"] {
        let message = tokio::time::timeout(std::time::Duration::from_secs(30), reader.recv())
            .await
            .expect("in time")
            .expect("recv");
        assert_eq!(message.key_str(), Some(key));
        assert_eq!(message.payload, format!("payload {key}").into_bytes());
        assert_eq!(message.headers.get(headers::REPLAY_STAGE), Some(stages::TRIAGE));
        assert_eq!(message.headers.get(headers::REQUEST_ID), Some(format!("req-{key}").as_str()), "tracing survives");
        assert_eq!(message.headers.get(headers::DLQ_ERROR), None, "provenance headers are dropped");
    }
    reader.close().await.expect("close");
}

async fn an_unknown_stage_is_a_clear_error(test: TestBus) {
    let error = list(test.bus.as_ref(), &config(&test), "routr").await.expect_err("unknown stage");
    assert!(error.to_string().contains("stages: triage, kb, kb-sync, projector"), "{error}");
}

async fn replay_moves_past_stubs_and_reports_where_their_originals_are(test: TestBus) {
    let config = config(&test);
    let topics = config.topics();
    test.bus.create_topics(&topics.all_with_dead_letters(), 1).await.expect("create");
    let origin = topics.submitted();
    let dlq = topics::dead_letter(&origin, stages::TRIAGE);
    let mut stub = dead_letter(&dlq, &origin, "big", 7);
    stub.payload.clear();
    stub.headers.set(headers::DLQ_TRUNCATED, "1200000");
    test.bus.produce(stub).await.expect("produce the stub");
    test.bus.produce(dead_letter(&dlq, &origin, "small", 8)).await.expect("produce");

    let listed = list(test.bus.as_ref(), &config, stages::TRIAGE).await.expect("list");
    assert_eq!(listed[0].truncated_bytes.as_deref(), Some("1200000"));
    assert_eq!(listed[1].truncated_bytes, None);
    let report = replay(test.bus.as_ref(), &config, stages::TRIAGE).await.expect("replay");
    assert_eq!(report.replayed, [(origin.clone(), 1)], "only the whole dead letter goes back");
    assert_eq!(report.skipped_stubs.len(), 1);
    assert_eq!(report.skipped_stubs[0].origin(), format!("{origin}[0]@7"));
    assert!(list(test.bus.as_ref(), &config, stages::TRIAGE).await.expect("list").is_empty(), "moved past both");
}

switchboard_bus::test_every_bus!(
    replay_moves_past_stubs_and_reports_where_their_originals_are,
    replay_puts_each_dead_letter_back_once_for_its_stage,
    an_unknown_stage_is_a_clear_error
);
