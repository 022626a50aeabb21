//! What the searches of one index snapshot work out once and share.
//!
//! - **Each query word's scores.** A search adds up, for every query word,
//!   the word's score in each document that has it: its per-field BM25 with
//!   the field's boost, combined across fields by dis-max or summed. That
//!   depends only on the word, the snapshot (document frequencies and
//!   lengths) and the field settings, so the first search that meets a word
//!   reads it from the postings and keeps it, one list per segment sorted by
//!   document; later searches add up the lists. The common words ("the",
//!   "my", "how"), in most queries and most documents, then cost a pass over
//!   a flat array instead of decoding up to four posting lists and scoring
//!   every entry.
//! - **Each long word's fuzzy matches**: the documents with a word one edit
//!   away in a field, which otherwise costs a walk of the field's dictionary
//!   and a union of the postings found.
//! - **Each document's key, title and snippet**, which would otherwise be
//!   read from the document store for every candidate.
//! - **The documents each search filter allows** (company, equipment model,
//!   kind, language, published), which would otherwise be checked with a
//!   query per search.
//!
//! The cache belongs to the newest snapshot searched (a searcher
//! generation): a commit starts it afresh, and a search with other field
//! boosts starts the word scores afresh. It holds [`CACHE_BYTES`] at most
//! and starts afresh beyond.

use std::sync::{Arc, PoisonError, RwLock};

use rustc_hash::FxHashMap;
use tantivy::postings::Postings;
use tantivy::query::{Bm25StatisticsProvider, Bm25Weight, EnableScoring, FuzzyTermQuery, Query};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{BitSet, DocAddress, DocId, DocSet, Score, Searcher, TERMINATED, Term};

use crate::document::DocKey;
use crate::search::SearchFilter;
use crate::{Error, Result};

/// The most the cache holds: about 64 MiB of lists, bit sets and text.
pub(crate) const CACHE_BYTES: usize = 64 << 20;

/// What an entry costs besides its value: its key and the map's own
/// bookkeeping, roughly.
const ENTRY_BYTES: usize = 64;

/// How a word's per-field scores become its score: the fields with their
/// boosts, and how they combine (see [`combine`]).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FieldScoring {
    pub fields: Vec<(Field, f32)>,
    pub tie_breaker: Option<f32>,
}

/// One word's scores in one segment.
pub(crate) struct SegmentScores {
    /// (document, score), by document; deleted documents included.
    pub postings: Vec<(DocId, Score)>,
}

/// One word's scores in every segment of the snapshot, in segment order.
pub(crate) struct WordScores {
    pub segments: Vec<SegmentScores>,
    /// How many documents have the word, in the scored field where most do.
    pub doc_freq: u64,
}

impl WordScores {
    fn bytes(&self) -> usize {
        self.segments.iter().map(|segment| size_of_val(segment.postings.as_slice())).sum()
    }
}

#[derive(Default)]
struct Snapshot {
    generation: u64,
    scoring: Option<FieldScoring>,
    words: FxHashMap<String, Option<Arc<WordScores>>>,
    fuzzy: FxHashMap<Field, FxHashMap<String, Arc<FuzzyMatches>>>,
    positions: FxHashMap<Field, FxHashMap<String, Option<Arc<WordPositions>>>>,
    field_tokens: FxHashMap<Field, u64>,
    documents: FxHashMap<DocAddress, Arc<DocSummary>>,
    filters: FxHashMap<SearchFilter, Arc<AllowedDocs>>,
    /// What the entries hold, roughly.
    bytes: usize,
}

/// Where a word is in one field: for each segment, the documents that have
/// it, in order, with its positions in each.
pub(crate) struct WordPositions {
    pub segments: Vec<SegmentPositions>,
    /// How many documents have the word in the field.
    pub doc_freq: u64,
}

#[derive(Default)]
pub(crate) struct SegmentPositions {
    docs: Vec<DocId>,
    /// Where each document's positions start in `positions`, and the end.
    starts: Vec<u32>,
    positions: Vec<u32>,
}

