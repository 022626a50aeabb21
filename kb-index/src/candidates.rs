//! The first stage of matching: the BM25 candidates, scored straight from
//! the postings.
//!
//! The scores are the ones tantivy gives the equivalent query (each query
//! word's per-field BM25 with the field's boost, combined across fields by
//! dis-max or summed, summed over the words, plus the phrase and fuzzy
//! bonuses), computed with tantivy's own [`Bm25Weight`] and field norms.
//! What differs is the order of the work:
//!
//! 1. The words are taken rarest first (by the most they can add to a
//!    document's score), each word's postings in each field read into a
//!    per-document accumulator. Once the words still to come cannot add up
//!    to the score of the pool's last document (the pool: the best
//!    [`BONUS_POOL`] or four times the candidates asked for, among the
//!    documents the filter allows), no document they alone could lift can
//!    enter it, and the common words ("the", "my", "how") are only looked
//!    up for the documents that still can, by seeking their postings
//!    instead of reading all of them (the "max score" strategy).
//! 2. Only the pool is checked for the bigram phrases and fuzzy matches,
//!    whose bonuses are small, by seeking those clauses' scorers to it.
//!
//! So a document outside the pool that phrases or fuzzy matches alone would
//! have lifted into the candidates is missed; with bonuses a tenth or less
//! of a word's score, that takes a query whose words match hardly anything.
//! Step 1 is exact.

use tantivy::postings::{Postings, SegmentPostings};
use tantivy::query::{Bm25Weight, EnableScoring, Query, Weight};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocAddress, DocId, DocSet, Score, Searcher, SegmentReader, TERMINATED, Term};

use crate::{Error, Result};

/// At least this many of the best documents by word score get the phrase
/// and fuzzy bonuses.
pub(crate) const BONUS_POOL: usize = 100;

/// One query word in one field, with its BM25 weight (boost included).
struct WordField {
    field: Field,
    term: Term,
    weight: Bm25Weight,
}

/// One query word in the fields that have it, and the most it can add to a
/// document's score.
struct Word {
    fields: Vec<WordField>,
    bound: Score,
}

/// What the first stage scores: the words, how their fields combine, and
/// the bonus clauses.
pub(crate) struct FirstStage {
    /// Rarest (highest bound) first.
    words: Vec<Word>,
    tie_breaker: Option<f32>,
    bonuses: Vec<Box<dyn Weight>>,
    filter: Option<Box<dyn Weight>>,
}

impl FirstStage {
    /// `words`: the distinct query words; `fields`: each text field with its
    /// boost; `bonuses`: the phrase and fuzzy clauses, boosts applied;
    /// `filter`: what a document must match (scored 0).
    pub(crate) fn new(
        searcher: &Searcher,
        words: &[&str],
        fields: &[(Field, f32)],
        tie_breaker: Option<f32>,
        bonuses: &[Box<dyn Query>],
        filter: Option<&dyn Query>,
    ) -> Result<Self> {
        let mut scored = Vec::with_capacity(words.len());
        for word in words {
            let mut in_fields = Vec::with_capacity(fields.len());
            for (field, boost) in fields {
                let term = Term::from_field_text(*field, word);
                if searcher.doc_freq(&term)? == 0 {
                    continue;
                }
                let weight = Bm25Weight::for_terms(searcher, std::slice::from_ref(&term))?.boost_by(*boost);
                in_fields.push(WordField { field: *field, term, weight });
            }
            if in_fields.is_empty() {
                continue;
            }
            let bounds: Vec<Score> = in_fields.iter().map(|word_field| word_field.weight.max_score()).collect();
            let bound = combine(&bounds, tie_breaker);
            scored.push(Word { fields: in_fields, bound });
        }
        scored.sort_by(|left, right| right.bound.total_cmp(&left.bound));
        let scoring = EnableScoring::enabled_from_searcher(searcher);
        let bonuses = bonuses.iter().map(|query| query.weight(scoring)).collect::<tantivy::Result<Vec<_>>>()?;
        let filter = filter.map(|query| query.weight(EnableScoring::disabled_from_searcher(searcher))).transpose()?;
        Ok(Self { words: scored, tie_breaker, bonuses, filter })
    }

    /// The best `limit` documents with their scores, best first (ties: the
    /// earlier document first). Empty when no word is in the index.
    pub(crate) fn top(&self, searcher: &Searcher, limit: usize) -> Result<Vec<(Score, DocAddress)>> {
        self.top_with_pool(searcher, limit, limit.saturating_mul(4).max(BONUS_POOL))
    }

