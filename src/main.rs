//! The `switchboard` command line: parses flags and configuration, then
//! hands over to the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use switchboard::{Components, commands, config, telemetry};
use switchboard_core::config::LogConfig;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Queue-driven support-ticket pipeline",
    long_about = "Queue-driven support-ticket pipeline.\n\n\
        `switchboard up` runs everything in one process on an embedded durable log and an SQLite file: \
        nothing else to install. For a distributed deployment, run one component per process \
        (`switchboard ingest`, `switchboard api`, `switchboard projector`, `switchboard triage`, `switchboard kb`, \
        `switchboard router`) \
        with `bus.backend = \"kafka\"` and a PostgreSQL `store.url`.\n\n\
        Configuration layers, later wins: built-in defaults < --config FILE < SWITCHBOARD_* environment \
        variables (nested keys joined by `__`, e.g. SWITCHBOARD_BUS__BACKEND=kafka) < flags."
)]
struct Cli {
    /// TOML configuration file.
    #[arg(long, global = true, env = "SWITCHBOARD_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// Where the embedded store and the knowledge-base index live
    /// [default: ./switchboard-data].
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run everything in one process: ingest, the API and every stage.
    ///
    /// Uses the embedded bus and an SQLite file under --data-dir unless the
    /// configuration names Kafka and PostgreSQL. Survives `kill -9` without
    /// losing an accepted ticket. Sends mail when mail.smtp_url is set (the
    /// log says so at start when it is not), and reads support mailboxes
    /// over IMAP when ingest.imap.mailboxes lists any.
    Up(ListenArgs),
    /// Run the intake: `POST /v1/tickets`, the companies' public support
    /// forms (`/support/{company}`, with photos) and mail in
    /// (`POST /v1/inbound/email`), plus /healthz, /readyz, /metrics.
    ///
    /// Files that come with tickets are stored (attachments.*) before the
    /// ticket is produced.
    ///
    /// Also reads the IMAP mailboxes of ingest.imap.mailboxes (the imap
    /// stage), and purges expired idempotency keys (and, on the embedded
    /// bus, log messages every reader has passed): the retention stage.
    Ingest(ListenArgs),
    /// Run the REST API, plus /healthz, /readyz, /metrics.
    ///
    /// Holds a knowledge-base index for `GET /v1/kb/search` (in --data-dir or
    /// kb.index_dir, one process per index) and keeps it current (kb-sync).
    /// Streams live updates (/v1/live, /v1/live/ws) from the feed the
    /// notifier records, looking for new events every live.poll_ms.
    Api(ListenArgs),
    /// Run the projector stage, which keeps the store in step with the ticket
    /// topics, and the relay that publishes ticket events (lifecycle
    /// transitions) from the store to `tickets.events`.
    ///
    /// Serves /healthz, /readyz and /metrics on the listen address.
    Projector(ListenArgs),
    /// Triage: without a subcommand, run the triage stage.
    ///
    /// `switchboard triage` classifies submitted tickets (category, urgency,
    /// confidence) and flags unsure ones for a person. The subcommands train,
    /// evaluate and try models.
    Triage(Box<TriageArgs>),
    /// The knowledge base: without a subcommand, run the matching stage.
    ///
    /// `switchboard kb` matches triaged tickets against FAQ articles and past
    /// solutions (and follows `kb.changes` to keep its index current).
    Kb(KbArgs),
    /// Run the router stage and delivery to team servers.
    ///
    /// The router decides where each matched ticket goes (the company's
    /// active routing ruleset, then the teams' categories, then the central
    /// server) and records it; delivery POSTs each routed ticket to its team
    /// server, signed as Standard Webhooks, retrying and falling back to the
    /// next server as router.* configures. Serves /healthz, /readyz and
    /// /metrics on the listen address.
    Router(ListenArgs),
    /// Run the notifier stage, webhook delivery and mail sending.
    ///
    /// The notifier turns ticket events (tickets.events, tickets.triaged,
    /// tickets.routed) into the public event catalogue, records each on the
    /// live feed (streamed by the API at /v1/live and /v1/live/ws) and stores
    /// a message for each subscribed webhook endpoint (/v1/webhooks), and,
    /// with mail.smtp_url set, queues the mails they imply (to customers,
    /// the assignee, staff) and password-reset mails (accounts.events);
    /// webhook delivery POSTs each message, signed as Standard Webhooks, on
    /// the notifier.schedule_ms retry schedule, logging every attempt; mail
    /// sending hands each mail to the SMTP server on the mail.schedule_ms
    /// schedule. Serves /healthz, /readyz and /metrics on the listen
    /// address.
    Notifier(ListenArgs),
    /// Run a reference team server that receives deliveries.
    ///
    /// It verifies each delivery's signature and timestamp (401 otherwise),
    /// records each webhook id once, and lists what it received at
    /// `GET /received`. Give it the signing secret of its server
    /// (`GET /v1/servers/{id}`). Needs no configuration, store or bus.
    TeamServer(TeamServerArgs),
    /// Hand one e-mail from standard input to Switchboard, for an MTA's pipe.
    ///
    /// Reads the raw message (RFC 5322) on standard input and posts it to
    /// `POST /v1/inbound/email` with an API key of scope `inbound:email`.
    /// Exits with sysexits codes an MTA understands: 0 taken; 75
    /// (EX_TEMPFAIL) when Switchboard is down, busy (503, 429), slow, or
    /// refuses the key, so the MTA queues the mail and retries; 65
    /// (EX_DATAERR) when the mail cannot be taken (422, 413), so the MTA
    /// bounces it with the reason printed on standard error; 78 (EX_CONFIG)
    /// for an unreadable key file. Postfix master.cf example:
    /// `switchboard unix - n n - - pipe flags=Rq user=switchboard
    /// argv=/usr/local/bin/switchboard mailgate --url http://127.0.0.1:8080
    /// --key-file /etc/switchboard/mailgate.key`. Needs no configuration.
    Mailgate(MailgateArgs),
    /// Dead letters: list a stage's, or replay them to that stage alone.
    ///
    /// A stage that cannot handle a message (or fails it more than
    /// runner.max_attempts times) puts it on `<topic>.<stage>.dlq` with its
    /// provenance and moves on. After fixing the cause, `replay` puts those
    /// messages back on their topics for that stage only.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// Companies (tenants): create one with its first admin.
    Company {
        #[command(subcommand)]
        command: CompanyCommand,
    },
    /// API keys for integrations: create one without the API.
    ApiKey {
        #[command(subcommand)]
        command: ApiKeyCommand,
    },
    /// Statistics for the manufacturer, read from the store.
    ///
    /// `stats equipment` prints one equipment model's figures (the same as
    /// `GET /v1/stats/equipment`); `stats seed` writes a generated service
    /// history, to try the statistics or measure them.
    Stats {
        #[command(subcommand)]
        command: StatsCommand,
    },
    /// Apply pending store migrations and exit.
    Migrate,
    /// Create every topic, and every stage's dead-letter topics, on the configured bus and exit.
    CreateTopics,
    /// Print the effective configuration (secrets redacted) and exit.
    Config,
}

