//! Switchboard composed: connects the store and the bus from configuration,
//! creates topics, and runs the chosen components (HTTP services and stages)
//! in this process until shut down. The `switchboard` binary is a thin CLI
//! over [`run`]; tests call [`start`] to run the real thing on port 0.
//!
//! Every stage is one line of [`STAGES`]: its name and its crate's entry.

pub mod commands;
pub mod config;
pub mod lock;
pub mod mailgate;
pub mod telemetry;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::Context;
use switchboard_api::ApiState;
use switchboard_bus::embedded::EmbeddedBus;
use switchboard_bus::kafka::KafkaBus;
use switchboard_bus::{Bus, Resources, StageContext};
use switchboard_core::config::{BusBackend, Config};
use switchboard_core::kb::KnowledgeSearch;
use switchboard_core::topics::stages;
use switchboard_ingest::IngestState;
use switchboard_kb::KnowledgeBase;
use switchboard_store::Store;
use switchboard_web::HttpLimits;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::lock::DirectoryLock;

type StageFuture = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

/// One stage: what it is called and how it starts.
#[derive(Clone, Copy)]
pub struct StageEntry {
    pub name: &'static str,
    pub run: fn(StageContext) -> StageFuture,
}

impl std::fmt::Debug for StageEntry {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.name)
    }
}

/// Every stage this binary can run, in flow order.
pub const STAGES: &[StageEntry] = &[
    StageEntry {
        name: stages::IMAP,
        run: |ctx| Box::pin(async { Ok(switchboard_ingest::email::imap::stage(ctx).await?) }),
    },
    StageEntry {
        name: stages::TRIAGE,
        run: |ctx| Box::pin(async { Ok(switchboard_triage::stage::stage(ctx).await?) }),
    },
    StageEntry {
        name: stages::KB_MATCH,
        run: |ctx| Box::pin(async { Ok(switchboard_kb::stage::match_stage(ctx).await?) }),
    },
    StageEntry {
        name: stages::KB_SYNC,
        run: |ctx| Box::pin(async { Ok(switchboard_kb::stage::sync_stage(ctx).await?) }),
    },
    StageEntry {
        name: stages::ROUTER,
        run: |ctx| Box::pin(async { Ok(switchboard_router::stage::stage(ctx).await?) }),
    },
    StageEntry {
        name: stages::DELIVERY,
        run: |ctx| Box::pin(async { Ok(switchboard_router::delivery::stage(ctx).await?) }),
    },
    StageEntry {
        name: stages::NOTIFIER,
        run: |ctx| Box::pin(async { Ok(switchboard_notifier::stage::stage(ctx).await?) }),
    },
    StageEntry {
        name: stages::WEBHOOKS,
        run: |ctx| Box::pin(async { Ok(switchboard_notifier::webhooks::stage(ctx).await?) }),
    },
    StageEntry { name: stages::MAIL, run: |ctx| Box::pin(async { Ok(switchboard_notifier::mail::stage(ctx).await?) }) },
    StageEntry { name: stages::PROJECTOR, run: |ctx| Box::pin(async { Ok(switchboard_projector::stage(ctx).await?) }) },
    StageEntry {
        name: switchboard_bus::outbox::STAGE_NAME,
        run: |ctx| Box::pin(async { Ok(switchboard_bus::outbox::relay(ctx).await?) }),
    },
    StageEntry {
        name: switchboard_bus::retention::STAGE_NAME,
        run: |ctx| Box::pin(async { Ok(switchboard_bus::retention::retention(ctx).await?) }),
    },
];

/// The stages that use this process's knowledge-base index.
const KNOWLEDGE_BASE_STAGES: &[&str] = &[stages::KB_MATCH, stages::KB_SYNC];

/// Which parts run in this process: the HTTP services and the stages (by
/// name, from [`STAGES`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Components {
    /// `POST /v1/tickets`.
    pub ingest: bool,
    /// The REST API.
    pub api: bool,
    pub stages: &'static [&'static str],
}

