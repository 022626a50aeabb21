//! Shared helpers for the end-to-end tests: an in-process instance on port
//! 0, `switchboard` child processes, and an HTTP client.
#![allow(dead_code)]

pub mod browser;
pub mod imap;
pub mod receiver;
pub mod smtp;
pub mod team_server;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use switchboard::{Components, Running};
use switchboard_core::config::Config;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const WAIT: Duration = Duration::from_secs(60);

/// The password every test account gets.
pub const PASSWORD: &str = "correct horse battery staple";

/// An embedded instance (SQLite in a temporary directory) on a random port,
/// with the company `acme` and its admin.
pub struct App {
    pub running: Running,
    /// Signed in as acme's admin.
    pub client: reqwest::Client,
    /// No credential.
    pub anonymous: reqwest::Client,
    /// acme's admin session token.
    pub admin_token: String,
    pub config: Config,
    pub data_dir: tempfile::TempDir,
    _watchdog: Watchdog,
}

/// How long one test may keep an instance before [`Watchdog`] ends the
/// test binary. The slowest test here takes about a minute on a loaded
/// machine.
const HANG_LIMIT: Duration = Duration::from_secs(300);

/// Turns a test that hangs into a failure within [`HANG_LIMIT`]: past it,
/// the stacks of every thread go to stderr (through gdb, when installed)
/// and the test binary aborts. Without it a hung test holds CI until its
/// deadline and says nothing of where it stopped. Dropping it (the test
/// ended, or unwound) stops the watch.
pub struct Watchdog(std::sync::mpsc::Sender<()>);

impl Watchdog {
    pub fn start() -> Self {
        let test = std::thread::current().name().unwrap_or("a test").to_owned();
        let (done, watch) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = watch.recv_timeout(HANG_LIMIT) {
                eprintln!("{test} is still running after {HANG_LIMIT:?}; the stacks of its binary's threads follow");
                let _ = std::process::Command::new("gdb")
                    .args([
                        "-p",
                        &std::process::id().to_string(),
                        "-batch",
                        "-ex",
                        "set print thread-events off",
                        "-ex",
                        "thread apply all bt",
                    ])
                    .stdin(Stdio::null())
                    .status();
                std::process::abort();
            }
        });
        Self(done)
    }
}

impl App {
    /// `running` with the company `acme`, whose admin is signed in.
    pub async fn bootstrap(running: Running, config: Config, data_dir: tempfile::TempDir, watchdog: Watchdog) -> App {
        let admin_token = bootstrap_company(&config, &running.url(""), "acme").await;
        App {
            running,
            client: client_with_token(&admin_token),
            anonymous: client(),
            admin_token,
            config,
            data_dir,
            _watchdog: watchdog,
        }
    }

    pub fn url(&self, path: &str) -> String {
        self.running.url(path)
    }

    /// The admin lets customers sign up to acme.
    pub async fn allow_sign_up(&self) {
        let response = self
            .client
            .put(self.url("/v1/companies/acme/settings"))
            .json(&serde_json::json!({"allow_self_signup": true}))
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), reqwest::StatusCode::OK);
    }

    /// A client signed in as a new account of `role` in acme, and the
    /// account's id.
    pub async fn account(&self, role: &str, username: &str) -> (reqwest::Client, String) {
        let (id, token) = create_account(&self.client, &self.running.url(""), role, username).await;
        (client_with_token(&token), id)
    }

    /// The URL of the instance's SQLite store, for a second connection.
    pub fn store_url(&self) -> String {
        format!("sqlite://{}", self.data_dir.path().join("switchboard.db").display())
    }
}

pub fn embedded_config(data_dir: &Path) -> Config {
    let mut config =
        Config { data_dir: data_dir.to_path_buf(), listen: SocketAddr::from(([127, 0, 0, 1], 0)), ..Config::default() };
    config.bus.embedded.idle_poll_ms = 200;
    // Every test signs in from 127.0.0.1, many times.
    config.auth.sign_in_attempts_per_address = 100_000;
    config
}

