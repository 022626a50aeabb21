//! The first stage of matching: the BM25 candidates, scored from the
//! snapshot's cached word scores.
//!
//! The scores are the ones tantivy gives the equivalent query (each query
//! word's per-field BM25 with the field's boost, combined across fields by
//! dis-max or summed, summed over the words, plus the phrase and fuzzy
//! bonuses), computed with tantivy's own [`Bm25Weight`](tantivy::query::Bm25Weight)
//! and field norms (see [`cache`](crate::cache)). What differs is the order of the work:
//!
//! 1. Every query word's scores are added up per document from the cached
//!    lists, into one score per document of the segment: exact.
//! 2. Only the best [`BONUS_POOL`] (or four times the candidates asked for)
//!    of the documents the filter allows get the bigram phrase and fuzzy
//!    bonuses, looked up in the cached positions of the phrase words and
//!    the cached fuzzy matches.
//!
//! So a document outside the pool that phrases or fuzzy matches alone would
//! have lifted into the candidates is missed; with bonuses a tenth or less
//! of a word's score, that takes a query whose words match hardly anything.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use tantivy::query::{Bm25StatisticsProvider, Bm25Weight};
use tantivy::schema::Field;
use tantivy::{BitSet, DocAddress, DocId, Score, Searcher, Term};

use crate::Result;
use crate::cache::{AllowedDocs, FuzzyMatches, SnapshotCache, WordPositions, WordScores};

/// At least this many of the best documents by word score get the phrase
/// and fuzzy bonuses.
pub(crate) const BONUS_POOL: usize = 100;

/// A pair of query words to find next to each other in a field: `second`
/// `gap` positions after `first`, give or take `slop`, scored as tantivy
/// scores the boosted [`PhraseQuery`](tantivy::query::PhraseQuery).
pub(crate) struct Phrase {
    pub field: Field,
    pub first: String,
    pub second: String,
    pub gap: u32,
    pub slop: u32,
    pub boost: f32,
}

/// What a document in the bonus pool may get besides its words' scores.
#[derive(Default)]
pub(crate) struct Bonuses {
    pub phrases: Vec<Phrase>,
    /// (field, word, boost): `boost` when the field has a word one edit
    /// (a transposition counting as one) from `word`, as tantivy scores a
    /// boosted [`FuzzyTermQuery`](tantivy::query::FuzzyTermQuery).
    pub fuzzy: Vec<(Field, String, f32)>,
}

/// What the first stage scores: the words and the bonuses, among the
/// documents allowed.
pub(crate) struct FirstStage {
    words: Vec<Arc<WordScores>>,
    phrases: Vec<PhraseScorer>,
    fuzzy: Vec<(Arc<FuzzyMatches>, f32)>,
    allowed: Arc<AllowedDocs>,
}

