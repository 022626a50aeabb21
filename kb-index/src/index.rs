//! The knowledge base: a tantivy index (on disk or in RAM) of FAQ articles
//! and past solutions, a character n-gram model beside it, and the
//! open-or-rebuild logic that keeps a damaged or outdated index from ever
//! stopping the service.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use switchboard_triage::encoder::SentenceEncoder;
use tantivy::collector::DocSetCollector;
use tantivy::query::{AllQuery, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, STORED, STRING, Schema, TantivyDocument, TextFieldIndexing, TextOptions, Value,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, Term};

use crate::analysis::{AnalysisOptions, register_analyzers};
use crate::cache::SnapshotCache;
use crate::document::{DocKey, KbDocument};
use crate::ngram::NgramModel;
use crate::search::SearchConfig;
use crate::{Error, Result};

/// Bumped whenever the schema, the analyzers' behaviour or the stored
/// document format changes. An index written with another version is
/// reported as needing a rebuild.
pub const SCHEMA_VERSION: u32 = 3;

/// The file beside tantivy's own files that records how the index was made.
pub const MARKER_FILE: &str = "switchboard-kb.json";

/// Memory the single indexing thread may use before it flushes a segment.
const WRITER_MEMORY_BYTES: usize = 50_000_000;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Marker {
    schema_version: u32,
    analysis: AnalysisOptions,
    /// False from the start of a rebuild until its commit: a crash in
    /// between leaves an index that must not be trusted.
    complete: bool,
}

/// Why the caller must call [`KnowledgeBase::rebuild`] with every document
/// from the source of truth before trusting search results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RebuildReason {
    /// There was no index in the directory (first start, or it was deleted).
    Missing,
    /// The index was written by another schema version of this crate.
    SchemaChanged { found: u32, expected: u32 },
    /// The index was built with other analysis options than requested.
    AnalysisChanged,
    /// A rebuild was interrupted before it committed.
    Incomplete,
    /// Files were missing, unreadable or failed their checksums.
    Corrupt(String),
}

impl std::fmt::Display for RebuildReason {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RebuildReason::Missing => write!(formatter, "no index yet"),
            RebuildReason::SchemaChanged { found, expected } => {
                write!(formatter, "index schema version {found}, this build needs {expected}")
            }
            RebuildReason::AnalysisChanged => write!(formatter, "index built with other analysis options"),
            RebuildReason::Incomplete => write!(formatter, "an earlier rebuild did not finish"),
            RebuildReason::Corrupt(detail) => write!(formatter, "index is damaged: {detail}"),
        }
    }
}

/// Whether an opened knowledge base can be used as it is.
pub type NeedsRebuild = Option<RebuildReason>;

/// How a knowledge base is built and searched.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KbOptions {
    pub analysis: AnalysisOptions,
    pub search: SearchConfig,
}

/// One change to apply, as the store's projector sees FAQ and ticket events.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    Upsert(KbDocument),
    Delete(DocKey),
}

#[derive(Clone, Copy)]
pub(crate) struct Fields {
    pub key: Field,
    pub kind: Field,
    pub question: Field,
    pub answer: Field,
    pub tags: Field,
    pub phrasing: Field,
    pub equipment: Field,
    pub company: Field,
    pub language: Field,
    pub published: Field,
    pub document: Field,
}

/// The company (or equipment model) value of documents every company (or
/// every model) shares.
pub(crate) const ANY_VALUE: &str = "*";

fn build_schema(analysis: AnalysisOptions) -> (Schema, Fields) {
    let analyzer = analysis.analyzer_name();
    let text = |record: IndexRecordOption| {
        TextOptions::default()
            .set_indexing_options(TextFieldIndexing::default().set_tokenizer(&analyzer).set_index_option(record))
    };
    let mut builder = Schema::builder();
    let fields = Fields {
        key: builder.add_text_field("key", STRING | STORED),
        kind: builder.add_text_field("kind", STRING),
        question: builder.add_text_field("question", text(IndexRecordOption::WithFreqsAndPositions)),
        answer: builder.add_text_field("answer", text(IndexRecordOption::WithFreqs)),
        tags: builder.add_text_field("tags", text(IndexRecordOption::WithFreqs)),
        phrasing: builder.add_text_field("phrasing", text(IndexRecordOption::WithFreqsAndPositions)),
        equipment: builder.add_text_field("equipment", STRING),
        company: builder.add_text_field("company", STRING),
        language: builder.add_text_field("language", STRING),
        published: builder.add_text_field("published", STRING),
        document: builder.add_text_field("document", TextOptions::default().set_stored()),
    };
    (builder.build(), fields)
}

