//! The triage stage: consumes `tickets.submitted`, decides category and
//! urgency with their confidences, flags unsure tickets for a person, and
//! emits `tickets.triaged`.
//!
//! * Models, per task: the company's own active model in the store
//!   (`switchboard triage train --from-store --company C --activate`, or
//!   `POST /v1/triage/models/{id}/activate`), else the installation's active
//!   model in the store (trained without `--company`), else the model file
//!   named in the configuration, else the default model built into the
//!   binary (trained on public data; see `models/`).
//! * Every `triage.reload_interval_ms` the stage looks for a newly activated
//!   model or a changed urgency policy and swaps it in without a restart.
//!   In-flight tickets finish with the models they started with; the model
//!   version that decided is recorded with each ticket.
//! * Prediction is CPU work and runs on the blocking pool.

use std::path::Path;
use std::sync::{Arc, OnceLock, RwLock};

use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use switchboard_bus::{Handler, HandlerError, Message, OutgoingMessage, Stage, StageContext, decode_envelope, runner};
use switchboard_core::Envelope;
use switchboard_core::config::Config;
use switchboard_core::events::{TicketSubmitted, TicketTriaged};

use switchboard_core::CompanyId;
use switchboard_core::settings::{URGENCY_POLICY, urgency_policy_company};
use switchboard_core::topics::stages;
use switchboard_store::Store;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::policy::{CompiledPolicy, UrgencyPolicy};
use crate::{Model, triage_ticket};

pub const STAGE_NAME: &str = stages::TRIAGE;
/// The task names models are stored under.
pub const CATEGORY_TASK: &str = "category";
pub const URGENCY_TASK: &str = "urgency";

/// The default models, built by `scripts/triage/build-default-models.sh`
/// from public data (attribution in `models/ATTRIBUTION.md`).
pub static DEFAULT_CATEGORY_MODEL: &[u8] = include_bytes!("../../models/category-customer-service.sbtm");
pub static DEFAULT_URGENCY_MODEL: &[u8] = include_bytes!("../../models/urgency-everyday.sbtm");

#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("cannot load the {task} model from {source_name}")]
    Model {
        task: &'static str,
        source_name: String,
        #[source]
        source: crate::Error,
    },
    #[error("the store failed")]
    Store(#[from] switchboard_store::Error),
    #[error(transparent)]
    Bus(#[from] switchboard_bus::Error),
}

/// Where a model came from, to tell whether it changed.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Origin {
    Store(Uuid),
    File(String),
    BuiltIn,
}

/// A model in use, and where it came from.
#[derive(Clone)]
struct Loaded {
    model: Arc<Model>,
    origin: Origin,
}

/// The models and policy in use. Replaced as a whole on reload.
pub struct Models {
    /// The installation's models, for companies without their own.
    category: Loaded,
    urgency: Loaded,
    /// Companies' own active models, by task and company.
    own_category: HashMap<CompanyId, Loaded>,
    own_urgency: HashMap<CompanyId, Loaded>,
    /// The installation's urgency policy.
    pub policy: Arc<CompiledPolicy>,
    /// Companies' own policies.
    policies: HashMap<CompanyId, Arc<CompiledPolicy>>,
    installation_json: Option<String>,
    /// Companies' policies as stored, by setting key.
    policy_jsons: BTreeMap<String, String>,
}

impl std::fmt::Debug for Models {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Models")
            .field("category", &self.category.model.version())
            .field("urgency", &self.urgency.model.version())
            .field("own_models", &(self.own_category.len() + self.own_urgency.len()))
            .finish()
    }
}

fn built_in(task: &'static str) -> Result<Arc<Model>, StageError> {
    static CATEGORY: OnceLock<Result<Arc<Model>, String>> = OnceLock::new();
    static URGENCY: OnceLock<Result<Arc<Model>, String>> = OnceLock::new();
    let (cell, bytes) = match task {
        CATEGORY_TASK => (&CATEGORY, DEFAULT_CATEGORY_MODEL),
        _ => (&URGENCY, DEFAULT_URGENCY_MODEL),
    };
    cell.get_or_init(|| Model::from_bytes(bytes).map(Arc::new).map_err(|error| error.to_string())).clone().map_err(
        |message| StageError::Model {
            task,
            source_name: "the built-in model".into(),
            source: crate::Error::Corrupt(message),
        },
    )
}

