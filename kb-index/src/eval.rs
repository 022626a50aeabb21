//! Measuring retrieval quality: MRR, recall@k and latency over labelled
//! queries, deterministic stratified splits, and the samples the confidence
//! model is fitted on.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use switchboard_core::random::SplitMix64;
use switchboard_triage::encoder::SentenceEncoder;

use crate::Result;
use crate::confidence::MatchFeatures;
use crate::document::KbDocument;
use crate::import::LabelledQuery;
use crate::index::{KbOptions, KnowledgeBase};
use crate::search::{Match, SearchConfig, SearchFilter};

/// Matches retrieved per query when evaluating; MRR counts a right answer
/// below this rank as 0 (MRR@10).
pub const EVAL_DEPTH: usize = 10;

/// The figures `kb eval` prints as its last line, with exactly these keys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    pub n: usize,
    pub mrr: f64,
    #[serde(rename = "recall@1")]
    pub recall_at_1: f64,
    #[serde(rename = "recall@5")]
    pub recall_at_5: f64,
    #[serde(rename = "recall@10")]
    pub recall_at_10: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// What happened to one evaluated query.
#[derive(Clone, Debug)]
pub struct QueryOutcome {
    /// 1-based rank of the right document, if retrieved.
    pub rank: Option<usize>,
    pub matches: Vec<Match>,
    pub elapsed: Duration,
}

/// Runs every query through `search_with` one at a time and scores the ranking.
pub fn evaluate(
    knowledge_base: &KnowledgeBase,
    queries: &[LabelledQuery],
    config: &SearchConfig,
) -> Result<(EvalReport, Vec<QueryOutcome>)> {
    let filter = SearchFilter::default();
    let mut outcomes = Vec::with_capacity(queries.len());
    for query in queries {
        let started = Instant::now();
        let matches = knowledge_base.search_with(&query.text, EVAL_DEPTH, &filter, config)?;
        let elapsed = started.elapsed();
        let rank = matches.iter().position(|found| found.id == query.gold_id).map(|position| position + 1);
        outcomes.push(QueryOutcome { rank, matches, elapsed });
    }
    Ok((report(&outcomes), outcomes))
}

pub fn report(outcomes: &[QueryOutcome]) -> EvalReport {
    let n = outcomes.len();
    let share = |hit: &dyn Fn(&QueryOutcome) -> bool| {
        if n == 0 { 0.0 } else { outcomes.iter().filter(|outcome| hit(outcome)).count() as f64 / n as f64 }
    };
    let within = |depth: usize| move |outcome: &QueryOutcome| outcome.rank.is_some_and(|rank| rank <= depth);
    let mrr = if n == 0 {
        0.0
    } else {
        outcomes.iter().map(|outcome| outcome.rank.map_or(0.0, |rank| 1.0 / rank as f64)).sum::<f64>() / n as f64
    };
    let mut latencies: Vec<f64> = outcomes.iter().map(|outcome| outcome.elapsed.as_secs_f64() * 1000.0).collect();
    latencies.sort_by(f64::total_cmp);
    EvalReport {
        n,
        mrr,
        recall_at_1: share(&within(1)),
        recall_at_5: share(&within(5)),
        recall_at_10: share(&within(10)),
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
    }
}