pub async fn spawn_app() -> App {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> App {
    let watchdog = Watchdog::start();
    let data_dir = tempfile::tempdir().expect("temporary directory");
    let mut config = embedded_config(data_dir.path());
    adjust(&mut config);
    let running = switchboard::start(config.clone(), Components::ALL).await.expect("start switchboard");
    App::bootstrap(running, config, data_dir, watchdog).await
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("HTTP client")
}

/// A client that sends `Authorization: Bearer <token>` with every request.
pub fn client_with_token(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).expect("header value");
    headers.insert(reqwest::header::AUTHORIZATION, value);
    reqwest::Client::builder().timeout(Duration::from_secs(30)).default_headers(headers).build().expect("HTTP client")
}

/// Creates `company` with its admin `admin@<company>.example` (as
/// `switchboard company create` does), sets the admin's password through
/// the API at `base_url` and signs in: the admin's session token.
pub async fn bootstrap_company(config: &Config, base_url: &str, company: &str) -> String {
    let created = switchboard::commands::company_create(
        config,
        company,
        Some(company),
        &format!("admin@{company}.example"),
        Some(&format!("admin-{company}")),
        Some("Ada Admin"),
    )
    .await
    .expect("create the company");
    set_password(base_url, &created.admin_account.to_string(), &created.set_password_token).await;
    sign_in(base_url, &created.admin_username, PASSWORD).await
}

/// Sets an account's password with its one-time token.
pub async fn set_password(base_url: &str, account: &str, token: &str) {
    let response = client()
        .put(format!("{base_url}/v1/accounts/{account}/password"))
        .json(&serde_json::json!({ "token": token, "new_password": PASSWORD }))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), reqwest::StatusCode::NO_CONTENT, "{:?}", response.text().await);
}

/// Signs in: the session token.
pub async fn sign_in(base_url: &str, login: &str, password: &str) -> String {
    let response = client()
        .post(format!("{base_url}/v1/sessions"))
        .json(&serde_json::json!({ "login": login, "password": password }))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), reqwest::StatusCode::CREATED, "{:?}", response.text().await);
    let body: Value = response.json().await.expect("JSON");
    body["token"].as_str().expect("token").to_owned()
}

/// An admin (`admin`) creates an account of `role`, which sets its
/// password and signs in: (account id, session token).
pub async fn create_account(admin: &reqwest::Client, base_url: &str, role: &str, username: &str) -> (String, String) {
    let response = admin
        .post(format!("{base_url}/v1/accounts"))
        .json(&serde_json::json!({
            "name": format!("{username} test"), "username": username, "email": format!("{username}@example.com"),
            "role": role,
        }))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), reqwest::StatusCode::CREATED, "{:?}", response.text().await);
    let body: Value = response.json().await.expect("JSON");
    let id = body["account"]["id"].as_str().expect("id").to_owned();
    set_password(base_url, &id, body["set_password_token"].as_str().expect("token")).await;
    (id.clone(), sign_in(base_url, username, PASSWORD).await)
}

/// Creates the company `acme` (if it is not there) and an API key of it
/// with `tickets:write` and `tickets:read`, with the `switchboard` binary
/// run with `args` (e.g. `--data-dir D`) and `envs`: the key.
pub async fn cli_api_key(args: &[&str], envs: &[(String, String)]) -> String {
    let run = |extra: Vec<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        command.args(args).args(extra).env("SWITCHBOARD_LOG__FILTER", "warn");
        for (key, value) in envs {
            command.env(key, value);
        }
        command.output()
    };
    let created =
        run(vec!["company", "create", "--name", "acme", "--id", "acme", "--admin-email", "admin@acme.example"])
            .await
            .expect("run switchboard");
    let stderr = String::from_utf8_lossy(&created.stderr);
    assert!(created.status.success() || stderr.contains("exists already"), "company create: {stderr}");
    let key = run(vec![
        "api-key",
        "create",
        "--company",
        "acme",
        "--name",
        "tests",
        "--scope",
        "tickets:write",
        "--scope",
        "tickets:read",
        "--json",
    ])
    .await
    .expect("run switchboard");
    assert!(key.status.success(), "api-key create: {}", String::from_utf8_lossy(&key.stderr));
    let body: Value = serde_json::from_slice(&key.stdout).expect("JSON");
    body["secret"].as_str().expect("secret").to_owned()
}

