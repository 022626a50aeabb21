//! Random Unicode (control characters included) in every field of
//! `POST /v1/tickets`, and long, odd header values: every ticket answered
//! 202 becomes readable, every refusal is a 4xx with the JSON error, and
//! nothing is a 5xx. On the embedded backend and on Kafka + PostgreSQL.

mod common;

use common::{App, spawn_app_with, wait_for_ok};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_core::config::{BusBackend, Secret};

const CASES: usize = 300;

/// Text that stresses validation and storage: any character, with the
/// troublesome ones (C0 controls, NUL, quotes, backslashes, bidi marks,
/// non-characters, astral symbols) far more often than chance.
fn text(max: usize) -> impl Strategy<Value = String> {
    let character = prop_oneof![
        3 => any::<char>(),
        2 => prop::sample::select(vec![
            '\u{0}', '\u{1}', '\u{8}', '\t', '\n', '\r', '\u{b}', '\u{1b}', '\u{7f}', '\u{85}', '"', '\\', '\u{202e}',
            '\u{feff}', '\u{fffe}', '\u{ffff}', '\u{1d11e}', '\u{10ffff}', ' ',
        ]),
        3 => prop::char::range('a', 'z'),
    ];
    prop::collection::vec(character, 0..max).prop_map(|characters| characters.into_iter().collect())
}

/// A field that is sometimes absent, sometimes random, sometimes valid.
fn field(max: usize, valid: &'static str) -> impl Strategy<Value = Option<Value>> {
    // Mostly valid, so that many tickets pass with one random field or two
    // (a single bad field refuses the ticket).
    prop_oneof![
        1 => Just(None),
        2 => text(max).prop_map(|text| Some(json!(text))),
        2 => text(max).prop_map(move |text| Some(json!(format!("{valid}{text}")))),
        30 => Just(Some(json!(valid))),
        1 => Just(Some(json!(42))),
    ]
}

/// Header values: any byte a header may carry, up to 16 KiB.
fn header_value() -> impl Strategy<Value = Option<Vec<u8>>> {
    // Visible ASCII, space, and obs-text: what a header value may hold.
    let byte = prop_oneof![0x20_u8..0x7f, 0x80_u8..=0xff];
    prop_oneof![
        1 => Just(None),
        2 => prop::collection::vec(byte.clone(), 1..64).prop_map(Some),
        1 => prop::collection::vec(byte, 1..16 * 1024).prop_map(Some),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    body: Value,
    request_id: Option<Vec<u8>>,
    idempotency_key: Option<Vec<u8>>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        (field(300, "Printer jam"), field(2_000, "The tray is stuck."), field(80, "ana@example.com")),
        (field(250, "Ana"), field(120, "acme"), field(250, "LaserJet"), field(250, "SN-1")),
        prop_oneof![3 => Just(Vec::new()), 1 => prop::collection::vec(text(70), 1..4)],
        header_value(),
        prop_oneof![4 => Just(None), 1 => header_value()],
    )
        .prop_map(
            |((title, description, email), (name, company, model, serial), tags, request_id, idempotency_key)| {
                let mut body = json!({});
                let mut put = |key: &str, value: Option<Value>| {
                    if let Some(value) = value {
                        body[key] = value;
                    }
                };
                put("title", title);
                put("description", description);
                put("company", company);
                put("tags", Some(json!(tags)));
                put("requester", Some(json!({"email": email, "name": name})));
                put("equipment", Some(json!({"model": model, "serial": serial})));
                Case { body, request_id, idempotency_key }
            },
        )
}

async fn post_random_tickets_and_read_back(app: &App) {
    let mut runner = TestRunner::new(ProptestConfig::default());
    let (mut accepted, mut refused) = (Vec::new(), 0_usize);
    for _ in 0..CASES {
        let case = case().new_tree(&mut runner).expect("a case").current();
        let mut request = app.client.post(app.url("/v1/tickets")).json(&case.body);
        if let Some(value) = &case.request_id {
            request = request.header("x-request-id", reqwest::header::HeaderValue::from_bytes(value).expect("valid"));
        }
        if let Some(value) = &case.idempotency_key {
            request =
                request.header("idempotency-key", reqwest::header::HeaderValue::from_bytes(value).expect("valid"));
        }
        let response = request.send().await.unwrap_or_else(|error| panic!("{case:?}: {error}"));
        let status = response.status();
        let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body: Value =
            response.json().await.unwrap_or_else(|error| panic!("{status} is not JSON: {error}; {case:?}"));
        assert_eq!(content_type.as_deref(), Some("application/json"), "{case:?}");
        if status == StatusCode::ACCEPTED {
            accepted.push((body["status_url"].as_str().expect("status_url").to_owned(), case));
        } else {
            assert!(status.is_client_error(), "{status} {body} for {case:?}");
            assert!(body["error"]["code"].as_str().is_some_and(|code| !code.is_empty()), "{body}");
            assert!(body["error"]["message"].as_str().is_some_and(|message| !message.is_empty()), "{body}");
            refused += 1;
        }
    }
    eprintln!("{} accepted, {refused} refused", accepted.len());
    assert!(!accepted.is_empty() && refused > 0, "the cases cover both outcomes");
    for (status_url, case) in &accepted {
        let ticket = wait_for_ok(&app.client, &app.url(status_url)).await;
        assert!(ticket["id"].is_string(), "{ticket} for {case:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_unicode_on_the_embedded_backend_is_refused_with_4xx_or_readable() {
    let app = spawn_app_with(|_| {}).await;
    post_random_tickets_and_read_back(&app).await;
    app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_unicode_on_kafka_and_postgresql_is_refused_with_4xx_or_readable() {
    let Some(brokers) = switchboard_bus::testing::require_kafka().await else { return };
    let Some(database) = switchboard_store::testing::fresh_postgres_database().await else { return };
    let prefix = format!("random{}-", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let app = spawn_app_with(|config| {
        config.bus.backend = BusBackend::Kafka;
        config.bus.kafka = switchboard_bus::testing::kafka_config(brokers);
        config.bus.topic_prefix = prefix;
        config.store.url = Some(Secret::new(database));
    })
    .await;
    post_random_tickets_and_read_back(&app).await;
    app.running.stop().await.expect("clean stop");
}