impl SegmentPositions {
    fn bytes(&self) -> usize {
        size_of_val(self.docs.as_slice()) + size_of_val(self.starts.as_slice()) + size_of_val(self.positions.as_slice())
    }

    /// The documents that have the word, in order.
    pub(crate) fn docs(&self) -> &[DocId] {
        &self.docs
    }

    /// The word's positions in the document at `index` of
    /// [`docs`](Self::docs), in order.
    pub(crate) fn positions(&self, index: usize) -> &[u32] {
        &self.positions[self.starts[index] as usize..self.starts[index + 1] as usize]
    }
}

/// What a match shows of a document.
pub(crate) struct DocSummary {
    pub key: DocKey,
    pub title: String,
    pub snippet: String,
}

/// For each segment, the documents a search may return: alive, and
/// matching its filter.
pub(crate) type AllowedDocs = Vec<BitSet>;

/// The documents of each segment, in order, with a word one edit (a
/// transposition counting as one) from a given word in a given field.
pub(crate) type FuzzyMatches = Vec<Vec<DocId>>;

/// See the [module](self) documentation.
#[derive(Default)]
pub(crate) struct SnapshotCache {
    snapshot: RwLock<Snapshot>,
}

impl SnapshotCache {
    /// `word`'s scores in `searcher`'s snapshot; `None` when no field of
    /// `scoring` has it.
    pub(crate) fn word(
        &self,
        searcher: &Searcher,
        scoring: &FieldScoring,
        word: &str,
    ) -> Result<Option<Arc<WordScores>>> {
        self.get_or_make(
            searcher,
            |snapshot| {
                (snapshot.scoring.as_ref() == Some(scoring)).then(|| snapshot.words.get(word).cloned()).flatten()
            },
            || Ok(read_word(searcher, scoring, word)?.map(Arc::new)),
            |scores| scores.as_ref().map_or(0, |scores| scores.bytes()),
            |snapshot, scores| {
                if snapshot.scoring.as_ref() != Some(scoring) {
                    let dropped: usize =
                        snapshot.words.drain().map(|(_, word)| word.map_or(0, |word| word.bytes()) + ENTRY_BYTES).sum();
                    snapshot.bytes -= dropped;
                    snapshot.scoring = Some(scoring.clone());
                }
                snapshot.words.insert(word.to_owned(), scores);
            },
        )
    }

    /// The documents with a word one edit from `word` in `field`.
    pub(crate) fn fuzzy(&self, searcher: &Searcher, field: Field, word: &str) -> Result<Arc<FuzzyMatches>> {
        self.get_or_make(
            searcher,
            |snapshot| snapshot.fuzzy.get(&field).and_then(|words| words.get(word)).cloned(),
            || {
                let query = FuzzyTermQuery::new(Term::from_field_text(field, word), 1, true);
                let weight = query.weight(EnableScoring::disabled_from_searcher(searcher))?;
                let mut matches = Vec::with_capacity(searcher.segment_readers().len());
                for reader in searcher.segment_readers() {
                    let mut docs = Vec::new();
                    weight.for_each_no_score(reader, &mut |found| docs.extend_from_slice(found))?;
                    matches.push(docs);
                }
                Ok(Arc::new(matches))
            },
            |matches| matches.iter().map(|docs| size_of_val(docs.as_slice())).sum(),
            |snapshot, matches| {
                snapshot.fuzzy.entry(field).or_default().insert(word.to_owned(), matches);
            },
        )
    }

    /// Where `word` is in `field` (a field indexed with positions); `None`
    /// when no document has it there.
    pub(crate) fn positions(
        &self,
        searcher: &Searcher,
        field: Field,
        word: &str,
    ) -> Result<Option<Arc<WordPositions>>> {
        self.get_or_make(
            searcher,
            |snapshot| snapshot.positions.get(&field).and_then(|words| words.get(word)).cloned(),
            || Ok(read_positions(searcher, field, word)?.map(Arc::new)),
            |found| found.as_ref().map_or(0, |found| found.segments.iter().map(SegmentPositions::bytes).sum()),
            |snapshot, found| {
                snapshot.positions.entry(field).or_default().insert(word.to_owned(), found);
            },
        )
    }