impl Components {
    /// Everything: what `switchboard up` runs.
    pub const ALL: Components = Components {
        ingest: true,
        api: true,
        stages: &[
            stages::IMAP,
            stages::TRIAGE,
            stages::KB_MATCH,
            stages::KB_SYNC,
            stages::ROUTER,
            stages::DELIVERY,
            stages::NOTIFIER,
            stages::WEBHOOKS,
            stages::MAIL,
            stages::PROJECTOR,
            switchboard_bus::outbox::STAGE_NAME,
            switchboard_bus::retention::STAGE_NAME,
        ],
    };
    /// Ingest reads the IMAP mailboxes, and purges the idempotency keys it
    /// keeps.
    pub const INGEST: Components =
        Components { ingest: true, api: false, stages: &[stages::IMAP, switchboard_bus::retention::STAGE_NAME] };
    /// The API's index follows changes like any other.
    pub const API: Components = Components { ingest: false, api: true, stages: &[stages::KB_SYNC] };
    /// The read model, and the relay of the events transitions write.
    pub const PROJECTOR: Components =
        Components { ingest: false, api: false, stages: &[stages::PROJECTOR, switchboard_bus::outbox::STAGE_NAME] };
    pub const TRIAGE: Components = Components { ingest: false, api: false, stages: &[stages::TRIAGE] };
    pub const KB: Components = Components { ingest: false, api: false, stages: &[stages::KB_MATCH, stages::KB_SYNC] };
    pub const ROUTER: Components =
        Components { ingest: false, api: false, stages: &[stages::ROUTER, stages::DELIVERY] };
    pub const NOTIFIER: Components =
        Components { ingest: false, api: false, stages: &[stages::NOTIFIER, stages::WEBHOOKS, stages::MAIL] };

    /// What the serving command `command` (`up`, `ingest`, …) runs.
    pub fn of_command(command: &str) -> Option<Components> {
        Some(match command {
            "up" => Self::ALL,
            "ingest" => Self::INGEST,
            "api" => Self::API,
            "projector" => Self::PROJECTOR,
            "triage" => Self::TRIAGE,
            "kb" => Self::KB,
            "router" => Self::ROUTER,
            "notifier" => Self::NOTIFIER,
            _ => return None,
        })
    }

    /// Whether this process holds a knowledge-base index (for searching via
    /// the API or for matching).
    fn needs_knowledge_base(self) -> bool {
        self.api || self.stages.iter().any(|stage| KNOWLEDGE_BASE_STAGES.contains(stage))
    }
}

/// Opens the store named by `config` (creating the data directory for the
/// default SQLite file) and applies migrations unless disabled.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    if config.store.url.is_none() {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
    }
    let pools = switchboard_store::PoolOptions::from(&config.store);
    let store = Store::connect_with(&config.store_url(), pools).await.context("opening the store")?;
    if config.store.migrate {
        store.migrate().await.context("applying store migrations")?;
    }
    Ok(store)
}

/// Builds the configured bus and creates every pipeline topic and every
/// stage's dead-letter topics (topics are never auto-created on first use).
pub async fn open_bus(config: &Config, store: &Store) -> anyhow::Result<Arc<dyn Bus>> {
    let bus: Arc<dyn Bus> = match config.bus.backend {
        BusBackend::Embedded => {
            Arc::new(EmbeddedBus::new(store.clone(), config.bus.embedded.clone(), config.bus.max_message_bytes))
        }
        BusBackend::Kafka => Arc::new(
            KafkaBus::new(config.bus.kafka.clone(), config.bus.max_message_bytes).context("creating Kafka clients")?,
        ),
    };
    bus.create_topics(&config.topics().all_with_dead_letters(), config.bus.partitions)
        .await
        .with_context(|| format!("creating topics on the {} bus", bus.backend()))?;
    Ok(bus)
}

/// A running instance, for tests and embedding.
pub struct Running {
    pub address: SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Running").field("address", &self.address).finish()
    }
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Stops taking work, finishes in-flight work and waits for the end.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.task.await.context("the instance task panicked")?
    }
}

/// Binds `config.listen`, opens the store and the bus, and runs
/// `components` in the background. Returns once the instance takes work.
pub async fn start(config: Config, components: Components) -> anyhow::Result<Running> {
    let listener = TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
    let address = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let prepared = Prepared::open(config, components).await?;
    let task = tokio::spawn(prepared.run(listener, shutdown.clone()));
    Ok(Running { address, shutdown, task })
}

/// Runs `components` until `shutdown` fires; see [`Prepared::run`].
pub async fn run(
    config: Config,
    components: Components,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    Prepared::open(config, components).await?.run(listener, shutdown).await
}

