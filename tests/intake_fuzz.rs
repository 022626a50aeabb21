//! Property tests against the running mail and form intake: random bytes
//! and mutated real messages get a 4xx (or are taken), never a 5xx, a panic
//! or a dropped connection.

mod common;

use proptest::prelude::*;
use reqwest::StatusCode;
use serde_json::Value;

const FIXTURES: &[&str] = &[
    "plain-text.eml",
    "alternative.eml",
    "html-only.eml",
    "latin1.eml",
    "inline-image.eml",
    "attachments.eml",
    "forward-attached.eml",
    "reply-outlook.eml",
    "bounce.eml",
];

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ingest/tests/fixtures/email").join(name);
    std::fs::read(path).expect("read a fixture")
}

/// A mutation of `bytes`: some bytes changed, some inserted, maybe cut.
fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8, bool)], cut: Option<usize>) -> Vec<u8> {
    for (position, byte, insert) in edits {
        if bytes.is_empty() {
            break;
        }
        let at = position % bytes.len();
        if *insert { bytes.insert(at, *byte) } else { bytes[at] = *byte }
    }
    if let Some(cut) = cut {
        bytes.truncate(cut % (bytes.len() + 1));
    }
    bytes
}

#[test]
fn random_and_mutated_mail_and_forms_never_get_a_server_error() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let app = runtime.block_on(common::spawn_app_with(|config| {
        config.ingest.email.per_sender_per_hour = 1_000_000;
        config.ingest.web_form.submissions_per_address_per_hour = 1_000_000;
    }));
    let key = runtime.block_on(async {
        common::enable_web_form(&app).await;
        common::inbound_mail_key(&app, &["support@acme.example", "billing@acme.example"]).await
    });
    let gate = common::client_with_token(&key);
    let mail = |body: Vec<u8>| {
        runtime.block_on(async {
            let response = gate
                .post(app.url("/v1/inbound/email"))
                .header("content-type", "message/rfc822")
                .body(body)
                .send()
                .await
                .expect("the server answers");
            let status = response.status();
            (status, response.json::<Value>().await.unwrap_or(Value::Null))
        })
    };
    let config = ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() };

    proptest!(config, |(bytes in proptest::collection::vec(any::<u8>(), 0..4096))| {
        let (status, body) = mail(bytes);
        prop_assert!(status.is_client_error() || status == StatusCode::ACCEPTED, "random bytes got {}", status);
        if status.is_client_error() {
            prop_assert!(body["error"]["code"].is_string(), "no JSON error for {}: {}", status, body);
        }
    });

    proptest!(config, |(which in 0..FIXTURES.len(),
                        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<bool>()), 1..24),
                        cut in proptest::option::of(any::<usize>()))| {
        let (status, body) = mail(mutate(fixture(FIXTURES[which]), &edits, cut));
        prop_assert!(status.is_client_error() || status == StatusCode::ACCEPTED, "{} for a mutated {}: {}", status, FIXTURES[which], body);
    });

    // The form: a real page's token and cookie, then random and mutated
    // multipart bodies.
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let (token, cookie) = runtime.block_on(common::open_support_form(&app, &client));
    let boundary = "fuzzboundary";
    let gif = std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/photos/gauge.gif"))
        .expect("a photo");
    let mut valid = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{token}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nPump leaks\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"description\"\r\n\r\nOil everywhere\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\nrita@customer.example\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"photos\"; filename=\"a.gif\"\r\n\r\n"
    )
    .into_bytes();
    valid.extend_from_slice(&gif);
    valid.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let form = |body: Vec<u8>| {
        runtime.block_on(async {
            client
                .post(app.url("/support/acme"))
                .header("content-type", format!("multipart/form-data; boundary={boundary}"))
                .header("cookie", &cookie)
                .body(body)
                .send()
                .await
                .expect("the server answers")
                .status()
        })
    };
    assert_eq!(form(valid.clone()), StatusCode::SEE_OTHER, "the unmutated form is taken");
    proptest!(config, |(bytes in proptest::collection::vec(any::<u8>(), 0..4096))| {
        let status = form(bytes);
        prop_assert!(status.is_client_error(), "random bytes got {}", status);
    });
    proptest!(config, |(edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<bool>()), 1..16),
                        cut in proptest::option::of(any::<usize>()))| {
        let status = form(mutate(valid.clone(), &edits, cut));
        prop_assert!(status.is_client_error() || status == StatusCode::SEE_OTHER || status == StatusCode::OK, "a mutated form got {}", status);
    });

    runtime.block_on(app.running.stop()).expect("clean stop");
}
