//! Matching a ticket's text against the knowledge base.
//!
//! Two steps. BM25 (tantivy) over the question, answer, tags and phrasing
//! fields, each with its own boost, optionally with bigram phrase boosts and
//! fuzzy terms, finds candidates. Then a character n-gram TF-IDF cosine to
//! each candidate's question side is blended in, and a calibrated logistic
//! model turns the evidence, with how much of the query's weighted words each
//! match contains, into a confidence.

use std::collections::HashSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use switchboard_core::events::UrgencySource;
use switchboard_core::{Ticket, Urgency};
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocAddress, Searcher, Term};

use crate::Result;
use crate::analysis::{AnalyzedToken, analyze};
use crate::cache::{DocSummary, FieldScoring, WordScores};
use crate::candidates::{Bonuses, FirstStage, Phrase};
use crate::confidence::{Calibration, MatchFeatures};
use crate::document::{DocKey, DocKind};
use crate::index::{ANY_VALUE, KnowledgeBase, normalise_keyword};

/// Query text beyond this many bytes is ignored: a ticket's first few
/// kilobytes say what it is about, and long queries cost time.
pub const MAX_QUERY_BYTES: usize = 8 * 1024;

/// Characters of answer text kept in a match's snippet.
pub const SNIPPET_CHARS: usize = 300;

/// Every knob of matching. The defaults are the tuned values (see the crate
/// documentation for how they were chosen); [`SearchConfig::plain`] is the
/// BM25 baseline they are compared against.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchConfig {
    pub question_boost: f32,
    pub answer_boost: f32,
    pub tags_boost: f32,
    pub phrasing_boost: f32,
    /// `None`: a term's scores in the different fields add up. `Some(t)`:
    /// the best field counts fully and the others with factor `t`.
    pub field_tie_breaker: Option<f32>,
    /// Boost of a phrase query for each pair of neighbouring query words in
    /// the question and phrasing fields (0 disables).
    pub bigram_boost: f32,
    /// Extra positions allowed between the two words of a bigram.
    pub bigram_slop: u32,
    /// Boost of a fuzzy (one edit) match of each long query word in the
    /// question and phrasing fields (0 disables). Tantivy scores fuzzy
    /// matches as a constant, so this is a flat bonus per matched word.
    pub fuzzy_boost: f32,
    pub fuzzy_min_chars: usize,
    /// How many BM25 candidates are re-ranked.
    pub candidates: usize,
    /// Weight of the n-gram cosine to the centroid of the question side.
    pub ngram_whole_weight: f32,
    /// Weight of the n-gram cosine to the closest question or phrasing.
    pub ngram_part_weight: f32,
    /// The "closest phrasing" similarity averages this many closest ones.
    pub ngram_top_parts: usize,
    /// Weight of the embedding cosine to the centroid of the question side
    /// (needs an encoder: `KnowledgeBase::set_encoder`).
    pub dense_whole_weight: f32,
    /// Weight of the embedding cosine to the closest question or phrasing.
    pub dense_part_weight: f32,
    /// Distinct query words used at most (the first ones).
    pub max_query_terms: usize,
    pub calibration: Calibration,
}

impl Default for SearchConfig {
    /// The values `kb tune` chose on the StackFAQ tuning split with the
    /// built-in static embeddings (see `scripts/kb/eval.sh`), except
    /// `max_query_terms`, which bounds the cost of long tickets and does not
    /// change short queries.
    fn default() -> Self {
        Self {
            question_boost: 1.0,
            answer_boost: 1.0,
            tags_boost: 1.0,
            phrasing_boost: 1.0,
            field_tie_breaker: Some(0.5),
            bigram_boost: 0.0,
            bigram_slop: 0,
            fuzzy_boost: 0.5,
            fuzzy_min_chars: 6,
            candidates: 20,
            ngram_whole_weight: 2.0,
            ngram_part_weight: 0.25,
            ngram_top_parts: 1,
            dense_whole_weight: 1.0,
            dense_part_weight: 0.0,
            max_query_terms: 128,
            calibration: Calibration::default(),
        }
    }
}