/// An instance whose store and bus are open (migrated, topics created), and
/// whose knowledge-base index is ready if it needs one, but which does not
/// take work yet. It holds the locks on its data directory and index.
pub struct Prepared {
    config: Arc<Config>,
    components: Components,
    store: Store,
    bus: Arc<dyn Bus>,
    knowledge_base: Option<Arc<KnowledgeBase>>,
    _locks: Vec<DirectoryLock>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Prepared").field("backend", &self.bus.backend()).finish()
    }
}

impl Prepared {
    pub async fn open(config: Config, components: Components) -> anyhow::Result<Self> {
        if let Some(unknown) = components.stages.iter().find(|name| !STAGES.iter().any(|entry| entry.name == **name)) {
            anyhow::bail!("no stage named `{unknown}`");
        }
        let _ = switchboard_web::prometheus();
        let mut locks = Vec::new();
        // Two servers on one embedded bus would both consume every message
        // (it has one member per group); two writers of one index would
        // corrupt it.
        if config.bus.backend == BusBackend::Embedded {
            let lock_file = config.data_dir.join(lock::DATA_DIR_LOCK);
            let what = format!("the data directory {}", config.data_dir.display());
            locks.push(DirectoryLock::acquire(&lock_file, &what)?);
        }
        if components.needs_knowledge_base() {
            let index_dir = config.kb_index_dir();
            let what = format!("the knowledge-base index {}", index_dir.display());
            locks.push(DirectoryLock::acquire(&lock::index_lock_file(&index_dir), &what)?);
        }
        let store = open_store(&config).await?;
        let bus = open_bus(&config, &store).await?;
        let knowledge_base = if components.needs_knowledge_base() {
            Some(switchboard_kb::stage::open(&config, &store).await.context("opening the knowledge-base index")?)
        } else {
            None
        };
        Ok(Self { config: Arc::new(config), components, store, bus, knowledge_base, _locks: locks })
    }