#[derive(Debug, Subcommand)]
enum StatsCommand {
    /// One equipment model's statistics over the tickets created in a
    /// period: tickets and interventions per month, mean time to repair
    /// (created to last resolved, elapsed) and mean labour, mean time
    /// between failures per unit (serial), repeat failures within 30 days
    /// of the previous repair, the first-time-fix rate (resolved with one
    /// intervention, never reopened), the most frequent malfunctions with
    /// the solutions that resolved them, and the parts used.
    ///
    /// Example: `switchboard stats equipment --company acme --model "P-200"
    /// --from 2025-01-01 --to 2025-12-31 --format csv > p200.csv`.
    Equipment {
        /// The equipment model, exactly as tickets name it.
        #[arg(long)]
        model: String,
        /// First day (UTC, included), YYYY-MM-DD [default: the beginning].
        #[arg(long, value_name = "DATE", value_parser = parse_date)]
        from: Option<time::Date>,
        /// Last day (UTC, included), YYYY-MM-DD [default: today and after].
        #[arg(long, value_name = "DATE", value_parser = parse_date)]
        to: Option<time::Date>,
        /// table for people; csv (section,key,detail,value, one figure a
        /// row) for spreadsheets; json as the API answers.
        #[arg(long, value_enum, default_value = "table")]
        format: StatsFormat,
        /// The company whose tickets count.
        #[arg(long, default_value = switchboard_core::ticket::DEFAULT_COMPANY)]
        company: String,
    },
    /// Write a generated service history into a company (created if it is
    /// missing): units in the equipment registry, and tickets with their
    /// lifecycle events and reports. The same --seed gives the same
    /// history. The defaults are the acceptance sizes.
    Seed {
        /// The company to fill.
        #[arg(long)]
        company: String,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 50)]
        models: usize,
        #[arg(long, default_value_t = 5_000)]
        units: usize,
        #[arg(long, default_value_t = 100_000)]
        tickets: usize,
    },
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum StatsFormat {
    Table,
    Csv,
    Json,
}

