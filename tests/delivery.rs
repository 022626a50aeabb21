//! Routing and delivery end to end: `switchboard up` in this process, team
//! servers as real `switchboard team-server` processes. A rule picks the
//! team; a change of rules by API changes the next ticket's route without
//! a restart; a server that is down is retried, then the ticket falls back
//! to the central server; the server that comes back gets only new work;
//! each server receives each ticket once (counted by webhook id).

mod common;

use std::time::Duration;

use common::team_server::{Certificate, TeamServer};
use common::{App, WAIT, post_ticket, spawn_app_with, ticket_json, wait_for_ok};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn secret(byte: u8) -> String {
    use base64::Engine;
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode([byte; 32]))
}

async fn created(app: &App, path: &str, body: Value) -> String {
    let response = app.client.post(app.url(path)).json(&body).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::CREATED, "{path}");
    response.json::<Value>().await.expect("JSON")["id"].as_str().expect("id").to_owned()
}

async fn put_rules(app: &App, team: &str) -> u64 {
    let rules = json!({"rules": [
        {"name": "printers", "when": "tag:printer", "then": [{"kind": "route_to_team", "team": team}]}
    ]});
    let response = app.client.put(app.url("/v1/routing/rulesets")).json(&rules).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json::<Value>().await.expect("JSON")["version"].as_u64().expect("version")
}