impl FirstStage {
    /// `words`: the query words' scores (from `cache`, like the fuzzy
    /// matches); `allowed`: the documents that may be returned.
    pub(crate) fn new(
        searcher: &Searcher,
        cache: &SnapshotCache,
        words: Vec<Arc<WordScores>>,
        bonuses: &Bonuses,
        allowed: Arc<AllowedDocs>,
    ) -> Result<Self> {
        // Deleted documents included, as tantivy counts them.
        let documents = searcher.total_num_docs()?;
        let mut phrases = Vec::with_capacity(bonuses.phrases.len());
        for phrase in &bonuses.phrases {
            let (Some(first), Some(second)) = (
                cache.positions(searcher, phrase.field, &phrase.first)?,
                cache.positions(searcher, phrase.field, &phrase.second)?,
            ) else {
                continue;
            };
            let statistics = PhraseStatistics {
                documents,
                field_tokens: cache.field_tokens(searcher, phrase.field)?,
                terms: [(&phrase.first, first.doc_freq), (&phrase.second, second.doc_freq)]
                    .map(|(word, doc_freq)| (Term::from_field_text(phrase.field, word), doc_freq)),
            };
            let terms = statistics.terms.clone().map(|(term, _)| term);
            let weight = Bm25Weight::for_terms(&statistics, &terms)?.boost_by(phrase.boost);
            phrases.push(PhraseScorer {
                field: phrase.field,
                first,
                second,
                gap: phrase.gap,
                slop: phrase.slop,
                weight,
            });
        }
        let fuzzy = bonuses
            .fuzzy
            .iter()
            .map(|(field, word, boost)| Ok((cache.fuzzy(searcher, *field, word)?, *boost)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { words, phrases, fuzzy, allowed })
    }

    /// The best `limit` documents with their scores, best first (ties: the
    /// earlier document first). Empty when no word is in the index.
    pub(crate) fn top(&self, searcher: &Searcher, limit: usize) -> Result<Vec<(Score, DocAddress)>> {
        self.top_with_pool(searcher, limit, limit.saturating_mul(4).max(BONUS_POOL))
    }

    /// [`top`](Self::top) with the pool named: the words' best `pool`
    /// documents of each segment (at least `limit`) are the only ones the
    /// phrase and fuzzy bonuses score.
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
        let mut scores: Vec<Score> = Vec::new();
        for (segment, reader) in searcher.segment_readers().iter().enumerate() {
            scores.clear();
            scores.resize(reader.max_doc() as usize, 0.0);
            for word in &self.words {
                for (doc, score) in &word.segments[segment].postings {
                    scores[*doc as usize] += score;
                }
            }
            let mut found = best_allowed(&scores, &self.allowed[segment], pool);
            for (matches, boost) in &self.fuzzy {
                let mut matches = Seeker::new(&matches[segment]);
                for (score, doc) in &mut found {
                    if matches.seek(*doc).is_some() {
                        *score += boost;
                    }
                }
            }
            for phrase in &self.phrases {
                let norms = reader.get_fieldnorms_reader(phrase.field)?;
                let (first, second) = (&phrase.first.segments[segment], &phrase.second.segments[segment]);
                let (mut first_docs, mut second_docs) = (Seeker::new(first.docs()), Seeker::new(second.docs()));
                for (score, doc) in &mut found {
                    let Some(in_first) = first_docs.seek(*doc) else { continue };
                    let Some(in_second) = second_docs.seek(*doc) else { continue };
                    let count =
                        phrase_count(first.positions(in_first), second.positions(in_second), phrase.gap, phrase.slop);
                    if count > 0 {
                        *score += phrase.weight.score(norms.fieldnorm_id(*doc), count);
                    }
                }
            }
            best.extend(found.into_iter().map(|(score, doc)| (score, DocAddress::new(segment as u32, doc))));
        }
        best.sort_unstable_by(|left, right| right.0.total_cmp(&left.0).then_with(|| left.1.cmp(&right.1)));
        best.truncate(limit);
        Ok(best)
    }
}

/// The statistics BM25 weighs a phrase with, from the snapshot's cache:
/// what the searcher would count.
struct PhraseStatistics {
    /// Deleted documents included, as tantivy counts them.
    documents: u64,
    field_tokens: u64,
    /// The phrase's terms with their document frequencies.
    terms: [(Term, u64); 2],
}

impl Bm25StatisticsProvider for PhraseStatistics {
    fn total_num_tokens(&self, _field: Field) -> tantivy::Result<u64> {
        Ok(self.field_tokens)
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        Ok(self.documents)
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        Ok(self.terms.iter().find(|(known, _)| known == term).map_or(0, |(_, doc_freq)| *doc_freq))
    }
}

/// Looks documents up in a list in document order, for documents asked
/// for in document order: each search starts where the last one ended and
/// gallops (probes 1, 2, 4, … ahead) before a binary search.
struct Seeker<'a> {
    docs: &'a [DocId],
    at: usize,
}

impl<'a> Seeker<'a> {
    fn new(docs: &'a [DocId]) -> Self {
        Self { docs, at: 0 }
    }

    /// Where `doc` is in the list, if it is; `doc` is at least the last
    /// one sought.
    fn seek(&mut self, doc: DocId) -> Option<usize> {
        let rest = &self.docs[self.at..];
        let mut ahead = 1;
        while ahead < rest.len() && rest[ahead] < doc {
            ahead *= 2;
        }
        let from = ahead / 2;
        let to = (ahead + 1).min(rest.len());
        self.at += from + rest[from..to].partition_point(|at| *at < doc);
        (self.docs.get(self.at) == Some(&doc)).then_some(self.at)
    }
}

