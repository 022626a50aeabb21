//! A `switchboard team-server` process (http or https), as tests start it.

use std::net::SocketAddr;
use std::process::Stdio;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::WAIT;

/// A `switchboard team-server` process.
pub struct TeamServer {
    child: Child,
    pub address: SocketAddr,
    pub secret: String,
    /// `http`, or `https` when it serves TLS.
    pub scheme: &'static str,
    /// Trusts its certificate, if it has one.
    pub client: reqwest::Client,
}

/// A self-signed certificate for 127.0.0.1 and its key, made by the
/// `openssl` command, in files.
pub struct Certificate {
    pub chain: std::path::PathBuf,
    pub key: std::path::PathBuf,
}

impl Certificate {
    pub fn make(dir: &std::path::Path, name: &str) -> Self {
        let (chain, key) = (dir.join(format!("{name}.pem")), dir.join(format!("{name}.key")));
        let status = std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"])
            .args(["-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&chain)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run openssl");
        assert!(status.success(), "openssl made no certificate");
        Self { chain, key }
    }

    pub fn client(&self) -> reqwest::Client {
        let pem = std::fs::read(&self.chain).expect("read the certificate");
        let certificate = reqwest::Certificate::from_pem(&pem).expect("PEM");
        reqwest::Client::builder().add_root_certificate(certificate).build().expect("client")
    }
}

impl TeamServer {
    pub async fn start(listen: &str, secret: &str) -> Self {
        Self::start_with(listen, secret, None).await
    }

    pub async fn start_with(listen: &str, secret: &str, tls: Option<&Certificate>) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        command.args(["team-server", "--listen", listen, "--secret", secret]);
        if let Some(tls) = tls {
            command.arg("--tls-cert").arg(&tls.chain).arg("--tls-key").arg(&tls.key);
        }
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn a team server");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let line =
            tokio::time::timeout(WAIT, lines.next_line()).await.expect("starts").expect("reads").expect("a line");
        let address = line
            .strip_prefix(&format!("team server listening on {scheme}://"))
            .and_then(|address| address.trim().parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line: {line}"));
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let client = tls.map_or_else(reqwest::Client::new, Certificate::client);
        Self { child, address, secret: secret.to_owned(), scheme, client }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.address)
    }

    /// What it received, as it lists it (`webhook_id`, `received_at`,
    /// `body`).
    pub async fn received_raw(&self) -> Vec<Value> {
        self.client.get(self.url("/received")).send().await.expect("ask").json().await.expect("JSON")
    }

    /// The tickets received, by id, with their webhook ids.
    pub async fn received(&self) -> Vec<(String, String)> {
        self.received_raw()
            .await
            .iter()
            .map(|item| {
                let ticket = item["body"]["data"]["ticket"]["id"].as_str().expect("ticket id").to_owned();
                (ticket, item["webhook_id"].as_str().expect("webhook id").to_owned())
            })
            .collect()
    }

    pub async fn stop(&mut self) {
        self.child.start_kill().expect("kill");
        self.child.wait().await.expect("reap");
    }
}
