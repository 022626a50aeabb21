//! The knowledge base in the pipeline.
//!
//! * [`open`]: the index of this process, rebuilt from the store when it is
//!   missing, damaged or from an older schema (never a crash).
//! * [`run_matcher`]: the `kb` stage. Consumes `tickets.triaged`, attaches
//!   suggestions, emits `tickets.matched`; when the company turned
//!   auto-answer on and the best FAQ match reaches its threshold, the ticket
//!   is answered from the FAQ (status `resolved`, which the customer can
//!   reopen) and `tickets.events` gets an `answered_by_faq` event for the
//!   notifier.
//! * [`run_sync`]: keeps this process's index in step with the store by
//!   following `kb.changes` (FAQ edits) and `tickets.events` (reports of
//!   resolved tickets become past solutions), in a consumer group of its own.
//!
//! Searching and index writes are blocking; they run on the blocking pool.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use switchboard_bus::group_commit::GroupCommit;
use switchboard_bus::{Bus, Handler, HandlerError, Message, OutgoingMessage, Stage, runner};
use switchboard_core::config::Config;
use switchboard_core::events::{
    AutoAnswer, KbChange, Suggestion, SuggestionKind, TicketEvent, TicketMatched, TicketTriaged,
};
use switchboard_core::kb::Faq;
use switchboard_core::lifecycle::{self, Action, Role};
use switchboard_core::{Envelope, SCHEMA_VERSION, Status};
use switchboard_store::{Store, StoredReport};
use tokio_util::sync::CancellationToken;

use crate::document::{DocKey, DocKind, FaqArticle, KbDocument, PastSolution};
use crate::index::{Change, KbOptions, KnowledgeBase};
use crate::search::{Match, auto_answer};
use crate::{Error, Result};

pub const MATCH_STAGE: &str = "kb";
pub const SYNC_STAGE: &str = "kb-sync";

/// How long a company's auto-answer threshold is cached.
const THRESHOLD_TTL: Duration = Duration::from_secs(5);

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
    let reports = store.all_reports().await?;
    let documents: Vec<KbDocument> =
        faqs.into_iter().map(faq_document).chain(reports.into_iter().map(report_document)).collect();
    let knowledge_base = knowledge_base.clone();
    blocking(move || knowledge_base.rebuild(documents)).await
}

/// The index document of a stored FAQ.
pub fn faq_document(faq: Faq) -> KbDocument {
    KbDocument::Faq(FaqArticle {
        id: faq.id,
        question: faq.question,
        answers: faq.answers,
        tags: faq.tags,
        equipment_model: faq.equipment_model,
        language: faq.language,
        published: faq.published,
        company: faq.company,
        phrasings: faq.phrasings,
    })
}

/// The index document of a stored report (a past solution).
pub fn report_document(stored: StoredReport) -> KbDocument {
    KbDocument::PastSolution(PastSolution {
        ticket_id: stored.ticket_id,
        title: stored.title,
        malfunction: stored.report.malfunction,
        solution: stored.report.solution,
        equipment_model: stored.report.equipment_model,
        company: Some(stored.company),
    })
}

/// Parses a JSON Lines import file into validated FAQ articles for the
/// store. All or nothing: the first bad line or article is the error.
pub fn faqs_from_jsonl(bytes: &[u8], source_name: &str) -> Result<Vec<Faq>> {
    let articles = crate::import::parse_faqs_jsonl(bytes, source_name)?;
    let now = time::OffsetDateTime::now_utc();
    articles
        .into_iter()
        .enumerate()
        .map(|(index, article)| {
            let input = switchboard_core::kb::NewFaq {
                id: Some(article.id),
                question: Some(article.question),
                answers: Some(article.answers),
                tags: Some(article.tags),
                equipment_model: article.equipment_model,
                language: Some(article.language),
                published: Some(article.published),
                company: article.company,
                phrasings: Some(article.phrasings),
            };
            input.validate(String::new, now).map_err(|error| Error::InputFile {
                source_name: source_name.to_owned(),
                message: format!("article {}: {}: {}", index + 1, error.field, error.message),
            })
        })
        .collect()
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

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(work)).await.map_err(|error| Error::Task(error.to_string()))?
}

fn failure(error: Error) -> HandlerError {
    if error.is_transient() { HandlerError::transient(error) } else { HandlerError::permanent(error) }
}

fn decode<T: serde::de::DeserializeOwned>(message: &Message) -> Result<Envelope<T>, HandlerError> {
    let envelope: Envelope<T> =
        message.envelope().map_err(|error| HandlerError::permanent(format!("undecodable envelope: {error}")))?;
    if envelope.schema_version > SCHEMA_VERSION {
        return Err(HandlerError::permanent(format!("schema version {} is too new", envelope.schema_version)));
    }
    Ok(envelope)
}

/// Runs the matching stage until `shutdown` fires.
pub async fn run_matcher(
    config: &Config,
    bus: Arc<dyn Bus>,
    store: Store,
    knowledge_base: Arc<KnowledgeBase>,
    shutdown: CancellationToken,
) -> switchboard_bus::Result<()> {
    let topics = config.topics();
    let stage = Stage { name: MATCH_STAGE.into(), group: config.group(MATCH_STAGE), topics: vec![topics.triaged()] };
    let handler = Arc::new(Matcher {
        store,
        knowledge_base,
        suggestions: config.kb.suggestions,
        matched_topic: topics.matched(),
        events_topic: topics.events(),
        thresholds: Mutex::new(HashMap::new()),
    });
    runner::run(bus, stage, handler, config.runner.clone(), shutdown).await
}

