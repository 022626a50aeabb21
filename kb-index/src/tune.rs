//! Tuning on labelled queries without touching held-out data: a greedy
//! coordinate search over [`KbOptions`], each step reporting what it gained.
//!
//! With learned phrasings the tuning queries play two roles, so they are
//! cross-validated: in each fold, some of every article's queries are
//! indexed as phrasings and the others are searched.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::Arc;

use serde::Serialize;
use switchboard_triage::encoder::SentenceEncoder;

use crate::analysis::{AnalysisOptions, StopWords};
use crate::confidence::{Calibration, separation};
use crate::document::{Faq, KbDocument};
use crate::eval::{build_in_ram, calibration_samples, cross_validation_fold, evaluate, top_confidences};
use crate::import::{LabelledQuery, add_phrasings};
use crate::index::{KbOptions, KnowledgeBase};
use crate::search::SearchConfig;
use crate::{Error, Result};

/// What the tuner works on.
pub struct TuningData {
    pub documents: Vec<Faq>,
    pub queries: Vec<LabelledQuery>,
    /// Cross-validation folds. With `learn_phrasings`, the other folds'
    /// queries become phrasings of their articles.
    pub folds: usize,
    pub learn_phrasings: bool,
    /// Queries no article answers (their gold id names none), for the
    /// confidence model only.
    pub unanswerable: Vec<LabelledQuery>,
    /// With an encoder, the weights of dense re-ranking are tuned too.
    pub encoder: Option<Arc<SentenceEncoder>>,
}

/// One line of the tuning log.
#[derive(Clone, Debug, Serialize)]
pub struct TuningStep {
    pub step: String,
    pub choice: String,
    pub mrr: f64,
    pub gain: f64,
}

/// Per fold, the outcomes of the validation queries, and those queries.
type FoldOutcomes = Vec<(Vec<crate::eval::QueryOutcome>, Vec<LabelledQuery>)>;

type Variant = (String, Box<dyn Fn(&mut KbOptions)>);

fn variants<T: Copy + std::fmt::Debug + 'static>(values: &[T], apply: fn(&mut KbOptions, T)) -> Vec<Variant> {
    values
        .iter()
        .map(|value| {
            let value = *value;
            (
                format!("{value:?}"),
                Box::new(move |options: &mut KbOptions| apply(options, value)) as Box<dyn Fn(&mut KbOptions)>,
            )
        })
        .collect()
}

struct Tuner<'a> {
    data: &'a TuningData,
    /// Indexes per (analysis, fold, with phrasings), built once.
    cache: HashMap<(AnalysisOptions, usize, bool), KnowledgeBase>,
}