    /// [`top`](Self::top) with the pool named: the words' best `pool`
    /// documents of each segment (at least `limit`) are the only ones the
    /// phrase and fuzzy bonuses score; the tests set it small to walk the
    /// pruned path.
    pub(crate) fn top_with_pool(
        &self,
        searcher: &Searcher,
        limit: usize,
        pool: usize,
    ) -> Result<Vec<(Score, DocAddress)>> {
        if self.words.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let pool = pool.max(limit);
        let mut best: Vec<(Score, DocAddress)> = Vec::new();
        let mut scratch = Scratch::default();
        for (segment_ord, reader) in searcher.segment_readers().iter().enumerate() {
            let segment_ord = segment_ord as u32;
            let mut found = self.word_scores(reader, &mut scratch, pool)?;
            found.retain(|(_, doc)| scratch.allowed[*doc as usize] == Verdict::Allowed);
            keep_best(&mut found, pool);
            found.sort_unstable_by_key(|(_, doc)| *doc);
            for bonus in &self.bonuses {
                let mut scorer = bonus.scorer(reader, 1.0)?;
                for (score, doc) in &mut found {
                    let at = if scorer.doc() < *doc { scorer.seek(*doc) } else { scorer.doc() };
                    if at == TERMINATED {
                        break;
                    }
                    if at == *doc {
                        *score += scorer.score();
                    }
                }
            }
            best.extend(found.into_iter().map(|(score, doc)| (score, DocAddress::new(segment_ord, doc))));
        }
        best.sort_unstable_by(|left, right| right.0.total_cmp(&left.0).then_with(|| left.1.cmp(&right.1)));
        best.truncate(limit);
        Ok(best)
    }

    /// The segment's documents that have a query word and may still be
    /// among the `pool` best the filter allows, with their word scores, in
    /// document order; `scratch.allowed` says which the filter allows.
    fn word_scores(&self, reader: &SegmentReader, scratch: &mut Scratch, pool: usize) -> Result<Vec<(Score, DocId)>> {
        scratch.reset(reader.max_doc() as usize);
        for (index, word) in self.words.iter().enumerate() {
            self.add_every_posting(reader, word, scratch)?;
            let rest = &self.words[index + 1..];
            if rest.is_empty() {
                break;
            }
            let remaining: Score = rest.iter().map(|word| word.bound).sum();
            if remaining >= scratch.best {
                // The pool's last score is no higher than the best one.
                continue;
            }
            let Some(threshold) = self.pool_threshold(reader, scratch, pool)? else { continue };
            if remaining >= threshold {
                continue;
            }
            // No document the rest alone finds can enter the pool: look the
            // rest up only for those that still can.
            let mut survivors: Vec<DocId> = scratch
                .touched
                .iter()
                .copied()
                .filter(|doc| {
                    let at = *doc as usize;
                    scratch.allowed[at] != Verdict::Refused && scratch.score[at] + remaining >= threshold
                })
                .collect();
            survivors.sort_unstable();
            self.check_filter(reader, &survivors, &mut scratch.allowed)?;
            for word in rest {
                self.add_for(reader, word, &survivors, scratch)?;
            }
            return Ok(survivors.into_iter().map(|doc| (scratch.score[doc as usize], doc)).collect());
        }
        let mut found: Vec<DocId> = scratch.touched.clone();
        found.sort_unstable();
        self.check_filter(reader, &found, &mut scratch.allowed)?;
        Ok(found.into_iter().map(|doc| (scratch.score[doc as usize], doc)).collect())
    }

    /// Adds `word`'s score to every document that has it.
    fn add_every_posting(&self, reader: &SegmentReader, word: &Word, scratch: &mut Scratch) -> Result<()> {
        for WordField { field, term, weight } in &word.fields {
            let Some(mut postings) = postings(reader, *field, term)? else { continue };
            let norms = reader.get_fieldnorms_reader(*field)?;
            let mut doc = postings.doc();
            while doc != TERMINATED {
                let value = weight.score(norms.fieldnorm_id(doc), postings.term_freq());
                scratch.add_field_score(doc, value);
                doc = postings.advance();
            }
        }
        self.fold_word(scratch);
        Ok(())
    }

    /// Adds `word`'s score to the documents of `docs` (in order) that have it.
    fn add_for(&self, reader: &SegmentReader, word: &Word, docs: &[DocId], scratch: &mut Scratch) -> Result<()> {
        for WordField { field, term, weight } in &word.fields {
            let Some(mut postings) = postings(reader, *field, term)? else { continue };
            let norms = reader.get_fieldnorms_reader(*field)?;
            for doc in docs {
                let at = if postings.doc() < *doc { postings.seek(*doc) } else { postings.doc() };
                if at == TERMINATED {
                    break;
                }
                if at == *doc {
                    scratch.add_field_score(*doc, weight.score(norms.fieldnorm_id(*doc), postings.term_freq()));
                }
            }
        }
        self.fold_word(scratch);
        Ok(())
    }

    /// Combines the word's field scores into the documents' scores.
    fn fold_word(&self, scratch: &mut Scratch) {
        let Scratch { score, word_max, word_sum, word_docs, touched, best, .. } = scratch;
        for doc in word_docs.drain(..) {
            let at = doc as usize;
            let (max, sum) = (word_max[at], word_sum[at]);
            let combined = match self.tie_breaker {
                Some(tie_breaker) => max + (sum - max) * tie_breaker,
                None => sum,
            };
            if score[at] == 0.0 {
                touched.push(doc);
            }
            score[at] += combined;
            *best = best.max(score[at]);
            word_max[at] = 0.0;
            word_sum[at] = 0.0;
        }
    }