fn parse_date(text: &str) -> Result<time::Date, String> {
    time::Date::parse(text, time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|_| format!("`{text}` is not a date; write YYYY-MM-DD"))
}

#[derive(Debug, Subcommand)]
enum CompanyCommand {
    /// Create a company and its first admin, and print the one-time token
    /// that sets the admin's password (no password is ever printed or
    /// logged). Works on a fresh install and while a server runs.
    Create {
        /// The company's name, e.g. "Acme Corp".
        #[arg(long)]
        name: String,
        /// The company's id in the API and on tickets [default: from the
        /// name, e.g. `acme-corp`].
        #[arg(long)]
        id: Option<String>,
        /// The first admin's e-mail address.
        #[arg(long, value_name = "EMAIL")]
        admin_email: String,
        /// The first admin's username [default: the e-mail's local part].
        #[arg(long, value_name = "NAME")]
        admin_username: Option<String>,
        /// The first admin's full name [default: the username].
        #[arg(long, value_name = "NAME")]
        admin_name: Option<String>,
        /// Print the result as JSON (with the token), for scripts.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ApiKeyCommand {
    /// Create an API key of a company and print its secret (shown once;
    /// only its hash is stored). Admins can also use `POST /v1/api-keys`.
    Create {
        /// The company the key acts for.
        #[arg(long)]
        company: String,
        /// What the key is for, e.g. "web form".
        #[arg(long)]
        name: String,
        /// What the key may do: tickets:write, tickets:read, kb:read,
        /// inbound:email, tickets:act (a team server reporting progress).
        /// Repeat for several.
        #[arg(long = "scope", value_name = "SCOPE", required = true)]
        scopes: Vec<String>,
        /// Print the key as JSON (with the secret), for scripts.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
struct TriageArgs {
    #[command(subcommand)]
    command: Option<switchboard_triage::TriageCommand>,
    #[command(flatten)]
    listen: ListenArgs,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
struct KbArgs {
    #[command(subcommand)]
    command: Option<KbCommand>,
    #[command(flatten)]
    listen: ListenArgs,
}

#[derive(Debug, Subcommand)]
enum KbCommand {
    /// Import FAQ articles from a JSON Lines file (one `{"id", "question",
    /// "answers": [...]}` object per line) into the store. Without a
    /// `"company"` an article is shared: every company sees it. Articles
    /// with an existing id (of the same owner) are replaced; an id that a
    /// company uses for an article of its own is refused for a shared one.
    /// Running indexes pick them up.
    Import {
        #[arg(long, value_name = "FILE.jsonl")]
        faqs: PathBuf,
    },
    /// Search the FAQ articles and past solutions in the store.
    Search {
        /// The text to match, e.g. a ticket's title and description.
        query: String,
        /// How many matches to print.
        #[arg(long, default_value_t = 5)]
        k: usize,
        /// Print one JSON object per match.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild this installation's index directory from the store (stop the
    /// server that uses it first; a server also rebuilds at start-up when
    /// the index is missing, damaged or outdated).
    Rebuild,
    #[command(flatten)]
    Tool(Box<switchboard_kb::KbToolCommand>),
}

#[derive(Debug, Subcommand)]
enum DlqCommand {
    /// Print the stage's dead letters that were not replayed yet (origin,
    /// attempts, error), oldest first.
    List {
        #[command(flatten)]
        stage: StageArg,
        /// One JSON object per dead letter.
        #[arg(long)]
        json: bool,
    },
    /// Put the stage's dead letters back on their topics, for that stage
    /// only (other stages reading the topics skip them). One that fails
    /// again is dead-lettered again.
    Replay {
        #[command(flatten)]
        stage: StageArg,
    },
}

#[derive(Debug, Args)]
struct StageArg {
    /// The stage: triage, kb, kb-sync or projector.
    #[arg(long, value_name = "STAGE")]
    stage: String,
}

#[derive(Debug, Args)]
struct MailgateArgs {
    /// Switchboard's base URL (or the endpoint itself), e.g.
    /// http://127.0.0.1:8080.
    #[arg(long, value_name = "URL")]
    url: String,
    /// A file holding an API key of scope inbound:email (only the key; no
    /// key on the command line, where other users could read it).
    #[arg(long, value_name = "FILE")]
    key_file: PathBuf,
    /// Seconds to wait for Switchboard before telling the MTA to retry.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    timeout: u64,
}

#[derive(Debug, Args)]
struct TeamServerArgs {
    /// HTTP address to listen on, e.g. 127.0.0.1:9001.
    #[arg(long, value_name = "ADDR")]
    listen: SocketAddr,
    /// The server's signing secret (`whsec_…`).
    #[arg(long, env = "SWITCHBOARD_TEAM_SERVER_SECRET", value_name = "SECRET", hide_env_values = true)]
    secret: String,
    /// Answer every verified delivery with this status instead of 200
    /// (without recording it), to see retries and fallbacks.
    #[arg(long, value_name = "STATUS", default_value_t = 200)]
    respond: u16,
    /// Serve https with this PEM certificate chain (leaf first); needs
    /// --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM (PKCS #8) private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ListenArgs {
    /// HTTP address to listen on [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    // The mail gate speaks sysexits to its MTA, not anyhow.
    if let Command::Mailgate(args) = &cli.command {
        let timeout = std::time::Duration::from_secs(args.timeout.max(1));
        return runtime.block_on(switchboard::mailgate::run(&args.url, &args.key_file, timeout));
    }
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::TeamServer(args) = &cli.command {
        return team_server(args).await;
    }
    let mut overrides: Vec<(&str, figment::value::Value)> = Vec::new();
    if let Some(data_dir) = &cli.data_dir {
        overrides.push(("data_dir", data_dir.display().to_string().into()));
    }
    let listen = match &cli.command {
        Command::Up(args)
        | Command::Ingest(args)
        | Command::Api(args)
        | Command::Projector(args)
        | Command::Router(args)
        | Command::Notifier(args) => args.listen,
        Command::Kb(args) => args.listen.listen,
        Command::Triage(args) => args.listen.listen,
        Command::Dlq { .. }
        | Command::Company { .. }
        | Command::ApiKey { .. }
        | Command::Stats { .. }
        | Command::Mailgate(_)
        | Command::TeamServer(_)
        | Command::Migrate
        | Command::CreateTopics
        | Command::Config => None,
    };
    if let Some(listen) = listen {
        overrides.push(("listen", listen.to_string().into()));
    }
    let config = config::load(cli.config.as_deref(), &overrides)?;
    let one_shot = match &cli.command {
        Command::Up(_)
        | Command::Ingest(_)
        | Command::Api(_)
        | Command::Projector(_)
        | Command::Router(_)
        | Command::Notifier(_) => false,
        Command::Triage(args) => args.command.is_some(),
        Command::Kb(args) => args.command.is_some(),
        Command::Dlq { .. }
        | Command::Company { .. }
        | Command::ApiKey { .. }
        | Command::Stats { .. }
        | Command::Mailgate(_)
        | Command::TeamServer(_)
        | Command::Migrate
        | Command::CreateTopics
        | Command::Config => true,
    };
    // A command that prints its own report: only warnings and errors from
    // the machinery underneath, unless the filter was configured.
    let quiet = one_shot && config.log.filter == LogConfig::default().filter;
    telemetry::init_logging(&LogConfig {
        filter: if quiet { "warn".into() } else { config.log.filter.clone() },
        ..config.log.clone()
    });

    let serving = |command: &str| Components::of_command(command).context("a serving command has components");
    let components = match cli.command {
        Command::Up(_) => serving("up")?,
        Command::Ingest(_) => serving("ingest")?,
        Command::Api(_) => serving("api")?,
        Command::Projector(_) => serving("projector")?,
        Command::Router(_) => serving("router")?,
        Command::Notifier(_) => serving("notifier")?,
        Command::TeamServer(_) => unreachable!("served before the configuration is read"),
        Command::Mailgate(_) => unreachable!("run before the configuration is read"),
        Command::Triage(args) => match args.command {
            None => serving("triage")?,
            Some(switchboard_triage::TriageCommand::Train(args)) if args.from_store => {
                let mut out = std::io::stdout().lock();
                return commands::triage_train_from_store(&config, args, &mut out).await;
            }
            Some(switchboard_triage::TriageCommand::Activate(args)) => {
                let mut out = std::io::stdout().lock();
                return commands::triage_activate(&config, &args, &mut out).await;
            }
            Some(command) => {
                let mut out = std::io::stdout().lock();
                return Ok(switchboard_triage::run_command(command, &mut out)?);
            }
        },
        Command::Kb(KbArgs { command: None, .. }) => serving("kb")?,
        Command::Kb(KbArgs { command: Some(command), .. }) => {
            let mut out = std::io::stdout().lock();
            return match command {
                KbCommand::Import { faqs } => commands::kb_import(&config, &faqs, &mut out).await,
                KbCommand::Search { query, k, json } => commands::kb_search(&config, &query, k, json, &mut out).await,
                KbCommand::Rebuild => commands::kb_rebuild(&config, &mut out).await,
                KbCommand::Tool(tool) => Ok(switchboard_kb::run_tool(*tool, &mut out)?),
            };
        }
        Command::Dlq { command } => {
            let mut out = std::io::stdout().lock();
            return match command {
                DlqCommand::List { stage, json } => commands::dlq_list(&config, &stage.stage, json, &mut out).await,
                DlqCommand::Replay { stage } => commands::dlq_replay(&config, &stage.stage, &mut out).await,
            };
        }
        Command::Company {
            command: CompanyCommand::Create { name, id, admin_email, admin_username, admin_name, json },
        } => {
            let created = commands::company_create(
                &config,
                &name,
                id.as_deref(),
                &admin_email,
                admin_username.as_deref(),
                admin_name.as_deref(),
            )
            .await?;
            let mut out = std::io::stdout().lock();
            return commands::print_created_company(&config, &created, json, &mut out);
        }
        Command::ApiKey { command: ApiKeyCommand::Create { company, name, scopes, json } } => {
            let (key, secret) = commands::api_key_create(&config, &company, &name, &scopes).await?;
            let scopes: Vec<&str> = key.scopes.iter().map(|scope| scope.as_str()).collect();
            if json {
                let body = serde_json::json!({
                    "id": key.id, "company": key.company, "name": key.name, "scopes": scopes, "secret": secret,
                });
                println!("{body}");
            } else {
                println!("created API key {} `{}` of {} ({})", key.id, key.name, key.company, scopes.join(" "));
                println!("send it as `Authorization: Bearer <key>`; it is shown only now:");
                println!("{secret}");
            }
            return Ok(());
        }
        Command::Stats { command: StatsCommand::Equipment { model, from, to, format, company } } => {
            let format = match format {
                StatsFormat::Table => commands::StatsFormat::Table,
                StatsFormat::Csv => commands::StatsFormat::Csv,
                StatsFormat::Json => commands::StatsFormat::Json,
            };
            let mut out = std::io::stdout().lock();
            return commands::stats_equipment(&config, &company, &model, (from, to), format, &mut out).await;
        }
        Command::Stats { command: StatsCommand::Seed { company, seed, models, units, tickets } } => {
            let sizes = switchboard_store::stats::seed::Sizes { models, units, tickets };
            let mut out = std::io::stdout().lock();
            return commands::stats_seed(&config, &company, seed, sizes, &mut out).await;
        }
        Command::Migrate => {
            let mut config = config;
            config.store.migrate = true;
            switchboard::open_store(&config).await?.close().await;
            println!("migrations applied");
            return Ok(());
        }
        Command::CreateTopics => {
            let store = switchboard::open_store(&config).await?;
            switchboard::open_bus(&config, &store).await?;
            println!("topics ready: {}", config.topics().all_with_dead_letters().join(", "));
            return Ok(());
        }
        Command::Config => {
            println!("{config:#?}");
            return Ok(());
        }
    };

    let listener =
        TcpListener::bind(config.listen).await.with_context(|| format!("cannot listen on {}", config.listen))?;
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    let prepared = switchboard::Prepared::open(config, components).await?;
    // One line on stdout that people and scripts can rely on, printed once
    // the store and the bus are open.
    println!("switchboard listening on http://{}", listener.local_addr()?);
    prepared.run(listener, shutdown).await
}

/// `switchboard team-server`: the reference receiver of deliveries.
async fn team_server(args: &TeamServerArgs) -> anyhow::Result<()> {
    switchboard::telemetry::init_logging(&LogConfig::default());
    let secret = switchboard_core::signing::SigningSecret::parse(&args.secret).context("--secret")?;
    let respond = axum_status(args.respond)?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(chain), Some(key)) => {
            let read = |path: &PathBuf, flag: &str| {
                std::fs::read(path).with_context(|| format!("{flag}: cannot read {}", path.display()))
            };
            let identity =
                switchboard_router::team_server::Tls::from_pem(&read(chain, "--tls-cert")?, &read(key, "--tls-key")?)
                    .context("--tls-cert and --tls-key: not a PEM certificate chain and its PKCS #8 key")?;
            Some(identity)
        }
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let listener = TcpListener::bind(args.listen).await.with_context(|| format!("cannot listen on {}", args.listen))?;
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    println!("team server listening on {scheme}://{}", listener.local_addr()?);
    let stopped = async move { shutdown.cancelled().await };
    switchboard_router::team_server::serve(listener, tls, secret, respond, stopped).await.context("serving")
}

fn axum_status(code: u16) -> anyhow::Result<switchboard_router::team_server::StatusCode> {
    switchboard_router::team_server::StatusCode::from_u16(code)
        .ok()
        .filter(|status| !status.is_informational())
        .with_context(|| format!("--respond {code} is not an HTTP status"))
}

/// First SIGINT/SIGTERM: graceful stop. Second: exit at once.
async fn stop_on_signal(shutdown: CancellationToken) {
    wait_for_signal().await;
    tracing::info!("stop signal received: finishing in-flight work (signal again to exit at once)");
    shutdown.cancel();
    wait_for_signal().await;
    tracing::warn!("second stop signal: exiting now");
    std::process::exit(130);
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