impl SearchConfig {
    /// Plain BM25: every text field with weight 1, nothing else.
    pub fn plain() -> Self {
        Self {
            question_boost: 1.0,
            answer_boost: 1.0,
            tags_boost: 1.0,
            phrasing_boost: 1.0,
            field_tie_breaker: None,
            bigram_boost: 0.0,
            bigram_slop: 0,
            fuzzy_boost: 0.0,
            fuzzy_min_chars: 6,
            candidates: 10,
            ngram_whole_weight: 0.0,
            ngram_part_weight: 0.0,
            ngram_top_parts: 1,
            dense_whole_weight: 0.0,
            dense_part_weight: 0.0,
            max_query_terms: 1024,
            calibration: Calibration::default(),
        }
    }
}

/// Restricts what a search may return. The default returns published
/// documents of every kind for every company.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchFilter {
    /// Only this kind of document.
    pub kind: Option<DocKind>,
    /// Documents of this company and documents shared by all companies.
    pub company: Option<String>,
    /// Documents about this equipment model and documents about no model.
    pub equipment_model: Option<String>,
    /// With `equipment_model`: only documents about that model, not those
    /// about none.
    pub exact_equipment_model: bool,
    /// Only documents in this language.
    pub language: Option<String>,
    /// Also return unpublished FAQ articles (an admin's preview).
    pub include_unpublished: bool,
}

impl SearchFilter {
    /// What a ticket may be matched against: its company's documents and the
    /// shared ones, about its equipment or about none.
    pub fn for_ticket(ticket: &Ticket) -> Self {
        Self {
            company: Some(ticket.company.to_string()),
            equipment_model: ticket.equipment.as_ref().map(|equipment| equipment.model.clone()),
            ..Self::default()
        }
    }
}

/// One search result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Match {
    pub kind: DocKind,
    /// The company whose own FAQ article this is; `None` for a shared
    /// article and for past solutions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    /// The FAQ article's id, or the resolved ticket's id for a past solution.
    pub id: String,
    /// The blended ranking score; only comparable within one search.
    pub score: f32,
    /// Probability in [0, 1] that this match answers the query; compare it
    /// to an auto-answer threshold.
    pub confidence: f32,
    /// The FAQ question or the past ticket's title.
    pub title: String,
    /// The start of the first answer or of the solution.
    pub snippet: String,
    /// The evidence behind `confidence`.
    pub features: MatchFeatures,
}

impl Match {
    pub fn key(&self) -> DocKey {
        DocKey { kind: self.kind, company: self.company.clone(), id: self.id.clone() }
    }
}

/// The FAQ article to answer a ticket with automatically, if any: the best
/// FAQ match, when its confidence reaches `threshold`. Past solutions are
/// never sent to customers automatically. On the StackFAQ held-out queries a
/// threshold of 0.9 answered about half of them with over 99% precision (see
/// the crate's README for the figures at other thresholds).
pub fn auto_answer(matches: &[Match], threshold: f32) -> Option<&Match> {
    matches
        .iter()
        .filter(|found| found.kind == DocKind::Faq)
        .max_by(|left, right| left.confidence.total_cmp(&right.confidence))
        .filter(|best| best.confidence >= threshold)
}

/// Why `ticket` must not be answered automatically, whatever the match: it
/// was not triaged; it is rated high or critical (someone should act, not
/// send an article); or triage was unsure of it: the category model lacked
/// confidence, or the urgency model did and no policy rule decided.
/// `None` when an answer may go out.
///
/// A category model that is *sure* the ticket is none of its categories
/// (its out-of-scope label won, e.g. a printer question for the default
/// customer-service categories) does not withhold an answer: the ticket
/// still goes to a person for its category, but an FAQ may well answer it.
pub fn auto_answer_withheld(ticket: &Ticket) -> Option<&'static str> {
    let Some(triage) = &ticket.triage else { return Some("not_triaged") };
    if triage.urgency.max(ticket.urgency.unwrap_or(Urgency::Low)) >= Urgency::High {
        return Some("urgent");
    }
    let category_unsure = triage.category.label.is_none() && !triage.category.out_of_scope;
    if category_unsure || triage.urgency_source == UrgencySource::Default {
        return Some("unsure");
    }
    None
}