/// A [`Phrase`] ready to score: where its words are, and its weight.
struct PhraseScorer {
    field: Field,
    first: Arc<WordPositions>,
    second: Arc<WordPositions>,
    gap: u32,
    slop: u32,
    weight: Bm25Weight,
}

/// How many times a document has the phrase, given its words' positions
/// (each in order): as tantivy counts, each position of `second` matches
/// at most one of `first`, the closest one before or at it within `slop`
/// of `gap` after.
fn phrase_count(first: &[u32], second: &[u32], gap: u32, slop: u32) -> u32 {
    let (mut left, mut right, mut count) = (0, 0, 0);
    while left < first.len() && right < second.len() {
        let (wanted, at) = (first[left] + gap, second[right]);
        if wanted.abs_diff(at) <= slop {
            // A later position of `first` that still comes at or before
            // `at` is closer.
            while first.get(left + 1).is_some_and(|next| next + gap <= at) {
                left += 1;
            }
            count += 1;
            left += 1;
            right += 1;
        } else if wanted < at {
            left += 1;
        } else {
            right += 1;
        }
    }
    count
}

/// The `count` best documents with a score (above 0) that `allowed` has,
/// by score then the earlier document, in document order.
fn best_allowed(scores: &[Score], allowed: &BitSet, count: usize) -> Vec<(Score, DocId)> {
    // Scores are looked at a block at a time: a block whose best is no
    // better than the worst kept is skipped whole.
    const BLOCK: usize = 32;
    // A min-heap of the best so far, its root the worst of them. Scores
    // above 0 order as their bit patterns do; a later document is worse.
    let mut best: BinaryHeap<Reverse<(u32, Reverse<DocId>)>> = BinaryHeap::with_capacity(count + 1);
    let mut worst = 0.0;
    for (block, block_scores) in scores.chunks(BLOCK).enumerate() {
        // Written so that it compiles to vector instructions.
        let block_best = block_scores.iter().fold(0.0, |max: Score, score| if *score > max { *score } else { max });
        if block_best <= worst {
            continue;
        }
        for (offset, score) in block_scores.iter().enumerate() {
            let doc = (block * BLOCK + offset) as DocId;
            if *score <= worst || !allowed.contains(doc) {
                continue;
            }
            best.push(Reverse((score.to_bits(), Reverse(doc))));
            if best.len() > count {
                best.pop();
            }
            if best.len() == count {
                worst = best.peek().map_or(0.0, |Reverse((bits, _))| Score::from_bits(*bits));
            }
        }
    }
    let mut found: Vec<(Score, DocId)> =
        best.into_iter().map(|Reverse((bits, Reverse(doc)))| (Score::from_bits(bits), doc)).collect();
    found.sort_unstable_by_key(|(_, doc)| *doc);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeker_finds_what_a_binary_search_finds() {
        let lists: [Vec<DocId>; 4] =
            [vec![], vec![7], (0..200).map(|doc| doc * 3).collect(), vec![1, 2, 3, 50, 51, 52, 900, 1000, 1001]];
        for list in &lists {
            for stride in [1, 2, 5, 40] {
                let mut seeker = Seeker::new(list);
                for doc in (0..1100).step_by(stride) {
                    assert_eq!(seeker.seek(doc), list.binary_search(&doc).ok(), "{doc} in {list:?}");
                }
            }
        }
    }

    #[test]
    fn phrases_are_counted_once_per_position_of_the_second_word() {
        // "a b" with a gap of 1.
        assert_eq!(phrase_count(&[0, 5], &[1, 6, 9], 1, 0), 2);
        assert_eq!(phrase_count(&[0, 5], &[2, 7], 1, 0), 0);
        // With a slop of 1, the closest earlier "a" takes each "b".
        assert_eq!(phrase_count(&[0, 1], &[2], 1, 1), 1);
        assert_eq!(phrase_count(&[0, 4], &[2, 3], 1, 1), 1);
        // Out of order within the slop counts too.
        assert_eq!(phrase_count(&[3], &[3], 1, 1), 1);
    }
}