/// Nearest-rank percentile of sorted values (0 for none).
pub fn percentile(sorted: &[f64], quantile: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (quantile * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Builds a throw-away in-RAM knowledge base holding `documents`, embedded
/// with `encoder` for dense re-ranking (none: no embeddings).
pub fn build_in_ram(
    documents: impl IntoIterator<Item = KbDocument>,
    options: KbOptions,
    encoder: Option<Arc<SentenceEncoder>>,
) -> Result<KnowledgeBase> {
    let knowledge_base = KnowledgeBase::in_ram(options)?;
    knowledge_base.set_encoder(encoder)?;
    knowledge_base.rebuild(documents)?;
    Ok(knowledge_base)
}

/// The first `depth` retrieved candidates of every query as (features, was
/// it right), to fit a [`crate::Calibration`] on.
pub fn calibration_samples(
    outcomes: &[QueryOutcome],
    queries: &[LabelledQuery],
    depth: usize,
) -> Vec<(MatchFeatures, bool)> {
    outcomes
        .iter()
        .zip(queries)
        .flat_map(|(outcome, query)| {
            outcome.matches.iter().take(depth).map(move |found| (found.features, found.id == query.gold_id))
        })
        .collect()
}

/// Top-1 confidence and whether the top match was right, per query.
pub fn top_confidences(outcomes: &[QueryOutcome], queries: &[LabelledQuery]) -> Vec<(f32, bool)> {
    outcomes
        .iter()
        .zip(queries)
        .map(|(outcome, query)| match outcome.matches.first() {
            Some(top) => (top.confidence, top.id == query.gold_id),
            None => (0.0, false),
        })
        .collect()
}

/// Splits `rows` into `fractions.len()` parts so that every label is spread
/// over the parts in the given proportions (largest-remainder rounding per
/// label), with a seeded shuffle inside each label. Parts keep the input
/// order. The same input, fractions and seed always give the same split.
pub fn stratified_split<T>(rows: Vec<T>, label: impl Fn(&T) -> String, fractions: &[f64], seed: u64) -> Vec<Vec<T>> {
    let total_fraction: f64 = fractions.iter().sum();
    let mut by_label: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (index, row) in rows.iter().enumerate() {
        by_label.entry(label(row)).or_default().push(index);
    }
    let mut part_of = vec![0usize; rows.len()];
    let mut random = SplitMix64::new(seed);
    for indices in by_label.values_mut() {
        for position in (1..indices.len()).rev() {
            indices.swap(position, random.below(position + 1));
        }
        let size = indices.len() as f64;
        let exact: Vec<f64> = fractions.iter().map(|fraction| size * fraction / total_fraction).collect();
        let mut counts: Vec<usize> = exact.iter().map(|value| value.floor() as usize).collect();
        let mut leftover = indices.len() - counts.iter().sum::<usize>();
        let mut by_remainder: Vec<usize> = (0..fractions.len()).collect();
        by_remainder
            .sort_by(|a, b| (exact[*b] - exact[*b].floor()).total_cmp(&(exact[*a] - exact[*a].floor())).then(a.cmp(b)));
        for part in by_remainder.into_iter().cycle() {
            if leftover == 0 {
                break;
            }
            counts[part] += 1;
            leftover -= 1;
        }
        let mut cursor = 0;
        for (part, count) in counts.into_iter().enumerate() {
            for index in &indices[cursor..cursor + count] {
                part_of[*index] = part;
            }
            cursor += count;
        }
    }
    let mut parts: Vec<Vec<T>> = (0..fractions.len()).map(|_| Vec::new()).collect();
    for (row, part) in rows.into_iter().zip(part_of) {
        parts[part].push(row);
    }
    parts
}

/// The `fold`-th of `folds` cross-validation splits of labelled queries:
/// (learn, validate), where each label's queries take turns in validation.
pub fn cross_validation_fold(
    queries: &[LabelledQuery],
    folds: usize,
    fold: usize,
) -> (Vec<LabelledQuery>, Vec<LabelledQuery>) {
    let mut seen_per_label: BTreeMap<&str, usize> = BTreeMap::new();
    let mut learn = Vec::new();
    let mut validate = Vec::new();
    for query in queries {
        let seen = seen_per_label.entry(query.gold_id.as_str()).or_default();
        if *seen % folds == fold {
            validate.push(query.clone())
        } else {
            learn.push(query.clone())
        }
        *seen += 1;
    }
    (learn, validate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_are_stratified_deterministic_and_complete() {
        let rows: Vec<(u32, String)> = (0..50).map(|i| (i, format!("label{}", i % 10))).collect();
        let split = |seed| stratified_split(rows.clone(), |row| row.1.clone(), &[0.6, 0.4], seed);
        let parts = split(7);
        assert_eq!(parts[0].len(), 30);
        assert_eq!(parts[1].len(), 20);
        for label in 0..10 {
            let in_first = parts[0].iter().filter(|row| row.1 == format!("label{label}")).count();
            assert_eq!(in_first, 3);
        }
        assert_eq!(parts, split(7));
        assert_ne!(parts, split(8));
        let three = stratified_split(rows, |row| row.1.clone(), &[0.7, 0.15, 0.15], 1);
        assert_eq!(three.iter().map(Vec::len).sum::<usize>(), 50);
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 0.5), 50.0);
        assert_eq!(percentile(&values, 0.99), 99.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }

    #[test]
    fn folds_rotate_within_each_label() {
        let queries: Vec<LabelledQuery> = (0..6)
            .map(|i| LabelledQuery { text: format!("q{i}"), gold_id: if i < 3 { "a".into() } else { "b".into() } })
            .collect();
        let (learn, validate) = cross_validation_fold(&queries, 3, 1);
        assert_eq!(validate.iter().map(|q| q.text.as_str()).collect::<Vec<_>>(), ["q1", "q4"]);
        assert_eq!(learn.len(), 4);
    }
}