/// The analysed words of a query, each once, the first `limit` of them.
fn distinct_terms(tokens: &[AnalyzedToken], limit: usize) -> Vec<&str> {
    let mut seen: HashSet<&str> = HashSet::new();
    tokens.iter().map(|token| token.text.as_str()).filter(|term| seen.insert(term)).take(limit).collect()
}

/// [`MatchFeatures::unknown`]: the weighted share of the query's words that
/// no document has.
fn unknown_share(term_weights: &[TermWeight]) -> f32 {
    let total: f32 = term_weights.iter().map(|term| term.weight).sum();
    let unknown: f32 = term_weights.iter().filter(|term| term.scores.is_none()).map(|term| term.weight).sum();
    if total > 0.0 { (unknown / total).clamp(0.0, 1.0) } else { 0.0 }
}

/// A query word with its weight in the confidence features.
struct TermWeight {
    /// BM25's inverse document frequency.
    weight: f32,
    /// The word's scores: `None` when no document has it.
    scores: Option<Arc<WordScores>>,
}

/// Each query word with its BM25 inverse document frequency, counting a
/// document as containing the word when any scored field does (the largest
/// field count, a close lower bound).
fn term_weights(searcher: &Searcher, words: Vec<Option<Arc<WordScores>>>) -> Vec<TermWeight> {
    let total = searcher.num_docs() as f32;
    words
        .into_iter()
        .map(|scores| {
            let frequency = scores.as_ref().map_or(0, |scores| scores.doc_freq) as f32;
            TermWeight { weight: (1.0 + (total - frequency + 0.5) / (frequency + 0.5)).ln(), scores }
        })
        .collect()
}

/// [`MatchFeatures::coverage`] of each document at `addresses`: the share of
/// `term_weights` whose words it has in a scored field.
fn coverages(term_weights: &[TermWeight], addresses: &[DocAddress]) -> Vec<f32> {
    let total: f32 = term_weights.iter().map(|term| term.weight).sum();
    addresses
        .iter()
        .map(|address| {
            if total <= 0.0 {
                return 0.0;
            }
            let covered: f32 = term_weights
                .iter()
                .filter(|term| {
                    term.scores.as_ref().is_some_and(|scores| {
                        let postings = &scores.segments[address.segment_ord as usize].postings;
                        postings.binary_search_by_key(&address.doc_id, |(doc, _)| *doc).is_ok()
                    })
                })
                .map(|term| term.weight)
                .sum();
            (covered / total).clamp(0.0, 1.0)
        })
        .collect()
}

/// The text of a ticket that matching reads: its title, then its description.
pub fn ticket_query_text(ticket: &Ticket) -> String {
    format!("{}\n{}", ticket.title, ticket.description)
}

struct Candidate {
    summary: Arc<DocSummary>,
    address: DocAddress,
    bm25: f32,
    blended: f32,
    ngram_whole: f32,
    ngram_best_part: f32,
}

impl KnowledgeBase {
    /// The best `k` matches for `text` with the knowledge base's search
    /// configuration. Blocking and CPU-bound (typically well under a
    /// millisecond for a few hundred documents): call it from a blocking
    /// thread pool, e.g. `tokio::task::spawn_blocking` with an `Arc`.
    pub fn search(&self, text: &str, k: usize, filter: &SearchFilter) -> Result<Vec<Match>> {
        let config = self.search_config();
        self.search_with(text, k, filter, &config)
    }

    /// [`search`](Self::search) for a ticket: its title and description,
    /// restricted to what [`SearchFilter::for_ticket`] allows. These are the
    /// matches an automatic answer is chosen from.
    pub fn search_ticket(&self, ticket: &Ticket, k: usize) -> Result<Vec<Match>> {
        self.search(&ticket_query_text(ticket), k, &SearchFilter::for_ticket(ticket))
    }