struct Matcher {
    store: Store,
    knowledge_base: Arc<KnowledgeBase>,
    suggestions: usize,
    matched_topic: String,
    events_topic: String,
    thresholds: Mutex<HashMap<String, (Instant, Option<f64>)>>,
}

impl Matcher {
    async fn threshold(&self, company: &str) -> Result<Option<f64>, HandlerError> {
        if let Some((read_at, threshold)) =
            self.thresholds.lock().map_err(|_| HandlerError::transient("poisoned"))?.get(company)
            && read_at.elapsed() < THRESHOLD_TTL
        {
            return Ok(*threshold);
        }
        let threshold = self.store.auto_answer_threshold(company).await.map_err(|error| failure(error.into()))?;
        if let Ok(mut cache) = self.thresholds.lock() {
            cache.insert(company.to_owned(), (Instant::now(), threshold));
        }
        Ok(threshold)
    }
}

#[async_trait]
impl Handler for Matcher {
    async fn handle(&self, message: &Message) -> Result<Vec<OutgoingMessage>, HandlerError> {
        let envelope: Envelope<TicketTriaged> = decode(message)?;
        let mut ticket = envelope.payload.ticket.clone();
        let (knowledge_base, query, k) = (self.knowledge_base.clone(), ticket.clone(), self.suggestions);
        let matches = blocking(move || knowledge_base.search_ticket(&query, k)).await.map_err(failure)?;
        ticket.suggestions = Some(matches.iter().map(suggestion).collect());
        metrics::counter!("switchboard_kb_matches_total", "found" => if matches.is_empty() { "none" } else { "some" })
            .increment(1);

        let mut answered = None;
        if ticket.status == Status::New
            && let Some(threshold) = self.threshold(&ticket.company).await?
            && let Some(best) = auto_answer(&matches, threshold as f32)
        {
            // The customer gets the article's first answer in full, as stored.
            let faq = self.store.get_faq(&best.id).await.map_err(|error| failure(error.into()))?;
            if let Some(faq) = faq.filter(|faq| faq.published)
                && let Some(answer) = faq.answers.first()
            {
                let status = lifecycle::apply(ticket.status, Action::AnswerFromFaq, Role::System)
                    .map_err(HandlerError::permanent)?;
                let auto_answer = AutoAnswer {
                    faq_id: faq.id.clone(),
                    question: faq.question.clone(),
                    answer: answer.clone(),
                    confidence: best.confidence,
                    answered_at: time::OffsetDateTime::now_utc(),
                };
                ticket.status = status;
                ticket.answered_by_faq = Some(auto_answer.clone());
                answered = Some(auto_answer);
                metrics::counter!("switchboard_kb_auto_answers_total").increment(1);
            }
        }

        let matched = envelope.derive(MATCH_STAGE, TicketMatched { ticket: ticket.clone() });
        let mut outputs =
            vec![OutgoingMessage::for_envelope(&self.matched_topic, &matched).map_err(HandlerError::permanent)?];
        if let Some(answer) = answered {
            let event = envelope.derive("kb-answer", TicketEvent::AnsweredByFaq { ticket: Box::new(ticket), answer });
            outputs.push(OutgoingMessage::for_envelope(&self.events_topic, &event).map_err(HandlerError::permanent)?);
        }
        Ok(outputs)
    }
}

/// Runs the index sync until `shutdown` fires.
pub async fn run_sync(
    config: &Config,
    bus: Arc<dyn Bus>,
    store: Store,
    knowledge_base: Arc<KnowledgeBase>,
    shutdown: CancellationToken,
) -> switchboard_bus::Result<()> {
    let topics = config.topics();
    let instance = config.kb.instance.clone().unwrap_or_else(host_name);
    let stage = Stage {
        name: SYNC_STAGE.into(),
        group: format!("{}-{instance}", config.group(SYNC_STAGE)),
        topics: vec![topics.kb_changes(), topics.events()],
    };
    let handler = Arc::new(IndexSync {
        store,
        writer: index_writer(knowledge_base, config.runner.max_in_flight),
        kb_changes_topic: topics.kb_changes(),
    });
    runner::run(bus, stage, handler, config.runner.clone(), shutdown).await
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
            let id = match change {
                KbChange::FaqChanged { id } | KbChange::FaqDeleted { id } => id,
            };
            // The store is the truth: whatever the message says, index the
            // article as it is stored now (or remove it if it is gone).
            match self.store.get_faq(&id).await.map_err(|error| failure(error.into()))? {
                Some(faq) => Change::Upsert(faq_document(faq)),
                None => Change::Delete(DocKey::faq(id)),
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
                    company: Some(ticket.company),
                })),
                TicketEvent::AnsweredByFaq { .. } => return Ok(Vec::new()),
            }
        };
        self.writer.submit(change).await.map_err(HandlerError::transient)?.map_err(failure)?;
        Ok(Vec::new())
    }
}
