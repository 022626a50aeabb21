//! A message the projector cannot read goes to the dead-letter topic with its
//! provenance, and the tickets behind it are still stored.

mod common;

use std::time::Duration;

use common::{spawn_app, ticket_json, wait_for_ok};
use reqwest::StatusCode;
use serde_json::Value;
use switchboard_bus::embedded::EmbeddedBus;
use switchboard_bus::{Bus, OutgoingMessage, headers};
use switchboard_core::config::EmbeddedBusConfig;
use switchboard_core::topics;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_is_dead_lettered_and_the_next_ticket_is_stored() {
    let app = spawn_app().await;
    // A second writer on the same log, as a buggy producer elsewhere would be.
    let store = switchboard_store::Store::connect(&app.store_url(), 2).await.expect("open the store");
    let bus = EmbeddedBus::new(store.clone(), EmbeddedBusConfig::default());
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

    let dead_letters = bus.subscribe("test-reader", &[topics::dlq(topics::SUBMITTED)]).await.expect("subscribe");
    let dead =
        tokio::time::timeout(Duration::from_secs(30), dead_letters.recv()).await.expect("in time").expect("recv");
    assert_eq!(dead.payload, b"{\"this is\": \"not an envelope\"}");
    assert_eq!(dead.headers.get(headers::DLQ_ORIGIN_TOPIC), Some(topics::SUBMITTED));
    assert_eq!(dead.headers.get(headers::DLQ_ORIGIN_PARTITION), Some("0"));
    assert_eq!(dead.headers.get(headers::DLQ_ORIGIN_OFFSET), Some(delivery.offset.to_string().as_str()));
    assert_eq!(dead.headers.get(headers::DLQ_STAGE), Some("projector"));
    assert_eq!(dead.headers.get(headers::DLQ_ATTEMPTS), Some("1"), "a permanent error is not retried");
    assert!(dead.headers.get(headers::DLQ_ERROR).is_some_and(|error| error.contains("undecodable envelope")));
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
    let bus = EmbeddedBus::new(store, EmbeddedBusConfig::default());
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
