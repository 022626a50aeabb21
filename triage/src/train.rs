//! Training: model selection by cross-validation, calibration, the unsure
//! threshold, and the final fit.
//!
//! 1. Every candidate learner is cross-validated (stratified folds, fixed
//!    seed, a vocabulary fitted per fold); each example gets an out-of-fold
//!    score from a model that did not see it. The candidate with the best
//!    out-of-fold accuracy or macro-F1 wins.
//! 2. The vectoriser is fitted on all the training texts.
//! 3. On the winner's out-of-fold scores, per-class score offsets are tuned
//!    (optional: for macro-F1 on imbalanced labels, or for the least cost
//!    when missing some labels costs more, `miss_costs`).
//! 4. The winner is refitted on all the examples, its weights rounded to
//!    their stored precision.
//! 5. The temperature and the unsure threshold are fitted on the out-of-fold
//!    scores, or on a separate calibration set when one is given.
//!
//! Nothing here reads a held-out set: callers hold data out before calling
//! (the evaluation scripts do) and report on it with `eval`.

use std::collections::BTreeMap;
use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::artefact;
use crate::calibration::{ECE_BINS, expected_calibration_error, fit_temperature, softmax};
use crate::encoder::{EncoderFeatures, append_embedding};
use crate::error::{Error, Result};
use crate::features::{FeatureConfig, Vectorizer};
use crate::learners::{Learner, LearnerFamily};
use crate::metrics::macro_f1_of_indices;
use crate::model::{CandidateScore, Model, ModelMetadata, ValidationMetrics};
use crate::sparse::CsrMatrix;

/// Which out-of-fold figure picks the winning candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum SelectionMetric {
    Accuracy,
    /// Mean F1 over classes: every class counts the same, which is what
    /// imbalanced labels such as urgency need.
    MacroF1,
}

impl SelectionMetric {
    /// The figure of `score` this metric selects by.
    pub fn of(self, score: &CandidateScore) -> f64 {
        match self {
            SelectionMetric::Accuracy => score.accuracy,
            SelectionMetric::MacroF1 => score.macro_f1,
        }
    }
}

/// Whether to learn per-class score offsets that maximise out-of-fold
/// macro-F1 (a "threshold move" per class).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ClassOffsets {
    /// When selecting by macro-F1 with at most 12 classes.
    Auto,
    On,
    Off,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    /// Recorded in the model and the first part of its version.
    pub name: String,
    pub features: FeatureConfig,
    /// The learner families model selection may choose from.
    pub learners: Vec<LearnerFamily>,
    pub folds: usize,
    pub select_by: SelectionMetric,
    pub class_offsets: ClassOffsets,
    /// Cost-sensitive decisions: what missing a label costs (a wrong answer
    /// for an example of that label), relative to 1 for the labels not
    /// listed. When any is set, the class offsets (unless off) minimise the
    /// out-of-fold cost instead of maximising macro-F1, trading precision
    /// elsewhere for recall of the expensive labels.
    #[serde(default)]
    pub miss_costs: BTreeMap<String, f32>,
    /// A label that means "none of the above" (CLINC150's `oos`): trained as a
    /// class, predicted as unsure.
    pub unsure_label: Option<String>,
    /// Without an unsure label: the cost of an unsure answer relative to a
    /// wrong one (a right one costs 0). The threshold minimises the total
    /// out-of-fold cost, so 0.5 means "unsure where the model is right less
    /// than about half the time".
    pub unsure_cost: f32,
    /// With an unsure label: how much in-scope accuracy the unsure path may
    /// cost. The threshold is the highest that keeps validation in-scope
    /// accuracy within this much of its value without a threshold, which
    /// catches as many out-of-scope examples as that budget allows.
    pub max_in_scope_loss: f32,
    pub seed: u64,
    /// Sentence-encoder features beside the TF-IDF ones, if any.
    #[serde(skip)]
    pub encoder: Option<EncoderFeatures>,
    /// When the model was trained; `None` means now.
    #[serde(skip)]
    pub trained_at: Option<time::OffsetDateTime>,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            name: "triage".into(),
            features: FeatureConfig::default(),
            learners: LearnerFamily::ALL.to_vec(),
            folds: 5,
            select_by: SelectionMetric::MacroF1,
            class_offsets: ClassOffsets::Auto,
            miss_costs: BTreeMap::new(),
            unsure_label: None,
            unsure_cost: 0.5,
            max_in_scope_loss: 0.03,
            seed: 42,
            encoder: None,
            trained_at: None,
        }
    }
}

/// Trains a model on `(text, label)` pairs. This is what both the CSV command
/// and a store-backed retraining call.
pub fn train_from_examples(examples: Vec<(String, String)>, options: &TrainOptions) -> Result<Model> {
    train_with_progress(examples, None, options, &mut |_| {})
}