/// Normalises values of exact-match filter fields.
pub(crate) fn normalise_keyword(value: &str) -> String {
    value.trim().to_lowercase()
}

/// Rebuilds of the n-gram snapshot allowed back to back.
pub const NGRAM_REFRESH_BURST: u32 = 4;
/// After a burst, one more rebuild is allowed per this interval.
pub const NGRAM_REFRESH_EVERY: Duration = Duration::from_millis(100);

/// A token bucket for n-gram snapshot rebuilds.
struct RefreshBudget {
    /// Commits happened since the snapshot was last rebuilt.
    stale: bool,
    tokens: f64,
    refilled_at: Instant,
}

impl RefreshBudget {
    fn full() -> Self {
        Self { stale: false, tokens: f64::from(NGRAM_REFRESH_BURST), refilled_at: Instant::now() }
    }

    fn take(&mut self, now: Instant) -> bool {
        let earned = now.saturating_duration_since(self.refilled_at).as_secs_f64() / NGRAM_REFRESH_EVERY.as_secs_f64();
        self.tokens = (self.tokens + earned).min(f64::from(NGRAM_REFRESH_BURST));
        self.refilled_at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The knowledge base. Cheap to search from many threads at once (`Send +
/// Sync`; share it in an `Arc`); writes are serialised internally and become
/// visible to searches at [`KnowledgeBase::commit`].
pub struct KnowledgeBase {
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    pub(crate) fields: Fields,
    pub(crate) analysis: AnalysisOptions,
    pub(crate) ngrams: RwLock<NgramModel>,
    /// What searches of the newest snapshot share.
    pub(crate) cache: SnapshotCache,
    ngram_refresh: Mutex<RefreshBudget>,
    ngram_refreshes: std::sync::atomic::AtomicU64,
    search_config: RwLock<SearchConfig>,
    directory: Option<PathBuf>,
}

impl std::fmt::Debug for KnowledgeBase {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("KnowledgeBase")
            .field("directory", &self.directory)
            .field("analysis", &self.analysis)
            .field("documents", &self.len())
            .finish_non_exhaustive()
    }
}

impl KnowledgeBase {
    /// An empty knowledge base in memory, for evaluation and tests.
    pub fn in_ram(options: KbOptions) -> Result<Self> {
        let (schema, fields) = build_schema(options.analysis);
        let index = Index::create_in_ram(schema);
        Self::from_index(index, fields, options, None)
    }

    /// Opens the index in `directory`, or creates an empty one. When the
    /// second value is `Some`, the index is empty (or was emptied) and the
    /// caller must [`rebuild`](Self::rebuild) it from the source of truth.
    ///
    /// A missing, damaged or outdated index is never an error; a directory
    /// that holds something other than an index is
    /// ([`Error::ForeignDirectory`]), and so are I/O failures.
    pub fn open_or_create(directory: &Path, options: KbOptions) -> Result<(Self, NeedsRebuild)> {
        match Self::check_existing(directory, &options) {
            Ok(()) => {
                let opened = catch_unwind(AssertUnwindSafe(|| Self::open_existing(directory, options.clone())))
                    .unwrap_or_else(|_| Err(Error::Corrupt("tantivy panicked while opening the index".into())));
                match opened {
                    Ok(knowledge_base) => Ok((knowledge_base, None)),
                    Err(error) => {
                        tracing::warn!(%error, directory = %directory.display(), "index unusable, recreating it");
                        let knowledge_base = Self::create_empty(directory, options)?;
                        Ok((knowledge_base, Some(RebuildReason::Corrupt(error.to_string()))))
                    }
                }
            }
            Err(CheckFailure::Rebuild(reason)) => {
                tracing::info!(%reason, directory = %directory.display(), "creating a new index");
                let knowledge_base = Self::create_empty(directory, options)?;
                Ok((knowledge_base, Some(reason)))
            }
            Err(CheckFailure::Fatal(error)) => Err(error),
        }
    }

