//! Webhooks through SIGKILL of the process that sends them, in the middle
//! of their retry schedule: after a restart nothing is lost, and nothing
//! the receiver acknowledged is sent again. Embedded mode (`switchboard up`
//! killed) and Kafka mode (ingest, projector and notifier as processes on
//! Kafka and PostgreSQL; the notifier killed). The receiver is
//! `tests/receivers/webhook_receiver.py` in its own process.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::receiver::{Receiver, wait_for_received};
use common::{Process, WAIT, cli_api_key, client_with_token, kafka_envs, spawn_process, ticket_json};
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_core::config::Secret;
use switchboard_core::ids::WebhookId;
use switchboard_core::notifications::EventType;
use switchboard_core::signing::SigningSecret;
use switchboard_core::{CompanyId, TicketId};
use switchboard_store::{Store, WebhookFields};

/// Tickets filed before the receiver fails, and while it does.
const BATCH: usize = 30;

/// What the processes need besides their bus and store.
fn notifier_envs() -> Vec<(String, String)> {
    // Long enough to span the outage, short enough to retry at once.
    let schedule: Vec<String> = std::iter::once("0".to_owned()).chain((0..60).map(|_| "250".to_owned())).collect();
    vec![
        ("SWITCHBOARD_OUTBOUND__ALLOW_PRIVATE_DESTINATIONS".into(), "true".into()),
        ("SWITCHBOARD_NOTIFIER__REFRESH_MS".into(), "0".into()),
        ("SWITCHBOARD_NOTIFIER__SCHEDULE_MS".into(), format!("[{}]", schedule.join(","))),
    ]
}

/// An endpoint of acme's for `ticket.created`, made in the store.
async fn endpoint(store: &Store, receiver: &Receiver) -> WebhookId {
    let secret = SigningSecret::generate().expose();
    let fields = WebhookFields {
        url: receiver.url("/hooks"),
        description: None,
        event_types: vec![EventType::TicketCreated],
        filter: None,
        enabled: true,
    };
    let acme = CompanyId::parse("acme").expect("valid");
    let endpoint = store.create_webhook(&acme, &fields, Secret::new(secret.clone())).await.expect("create");
    receiver.control(json!({"secrets": [secret]})).await;
    endpoint.id
}

async fn post_tickets(base: &str, key: &str, label: &str) -> Vec<TicketId> {
    let http = client_with_token(key);
    let mut ids = Vec::with_capacity(BATCH);
    for index in 0..BATCH {
        let response = http
            .post(format!("{base}/v1/tickets"))
            .json(&ticket_json(&format!("{label} {index}")))
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let body: Value = response.json().await.expect("JSON");
        ids.push(body["id"].as_str().and_then(|id| id.parse().ok()).expect("an id"));
    }
    ids
}

/// Waits until the endpoint's log has `count` attempts answered `status`.
async fn wait_for_attempts(store: &Store, endpoint: WebhookId, status: u16, count: usize) {
    let acme = CompanyId::parse("acme").expect("valid");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let attempts = store.webhook_attempts(&acme, endpoint, 500).await.expect("attempts");
        let answered: HashSet<uuid::Uuid> = attempts
            .iter()
            .filter(|attempt| attempt.status == Some(status))
            .map(|attempt| attempt.message_id)
            .collect();
        if answered.len() >= count {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "only {} messages answered {status}", answered.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The scenario: a batch acknowledged, a batch failing, the sender killed,
/// the receiver healthy again, the sender restarted (`restart`); then every
/// ticket's event arrived exactly once.
async fn survive_kill9<Restart, Restarted>(
    store: &Store,
    ingest: &str,
    key: &str,
    mut sender: Process,
    restart: Restart,
) -> Process
where
    Restart: FnOnce() -> Restarted,
    Restarted: std::future::Future<Output = Process>,
{
    let receiver = Receiver::start("127.0.0.1:0").await;
    let endpoint = endpoint(store, &receiver).await;
    let mut filed = post_tickets(ingest, key, "before").await;
    wait_for_received(&receiver, BATCH).await;
    // Recorded as acknowledged before the kill: these must not come again.
    wait_for_attempts(store, endpoint, 200, BATCH).await;

    receiver.control(json!({"fail": 1_000_000, "status": 503})).await;
    filed.extend(post_tickets(ingest, key, "during").await);
    wait_for_attempts(store, endpoint, 503, BATCH).await;
    sender.kill9().await;
    receiver.control(json!({"fail": 0})).await;
    let sender = restart().await;

    let received = wait_for_received(&receiver, 2 * BATCH).await;
    let tickets: HashSet<TicketId> =
        received.iter().map(|item| item["ticket_id"].as_str().and_then(|id| id.parse().ok()).expect("id")).collect();
    assert_eq!(tickets, filed.iter().copied().collect::<HashSet<_>>(), "every ticket's event, and only those");
    assert_eq!(received.len(), 2 * BATCH, "one message per event");
    let repeated: Vec<&Value> = received.iter().filter(|item| item["repeats"] != json!(0)).collect();
    assert!(repeated.is_empty(), "acknowledged messages sent again: {repeated:?}");
    sender
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_mode_sends_every_webhook_once_through_kill_9() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let data_dir = directory.path().join("data");
    let data = data_dir.display().to_string();
    let args = ["up", "--data-dir", data.as_str(), "--listen", "127.0.0.1:0"];
    let envs = notifier_envs();
    let key = cli_api_key(&["--data-dir", data.as_str()], &envs).await;
    let process = spawn_process(&args, &envs, directory.path(), "first.log").await;
    let store_url = format!("sqlite://{}", data_dir.join("switchboard.db").display());
    let store = Store::connect(&store_url, 2).await.expect("open the store");
    let ingest = format!("http://{}", process.address);
    let restart = || spawn_process(&args, &envs, directory.path(), "second.log");
    let mut process = survive_kill9(&store, &ingest, &key, process, restart).await;
    let status = process.terminate().await;
    assert!(status.success(), "SIGTERM is a clean stop: {status}; log:\n{}", process.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kafka_mode_sends_every_webhook_once_through_kill_9_of_the_notifier() {
    let Some(brokers) = switchboard_bus::testing::require_kafka().await else { return };
    let Some(store_url) = switchboard_store::testing::fresh_postgres_database().await else { return };
    let directory = tempfile::tempdir().expect("temporary directory");
    let prefix = format!("notify{}-", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let mut envs = kafka_envs(directory.path(), &brokers, &store_url, &prefix);
    envs.extend(notifier_envs());
    let key = cli_api_key(&[], &envs).await;
    let listen = ["--listen", "127.0.0.1:0"];
    let spawn = |command: &'static str, log: &'static str| {
        let args: Vec<&str> = std::iter::once(command).chain(listen).collect();
        let (envs, logs) = (envs.clone(), directory.path().to_path_buf());
        async move { spawn_process(&args, &envs, &logs, log).await }
    };
    let ingest = spawn("ingest", "ingest.log").await;
    let projector = spawn("projector", "projector.log").await;
    let notifier = spawn("notifier", "notifier-1.log").await;
    let store = Store::connect(&store_url, 2).await.expect("open the store");
    let base = format!("http://{}", ingest.address);
    let notifier = survive_kill9(&store, &base, &key, notifier, || spawn("notifier", "notifier-2.log")).await;
    drop((ingest, projector, notifier));
}
