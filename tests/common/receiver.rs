//! `tests/receivers/webhook_receiver.py` as tests start it: a webhook
//! receiver in its own process that verifies signatures with the official
//! `standardwebhooks` library.

use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::WAIT;

/// A `webhook_receiver.py` process.
pub struct Receiver {
    child: Child,
    pub base: String,
    client: reqwest::Client,
}

impl Receiver {
    pub async fn start(listen: &str) -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/receivers/webhook_receiver.py");
        let mut child = Command::new("python3")
            .args([script, "--listen", listen])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn the webhook receiver (python3 with standardwebhooks: scripts/test installs it)");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let line = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .expect("the receiver starts")
            .expect("reads")
            .unwrap_or_else(|| panic!("the receiver exited: is `standardwebhooks` installed? (scripts/test)"));
        let base = line.strip_prefix("webhook receiver listening on ").expect("the receiver's first line").to_owned();
        Self { child, base, client: reqwest::Client::new() }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn address(&self) -> String {
        self.base.trim_start_matches("http://").to_owned()
    }

    pub async fn control(&self, body: Value) {
        let response = self.client.post(self.url("/control")).json(&body).send().await.expect("control");
        assert_eq!(response.status(), StatusCode::OK);
    }

    pub async fn received(&self) -> Vec<Value> {
        self.client.get(self.url("/received")).send().await.expect("ask").json().await.expect("JSON")
    }

    pub async fn stop(&mut self) {
        self.child.start_kill().expect("kill");
        self.child.wait().await.expect("reap");
    }
}

/// Waits until the receiver has recorded `count` deliveries.
pub async fn wait_for_received(receiver: &Receiver, count: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let received = receiver.received().await;
        if received.len() >= count {
            return received;
        }
        assert!(tokio::time::Instant::now() < deadline, "only {} of {count} deliveries arrived", received.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