    /// The ticket's suggestions, as people see them: for a ticket about an
    /// equipment model, the most similar past solutions of that model first
    /// (an engineer opening it sees how the same machine was fixed before),
    /// then `matches` ([`search_ticket`](Self::search_ticket)'s) in their
    /// order, `k` in all; `matches` as they are otherwise.
    pub fn suggestions_for_ticket(&self, ticket: &Ticket, k: usize, matches: Vec<Match>) -> Result<Vec<Match>> {
        let filter = SearchFilter::for_ticket(ticket);
        if filter.equipment_model.is_none() {
            return Ok(matches);
        }
        let same_model = SearchFilter { kind: Some(DocKind::PastSolution), exact_equipment_model: true, ..filter };
        let mut merged = self.search(&ticket_query_text(ticket), k, &same_model)?;
        for found in matches {
            if merged.len() >= k {
                break;
            }
            if !merged.iter().any(|first| first.kind == found.kind && first.id == found.id) {
                merged.push(found);
            }
        }
        Ok(merged)
    }

    /// [`search`](Self::search) with an explicit configuration (for tuning).
    pub fn search_with(
        &self,
        text: &str,
        k: usize,
        filter: &SearchFilter,
        config: &SearchConfig,
    ) -> Result<Vec<Match>> {
        if k == 0 {
            return Ok(Vec::new());
        }
        let text = switchboard_core::text::clip(text, MAX_QUERY_BYTES);
        let tokens = analyze(&mut self.analysis.analyzer(), text);
        let terms = distinct_terms(&tokens, config.max_query_terms);
        let scoring = self.field_scoring(config);
        if terms.is_empty() || scoring.fields.is_empty() {
            return Ok(Vec::new());
        }
        let searcher = self.searcher();
        let words = terms.iter().map(|term| self.cache.word(&searcher, &scoring, term)).collect::<Result<Vec<_>>>()?;
        let bonuses = self.bonuses(&tokens, &terms, config);
        let allowed = self.cache.allowed(&searcher, filter, || self.filter_query(filter))?;
        let found_words = words.iter().flatten().cloned().collect();
        let first_stage = FirstStage::new(&searcher, &self.cache, found_words, &bonuses, allowed)?;
        let hits = first_stage.top(&searcher, config.candidates.max(k))?;
        let Some(top_bm25) = hits.first().map(|(score, _)| *score).filter(|score| *score > 0.0) else {
            return Ok(Vec::new());
        };

        let mut candidates = Vec::with_capacity(hits.len());
        self.catch_up_ngrams();
        {
            let ngrams = self.ngrams();
            let query_vector = ngrams.query_vector(text);
            let dense_rank = config.dense_whole_weight > 0.0 || config.dense_part_weight > 0.0;
            let dense_query = if dense_rank { ngrams.dense_query(text) } else { None };
            // The closest phrasing costs a cosine per phrasing: worked out
            // for every candidate only when it weighs in the ranking, else
            // for the k returned, whose confidence reads it.
            let best_part = |key: &DocKey| ngrams.best_part_similarity(&query_vector, key, config.ngram_top_parts);
            let parts_rank = config.ngram_part_weight > 0.0;
            for (bm25, address) in hits {
                // Read from the document store once per snapshot.
                let summary = self.cache.document(&searcher, address, || {
                    let document = self.stored_document(&searcher.doc(address)?)?;
                    let snippet = snippet(document.answer_text());
                    Ok(DocSummary { key: document.key(), title: document.title().to_owned(), snippet })
                })?;
                let ngram_whole = ngrams.whole_similarity(&query_vector, &summary.key);
                let ngram_best_part = if parts_rank { best_part(&summary.key) } else { 0.0 };
                let (dense_whole, dense_best_part) =
                    ngrams.dense_similarities(dense_query.as_deref(), &summary.key, config.dense_part_weight > 0.0);
                let blended = bm25 / top_bm25
                    + config.ngram_whole_weight * ngram_whole
                    + config.ngram_part_weight * ngram_best_part
                    + config.dense_whole_weight * dense_whole
                    + config.dense_part_weight * dense_best_part;
                candidates.push(Candidate { summary, address, bm25, blended, ngram_whole, ngram_best_part });
            }
            candidates.sort_by(|left, right| {
                right
                    .blended
                    .total_cmp(&left.blended)
                    .then_with(|| right.bm25.total_cmp(&left.bm25))
                    .then_with(|| left.summary.key.cmp(&right.summary.key))
            });
            if !parts_rank {
                for candidate in candidates.iter_mut().take(k) {
                    candidate.ngram_best_part = best_part(&candidate.summary.key);
                }
            }
        }

        let returned: Vec<DocAddress> = candidates.iter().take(k).map(|candidate| candidate.address).collect();
        let term_weights = term_weights(&searcher, words);
        let coverages = coverages(&term_weights, &returned);
        let unknown = unknown_share(&term_weights);
        let top = candidates.first().map(|candidate| candidate.blended).unwrap_or(0.0);
        let second = candidates.get(1).map(|candidate| candidate.blended).unwrap_or(0.0);
        let mut matches = Vec::with_capacity(k.min(candidates.len()));
        for (rank, candidate) in candidates.into_iter().take(k).enumerate() {
            let best_other = if rank == 0 { second } else { top };
            let features = MatchFeatures {
                margin: if candidate.blended > 0.0 {
                    (candidate.blended - best_other) / candidate.blended
                } else {
                    -1.0
                },
                relative: if top > 0.0 { candidate.blended / top } else { 0.0 },
                ngram_whole: candidate.ngram_whole,
                ngram_best_part: candidate.ngram_best_part,
                coverage: coverages[rank],
                unknown,
            };
            let DocSummary { key, title, snippet } = candidate.summary.as_ref();
            matches.push(Match {
                kind: key.kind,
                company: key.company.clone(),
                id: key.id.clone(),
                score: candidate.blended,
                confidence: config.calibration.confidence(&features),
                title: title.clone(),
                snippet: snippet.clone(),
                features,
            });
        }
        Ok(matches)
    }