/// Trains one model per encoder candidate (none, a static table, a
/// transformer…) and keeps the one whose selected learner has the best
/// out-of-fold score by `options.select_by`: cross-validation decides
/// whether embedding features help this task. With one candidate it is
/// [`train_with_progress`] with that encoder.
pub fn train_choosing_encoder(
    examples: Vec<(String, String)>,
    calibration_examples: Option<Vec<(String, String)>>,
    options: &TrainOptions,
    candidates: Vec<Option<EncoderFeatures>>,
    progress: &mut dyn FnMut(&str),
) -> Result<Model> {
    let several = candidates.len() > 1;
    let mut best: Option<(f64, Model)> = None;
    for candidate in candidates {
        let described = candidate.as_ref().map_or_else(|| "no encoder".to_owned(), |c| c.encoder.name().to_owned());
        if several {
            progress(&format!("encoder candidate: {described}"));
        }
        let options = TrainOptions { encoder: candidate, ..options.clone() };
        let model = train_with_progress(examples.clone(), calibration_examples.clone(), &options, progress)?;
        let score =
            model.metadata.selection.iter().map(|score| options.select_by.of(score)).fold(f64::NEG_INFINITY, f64::max);
        if several {
            progress(&format!("encoder candidate {described}: best out-of-fold {score:.4}"));
        }
        if best.as_ref().is_none_or(|(best_score, _)| score > *best_score) {
            best = Some((score, model));
        }
    }
    let (_, model) = best.ok_or_else(|| Error::InvalidOptions("no encoder candidate to train with".into()))?;
    if several {
        let chosen = model.metadata.encoder.as_ref().map_or("no encoder", |spec| spec.name.as_str());
        progress(&format!("chose {chosen}"));
    }
    Ok(model)
}