    /// How many tokens `field` has in all documents.
    pub(crate) fn field_tokens(&self, searcher: &Searcher, field: Field) -> Result<u64> {
        self.get_or_make(
            searcher,
            |snapshot| snapshot.field_tokens.get(&field).copied(),
            || Ok(searcher.total_num_tokens(field)?),
            |_| 0,
            |snapshot, tokens| {
                snapshot.field_tokens.insert(field, tokens);
            },
        )
    }

    /// The summary of the document at `address`, made with `read` the
    /// first time.
    pub(crate) fn document(
        &self,
        searcher: &Searcher,
        address: DocAddress,
        read: impl FnOnce() -> Result<DocSummary>,
    ) -> Result<Arc<DocSummary>> {
        self.get_or_make(
            searcher,
            |snapshot| snapshot.documents.get(&address).cloned(),
            || Ok(Arc::new(read()?)),
            |summary| summary.title.len() + summary.snippet.len() + summary.key.id.len(),
            |snapshot, summary| {
                snapshot.documents.insert(address, summary);
            },
        )
    }

    /// The documents `filter` allows; `query` is its query (`None`: every
    /// document), made the first time.
    pub(crate) fn allowed(
        &self,
        searcher: &Searcher,
        filter: &SearchFilter,
        query: impl FnOnce() -> Option<Box<dyn Query>>,
    ) -> Result<Arc<AllowedDocs>> {
        self.get_or_make(
            searcher,
            |snapshot| snapshot.filters.get(filter).cloned(),
            || Ok(Arc::new(allowed_docs(searcher, query())?)),
            |allowed| allowed.iter().map(|docs| docs.max_value() as usize / 8).sum(),
            |snapshot, allowed| {
                snapshot.filters.insert(filter.clone(), allowed);
            },
        )
    }