    /// Decides from the marker file alone whether the directory may hold a
    /// usable index.
    fn check_existing(directory: &Path, options: &KbOptions) -> Result<(), CheckFailure> {
        let marker_path = directory.join(MARKER_FILE);
        if !marker_path.exists() {
            return match directory_state(directory).map_err(CheckFailure::Fatal)? {
                DirectoryState::MissingOrEmpty => Err(CheckFailure::Rebuild(RebuildReason::Missing)),
                DirectoryState::LooksLikeIndex => {
                    Err(CheckFailure::Rebuild(RebuildReason::Corrupt(format!("{MARKER_FILE} is missing"))))
                }
                DirectoryState::Foreign => {
                    Err(CheckFailure::Fatal(Error::ForeignDirectory { path: directory.to_owned() }))
                }
            };
        }
        let marker_text = std::fs::read_to_string(&marker_path).map_err(|error| {
            CheckFailure::Rebuild(RebuildReason::Corrupt(format!("reading {MARKER_FILE}: {error}")))
        })?;
        let marker: Marker = match serde_json::from_str(&marker_text) {
            Ok(marker) => marker,
            Err(error) => {
                // An older marker layout is a schema change, not damage.
                let found = serde_json::from_str::<serde_json::Value>(&marker_text)
                    .ok()
                    .and_then(|value| value.get("schema_version")?.as_u64());
                return Err(CheckFailure::Rebuild(match found {
                    Some(found) if found != u64::from(SCHEMA_VERSION) => {
                        RebuildReason::SchemaChanged { found: found as u32, expected: SCHEMA_VERSION }
                    }
                    _ => RebuildReason::Corrupt(format!("{MARKER_FILE}: {error}")),
                }));
            }
        };
        if marker.schema_version != SCHEMA_VERSION {
            return Err(CheckFailure::Rebuild(RebuildReason::SchemaChanged {
                found: marker.schema_version,
                expected: SCHEMA_VERSION,
            }));
        }
        if marker.analysis != options.analysis {
            return Err(CheckFailure::Rebuild(RebuildReason::AnalysisChanged));
        }
        if !marker.complete {
            return Err(CheckFailure::Rebuild(RebuildReason::Incomplete));
        }
        Ok(())
    }

    fn open_existing(directory: &Path, options: KbOptions) -> Result<Self> {
        let index = Index::open_in_dir(directory)?;
        let (expected_schema, fields) = build_schema(options.analysis);
        if index.schema() != expected_schema {
            return Err(Error::Corrupt("the index schema differs from this build's".into()));
        }
        let damaged = index.validate_checksum()?;
        if !damaged.is_empty() {
            let names: Vec<String> = damaged.iter().map(|path| path.display().to_string()).collect();
            return Err(Error::Corrupt(format!("checksum mismatch in {}", names.join(", "))));
        }
        let knowledge_base = Self::from_index(index, fields, options, Some(directory.to_owned()))?;
        knowledge_base.reload_ngram_model()?;
        Ok(knowledge_base)
    }

    fn create_empty(directory: &Path, options: KbOptions) -> Result<Self> {
        reset_directory(directory)?;
        let (schema, fields) = build_schema(options.analysis);
        let index = Index::create_in_dir(directory, schema)?;
        // Marked incomplete: it holds nothing until the caller rebuilds it.
        write_marker(
            directory,
            &Marker { schema_version: SCHEMA_VERSION, analysis: options.analysis, complete: false },
        )?;
        Self::from_index(index, fields, options, Some(directory.to_owned()))
    }

    fn from_index(index: Index, fields: Fields, options: KbOptions, directory: Option<PathBuf>) -> Result<Self> {
        register_analyzers(index.tokenizers());
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let writer = index.writer_with_num_threads(1, WRITER_MEMORY_BYTES)?;
        Ok(Self {
            reader,
            writer: Mutex::new(writer),
            fields,
            analysis: options.analysis,
            ngrams: RwLock::new(NgramModel::new(
                options.analysis.rerank_words,
                Some(SentenceEncoder::builtin_static()),
            )),
            cache: SnapshotCache::default(),
            ngram_refresh: Mutex::new(RefreshBudget::full()),
            ngram_refreshes: std::sync::atomic::AtomicU64::new(0),
            search_config: RwLock::new(options.search),
            directory,
        })
    }

