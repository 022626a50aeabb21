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
    /// What each client sends: `post-ticket` (with an API key), `sign-in`
    /// (`POST /v1/sessions`: argon2id is the cost), or `get-ticket` (an
    /// authenticated `GET /v1/tickets/{id}`). Only `post-ticket` runs on
    /// `bare`.
    #[arg(long, value_enum, default_value = "post-ticket")]
    request: RequestKind,
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
}

/// The password the benchmark's admin gets.
const PASSWORD: &str = "loadgen passphrase 1";

/// One kind of request, ready to send many times.
#[derive(Clone)]
struct Workload {
    method: reqwest::Method,
    url: String,
    bodies: Arc<Vec<Vec<u8>>>,
    authorization: Option<String>,
    expect: reqwest::StatusCode,
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
    println!("{:<16} {:>12} {:>10} {:>10} {:>10} {:>8}", "mode", "answered/s", "p50 ms", "p99 ms", "max ms", "errors");
    for target in &cli.modes {
        if *target == Target::Bare && cli.request != RequestKind::PostTicket {
            continue;
        }
        let scratch = tempfile::tempdir()?;
        let mut server = start_server(*target, &cli, scratch.path()).await?;
        let workload = workload(&server, &bodies, cli.request).await?;
        let report = drive(&workload, &cli).await?;
        println!(
            "{:<16} {:>12.0} {:>10.2} {:>10.2} {:>10.2} {:>8}",
            target.to_possible_value().map(|value| value.get_name().to_owned()).unwrap_or_default(),
            report.accepted_per_second,
            report.p50_ms,
            report.p99_ms,
            report.max_ms,
            report.errors
        );
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
}

/// The requests of one run against `server`.
async fn workload(server: &Server, bodies: &Arc<Vec<Vec<u8>>>, kind: RequestKind) -> anyhow::Result<Workload> {
    let http = reqwest::Client::new();
    let authorization = Some(format!("Bearer {}", server.key));
    let tickets = format!("{}/v1/tickets", server.base);
    match kind {
        RequestKind::PostTicket => Ok(Workload {
            method: reqwest::Method::POST,
            url: tickets,
            bodies: bodies.clone(),
            authorization,
            expect: reqwest::StatusCode::ACCEPTED,
        }),
        RequestKind::SignIn => {
            let (account, token) = server.admin.clone().context("no admin to sign in as")?;
            let response = http
                .put(format!("{}/v1/accounts/{account}/password", server.base))
                .json(&serde_json::json!({"token": token, "new_password": PASSWORD}))
                .send()
                .await?;
            anyhow::ensure!(response.status().is_success(), "setting the admin's password: {}", response.status());
            let body = serde_json::json!({"login": "admin", "password": PASSWORD}).to_string().into_bytes();
            Ok(Workload {
                method: reqwest::Method::POST,
                url: format!("{}/v1/sessions", server.base),
                bodies: Arc::new(vec![body]),
                authorization: None,
                expect: reqwest::StatusCode::CREATED,
            })
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
                method: reqwest::Method::GET,
                url,
                bodies: Arc::new(vec![Vec::new()]),
                authorization,
                expect: reqwest::StatusCode::OK,
            })
        }
    }
}

async fn start_server(target: Target, cli: &Cli, scratch: &std::path::Path) -> anyhow::Result<Server> {
    // How to run the switchboard binary for this target (config by flags
    // and environment), for the server and for the one-shot commands that
    // make its API key.
    let switchboard = |args: &[&str], database: Option<&str>| {
        let mut command = Command::new(&cli.switchboard);
        // Every client signs in from 127.0.0.1: lift the per-address limit.
        command.args(args).env("SWITCHBOARD_AUTH__SIGN_IN_ATTEMPTS_PER_ADDRESS", "4000000000");
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
            let component =
                if target == Target::Embedded || cli.request != RequestKind::PostTicket { "up" } else { "ingest" };
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
            let component = if cli.request == RequestKind::PostTicket { "ingest" } else { "up" };
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
    Ok(Server { child, base: format!("http://{address}"), key, admin })
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
            let client = reqwest::Client::builder().pool_max_idle_per_host(1).build().expect("client");
            let mut latencies_us: Vec<u32> = Vec::new();
            let mut errors = 0_usize;
            let mut index = worker;
            loop {
                let started = Instant::now();
                if started >= end {
                    break;
                }
                index = (index + 7919) % bodies.len();
                let mut request = client.request(workload.method.clone(), &workload.url);
                if workload.method != reqwest::Method::GET {
                    request = request.header("content-type", "application/json").body(bodies[index].clone());
                }
                if let Some(authorization) = &workload.authorization {
                    request = request.header("authorization", authorization);
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
