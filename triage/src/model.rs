//! A trained classifier, as the triage stage uses it.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::calibration::softmax;
use crate::encoder::{EncoderSpec, SentenceEncoder};
use crate::error::{Error, Result};
use crate::features::{Scratch, Vectorizer};
use crate::learners::Learner;
use crate::linear::LinearScorer;
use crate::sparse::SparseVector;

/// How many alternatives a [`Prediction`] lists.
pub const TOP_LABELS: usize = 3;

/// Why a prediction carries no label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnsureReason {
    /// The most probable label's confidence is below the model's threshold.
    LowConfidence,
    /// The most probable label is the model's explicit out-of-scope label.
    OutOfScope,
}

/// What a model says about one text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// The label, or `None` when the model is unsure and a person should
    /// triage the ticket.
    pub label: Option<String>,
    /// Why `label` is `None`.
    pub unsure: Option<UnsureReason>,
    /// The most probable label, even when unsure (for a fallback or a hint).
    pub best_label: String,
    /// Calibrated probability of `best_label`.
    pub confidence: f32,
    /// The most probable labels with their probabilities, best first.
    pub top: Vec<(String, f32)>,
    /// The version of the model that decided ([`Model::version`]).
    pub model_version: String,
}

impl Prediction {
    pub fn is_unsure(&self) -> bool {
        self.label.is_none()
    }
}

/// One row of the cross-validation table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CandidateScore {
    pub learner: Learner,
    pub accuracy: f64,
    pub macro_f1: f64,
}

/// Figures measured where the model was calibrated: on out-of-fold
/// predictions of the training data (each example scored by a model that did
/// not see it), or on a separate calibration set. Model selection or
/// calibration used these, so they lean optimistic; held-out figures come from
/// `eval`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValidationMetrics {
    /// "5-fold out-of-fold" or "calibration set of N".
    pub source: String,
    pub accuracy: f64,
    pub macro_f1: f64,
    /// ECE of `softmax(scores)` before calibration, and after.
    pub ece_uncalibrated: f64,
    pub ece: f64,
    /// Share of examples below the unsure threshold (or given the unsure label).
    pub unsure_rate: f64,
    /// Accuracy on the examples the model was sure about.
    pub accepted_accuracy: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_scope_accuracy: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsure_recall: Option<f64>,
}

/// Where a model came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelMetadata {
    pub name: String,
    /// RFC 3339; `SOURCE_DATE_EPOCH` pins it for reproducible builds.
    pub trained_at: String,
    /// SHA-256 of the training examples (order-independent), hex.
    pub data_fingerprint: String,
    pub n_examples: usize,
    pub class_counts: BTreeMap<String, usize>,
    pub learner: Learner,
    pub selection: Vec<CandidateScore>,
    pub validation: ValidationMetrics,
    /// The `switchboard-triage` version that trained it.
    pub trainer_version: String,
    /// The sentence encoder whose embedding follows the TF-IDF features, if
    /// the model uses one (see [`crate::encoder`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoder: Option<EncoderSpec>,
}

/// A trained classifier: features, linear scores, calibration and the unsure
/// rule. Immutable after construction, `Send + Sync`; share it in an `Arc`.
/// Its `Debug` output is a one-line summary, safe to log.
#[derive(Clone)]
pub struct Model {
    pub(crate) vectorizer: Vectorizer,
    pub(crate) scorer: LinearScorer,
    pub(crate) labels: Vec<String>,
    pub(crate) temperature: f32,
    pub(crate) unsure_threshold: f32,
    pub(crate) unsure_label: Option<usize>,
    pub(crate) metadata: ModelMetadata,
    /// `<name>@<first 12 hex digits of the payload checksum>`: two models
    /// with the same version are the same bytes.
    pub(crate) version: String,
    /// Present exactly when `metadata.encoder` is.
    pub(crate) encoder: Option<Arc<SentenceEncoder>>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Model")
            .field("version", &self.version)
            .field("labels", &self.labels.len())
            .field("features", &self.vectorizer.n_features())
            .field("learner", &self.metadata.learner.describe())
            .field("trained_at", &self.metadata.trained_at)
            .field("encoder", &self.metadata.encoder.as_ref().map(|spec| &spec.name))
            .finish_non_exhaustive()
    }
}

thread_local! {
    static SCRATCH: RefCell<(Scratch, SparseVector, Vec<f32>, Vec<f32>)> = RefCell::default();
}

impl Model {
    /// Reads a model file (see `artefact` for the format and its errors).
    pub fn load(path: impl AsRef<Path>) -> Result<Model> {
        crate::artefact::load(path.as_ref())
    }