    /// Sets the sentence encoder that embeds documents and queries for dense
    /// re-ranking (`SearchConfig::dense_whole_weight` and
    /// `dense_part_weight`), or removes it, and re-embeds what the index
    /// holds. A knowledge base starts with the static table built into
    /// Switchboard (the one triage's default models use); without an
    /// encoder the dense similarities are 0.
    pub fn set_encoder(&self, encoder: Option<Arc<SentenceEncoder>>) -> Result<()> {
        *self.ngrams_mut() = NgramModel::new(self.analysis.rerank_words, encoder);
        self.reload_ngram_model()
    }

    /// An empty n-gram model with the current one's encoder.
    fn new_ngram_model(&self) -> NgramModel {
        NgramModel::new(self.analysis.rerank_words, self.ngrams().encoder())
    }

    /// Rebuilds the n-gram model from the documents stored in the index.
    fn reload_ngram_model(&self) -> Result<()> {
        let searcher = self.searcher();
        let addresses = searcher.search(&AllQuery, &DocSetCollector)?;
        let mut model = self.new_ngram_model();
        for address in addresses {
            let stored: TantivyDocument = searcher.doc(address)?;
            model.upsert(&self.stored_document(&stored)?);
        }
        model.refresh();
        *self.ngrams_mut() = model;
        Ok(())
    }

    /// Replaces the whole content with `documents` and commits. While it
    /// runs, the marker says "incomplete", so a crash halfway is detected at
    /// the next open. Documents that cannot be indexed (no id, no text) are
    /// skipped with a warning rather than failing the whole rebuild. Returns
    /// how many documents were indexed. Searches see the old content until
    /// the rebuild commits.
    pub fn rebuild(&self, documents: impl IntoIterator<Item = KbDocument>) -> Result<usize> {
        let mut writer = self.writer();
        if let Some(directory) = &self.directory {
            write_marker(
                directory,
                &Marker { schema_version: SCHEMA_VERSION, analysis: self.analysis, complete: false },
            )?;
        }
        let mut model = self.new_ngram_model();
        let fill = |writer: &mut IndexWriter| -> Result<usize> {
            writer.delete_all_documents()?;
            let mut count = 0;
            for document in documents {
                if let Err(error) = document.validate() {
                    tracing::warn!(%error, "skipping a document that cannot be indexed");
                    continue;
                }
                writer.add_document(self.tantivy_document(&document)?)?;
                model.upsert(&document);
                count += 1;
            }
            writer.commit()?;
            Ok(count)
        };
        let count = match fill(&mut writer) {
            Ok(count) => count,
            Err(error) => {
                // Drop the half-done work; the marker stays "incomplete".
                if let Err(rollback_error) = writer.rollback() {
                    tracing::warn!(error = %rollback_error, "rollback after a failed rebuild failed");
                }
                return Err(error);
            }
        };
        if let Some(directory) = &self.directory {
            write_marker(
                directory,
                &Marker { schema_version: SCHEMA_VERSION, analysis: self.analysis, complete: true },
            )?;
        }
        model.refresh();
        *self.ngrams_mut() = model;
        self.reader.reload()?;
        Ok(count)
    }

    /// Adds or replaces one document. Visible to searches after [`commit`](Self::commit).
    pub fn upsert(&self, document: &KbDocument) -> Result<()> {
        document.validate()?;
        let tantivy_document = self.tantivy_document(document)?;
        let writer = self.writer();
        writer.delete_term(Term::from_field_text(self.fields.key, &document.key().index_term()));
        writer.add_document(tantivy_document)?;
        self.ngrams_mut().upsert(document);
        Ok(())
    }

    /// Removes one document if it exists. Visible after [`commit`](Self::commit).
    pub fn delete(&self, key: &DocKey) {
        let writer = self.writer();
        writer.delete_term(Term::from_field_text(self.fields.key, &key.index_term()));
        self.ngrams_mut().remove(key);
    }