/// [`train_from_examples`], with an optional calibration set and a report of
/// each step as a line of text.
///
/// `calibration_examples`, when given, are never trained on: the temperature
/// and the unsure threshold are fitted on them instead of on out-of-fold
/// scores. Give them when the texts the model will meet are drawn differently
/// from the training texts (another time, other writers), as CLINC150's
/// validation set is from its training set.
pub fn train_with_progress(
    examples: Vec<(String, String)>,
    calibration_examples: Option<Vec<(String, String)>>,
    options: &TrainOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<Model> {
    validate_options(options)?;
    let (texts, label_names): (Vec<String>, Vec<String>) = examples.into_iter().unzip();
    let labels_sorted: Vec<String> = {
        let mut unique = label_names.clone();
        unique.sort();
        unique.dedup();
        unique
    };
    if labels_sorted.len() < 2 {
        return Err(Error::Data(format!("need at least two labels, found {}", labels_sorted.len())));
    }
    if texts.len() < options.folds {
        return Err(Error::Data(format!("need at least {} examples, found {}", options.folds, texts.len())));
    }
    let label_index: BTreeMap<&str, u32> =
        labels_sorted.iter().enumerate().map(|(index, label)| (label.as_str(), index as u32)).collect();
    let labels: Vec<u32> = label_names.iter().map(|label| label_index[label.as_str()]).collect();
    let n_classes = labels_sorted.len();
    let unsure_index =
        match &options.unsure_label {
            None => None,
            Some(unsure) => Some(label_index.get(unsure.as_str()).copied().ok_or_else(|| {
                Error::Data(format!("the unsure label {unsure:?} does not occur in the training data"))
            })? as usize),
        };
    let mut class_counts: BTreeMap<String, usize> = BTreeMap::new();
    for label in &label_names {
        *class_counts.entry(label.clone()).or_default() += 1;
    }
    let fingerprint = fingerprint(&texts, &label_names);

    // Embeddings cost far more than n-grams and do not depend on the fold,
    // so every text is embedded once.
    let embeddings = match &options.encoder {
        None => None,
        Some(choice) => {
            let started = Instant::now();
            let embeddings = choice.encoder.embed_all(&texts, choice.max_tokens);
            progress(&format!(
                "{} texts embedded by {} ({} dimensions, weight {}) in {:.1}s",
                texts.len(),
                choice.encoder.name(),
                choice.encoder.dimension(),
                choice.weight,
                started.elapsed().as_secs_f64()
            ));
            Some(Embedded { vectors: embeddings, choice: choice.clone() })
        }
    };

    let started = Instant::now();
    let vectorizer = Vectorizer::fit(&texts, options.features.clone())?;
    let all_rows: Vec<usize> = (0..texts.len()).collect();
    let matrix = feature_matrix(&vectorizer, &texts, &all_rows, embeddings.as_ref());
    progress(&format!(
        "{} examples, {} labels, {} features ({} word n-grams), vectorised in {:.1}s",
        texts.len(),
        n_classes,
        matrix.n_columns,
        vectorizer.n_word_features(),
        started.elapsed().as_secs_f64()
    ));

    // Cross-validation of every candidate.
    let fold_of = stratified_folds(&labels, n_classes, options.folds, options.seed);
    let started = Instant::now();
    let folds: Vec<Fold> = (0..options.folds)
        .map(|fold| Fold::build(fold, &fold_of, &texts, &labels, &options.features, embeddings.as_ref()))
        .collect::<Result<_>>()?;
    progress(&format!(
        "{} stratified folds, each with its own vocabulary, in {:.1}s",
        options.folds,
        started.elapsed().as_secs_f64()
    ));
    let mut candidates: Vec<(Learner, Vec<f32>, CandidateScore)> = Vec::new();
    for family in &options.learners {
        for learner in family.grid() {
            let started = Instant::now();
            let scores = out_of_fold_scores(&learner, &folds, labels.len(), n_classes)?;
            let predicted = argmax_rows(&scores, n_classes);
            let score = CandidateScore {
                learner: learner.clone(),
                accuracy: accuracy_of_indices(&labels, &predicted),
                macro_f1: macro_f1_of_indices(&labels, &predicted, n_classes),
            };
            // Timings go to the report only: the model must be a pure
            // function of its data and options.
            let fit_seconds = started.elapsed().as_secs_f64() / options.folds as f64;
            progress(&format!(
                "  cv {:<40} accuracy {:.4}  macro-F1 {:.4}  ({:.1}s per fit)",
                learner.describe(),
                score.accuracy,
                score.macro_f1,
                fit_seconds
            ));
            candidates.push((learner, scores, score));
        }
    }
    let selection_value = |score: &CandidateScore| options.select_by.of(score);
    let best_position = candidates.iter().enumerate().fold(0, |best, (position, candidate)| {
        if selection_value(&candidate.2) > selection_value(&candidates[best].2) { position } else { best }
    });
    let selection: Vec<CandidateScore> = candidates.iter().map(|candidate| candidate.2.clone()).collect();
    let (learner, mut oof_scores, _) = candidates.swap_remove(best_position);
    drop(candidates);
    progress(&format!("selected {}", learner.describe()));

    // Per-class offsets, tuned on out-of-fold scores: for macro-F1, or for
    // the least cost when missing some labels costs more.
    let objective = if options.miss_costs.is_empty() {
        OffsetObjective::MacroF1
    } else {
        let mut costs = vec![1.0_f64; n_classes];
        for (label, cost) in &options.miss_costs {
            let index = label_index.get(label.as_str()).ok_or_else(|| {
                Error::Data(format!("the miss cost's label {label:?} does not occur in the training data"))
            })?;
            costs[*index as usize] = f64::from(*cost);
        }
        OffsetObjective::Cost(costs)
    };
    let use_offsets = match options.class_offsets {
        ClassOffsets::On => true,
        ClassOffsets::Off => false,
        ClassOffsets::Auto => {
            matches!(objective, OffsetObjective::Cost(_))
                || (options.select_by == SelectionMetric::MacroF1 && n_classes <= 12)
        }
    };
    let offsets = if use_offsets {
        tune_class_offsets(&oof_scores, &labels, n_classes, &objective)
    } else {
        vec![0.0; n_classes]
    };
    if offsets.iter().any(|&offset| offset != 0.0) {
        progress(&format!("class score offsets {offsets:?}"));
    }
    for row in oof_scores.chunks_exact_mut(n_classes) {
        for (score, offset) in row.iter_mut().zip(&offsets) {
            *score += offset;
        }
    }

    // The final fit on everything.
    let started = Instant::now();
    let mut scorer = learner.fit(&matrix, &labels, n_classes)?;
    for (bias, offset) in scorer.bias_mut().iter_mut().zip(&offsets) {
        *bias += offset;
    }
    let scorer = artefact::round_trip_weights(&scorer)?;
    progress(&format!("final fit in {:.1}s", started.elapsed().as_secs_f64()));

    // Temperature and threshold: on a separate calibration set when given
    // (data drawn like the data the model will meet), else on the
    // out-of-fold scores.
    let (calibration_scores, calibration_labels, source) = match calibration_examples {
        None => (oof_scores, labels.clone(), format!("{}-fold out-of-fold", options.folds)),
        Some(calibration_examples) => {
            let mut calibration_labels = Vec::with_capacity(calibration_examples.len());
            for (_, label) in &calibration_examples {
                let index = label_index.get(label.as_str()).copied().ok_or_else(|| {
                    Error::Data(format!("calibration label {label:?} does not occur in the training data"))
                })?;
                calibration_labels.push(index);
            }
            let calibration_texts: Vec<String> = calibration_examples.into_iter().map(|(text, _)| text).collect();
            let calibration_embeddings = embeddings.as_ref().map(|embedded| Embedded {
                vectors: embedded.choice.encoder.embed_all(&calibration_texts, embedded.choice.max_tokens),
                choice: embedded.choice.clone(),
            });
            let rows: Vec<usize> = (0..calibration_texts.len()).collect();
            let calibration_matrix =
                feature_matrix(&vectorizer, &calibration_texts, &rows, calibration_embeddings.as_ref());
            let source = format!("calibration set of {}", calibration_labels.len());
            (scorer.score_matrix(&calibration_matrix), calibration_labels, source)
        }
    };
    let (temperature, unsure_threshold, validation) =
        calibrate(&calibration_scores, &calibration_labels, n_classes, unsure_index, source, options, progress);

    let trained_at = options.trained_at.unwrap_or_else(time::OffsetDateTime::now_utc);
    let metadata = ModelMetadata {
        name: options.name.clone(),
        trained_at: trained_at
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|error| Error::InvalidOptions(format!("training date: {error}")))?,
        data_fingerprint: fingerprint,
        n_examples: labels.len(),
        class_counts,
        learner,
        selection,
        validation,
        trainer_version: env!("CARGO_PKG_VERSION").to_owned(),
        encoder: options.encoder.as_ref().map(EncoderFeatures::spec),
    };
    let mut model = Model {
        vectorizer,
        scorer,
        labels: labels_sorted,
        temperature,
        unsure_threshold,
        unsure_label: unsure_index,
        metadata,
        version: String::new(),
        encoder: options.encoder.as_ref().map(|choice| choice.encoder.clone()),
    };
    model.validate()?;
    model.version = artefact::version_of(&model.metadata.name, &artefact::encode_payload(&model)?);
    Ok(model)
}