    /// The text fields a query's words are scored in, with their boosts,
    /// and how they combine.
    fn field_scoring(&self, config: &SearchConfig) -> FieldScoring {
        let fields = &self.fields;
        let boosted = [
            (fields.question, config.question_boost),
            (fields.answer, config.answer_boost),
            (fields.tags, config.tags_boost),
            (fields.phrasing, config.phrasing_boost),
        ]
        .into_iter()
        .filter(|(_, boost)| *boost > 0.0)
        .collect();
        FieldScoring { fields: boosted, tie_breaker: config.field_tie_breaker }
    }

    /// The bonuses: a phrase query for each pair of neighbouring query
    /// words and a fuzzy match for each long word, in the question and
    /// phrasing fields, boosts applied.
    fn bonuses(&self, tokens: &[AnalyzedToken], terms: &[&str], config: &SearchConfig) -> Bonuses {
        let mut bonuses = Bonuses::default();
        let phrase_fields =
            [(self.fields.question, config.question_boost), (self.fields.phrasing, config.phrasing_boost)];
        if config.bigram_boost > 0.0 {
            let limited: Vec<&AnalyzedToken> = tokens.iter().take(config.max_query_terms * 2).collect();
            for pair in limited.windows(2) {
                let gap = pair[1].position.saturating_sub(pair[0].position);
                if gap == 0 || gap > 3 || pair[0].text == pair[1].text {
                    continue;
                }
                for (field, field_boost) in phrase_fields.iter().filter(|(_, boost)| *boost > 0.0) {
                    bonuses.phrases.push(Phrase {
                        field: *field,
                        first: pair[0].text.clone(),
                        second: pair[1].text.clone(),
                        gap: gap as u32,
                        slop: config.bigram_slop,
                        boost: config.bigram_boost * field_boost,
                    });
                }
            }
        }

        if config.fuzzy_boost > 0.0 {
            for term in terms.iter().filter(|term| term.chars().count() >= config.fuzzy_min_chars) {
                for (field, field_boost) in phrase_fields.iter().filter(|(_, boost)| *boost > 0.0) {
                    bonuses.fuzzy.push((*field, (*term).to_owned(), config.fuzzy_boost * field_boost));
                }
            }
        }
        bonuses
    }