    /// Makes every change since the last commit durable and visible to
    /// searches. A stage should call it once per batch of events, before it
    /// acknowledges them, not once per event: each commit writes files.
    ///
    /// The n-gram re-ranking model follows at a bounded rate: its snapshot
    /// is rebuilt at once while commits are rare, but at most
    /// [`NGRAM_REFRESH_BURST`] times in a row and then once per
    /// [`NGRAM_REFRESH_EVERY`], so a burst of FAQ writes cannot keep the
    /// CPU busy rebuilding it. A search after a skipped rebuild does it once
    /// the budget allows; until then searches use the previous snapshot
    /// (BM25 already sees the change). Searches never wait for a rebuild.
    pub fn commit(&self) -> Result<()> {
        let mut writer = self.writer();
        writer.commit()?;
        self.reader.reload()?;
        let mut budget = self.ngram_refresh.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        budget.stale = true;
        self.refresh_ngrams_within(&mut budget);
        Ok(())
    }

    /// Before a search: catches the n-gram snapshot up with the last commits
    /// when a rebuild was skipped and the budget allows one now. Another
    /// search or a commit already at it means the current snapshot is used.
    pub(crate) fn catch_up_ngrams(&self) {
        if let Ok(mut budget) = self.ngram_refresh.try_lock()
            && budget.stale
        {
            self.refresh_ngrams_within(&mut budget);
        }
    }

