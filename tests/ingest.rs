//! `POST /v1/tickets` end to end on the embedded backends: acceptance,
//! every bad-input case, idempotency keys, and unavailability.

mod common;

use std::time::Duration;

use common::{spawn_app, spawn_app_with, ticket_json, wait_for_ok};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_ticket_is_readable_at_its_status_url() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/v1/tickets"))
        .header("x-request-id", "req-e2e-1")
        .json(&ticket_json("Printer on fire"))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(response.headers().get("x-request-id").and_then(|v| v.to_str().ok()), Some("req-e2e-1"));
    let location = response.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body: Value = response.json().await.expect("JSON");
    let id = body["id"].as_str().expect("id").to_owned();
    let status_url = body["status_url"].as_str().expect("status_url").to_owned();
    assert_eq!(location.as_deref(), Some(status_url.as_str()));
    assert_eq!(status_url, format!("/v1/tickets/{id}"));

    let ticket = wait_for_ok(&app.client, &app.url(&status_url)).await;
    assert_eq!(ticket["id"], json!(id));
    assert_eq!(ticket["title"], json!("Printer on fire"));
    assert_eq!(ticket["status"], json!("new"));
    assert_eq!(ticket["channel"], json!("api"));
    assert_eq!(ticket["company"], json!("acme"));
    assert_eq!(ticket["requester"]["email"], json!("ana@example.com"));
    assert_eq!(ticket["equipment"]["model"], json!("LaserJet 4000"));
    assert_eq!(ticket["tags"], json!(["printer"]));

    let list: Value = app
        .client
        .get(app.url("/v1/tickets?company=acme&tag=printer"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("JSON");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(list["next_cursor"], Value::Null);
    app.running.stop().await.expect("clean stop");
}

/// One bad request and what must come back.
struct Case {
    name: &'static str,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: StatusCode,
    code: &'static str,
    field: Option<&'static str>,
}

fn json_case(
    name: &'static str,
    body: Value,
    status: StatusCode,
    code: &'static str,
    field: Option<&'static str>,
) -> Case {
    Case { name, content_type: Some("application/json"), body: body.to_string().into_bytes(), status, code, field }
}

fn with(field: &str, value: Value) -> Value {
    let mut ticket = ticket_json("A title");
    ticket[field] = value;
    ticket
}

fn bad_inputs() -> Vec<Case> {
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let mut without_title = ticket_json("x");
    without_title.as_object_mut().map(|o| o.remove("title"));
    let mut without_requester = ticket_json("x");
    without_requester.as_object_mut().map(|o| o.remove("requester"));
    let deeply_nested = format!("{{\"title\": {}1{}}}", "[".repeat(10_000), "]".repeat(10_000));
    vec![
        Case {
            name: "malformed JSON",
            content_type: Some("application/json"),
            body: br#"{"title": "unterminated"#.to_vec(),
            status: StatusCode::BAD_REQUEST,
            code: "malformed_json",
            field: None,
        },
        Case {
            name: "trailing garbage",
            content_type: Some("application/json"),
            body: br#"{"title": "t", "requester": {"email": "a@b.co"}} {}"#.to_vec(),
            status: StatusCode::BAD_REQUEST,
            code: "malformed_json",
            field: None,
        },
        Case {
            name: "invalid UTF-8",
            content_type: Some("application/json"),
            body: b"{\"title\": \"caf\xe9\", \"requester\": {\"email\": \"a@b.co\"}}".to_vec(),
            status: StatusCode::BAD_REQUEST,
            code: "malformed_json",
            field: None,
        },
        Case {
            name: "deeply nested JSON",
            content_type: Some("application/json"),
            body: deeply_nested.into_bytes(),
            status: StatusCode::BAD_REQUEST,
            code: "malformed_json",
            field: None,
        },
        Case {
            name: "empty body",
            content_type: Some("application/json"),
            body: Vec::new(),
            status: StatusCode::BAD_REQUEST,
            code: "malformed_json",
            field: None,
        },
        json_case("missing title", without_title, unprocessable, "missing_field", Some("title")),
        json_case("empty title", with("title", json!("")), unprocessable, "empty_field", Some("title")),
        json_case("blank title", with("title", json!("   \t ")), unprocessable, "empty_field", Some("title")),
        json_case(
            "title over 200 characters",
            with("title", json!("é".repeat(201))),
            unprocessable,
            "too_long",
            Some("title"),
        ),
        json_case("title of the wrong type", with("title", json!(42)), unprocessable, "invalid_field", Some("title")),
        json_case(
            "description over 64 KiB",
            with("description", json!("x".repeat(64 * 1024 + 1))),
            unprocessable,
            "too_long",
            Some("description"),
        ),
        json_case("missing requester", without_requester, unprocessable, "missing_field", Some("requester")),
        json_case(
            "invalid email",
            with("requester", json!({"email": "not-an-address"})),
            unprocessable,
            "invalid_email",
            Some("requester.email"),
        ),
        json_case(
            "email without a domain dot",
            with("requester", json!({"email": "ana@localhost"})),
            unprocessable,
            "invalid_email",
            Some("requester.email"),
        ),
        json_case(
            "more than 20 tags",
            with("tags", json!((0..21).map(|i| format!("tag{i}")).collect::<Vec<_>>())),
            unprocessable,
            "too_many",
            Some("tags"),
        ),
        json_case("an empty tag", with("tags", json!(["ok", ""])), unprocessable, "empty_field", Some("tags[1]")),
        json_case("unknown field", with("priority", json!("high")), unprocessable, "invalid_field", Some("priority")),
        json_case("an array instead of an object", json!(["title"]), unprocessable, "invalid_field", None),
        json_case(
            "equipment without a model",
            with("equipment", json!({"serial": "S1"})),
            unprocessable,
            "missing_field",
            Some("equipment.model"),
        ),
        Case {
            name: "body over 1 MiB",
            content_type: Some("application/json"),
            body: with("description", json!("x".repeat(1024 * 1024))).to_string().into_bytes(),
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: "body_too_large",
            field: None,
        },
        Case {
            name: "wrong content type",
            content_type: Some("text/plain"),
            body: ticket_json("t").to_string().into_bytes(),
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code: "unsupported_media_type",
            field: None,
        },
        Case {
            name: "no content type",
            content_type: None,
            body: ticket_json("t").to_string().into_bytes(),
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code: "unsupported_media_type",
            field: None,
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_gets_its_precise_json_error_and_nothing_is_stored() {
    let app = spawn_app().await;
    for case in bad_inputs() {
        let mut request = app.client.post(app.url("/v1/tickets")).body(case.body.clone());
        if let Some(content_type) = case.content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.unwrap_or_else(|error| panic!("{}: {error}", case.name));
        assert_eq!(response.status(), case.status, "{}", case.name);
        let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
        assert_eq!(content_type.as_deref(), Some("application/json"), "{}", case.name);
        let body: Value = response.json().await.unwrap_or_else(|error| panic!("{}: {error}", case.name));
        assert_eq!(body["error"]["code"], json!(case.code), "{}: {body}", case.name);
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{}: {body}", case.name);
        match case.field {
            Some(field) => assert_eq!(body["error"]["field"], json!(field), "{}: {body}", case.name),
            None if case.code != "invalid_field" => {
                assert!(body["error"].get("field").is_none(), "{}: {body}", case.name)
            }
            None => {}
        }
    }
    // A good ticket after all that still works, and it is the only one.
    let response = app.client.post(app.url("/v1/tickets")).json(&ticket_json("fine")).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.expect("JSON");
    wait_for_ok(&app.client, &app.url(body["status_url"].as_str().expect("url"))).await;
    let list: Value = app.client.get(app.url("/v1/tickets")).send().await.expect("list").json().await.expect("JSON");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_returns_the_same_ticket_and_creates_nothing_new() {
    let app = spawn_app().await;
    let post = |key: &'static str, body: Value| {
        app.client.post(app.url("/v1/tickets")).header("idempotency-key", key).json(&body).send()
    };
    let first = post("order-42", ticket_json("Once only")).await.expect("send");
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let first: Value = first.json().await.expect("JSON");

    // The same body, even with fields in another order, is the same request.
    let mut reordered = serde_json::Map::new();
    for (key, value) in ticket_json("Once only").as_object().expect("object").iter().rev() {
        reordered.insert(key.clone(), value.clone());
    }
    let again = post("order-42", Value::Object(reordered)).await.expect("send");
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    assert_eq!(again.headers().get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    let again: Value = again.json().await.expect("JSON");
    assert_eq!(again, first);

    let different = post("order-42", ticket_json("Something else")).await.expect("send");
    assert_eq!(different.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let different: Value = different.json().await.expect("JSON");
    assert_eq!(different["error"]["code"], json!("idempotency_key_reused"));

    let bad_key = app
        .client
        .post(app.url("/v1/tickets"))
        .header("idempotency-key", "has spaces")
        .json(&ticket_json("x"))
        .send()
        .await
        .expect("send");
    assert_eq!(bad_key.status(), StatusCode::BAD_REQUEST);

    wait_for_ok(&app.client, &app.url(first["status_url"].as_str().expect("url"))).await;
    let list: Value = app.client.get(app.url("/v1/tickets")).send().await.expect("list").json().await.expect("JSON");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "one ticket for three requests with one key");
    app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_answer_json_errors() {
    let app = spawn_app().await;
    for (path, status, code) in [
        ("/v1/tickets/0190b1c2-0000-7000-8000-000000000000", StatusCode::NOT_FOUND, "not_found"),
        ("/v1/tickets/not-a-uuid", StatusCode::NOT_FOUND, "not_found"),
        ("/v1/tickets?status=bogus", StatusCode::BAD_REQUEST, "invalid_parameter"),
        ("/v1/tickets?urgency=meh", StatusCode::BAD_REQUEST, "invalid_parameter"),
        ("/v1/tickets?limit=0", StatusCode::BAD_REQUEST, "invalid_parameter"),
        ("/v1/tickets?limit=100000", StatusCode::BAD_REQUEST, "invalid_parameter"),
        ("/v1/tickets?created_after=yesterday", StatusCode::BAD_REQUEST, "invalid_parameter"),
        ("/v1/tickets?cursor=garbage", StatusCode::BAD_REQUEST, "invalid_parameter"),
        ("/no/such/route", StatusCode::NOT_FOUND, "not_found"),
    ] {
        let response = app.client.get(app.url(path)).send().await.expect("send");
        assert_eq!(response.status(), status, "{path}");
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["error"]["code"], json!(code), "{path}");
    }
    let response = app.client.delete(app.url("/v1/tickets")).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_are_searched_with_the_filter_language() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for (title, description, tags, email) in [
        ("Printer on fire", "Smoke from the paper tray", json!(["printer"]), "ana@Example.com"),
        ("Paper jam", "Tray 2 is jammed", json!(["printer", "vip"]), "bo@other.org"),
        ("VPN from home", "How do I connect?", json!([]), "cy@example.com"),
    ] {
        let mut ticket = ticket_json(title);
        ticket["description"] = json!(description);
        ticket["tags"] = tags;
        ticket["requester"]["email"] = json!(email);
        let accepted: Value = app
            .client
            .post(app.url("/v1/tickets"))
            .json(&ticket)
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("JSON");
        wait_for_ok(&app.client, &app.url(accepted["status_url"].as_str().expect("url"))).await;
        ids.push(accepted["id"].as_str().expect("id").to_owned());
    }
    let search = |query: &'static str| {
        let url = reqwest::Url::parse_with_params(&app.url("/v1/tickets"), [("q", query), ("fields", "id")]);
        let request = app.client.get(url.expect("a URL"));
        async move {
            let response = request.send().await.expect("send");
            assert_eq!(response.status(), StatusCode::OK, "{query}");
            let body: Value = response.json().await.expect("JSON");
            let mut found: Vec<String> =
                body["items"].as_array().expect("items").iter().map(|id| id.as_str().expect("id").to_owned()).collect();
            found.sort();
            found
        }
    };
    let expect = |indices: &[usize]| {
        let mut expected: Vec<String> = indices.iter().map(|index| ids[*index].clone()).collect();
        expected.sort();
        expected
    };
    assert_eq!(search("tag:printer -tag:vip").await, expect(&[0]));
    assert_eq!(search("\"paper tray\" OR jammed").await, expect(&[0, 1]));
    assert_eq!(search("requester.domain:example.com").await, expect(&[0, 2]));
    assert_eq!(search("status:new -has:tag channel:api").await, expect(&[2]));
    assert_eq!(search("company:globex").await, expect(&[]));
    assert_eq!(search("").await, expect(&[0, 1, 2]));

    let url = reqwest::Url::parse_with_params(&app.url("/v1/tickets"), [("q", "status:new urgency>=hgh")]);
    let response = app.client.get(url.expect("a URL")).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], json!("invalid_query"));
    assert_eq!(body["error"]["field"], json!("q"));
    assert_eq!(body["error"]["position"], json!(20));
    assert_eq!(body["error"]["expected"], json!("one of low, normal, high, critical"));
    app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_cannot_take_tickets_gives_503_with_retry_after_never_202() {
    let app = spawn_app_with(|config| config.ingest.produce_timeout_ms = 500).await;
    // Another process holds SQLite's write lock: the log cannot commit.
    let blocker = switchboard_store::Store::connect(&app.store_url(), 1).await.expect("second connection");
    let lock = blocker.hold_write_lock_for_tests().await.expect("take the write lock");
    let response = app.client.post(app.url("/v1/tickets")).json(&ticket_json("blocked")).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("5"));
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], json!("unavailable"));
    drop(lock);
    // Once the lock is gone, tickets are accepted again (the writer may need
    // a moment to notice).
    let deadline = tokio::time::Instant::now() + common::WAIT;
    loop {
        let response =
            app.client.post(app.url("/v1/tickets")).json(&ticket_json("fine again")).send().await.expect("send");
        if response.status() == StatusCode::ACCEPTED {
            break;
        }
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "only 503 while the lock lingers");
        assert!(tokio::time::Instant::now() < deadline, "tickets never accepted again after the lock was released");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics() {
    let app = spawn_app().await;
    let health: Value = app.client.get(app.url("/healthz")).send().await.expect("send").json().await.expect("JSON");
    assert_eq!(health["status"], json!("ok"));
    let ready = app.client.get(app.url("/readyz")).send().await.expect("send");
    assert_eq!(ready.status(), StatusCode::OK);
    let ready: Value = ready.json().await.expect("JSON");
    assert_eq!(ready["checks"], json!({"bus": "ok", "store": "ok"}));
    app.client.post(app.url("/v1/tickets")).json(&ticket_json("counted")).send().await.expect("send");
    let metrics = app.client.get(app.url("/metrics")).send().await.expect("send").text().await.expect("text");
    assert!(metrics.contains("switchboard_ingest_requests_total"), "{metrics}");
    assert!(metrics.contains("switchboard_http_requests_total"), "{metrics}");
    app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_that_would_leave_the_stages_too_little_room_is_refused_413() {
    // The smallest bus limit allowed: 16 KiB left for the ticket itself.
    let limit = switchboard_core::envelope::STAGE_HEADROOM_BYTES + switchboard_core::envelope::MIN_INGEST_MESSAGE_BYTES;
    let app = spawn_app_with(|config| config.bus.max_message_bytes = limit).await;
    let mut large = ticket_json("Large");
    large["description"] = json!("long text ".repeat(2_000));
    let response = app.client.post(app.url("/v1/tickets")).json(&large).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], json!("ticket_too_large"), "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("bus.max_message_bytes")), "{body}");
    // A ticket that fits is accepted and readable.
    let response = app.client.post(app.url("/v1/tickets")).json(&ticket_json("Small")).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.expect("JSON");
    wait_for_ok(&app.client, &app.url(body["status_url"].as_str().expect("url"))).await;
    let list: Value = app.client.get(app.url("/v1/tickets")).send().await.expect("list").json().await.expect("JSON");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "the refused ticket was not stored");
    app.running.stop().await.expect("clean stop");
}