pub fn ticket_json(title: &str) -> Value {
    serde_json::json!({
        "title": title,
        "description": "The printer on the third floor shows error E-45 and will not print.",
        "requester": {"email": "ana@example.com", "name": "Ana"},
        "company": "acme",
        "tags": ["printer"],
        "equipment": {"model": "LaserJet 4000", "serial": "SN-1"},
    })
}

/// A response's status and JSON body (`null` when it has none).
pub async fn status_and_json(response: reqwest::Response) -> (reqwest::StatusCode, Value) {
    let status = response.status();
    (status, response.json().await.unwrap_or_default())
}

/// `GET url`'s JSON body, whatever the status.
pub async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    client.get(url).send().await.expect("send").json().await.expect("JSON body")
}

/// Polls `GET url` until it answers 200, and returns the body.
/// (`client` must be allowed to read it.)
pub async fn wait_for_ok(client: &reqwest::Client, url: &str) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Ok(response) = client.get(url).send().await
            && response.status() == reqwest::StatusCode::OK
        {
            return response.json().await.expect("JSON body");
        }
        assert!(tokio::time::Instant::now() < deadline, "{url} never answered 200");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `GET url` until the JSON body satisfies `done`, and returns it.
pub async fn wait_for_json(client: &reqwest::Client, url: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Ok(response) = client.get(url).send().await
            && response.status() == reqwest::StatusCode::OK
            && let Ok(body) = response.json::<Value>().await
            && done(&body)
        {
            return body;
        }
        assert!(tokio::time::Instant::now() < deadline, "{url} never showed {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// acme receives mail at `addresses`, and an MTA holds a key of scope
/// `inbound:email`: its secret.
pub async fn inbound_mail_key(app: &App, addresses: &[&str]) -> String {
    let response = app
        .client
        .put(app.url("/v1/companies/acme/inbound-addresses"))
        .json(&serde_json::json!({ "addresses": addresses }))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), reqwest::StatusCode::OK, "{:?}", response.text().await);
    let response = app
        .client
        .post(app.url("/v1/api-keys"))
        .json(&serde_json::json!({"name": "mta", "scopes": ["inbound:email"]}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), reqwest::StatusCode::CREATED);
    let key: Value = response.json().await.expect("JSON");
    key["secret"].as_str().expect("secret").to_owned()
}