    fn refresh_ngrams_within(&self, budget: &mut RefreshBudget) {
        if !budget.take(Instant::now()) {
            metrics::counter!("switchboard_kb_ngram_refreshes_deferred_total").increment(1);
            return;
        }
        // Built under the shared lock: searches go on meanwhile.
        let snapshot = self.ngrams().build_snapshot();
        self.ngrams_mut().install(snapshot);
        budget.stale = false;
        self.ngram_refreshes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// How many times commits and searches have rebuilt the n-gram snapshot
    /// (for tests and benchmarks of the refresh budget).
    pub fn ngram_refresh_count(&self) -> u64 {
        self.ngram_refreshes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Applies a batch of changes and commits once. Every document is
    /// validated first, so an invalid one fails the batch before anything is
    /// written. Returns the number applied.
    pub fn apply(&self, changes: impl IntoIterator<Item = Change>) -> Result<usize> {
        let changes: Vec<Change> = changes.into_iter().collect();
        for change in &changes {
            if let Change::Upsert(document) = change {
                document.validate()?;
            }
        }
        let mut applied = 0;
        for change in changes {
            match change {
                Change::Upsert(document) => self.upsert(&document)?,
                Change::Delete(key) => self.delete(&key),
            }
            applied += 1;
        }
        self.commit()?;
        Ok(applied)
    }

    /// The committed document with this key, if any.
    pub fn get(&self, key: &DocKey) -> Result<Option<KbDocument>> {
        let searcher = self.searcher();
        let query = TermQuery::new(Term::from_field_text(self.fields.key, &key.index_term()), IndexRecordOption::Basic);
        let addresses = searcher.search(&query, &DocSetCollector)?;
        match addresses.into_iter().next() {
            Some(address) => Ok(Some(self.stored_document(&searcher.doc(address)?)?)),
            None => Ok(None),
        }
    }

    /// Number of committed documents.
    pub fn len(&self) -> u64 {
        self.searcher().num_docs()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Where the index lives; `None` in RAM.
    pub fn directory(&self) -> Option<&Path> {
        self.directory.as_deref()
    }

    /// The search configuration used by [`search`](Self::search).
    pub fn search_config(&self) -> SearchConfig {
        self.search_config.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    pub fn set_search_config(&self, config: SearchConfig) {
        *self.search_config.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = config;
    }

    pub(crate) fn searcher(&self) -> Searcher {
        self.reader.searcher()
    }

    pub(crate) fn ngrams(&self) -> RwLockReadGuard<'_, NgramModel> {
        self.ngrams.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn ngrams_mut(&self) -> RwLockWriteGuard<'_, NgramModel> {
        self.ngrams.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn writer(&self) -> MutexGuard<'_, IndexWriter> {
        // A panic while holding the lock leaves the writer usable: tantivy's
        // own state is consistent between calls.
        self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn stored_document(&self, stored: &TantivyDocument) -> Result<KbDocument> {
        let json = stored
            .get_first(self.fields.document)
            .and_then(|value| value.as_str())
            .ok_or_else(|| Error::Corrupt("a stored document has no content".into()))?;
        serde_json::from_str(json).map_err(|error| Error::Corrupt(format!("a stored document is unreadable: {error}")))
    }

    fn tantivy_document(&self, document: &KbDocument) -> Result<TantivyDocument> {
        let fields = &self.fields;
        let mut tantivy_document = TantivyDocument::new();
        tantivy_document.add_text(fields.key, document.key().index_term());
        tantivy_document.add_text(fields.kind, document.key().kind.as_str());
        for text in document.question_texts() {
            tantivy_document.add_text(fields.question, text);
        }
        for text in document.answer_texts() {
            tantivy_document.add_text(fields.answer, text);
        }
        for text in document.tags() {
            tantivy_document.add_text(fields.tags, text);
        }
        for text in document.phrasings() {
            tantivy_document.add_text(fields.phrasing, text);
        }
        let equipment = document.equipment_model().map(normalise_keyword).unwrap_or_else(|| ANY_VALUE.to_owned());
        tantivy_document.add_text(fields.equipment, equipment);
        let company = document.company().map(normalise_keyword).unwrap_or_else(|| ANY_VALUE.to_owned());
        tantivy_document.add_text(fields.company, company);
        tantivy_document.add_text(fields.language, normalise_keyword(document.language()));
        tantivy_document.add_text(fields.published, if document.published() { "yes" } else { "no" });
        let json = serde_json::to_string(document).map_err(|error| Error::Config(error.to_string()))?;
        tantivy_document.add_text(fields.document, json);
        Ok(tantivy_document)
    }
}

enum CheckFailure {
    Rebuild(RebuildReason),
    Fatal(Error),
}

enum DirectoryState {
    MissingOrEmpty,
    LooksLikeIndex,
    Foreign,
}

fn directory_state(directory: &Path) -> Result<DirectoryState> {
    if !directory.exists() {
        return Ok(DirectoryState::MissingOrEmpty);
    }
    if !directory.is_dir() {
        return Ok(DirectoryState::Foreign);
    }
    let mut entries = std::fs::read_dir(directory)
        .map_err(|error| Error::io(format!("listing {}", directory.display()), error))?
        .peekable();
    if entries.peek().is_none() {
        return Ok(DirectoryState::MissingOrEmpty);
    }
    let ours = directory.join("meta.json").exists() || directory.join(".managed.json").exists();
    Ok(if ours { DirectoryState::LooksLikeIndex } else { DirectoryState::Foreign })
}

/// Empties `directory` (creating it if needed), after checking it holds
/// nothing but an index of ours.
fn reset_directory(directory: &Path) -> Result<()> {
    let looks_ours = directory.join(MARKER_FILE).exists();
    match directory_state(directory)? {
        DirectoryState::Foreign if !looks_ours => return Err(Error::ForeignDirectory { path: directory.to_owned() }),
        DirectoryState::MissingOrEmpty => {}
        _ => std::fs::remove_dir_all(directory)
            .map_err(|error| Error::io(format!("removing {}", directory.display()), error))?,
    }
    std::fs::create_dir_all(directory).map_err(|error| Error::io(format!("creating {}", directory.display()), error))
}

/// Writes the marker atomically (a new file renamed over the old one).
fn write_marker(directory: &Path, marker: &Marker) -> Result<()> {
    let path = directory.join(MARKER_FILE);
    let temporary = directory.join(format!("{MARKER_FILE}.tmp"));
    let json = serde_json::to_vec_pretty(marker).map_err(|error| Error::Config(error.to_string()))?;
    std::fs::write(&temporary, json).map_err(|error| Error::io(format!("writing {}", temporary.display()), error))?;
    std::fs::rename(&temporary, &path).map_err(|error| Error::io(format!("writing {}", path.display()), error))
}
