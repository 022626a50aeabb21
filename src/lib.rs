//! Switchboard composed: connects the store and the bus from configuration,
//! creates topics, and runs the chosen components (HTTP services and stages)
//! in this process until shut down. The `switchboard` binary is a thin CLI
//! over [`run`]; tests call [`start`] to run the real thing on port 0.

pub mod commands;
pub mod config;
pub mod http;
pub mod telemetry;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use switchboard_api::{ApiState, projector};
use switchboard_bus::Bus;
use switchboard_bus::embedded::EmbeddedBus;
use switchboard_bus::kafka::KafkaBus;
use switchboard_core::config::{BusBackend, Config};
use switchboard_ingest::IngestState;
use switchboard_kb::KnowledgeBase;
use switchboard_kb::stage as kb_stage;
use switchboard_store::Store;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Which parts run in this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Components {
    /// `POST /v1/tickets`.
    pub ingest: bool,
    /// The REST API.
    pub api: bool,
    /// The projector stage.
    pub projector: bool,
    /// The triage stage.
    pub triage: bool,
    /// The knowledge-base matching stage.
    pub kb: bool,
}

impl Components {
    const NONE: Components = Components { ingest: false, api: false, projector: false, triage: false, kb: false };
    /// Everything: what `switchboard up` runs.
    pub const ALL: Components = Components { ingest: true, api: true, projector: true, triage: true, kb: true };
    pub const INGEST: Components = Components { ingest: true, ..Self::NONE };
    pub const API: Components = Components { api: true, ..Self::NONE };
    pub const PROJECTOR: Components = Components { projector: true, ..Self::NONE };
    pub const TRIAGE: Components = Components { triage: true, ..Self::NONE };
    pub const KB: Components = Components { kb: true, ..Self::NONE };

    /// Whether this process holds a knowledge-base index (for searching via
    /// the API or for matching).
    fn needs_knowledge_base(self) -> bool {
        self.api || self.kb
    }
}

/// Opens the store named by `config` (creating the data directory for the
/// default SQLite file) and applies migrations unless disabled.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    if config.store.url.is_none() {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
    }
    let store = Store::connect(&config.store_url(), config.store.max_connections).await.context("opening the store")?;
    if config.store.migrate {
        store.migrate().await.context("applying store migrations")?;
    }
    Ok(store)
}

/// Builds the configured bus and creates every pipeline topic and its
/// dead-letter topic (topics are never auto-created on first use).
pub async fn open_bus(config: &Config, store: &Store) -> anyhow::Result<Arc<dyn Bus>> {
    let bus: Arc<dyn Bus> = match config.bus.backend {
        BusBackend::Embedded => Arc::new(EmbeddedBus::new(store.clone(), config.bus.embedded.clone())),
        BusBackend::Kafka => Arc::new(KafkaBus::new(config.bus.kafka.clone()).context("creating Kafka clients")?),
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
/// take work yet.
pub struct Prepared {
    config: Config,
    components: Components,
    store: Store,
    bus: Arc<dyn Bus>,
    knowledge_base: Option<Arc<KnowledgeBase>>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Prepared").field("backend", &self.bus.backend()).finish()
    }
}

impl Prepared {
    pub async fn open(config: Config, components: Components) -> anyhow::Result<Self> {
        let _ = telemetry::prometheus();
        let store = open_store(&config).await?;
        let bus = open_bus(&config, &store).await?;
        let knowledge_base = if components.needs_knowledge_base() {
            Some(switchboard_kb::stage::open(&config, &store).await.context("opening the knowledge-base index")?)
        } else {
            None
        };
        Ok(Self { config, components, store, bus, knowledge_base })
    }

    /// Runs `components` until `shutdown` fires: HTTP on `listener` (the ops
    /// endpoints always, ingest and the API when chosen) and the chosen
    /// stages. If a stage or the server stops on its own, everything stops
    /// and the error is returned.
    pub async fn run(self, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Prepared { config, components, store, bus, knowledge_base } = self;

        let mut router = http::ops_router(bus.clone(), store.clone());
        if components.ingest {
            let state = IngestState::new(bus.clone(), store.clone(), &config.topics(), config.ingest.clone());
            router = router.merge(switchboard_ingest::router(state));
        }
        if components.api {
            let state = ApiState::new(store.clone(), bus.clone(), config.topics(), knowledge_base.clone());
            router = router.merge(switchboard_api::router(state));
        }
        let router = http::finish(router);

        let mut stages: JoinSet<(&'static str, anyhow::Result<()>)> = JoinSet::new();
        if components.projector {
            let (config, bus, store, shutdown) = (config.clone(), bus.clone(), store.clone(), shutdown.clone());
            stages.spawn(async move {
                let result = projector::run(&config, bus, store, shutdown).await.map_err(anyhow::Error::from);
                (projector::STAGE_NAME, result)
            });
        }
        if components.triage {
            let (config, bus, store, shutdown) = (config.clone(), bus.clone(), store.clone(), shutdown.clone());
            stages.spawn(async move {
                let result = switchboard_triage::stage::run(&config, bus, store, shutdown).await;
                (switchboard_triage::stage::STAGE_NAME, result.map_err(anyhow::Error::from))
            });
        }
        if let Some(knowledge_base) = &knowledge_base {
            let (config, bus, store, shutdown) = (config.clone(), bus.clone(), store.clone(), shutdown.clone());
            let knowledge_base = knowledge_base.clone();
            stages.spawn(async move {
                let result = kb_stage::run_sync(&config, bus, store, knowledge_base, shutdown).await;
                (kb_stage::SYNC_STAGE, result.map_err(anyhow::Error::from))
            });
        }
        if components.kb
            && let Some(knowledge_base) = &knowledge_base
        {
            let (config, bus, store, shutdown) = (config.clone(), bus.clone(), store.clone(), shutdown.clone());
            let knowledge_base = knowledge_base.clone();
            stages.spawn(async move {
                let result = kb_stage::run_matcher(&config, bus, store, knowledge_base, shutdown).await;
                (kb_stage::MATCH_STAGE, result.map_err(anyhow::Error::from))
            });
        }

        let address = listener.local_addr()?;
        tracing::info!(%address, backend = bus.backend(), ?components, "switchboard running");
        let server = axum::serve(listener, router).with_graceful_shutdown(shutdown.clone().cancelled_owned());
        let mut server = tokio::spawn(async move { server.await });

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
            Some(joined) = stages.join_next(), if !stages.is_empty() => {
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
        while let Some(joined) = stages.join_next().await {
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
