//! Crash safety: processes are killed with SIGKILL while 20 clients submit
//! tickets, then restarted; every ticket that got a 202 must end up in the
//! store exactly once.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use switchboard_core::Scope;

use common::{Process, WAIT, cli_api_key, client_with_token, kafka_envs, spawn_process, ticket_json};
use reqwest::StatusCode;
use serde_json::Value;
use switchboard_core::TicketId;

const CLIENTS: usize = 20;

/// Twenty clients posting unique tickets to whatever address is current,
/// recording each ticket that was accepted.
struct Load {
    address: Arc<RwLock<String>>,
    accepted: Arc<Mutex<Vec<(TicketId, String)>>>,
    attempts: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    clients: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// Posts with the API key `key`.
    fn start(base_url: String, key: &str) -> Self {
        let address = Arc::new(RwLock::new(base_url));
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let attempts = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let clients = (0..CLIENTS)
            .map(|client_index| {
                let (address, accepted, attempts, stop) =
                    (address.clone(), accepted.clone(), attempts.clone(), stop.clone());
                let http = client_with_token(key);
                tokio::spawn(async move {
                    let mut sequence = 0_usize;
                    while !stop.load(Ordering::SeqCst) {
                        sequence += 1;
                        let title = format!("client {client_index} ticket {sequence}");
                        let url = format!("{}/v1/tickets", address.read().expect("lock"));
                        attempts.fetch_add(1, Ordering::SeqCst);
                        match http.post(&url).json(&ticket_json(&title)).send().await {
                            Ok(response) if response.status() == StatusCode::ACCEPTED => {
                                let body: Value = response.json().await.expect("202 has a JSON body");
                                let id: TicketId = body["id"].as_str().and_then(|id| id.parse().ok()).expect("an id");
                                accepted.lock().expect("lock").push((id, title));
                            }
                            Ok(response) => {
                                assert!(response.status().is_server_error(), "unexpected {}", response.status());
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                            // The process is down or restarting.
                            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                        }
                    }
                })
            })
            .collect();
        Self { address, accepted, attempts, stop, clients }
    }

    fn accepted_count(&self) -> usize {
        self.accepted.lock().expect("lock").len()
    }

    async fn wait_for_more(&self, more: usize) {
        let target = self.accepted_count() + more;
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.accepted_count() < target {
            assert!(tokio::time::Instant::now() < deadline, "load stalled at {}", self.accepted_count());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn point_at(&self, process: &Process) {
        *self.address.write().expect("lock") = format!("http://{}", process.address);
    }

    async fn finish(self) -> (Vec<(TicketId, String)>, usize) {
        self.stop.store(true, Ordering::SeqCst);
        for client in self.clients {
            client.await.expect("client task");
        }
        let accepted = self.accepted.lock().expect("lock").clone();
        (accepted, self.attempts.load(Ordering::SeqCst))
    }
}

/// Every accepted ticket is stored, with its own title; no title twice.
///
/// `diagnose` explains a missing ticket (where it is on the bus, where the
/// projector's group stands) for the failure message.
async fn assert_each_accepted_ticket_stored_once<D, F>(
    store: &switchboard_store::Store,
    accepted: &[(TicketId, String)],
    attempts: usize,
    diagnose: D,
) where
    D: Fn(TicketId) -> F,
    F: std::future::Future<Output = String>,
{
    // Generous: after a kill -9 a restarted consumer may first wait out the
    // dead member's session before the group gives it the partitions.
    let deadline = tokio::time::Instant::now() + 2 * WAIT;
    for (id, title) in accepted {
        loop {
            match store.get_ticket(&Scope::Installation, *id).await.expect("read the store") {
                Some(ticket) => {
                    assert_eq!(&ticket.title, title);
                    break;
                }
                None => {
                    if tokio::time::Instant::now() >= deadline {
                        panic!("accepted ticket {id} ({title}) never stored; {}", diagnose(*id).await);
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
    let mut titles = HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .list_tickets(&Scope::Installation, &switchboard_store::TicketFilter::default(), 500, cursor.as_deref())
            .await
            .expect("list");
        for ticket in page.items {
            assert!(titles.insert(ticket.title.clone()), "{} stored twice", ticket.title);
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert!(titles.len() >= accepted.len());
    assert!(titles.len() <= attempts, "more tickets than requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_mode_keeps_every_accepted_ticket_through_kill_9() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let data_dir = directory.path().join("data");
    let data = data_dir.display().to_string();
    let args = ["up", "--data-dir", data.as_str(), "--listen", "127.0.0.1:0"];
    let key = cli_api_key(&["--data-dir", data.as_str()], &[]).await;
    let mut process = spawn_process(&args, &[], directory.path(), "first.log").await;
    let load = Load::start(format!("http://{}", process.address), &key);
    load.wait_for_more(300).await;
    process.kill9().await;
    let before_restart = load.accepted_count();

    let mut process = spawn_process(&args, &[], directory.path(), "second.log").await;
    load.point_at(&process);
    load.wait_for_more(200).await;
    let (accepted, attempts) = load.finish().await;
    eprintln!("embedded: {} accepted before the kill, {} in all, {attempts} attempts", before_restart, accepted.len());

    let store_url = format!("sqlite://{}", data_dir.join("switchboard.db").display());
    let store = switchboard_store::Store::connect(&store_url, 2).await.expect("open the store");
    assert_each_accepted_ticket_stored_once(&store, &accepted, attempts, |_| async { String::new() }).await;

    // Accepted tickets are also readable through the API of the new process.
    let http = client_with_token(&key);
    let (id, _) = &accepted[0];
    assert_eq!(http.get(process.url(&format!("/v1/tickets/{id}"))).send().await.expect("get").status(), StatusCode::OK);

    let status = process.terminate().await;
    assert!(status.success(), "SIGTERM is a clean stop: {status}; log:\n{}", process.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kafka_mode_keeps_every_accepted_ticket_through_kill_9_of_ingest_and_projector() {
    let Some(brokers) = switchboard_bus::testing::require_kafka().await else { return };
    let Some(store_url) = switchboard_store::testing::fresh_postgres_database().await else { return };
    let directory = tempfile::tempdir().expect("temporary directory");
    let prefix = format!("crash{}-", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let envs = kafka_envs(directory.path(), &brokers, &store_url, &prefix);
    let ingest_args = ["ingest", "--listen", "127.0.0.1:0"];
    let projector_args = ["projector", "--listen", "127.0.0.1:0"];
    let key = cli_api_key(&[], &envs).await;
    let mut ingest = spawn_process(&ingest_args, &envs, directory.path(), "ingest-1.log").await;
    let mut projector = spawn_process(&projector_args, &envs, directory.path(), "projector-1.log").await;

    let load = Load::start(format!("http://{}", ingest.address), &key);
    load.wait_for_more(200).await;
    ingest.kill9().await;
    let ingest = spawn_process(&ingest_args, &envs, directory.path(), "ingest-2.log").await;
    load.point_at(&ingest);
    load.wait_for_more(150).await;
    projector.kill9().await;
    // The killed projector stays a member of its consumer group until its
    // session (10 s) runs out. Apache Kafka then hands its partitions to
    // the new one. Under Tansu 0.6, the test broker, a newcomer that joined
    // beside the dead member was sometimes assigned nothing for minutes (a
    // CI failure of this test), so it joins after the session ran out. The
    // load goes on meanwhile, piling tickets up for it.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let projector = spawn_process(&projector_args, &envs, directory.path(), "projector-2.log").await;
    load.wait_for_more(150).await;
    let (accepted, attempts) = load.finish().await;
    eprintln!("kafka: {} accepted, {attempts} attempts", accepted.len());

    let store = switchboard_store::Store::connect(&store_url, 2).await.expect("open the store");
    let diagnose = |id| kafka_diagnosis(&brokers, &prefix, id, directory.path());
    assert_each_accepted_ticket_stored_once(&store, &accepted, attempts, diagnose).await;
    drop((ingest, projector));
}

/// Where a ticket that was never stored is: on the submitted topic (which
/// partition and offset) or not at all, and how far the projector's group
/// has committed, with the projectors' warnings, errors and the offsets
/// each began reading its partitions from.
async fn kafka_diagnosis(brokers: &str, prefix: &str, id: TicketId, logs: &std::path::Path) -> String {
    use switchboard_bus::Bus as _;
    let bus = switchboard_bus::kafka::KafkaBus::new(
        switchboard_bus::testing::kafka_config(brokers.to_owned()),
        switchboard_core::config::DEFAULT_MAX_MESSAGE_BYTES,
    )
    .expect("Kafka clients");
    let topic = format!("{prefix}tickets.submitted");
    let group = format!("{prefix}switchboard-projector");
    let committed = bus.backlog(&group, &topic).await.map(|backlog| format!("{backlog:?}"));
    let (key, reader) = (id.to_string(), format!("{prefix}diagnosis"));
    let mut found = None;
    let mut read = 0;
    if let Ok(ends) = bus.backlog(&reader, &topic).await {
        let total: i64 = ends.iter().map(|partition| partition.end).sum();
        let consumer = bus.subscribe(&reader, std::slice::from_ref(&topic)).await.expect("subscribe");
        while read < total {
            match tokio::time::timeout(Duration::from_secs(10), consumer.recv()).await {
                Ok(Ok(message)) => {
                    read += 1;
                    if message.key_str() == Some(key.as_str()) {
                        found = Some((message.partition, message.offset));
                    }
                }
                _ => break,
            }
        }
    }
    let mut log_lines = String::new();
    for name in ["projector-1.log", "projector-2.log"] {
        let text = std::fs::read_to_string(logs.join(name)).unwrap_or_default();
        for line in text
            .lines()
            .filter(|line| line.contains("WARN") || line.contains("ERROR") || line.contains("reading partition from"))
            .take(20)
        {
            log_lines.push_str(&format!("\n{name}: {line}"));
        }
    }
    format!(
        "on the topic at (partition, offset) {found:?} (read {read} messages); projector group committed \
         {committed:?}; projector logs:{log_lines}"
    )
}
