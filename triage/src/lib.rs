//! Switchboard triage: text classifiers that say what a ticket is about
//! (category) and how urgent it is, how sure they are, and when a person
//! should look instead.
//!
//! * [`text`]: the one normalisation and tokenisation, shared by training and
//!   prediction; [`ticket_text`] is the text a ticket is classified by.
//! * [`features`]: TF-IDF over word and character n-grams.
//! * [`learners`]: the candidates (our sparse linear SVM, `linfa-logistic`,
//!   `linfa-bayes`), all producing one linear scorer.
//! * [`train`]: cross-validated model selection, calibration, the unsure
//!   threshold; [`train_from_examples`] is the entry for any data source.
//! * [`Model`]: load, predict; [`artefact`] is its file format.
//! * [`policy`]: admin rules that override the urgency model.
//! * [`decision`]: [`triage_ticket`], both models and the policy applied to a
//!   ticket, as `switchboard-core`'s `Triage`.
//! * [`cli`]: `train`, `eval`, `predict` as a clap `Subcommand`.
//!
//! ```no_run
//! use std::sync::Arc;
//! use switchboard_triage::{Model, PolicyInput, UrgencyPolicy, urgency_of};
//!
//! let category = Arc::new(Model::load("models/category-customer-service.sbtm")?);
//! let urgency = Arc::new(Model::load("models/urgency-everyday.sbtm")?);
//! let text = switchboard_triage::text::join_fields(["Card stolen", "Someone used my card abroad"]);
//! let category_prediction = category.predict(&text);
//! let urgency_prediction = urgency.predict(&text);
//! let decision = UrgencyPolicy::default().apply(&PolicyInput {
//!     model_urgency: urgency_of(&urgency_prediction),
//!     category: category_prediction.label.as_deref(),
//!     text: &text,
//! });
//! println!("{:?} {:?} {}", category_prediction.label, decision.urgency, category_prediction.model_version);
//! # Ok::<(), switchboard_triage::Error>(())
//! ```

pub mod artefact;
pub mod calibration;
pub mod cli;
pub mod dataset;
pub mod decision;
pub mod encoder;
pub mod error;
pub mod features;
pub mod learners;
pub mod linear;
pub mod metrics;
pub mod model;
pub use switchboard_core::policy;
pub mod sparse;
pub mod stage;
pub mod text;
pub mod train;
pub mod urgency_score;

pub use cli::{
    ActivateArgs, EvalArgs, PredictArgs, ScoreUrgencyArgs, Task, TrainArgs, TriageCommand, run_command,
    train_and_report,
};
pub use decision::triage_ticket;
pub use error::{Error, MissingEncoder, Result};
pub use features::FeatureConfig;
pub use learners::LearnerFamily;
pub use metrics::Evaluation;
pub use model::{Model, ModelMetadata, Prediction, UnsureReason};
pub use policy::{PolicyInput, UrgencyDecision, UrgencyPolicy, UrgencySource};
pub use text::ticket_text;
pub use train::{TrainOptions, train_from_examples, train_with_progress};

use switchboard_core::Urgency;

/// The urgency an urgency model's prediction names, `None` when the model was
/// unsure or its label is not an [`Urgency`] (`low`, `normal`, `high`,
/// `critical`).
pub fn urgency_of(prediction: &Prediction) -> Option<Urgency> {
    prediction.label.as_deref().and_then(Urgency::parse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_are_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Model>();
        assert_send_sync::<UrgencyPolicy>();
    }
}
