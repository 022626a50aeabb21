//! The knowledge base in the pipeline.
//!
//! * [`open`]: the index of this process, rebuilt from the store when it is
//!   missing, damaged or from an older schema (never a crash).
//! * [`match_stage`]: the `kb` stage. Consumes `tickets.triaged`, attaches
//!   suggestions, emits `tickets.matched`; when the company turned
//!   auto-answer on and the best FAQ match reaches its threshold, it asks
//!   the store to answer the ticket from the FAQ ([`Store::transition`] with
//!   `answer_from_faq`: status `resolved`, which the customer can reopen).
//!   The store writes the status, the answer and the `answered_by_faq`
//!   event in one transaction; the outbox relay puts the event on
//!   `tickets.events` for the notifier. A ticket someone else moved first
//!   is not answered.
//! * [`sync_stage`]: keeps this process's index in step with the store by
//!   following `kb.changes` (FAQ edits) and `tickets.events` (reports of
//!   resolved tickets become past solutions), in a consumer group of its own.
//!
//! Both take the process's index from [`StageContext::resources`], where the
//! binary put what [`open`] returned.
//!
//! Searching and index writes are blocking; they run on the blocking pool.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use switchboard_bus::group_commit::GroupCommit;
use switchboard_bus::{Handler, HandlerError, Message, OutgoingMessage, Stage, StageContext, decode_envelope, runner};
use switchboard_core::cache::TtlCache;
use switchboard_core::config::Config;
use switchboard_core::events::{
    AutoAnswer, KbChange, Suggestion, SuggestionKind, TicketEvent, TicketMatched, TicketTriaged, TransitionDetails,
};
use switchboard_core::kb::Faq;
use switchboard_core::lifecycle::{Action, Actor};
use switchboard_core::topics::stages;
use switchboard_core::{CompanyId, Envelope, EventId, Scope, Ticket, TransitionError};
use switchboard_store::{Projection, ProjectionKind, Store, StoredReport, TransitionRequest};

use crate::document::{DocKey, DocKind, KbDocument, PastSolution};
use crate::index::{Change, KbOptions, KnowledgeBase};
use crate::search::{Match, auto_answer, auto_answer_withheld};
use crate::{Error, Result};

pub const MATCH_STAGE: &str = stages::KB_MATCH;
pub const SYNC_STAGE: &str = stages::KB_SYNC;

/// How long a company's auto-answer threshold is cached.
const THRESHOLD_TTL: Duration = Duration::from_secs(5);
/// Companies whose threshold is cached at once.
const MAX_CACHED_THRESHOLDS: usize = 10_000;

/// Opens this process's index, rebuilding it from the store if needed.
pub async fn open(config: &Config, store: &Store) -> Result<Arc<KnowledgeBase>> {
    let directory = config.kb_index_dir();
    let opened = blocking(move || KnowledgeBase::open_or_create(&directory, KbOptions::default())).await?;
    let (knowledge_base, needs_rebuild) = opened;
    let knowledge_base = Arc::new(knowledge_base);
    if let Some(reason) = needs_rebuild {
        tracing::info!(%reason, directory = %config.kb_index_dir().display(), "rebuilding the knowledge-base index from the store");
        let count = rebuild_from_store(&knowledge_base, store).await?;
        tracing::info!(documents = count, "knowledge-base index rebuilt");
    }
    Ok(knowledge_base)
}

/// Replaces the index's contents with every FAQ and report in the store.
pub async fn rebuild_from_store(knowledge_base: &Arc<KnowledgeBase>, store: &Store) -> Result<usize> {
    let faqs = store.all_faqs().await?;
    let reports = store.all_reports(&Scope::Installation).await?;
    let documents: Vec<KbDocument> =
        faqs.into_iter().map(faq_document).chain(reports.into_iter().map(report_document)).collect();
    let knowledge_base = knowledge_base.clone();
    blocking(move || knowledge_base.rebuild(documents)).await
}

/// The index document of a stored FAQ.
pub fn faq_document(faq: Faq) -> KbDocument {
    KbDocument::Faq(faq)
}