impl Tuner<'_> {
    fn knowledge_base(&mut self, analysis: AnalysisOptions, fold: usize, learn: bool) -> Result<&KnowledgeBase> {
        let key = (analysis, fold, learn);
        if !self.cache.contains_key(&key) {
            let mut documents = self.data.documents.clone();
            if learn {
                let (learned, _) = cross_validation_fold(&self.data.queries, self.data.folds, fold);
                add_phrasings(&mut documents, &learned);
            }
            let options = KbOptions { analysis, search: SearchConfig::default() };
            let built = build_in_ram(documents.into_iter().map(KbDocument::Faq), options, self.data.encoder.clone())?;
            self.cache.insert(key, built);
        }
        self.cache.get(&key).ok_or_else(|| Error::Config("tuning cache".into()))
    }

    /// Mean MRR over the folds, and the per-fold outcomes with their queries.
    fn score(&mut self, options: &KbOptions, learn: bool) -> Result<(f64, FoldOutcomes)> {
        let learn = learn && self.data.learn_phrasings;
        let mut total = 0.0;
        let mut details = Vec::new();
        let folds = self.data.folds.max(1);
        for fold in 0..folds {
            let (_, validate) = self.fold_queries(fold);
            let knowledge_base = self.knowledge_base(options.analysis, fold, learn)?;
            let (report, outcomes) = evaluate(knowledge_base, &validate, &options.search)?;
            total += report.mrr;
            details.push((outcomes, validate));
        }
        Ok((total / folds as f64, details))
    }

    /// The queries learned as phrasings and those validated in `fold` (all
    /// validated with one fold).
    fn fold_queries(&self, fold: usize) -> (Vec<LabelledQuery>, Vec<LabelledQuery>) {
        match self.data.folds.max(1) {
            1 => (Vec::new(), self.data.queries.clone()),
            folds => cross_validation_fold(&self.data.queries, folds, fold),
        }
    }

    /// Per fold, the corpus without every [`UNANSWERABLE_EVERY`]th article and
    /// the fold's validation queries of those articles: questions with no
    /// right answer there, whose nearest neighbours are what a customer asking
    /// something new would be offered. Built once, searched with each
    /// calibration in [`Tuner::unanswerable`].
    fn corpora_without_answers(
        &self,
        analysis: AnalysisOptions,
        learn: bool,
    ) -> Result<Vec<(KnowledgeBase, Vec<LabelledQuery>)>> {
        let learn = learn && self.data.learn_phrasings;
        let folds = self.data.folds.max(1);
        let mut corpora = Vec::new();
        for fold in 0..folds {
            let (learned, validate) = self.fold_queries(fold);
            let removed: HashSet<&str> = self
                .data
                .documents
                .iter()
                .enumerate()
                .filter(|(position, _)| position % UNANSWERABLE_EVERY == fold % UNANSWERABLE_EVERY)
                .map(|(_, article)| article.id.as_str())
                .collect();
            let mut documents: Vec<Faq> =
                self.data.documents.iter().filter(|article| !removed.contains(article.id.as_str())).cloned().collect();
            if learn {
                add_phrasings(&mut documents, &learned);
            }
            let questions: Vec<LabelledQuery> =
                validate.into_iter().filter(|query| removed.contains(query.gold_id.as_str())).collect();
            if documents.is_empty() || questions.is_empty() {
                continue;
            }
            let built = build_in_ram(
                documents.into_iter().map(KbDocument::Faq),
                KbOptions { analysis, search: SearchConfig::default() },
                self.data.encoder.clone(),
            )?;
            corpora.push((built, questions));
        }
        Ok(corpora)
    }

    /// Outcomes of queries with no right answer, every candidate wrong: those
    /// of [`Tuner::corpora_without_answers`], and the `unanswerable` queries
    /// (e.g. out-of-scope questions) against the whole corpus.
    fn unanswerable(
        &mut self,
        corpora: &[(KnowledgeBase, Vec<LabelledQuery>)],
        options: &KbOptions,
    ) -> Result<FoldOutcomes> {
        let mut details = Vec::new();
        for (knowledge_base, questions) in corpora {
            let (_, outcomes) = evaluate(knowledge_base, questions, &options.search)?;
            details.push((outcomes, questions.clone()));
        }
        let data = self.data;
        if !data.unanswerable.is_empty() {
            let knowledge_base = self.knowledge_base(options.analysis, 0, false)?;
            let (_, outcomes) = evaluate(knowledge_base, &data.unanswerable, &options.search)?;
            details.push((outcomes, data.unanswerable.clone()));
        }
        Ok(details)
    }
}

/// One article in this many is left out of the corpus, per fold, so that its
/// queries have no right answer when the confidence model is fitted.
const UNANSWERABLE_EVERY: usize = 4;

/// The confidence model is fitted on each query's two best matches: those
/// are what suggestions and auto-answers use. Fitting on the top 10 let the
/// easy "rank 1 against rank 7" cases dominate; on the StackFAQ tuning folds
/// the top match's AUC was 0.82 with 10, 0.88 with 2, 0.89 with 1 (which
/// leaves no example of a lower-ranked match to learn from).
const CALIBRATION_DEPTH: usize = 2;

/// A change must gain this much MRR to be kept: smaller gains are noise.
const MIN_GAIN: f64 = 0.0005;

fn best_variant(
    tuner: &mut Tuner<'_>,
    current: &KbOptions,
    candidates: &[Variant],
    learn: bool,
) -> Result<(f64, String, KbOptions)> {
    let mut best: Option<(f64, String, KbOptions)> = None;
    for (choice, apply) in candidates {
        let mut candidate = current.clone();
        apply(&mut candidate);
        let (mrr, _) = tuner.score(&candidate, learn)?;
        if best.as_ref().is_none_or(|(best_mrr, _, _)| mrr > *best_mrr + 1e-9) {
            best = Some((mrr, choice.clone(), candidate));
        }
    }
    best.ok_or_else(|| Error::Config("no tuning variants".into()))
}

/// The weights dense re-ranking tries (0 keeps it off).
const DENSE_WEIGHTS: [f32; 8] = [0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0];

fn dense_whole_variants() -> Vec<Variant> {
    variants(&DENSE_WEIGHTS, |options, value| options.search.dense_whole_weight = value)
}

fn dense_part_variants() -> Vec<Variant> {
    variants(&DENSE_WEIGHTS, |options, value| options.search.dense_part_weight = value)
}

