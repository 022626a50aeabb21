//! A message a stage cannot read goes to that stage's dead-letter topic with
//! its provenance, the tickets behind it are still stored, and `switchboard
//! dlq` lists and replays a stage's dead letters to that stage alone.

mod common;

use std::time::Duration;

use common::{WAIT, spawn_app, ticket_json, wait_for_ok};
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_bus::embedded::EmbeddedBus;
use switchboard_bus::{Bus, OutgoingMessage, headers};
use switchboard_core::config::EmbeddedBusConfig;
use switchboard_core::topics;

/// Reads every message of `topic` from the start, in a group of its own,
/// until `count` arrived.
async fn read_all(bus: &EmbeddedBus, topic: &str, count: usize) -> Vec<switchboard_bus::Message> {
    let reader =
        bus.subscribe(&format!("reader-{}", uuid::Uuid::now_v7()), &[topic.to_owned()]).await.expect("subscribe");
    let mut messages = Vec::new();
    while messages.len() < count {
        let message = tokio::time::timeout(WAIT, reader.recv()).await.expect("a message in time").expect("recv");
        messages.push(message);
    }
    messages
}

async fn pending(bus: &EmbeddedBus, topic: &str) -> i64 {
    bus.backlog(&format!("fresh-{}", uuid::Uuid::now_v7()), topic).await.expect("backlog")[0].pending()
}