/// Fits the temperature and the unsure threshold on `scores` (row-major,
/// offsets applied) and measures the result there.
fn calibrate(
    scores: &[f32],
    labels: &[u32],
    n_classes: usize,
    unsure_index: Option<usize>,
    source: String,
    options: &TrainOptions,
    progress: &mut dyn FnMut(&str),
) -> (f32, f32, ValidationMetrics) {
    let predicted = argmax_rows(scores, n_classes);
    let ece_uncalibrated = ece_of(scores, labels, n_classes, 1.0);
    let temperature = fit_temperature(scores, labels, n_classes);
    let ece = ece_of(scores, labels, n_classes, temperature);
    let confidences = top_confidences(scores, n_classes, temperature);
    let unsure_threshold = choose_unsure_threshold(&confidences, &predicted, labels, unsure_index, options);
    if let Some(unsure_index) = unsure_index {
        progress(&format!(
            "{source}: threshold → in-scope accuracy/out-of-scope recall  {}",
            operating_points(&confidences, &predicted, labels, unsure_index)
        ));
    }
    let unsure: Vec<bool> = confidences
        .iter()
        .zip(&predicted)
        .map(|(&confidence, &prediction)| Some(prediction as usize) == unsure_index || confidence < unsure_threshold)
        .collect();
    let accepted: Vec<usize> = (0..labels.len()).filter(|&row| !unsure[row]).collect();
    let accepted_accuracy = if accepted.is_empty() {
        0.0
    } else {
        accepted.iter().filter(|&&row| predicted[row] == labels[row]).count() as f64 / accepted.len() as f64
    };
    let (in_scope_accuracy, unsure_recall) = match unsure_index {
        None => (None, None),
        Some(unsure_index) => {
            let (in_scope_accuracy, unsure_recall) =
                unsure_operating_point(&confidences, &predicted, labels, unsure_index, unsure_threshold);
            (Some(in_scope_accuracy), Some(unsure_recall))
        }
    };
    let validation = ValidationMetrics {
        source,
        accuracy: accuracy_of_indices(labels, &predicted),
        macro_f1: macro_f1_of_indices(labels, &predicted, n_classes),
        ece_uncalibrated,
        ece,
        unsure_rate: unsure.iter().filter(|&&is_unsure| is_unsure).count() as f64 / labels.len().max(1) as f64,
        accepted_accuracy,
        in_scope_accuracy,
        unsure_recall,
    };
    (temperature, unsure_threshold, validation)
}

fn validate_options(options: &TrainOptions) -> Result<()> {
    options.features.validate()?;
    if options.folds < 2 {
        return Err(Error::InvalidOptions(format!("need at least 2 folds, got {}", options.folds)));
    }
    if options.learners.is_empty() {
        return Err(Error::InvalidOptions("no learner family allowed".into()));
    }
    if !(0.0..=1.0).contains(&options.unsure_cost) || !(0.0..=1.0).contains(&options.max_in_scope_loss) {
        return Err(Error::InvalidOptions("unsure cost and in-scope loss must be within 0..=1".into()));
    }
    if let Some((label, cost)) = options.miss_costs.iter().find(|(_, cost)| !(cost.is_finite() && **cost > 0.0)) {
        return Err(Error::InvalidOptions(format!("the miss cost of {label:?} must be a positive number, got {cost}")));
    }
    if options.name.is_empty() || options.name.contains('@') {
        return Err(Error::InvalidOptions(format!("model name {:?} must be non-empty without '@'", options.name)));
    }
    Ok(())
}

