//! What every route shares (`switchboard-web`): one error shape for bodies,
//! query strings and path parameters, unknown fields refused, cursors that
//! can be followed, a request timeout and a deadline on the drain.

mod common;

use std::time::Duration;

use common::{WAIT, spawn_app, spawn_app_with, wait_for_ok};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn error_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(content_type.as_deref(), Some("application/json"), "{status}");
    (status, response.json().await.expect("a JSON error"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_and_path_mistakes_get_one_json_error_shape_on_every_route() {
    let app = spawn_app().await;
    for (path, field) in [
        ("/v1/tickets?limt=5", "limt"),
        ("/v1/tickets?limit=0", "limit"),
        ("/v1/tickets?status=new&status=opened", "status"),
        ("/v1/faqs?after=x", "after"),
        ("/v1/faqs?limit=many", "limit"),
        ("/v1/kb/search?q=printer&kk=2", "kk"),
        ("/v1/kb/search?q=printer&k=0", "k"),
        ("/v1/tickets/%FF%FE", "path"),
        ("/v1/faqs/%FF", "path"),
        ("/v1/companies/%C3%28/settings", "path"),
    ] {
        let (status, body) = error_of(app.client.get(app.url(path)).send().await.expect("send")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["error"]["code"], json!("invalid_parameter"), "{path}: {body}");
        assert_eq!(body["error"]["field"], json!(field), "{path}: {body}");
    }
    app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misspelt_policy_field_is_refused_and_the_policy_kept() {
    let app = spawn_app().await;
    let policy = json!({"rules": [{"name": "fire", "when": {"any_keyword": ["fire"]}, "then": {"set": "critical"}}]});
    let response = app.client.put(app.url("/v1/triage/policy")).json(&policy).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    for (body, field) in [
        (json!({"rule": [{"when": {"category": "x"}, "then": {"set": "low"}}]}), "rule"),
        (json!({"rules": [{"nmae": "x", "when": {"category": "x"}, "then": {"set": "low"}}]}), "rules[0].nmae"),
    ] {
        let (status, error) =
            error_of(app.client.put(app.url("/v1/triage/policy")).json(&body).send().await.expect("send")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
        assert_eq!(error["error"]["code"], json!("invalid_field"), "{error}");
        assert_eq!(error["error"]["field"], json!(field), "{error}");
    }
    let kept: Value =
        app.client.get(app.url("/v1/triage/policy")).send().await.expect("send").json().await.expect("JSON");
    assert_eq!(kept["rules"][0]["name"], json!("fire"), "the policy in force is unchanged: {kept}");
    app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn following_next_cursor_pages_through_every_faq_once() {
    let app = spawn_app().await;
    let lines: String = (0..7)
        .map(|index| {
            format!(
                "{{\"id\": \"faq-{index}\", \"question\": \"Question {index}?\", \"answers\": [\"Answer {index}.\"]}}\n"
            )
        })
        .collect();
    let response = app
        .client
        .post(app.url("/v1/faqs/import"))
        .header("content-type", "application/x-ndjson")
        .body(lines)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    let mut seen = Vec::new();
    let mut url = app.url("/v1/faqs?limit=3");
    for _ in 0..10 {
        let page: Value = app.client.get(&url).send().await.expect("send").json().await.expect("JSON");
        seen.extend(
            page["items"].as_array().expect("items").iter().map(|faq| faq["id"].as_str().unwrap_or("").to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => url = app.url(&format!("/v1/faqs?limit=3&cursor={cursor}")),
            None => break,
        }
    }
    let expected: Vec<String> = (0..7).map(|index| format!("faq-{index}")).collect();
    assert_eq!(seen, expected);

    // The import refuses unknown fields too, naming line and field.
    let response = app
        .client
        .post(app.url("/v1/faqs/import"))
        .header("content-type", "application/x-ndjson")
        .body("{\"id\": \"z\", \"question\": \"Q\", \"answers\": [\"A\"], \"answer\": \"typo\"}\n")
        .send()
        .await
        .expect("send");
    let (status, error) = error_of(response).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["error"]["field"], json!("line 1"), "{error}");
    assert!(error["error"]["message"].as_str().is_some_and(|m| m.contains("answer")), "{error}");
    app.running.stop().await.expect("clean stop");
}

/// Sends a request whose body never finishes, on a raw connection.
/// A signed-in `POST /v1/tickets` whose body never finishes.
async fn stalled_request(app: &common::App) -> tokio::net::TcpStream {
    let mut stream = tokio::net::TcpStream::connect(app.running.address).await.expect("connect");
    let head = format!(
        "POST /v1/tickets HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\n\
         content-length: 400\r\n\r\n{{\"title\": ",
        app.admin_token
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_takes_too_long_gets_a_json_503() {
    let app = spawn_app_with(|config| config.http.request_timeout_ms = 500).await;
    let mut stream = stalled_request(&app).await;
    let mut response = Vec::new();
    tokio::time::timeout(WAIT, async {
        let mut buffer = [0_u8; 4096];
        while !String::from_utf8_lossy(&response).contains("}}") {
            let read = stream.read(&mut buffer).await.expect("read");
            if read == 0 {
                break;
            }
            response.extend_from_slice(&buffer[..read]);
        }
    })
    .await
    .expect("an answer before the test's deadline");
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("\"code\":\"timeout\""), "{text}");
    assert!(text.to_ascii_lowercase().contains("retry-after:"), "{text}");
    app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_cannot_hold_shutdown_past_the_drain_deadline() {
    let app = spawn_app_with(|config| {
        config.http.request_timeout_ms = 600_000;
        config.http.drain_timeout_ms = 300;
    })
    .await;
    let stream = stalled_request(&app).await;
    // Let the server start reading the body.
    let health = app.client.get(app.url("/healthz")).send().await.expect("send");
    assert_eq!(health.status(), StatusCode::OK);
    tokio::time::timeout(Duration::from_secs(30), app.running.stop())
        .await
        .expect("shutdown ends at the drain deadline, not when the client finishes")
        .expect("clean stop");
    drop(stream);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auto_answer_threshold_below_one_half_is_refused() {
    let app = spawn_app().await;
    let url = app.url("/v1/companies/acme/settings");
    for threshold in [json!(0), json!(0.49), json!(1.01), json!(-1)] {
        let response =
            app.client.put(&url).json(&json!({"auto_answer_threshold": threshold})).send().await.expect("send");
        let (status, error) = error_of(response).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{threshold}: {error}");
        assert_eq!(error["error"]["field"], json!("auto_answer_threshold"), "{error}");
    }
    for threshold in [json!(0.5), json!(0.95), Value::Null] {
        let response =
            app.client.put(&url).json(&json!({"auto_answer_threshold": threshold})).send().await.expect("send");
        assert_eq!(response.status(), StatusCode::OK, "{threshold}");
    }
    app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_kept_only_when_short_and_plain_and_methods_are_bounded_labels() {
    let app = spawn_app().await;
    let echoed = |response: &reqwest::Response| {
        response.headers().get("x-request-id").and_then(|value| value.to_str().ok()).map(str::to_owned)
    };
    let kept = app.client.get(app.url("/healthz")).header("x-request-id", "trace-me-42").send().await.expect("send");
    assert_eq!(echoed(&kept).as_deref(), Some("trace-me-42"));
    for refused in ["x".repeat(129), "has space".into(), "quote\"".into()] {
        let response = app.client.get(app.url("/healthz")).header("x-request-id", &refused).send().await.expect("send");
        let used = echoed(&response).expect("a request id");
        assert_ne!(used, refused);
        assert_eq!(uuid::Uuid::parse_str(&used).map(|_| ()), Ok(()), "a generated id instead: {used}");
    }
    let brewed = app
        .client
        .request(reqwest::Method::from_bytes(b"BREW").expect("method"), app.url("/healthz"))
        .send()
        .await
        .expect("send");
    assert_eq!(brewed.status(), StatusCode::METHOD_NOT_ALLOWED);
    let metrics = app.client.get(app.url("/metrics")).send().await.expect("send").text().await.expect("text");
    assert!(metrics.contains("method=\"other\""), "{metrics}");
    assert!(!metrics.contains("BREW"), "an invented method is not a label");
    app.running.stop().await.expect("clean stop");
}

/// Reads until the peer closes the connection; returns what it sent.
async fn read_to_close(stream: &mut tokio::net::TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buffer = [0_u8; 4096];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return received,
            Ok(read) => received.extend_from_slice(&buffer[..read]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let app = spawn_app_with(|config| config.http.header_read_timeout_ms = 300).await;
    let mut slow = tokio::net::TcpStream::connect(app.running.address).await.expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nhost: test\r\nx-slow: ").await.expect("write");
    let mut idle = tokio::net::TcpStream::connect(app.running.address).await.expect("connect");
    for stream in [&mut slow, &mut idle] {
        let received = tokio::time::timeout(WAIT, read_to_close(stream))
            .await
            .expect("the server closes the connection, not the test's deadline");
        assert!(!String::from_utf8_lossy(&received).contains("200 OK"), "no request was ever completed");
    }
    // Well-behaved clients are still served.
    let health = app.client.get(app.url("/healthz")).send().await.expect("send");
    assert_eq!(health.status(), StatusCode::OK);
    app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let app = spawn_app_with(|config| {
        config.http.max_connections = 2;
        config.http.header_read_timeout_ms = 600_000;
    })
    .await;
    // A pooled connection would hold a slot of its own: open a fresh one.
    let fresh_client = || reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("client");
    let first = tokio::net::TcpStream::connect(app.running.address).await.expect("connect");
    let second = tokio::net::TcpStream::connect(app.running.address).await.expect("connect");
    let waiting = tokio::spawn({
        let url = app.url("/healthz");
        async move { fresh_client().get(url).send().await.map(|response| response.status()) }
    });
    // While both slots are held the third connection is not served.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "a third connection was served past a cap of two");
    drop(first);
    let status = tokio::time::timeout(WAIT, waiting).await.expect("served once a slot frees").expect("join");
    assert_eq!(status.expect("answer"), StatusCode::OK);
    drop(second);
    app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_the_in_flight_limit_get_503_with_retry_after() {
    let app = spawn_app_with(|config| {
        config.http.max_in_flight = 1;
        config.http.request_timeout_ms = 600_000;
    })
    .await;
    // This request holds the only slot: its body never finishes. Should it
    // arrive while a probe below holds the slot, it is refused itself: then
    // it is sent again.
    let mut stalled = stalled_request(&app).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let refused = loop {
        let response = app.client.get(app.url("/v1/tickets")).send().await.expect("send");
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            break response;
        }
        let mut buffer = [0_u8; 64];
        if stalled.try_read(&mut buffer).is_ok_and(|read| read > 0) {
            stalled = stalled_request(&app).await;
        }
        assert!(tokio::time::Instant::now() < deadline, "never refused while the slot was held");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(refused.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    let (_, error) = error_of(refused).await;
    assert_eq!(error["error"]["code"], json!("overloaded"), "{error}");
    // The ops routes stay answerable under load.
    let health = app.client.get(app.url("/healthz")).send().await.expect("send");
    assert_eq!(health.status(), StatusCode::OK);
    // Once the slot frees, requests are served again.
    drop(stalled);
    wait_for_ok(&app.client, &app.url("/v1/tickets")).await;
    app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_is_off_unless_origins_are_configured() {
    let preflight = |app: &common::App, origin: &str| {
        app.anonymous
            .request(reqwest::Method::OPTIONS, app.url("/v1/tickets"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization, content-type")
            .send()
    };
    let allowed = |response: &reqwest::Response| {
        response.headers().get("access-control-allow-origin").and_then(|value| value.to_str().ok()).map(str::to_owned)
    };
    let app = spawn_app().await;
    assert_eq!(allowed(&preflight(&app, "https://console.example.com").await.expect("send")), None);
    app.running.stop().await.expect("clean stop");

    let app = spawn_app_with(|config| config.http.cors_origins = vec!["https://console.example.com".into()]).await;
    let response = preflight(&app, "https://console.example.com").await.expect("send");
    assert_eq!(allowed(&response).as_deref(), Some("https://console.example.com"));
    let headers = response.headers()["access-control-allow-headers"].to_str().expect("ascii").to_ascii_lowercase();
    assert!(headers.contains("authorization"), "{headers}");
    assert_eq!(allowed(&preflight(&app, "https://evil.example").await.expect("send")), None);
    let response = app
        .client
        .get(app.url("/v1/tickets"))
        .header("origin", "https://console.example.com")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(allowed(&response).as_deref(), Some("https://console.example.com"));
    app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_every_route_and_needs_no_sign_in() {
    let app = spawn_app().await;
    let response = app.anonymous.get(app.url("/v1/openapi.json")).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    let document: Value = response.json().await.expect("JSON");
    assert_eq!(document["openapi"], json!("3.1.0"));
    for rule in switchboard_api::ROUTES.iter().chain(switchboard_ingest::ROUTES) {
        let operation = &document["paths"][rule.path][rule.method.to_lowercase()];
        assert!(
            operation["summary"].as_str().is_some_and(|summary| !summary.is_empty()),
            "{} {}",
            rule.method,
            rule.path
        );
        assert!(operation["responses"]["422"].is_object(), "{} {} lists its errors", rule.method, rule.path);
        // Every success with a JSON body names its schema, field by field.
        let json_body = |status: &&u16| !matches!(**status, 101 | 204) && rule.doc.stream.is_empty();
        for status in rule.doc.success.iter().filter(json_body) {
            let schema = &operation["responses"][status.to_string()]["content"]["application/json"]["schema"];
            assert!(
                schema["$ref"].is_string(),
                "{} {} answers {status} with a typed body: {schema}",
                rule.method,
                rule.path
            );
        }
    }
    let schema = |name: &str| document["components"]["schemas"][name].clone();
    // The event catalogue: a versioned schema per type, and the webhook
    // request carrying it.
    for kind in switchboard_core::notifications::EventType::ALL {
        let body = schema(&format!("{kind}.v1"));
        assert_eq!(body["properties"]["type"]["const"], json!(kind.as_str()), "{body}");
        assert!(body["properties"]["data"]["$ref"].is_string(), "{kind}'s data is a named schema: {body}");
        let request = &document["webhooks"][kind.as_str()]["post"]["requestBody"]["content"]["application/json"];
        assert_eq!(request["schema"]["$ref"], json!(format!("#/components/schemas/{kind}.v1")));
    }
    assert_eq!(
        document["paths"]["/v1/live"]["get"]["responses"]["200"]["content"]["text/event-stream"]["schema"],
        json!({"type": "string"})
    );
    // Every reference leads to a schema the document has.
    fn references(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(object) => {
                if let Some(Value::String(target)) = object.get("$ref") {
                    found.push(target.clone());
                }
                object.values().for_each(|value| references(value, found));
            }
            Value::Array(items) => items.iter().for_each(|value| references(value, found)),
            _ => {}
        }
    }
    let mut targets = Vec::new();
    references(&document, &mut targets);
    for target in targets {
        let pointer = target.strip_prefix('#').expect("a local reference");
        let pointer = pointer.replace("~1", "/");
        assert!(document.pointer(&pointer).is_some(), "{target} is in the document");
    }
    let ticket = schema("Ticket");
    let required: Vec<&str> =
        ticket["required"].as_array().expect("required").iter().filter_map(Value::as_str).collect();
    for field in ["id", "title", "status", "company", "requester", "created_at"] {
        assert!(required.contains(&field), "a ticket always has `{field}`: {ticket}");
    }
    assert_eq!(schema("Status")["enum"], json!(["new", "opened", "in_progress", "resolved", "closed"]));
    // Links lead from a created object to the routes that take its id.
    let created_faq = &document["paths"]["/v1/faqs"]["post"]["responses"]["201"]["links"];
    assert_eq!(
        created_faq["get_faqs_id"],
        json!({"operationId": "get_faqs_id", "parameters": {"id": "$response.body#/id"}}),
        "{created_faq}"
    );
    for link in document["paths"].as_object().expect("paths").values().flat_map(|item| {
        item.as_object().into_iter().flat_map(|operations| operations.values()).flat_map(|operation| {
            operation["responses"].as_object().into_iter().flat_map(|responses| responses.values())
        })
    }) {
        for target in link["links"].as_object().into_iter().flat_map(|links| links.values()) {
            let id = target["operationId"].as_str().expect("operationId");
            let exists = document["paths"].as_object().expect("paths").values().any(|item| {
                item.as_object()
                    .is_some_and(|operations| operations.values().any(|operation| operation["operationId"] == id))
            });
            assert!(exists, "a link leads to `{id}`, which the document has");
        }
    }
    let sign_in = &document["paths"]["/v1/sessions"]["post"];
    let body = &sign_in["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(body["required"], json!(["login", "password"]), "{body}");
    assert_eq!(body["additionalProperties"], json!(false), "unknown fields are refused, and documented so");
    let list = &document["paths"]["/v1/tickets"]["get"]["parameters"];
    let names: Vec<&str> = list.as_array().expect("parameters").iter().filter_map(|p| p["name"].as_str()).collect();
    assert!(names.contains(&"limit") && names.contains(&"assignee"), "query parameters documented: {names:?}");
    let submit = &document["paths"]["/v1/tickets"]["post"];
    assert!(submit["responses"]["202"].is_object());
    assert_eq!(submit["security"], json!([{"bearer": []}]));
    app.running.stop().await.expect("clean stop");
}