    /// The whole first stage as one tantivy query, the way it was run
    /// before [`FirstStage`]: the reference its scores are tested against.
    #[cfg(test)]
    fn reference_query(&self, tokens: &[AnalyzedToken], terms: &[&str], config: &SearchConfig) -> Box<dyn Query> {
        use tantivy::query::{BoostQuery, DisjunctionMaxQuery, FuzzyTermQuery, PhraseQuery};
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for term in terms {
            let per_field: Vec<Box<dyn Query>> = self
                .field_scoring(config)
                .fields
                .iter()
                .map(|(field, boost)| {
                    let term_query = TermQuery::new(Term::from_field_text(*field, term), IndexRecordOption::WithFreqs);
                    Box::new(BoostQuery::new(Box::new(term_query), *boost)) as Box<dyn Query>
                })
                .collect();
            let combined: Box<dyn Query> = match config.field_tie_breaker {
                Some(tie_breaker) => Box::new(DisjunctionMaxQuery::with_tie_breaker(per_field, tie_breaker)),
                None => Box::new(BooleanQuery::union(per_field)),
            };
            clauses.push((Occur::Should, combined));
        }
        let Bonuses { phrases, fuzzy } = self.bonuses(tokens, terms, config);
        for Phrase { field, first, second, gap, slop, boost } in phrases {
            let terms =
                vec![(0, Term::from_field_text(field, &first)), (gap as usize, Term::from_field_text(field, &second))];
            let phrase = PhraseQuery::new_with_offset_and_slop(terms, slop);
            clauses.push((Occur::Should, Box::new(BoostQuery::new(Box::new(phrase), boost))));
        }
        for (field, word, boost) in fuzzy {
            let fuzzy = FuzzyTermQuery::new(Term::from_field_text(field, &word), 1, true);
            clauses.push((Occur::Should, Box::new(BoostQuery::new(Box::new(fuzzy), boost))));
        }
        Box::new(BooleanQuery::new(clauses))
    }

    /// The restrictions of `filter` as one query, or `None` when it has none.
    fn filter_query(&self, filter: &SearchFilter) -> Option<Box<dyn Query>> {
        let fields = &self.fields;
        let term_query = |field: Field, value: &str| -> Box<dyn Query> {
            Box::new(TermQuery::new(Term::from_field_text(field, value), IndexRecordOption::Basic))
        };
        let mut required: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        if let Some(kind) = filter.kind {
            required.push((Occur::Must, term_query(fields.kind, kind.as_str())));
        }
        if let Some(company) = &filter.company {
            let either = BooleanQuery::union(vec![
                term_query(fields.company, &normalise_keyword(company)),
                term_query(fields.company, ANY_VALUE),
            ]);
            required.push((Occur::Must, Box::new(either)));
        }
        if let Some(model) = &filter.equipment_model {
            let model = term_query(fields.equipment, &normalise_keyword(model));
            let wanted: Box<dyn Query> = if filter.exact_equipment_model {
                model
            } else {
                Box::new(BooleanQuery::union(vec![model, term_query(fields.equipment, ANY_VALUE)]))
            };
            required.push((Occur::Must, wanted));
        }
        if let Some(language) = &filter.language {
            required.push((Occur::Must, term_query(fields.language, &normalise_keyword(language))));
        }
        if !filter.include_unpublished {
            required.push((Occur::MustNot, term_query(fields.published, "no")));
        }
        if required.is_empty() {
            return None;
        }
        if required.iter().all(|(occur, _)| *occur == Occur::MustNot) {
            required.push((Occur::Must, Box::new(tantivy::query::AllQuery)));
        }
        Some(Box::new(BooleanQuery::new(required)))
    }
}

fn snippet(text: &str) -> String {
    let collapsed: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match collapsed.char_indices().nth(SNIPPET_CHARS) {
        Some((cut, _)) => format!("{}…", collapsed[..cut].trim_end()),
        None => collapsed,
    }
}

#[cfg(test)]
mod tests {
    use switchboard_core::events::{Classification, Triage};
    use switchboard_core::ticket::{Channel, NewRequester, NewTicket};
    use switchboard_core::{TicketId, Urgency};
    use time::OffsetDateTime;

    use super::*;

    fn classification(label: Option<&str>, out_of_scope: bool) -> Classification {
        Classification { label: label.map(str::to_owned), confidence: 0.9, out_of_scope, model_version: "m@1".into() }
    }