    /// Runs `components` until `shutdown` fires: HTTP on `listener` (the ops
    /// endpoints always, ingest and the API when chosen) and the chosen
    /// stages. If a stage or the server stops on its own, everything stops
    /// and the error is returned.
    pub async fn run(self, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Prepared { config, components, store, bus, knowledge_base, _locks } = self;
        let limits = HttpLimits::from(&config.http);

        let mut router = switchboard_web::ops_router(bus.clone(), store.clone());
        // One authenticator per process: ingest and the API share its cache.
        let auth = switchboard_web::Auth::new(store.clone(), &config.auth);
        if components.ingest || components.api {
            auth.passwords.warm_up().await;
        }
        // Ingest stores the files of submissions; the API serves them.
        let files = (components.ingest || components.api)
            .then(|| switchboard_store::FileStore::open(&config))
            .transpose()
            .context("opening the attachment store")?;
        if let (true, Some(files)) = (components.ingest, &files) {
            let state = IngestState::new(bus.clone(), store.clone(), files.clone(), &config, auth.clone());
            router = router.merge(switchboard_ingest::router(state));
        }
        if let (true, Some(files)) = (components.api, files) {
            let search = knowledge_base.clone().map(|index| index as Arc<dyn KnowledgeSearch>);
            let state = ApiState::new(
                store.clone(),
                bus.clone(),
                search,
                auth.clone(),
                files,
                config.clone(),
                shutdown.clone(),
            )
            .context("starting the API")?;
            router = router.merge(switchboard_api::router(state));
        }
        if components.ingest || components.api {
            let mut tables = vec![switchboard_web::openapi::ROUTES];
            if components.ingest {
                tables.push(switchboard_ingest::ROUTES);
            }
            if components.api {
                tables.push(switchboard_api::ROUTES);
            }
            let document = switchboard_web::openapi::document(env!("CARGO_PKG_VERSION"), &tables);
            router = router.merge(switchboard_web::openapi::router(&document));
        }
        let router = switchboard_web::finish(router, limits, &config.http.cors_origins);

        let mut resources = Resources::default();
        if let Some(index) = &knowledge_base {
            resources.insert(index.clone());
        }
        let context = StageContext {
            config: config.clone(),
            bus: bus.clone(),
            store: store.clone(),
            shutdown: shutdown.clone(),
            resources,
        };
        let mut running_stages: JoinSet<(&'static str, anyhow::Result<()>)> = JoinSet::new();
        for entry in STAGES.iter().filter(|entry| components.stages.contains(&entry.name)) {
            let (name, future) = (entry.name, (entry.run)(context.clone()));
            running_stages.spawn(async move { (name, future.await) });
        }

        let address = listener.local_addr()?;
        tracing::info!(%address, backend = bus.backend(), ?components, "switchboard running");
        if (components.api || components.ingest) && store.count_companies().await.unwrap_or(1) == 0 {
            tracing::warn!(
                "no company yet: every route needs a signed-in caller. Create the first company and its admin with                  `switchboard company create --name \"Acme Corp\" --admin-email you@example.com` (see the README)"
            );
        }
        let mut server = tokio::spawn(switchboard_web::serve(listener, router, shutdown.clone(), limits));

        let mut failure: Option<anyhow::Error> = None;
        // A part that ends on its own is a failure, unless it ended because
        // shutdown began (the server and the stages watch the same token).
        tokio::select! {
            biased;
            () = shutdown.cancelled() => {}
            served = &mut server => {
                failure = match served {
                    Ok(Ok(())) if shutdown.is_cancelled() => None,
                    Ok(Ok(())) => Some(anyhow::anyhow!("the HTTP server stopped unexpectedly")),
                    Ok(Err(error)) => Some(anyhow::Error::from(error).context("the HTTP server failed")),
                    Err(error) => Some(anyhow::Error::from(error).context("the HTTP server panicked")),
                };
            }
            Some(joined) = running_stages.join_next(), if !running_stages.is_empty() => {
                failure = match joined {
                    Ok((_, Ok(()))) if shutdown.is_cancelled() => None,
                    Ok((stage, Ok(()))) => Some(anyhow::anyhow!("stage {stage} stopped unexpectedly")),
                    Ok((stage, Err(error))) => Some(error.context(format!("stage {stage} failed"))),
                    Err(error) => Some(anyhow::Error::from(error).context("a stage panicked")),
                };
            }
        }
        shutdown.cancel();
        if !server.is_finished() {
            match server.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::warn!(%error, "the HTTP server stopped with an error"),
                Err(error) => tracing::warn!(%error, "the HTTP server task failed"),
            }
        }
        while let Some(joined) = running_stages.join_next().await {
            match joined {
                Ok((stage, Err(error))) => {
                    tracing::error!(stage, error = %format!("{error:#}"), "stage stopped with an error");
                    failure.get_or_insert(error);
                }
                Ok((_, Ok(()))) => {}
                Err(error) => tracing::error!(%error, "a stage panicked"),
            }
        }
        store.close().await;
        tracing::info!("switchboard stopped");
        match failure {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn up_runs_every_stage_and_every_stage_has_a_command() {
        let all: BTreeSet<&str> = STAGES.iter().map(|entry| entry.name).collect();
        assert_eq!(Components::ALL.stages.iter().copied().collect::<BTreeSet<_>>(), all);
        let split: BTreeSet<&str> = ["ingest", "api", "projector", "triage", "kb", "router", "notifier"]
            .iter()
            .flat_map(|command| Components::of_command(command).map(|components| components.stages).unwrap_or(&[]))
            .copied()
            .collect();
        assert_eq!(split, all, "one process per component still runs every stage");
    }

    /// The documented distributed deployment runs every stage, and ingest
    /// and the API.
    #[test]
    fn compose_runs_every_stage() {
        let compose =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/compose.yaml")).expect("compose.yaml");
        let commands: Vec<String> = compose
            .lines()
            .filter_map(|line| line.trim().strip_prefix("command: [\""))
            .filter_map(|rest| rest.split('"').next().map(str::to_owned))
            .collect();
        let services: Vec<Components> = commands.iter().filter_map(|command| Components::of_command(command)).collect();
        let run: BTreeSet<&str> = services.iter().flat_map(|components| components.stages.iter().copied()).collect();
        let all: BTreeSet<&str> = STAGES.iter().map(|entry| entry.name).collect();
        assert_eq!(run, all, "compose.yaml commands: {commands:?}");
        assert!(services.iter().any(|components| components.ingest), "compose.yaml runs ingest");
        assert!(services.iter().any(|components| components.api), "compose.yaml runs the API");
    }
}