    /// Writes the model to `path` (atomically: a temporary file renamed).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        crate::artefact::save(self, path.as_ref())
    }

    /// Parses a model file's bytes (for models kept in a database).
    pub fn from_bytes(bytes: &[u8]) -> Result<Model> {
        crate::artefact::from_bytes(bytes, Path::new("<bytes>"))
    }

    /// The model file's bytes, exactly as [`Model::save`] writes them.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        crate::artefact::to_bytes(self)
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    pub fn unsure_threshold(&self) -> f32 {
        self.unsure_threshold
    }

    pub fn unsure_label(&self) -> Option<&str> {
        self.unsure_label.map(|index| self.labels[index].as_str())
    }

    pub fn temperature(&self) -> f32 {
        self.temperature
    }

    /// Features the scorer reads: the vocabulary, plus the encoder's
    /// dimensions when there is one.
    pub fn n_features(&self) -> usize {
        self.scorer.n_features()
    }

    /// The sentence encoder this model's features include, if any.
    pub fn encoder(&self) -> Option<&Arc<SentenceEncoder>> {
        self.encoder.as_ref()
    }

    /// The features of one text, as the scorer sees them.
    fn features_into(&self, text: &str, scratch: &mut Scratch, features: &mut SparseVector) {
        self.vectorizer.transform_into(text, scratch, features);
        if let (Some(encoder), Some(spec)) = (&self.encoder, &self.metadata.encoder) {
            let embedding = encoder.embed(text, spec.max_tokens);
            crate::encoder::append_embedding(features, self.vectorizer.n_features(), &embedding, spec.weight);
        }
    }

    /// Calibrated probability of every label (in [`Model::labels`] order).
    pub fn probabilities(&self, text: &str) -> Vec<f32> {
        let mut probabilities = vec![0.0; self.labels.len()];
        self.probabilities_into(text, &mut probabilities);
        probabilities
    }

    fn probabilities_into(&self, text: &str, probabilities: &mut [f32]) {
        SCRATCH.with(|cell| {
            let mut guard = cell.borrow_mut();
            let (scratch, features, scores, _) = &mut *guard;
            self.features_into(text, scratch, features);
            scores.resize(self.labels.len(), 0.0);
            self.scorer.scores_into(features, scores);
            softmax(scores, self.temperature, probabilities);
        });
    }

    /// Classifies one text (for a ticket, pass [`crate::ticket_text`]).
    pub fn predict(&self, text: &str) -> Prediction {
        SCRATCH.with(|cell| {
            let mut guard = cell.borrow_mut();
            let (scratch, features, scores, probabilities) = &mut *guard;
            self.features_into(text, scratch, features);
            scores.resize(self.labels.len(), 0.0);
            probabilities.resize(self.labels.len(), 0.0);
            self.scorer.scores_into(features, scores);
            softmax(scores, self.temperature, probabilities);
            self.decide(probabilities)
        })
    }

    /// The decision rule, given calibrated probabilities.
    pub(crate) fn decide(&self, probabilities: &[f32]) -> Prediction {
        let mut top: Vec<(usize, f32)> = Vec::with_capacity(TOP_LABELS + 1);
        for (index, &probability) in probabilities.iter().enumerate() {
            // Insertion into a tiny sorted list: cheaper than sorting all
            // labels, and ties keep the lower index first.
            let position = top.iter().position(|&(_, p)| probability > p).unwrap_or(top.len());
            if position < TOP_LABELS {
                top.insert(position, (index, probability));
                top.truncate(TOP_LABELS);
            }
        }
        let (best, confidence) = top[0];
        let unsure = if Some(best) == self.unsure_label {
            Some(UnsureReason::OutOfScope)
        } else if confidence < self.unsure_threshold {
            Some(UnsureReason::LowConfidence)
        } else {
            None
        };
        Prediction {
            label: unsure.is_none().then(|| self.labels[best].clone()),
            unsure,
            best_label: self.labels[best].clone(),
            confidence,
            top: top.into_iter().map(|(index, p)| (self.labels[index].clone(), p)).collect(),
            model_version: self.version.clone(),
        }
    }

    /// Checks the parts agree with each other; called on every load.
    pub(crate) fn validate(&self) -> Result<()> {
        self.scorer.validate()?;
        if self.scorer.n_classes() != self.labels.len() || self.labels.len() < 2 {
            return Err(Error::Corrupt(format!(
                "{} labels for a scorer of {} classes",
                self.labels.len(),
                self.scorer.n_classes()
            )));
        }
        let encoder_dimension = match (&self.metadata.encoder, &self.encoder) {
            (None, None) => 0,
            (Some(spec), Some(encoder)) if spec.sha256 == encoder.sha256() && spec.dimension == encoder.dimension() => {
                spec.dimension
            }
            _ => return Err(Error::Corrupt("the model's encoder does not match its metadata".into())),
        };
        if self.scorer.n_features() != self.vectorizer.n_features() + encoder_dimension {
            return Err(Error::Corrupt(format!(
                "scorer has {} features, vocabulary {} and encoder {encoder_dimension}",
                self.scorer.n_features(),
                self.vectorizer.n_features()
            )));
        }
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(Error::Corrupt(format!("temperature {}", self.temperature)));
        }
        if !(0.0..=1.0).contains(&self.unsure_threshold) {
            return Err(Error::Corrupt(format!("unsure threshold {}", self.unsure_threshold)));
        }
        if self.unsure_label.is_some_and(|index| index >= self.labels.len()) {
            return Err(Error::Corrupt("unsure label out of range".into()));
        }
        Ok(())
    }
}