/// Runs `switchboard --data-dir DIR ARGS` to completion.
async fn switchboard(data_dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let data_dir = data_dir.display().to_string();
    let mut all = vec!["--data-dir", data_dir.as_str()];
    all.extend_from_slice(args);
    common::run_switchboard(&all).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_stage_dead_letters_a_poison_message_on_its_own_topic_and_replay_reaches_only_it() {
    let app = spawn_app().await;
    // A second writer on the same log, as a buggy producer elsewhere would be.
    let store = switchboard_store::Store::connect(&app.store_url(), 2).await.expect("open the store");
    let bus = EmbeddedBus::new(
        store.clone(),
        EmbeddedBusConfig::default(),
        switchboard_core::config::DEFAULT_MAX_MESSAGE_BYTES,
    );
    let poison = OutgoingMessage {
        topic: topics::SUBMITTED.into(),
        key: Some(b"not-a-ticket".to_vec()),
        payload: b"{\"this is\": \"not an envelope\"}".to_vec(),
        headers: Default::default(),
    };
    let delivery = bus.produce(poison).await.expect("produce the poison pill");

    let response =
        app.client.post(app.url("/v1/tickets")).json(&ticket_json("after the pill")).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.expect("JSON");
    wait_for_ok(&app.client, &app.url(body["status_url"].as_str().expect("url"))).await;

    // Both stages that read tickets.submitted failed it, each on its own topic.
    let projector_dlq = topics::dead_letter(topics::SUBMITTED, "projector");
    let triage_dlq = topics::dead_letter(topics::SUBMITTED, "triage");
    for (topic, stage) in [(&projector_dlq, "projector"), (&triage_dlq, "triage")] {
        let dead = read_all(&bus, topic, 1).await.remove(0);
        assert_eq!(dead.payload, b"{\"this is\": \"not an envelope\"}");
        assert_eq!(dead.headers.get(headers::DLQ_ORIGIN_TOPIC), Some(topics::SUBMITTED));
        assert_eq!(dead.headers.get(headers::DLQ_ORIGIN_PARTITION), Some("0"));
        assert_eq!(dead.headers.get(headers::DLQ_ORIGIN_OFFSET), Some(delivery.offset.to_string().as_str()));
        assert_eq!(dead.headers.get(headers::DLQ_STAGE), Some(stage));
        assert_eq!(dead.headers.get(headers::DLQ_ATTEMPTS), Some("1"), "a permanent error is not retried");
        assert!(dead.headers.get(headers::DLQ_ERROR).is_some_and(|error| error.contains("undecodable envelope")));
        assert_eq!(pending(&bus, topic).await, 1, "{stage}: exactly one entry");
    }

    let data_dir = app.data_dir.path();
    let (ok, listed, stderr) = switchboard(data_dir, &["dlq", "list", "--stage", "projector", "--json"]).await;
    assert!(ok, "{stderr}");
    let lines: Vec<Value> = listed.lines().map(|line| serde_json::from_str(line).expect("JSON line")).collect();
    assert_eq!(lines.len(), 1, "{listed}");
    assert_eq!(lines[0]["dlq_topic"], json!(projector_dlq));
    assert_eq!(lines[0]["origin_offset"], json!(delivery.offset.to_string()));
    assert_eq!(lines[0]["key"], json!("not-a-ticket"));

    let (ok, replayed, stderr) = switchboard(data_dir, &["dlq", "replay", "--stage", "projector"]).await;
    assert!(ok, "{stderr}");
    assert_eq!(replayed.trim(), "replayed 1 dead letters for stage projector: 1 to tickets.submitted");

    // The replay went back on tickets.submitted for the projector alone: it
    // fails there again (a second projector entry), triage skips it.
    let resubmitted = read_all(&bus, topics::SUBMITTED, 3).await.remove(2);
    assert_eq!(resubmitted.headers.get(headers::REPLAY_STAGE), Some("projector"));
    let second = read_all(&bus, &projector_dlq, 2).await.remove(1);
    assert_eq!(second.headers.get(headers::DLQ_ORIGIN_OFFSET), Some(resubmitted.offset.to_string().as_str()));
    assert_eq!(second.headers.get(headers::REPLAY_STAGE), None);
    let deadline = tokio::time::Instant::now() + WAIT;
    while store.log_committed_offsets("switchboard-triage").await.expect("offsets").get(topics::SUBMITTED).copied()
        <= Some(resubmitted.offset)
    {
        assert!(tokio::time::Instant::now() < deadline, "triage never moved past the replayed message");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(pending(&bus, &triage_dlq).await, 1, "triage did not handle (or dead-letter) the replay");

    // The replayed entry is done; only the new failure is pending.
    let (ok, listed, _) = switchboard(data_dir, &["dlq", "list", "--stage", "projector", "--json"]).await;
    assert!(ok);
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(listed.contains(&format!("\"origin_offset\":\"{}\"", resubmitted.offset)), "{listed}");
    let (ok, _, stderr) = switchboard(data_dir, &["dlq", "list", "--stage", "router-of-dreams"]).await;
    assert!(!ok && stderr.contains("stages: triage, kb, kb-sync, projector"), "{stderr}");
    app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_id_travels_from_http_into_the_envelope_and_headers() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/v1/tickets"))
        .header("x-request-id", "trace-me-42")
        .json(&ticket_json("traced"))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.expect("JSON");
    let id = body["id"].as_str().expect("id").to_owned();

    let store = switchboard_store::Store::connect(&app.store_url(), 2).await.expect("open the store");
    let bus =
        EmbeddedBus::new(store, EmbeddedBusConfig::default(), switchboard_core::config::DEFAULT_MAX_MESSAGE_BYTES);
    let reader = bus.subscribe("trace-reader", &[topics::SUBMITTED.to_owned()]).await.expect("subscribe");
    let message = tokio::time::timeout(Duration::from_secs(30), reader.recv()).await.expect("in time").expect("recv");
    assert_eq!(message.key_str(), Some(id.as_str()), "keyed by ticket id");
    assert_eq!(message.headers.get(headers::REQUEST_ID), Some("trace-me-42"));
    let envelope: switchboard_core::Envelope<switchboard_core::envelope::TicketSubmitted> =
        message.envelope().expect("an envelope");
    assert_eq!(envelope.request_id.as_deref(), Some("trace-me-42"));
    assert_eq!(message.headers.get(headers::EVENT_ID), Some(envelope.event_id.to_string().as_str()));
    assert_eq!(envelope.ticket_id.to_string(), id);
    app.running.stop().await.expect("clean stop");
}