/// SHA-256 over the examples sorted, each field length-prefixed, so the same
/// data in another order has the same fingerprint.
fn fingerprint(texts: &[String], labels: &[String]) -> String {
    let mut pairs: Vec<(&str, &str)> =
        labels.iter().map(String::as_str).zip(texts.iter().map(String::as_str)).collect();
    pairs.sort_unstable();
    let mut hasher = Sha256::new();
    for (label, text) in pairs {
        for field in [label, text] {
            hasher.update((field.len() as u64).to_le_bytes());
            hasher.update(field.as_bytes());
        }
    }
    hasher.finalize().iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Deterministic generator for fold assignment.
fn next_random(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut mixed = *state;
    mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    mixed ^ (mixed >> 31)
}

/// Fisher–Yates with [`next_random`]: the same order for the same state on
/// every machine.
pub(crate) fn shuffle<T>(items: &mut [T], state: &mut u64) {
    for position in (1..items.len()).rev() {
        let other = (next_random(state) % (position as u64 + 1)) as usize;
        items.swap(position, other);
    }
}

/// The fold of each example: within each class the examples are shuffled and
/// dealt round-robin, continuing where the previous class stopped, so every
/// fold gets each class's share and the folds differ in size by at most one.
pub(crate) fn stratified_folds(labels: &[u32], n_classes: usize, folds: usize, seed: u64) -> Vec<usize> {
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); n_classes];
    for (row, &label) in labels.iter().enumerate() {
        by_class[label as usize].push(row);
    }
    let mut state = seed;
    let mut assignment = vec![0usize; labels.len()];
    let mut next_fold = 0;
    for rows in &mut by_class {
        shuffle(rows, &mut state);
        for &row in rows.iter() {
            assignment[row] = next_fold;
            next_fold = (next_fold + 1) % folds;
        }
    }
    assignment
}

/// Every text's embedding, computed once for training.
struct Embedded {
    vectors: Vec<Vec<f32>>,
    choice: EncoderFeatures,
}

/// The feature rows of `texts[rows]`: TF-IDF, then the embedding if any.
fn feature_matrix(
    vectorizer: &Vectorizer,
    texts: &[String],
    rows: &[usize],
    embeddings: Option<&Embedded>,
) -> CsrMatrix {
    let offset = vectorizer.n_features();
    let vectors: Vec<_> = rows
        .par_iter()
        .map(|&row| {
            let mut features = vectorizer.transform(&texts[row]);
            if let Some(embedded) = embeddings {
                append_embedding(&mut features, offset, &embedded.vectors[row], embedded.choice.weight);
            }
            features
        })
        .collect();
    let dimension = embeddings.map_or(0, |embedded| embedded.choice.encoder.dimension());
    CsrMatrix::from_rows(&vectors, offset + dimension)
}

/// One cross-validation fold. The vectoriser is refitted on the fold's
/// training part, so no n-gram or document frequency of a held-out text leaks
/// into the model that scores it: out-of-fold figures are honest estimates.
struct Fold {
    train_matrix: CsrMatrix,
    train_labels: Vec<u32>,
    held_rows: Vec<usize>,
    held_matrix: CsrMatrix,
}

impl Fold {
    fn build(
        fold: usize,
        fold_of: &[usize],
        texts: &[String],
        labels: &[u32],
        config: &FeatureConfig,
        embeddings: Option<&Embedded>,
    ) -> Result<Fold> {
        let train_rows: Vec<usize> = (0..labels.len()).filter(|&row| fold_of[row] != fold).collect();
        let held_rows: Vec<usize> = (0..labels.len()).filter(|&row| fold_of[row] == fold).collect();
        let train_texts: Vec<&str> = train_rows.iter().map(|&row| texts[row].as_str()).collect();
        let vectorizer = Vectorizer::fit(&train_texts, config.clone())?;
        let vectorize = |rows: &[usize]| feature_matrix(&vectorizer, texts, rows, embeddings);
        Ok(Fold {
            train_matrix: vectorize(&train_rows),
            train_labels: train_rows.iter().map(|&row| labels[row]).collect(),
            held_matrix: vectorize(&held_rows),
            held_rows,
        })
    }
}