    fn ticket(category: Classification, urgency: Urgency, source: UrgencySource) -> Ticket {
        let mut ticket = NewTicket {
            title: Some("Paper jam".into()),
            description: Some("tray 2".into()),
            requester: Some(NewRequester { email: Some("ana@example.com".into()), name: None }),
            company: Some("acme".into()),
            ..NewTicket::default()
        }
        .validate(TicketId::new(), Channel::Api, OffsetDateTime::now_utc())
        .expect("valid");
        ticket.urgency = Some(urgency);
        ticket.triage = Some(Triage {
            needs_human: category.label.is_none() || source == UrgencySource::Default,
            category,
            urgency_model: classification(Some(urgency.as_str()), false),
            urgency,
            urgency_source: source,
            triaged_at: OffsetDateTime::now_utc(),
        });
        ticket
    }

    /// A small knowledge base with words shared across articles, in every
    /// field, some articles a company's own, some drafts, one deleted.
    fn sample_knowledge_base() -> KnowledgeBase {
        use switchboard_core::kb::Faq;

        use crate::document::KbDocument;
        let subjects = ["printer", "password", "invoice", "wifi", "card", "refund", "delivery", "account"];
        let problems = ["jammed paper", "was reset", "not arrived", "keeps dropping", "declined payment", "stopped"];
        let mut documents = Vec::new();
        for (index, subject) in subjects.iter().enumerate() {
            for (other, problem) in problems.iter().enumerate() {
                let mut faq = Faq::new(
                    format!("{subject}-{other}"),
                    format!("Why has my {subject} {problem}?"),
                    vec![format!(
                        "When the {subject} {problem}, check the {} settings and try again; \
                         the {subject} team answers within a day.",
                        subjects[(index + other) % subjects.len()]
                    )],
                );
                faq.tags = vec![subject.to_string(), problems[(index + 1) % problems.len()].to_string()];
                if other % 2 == 0 {
                    faq.phrasings = vec![format!("my {subject} {problem} again"), format!("{problem} {subject} help")];
                }
                faq.company = (other % 3 == 1).then(|| "acme".to_owned());
                faq.published = (index + other) % 7 != 3;
                documents.push(KbDocument::Faq(faq));
            }
        }
        let knowledge_base = KnowledgeBase::in_ram(crate::KbOptions::default()).expect("index");
        knowledge_base.rebuild(documents).expect("rebuild");
        knowledge_base.delete(&DocKey::faq("wifi-0"));
        knowledge_base.commit().expect("commit");
        // A second segment, with words the first has too.
        let mut late = Faq::new("printer-late", "My printer jammed paper at night", vec!["Reset the printer.".into()]);
        late.phrasings = vec!["printer keeps dropping paper".into()];
        knowledge_base.upsert(&KbDocument::Faq(late)).expect("upsert");
        knowledge_base.commit().expect("commit");
        knowledge_base
    }