impl Models {
    /// Loads what the configuration and the store say should be in use,
    /// reusing models from `previous` that did not change.
    pub async fn load(config: &Config, store: &Store, previous: Option<&Models>) -> Result<Models, StageError> {
        let active = store.active_triage_models().await?;
        let installation_active =
            |task: &str| active.iter().find(|model| model.company.is_none() && model.task == task).map(|m| m.id);
        let category = load_task(
            CATEGORY_TASK,
            installation_active(CATEGORY_TASK),
            config.triage.category_model.as_deref(),
            store,
            previous.map(|models| &models.category),
        )
        .await?;
        let urgency = load_task(
            URGENCY_TASK,
            installation_active(URGENCY_TASK),
            config.triage.urgency_model.as_deref(),
            store,
            previous.map(|models| &models.urgency),
        )
        .await?;
        // Companies' own models. One that cannot be loaded leaves that
        // company on the installation's model rather than stopping triage
        // for everyone.
        let (mut own_category, mut own_urgency) = (HashMap::new(), HashMap::new());
        for model in &active {
            let Some(company) = &model.company else { continue };
            let (task, own, earlier) = match model.task.as_str() {
                CATEGORY_TASK => (CATEGORY_TASK, &mut own_category, previous.map(|models| &models.own_category)),
                URGENCY_TASK => (URGENCY_TASK, &mut own_urgency, previous.map(|models| &models.own_urgency)),
                _ => continue,
            };
            let earlier = earlier.and_then(|earlier| earlier.get(company));
            match load_task(task, Some(model.id), None, store, earlier).await {
                Ok(loaded) => {
                    own.insert(company.clone(), loaded);
                }
                Err(error) => tracing::error!(
                    company = company.as_str(),
                    task,
                    error = %error,
                    "cannot load a company's triage model; it gets the installation's"
                ),
            }
        }
        // The installation's policy, and each company's own (which replaces
        // it for that company's tickets). Unchanged ones are reused.
        let mut policy_jsons: BTreeMap<String, String> =
            store.settings_with_prefix(URGENCY_POLICY).await?.into_iter().collect();
        let installation_json = policy_jsons.remove(URGENCY_POLICY);
        let installation = compile_policy(
            installation_json.as_deref(),
            previous.map(|models| (&models.installation_json, &models.policy)),
            "the installation",
        );
        let mut policies = HashMap::new();
        for (key, json) in &policy_jsons {
            let Some(company) = urgency_policy_company(key) else { continue };
            let earlier = previous
                .and_then(|models| Some((models.policy_jsons.get(key).cloned(), models.policies.get(&company)?)));
            let compiled =
                compile_policy(Some(json), earlier.as_ref().map(|(json, policy)| (json, *policy)), company.as_str());
            policies.insert(company, compiled);
        }
        Ok(Models {
            category,
            urgency,
            own_category,
            own_urgency,
            policy: installation,
            policies,
            installation_json,
            policy_jsons,
        })
    }

    fn same_as(&self, other: &Models) -> bool {
        let same_own = |mine: &HashMap<CompanyId, Loaded>, theirs: &HashMap<CompanyId, Loaded>| {
            mine.len() == theirs.len()
                && mine.iter().all(|(company, loaded)| theirs.get(company).is_some_and(|t| t.origin == loaded.origin))
        };
        self.category.origin == other.category.origin
            && self.urgency.origin == other.urgency.origin
            && same_own(&self.own_category, &other.own_category)
            && same_own(&self.own_urgency, &other.own_urgency)
            && self.installation_json == other.installation_json
            && self.policy_jsons == other.policy_jsons
    }

    /// The category model for `company`'s tickets: its own, else the
    /// installation's.
    pub fn category_for(&self, company: &CompanyId) -> &Arc<Model> {
        &self.own_category.get(company).unwrap_or(&self.category).model
    }

    /// The urgency model for `company`'s tickets: its own, else the
    /// installation's.
    pub fn urgency_for(&self, company: &CompanyId) -> &Arc<Model> {
        &self.own_urgency.get(company).unwrap_or(&self.urgency).model
    }

    /// The policy for `company`'s tickets: its own, else the installation's.
    pub fn policy_for(&self, company: &CompanyId) -> &Arc<CompiledPolicy> {
        self.policies.get(company).unwrap_or(&self.policy)
    }
}

/// Compiles a stored policy, reusing `previous` when its JSON is the same.
/// None stored is the shipped default policy. A bad one in the store (the
/// API validates, so someone's manual edit) keeps the previous policy, or
/// the shipped one.
fn compile_policy(
    json: Option<&str>,
    previous: Option<(&Option<String>, &Arc<CompiledPolicy>)>,
    whose: &str,
) -> Arc<CompiledPolicy> {
    if let Some((previous_json, policy)) = previous
        && previous_json.as_deref() == json
    {
        return policy.clone();
    }
    match json.map(UrgencyPolicy::from_json) {
        None => Arc::new(UrgencyPolicy::shipped().compile()),
        Some(Ok(policy)) => Arc::new(policy.compile()),
        Some(Err(error)) => {
            tracing::error!(%error, whose, "a stored urgency policy is invalid; keeping the previous one");
            previous.map_or_else(|| Arc::new(UrgencyPolicy::shipped().compile()), |(_, policy)| policy.clone())
        }
    }
}