/// The index document of a stored report (a past solution).
pub fn report_document(stored: StoredReport) -> KbDocument {
    KbDocument::PastSolution(PastSolution {
        ticket_id: stored.ticket_id,
        title: stored.title,
        malfunction: stored.report.malfunction,
        solution: stored.report.solution,
        equipment_model: stored.report.equipment_model,
        company: Some(stored.company.to_string()),
    })
}

/// A suggestion as the pipeline carries it.
pub fn suggestion(found: &Match) -> Suggestion {
    Suggestion {
        kind: match found.kind {
            DocKind::Faq => SuggestionKind::Faq,
            DocKind::PastSolution => SuggestionKind::PastSolution,
        },
        id: found.id.clone(),
        title: found.title.clone(),
        snippet: found.snippet.clone(),
        score: found.score,
        confidence: found.confidence,
    }
}

impl switchboard_core::kb::KnowledgeSearch for KnowledgeBase {
    fn search(
        &self,
        request: &switchboard_core::kb::SearchRequest,
    ) -> std::result::Result<Vec<Suggestion>, switchboard_core::kb::SearchFailure> {
        let filter = crate::SearchFilter {
            kind: request.kind.map(|kind| match kind {
                SuggestionKind::Faq => DocKind::Faq,
                SuggestionKind::PastSolution => DocKind::PastSolution,
            }),
            company: request.scope.company().map(|company| company.to_string()),
            equipment_model: request.equipment_model.clone(),
            ..crate::SearchFilter::default()
        };
        let matches = KnowledgeBase::search(self, &request.text, request.k, &filter).map_err(|error| {
            switchboard_core::kb::SearchFailure { transient: error.is_transient(), message: error.to_string() }
        })?;
        Ok(matches.iter().map(suggestion).collect())
    }
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(work)).await.map_err(|error| Error::Task(error.to_string()))?
}

/// The index the binary opened for this process.
fn shared_index(ctx: &StageContext) -> Result<Arc<KnowledgeBase>> {
    ctx.resources.get::<KnowledgeBase>().ok_or_else(|| {
        Error::Config("this process opened no knowledge-base index (switchboard_kb::stage::open)".into())
    })
}

/// The matching stage (`kb`), until `ctx.shutdown` fires.
pub async fn match_stage(ctx: StageContext) -> Result<()> {
    let knowledge_base = shared_index(&ctx)?;
    let topics = ctx.config.topics();
    let stage =
        Stage { name: MATCH_STAGE.into(), group: ctx.config.group(MATCH_STAGE), topics: topics.inputs(MATCH_STAGE) };
    let handler = Arc::new(Matcher {
        store: ctx.store.clone(),
        knowledge_base,
        suggestions: ctx.config.kb.suggestions,
        matched_topic: topics.matched(),
        thresholds: TtlCache::new(THRESHOLD_TTL, MAX_CACHED_THRESHOLDS),
    });
    Ok(runner::run(ctx.bus, stage, handler, ctx.config.runner.clone(), ctx.shutdown).await?)
}

struct Matcher {
    store: Store,
    knowledge_base: Arc<KnowledgeBase>,
    suggestions: usize,
    matched_topic: String,
    thresholds: TtlCache<CompanyId, Option<f64>>,
}

impl Matcher {
    async fn threshold(&self, company: &CompanyId) -> Result<Option<f64>, HandlerError> {
        self.thresholds
            .get_or_load(company, || self.store.auto_answer_threshold(company))
            .await
            .map_err(HandlerError::classify)
    }
}

