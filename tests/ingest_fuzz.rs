//! Property tests against the running intake endpoint: whatever arrives, the
//! answer is a 4xx with a JSON error (or a 202 for a valid ticket), never a
//! 5xx, a panic or a dropped connection.

mod common;

use proptest::prelude::*;
use serde_json::Value;

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
        prop_oneof![Just("title"), Just("requester"), Just("email"), Just("tags"), Just("a@b.co")]
            .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("title".to_owned()),
                    Just("description".to_owned()),
                    Just("requester".to_owned()),
                    Just("email".to_owned()),
                    Just("tags".to_owned()),
                    Just("equipment".to_owned()),
                    Just("model".to_owned()),
                    "[a-z]{1,8}",
                ],
                inner,
                0..6,
            )
            .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

#[test]
fn random_input_never_gets_a_server_error() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let app = runtime.block_on(common::spawn_app());
    let url = app.url("/v1/tickets");
    let post = |content_type: Option<&[u8]>, body: Vec<u8>| {
        runtime.block_on(async {
            let mut request = app.client.post(&url).body(body);
            if let Some(content_type) = content_type {
                let value = reqwest::header::HeaderValue::from_bytes(content_type).expect("a header value");
                request = request.header("content-type", value);
            }
            let response = request.send().await.expect("the server answers");
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, body)
        })
    };

    let config = ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() };
    proptest!(config, |(bytes in proptest::collection::vec(any::<u8>(), 0..2048),
                        content_type in proptest::option::of(prop_oneof![
                            Just(&b"application/json"[..]), Just(&b"text/plain"[..]),
                            Just(&b"application/json; charset=utf-8"[..]), Just(&b"multipart/form-data"[..]),
                            Just(&b"application/j\xe9son"[..])]))| {
        let (status, body) = post(content_type, bytes);
        prop_assert!(status.is_client_error(), "random bytes got {}", status);
        prop_assert!(body["error"]["code"].is_string(), "no JSON error for {}: {}", status, body);
    });

    proptest!(config, |(value in arbitrary_json())| {
        let (status, body) = post(Some(b"application/json"), value.to_string().into_bytes());
        prop_assert!(status.is_client_error() || status == reqwest::StatusCode::ACCEPTED, "{} for {}", status, value);
        if status.is_client_error() {
            prop_assert!(body["error"]["code"].is_string(), "no JSON error for {}: {}", value, body);
        }
    });

    runtime.block_on(app.running.stop()).expect("clean stop");
}