fn out_of_fold_scores(learner: &Learner, folds: &[Fold], n_rows: usize, n_classes: usize) -> Result<Vec<f32>> {
    let per_fold: Vec<Result<Vec<f32>>> = folds
        .par_iter()
        .map(|fold| {
            let scorer = learner.fit(&fold.train_matrix, &fold.train_labels, n_classes)?;
            Ok(scorer.score_matrix(&fold.held_matrix))
        })
        .collect();
    let mut scores = vec![0.0f32; n_rows * n_classes];
    for (fold, fold_scores) in folds.iter().zip(per_fold) {
        let fold_scores = fold_scores?;
        for (position, &row) in fold.held_rows.iter().enumerate() {
            scores[row * n_classes..(row + 1) * n_classes]
                .copy_from_slice(&fold_scores[position * n_classes..(position + 1) * n_classes]);
        }
    }
    Ok(scores)
}

fn argmax_rows(scores: &[f32], n_classes: usize) -> Vec<u32> {
    scores
        .chunks_exact(n_classes)
        .map(|row| {
            let mut best = 0;
            for (index, &score) in row.iter().enumerate() {
                if score > row[best] {
                    best = index;
                }
            }
            best as u32
        })
        .collect()
}

fn accuracy_of_indices(truth: &[u32], predicted: &[u32]) -> f64 {
    truth.iter().zip(predicted).filter(|(t, p)| t == p).count() as f64 / truth.len().max(1) as f64
}

fn top_confidences(scores: &[f32], n_classes: usize, temperature: f32) -> Vec<f32> {
    let mut probabilities = vec![0.0f32; n_classes];
    scores
        .chunks_exact(n_classes)
        .map(|row| {
            softmax(row, temperature, &mut probabilities);
            probabilities.iter().copied().fold(0.0, f32::max)
        })
        .collect()
}

fn ece_of(scores: &[f32], labels: &[u32], n_classes: usize, temperature: f32) -> f64 {
    let confidences = top_confidences(scores, n_classes, temperature);
    let predicted = argmax_rows(scores, n_classes);
    let correct: Vec<bool> = predicted.iter().zip(labels).map(|(p, t)| p == t).collect();
    expected_calibration_error(&confidences, &correct, ECE_BINS)
}

/// In-scope accuracy and out-of-scope recall at `threshold`.
fn unsure_operating_point(
    confidences: &[f32],
    predicted: &[u32],
    labels: &[u32],
    unsure_index: usize,
    threshold: f32,
) -> (f64, f64) {
    let (mut in_scope, mut in_scope_right, mut out_of_scope, mut caught) = (0usize, 0usize, 0usize, 0usize);
    for ((&confidence, &prediction), &label) in confidences.iter().zip(predicted).zip(labels) {
        let unsure = prediction as usize == unsure_index || confidence < threshold;
        if label as usize == unsure_index {
            out_of_scope += 1;
            caught += usize::from(unsure);
        } else {
            in_scope += 1;
            in_scope_right += usize::from(!unsure && prediction == label);
        }
    }
    (in_scope_right as f64 / in_scope.max(1) as f64, caught as f64 / out_of_scope.max(1) as f64)
}

/// The unsure threshold, chosen on validation predictions (see
/// [`TrainOptions::unsure_cost`] and [`TrainOptions::max_in_scope_loss`]).
/// Candidates are 0 and the observed confidences.
fn choose_unsure_threshold(
    confidences: &[f32],
    predicted: &[u32],
    labels: &[u32],
    unsure_index: Option<usize>,
    options: &TrainOptions,
) -> f32 {
    let mut candidates: Vec<f32> = confidences.to_vec();
    candidates.push(0.0);
    candidates.sort_by(f32::total_cmp);
    candidates.dedup();
    // At most ~2,000 candidates: quantiles of the observed confidences.
    if candidates.len() > 2_000 {
        let step = candidates.len() as f64 / 2_000.0;
        candidates = (0..2_000).map(|i| candidates[(i as f64 * step) as usize]).collect();
        candidates[0] = 0.0;
    }
    let mut best = (f64::NEG_INFINITY, 0.0f32);
    match unsure_index {
        Some(unsure_index) => {
            // Out-of-scope recall only grows with the threshold, and in-scope
            // accuracy only falls: the answer is the highest threshold within
            // the in-scope budget. (Recall, measured on the few out-of-scope
            // examples, has plateaus that are sampling noise; the budget,
            // measured on the many in-scope ones, is the reliable constraint.)
            let (baseline, _) = unsure_operating_point(confidences, predicted, labels, unsure_index, 0.0);
            let floor = baseline - f64::from(options.max_in_scope_loss);
            for &threshold in &candidates {
                let (in_scope_accuracy, _) =
                    unsure_operating_point(confidences, predicted, labels, unsure_index, threshold);
                if in_scope_accuracy + 1e-12 < floor {
                    break;
                }
                best = (0.0, threshold);
            }
        }
        None => {
            for &threshold in &candidates {
                let cost: f64 = confidences
                    .iter()
                    .zip(predicted.iter().zip(labels))
                    .map(|(&confidence, (prediction, label))| {
                        if confidence < threshold {
                            f64::from(options.unsure_cost)
                        } else if prediction == label {
                            0.0
                        } else {
                            1.0
                        }
                    })
                    .sum();
                if -cost > best.0 + 1e-12 {
                    best = (-cost, threshold);
                }
            }
        }
    }
    best.1
}