    /// The word score of the `pool`-th best document the filter allows so
    /// far, if there are that many: a lower bound of the pool's last final
    /// score, since scores only grow.
    fn pool_threshold(&self, reader: &SegmentReader, scratch: &mut Scratch, pool: usize) -> Result<Option<Score>> {
        if scratch.touched.len() < pool {
            return Ok(None);
        }
        // The best twice the pool (by score, then document) are checked
        // against the filter; if the pool is not full among them it is
        // not known yet.
        let mut ranked: Vec<(Score, DocId)> =
            scratch.touched.iter().map(|doc| (scratch.score[*doc as usize], *doc)).collect();
        keep_best(&mut ranked, pool.saturating_mul(2));
        let mut docs: Vec<DocId> = ranked.iter().map(|(_, doc)| *doc).collect();
        docs.sort_unstable();
        self.check_filter(reader, &docs, &mut scratch.allowed)?;
        let mut allowed: Vec<Score> = ranked
            .iter()
            .filter(|(_, doc)| scratch.allowed[*doc as usize] == Verdict::Allowed)
            .map(|(score, _)| *score)
            .collect();
        if allowed.len() < pool {
            return Ok(None);
        }
        let (_, threshold, _) = allowed.select_nth_unstable_by(pool - 1, |left, right| right.total_cmp(left));
        Ok(Some(*threshold))
    }

    /// Records in `allowed` whether each of `docs` (in order) is alive and
    /// matches the filter, where not known yet.
    fn check_filter(&self, reader: &SegmentReader, docs: &[DocId], allowed: &mut [Verdict]) -> Result<()> {
        let unknown: Vec<DocId> =
            docs.iter().copied().filter(|doc| allowed[*doc as usize] == Verdict::Unknown).collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let mut scorer = self.filter.as_ref().map(|filter| filter.scorer(reader, 1.0)).transpose()?;
        let alive = reader.alive_bitset();
        for doc in unknown {
            let passes = alive.is_none_or(|alive| alive.is_alive(doc))
                && scorer.as_mut().is_none_or(|scorer| {
                    let at = if scorer.doc() < doc { scorer.seek(doc) } else { scorer.doc() };
                    at == doc
                });
            allowed[doc as usize] = if passes { Verdict::Allowed } else { Verdict::Refused };
        }
        Ok(())
    }
}

/// One word's field scores (or bounds) combined the way its fields combine.
fn combine(values: &[Score], tie_breaker: Option<f32>) -> Score {
    let sum: Score = values.iter().sum();
    match tie_breaker {
        Some(tie_breaker) => {
            let max = values.iter().copied().fold(0.0, Score::max);
            max + (sum - max) * tie_breaker
        }
        None => sum,
    }
}

fn postings(reader: &SegmentReader, field: Field, term: &Term) -> Result<Option<SegmentPostings>> {
    reader
        .inverted_index(field)?
        .read_postings(term, IndexRecordOption::WithFreqs)
        .map_err(|error| Error::io("reading postings", error))
}

/// Keeps the `count` best of `found` (by score, then the earlier document).
fn keep_best(found: &mut Vec<(Score, DocId)>, count: usize) {
    let order = |left: &(Score, DocId), right: &(Score, DocId)| right.0.total_cmp(&left.0).then(left.1.cmp(&right.1));
    if found.len() > count {
        found.select_nth_unstable_by(count, order);
        found.truncate(count);
    }
}

/// Whether a document is alive and matches the filter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Verdict {
    #[default]
    Unknown,
    Allowed,
    Refused,
}

/// Per-document accumulators, reused across a search's segments.
#[derive(Default)]
struct Scratch {
    score: Vec<Score>,
    word_max: Vec<Score>,
    word_sum: Vec<Score>,
    /// The documents the current word was found in.
    word_docs: Vec<DocId>,
    /// The documents with a score.
    touched: Vec<DocId>,
    /// The highest score so far.
    best: Score,
    allowed: Vec<Verdict>,
}

impl Scratch {
    fn reset(&mut self, documents: usize) {
        for values in [&mut self.score, &mut self.word_max, &mut self.word_sum] {
            values.clear();
            values.resize(documents, 0.0);
        }
        self.allowed.clear();
        self.allowed.resize(documents, Verdict::Unknown);
        self.word_docs.clear();
        self.touched.clear();
        self.best = 0.0;
    }

    fn add_field_score(&mut self, doc: DocId, value: Score) {
        let at = doc as usize;
        if self.word_sum[at] == 0.0 {
            self.word_docs.push(doc);
        }
        self.word_max[at] = self.word_max[at].max(value);
        self.word_sum[at] += value;
    }
}