/// Waits until `server` has received `ticket`.
async fn wait_for_delivery(server: &TeamServer, ticket: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !server.received().await.iter().any(|(id, _)| id == ticket) {
        assert!(tokio::time::Instant::now() < deadline, "{ticket} never reached {}", server.address);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn routing_of(app: &App, ticket: &str) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let detail = wait_for_ok(&app.client, &app.url(&format!("/v1/tickets/{ticket}"))).await;
        if !detail["routing"].is_null() {
            return detail["routing"].clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "{ticket} was never routed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn printer_ticket(title: &str) -> Value {
    let mut ticket = ticket_json(title);
    ticket["tags"] = json!(["printer"]);
    ticket
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_reach_the_team_a_rule_picks_and_fall_back_when_its_server_is_down() {
    let mut printers_server = TeamServer::start("127.0.0.1:0", &secret(1)).await;
    let network_server = TeamServer::start("127.0.0.1:0", &secret(2)).await;
    let central_server = TeamServer::start("127.0.0.1:0", &secret(3)).await;
    let app = spawn_app_with(|config| {
        config.outbound.allow_private_destinations = true;
        config.router.refresh_ms = 0;
        config.router.retry_base_ms = 50;
        config.router.retry_max_ms = 200;
        config.router.delivery_attempts = 3;
    })
    .await;
    let mut server_ids = Vec::new();
    for (name, server, central) in
        [("printers", &printers_server, false), ("network", &network_server, false), ("hq", &central_server, true)]
    {
        let body = json!({"name": name, "base_url": server.url("/deliveries"), "signing_secret": server.secret, "central": central});
        server_ids.push(created(&app, "/v1/servers", body).await);
    }
    let printers = created(&app, "/v1/teams", json!({"name": "Printers", "servers": [server_ids[0]]})).await;
    let network = created(&app, "/v1/teams", json!({"name": "Network", "servers": [server_ids[1]]})).await;

    // A rule sends printer tickets to the printers team.
    assert_eq!(put_rules(&app, &printers).await, 1);
    let first = post_ticket(&app, &printer_ticket("Printer jams")).await;
    wait_for_delivery(&printers_server, &first).await;
    let routing = routing_of(&app, &first).await;
    assert_eq!(routing["ruleset_version"], json!(1));
    assert_eq!(routing["decision"]["reason"], json!("rule `printers` routes it"));
    assert_eq!(routing["decision"]["trace"][0]["outcome"], json!("matched"));
    assert_eq!(routing["server"], json!(server_ids[0]));

    // Changing the rules by API changes the next ticket's route at once.
    assert_eq!(put_rules(&app, &network).await, 2);
    let second = post_ticket(&app, &printer_ticket("Printer offline")).await;
    wait_for_delivery(&network_server, &second).await;
    assert_eq!(routing_of(&app, &second).await["ruleset_version"], json!(2));

    // The printers' server goes down: retried, then the central server.
    assert_eq!(put_rules(&app, &printers).await, 3);
    let printers_address = printers_server.address.to_string();
    printers_server.stop().await;
    let third = post_ticket(&app, &printer_ticket("Printer smoking")).await;
    wait_for_delivery(&central_server, &third).await;
    let log: Value = app
        .client
        .get(app.url(&format!("/v1/tickets/{third}/deliveries")))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("JSON");
    let steps: Vec<(Value, Value, Value)> = log["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| (item["server"].clone(), item["state"].clone(), item["attempts"].clone()))
        .collect();
    assert_eq!(
        steps,
        vec![(json!(server_ids[0]), json!("failed"), json!(3)), (json!(server_ids[2]), json!("delivered"), json!(1)),]
    );
    assert!(log["items"][1]["reason"].as_str().expect("reason").starts_with("fallback from `printers`"), "{log}");
    assert_eq!(routing_of(&app, &third).await["server"], json!(server_ids[2]), "the routing follows the fallback");

    // Back again, it gets new work only.
    let printers_server = TeamServer::start(&printers_address, &secret(1)).await;
    let fourth = post_ticket(&app, &printer_ticket("Printer fixed?")).await;
    wait_for_delivery(&printers_server, &fourth).await;
    // Each server got each of its tickets once.
    let tickets = |received: Vec<(String, String)>| {
        let mut webhook_ids: Vec<String> = received.iter().map(|(_, webhook)| webhook.clone()).collect();
        webhook_ids.dedup();
        assert_eq!(webhook_ids.len(), received.len(), "one webhook id per delivery");
        received.into_iter().map(|(ticket, _)| ticket).collect::<Vec<_>>()
    };
    assert_eq!(tickets(printers_server.received().await), vec![fourth.clone()]);
    assert_eq!(tickets(network_server.received().await), vec![second.clone()]);
    assert_eq!(tickets(central_server.received().await), vec![third.clone()]);

    // An admin sends two tickets to the network server by hand.
    let response = app
        .client
        .post(app.url(&format!("/v1/tickets/{first},{third}/distribute/{}", server_ids[1])))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    wait_for_delivery(&network_server, &first).await;
    wait_for_delivery(&network_server, &third).await;
    let mut network_tickets = tickets(network_server.received().await);
    network_tickets.sort();
    let mut expected = vec![first.clone(), second.clone(), third.clone()];
    expected.sort();
    assert_eq!(network_tickets, expected);
    let response = app
        .client
        .post(app.url("/v1/tickets/distribute"))
        .json(&json!({"ticket_ids": [first, "0190b1c2-0000-7000-8000-000000000000"], "server_id": server_ids[1]}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::NOT_FOUND, "all or nothing: an unknown ticket");

    // A backtest: every printer ticket to the network team instead.
    let draft = json!({"rules": [
        {"name": "all printers to network", "when": "tag:printer", "then": [{"kind": "route_to_team", "team": network}]}
    ]});
    let response = app
        .client
        .post(app.url("/v1/routing/backtest"))
        .json(&json!({"ruleset": draft, "filter": "tag:printer"}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    let backtest: Value = response.json().await.expect("JSON");
    assert_eq!((backtest["tickets"].clone(), backtest["changed"].clone()), (json!(4), json!(3)), "{backtest}");
    assert_eq!(
        backtest["counts"],
        json!([
            {"destination": "team Network", "before": 1, "after": 4},
            {"destination": "team Printers", "before": 3, "after": 0},
        ])
    );
    let changed: Vec<&str> = backtest["changed_tickets"]
        .as_array()
        .expect("list")
        .iter()
        .map(|item| item["ticket_id"].as_str().expect("id"))
        .collect();
    assert_eq!(changed, vec![fourth.as_str(), third.as_str(), first.as_str()], "newest first");
    let response = app
        .client
        .post(app.url("/v1/routing/backtest"))
        .json(&json!({"filter": "tag:printer OR"}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error: Value = response.json().await.expect("JSON");
    assert_eq!((error["error"]["field"].clone(), error["error"]["position"].clone()), (json!("filter"), json!(14)));
    app.running.stop().await.expect("clean stop");
}

/// Over https: a server whose certificate no trusted authority signed gets
/// nothing (the central one, trusted by `outbound.ca_file`, does); a rule
/// assigns the ticket to an engineer; the team server reports progress
/// with an API key of scope `tickets:act`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_deliveries_rule_assignments_and_progress_reported_by_the_team_server() {
    let certificates = tempfile::tempdir().expect("temporary directory");
    let trusted = Certificate::make(certificates.path(), "trusted");
    let untrusted = Certificate::make(certificates.path(), "untrusted");
    let unverifiable = TeamServer::start_with("127.0.0.1:0", &secret(4), Some(&untrusted)).await;
    let central = TeamServer::start_with("127.0.0.1:0", &secret(5), Some(&trusted)).await;
    let ca_file = trusted.chain.clone();
    let app = spawn_app_with(|config| {
        config.outbound.allow_private_destinations = true;
        config.router.refresh_ms = 0;
        config.router.retry_base_ms = 50;
        config.router.retry_max_ms = 100;
        config.router.delivery_attempts = 2;
        config.outbound.ca_file = Some(ca_file);
    })
    .await;
    let (engineer, engineer_id) = app.account("engineer", "eve").await;
    let body = json!({"name": "field", "base_url": unverifiable.url("/in"), "signing_secret": unverifiable.secret});
    let field = created(&app, "/v1/servers", body).await;
    let body = json!({"name": "hq", "base_url": central.url("/in"), "signing_secret": central.secret, "central": true});
    let hq = created(&app, "/v1/servers", body).await;
    let team = created(&app, "/v1/teams", json!({"name": "Field", "servers": [field]})).await;
    let rules = json!({"rules": [
        {"name": "printers to eve", "when": "tag:printer", "then": [
            {"kind": "route_to_team", "team": team}, {"kind": "assign", "account": engineer_id}
        ]},
        {"name": "odd ones to review", "when": "tag:misc", "then": [{"kind": "flag_for_review"}]}
    ]});
    let response = app.client.put(app.url("/v1/routing/rulesets")).json(&rules).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::CREATED);

    let ticket = post_ticket(&app, &printer_ticket("Printer on fire")).await;
    wait_for_delivery(&central, &ticket).await;
    assert!(unverifiable.received().await.is_empty());
    let log = wait_for_ok(&app.client, &app.url(&format!("/v1/tickets/{ticket}/deliveries"))).await;
    let first = &log["items"][0];
    assert_eq!((first["server"].clone(), first["state"].clone()), (json!(field), json!("failed")), "{log}");
    let error = first["last_error"].as_str().unwrap_or_default().to_lowercase();
    assert!(error.contains("certificate"), "the failure names the certificate: {log}");
    assert_eq!((log["items"][1]["server"].clone(), log["items"][1]["state"].clone()), (json!(hq), json!("delivered")));

    // The rule's assignment was applied, by the system, on the admin's rule.
    let routing = routing_of(&app, &ticket).await;
    assert_eq!(routing["decision"]["assignee"], json!(engineer_id));
    assert_eq!(routing["assignment"], json!(format!("assigned to {engineer_id}")));
    let detail = wait_for_ok(&app.client, &app.url(&format!("/v1/tickets/{ticket}"))).await;
    assert_eq!((detail["status"].clone(), detail["assignee"].clone()), (json!("opened"), json!(engineer_id)));
    let history = wait_for_ok(&app.client, &app.url(&format!("/v1/tickets/{ticket}/history"))).await;
    let opened = history["items"].as_array().expect("items").iter().find(|item| item["action"] == "open");
    assert_eq!(opened.map(|item| item["actor"]["role"].clone()), Some(json!("system")), "{history}");
    let mine = wait_for_ok(&engineer, &app.url("/v1/tickets?assignee=me")).await;
    assert_eq!(mine["items"][0]["id"], json!(ticket));

    // The team server reports progress with a key of its own.
    let response = app
        .client
        .post(app.url("/v1/api-keys"))
        .json(&json!({"name": "hq team server", "scopes": ["tickets:act", "tickets:read"]}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::CREATED);
    let key =
        common::client_with_token(response.json::<Value>().await.expect("JSON")["secret"].as_str().expect("secret"));
    let status = |status: &str| {
        key.put(app.url(&format!("/v1/tickets/{ticket}/status"))).json(&json!({"status": status})).send()
    };
    let response = status("in_progress").await.expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.expect("JSON")["status"], json!("in_progress"));
    assert_eq!(status("closed").await.expect("send").status(), StatusCode::FORBIDDEN, "dismissing is an admin's");
    let response = key
        .post(app.url(&format!("/v1/tickets/{ticket}/messages")))
        .json(&json!({"body": "Technician on the way"}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::CREATED);
    let message: Value = response.json().await.expect("JSON");
    assert_eq!((message["author_role"].clone(), message["author"].clone()), (json!("integration"), Value::Null));
    let history = wait_for_ok(&app.client, &app.url(&format!("/v1/tickets/{ticket}/history"))).await;
    let started = history["items"].as_array().expect("items").iter().find(|item| item["action"] == "start");
    assert_eq!(started.map(|item| item["actor"]["role"].clone()), Some(json!("integration")), "{history}");

    // A ticket no team server was given is not the integration's to touch.
    let mut review = ticket_json("Something odd");
    review["tags"] = json!(["misc"]);
    let other = post_ticket(&app, &review).await;
    let routing = routing_of(&app, &other).await;
    assert_eq!((routing["server"].clone(), routing["assignment"].clone()), (Value::Null, Value::Null), "{routing}");
    let response = key
        .post(app.url(&format!("/v1/tickets/{other}/messages")))
        .json(&json!({"body": "not ours"}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // Nor is its status, even asked for the one it has.
    let response =
        key.put(app.url(&format!("/v1/tickets/{other}/status"))).json(&json!({"status": "new"})).send().await;
    assert_eq!(response.expect("send").status(), StatusCode::FORBIDDEN);
    app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_team_server_refuses_forged_and_stale_deliveries_and_counts_repeats_once() {
    let server = TeamServer::start("127.0.0.1:0", &secret(7)).await;
    let signing = switchboard_core::signing::SigningSecret::parse(&secret(7)).expect("valid");
    let body = br#"{"type":"ticket.routed","data":{"ticket":{"id":"t-1"}}}"#;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let send = |id: &str, timestamp: i64, signature: String| {
        reqwest::Client::new()
            .post(server.url("/deliveries"))
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body.to_vec())
            .send()
    };
    let good = signing.sign("msg_1", now, body);
    assert_eq!(send("msg_1", now, good.clone()).await.expect("send").status(), StatusCode::OK);
    assert_eq!(send("msg_1", now, good).await.expect("send").status(), StatusCode::OK, "a repeat is acknowledged");
    let forged = switchboard_core::signing::SigningSecret::generate().sign("msg_2", now, body);
    assert_eq!(send("msg_2", now, forged).await.expect("send").status(), StatusCode::UNAUTHORIZED);
    let stale = signing.sign("msg_3", now - 3_600, body);
    assert_eq!(send("msg_3", now - 3_600, stale).await.expect("send").status(), StatusCode::UNAUTHORIZED);
    let unsigned =
        reqwest::Client::new().post(server.url("/deliveries")).body(body.to_vec()).send().await.expect("send");
    assert_eq!(unsigned.status(), StatusCode::BAD_REQUEST);
    assert_eq!(server.received().await, vec![("t-1".to_owned(), "msg_1".to_owned())]);
}

/// A measurement, not a check of speed: routing and delivery of 10,000
/// tickets end to end, then a backtest over all of them. Prints the figures.
///
/// ```sh
/// cargo test --release --test delivery -- --ignored --nocapture routing_throughput
/// ```
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a benchmark: run it by name"]
async fn routing_throughput() {
    const TICKETS: usize = 10_000;
    let server = TeamServer::start("127.0.0.1:0", &secret(9)).await;
    let app = spawn_app_with(|config| config.outbound.allow_private_destinations = true).await;
    let body = json!({"name": "desk", "base_url": server.url("/deliveries"), "signing_secret": server.secret});
    let server_id = created(&app, "/v1/servers", body).await;
    let team = created(&app, "/v1/teams", json!({"name": "Desk", "servers": [server_id]})).await;
    // 99 rules that do not match, then the one that does: every condition is evaluated.
    let mut rules: Vec<Value> = (0..99)
        .map(|index| {
            json!({"name": format!("rule {index}"), "when": format!("tag:t{index} urgency>=high \"paper jam\""),
            "then": [{"kind": "route_to_team", "team": team}]})
        })
        .collect();
    rules.push(json!({"name": "everything", "when": "", "then": [{"kind": "route_to_team", "team": team}]}));
    let response =
        app.client.put(app.url("/v1/routing/rulesets")).json(&json!({"rules": rules})).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::CREATED);

    let started = std::time::Instant::now();
    let mut posters = tokio::task::JoinSet::new();
    for worker in 0..32 {
        let (client, url) = (app.client.clone(), app.url("/v1/tickets"));
        posters.spawn(async move {
            for index in (worker..TICKETS).step_by(32) {
                let ticket = json!({"title": format!("Printer {index} jams"), "description": "Tray 2, every morning.",
                    "requester": {"email": "ana@example.com"}, "tags": ["printer"]});
                let response = client.post(&url).json(&ticket).send().await.expect("send");
                assert_eq!(response.status(), StatusCode::ACCEPTED);
            }
        });
    }
    while posters.join_next().await.is_some() {}
    let accepted = started.elapsed();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(900);
    let received = loop {
        let received = server.received().await;
        if received.len() >= TICKETS {
            break received;
        }
        assert!(tokio::time::Instant::now() < deadline, "only {} of {TICKETS} delivered", received.len());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let delivered = started.elapsed();
    let mut ids: Vec<&String> = received.iter().map(|(ticket, _)| ticket).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), TICKETS, "each ticket delivered once");
    println!(
        "{TICKETS} tickets: accepted in {:.1} s ({:.0}/s); all delivered through triage, kb, router and delivery after {:.1} s ({:.0}/s end to end)",
        accepted.as_secs_f64(),
        TICKETS as f64 / accepted.as_secs_f64(),
        delivered.as_secs_f64(),
        TICKETS as f64 / delivered.as_secs_f64()
    );

    let draft =
        json!({"rules": [{"name": "all to review", "when": "tag:printer", "then": [{"kind": "flag_for_review"}]}]});
    let started = std::time::Instant::now();
    let response = app
        .client
        .post(app.url("/v1/routing/backtest"))
        .json(&json!({"ruleset": draft, "limit": TICKETS}))
        .send()
        .await
        .expect("send");
    let took = started.elapsed();
    let backtest: Value = response.json().await.expect("JSON");
    assert_eq!((backtest["tickets"].clone(), backtest["changed"].clone()), (json!(TICKETS), json!(TICKETS)));
    println!(
        "backtest of {TICKETS} stored tickets: {:.2} s over HTTP ({} ms inside)",
        took.as_secs_f64(),
        backtest["elapsed_ms"]
    );
    app.running.stop().await.expect("clean stop");
}