    /// The first stage scores from the postings exactly what the one
    /// tantivy query scored (with every document in the bonus pool), for
    /// dis-max and summed fields, with and without a filter.
    #[test]
    fn the_first_stage_scores_what_the_whole_tantivy_query_scored() {
        use tantivy::collector::TopDocs;
        use tantivy::query::ConstScoreQuery;
        let knowledge_base = sample_knowledge_base();
        let searcher = knowledge_base.searcher();
        assert!(searcher.num_docs() < crate::candidates::BONUS_POOL as u64, "every document gets its bonuses");
        assert_eq!(searcher.segment_readers().len(), 2, "word statistics span segments");
        let queries = [
            "my printer jammed paper again",
            "the refund has not arrived, why?",
            "wifi keeps dropping when the card is declined",
            "passwrd was reset on my acount",
            "settings",
            "nothing matches zzz",
        ];
        let filters = [
            SearchFilter::default(),
            SearchFilter { company: Some("acme".into()), ..SearchFilter::default() },
            SearchFilter { include_unpublished: true, ..SearchFilter::default() },
        ];
        // Without bonuses, a pool no larger than what is asked for is
        // exact too: the words alone rank.
        let no_bonuses = SearchConfig { bigram_boost: 0.0, fuzzy_boost: 0.0, ..SearchConfig::default() };
        let sloppy = SearchConfig { bigram_slop: 2, ..SearchConfig::default() };
        let runs = [
            (SearchConfig::default(), 30, crate::candidates::BONUS_POOL),
            (sloppy, 30, crate::candidates::BONUS_POOL),
            (SearchConfig::plain(), 30, crate::candidates::BONUS_POOL),
            (no_bonuses, 5, 5),
            (SearchConfig::plain(), 3, 3),
        ];
        let mut compared = 0;
        for (text, filter, (config, limit, pool)) in queries
            .iter()
            .flat_map(|text| filters.iter().map(move |filter| (text, filter)))
            .flat_map(|(text, filter)| runs.iter().map(move |run| (text, filter, run)))
        {
            let tokens = analyze(&mut knowledge_base.analysis.analyzer(), text);
            let terms = distinct_terms(&tokens, config.max_query_terms);
            let allowed = knowledge_base
                .cache
                .allowed(&searcher, filter, || knowledge_base.filter_query(filter))
                .expect("allowed");
            let bonuses = knowledge_base.bonuses(&tokens, &terms, config);
            let scoring = knowledge_base.field_scoring(config);
            let words = terms
                .iter()
                .filter_map(|term| knowledge_base.cache.word(&searcher, &scoring, term).expect("word"))
                .collect();
            let stage =
                FirstStage::new(&searcher, &knowledge_base.cache, words, &bonuses, allowed).expect("first stage");
            let found = stage.top_with_pool(&searcher, *limit, *pool).expect("top");

            let mut reference = knowledge_base.reference_query(&tokens, &terms, config);
            if let Some(filter_query) = knowledge_base.filter_query(filter) {
                reference = Box::new(BooleanQuery::new(vec![
                    (Occur::Must, reference),
                    (Occur::Must, Box::new(ConstScoreQuery::new(filter_query, 0.0))),
                ]));
            }
            let expected = searcher.search(&reference, &TopDocs::with_limit(*limit).order_by_score()).expect("search");
            assert_eq!(found.len(), expected.len(), "{text:?} {filter:?}");
            for ((score, address), (expected_score, expected_address)) in found.iter().zip(&expected) {
                assert!(
                    (score - expected_score).abs() <= 1e-4 * expected_score.abs().max(1.0),
                    "{text:?}: {found:?} {expected:?}"
                );
                // Equal scores may come in either order.
                if (score - expected_score).abs() > 1e-6 {
                    assert_eq!(address, expected_address, "{text:?}");
                }
            }
            compared += found.len();
        }
        assert!(compared > 300, "the queries found documents ({compared})");
    }

    #[test]
    fn answers_are_withheld_from_urgent_unsure_and_untriaged_tickets_only() {
        let sure = classification(Some("order"), false);
        assert_eq!(auto_answer_withheld(&ticket(sure.clone(), Urgency::Normal, UrgencySource::Model)), None);
        // Sure it is none of the categories: a person files it, an FAQ may answer it.
        let elsewhere = classification(None, true);
        assert_eq!(auto_answer_withheld(&ticket(elsewhere, Urgency::Low, UrgencySource::Model)), None);
        let unsure = classification(None, false);
        assert_eq!(auto_answer_withheld(&ticket(unsure, Urgency::Normal, UrgencySource::Model)), Some("unsure"));
        assert_eq!(
            auto_answer_withheld(&ticket(sure.clone(), Urgency::Normal, UrgencySource::Default)),
            Some("unsure")
        );
        let rule = UrgencySource::Policy { rule: "fire or smoke".into() };
        assert_eq!(auto_answer_withheld(&ticket(sure.clone(), Urgency::Critical, rule)), Some("urgent"));
        assert_eq!(auto_answer_withheld(&ticket(sure, Urgency::High, UrgencySource::Model)), Some("urgent"));
        let mut untriaged = ticket(classification(Some("order"), false), Urgency::Low, UrgencySource::Model);
        untriaged.triage = None;
        assert_eq!(auto_answer_withheld(&untriaged), Some("not_triaged"));
    }
}