#[async_trait]
impl Handler for Matcher {
    async fn handle(&self, message: &Message) -> Result<Vec<OutgoingMessage>, HandlerError> {
        let envelope: Envelope<TicketTriaged> = decode_envelope(message)?;
        let mut ticket = envelope.payload.ticket.clone();
        let (knowledge_base, query, k) = (self.knowledge_base.clone(), ticket.clone(), self.suggestions);
        // The automatic answer is chosen from the plain matches; people see
        // the same model's past solutions first.
        let (matches, suggestions) = blocking(move || {
            let matches = knowledge_base.search_ticket(&query, k)?;
            let suggestions = knowledge_base.suggestions_for_ticket(&query, k, matches.clone())?;
            Ok((matches, suggestions))
        })
        .await
        .map_err(HandlerError::classify)?;
        ticket.suggestions = Some(suggestions.iter().map(suggestion).collect());
        metrics::counter!("switchboard_kb_matches_total", "found" => if matches.is_empty() { "none" } else { "some" })
            .increment(1);

        if let Some(threshold) = self.threshold(&ticket.company).await?
            && let Some(best) = auto_answer(&matches, threshold as f32)
            && answer_allowed(&ticket)
        {
            // The customer gets the article's first answer in full, as stored
            // (and only an article their company may see).
            let scope = Scope::Company(ticket.company.clone());
            let faq = self.store.get_faq(&scope, &best.id).await.map_err(HandlerError::classify)?;
            if let Some(faq) = faq.filter(|faq| faq.published)
                && let Some(answer) = faq.answers.first()
            {
                let answer = AutoAnswer {
                    faq_id: faq.id.clone(),
                    question: faq.question.clone(),
                    answer: answer.clone(),
                    confidence: best.confidence,
                    answered_at: time::OffsetDateTime::now_utc(),
                };
                ticket.answered_by_faq = self.answer(&envelope, &ticket, answer).await?;
            }
        }

        let matched = envelope.derive(MATCH_STAGE, TicketMatched { ticket });
        Ok(vec![OutgoingMessage::for_envelope(&self.matched_topic, &matched).map_err(HandlerError::permanent)?])
    }
}

/// Whether `ticket` may be answered automatically; counts and logs why not.
fn answer_allowed(ticket: &Ticket) -> bool {
    let Some(reason) = auto_answer_withheld(ticket) else { return true };
    metrics::counter!("switchboard_kb_auto_answers_withheld_total", "reason" => reason).increment(1);
    tracing::debug!(ticket_id = %ticket.id, reason, "a sure FAQ match, but no automatic answer");
    false
}

impl Matcher {
    /// Asks the store to answer the ticket from the FAQ; the answer given,
    /// or `None` when the ticket had moved on (someone opened it first).
    async fn answer(
        &self,
        envelope: &Envelope<TicketTriaged>,
        ticket: &Ticket,
        answer: AutoAnswer,
    ) -> Result<Option<AutoAnswer>, HandlerError> {
        // The projector may not have stored the ticket yet: its row is born
        // from this snapshot if so (insert-if-absent, as the projector does).
        let scope = Scope::Company(ticket.company.clone());
        let submitted = Projection::of(ProjectionKind::Submitted, ticket);
        self.store.project(&scope, std::slice::from_ref(&submitted)).await.map_err(HandlerError::classify)?;
        let request = TransitionRequest {
            ticket_id: ticket.id,
            action: Action::AnswerFromFaq,
            actor: Actor::SYSTEM,
            // Stable across redeliveries of this message: a second handling
            // finds the first answer instead of answering twice.
            event_id: EventId::derived(envelope.event_id, "kb-answer"),
            request_id: envelope.request_id.clone(),
            details: TransitionDetails::FaqAnswer(answer),
        };
        match self.store.transition(&scope, request).await {
            Ok(transitioned) => {
                if !transitioned.replayed {
                    metrics::counter!("switchboard_kb_auto_answers_total").increment(1);
                }
                Ok(transitioned.ticket.answered_by_faq)
            }
            Err(switchboard_store::Error::Transition(
                refusal @ (TransitionError::InvalidTransition { .. } | TransitionError::Conflict { .. }),
            )) => {
                tracing::info!(reason = %refusal, "not auto-answering: the ticket moved on");
                Ok(None)
            }
            Err(error) => Err(HandlerError::classify(error)),
        }
    }
}

