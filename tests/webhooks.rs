//! Webhooks end to end: `switchboard up` in this process, the receiver a
//! real HTTP server in its own process (`tests/receivers/webhook_receiver.py`)
//! that verifies every delivery with the official `standardwebhooks`
//! library. A receiver that answers 503, then is stopped, then comes back
//! gets every event, each webhook id once, in each ticket's order; a secret
//! rotation signs with both secrets; 410 disables the endpoint; private
//! destinations are refused unless allowed.

mod common;

use std::time::Duration;

use common::receiver::{Receiver, wait_for_received};
use common::{App, WAIT, post_ticket, spawn_app_with, ticket_json, wait_for_json, wait_for_ok};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn webhook(app: &App, body: Value) -> Value {
    let response = app.client.post(app.url("/v1/webhooks")).json(&body).send().await.expect("send");
    let status = response.status();
    let created: Value = response.json().await.expect("JSON");
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

async fn post_message(app: &App, ticket: &str, body: &str) {
    let response = app
        .client
        .post(app.url(&format!("/v1/tickets/{ticket}/messages")))
        .json(&json!({"body": body}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::CREATED);
}

fn fast_schedule(config: &mut switchboard_core::config::Config) {
    config.outbound.allow_private_destinations = true;
    config.notifier.refresh_ms = 0;
    // Milliseconds instead of hours; as many attempts as the default.
    config.notifier.schedule_ms = vec![0, 50, 100, 200, 300, 400, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500];
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_arrives_signed_once_and_in_order_through_failures_and_an_outage() {
    let mut receiver = Receiver::start("127.0.0.1:0").await;
    let app = spawn_app_with(fast_schedule).await;
    let endpoint = webhook(
        &app,
        json!({"url": receiver.url("/hooks"), "description": "desk", "event_types": [
            "ticket.created", "ticket.assigned", "ticket.status_changed", "ticket.message_added"
        ]}),
    )
    .await;
    let secret = endpoint["secret"].as_str().expect("the secret is shown on creation").to_owned();
    assert!(secret.starts_with("whsec_"));
    // The first two attempts fail, with a Retry-After.
    receiver.control(json!({"secrets": [secret], "fail": 2, "status": 503, "retry_after": "0"})).await;

    let ticket = post_ticket(&app, &ticket_json("Printer on fire")).await;
    wait_for_ok(&app.client, &app.url(&format!("/v1/tickets/{ticket}"))).await;
    let (_, engineer_id) = app.account("engineer", "eve").await;
    let response = app
        .client
        .put(app.url(&format!("/v1/tickets/{ticket}/assignment")))
        .json(&json!({"assignee": engineer_id}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    post_message(&app, &ticket, "On our way").await;
    // created, status_changed (open), assigned, message_added.
    wait_for_received(&receiver, 4).await;

    // The receiver goes away; events keep coming.
    let address = receiver.address();
    receiver.stop().await;
    post_message(&app, &ticket, "Parts ordered").await;
    post_message(&app, &ticket, "Parts arrived").await;
    let endpoint_id = endpoint["id"].as_str().expect("id");
    wait_for_json(&app.client, &app.url(&format!("/v1/webhooks/{endpoint_id}/attempts")), "a failed attempt", |log| {
        log["items"].as_array().is_some_and(|items| {
            items.iter().any(|item| item["error"].as_str().is_some_and(|error| error.contains("could not connect")))
        })
    })
    .await;

    // Back on the same address: everything arrives.
    let receiver = Receiver::start(&address).await;
    receiver.control(json!({"secrets": [secret]})).await;
    let received = wait_for_received(&receiver, 2).await;
    let types: Vec<&str> = received.iter().map(|item| item["type"].as_str().expect("type")).collect();
    assert_eq!(types, ["ticket.message_added", "ticket.message_added"]);

    // The store's view: every message delivered, in the order they happened,
    // each webhook id once at the receivers (the first receiver's log is
    // gone with it; its four were counted above).
    let notifications =
        wait_for_json(&app.client, &app.url(&format!("/v1/tickets/{ticket}/notifications")), "six delivered", |body| {
            body["items"]
                .as_array()
                .is_some_and(|items| items.len() == 6 && items.iter().all(|item| item["state"] == "delivered"))
        })
        .await;
    let kinds: Vec<&str> = notifications["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["event_type"].as_str().expect("type"))
        .collect();
    assert_eq!(kinds[0], "ticket.created");
    assert_eq!(kinds[4..], ["ticket.message_added", "ticket.message_added"]);
    for item in &received {
        assert_eq!(item["repeats"], json!(0), "acknowledged once: {item}");
        assert_eq!(item["ticket_id"], json!(ticket));
    }
    let last_two: Vec<&str> = notifications["items"].as_array().expect("items")[4..]
        .iter()
        .map(|item| item["webhook_id"].as_str().expect("id"))
        .collect();
    let arrived: Vec<&str> = received.iter().map(|item| item["webhook_id"].as_str().expect("id")).collect();
    assert_eq!(arrived, last_two, "in the order they happened");

    // The log shows the 503s, with their answers, and the successes.
    let log = wait_for_ok(&app.client, &app.url(&format!("/v1/webhooks/{endpoint_id}/attempts"))).await;
    let statuses: Vec<Value> =
        log["items"].as_array().expect("items").iter().map(|item| item["status"].clone()).collect();
    assert_eq!(statuses.iter().filter(|status| **status == json!(503)).count(), 2, "{log}");
    assert!(log["items"].as_array().expect("items").iter().any(|item| {
        item["status"] == json!(503)
            && item["response_excerpt"].as_str().is_some_and(|text| text.contains("on purpose"))
    }));
    app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_signs_with_both_and_gone_disables_the_endpoint() {
    let receiver = Receiver::start("127.0.0.1:0").await;
    let app = spawn_app_with(fast_schedule).await;
    let endpoint = webhook(&app, json!({"url": receiver.url("/hooks"), "event_types": ["ticket.created"]})).await;
    let id = endpoint["id"].as_str().expect("id").to_owned();
    let old = endpoint["secret"].as_str().expect("secret").to_owned();
    let response = app.client.post(app.url(&format!("/v1/webhooks/{id}/rotate-secret"))).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    let rotated: Value = response.json().await.expect("JSON");
    let new = rotated["secret"].as_str().expect("secret").to_owned();
    assert_ne!(old, new);
    assert!(rotated["previous_secret_until"].is_string(), "{rotated}");
    receiver.control(json!({"secrets": [old, new]})).await;
    post_ticket(&app, &ticket_json("Rotation")).await;
    let received = wait_for_received(&receiver, 1).await;
    assert_eq!(received[0]["verified_by"], json!([0, 1]), "both the old and the new secret verify");

    // A receiver that answers 410 Gone has the endpoint disabled.
    receiver.control(json!({"fail": 1, "status": 410})).await;
    post_ticket(&app, &ticket_json("Gone")).await;
    let disabled = wait_for_json(&app.client, &app.url(&format!("/v1/webhooks/{id}")), "disabled", |body| {
        body["enabled"] == json!(false)
    })
    .await;
    assert_eq!(disabled["disabled_reason"], json!("it answered 410 Gone"));
    // Enabled again, the waiting message goes out.
    let body = json!({"url": receiver.url("/hooks"), "event_types": ["ticket.created"], "enabled": true});
    let response = app.client.put(app.url(&format!("/v1/webhooks/{id}"))).json(&body).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    let enabled: Value = response.json().await.expect("JSON");
    assert!(enabled["disabled_reason"].is_null(), "{enabled}");
    let received = wait_for_received(&receiver, 2).await;

    // Sent again by hand: a replay keeps the webhook id (the receiver sees
    // a repeat); sharing a ticket makes a new message.
    let first_id = received[0]["webhook_id"].as_str().expect("id").to_owned();
    let response = app
        .client
        .post(app.url(&format!("/v1/webhooks/{id}/replay")))
        .json(&json!({"webhook_id": first_id}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let deadline = tokio::time::Instant::now() + WAIT;
    while receiver.received().await[0]["repeats"] != json!(1) {
        assert!(tokio::time::Instant::now() < deadline, "the replay never arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ticket = received[0]["ticket_id"].as_str().expect("ticket").to_owned();
    let response = app
        .client
        .post(app.url(&format!("/v1/tickets/{ticket}/notifications")))
        .json(&json!({"webhook": id}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let received = wait_for_received(&receiver, 3).await;
    assert_eq!(
        (received[2]["type"].clone(), received[2]["ticket_id"].clone()),
        (json!("ticket.shared"), json!(ticket))
    );
    let response = app
        .client
        .post(app.url(&format!("/v1/webhooks/{id}/replay")))
        .json(&json!({"webhook_id": "msg_nope"}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_destinations_filters_and_event_types_are_checked_when_set() {
    let app = spawn_app_with(|_| {}).await;
    for url in [
        "http://127.0.0.1:9000/hook",
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://localhost:9000/hook",
    ] {
        let response = app.client.post(app.url("/v1/webhooks")).json(&json!({"url": url})).send().await.expect("send");
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{url}");
        let error: Value = response.json().await.expect("JSON");
        assert_eq!(error["error"]["field"], json!("url"), "{url}: {error}");
    }
    let response = app
        .client
        .post(app.url("/v1/webhooks"))
        .json(&json!({"url": "https://hooks.example/in", "filter": "urgency>=high OR"}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error: Value = response.json().await.expect("JSON");
    assert_eq!(
        (error["error"]["code"].clone(), error["error"]["field"].clone()),
        (json!("invalid_query"), json!("filter"))
    );
    let response = app
        .client
        .post(app.url("/v1/webhooks"))
        .json(&json!({"url": "https://hooks.example/in", "event_types": ["ticket.created", "ticket.exploded"]}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error: Value = response.json().await.expect("JSON");
    assert_eq!(error["error"]["field"], json!("event_types[1]"));
    // A list never shows secrets; the catalogue lists every type.
    webhook(&app, json!({"url": "https://hooks.example/in"})).await;
    let list = wait_for_ok(&app.client, &app.url("/v1/webhooks")).await;
    assert!(list["items"][0].get("secret").is_none(), "{list}");
    let catalogue = wait_for_ok(&app.client, &app.url("/v1/webhooks/event-types")).await;
    assert!(catalogue["items"].as_array().is_some_and(|items| items.len() >= 13));
    app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filter_picks_the_tickets_an_endpoint_gets() {
    let receiver = Receiver::start("127.0.0.1:0").await;
    let app = spawn_app_with(fast_schedule).await;
    let vip_only =
        webhook(&app, json!({"url": receiver.url("/vip"), "event_types": ["ticket.created"], "filter": "tag:vip"}))
            .await;
    let everything = webhook(&app, json!({"url": receiver.url("/all"), "event_types": ["ticket.created"]})).await;
    receiver.control(json!({"secrets": [vip_only["secret"], everything["secret"]]})).await;
    let ordinary = post_ticket(&app, &ticket_json("Ordinary")).await;
    let mut vip = ticket_json("Important");
    vip["tags"] = json!(["vip"]);
    let important = post_ticket(&app, &vip).await;
    // Each ticket's event was handled for both endpoints at once: the
    // unfiltered one's message shows it was.
    let to = |ticket: &str| app.url(&format!("/v1/tickets/{ticket}/notifications"));
    let endpoints = |body: &Value| -> Vec<Value> {
        body["items"]
            .as_array()
            .map(|items| items.iter().map(|item| item["endpoint"].clone()).collect())
            .unwrap_or_default()
    };
    let seen = wait_for_json(&app.client, &to(&ordinary), "a message", |body| !endpoints(body).is_empty()).await;
    assert_eq!(endpoints(&seen), vec![everything["id"].clone()], "the filter left the ordinary ticket out");
    let seen = wait_for_json(&app.client, &to(&important), "two messages", |body| endpoints(body).len() == 2).await;
    let mut got = endpoints(&seen);
    got.sort_by_key(ToString::to_string);
    let mut expected = vec![vip_only["id"].clone(), everything["id"].clone()];
    expected.sort_by_key(ToString::to_string);
    assert_eq!(got, expected);
    wait_for_received(&receiver, 3).await;
    app.running.stop().await.expect("clean stop");
}

/// A measurement, not a check of speed: webhook deliveries per second to a
/// local receiver (`switchboard team-server`, which verifies every
/// signature), and the latency from event to delivery at 200 events/s.
///
/// ```sh
/// cargo test --release --test webhooks -- --ignored --nocapture webhook_throughput
/// ```
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a benchmark: run it by name"]
async fn webhook_throughput() {
    use common::team_server::TeamServer;
    use switchboard_core::notifications::{EventType, Notification};

    const MESSAGES: usize = 10_000;
    let app = spawn_app_with(|config| config.outbound.allow_private_destinations = true).await;
    // The receiver's address is chosen before the endpoint (whose secret it
    // needs) is made.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("port").port();
    let listen = format!("127.0.0.1:{port}");
    let endpoint = webhook(
        &app,
        json!({"url": format!("http://{listen}/hooks"), "event_types": ["ticket.created", "ticket.message_added", "ticket.shared"]}),
    )
    .await;
    let endpoint_id: switchboard_core::ids::WebhookId = endpoint["id"].as_str().expect("id").parse().expect("id");
    let server = TeamServer::start(&listen, endpoint["secret"].as_str().expect("secret")).await;

    // Throughput: messages stored at once (through a second connection to
    // the store), then drained by the webhooks stage.
    let store = switchboard_store::Store::connect(&app.store_url(), 2).await.expect("store");
    let ticket: switchboard_core::Ticket = {
        let id = post_ticket(&app, &ticket_json("Benchmark")).await;
        let detail = wait_for_ok(&app.client, &app.url(&format!("/v1/tickets/{id}"))).await;
        serde_json::from_value(detail).expect("a ticket")
    };
    wait_for_received_count(&server, 1).await;
    let actor = switchboard_core::lifecycle::Actor::SYSTEM;
    let messages: Vec<_> = (0..MESSAGES)
        .map(|_| {
            let notification = Notification::shared(&ticket, actor);
            let mut message = switchboard_store::NewWebhookMessage::of(&notification, endpoint_id, notification.body());
            // One ticket's messages go one at a time; spread them over
            // tickets as real traffic is.
            message.ticket_id = switchboard_core::TicketId::new();
            message
        })
        .collect();
    assert_eq!(messages[0].event_type, EventType::TicketShared);
    let started = std::time::Instant::now();
    for chunk in messages.chunks(1_000) {
        store.add_webhook_messages(chunk).await.expect("add");
    }
    wait_for_received_count(&server, MESSAGES + 1).await;
    let took = started.elapsed();
    println!(
        "{MESSAGES} webhook messages delivered in {:.1} s: {:.0} deliveries/s",
        took.as_secs_f64(),
        MESSAGES as f64 / took.as_secs_f64()
    );

    // Latency: 200 events/s for 15 s, messages added to 100 tickets in
    // turn (`ticket.message_added`); from each event's timestamp to the
    // receiver's clock when it arrived.
    let mut tickets = Vec::new();
    for index in 0..100 {
        tickets.push(post_ticket(&app, &ticket_json(&format!("Printer {index} jams"))).await);
    }
    for ticket in &tickets {
        wait_for_ok(&app.client, &app.url(&format!("/v1/tickets/{ticket}"))).await;
    }
    let before = wait_for_received_count(&server, MESSAGES + 1 + tickets.len()).await.len();
    let events = 3_000;
    let mut ticker = tokio::time::interval(Duration::from_millis(5));
    let mut posters = tokio::task::JoinSet::new();
    for index in 0..events {
        ticker.tick().await;
        let (client, url) = (app.client.clone(), app.url(&format!("/v1/tickets/{}/messages", tickets[index % 100])));
        posters.spawn(async move {
            let response = client.post(&url).json(&json!({"body": format!("Update {index}")})).send().await;
            assert_eq!(response.expect("send").status(), StatusCode::CREATED);
        });
    }
    while posters.join_next().await.is_some() {}
    let received = wait_for_received_count(&server, before + events).await;
    let parse = |text: &Value| {
        time::OffsetDateTime::parse(text.as_str().expect("a time"), &time::format_description::well_known::Rfc3339)
            .expect("RFC 3339")
    };
    let mut latencies: Vec<f64> = received[before..]
        .iter()
        .map(|item| (parse(&item["received_at"]) - parse(&item["body"]["timestamp"])).as_seconds_f64() * 1_000.0)
        .collect();
    latencies.sort_by(f64::total_cmp);
    let at = |share: f64| latencies[((latencies.len() - 1) as f64 * share).round() as usize];
    println!(
        "{events} ticket.message_added events at 200/s: event to delivery p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        at(0.5),
        at(0.99),
        at(1.0)
    );
    app.running.stop().await.expect("clean stop");
}

async fn wait_for_received_count(server: &common::team_server::TeamServer, count: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    loop {
        let received = server.received_raw().await;
        if received.len() >= count {
            return received;
        }
        assert!(tokio::time::Instant::now() < deadline, "only {} of {count} arrived", received.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