/// In-scope accuracy and out-of-scope recall at a few thresholds, for the
/// training report.
fn operating_points(confidences: &[f32], predicted: &[u32], labels: &[u32], unsure_index: usize) -> String {
    [0.0f32, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
        .iter()
        .map(|&threshold| {
            let (in_scope, recall) = unsure_operating_point(confidences, predicted, labels, unsure_index, threshold);
            format!("{threshold:.1}: {in_scope:.3}/{recall:.3}")
        })
        .collect::<Vec<_>>()
        .join("  ")
}

/// What the class offsets are tuned for.
#[derive(Clone, Debug, PartialEq)]
enum OffsetObjective {
    MacroF1,
    /// The least total cost of wrong answers, each costing its true label's
    /// entry (as one minus the cost share, so that higher is better).
    Cost(Vec<f64>),
}

impl OffsetObjective {
    /// The figure of `predicted` against `labels`: higher is better.
    fn value(&self, labels: &[u32], predicted: &[u32], n_classes: usize) -> f64 {
        match self {
            OffsetObjective::MacroF1 => macro_f1_of_indices(labels, predicted, n_classes),
            OffsetObjective::Cost(costs) => {
                let total: f64 = labels.iter().map(|&label| costs[label as usize]).sum();
                let missed: f64 = labels
                    .iter()
                    .zip(predicted)
                    .filter(|(label, predicted)| label != predicted)
                    .map(|(&label, _)| costs[label as usize])
                    .sum();
                if total > 0.0 { 1.0 - missed / total } else { 1.0 }
            }
        }
    }
}

/// Per-class additive score offsets that maximise `objective` out of fold,
/// by coordinate ascent over a grid scaled to the spread of the scores. Kept
/// only if they gain at least half a point (smaller gains are noise more
/// often than not).
fn tune_class_offsets(scores: &[f32], labels: &[u32], n_classes: usize, objective: &OffsetObjective) -> Vec<f32> {
    let mean = scores.iter().map(|&s| f64::from(s)).sum::<f64>() / scores.len().max(1) as f64;
    let spread = (scores.iter().map(|&s| (f64::from(s) - mean).powi(2)).sum::<f64>() / scores.len().max(1) as f64)
        .sqrt()
        .max(1e-6) as f32;
    let grid: Vec<f32> = (-30..=30).map(|step| step as f32 * 0.05 * spread).collect();
    let value_with = |offsets: &[f32]| {
        let predicted: Vec<u32> = scores
            .chunks_exact(n_classes)
            .map(|row| {
                let mut best = 0;
                for class in 1..n_classes {
                    if row[class] + offsets[class] > row[best] + offsets[best] {
                        best = class;
                    }
                }
                best as u32
            })
            .collect();
        objective.value(labels, &predicted, n_classes)
    };
    let baseline = value_with(&vec![0.0; n_classes]);
    let mut offsets = vec![0.0f32; n_classes];
    let mut current = baseline;
    for _pass in 0..3 {
        for class in 0..n_classes {
            let mut best = (current, offsets[class]);
            for &candidate in &grid {
                let mut trial = offsets.clone();
                trial[class] = candidate;
                let value = value_with(&trial);
                let better =
                    value > best.0 + 1e-12 || ((value - best.0).abs() <= 1e-12 && candidate.abs() < best.1.abs());
                if better {
                    best = (value, candidate);
                }
            }
            offsets[class] = best.1;
            current = best.0;
        }
    }
    if current >= baseline + 0.005 { offsets } else { vec![0.0; n_classes] }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_are_stratified_and_balanced() {
        let labels: Vec<u32> = (0..103)
            .map(|i| {
                if i < 80 {
                    0
                } else if i < 100 {
                    1
                } else {
                    2
                }
            })
            .collect();
        let folds = stratified_folds(&labels, 3, 5, 1);
        for fold in 0..5 {
            let size = folds.iter().filter(|&&f| f == fold).count();
            assert!((20..=21).contains(&size), "fold {fold} has {size}");
            let class_one = (80..100).filter(|&row| folds[row] == fold).count();
            assert_eq!(class_one, 4);
        }
        assert_eq!(folds, stratified_folds(&labels, 3, 5, 1), "deterministic");
    }

    #[test]
    fn fingerprints_ignore_order_but_not_content() {
        let texts = ["a".to_owned(), "b".to_owned()];
        let labels = ["x".to_owned(), "y".to_owned()];
        let reversed_texts = ["b".to_owned(), "a".to_owned()];
        let reversed_labels = ["y".to_owned(), "x".to_owned()];
        assert_eq!(fingerprint(&texts, &labels), fingerprint(&reversed_texts, &reversed_labels));
        assert_ne!(fingerprint(&texts, &labels), fingerprint(&texts, &reversed_labels));
    }

    #[test]
    fn threshold_without_unsure_label_follows_the_cost() {
        // Right at high confidence, wrong at low: the threshold falls between.
        let confidences = [0.9, 0.8, 0.3, 0.2];
        let predicted = [0, 1, 0, 1];
        let labels = [0, 1, 1, 0];
        let options = TrainOptions::default();
        let threshold = choose_unsure_threshold(&confidences, &predicted, &labels, None, &options);
        assert!(threshold > 0.3 && threshold <= 0.8, "{threshold}");
        let never_unsure = TrainOptions { unsure_cost: 1.0, ..TrainOptions::default() };
        assert_eq!(choose_unsure_threshold(&confidences, &predicted, &labels, None, &never_unsure), 0.0);
    }

    #[test]
    fn threshold_with_unsure_label_spends_the_in_scope_budget() {
        // Label 2 is out of scope. In-scope examples: right at 0.9, 0.8, 0.7,
        // 0.6 and wrong at 0.3; out-of-scope ones at 0.5 and 0.2.
        let confidences = [0.9, 0.8, 0.7, 0.6, 0.3, 0.5, 0.2];
        let predicted = [0, 1, 0, 1, 1, 0, 1];
        let labels = [0, 1, 0, 1, 0, 2, 2];
        let generous = TrainOptions { max_in_scope_loss: 0.0, ..TrainOptions::default() };
        // No loss allowed: the threshold may still rise past the wrong 0.3.
        let threshold = choose_unsure_threshold(&confidences, &predicted, &labels, Some(2), &generous);
        assert!(threshold > 0.3 && threshold <= 0.6, "{threshold}");
        let options = TrainOptions { max_in_scope_loss: 0.2, ..TrainOptions::default() };
        // One in-scope answer (0.2 of 5) may be given up: 0.6 becomes unsure.
        let threshold = choose_unsure_threshold(&confidences, &predicted, &labels, Some(2), &options);
        assert!(threshold > 0.6 && threshold <= 0.7, "{threshold}");
    }

    #[test]
    fn offsets_help_a_starved_class() {
        // Class 1 always scores a little below class 0: only an offset finds it.
        let mut scores = Vec::new();
        let mut labels = Vec::new();
        for i in 0..100 {
            let is_one = i % 5 == 0;
            scores.extend([1.0, if is_one { 0.9 } else { 0.2 }]);
            labels.push(u32::from(is_one));
        }
        let offsets = tune_class_offsets(&scores, &labels, 2, &OffsetObjective::MacroF1);
        assert!(offsets[1] - offsets[0] > 0.1 && offsets[1] - offsets[0] < 0.8, "{offsets:?}");
    }

    #[test]
    fn a_costly_miss_buys_recall_with_precision() {
        // Class 1 (a fifth) scores 0.5 to 0.9, class 0 0.1 to 0.85, against a
        // constant 1.0 for class 0: they overlap.
        let (mut scores, mut labels) = (Vec::new(), Vec::new());
        for i in 0..100 {
            let is_one = i % 5 == 0;
            let second = if is_one { 0.5 + 0.4 * (i / 5) as f32 / 19.0 } else { 0.1 + 0.75 * i as f32 / 99.0 };
            scores.extend([1.0, second]);
            labels.push(u32::from(is_one));
        }
        let recall_of_one = |offsets: &[f32]| {
            let found = scores
                .chunks_exact(2)
                .zip(&labels)
                .filter(|(row, label)| **label == 1 && row[1] + offsets[1] > row[0] + offsets[0])
                .count();
            found as f64 / 20.0
        };
        let balanced = tune_class_offsets(&scores, &labels, 2, &OffsetObjective::MacroF1);
        let costly = tune_class_offsets(&scores, &labels, 2, &OffsetObjective::Cost(vec![1.0, 10.0]));
        assert_eq!(recall_of_one(&costly), 1.0, "{costly:?}");
        assert!(recall_of_one(&balanced) < 1.0, "{balanced:?}");
        // Equal costs are plain accuracy.
        let objective = OffsetObjective::Cost(vec![1.0, 1.0]);
        assert!((objective.value(&[0, 1, 1, 0], &[0, 1, 0, 0], 2) - 0.75).abs() < 1e-12);
    }
}