/// acme's admin switches the public support form on.
pub async fn enable_web_form(app: &App) {
    let response = app
        .client
        .put(app.url("/v1/companies/acme/settings"))
        .json(&serde_json::json!({"web_form_enabled": true}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
}

/// acme's support form as a browser gets it: the page's anti-forgery token
/// and the cookie (`name=value`) it must come back with.
pub async fn open_support_form(app: &App, client: &reqwest::Client) -> (String, String) {
    let response = client.get(app.url("/support/acme")).send().await.expect("send");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let cookie = response.headers()["set-cookie"].to_str().expect("ascii").split(';').next().expect("pair").to_owned();
    let html = response.text().await.expect("HTML");
    let token = html
        .split(r#"name="csrf" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a token")
        .to_owned();
    (token, cookie)
}

/// Posts a ticket and returns its id.
pub async fn post_ticket(app: &App, body: &Value) -> String {
    let response = app.client.post(app.url("/v1/tickets")).json(body).send().await.expect("send");
    assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
    let body: Value = response.json().await.expect("JSON");
    body["id"].as_str().expect("id").to_owned()
}

/// Imports the test FAQ articles through the API, as acme's.
pub async fn import_test_faqs(app: &App) {
    import_test_faqs_with(&app.client, &app.url("/v1/faqs/import")).await;
}

/// Imports the test FAQ articles as `client`'s company's.
pub async fn import_test_faqs_with(client: &reqwest::Client, url: &str) {
    import_faqs_file(client, url, &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/faqs.jsonl")).await;
}

/// Imports the articles of a JSON Lines file through `url` (`POST
/// /v1/faqs/import`) as `client`'s company's; all must be accepted.
pub async fn import_faqs_file(client: &reqwest::Client, url: &str, file: &Path) {
    let faqs = std::fs::read(file).unwrap_or_else(|error| panic!("{}: {error}", file.display()));
    let response =
        client.post(url).header("content-type", "application/x-ndjson").body(faqs).send().await.expect("send");
    assert_eq!(response.status(), reqwest::StatusCode::OK, "{:?}", response.text().await);
}

/// Runs the `switchboard` binary to completion (a one-shot command) and
/// returns (success, stdout, stderr).
pub async fn run_switchboard(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .env("SWITCHBOARD_LOG__FILTER", "warn")
        .output()
        .await
        .expect("run switchboard");
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    (output.status.success(), text(output.stdout), text(output.stderr))
}

/// A `switchboard` child process whose stderr goes to a log file.
pub struct Process {
    pub child: Child,
    pub address: SocketAddr,
    pub log: PathBuf,
}

impl Process {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// SIGKILL: no chance to flush or clean up.
    pub async fn kill9(&mut self) {
        self.child.start_kill().expect("send SIGKILL");
        self.child.wait().await.expect("reap the child");
    }

    /// SIGTERM, then wait for a graceful exit.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("a running child");
        let sent = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("run kill");
        assert!(sent.success(), "send SIGTERM");
        tokio::time::timeout(WAIT, self.child.wait()).await.expect("exits in time").expect("wait")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// The environment of `switchboard` processes on the test broker
/// (`brokers`, with its client properties in a config file written into
/// `dir`; see `TEST_BROKER_PROPERTIES`), with topics under `prefix` and
/// the store at `store_url`.
pub fn kafka_envs(dir: &Path, brokers: &str, store_url: &str, prefix: &str) -> Vec<(String, String)> {
    let config_file = dir.join("kafka.toml");
    let properties: String = switchboard_bus::testing::TEST_BROKER_PROPERTIES
        .iter()
        .map(|(key, value)| format!("{key:?} = {value:?}\n"))
        .collect();
    std::fs::write(&config_file, format!("[bus.kafka.properties]\n{properties}")).expect("config file");
    vec![
        ("SWITCHBOARD_CONFIG".into(), config_file.display().to_string()),
        ("SWITCHBOARD_BUS__BACKEND".into(), "kafka".into()),
        ("SWITCHBOARD_BUS__KAFKA__BROKERS".into(), brokers.into()),
        ("SWITCHBOARD_BUS__TOPIC_PREFIX".into(), prefix.into()),
        ("SWITCHBOARD_BUS__PARTITIONS".into(), "4".into()),
        ("SWITCHBOARD_STORE__URL".into(), store_url.into()),
    ]
}

/// Starts `switchboard <args>` with `envs`, and waits for its "listening"
/// line. `log_name` names the stderr file inside `log_dir`.
pub async fn spawn_process(args: &[&str], envs: &[(String, String)], log_dir: &Path, log_name: &str) -> Process {
    let log = log_dir.join(log_name);
    let log_file = std::fs::OpenOptions::new().create(true).append(true).open(&log).expect("log file");
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log_file))
        .kill_on_drop(true)
        .env("RUST_LOG", "info");
    for (key, value) in envs {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("spawn switchboard");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .unwrap_or_else(|_| {
            panic!("switchboard did not start; log:\n{}", std::fs::read_to_string(&log).unwrap_or_default())
        })
        .expect("read stdout")
        .unwrap_or_else(|| {
            panic!("switchboard exited at start; log:\n{}", std::fs::read_to_string(&log).unwrap_or_default())
        });
    let address = line
        .strip_prefix("switchboard listening on http://")
        .and_then(|address| address.trim().parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line: {line}"));
    // Keep draining stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let mut process = Process { child, address, log };
    wait_until_ready(&mut process).await;
    process
}

async fn wait_until_ready(process: &mut Process) {
    let client = client();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Ok(response) = client.get(process.url("/readyz")).send().await
            && response.status().is_success()
        {
            return;
        }
        if let Ok(Some(status)) = process.child.try_wait() {
            panic!("switchboard exited with {status}; log:\n{}", process.log_text());
        }
        assert!(tokio::time::Instant::now() < deadline, "never ready; log:\n{}", process.log_text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