/// Every knob with the values the refinement passes try.
fn refinement_knobs(learn_phrasings: bool, dense: bool) -> Vec<(&'static str, Vec<Variant>)> {
    let mut knobs: Vec<(&'static str, Vec<Variant>)> = vec![
        (
            "analysis",
            variants(
                &[
                    (false, StopWords::None),
                    (false, StopWords::Lucene),
                    (true, StopWords::None),
                    (true, StopWords::Lucene),
                    (true, StopWords::LuceneKeepNegations),
                ],
                |options, (stemming, stop_words)| {
                    options.analysis.stemming = stemming;
                    options.analysis.stop_words = stop_words;
                },
            ),
        ),
        (
            "question boost",
            variants(&[1.0f32, 1.5, 2.0, 3.0, 4.0], |options, value| options.search.question_boost = value),
        ),
        (
            "answer boost",
            variants(&[0.0f32, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0], |options, value| options.search.answer_boost = value),
        ),
        (
            "phrasing boost",
            variants(&[0.5f32, 1.0, 1.5, 2.0, 3.0], |options, value| options.search.phrasing_boost = value),
        ),
        (
            "bigram boost",
            variants(&[0.0f32, 0.1, 0.25, 0.5, 1.0], |options, value| options.search.bigram_boost = value),
        ),
        ("bigram slop", variants(&[0u32, 1, 2], |options, value| options.search.bigram_slop = value)),
        ("fuzzy boost", variants(&[0.0f32, 0.05, 0.1, 0.25, 0.5], |options, value| options.search.fuzzy_boost = value)),
        (
            "n-gram whole",
            variants(&[0.0f32, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0], |options, value| {
                options.search.ngram_whole_weight = value
            }),
        ),
        (
            "n-gram best part",
            variants(&[0.0f32, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0], |options, value| {
                options.search.ngram_part_weight = value
            }),
        ),
        ("n-gram parts averaged", variants(&[1usize, 2, 3], |options, value| options.search.ngram_top_parts = value)),
        ("candidates", variants(&[20usize, 50, 100], |options, value| options.search.candidates = value)),
        (
            "tie-breaker",
            variants(&[None, Some(0.0f32), Some(0.2), Some(0.5)], |options, value| {
                options.search.field_tie_breaker = value
            }),
        ),
    ];
    if !learn_phrasings {
        knobs.retain(|(knob, _)| *knob != "answer boost");
    }
    if dense {
        knobs.push(("dense whole", dense_whole_variants()));
        knobs.push(("dense best part", dense_part_variants()));
    }
    knobs
}

