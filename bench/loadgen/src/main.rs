//! Load generator for `POST /v1/tickets` (and, with `--request`, for
//! signing in and for reading a ticket).
//!
//! In one run it measures, one after the other and with the same clients:
//!
//! * `bare`: a plain axum handler in a child process that parses and
//!   validates the same JSON and answers 202 (the floor: HTTP + JSON);
//! * `embedded`: `switchboard up` on the embedded log and SQLite;
//! * `kafka`: `switchboard ingest` on Kafka (and PostgreSQL for the store).
//!
//! Each server runs in its own process; this process only sends requests and
//! times them. It prints a table of answered requests/s and latency
//! percentiles. Every request to Switchboard is authenticated like an
//! integration's or a person's: an API key made with `switchboard api-key
//! create`, or (for `--request sign-in`) the admin's password.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

#[derive(Debug, Parser)]
#[command(name = "switchboard-loadgen", about = "Load generator for POST /v1/tickets")]
struct Cli {
    #[command(subcommand)]
    command: Option<Mode>,

    /// Modes to measure, in order.
    #[arg(long, value_delimiter = ',', default_values = ["bare", "embedded-ingest", "embedded", "kafka"])]
    modes: Vec<Target>,
    /// Concurrent clients (each keeps one connection and one request in flight).
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Measured time per mode, after the warm-up.
    #[arg(long, default_value = "10", value_name = "SECONDS")]
    duration: u64,
    /// Warm-up time per mode (not measured).
    #[arg(long, default_value = "2", value_name = "SECONDS")]
    warmup: u64,
    /// The switchboard binary to measure.
    #[arg(long, default_value = "target/release/switchboard")]
    switchboard: PathBuf,
    /// Kafka brokers for the kafka mode.
    #[arg(long, default_value = "127.0.0.1:9092")]
    kafka_brokers: String,
    /// PostgreSQL server for the kafka mode (a fresh database is created).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    postgres: String,
    /// What each client sends, one measurement per kind on the same server:
    /// `post-ticket` (JSON, with an API key), `sign-in` (`POST
    /// /v1/sessions`: argon2id is the cost), `get-ticket` (an authenticated
    /// `GET /v1/tickets/{id}`), `email` (`POST /v1/inbound/email`: a 20 KB
    /// message with a 100 KB attachment, each with its own Message-ID),
    /// `form` (the support form with one 1 MB photo). Only `post-ticket`
    /// runs on `bare`.
    #[arg(long = "request", value_enum, value_delimiter = ',', default_values = ["post-ticket"])]
    requests: Vec<RequestKind>,
    /// A CSV file whose first column supplies realistic ticket texts (e.g.
    /// ../shared/data/bitext/utterances.csv); synthetic texts otherwise.
    #[arg(long)]
    texts: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Internal: serve the bare axum handler (started by the load generator).
    ServeBare,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum RequestKind {
    PostTicket,
    SignIn,
    GetTicket,
    Email,
    Form,
}

/// Replaced in each e-mail by a number of its own (the same length), so
/// every request is a new mail rather than a duplicate.
const UNIQUE_MARKER: &[u8] = b"UNIQUE-MESSAGE-NUMBER-00";

/// The password the benchmark's admin gets.
const PASSWORD: &str = "loadgen passphrase 1";

/// One kind of request, ready to send many times.
#[derive(Clone)]
struct Workload {
    method: reqwest::Method,
    url: String,
    bodies: Arc<Vec<Vec<u8>>>,
    content_type: String,
    authorization: Option<String>,
    cookie: Option<String>,
    /// Where [`UNIQUE_MARKER`] is in the (single) body, if each request
    /// must differ.
    unique_at: Option<usize>,
    expect: reqwest::StatusCode,
}

impl Workload {
    fn new(method: reqwest::Method, url: String, bodies: Arc<Vec<Vec<u8>>>, expect: reqwest::StatusCode) -> Self {
        Self {
            method,
            url,
            bodies,
            content_type: "application/json".into(),
            authorization: None,
            cookie: None,
            unique_at: None,
            expect,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Target {
    /// A bare axum handler that parses the same JSON (the ceiling).
    Bare,
    /// `switchboard up`: ingest with the whole pipeline (triage, KB,
    /// projector) working in the same process on the embedded log.
    Embedded,
    /// `switchboard ingest` alone on the embedded log.
    EmbeddedIngest,
    /// `switchboard ingest` alone on Kafka (PostgreSQL for idempotency keys).
    Kafka,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Mode::ServeBare) = cli.command {
        return serve_bare().await;
    }
    let bodies = Arc::new(load_bodies(cli.texts.as_deref())?);
    println!(
        "{} clients, {}s warm-up + {}s measured per mode, {} distinct bodies",
        cli.connections,
        cli.warmup,
        cli.duration,
        bodies.len()
    );
    println!(
        "{:<28} {:>12} {:>10} {:>10} {:>10} {:>8}",
        "mode request", "answered/s", "p50 ms", "p99 ms", "max ms", "errors"
    );
    for target in &cli.modes {
        let requests: Vec<RequestKind> = cli
            .requests
            .iter()
            .copied()
            .filter(|request| *target != Target::Bare || *request == RequestKind::PostTicket)
            .collect();
        if requests.is_empty() {
            continue;
        }
        let scratch = tempfile::tempdir()?;
        let mut server = start_server(*target, &cli, scratch.path()).await?;
        for request in requests {
            let workload = workload(&server, &bodies, request).await?;
            let report = drive(&workload, &cli).await?;
            let mode = target.to_possible_value().map(|value| value.get_name().to_owned()).unwrap_or_default();
            let request = request.to_possible_value().map(|value| value.get_name().to_owned()).unwrap_or_default();
            println!(
                "{:<28} {:>12.0} {:>10.2} {:>10.2} {:>10.2} {:>8}",
                format!("{mode} {request}"),
                report.accepted_per_second,
                report.p50_ms,
                report.p99_ms,
                report.max_ms,
                report.errors
            );
        }
        server.child.start_kill().ok();
        server.child.wait().await.ok();
    }
    Ok(())
}

struct Server {
    child: Child,
    /// `http://address`.
    base: String,
    /// An API key that files and reads tickets.
    key: String,
    /// The admin's account id and set-password token.
    admin: Option<(String, String)>,
    /// The admin's session, once signed in.
    session: tokio::sync::OnceCell<String>,
}

impl Server {
    /// The admin's session token (setting the password the first time).
    async fn session(&self) -> anyhow::Result<&str> {
        let token = self
            .session
            .get_or_try_init(|| async {
                let http = reqwest::Client::new();
                let (account, token) = self.admin.clone().context("no admin to sign in as")?;
                let response = http
                    .put(format!("{}/v1/accounts/{account}/password", self.base))
                    .json(&serde_json::json!({"token": token, "new_password": PASSWORD}))
                    .send()
                    .await?;
                anyhow::ensure!(response.status().is_success(), "setting the admin's password: {}", response.status());
                let response = http
                    .post(format!("{}/v1/sessions", self.base))
                    .json(&serde_json::json!({"login": "admin", "password": PASSWORD}))
                    .send()
                    .await?;
                let body: serde_json::Value = response.json().await?;
                body["token"].as_str().map(str::to_owned).context("no session token")
            })
            .await?;
        Ok(token)
    }

    /// The admin's `PUT path` with `body`.
    async fn admin_put(&self, path: &str, body: serde_json::Value) -> anyhow::Result<()> {
        let session = self.session().await?;
        let response =
            reqwest::Client::new().put(format!("{}{path}", self.base)).bearer_auth(session).json(&body).send().await?;
        anyhow::ensure!(response.status().is_success(), "PUT {path}: {}", response.status());
        Ok(())
    }
}

/// The requests of one run against `server`.
async fn workload(server: &Server, bodies: &Arc<Vec<Vec<u8>>>, kind: RequestKind) -> anyhow::Result<Workload> {
    let http = reqwest::Client::new();
    let authorization = Some(format!("Bearer {}", server.key));
    let tickets = format!("{}/v1/tickets", server.base);
    match kind {
        RequestKind::PostTicket => Ok(Workload {
            authorization,
            ..Workload::new(reqwest::Method::POST, tickets, bodies.clone(), reqwest::StatusCode::ACCEPTED)
        }),
        RequestKind::SignIn => {
            server.session().await?;
            let body = serde_json::json!({"login": "admin", "password": PASSWORD}).to_string().into_bytes();
            let url = format!("{}/v1/sessions", server.base);
            Ok(Workload::new(reqwest::Method::POST, url, Arc::new(vec![body]), reqwest::StatusCode::CREATED))
        }
        RequestKind::GetTicket => {
            let response = http
                .post(&tickets)
                .header("content-type", "application/json")
                .header("authorization", authorization.as_deref().unwrap_or_default())
                .body(bodies[0].clone())
                .send()
                .await?;
            let accepted: serde_json::Value = response.json().await?;
            let url = format!("{tickets}/{}", accepted["id"].as_str().context("no ticket id")?);
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let found =
                    http.get(&url).header("authorization", authorization.as_deref().unwrap_or_default()).send().await?;
                if found.status() == reqwest::StatusCode::OK {
                    break;
                }
                anyhow::ensure!(Instant::now() < deadline, "the ticket was never readable: {}", found.status());
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(Workload {
                authorization,
                ..Workload::new(reqwest::Method::GET, url, Arc::new(vec![Vec::new()]), reqwest::StatusCode::OK)
            })
        }
        RequestKind::Email => {
            server
                .admin_put(
                    "/v1/companies/acme/inbound-addresses",
                    serde_json::json!({"addresses": ["support@acme.example"]}),
                )
                .await?;
            let mail = email_body();
            let unique_at = mail.windows(UNIQUE_MARKER.len()).position(|window| window == UNIQUE_MARKER);
            Ok(Workload {
                content_type: "message/rfc822".into(),
                authorization,
                unique_at,
                ..Workload::new(
                    reqwest::Method::POST,
                    format!("{}/v1/inbound/email", server.base),
                    Arc::new(vec![mail]),
                    reqwest::StatusCode::ACCEPTED,
                )
            })
        }
        RequestKind::Form => {
            server.admin_put("/v1/companies/acme/settings", serde_json::json!({"web_form_enabled": true})).await?;
            let url = format!("{}/support/acme", server.base);
            let page = http.get(&url).send().await?;
            anyhow::ensure!(page.status().is_success(), "the form: {}", page.status());
            let cookie = page
                .headers()
                .get("set-cookie")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.split(';').next())
                .context("no form cookie")?
                .to_owned();
            let html = page.text().await?;
            let token = html
                .split(r#"name="csrf" value=""#)
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .context("no form token")?;
            let (content_type, body) = form_body(token);
            Ok(Workload {
                content_type,
                cookie: Some(cookie),
                ..Workload::new(reqwest::Method::POST, url, Arc::new(vec![body]), reqwest::StatusCode::SEE_OTHER)
            })
        }
    }
}

/// A 20 KB mail (text) with a 100 KB attachment (base64 in the mail).
fn email_body() -> Vec<u8> {
    use base64::Engine;
    let text: String = (0..250)
        .map(|line| format!("Line {line:03}: the conveyor on line 4 stops after a few minutes and shows E-17.\r\n"))
        .collect();
    let attachment: Vec<u8> = (0..100 * 1024).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let encoded = base64::engine::general_purpose::STANDARD.encode(attachment);
    let lines: Vec<&str> =
        encoded.as_bytes().chunks(76).map(|chunk| std::str::from_utf8(chunk).unwrap_or("")).collect();
    let marker = String::from_utf8_lossy(UNIQUE_MARKER);
    format!(
        "From: Load Test <load@customer.example>\r\nTo: support@acme.example\r\nSubject: Conveyor stops\r\n\
         Message-ID: <{marker}@customer.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         {text}\r\n--b1\r\nContent-Type: application/octet-stream\r\n\
         Content-Disposition: attachment; filename=\"log.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b1--\r\n",
        lines.join("\r\n")
    )
    .into_bytes()
}

/// The form's fields with one 1 MB "photo" (a PNG signature and header
/// before 1 MB of bytes: the server checks types by their magic bytes and
/// never decodes images).
fn form_body(token: &str) -> (String, Vec<u8>) {
    let boundary = "loadgenboundary";
    let mut body = Vec::new();
    for (name, value) in [
        ("csrf", token),
        ("title", "Conveyor stops"),
        ("description", "The conveyor on line 4 stops after a few minutes and shows E-17."),
        ("email", "load@customer.example"),
    ] {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"photos\"; filename=\"line4.png\"\r\nContent-Type: image/png\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\x04\0\0\0\x03\0\x08\x02\0\0\0");
    body.extend((0..1024 * 1024).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn start_server(target: Target, cli: &Cli, scratch: &std::path::Path) -> anyhow::Result<Server> {
    // How to run the switchboard binary for this target (config by flags
    // and environment), for the server and for the one-shot commands that
    // make its API key.
    let switchboard = |args: &[&str], database: Option<&str>| {
        let mut command = Command::new(&cli.switchboard);
        // Every client signs in from 127.0.0.1: lift the per-address limit.
        // Every client signs in, files by mail and through the form from
        // 127.0.0.1 as one sender: lift the per-address and per-sender
        // limits.
        command
            .args(args)
            .env("SWITCHBOARD_AUTH__SIGN_IN_ATTEMPTS_PER_ADDRESS", "4000000000")
            .env("SWITCHBOARD_INGEST__EMAIL__PER_SENDER_PER_HOUR", "4000000000")
            .env("SWITCHBOARD_INGEST__WEB_FORM__SUBMISSIONS_PER_ADDRESS_PER_HOUR", "4000000000");
        match database {
            None => {
                command.arg("--data-dir").arg(scratch.join("data"));
            }
            Some(database) => {
                command
                    .env("SWITCHBOARD_BUS__BACKEND", "kafka")
                    .env("SWITCHBOARD_BUS__KAFKA__BROKERS", &cli.kafka_brokers)
                    .env("SWITCHBOARD_BUS__TOPIC_PREFIX", format!("{database}-"))
                    .env("SWITCHBOARD_STORE__URL", format!("{}/{database}", cli.postgres));
            }
        }
        command
    };
    let (mut command, (key, admin)) = match target {
        Target::Bare => {
            let mut command = Command::new(std::env::current_exe()?);
            command.arg("serve-bare");
            // The bare handler ignores it, but gets the same bytes.
            (command, ("sbk_bare".to_owned(), None))
        }
        Target::Embedded | Target::EmbeddedIngest => {
            let (key, admin) = api_key(|args| switchboard(args, None)).await?;
            // The API (sign-in, reads) needs `up`; ingest alone files only.
            let only_posts = cli.requests.iter().all(|request| *request == RequestKind::PostTicket);
            let component = if target == Target::Embedded || !only_posts { "up" } else { "ingest" };
            (switchboard(&[component, "--listen", "127.0.0.1:0"], None), (key, Some(admin)))
        }
        Target::Kafka => {
            let database = format!("loadgen_{}", uuid::Uuid::new_v4().simple());
            let created = Command::new("psql")
                .args([&format!("{}/postgres", cli.postgres), "-qc", &format!("CREATE DATABASE {database}")])
                .status()
                .await
                .context("running psql to create the benchmark database")?;
            anyhow::ensure!(created.success(), "cannot create a PostgreSQL database at {}", cli.postgres);
            let (key, admin) = api_key(|args| switchboard(args, Some(&database))).await?;
            let only_posts = cli.requests.iter().all(|request| *request == RequestKind::PostTicket);
            let component = if only_posts { "ingest" } else { "up" };
            (switchboard(&[component, "--listen", "127.0.0.1:0"], Some(&database)), (key, Some(admin)))
        }
    };
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(scratch.join("server.log"))?))
        .env("RUST_LOG", "warn")
        .kill_on_drop(true);
    let mut child = command.spawn().with_context(|| format!("starting the {target:?} server"))?;
    let stdout = child.stdout.take().context("server stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .context("the server did not start in time")??
        .context("the server exited at start")?;
    let address = line.rsplit("http://").next().context("no address in the server's first line")?.trim().to_owned();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(Server { child, base: format!("http://{address}"), key, admin, session: tokio::sync::OnceCell::new() })
}

/// Creates the company `acme` and an API key of it that may file tickets,
/// with the one-shot commands `switchboard` runs as: the key. The load
/// then goes through the same authentication as any integration's.
async fn api_key(switchboard: impl Fn(&[&str]) -> Command) -> anyhow::Result<(String, (String, String))> {
    let created =
        switchboard(&["company", "create", "--name", "acme", "--admin-email", "admin@acme.example", "--json"])
            .output()
            .await
            .context("running switchboard company create")?;
    anyhow::ensure!(created.status.success(), "company create: {}", String::from_utf8_lossy(&created.stderr));
    let created: serde_json::Value = serde_json::from_slice(&created.stdout).context("company create --json")?;
    let admin = (
        created["admin_account"].as_str().context("no admin account")?.to_owned(),
        created["set_password_token"].as_str().context("no set-password token")?.to_owned(),
    );
    let key = switchboard(&[
        "api-key",
        "create",
        "--company",
        "acme",
        "--name",
        "loadgen",
        "--scope",
        "tickets:write",
        "--scope",
        "tickets:read",
        "--scope",
        "inbound:email",
        "--json",
    ])
    .output()
    .await
    .context("running switchboard api-key create")?;
    anyhow::ensure!(key.status.success(), "api-key create: {}", String::from_utf8_lossy(&key.stderr));
    let body: serde_json::Value = serde_json::from_slice(&key.stdout).context("api-key create --json")?;
    let secret = body["secret"].as_str().map(str::to_owned).context("no secret in api-key create's answer")?;
    Ok((secret, admin))
}

struct Report {
    accepted_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    errors: usize,
}

async fn drive(workload: &Workload, cli: &Cli) -> anyhow::Result<Report> {
    let warmup_end = Instant::now() + Duration::from_secs(cli.warmup);
    let end = warmup_end + Duration::from_secs(cli.duration);
    let mut workers = Vec::with_capacity(cli.connections);
    for worker in 0..cli.connections {
        let workload = workload.clone();
        workers.push(tokio::spawn(async move {
            let bodies = &workload.bodies;
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client");
            let mut latencies_us: Vec<u32> = Vec::new();
            let mut errors = 0_usize;
            let mut index = worker;
            let mut sent = 0_u64;
            loop {
                let started = Instant::now();
                if started >= end {
                    break;
                }
                index = (index + 7919) % bodies.len();
                let mut request = client.request(workload.method.clone(), &workload.url);
                if workload.method != reqwest::Method::GET {
                    let mut body = bodies[index].clone();
                    if let Some(at) = workload.unique_at {
                        sent += 1;
                        let number = format!("{worker:05}-{sent:018}");
                        body[at..at + UNIQUE_MARKER.len()].copy_from_slice(number.as_bytes());
                    }
                    request = request.header("content-type", &workload.content_type).body(body);
                }
                if let Some(authorization) = &workload.authorization {
                    request = request.header("authorization", authorization);
                }
                if let Some(cookie) = &workload.cookie {
                    request = request.header("cookie", cookie);
                }
                let result = request.send().await;
                let accepted = matches!(&result, Ok(response) if response.status() == workload.expect);
                if let Ok(response) = result {
                    let _ = response.bytes().await;
                }
                if started >= warmup_end {
                    if accepted {
                        latencies_us.push(started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                    } else {
                        errors += 1;
                    }
                }
            }
            (latencies_us, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for worker in workers {
        let (worker_latencies, worker_errors) = worker.await?;
        latencies.extend(worker_latencies);
        errors += worker_errors;
    }
    latencies.sort_unstable();
    let percentile = |p: f64| -> f64 {
        if latencies.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * (latencies.len() - 1) as f64).round() as usize;
        f64::from(latencies[rank]) / 1000.0
    };
    Ok(Report {
        accepted_per_second: latencies.len() as f64 / cli.duration as f64,
        p50_ms: percentile(50.0),
        p99_ms: percentile(99.0),
        max_ms: latencies.last().map_or(f64::NAN, |max| f64::from(*max) / 1000.0),
        errors,
    })
}

fn load_bodies(texts: Option<&std::path::Path>) -> anyhow::Result<Vec<Vec<u8>>> {
    let descriptions: Vec<String> = match texts {
        Some(path) => {
            let content = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            content
                .lines()
                .skip(1)
                .filter_map(|line| {
                    line.split(',').find(|field| field.len() > 20).map(|field| field.trim_matches('"').to_owned())
                })
                .take(5_000)
                .collect()
        }
        None => (0..1_000)
            .map(|i| {
                format!(
                    "Printer {i} on floor {} shows error E-{} and jams every few pages since the update.",
                    i % 7,
                    i % 97
                )
            })
            .collect(),
    };
    anyhow::ensure!(!descriptions.is_empty(), "no texts found");
    Ok(descriptions
        .iter()
        .enumerate()
        .map(|(i, description)| {
            serde_json::json!({
                "title": description.chars().take(60).collect::<String>(),
                "description": description,
                "requester": {"email": format!("customer{i}@example.com"), "name": "Load Test"},
                "company": "acme",
                "tags": ["load", "bench"],
                "equipment": {"model": "LaserJet 4000", "serial": format!("SN-{i}")},
            })
            .to_string()
            .into_bytes()
        })
        .collect())
}

/// The floor: the same JSON parsed and validated by the same domain code,
/// answered with 202 at once.
async fn serve_bare() -> anyhow::Result<()> {
    use axum::Json;
    use axum::http::StatusCode;
    use axum::routing::post;
    use switchboard_core::ticket::NewTicket;
    use switchboard_core::{Channel, TicketId};

    async fn accept(body: axum::body::Bytes) -> (StatusCode, Json<serde_json::Value>) {
        let parsed: Result<NewTicket, _> = serde_json::from_slice(&body);
        match parsed.map(|ticket| ticket.validate(TicketId::new(), Channel::Api, time::OffsetDateTime::now_utc())) {
            Ok(Ok(ticket)) => (
                StatusCode::ACCEPTED,
                Json(serde_json::json!({"id": ticket.id, "status_url": format!("/v1/tickets/{}", ticket.id)})),
            ),
            _ => (StatusCode::UNPROCESSABLE_ENTITY, Json(serde_json::json!({"error": {"code": "invalid"}}))),
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("bare listening on http://{}", listener.local_addr()?);
    axum::serve(listener, axum::Router::new().route("/v1/tickets", post(accept))).await?;
    Ok(())
}