/// The index sync (`kb-sync`), until `ctx.shutdown` fires.
pub async fn sync_stage(ctx: StageContext) -> Result<()> {
    let knowledge_base = shared_index(&ctx)?;
    let topics = ctx.config.topics();
    let stage = Stage { name: SYNC_STAGE.into(), group: sync_group(&ctx.config), topics: topics.inputs(SYNC_STAGE) };
    let handler = Arc::new(IndexSync {
        store: ctx.store.clone(),
        writer: index_writer(knowledge_base, ctx.config.runner.max_in_flight),
        kb_changes_topic: topics.kb_changes(),
    });
    Ok(runner::run(ctx.bus, stage, handler, ctx.config.runner.clone(), ctx.shutdown).await?)
}

/// The sync's consumer group: one per instance (`kb.instance`, default the
/// host name), so every process with an index applies every change.
pub fn sync_group(config: &Config) -> String {
    let instance = config.kb.instance.clone().unwrap_or_else(host_name);
    format!("{}-{instance}", config.group(SYNC_STAGE))
}

fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "local".to_owned())
}

type IndexWriter = GroupCommit<Change, (), Error>;

/// Index changes from many messages share one commit. If a batch fails, its
/// changes are applied one by one, so one bad document cannot hold back the
/// others (it alone is reported, and dead-lettered if it is permanent).
fn index_writer(knowledge_base: Arc<KnowledgeBase>, max_batch: usize) -> IndexWriter {
    GroupCommit::spawn(max_batch, max_batch, move |changes: Vec<Change>| {
        let knowledge_base = knowledge_base.clone();
        async move {
            let count = changes.len();
            let batch = (knowledge_base.clone(), changes.clone());
            match blocking(move || batch.0.apply(batch.1)).await {
                Ok(_) => (0..count).map(|_| Ok(())).collect(),
                Err(error) if count == 1 => vec![Err(error)],
                Err(error) => {
                    tracing::warn!(%error, changes = count, "index batch failed; applying changes one by one");
                    let mut results = Vec::with_capacity(count);
                    for change in changes {
                        let knowledge_base = knowledge_base.clone();
                        results.push(blocking(move || knowledge_base.apply([change]).map(|_| ())).await);
                    }
                    results
                }
            }
        }
    })
}

struct IndexSync {
    store: Store,
    writer: IndexWriter,
    kb_changes_topic: String,
}

#[async_trait]
impl Handler for IndexSync {
    async fn handle(&self, message: &Message) -> Result<Vec<OutgoingMessage>, HandlerError> {
        let change = if message.topic == self.kb_changes_topic {
            let change: KbChange = serde_json::from_slice(&message.payload)
                .map_err(|error| HandlerError::permanent(format!("undecodable kb change: {error}")))?;
            let (owner, id) = change.article();
            // The store is the truth: whatever the message says, index the
            // article as it is stored now (or remove it if it is gone).
            match self.store.get_faq_of(owner, id).await.map_err(HandlerError::classify)? {
                Some(faq) => Change::Upsert(faq_document(faq)),
                None => Change::Delete(DocKey::faq_of(owner, id)),
            }
        } else {
            let envelope: Envelope<TicketEvent> = match message.envelope() {
                Ok(envelope) => envelope,
                // Events of kinds this version does not know are not ours.
                Err(_) => return Ok(Vec::new()),
            };
            match envelope.payload {
                TicketEvent::Resolved { ticket, report } => Change::Upsert(KbDocument::PastSolution(PastSolution {
                    ticket_id: ticket.id,
                    title: ticket.title.clone(),
                    malfunction: report.malfunction,
                    solution: report.solution,
                    equipment_model: report.equipment_model.or(ticket.equipment.map(|equipment| equipment.model)),
                    company: Some(ticket.company.to_string()),
                })),
                TicketEvent::AnsweredByFaq { .. }
                | TicketEvent::StatusChanged { .. }
                | TicketEvent::Assigned { .. }
                | TicketEvent::ReportSaved { .. }
                | TicketEvent::ReportDecided { .. }
                | TicketEvent::MessageAdded { .. }
                | TicketEvent::Deleted { .. }
                | TicketEvent::LabelsCorrected { .. }
                | TicketEvent::Created { .. } => return Ok(Vec::new()),
            }
        };
        self.writer.submit(change).await.map_err(HandlerError::transient)?.map_err(HandlerError::classify)?;
        Ok(Vec::new())
    }
}