    /// What `find` finds in the cache of `searcher`'s snapshot; else what
    /// `make` makes, kept with `insert` (`bytes` says roughly how much it
    /// holds, besides [`ENTRY_BYTES`]).
    fn get_or_make<T: Clone>(
        &self,
        searcher: &Searcher,
        find: impl FnOnce(&Snapshot) -> Option<T>,
        make: impl FnOnce() -> Result<T>,
        bytes: impl FnOnce(&T) -> usize,
        insert: impl FnOnce(&mut Snapshot, T),
    ) -> Result<T> {
        let generation = searcher.generation().generation_id();
        {
            let snapshot = self.read();
            if snapshot.generation == generation
                && let Some(found) = find(&snapshot)
            {
                return Ok(found);
            }
        }
        let made = make()?;
        let bytes = bytes(&made) + ENTRY_BYTES;
        let mut snapshot = self.snapshot.write().unwrap_or_else(PoisonError::into_inner);
        // Generations only grow: a search of an older snapshot leaves the
        // newer one's alone.
        if generation < snapshot.generation {
            return Ok(made);
        }
        if generation > snapshot.generation || snapshot.bytes + bytes > CACHE_BYTES {
            *snapshot = Snapshot { generation, ..Snapshot::default() };
        }
        snapshot.bytes += bytes;
        insert(&mut snapshot, made.clone());
        Ok(made)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Snapshot> {
        self.snapshot.read().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The documents of each segment that are alive and match `filter` (all
/// alive ones without a filter).
fn allowed_docs(searcher: &Searcher, filter: Option<Box<dyn Query>>) -> Result<AllowedDocs> {
    let weight = filter.map(|query| query.weight(EnableScoring::disabled_from_searcher(searcher))).transpose()?;
    let mut allowed = Vec::with_capacity(searcher.segment_readers().len());
    for reader in searcher.segment_readers() {
        let mut docs = BitSet::with_max_value(reader.max_doc());
        let alive = reader.alive_bitset();
        let mut insert = |doc: DocId| {
            if alive.is_none_or(|alive| alive.is_alive(doc)) {
                docs.insert(doc);
            }
        };
        match &weight {
            Some(weight) => {
                weight.for_each_no_score(reader, &mut |found| found.iter().copied().for_each(&mut insert))?
            }
            None => (0..reader.max_doc()).for_each(insert),
        }
        allowed.push(docs);
    }
    Ok(allowed)
}

/// Reads `word`'s postings in the fields of `scoring` and scores them the
/// way tantivy's term queries would (same [`Bm25Weight`], same field norms).
fn read_word(searcher: &Searcher, scoring: &FieldScoring, word: &str) -> Result<Option<WordScores>> {
    let mut weights = Vec::with_capacity(scoring.fields.len());
    let mut most = 0;
    for (field, boost) in &scoring.fields {
        let term = Term::from_field_text(*field, word);
        let doc_freq = searcher.doc_freq(&term)?;
        if doc_freq == 0 {
            continue;
        }
        most = most.max(doc_freq);
        let weight = Bm25Weight::for_terms(searcher, std::slice::from_ref(&term))?.boost_by(*boost);
        weights.push((*field, term, weight));
    }
    if weights.is_empty() {
        return Ok(None);
    }
    let mut segments = Vec::with_capacity(searcher.segment_readers().len());
    // (document, score) in each field, the fields in turn.
    let mut found: Vec<(DocId, Score)> = Vec::new();
    for reader in searcher.segment_readers() {
        found.clear();
        for (field, term, weight) in &weights {
            let postings = reader
                .inverted_index(*field)?
                .read_postings(term, IndexRecordOption::WithFreqs)
                .map_err(|error| Error::io("reading postings", error))?;
            let Some(mut postings) = postings else { continue };
            let norms = reader.get_fieldnorms_reader(*field)?;
            let mut doc = postings.doc();
            while doc != TERMINATED {
                found.push((doc, weight.score(norms.fieldnorm_id(doc), postings.term_freq())));
                doc = postings.advance();
            }
        }
        // Each field's postings are in document order: a stable sort by
        // document keeps a document's fields in field order.
        found.sort_by_key(|(doc, _)| *doc);
        let mut segment = SegmentScores { postings: Vec::with_capacity(found.len()) };
        let mut field_scores: Vec<Score> = Vec::with_capacity(weights.len());
        for same_doc in found.chunk_by(|left, right| left.0 == right.0) {
            field_scores.clear();
            field_scores.extend(same_doc.iter().map(|(_, score)| *score));
            let score = combine(&field_scores, scoring.tie_breaker);
            segment.postings.push((same_doc[0].0, score));
        }
        segments.push(segment);
    }
    Ok(Some(WordScores { segments, doc_freq: most }))
}

fn read_positions(searcher: &Searcher, field: Field, word: &str) -> Result<Option<WordPositions>> {
    let term = Term::from_field_text(field, word);
    let doc_freq = searcher.doc_freq(&term)?;
    if doc_freq == 0 {
        return Ok(None);
    }
    let mut segments = Vec::with_capacity(searcher.segment_readers().len());
    let mut buffer = Vec::new();
    for reader in searcher.segment_readers() {
        let mut segment = SegmentPositions { starts: vec![0], ..SegmentPositions::default() };
        let postings = reader
            .inverted_index(field)?
            .read_postings(&term, IndexRecordOption::WithFreqsAndPositions)
            .map_err(|error| Error::io("reading postings", error))?;
        if let Some(mut postings) = postings {
            let mut doc = postings.doc();
            while doc != TERMINATED {
                postings.positions(&mut buffer);
                segment.docs.push(doc);
                segment.positions.extend_from_slice(&buffer);
                segment.starts.push(segment.positions.len() as u32);
                doc = postings.advance();
            }
        }
        segments.push(segment);
    }
    Ok(Some(WordPositions { segments, doc_freq }))
}

/// One word's field scores (or bounds) combined the way its fields combine:
/// summed, or the best one plus `tie_breaker` times the others.
pub(crate) fn combine(values: &[Score], tie_breaker: Option<f32>) -> Score {
    let sum: Score = values.iter().sum();
    match tie_breaker {
        Some(tie_breaker) => {
            let max = values.iter().copied().fold(0.0, Score::max);
            max + (sum - max) * tie_breaker
        }
        None => sum,
    }
}