async fn load_task(
    task: &'static str,
    active: Option<Uuid>,
    configured_file: Option<&Path>,
    store: &Store,
    previous: Option<&Loaded>,
) -> Result<Loaded, StageError> {
    let origin = match (active, configured_file) {
        (Some(id), _) => Origin::Store(id),
        (None, Some(path)) => Origin::File(path.display().to_string()),
        (None, None) => Origin::BuiltIn,
    };
    if let Some(previous) = previous
        && previous.origin == origin
    {
        return Ok(previous.clone());
    }
    let model_error = |source_name: String| move |source| StageError::Model { task, source_name, source };
    let model = match &origin {
        Origin::Store(id) => {
            let source_name = format!("the store (model {id})");
            let bytes = store.triage_model_artefact(*id).await?.ok_or_else(|| StageError::Model {
                task,
                source_name: source_name.clone(),
                source: crate::Error::Corrupt("the model vanished".into()),
            })?;
            let parsed = tokio::task::spawn_blocking(move || Model::from_bytes(&bytes)).await.map_err(|error| {
                StageError::Model {
                    task,
                    source_name: source_name.clone(),
                    source: crate::Error::Corrupt(error.to_string()),
                }
            })?;
            Arc::new(parsed.map_err(model_error(source_name))?)
        }
        Origin::File(path) => {
            let file = path.clone();
            let parsed = tokio::task::spawn_blocking(move || Model::load(&file)).await.map_err(|error| {
                StageError::Model { task, source_name: path.clone(), source: crate::Error::Corrupt(error.to_string()) }
            })?;
            Arc::new(parsed.map_err(model_error(path.clone()))?)
        }
        Origin::BuiltIn => built_in(task)?,
    };
    tracing::info!(task, version = model.version(), ?origin, "triage model loaded");
    Ok(Loaded { model, origin })
}

/// The triage stage, until `ctx.shutdown` fires.
pub async fn stage(ctx: StageContext) -> Result<(), StageError> {
    let config = ctx.config.clone();
    let models = Arc::new(RwLock::new(Arc::new(Models::load(&config, &ctx.store, None).await?)));
    let reloader =
        tokio::spawn(reload_periodically(config.clone(), ctx.store.clone(), models.clone(), ctx.shutdown.clone()));
    let topics = config.topics();
    let stage = Stage { name: STAGE_NAME.into(), group: config.group(STAGE_NAME), topics: topics.inputs(STAGE_NAME) };
    let handler = Arc::new(Triager { models, triaged_topic: topics.triaged() });
    let result = runner::run(ctx.bus, stage, handler, config.runner.clone(), ctx.shutdown).await;
    reloader.abort();
    Ok(result?)
}

async fn reload_periodically(
    config: Arc<Config>,
    store: Store,
    models: Arc<RwLock<Arc<Models>>>,
    shutdown: CancellationToken,
) {
    let mut ticker = tokio::time::interval(config.triage.reload_interval());
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let Ok(current) = models.read().map(|models| models.clone()).map_err(|_| ()) else { return };
        match Models::load(&config, &store, Some(&current)).await {
            Ok(loaded) if loaded.same_as(&current) => {}
            Ok(loaded) => {
                tracing::info!(
                    category = loaded.category.model.version(),
                    urgency = loaded.urgency.model.version(),
                    own_models = loaded.own_category.len() + loaded.own_urgency.len(),
                    "triage models or policy changed; swapping"
                );
                if let Ok(mut slot) = models.write() {
                    *slot = Arc::new(loaded);
                }
            }
            Err(error) => tracing::warn!(%error, "cannot reload triage models; keeping the current ones"),
        }
    }
}

struct Triager {
    models: Arc<RwLock<Arc<Models>>>,
    triaged_topic: String,
}

#[async_trait]
impl Handler for Triager {
    async fn handle(&self, message: &Message) -> Result<Vec<OutgoingMessage>, HandlerError> {
        let envelope: Envelope<TicketSubmitted> = decode_envelope(message)?;
        let models = self.models.read().map_err(|_| HandlerError::transient("model lock poisoned"))?.clone();
        let mut ticket = envelope.payload.ticket.clone();
        let span = tracing::Span::current();
        let started = std::time::Instant::now();
        let input = ticket.clone();
        let triage = tokio::task::spawn_blocking(move || {
            span.in_scope(|| {
                triage_ticket(
                    models.category_for(&input.company),
                    models.urgency_for(&input.company),
                    models.policy_for(&input.company),
                    &input,
                    time::OffsetDateTime::now_utc(),
                )
            })
        })
        .await
        .map_err(|error| HandlerError::transient(format!("prediction task failed: {error}")))?;
        ::metrics::histogram!("switchboard_triage_decide_seconds").record(started.elapsed().as_secs_f64());
        ::metrics::counter!("switchboard_triage_tickets_total", "needs_human" => if triage.needs_human { "true" } else { "false" })
            .increment(1);
        ticket.category = triage.category.label.clone();
        ticket.urgency = Some(triage.urgency);
        ticket.triage = Some(triage);
        let triaged = envelope.derive(STAGE_NAME, TicketTriaged { ticket });
        Ok(vec![OutgoingMessage::for_envelope(&self.triaged_topic, &triaged).map_err(HandlerError::permanent)?])
    }
}
