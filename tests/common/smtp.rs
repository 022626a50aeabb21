//! `tests/receivers/smtp_receiver.py` as tests start it: a real SMTP server
//! (`aiosmtpd`) in its own process that records every mail it accepts and
//! can be told to answer `451` to the next ones.

use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::WAIT;

/// A `smtp_receiver.py` process.
pub struct SmtpReceiver {
    _child: Child,
    /// `smtp://127.0.0.1:PORT`: what `mail.smtp_url` is set to.
    pub smtp_url: String,
    control: String,
    client: reqwest::Client,
}

impl SmtpReceiver {
    pub async fn start() -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/receivers/smtp_receiver.py");
        let mut child = Command::new("python3")
            .args([script, "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn the SMTP receiver (python3 with aiosmtpd: scripts/test installs it)");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let line = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .expect("the receiver starts")
            .expect("reads")
            .unwrap_or_else(|| panic!("the SMTP receiver exited: is `aiosmtpd` installed? (scripts/test)"));
        let addresses = line.strip_prefix("smtp receiver listening on ").expect("the receiver's first line");
        let (smtp_url, control) = addresses.split_once(" control ").expect("both addresses");
        Self {
            _child: child,
            smtp_url: smtp_url.to_owned(),
            control: control.to_owned(),
            client: reqwest::Client::new(),
        }
    }

    /// The next `count` mails are answered `451` (a temporary failure).
    pub async fn fail_next(&self, count: u32) {
        let response = self
            .client
            .post(format!("{}/control", self.control))
            .json(&serde_json::json!({"fail": count}))
            .send()
            .await
            .expect("control");
        assert_eq!(response.status(), StatusCode::OK);
    }

    /// Every mail accepted so far, in arrival order.
    pub async fn received(&self) -> Vec<Value> {
        let url = format!("{}/received", self.control);
        self.client.get(url).send().await.expect("ask").json().await.expect("JSON")
    }

    /// The mails accepted for `address`, once there are at least `count`.
    pub async fn wait_for(&self, address: &str, count: usize) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let mails = self.mails_to(address).await;
            if mails.len() >= count {
                return mails;
            }
            assert!(tokio::time::Instant::now() < deadline, "only {} of {count} mails reached {address}", mails.len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The mails accepted for `address` so far.
    pub async fn mails_to(&self, address: &str) -> Vec<Value> {
        self.received().await.into_iter().filter(|mail| mail["to"] == serde_json::json!([address])).collect()
    }
}

/// A mail's header (`""` when absent).
pub fn header<'a>(mail: &'a Value, name: &str) -> &'a str {
    mail["headers"][name].as_str().unwrap_or_default()
}