/// Runs the coordinate search from plain BM25 and writes one line per step.
/// Returns the best options found, with a confidence model fitted on the
/// cross-validated candidates.
pub fn tune(data: &TuningData, out: &mut impl Write) -> Result<(KbOptions, Vec<TuningStep>)> {
    let mut tuner = Tuner { data, cache: HashMap::new() };
    let mut steps: Vec<TuningStep> = Vec::new();
    let write_error = |error: std::io::Error| Error::io("writing the tuning log", error);

    let mut current = KbOptions { analysis: AnalysisOptions::plain(), search: SearchConfig::plain() };
    let mut learn = false;
    let (mut best_mrr, _) = tuner.score(&current, learn)?;
    writeln!(out, "{:<28} {:<28} {:>8} {:>8}", "step", "choice", "mrr", "gain").map_err(write_error)?;
    writeln!(out, "{:<28} {:<28} {:>8.4} {:>8}", "plain bm25", "-", best_mrr, "-").map_err(write_error)?;
    steps.push(TuningStep { step: "plain bm25".into(), choice: "-".into(), mrr: best_mrr, gain: 0.0 });

    let mut stages: Vec<(&str, Vec<Variant>)> = vec![
        (
            "stemming + stop words",
            variants(
                &[
                    (false, StopWords::Lucene),
                    (true, StopWords::None),
                    (true, StopWords::Lucene),
                    (true, StopWords::LuceneKeepNegations),
                ],
                |options, (stemming, stop_words)| {
                    options.analysis = AnalysisOptions { stemming, stop_words, rerank_words: false }
                },
            ),
        ),
        (
            "answer boost",
            variants(&[0.0f32, 0.1, 0.2, 0.3, 0.5, 0.7], |options, value| options.search.answer_boost = value),
        ),
        ("question boost", variants(&[1.5f32, 2.0, 3.0, 4.0], |options, value| options.search.question_boost = value)),
    ];
    if data.learn_phrasings {
        stages.push((
            "learned phrasings (boost)",
            variants(&[0.5f32, 1.0, 1.5, 2.0, 3.0], |options, value| options.search.phrasing_boost = value),
        ));
    } else {
        stages.push((
            "phrasing boost",
            variants(&[0.5f32, 1.5, 2.0, 3.0], |options, value| options.search.phrasing_boost = value),
        ));
    }
    stages.extend([
        (
            "field tie-breaker (dismax)",
            variants(&[Some(0.0f32), Some(0.2), Some(0.5)], |options, value| options.search.field_tie_breaker = value),
        ),
        (
            "bigram phrase boost",
            variants(&[0.1f32, 0.25, 0.5, 1.0], |options, value| options.search.bigram_boost = value),
        ),
        ("fuzzy terms", variants(&[0.05f32, 0.1, 0.25, 0.5], |options, value| options.search.fuzzy_boost = value)),
        (
            "n-gram cosine (whole)",
            variants(&[0.25f32, 0.5, 1.0, 1.5, 2.0, 3.0], |options, value| options.search.ngram_whole_weight = value),
        ),
        (
            "n-gram cosine (best part)",
            variants(&[0.25f32, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0], |options, value| {
                options.search.ngram_part_weight = value
            }),
        ),
        ("candidates re-ranked", variants(&[20usize, 50, 100], |options, value| options.search.candidates = value)),
        ("re-rank on words too", variants(&[true], |options, value| options.analysis.rerank_words = value)),
        (
            "n-gram closest parts (mean)",
            variants(&[2usize, 3, 5], |options, value| options.search.ngram_top_parts = value),
        ),
    ]);
    if data.encoder.is_some() {
        stages.push(("dense cosine (whole)", dense_whole_variants()));
        stages.push(("dense cosine (best part)", dense_part_variants()));
    }

    for (stage, stage_variants) in stages {
        // Learning is switched on at its own stage so its gain is visible.
        let stage_learn = learn || stage.starts_with("learned");
        let (mrr, choice, candidate) = best_variant(&mut tuner, &current, &stage_variants, stage_learn)?;
        // Learning is a product feature we want on; other knobs must pay for themselves.
        let accept = mrr > best_mrr + MIN_GAIN || (stage_learn && !learn);
        let gain = mrr - best_mrr;
        let shown_choice = if accept { choice } else { format!("(kept; best {choice})") };
        writeln!(out, "{:<28} {:<28} {:>8.4} {:>+8.4}", stage, shown_choice, mrr, gain).map_err(write_error)?;
        steps.push(TuningStep { step: stage.into(), choice: shown_choice, mrr, gain });
        if accept {
            current = candidate;
            best_mrr = mrr;
            learn = stage_learn;
        }
    }

    // Knobs interact (re-ranking makes the BM25 weights matter less, more
    // candidates make re-ranking matter more), so revisit each in turn.
    for pass in 1..=2 {
        let mut improved = false;
        for (knob, knob_variants) in refinement_knobs(data.learn_phrasings, data.encoder.is_some()) {
            let (mrr, choice, candidate) = best_variant(&mut tuner, &current, &knob_variants, learn)?;
            if mrr > best_mrr + MIN_GAIN {
                let step = format!("refine {knob}");
                writeln!(out, "{:<28} {:<28} {:>8.4} {:>+8.4}", step, choice, mrr, mrr - best_mrr)
                    .map_err(write_error)?;
                steps.push(TuningStep { step, choice, mrr, gain: mrr - best_mrr });
                current = candidate;
                best_mrr = mrr;
                improved = true;
            }
        }
        if !improved {
            writeln!(out, "refinement pass {pass}: no further gain").map_err(write_error)?;
            break;
        }
    }

    // Fit the confidence model on the cross-validated candidates, and on
    // queries whose answer is not in the knowledge base: "this answers it"
    // must be learnt from matches that do not, however far ahead they are.
    let (_, details) = tuner.score(&current, learn)?;
    let mut samples = Vec::new();
    let mut tops = Vec::new();
    for (outcomes, queries) in &details {
        samples.extend(calibration_samples(outcomes, queries, CALIBRATION_DEPTH));
    }
    let answerable = samples.len();
    let corpora = tuner.corpora_without_answers(current.analysis, learn)?;
    let unanswerable = tuner.unanswerable(&corpora, &current)?;
    for (outcomes, queries) in &unanswerable {
        samples.extend(calibration_samples(outcomes, queries, CALIBRATION_DEPTH));
    }
    writeln!(
        out,
        "confidence samples: {answerable} from answerable queries, {} from unanswerable ones",
        samples.len() - answerable
    )
    .map_err(write_error)?;
    current.search.calibration = Calibration::fit(&samples);
    let (_, details) = tuner.score(&current, learn)?;
    for (outcomes, queries) in details.iter().chain(&tuner.unanswerable(&corpora, &current)?) {
        tops.extend(top_confidences(outcomes, queries));
    }
    let separation_report = separation(&tops);
    writeln!(
        out,
        "confidence model (fitted on the tuning folds): {}",
        serde_json::to_string(&current.search.calibration).unwrap_or_default()
    )
    .map_err(write_error)?;
    writeln!(
        out,
        "confidence separation on the tuning folds: {}",
        serde_json::to_string(&separation_report).unwrap_or_default()
    )
    .map_err(write_error)?;
    Ok((current, steps))
}
