//! Turning a match's scores into a probability that it answers the query.
//!
//! BM25 scores are not comparable across queries or corpora, so the model
//! only looks at scale-free evidence: how far a match is ahead of the best
//! other match, how its score compares to the top one, and how similar its
//! question side is to the query in character n-grams (a cosine in [0, 1]),
//! and how much of the query's rarer words the article contains. A logistic
//! function of those features is fitted on labelled queries.

use serde::{Deserialize, Serialize};

/// Number of features the model reads; see [`MatchFeatures::to_array`].
pub const FEATURE_COUNT: usize = 6;

/// The evidence about one candidate, all scale-free.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MatchFeatures {
    /// (own score − best other score) / own score; positive only for the top
    /// match, larger when it stands out.
    pub margin: f32,
    /// Own score / top score, in (0, 1].
    pub relative: f32,
    /// Character n-gram cosine to the document's question side.
    pub ngram_whole: f32,
    /// Character n-gram cosine to the closest single question or phrasing.
    pub ngram_best_part: f32,
    /// The share of the query's words, weighted by their inverse document
    /// frequency, that occur anywhere in the article (in any field whose
    /// boost is above 0: every text field by default), in [0, 1]. "How do I
    /// connect to the VPN from home?" shares its common words with "How do I
    /// connect the device to Wi-Fi?" but not "VPN" and "home", the words that
    /// say what it is about. (Matches stored before this feature read as 0.)
    #[serde(default)]
    pub coverage: f32,
    /// The share of the query's words, weighted as for `coverage`, that no
    /// article has at all.
    #[serde(default)]
    pub unknown: f32,
}

impl MatchFeatures {
    pub fn to_array(&self) -> [f32; FEATURE_COUNT] {
        [self.margin, self.relative, self.ngram_whole, self.ngram_best_part, self.coverage, self.unknown]
    }
}

/// A logistic model: confidence = σ(intercept + Σ weight·feature).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub intercept: f32,
    /// One weight per feature, in [`MatchFeatures::to_array`]'s order. Files
    /// written before `coverage` and `unknown` existed have four: their
    /// weights read as 0.
    #[serde(deserialize_with = "weights_of_any_age")]
    pub weights: [f32; FEATURE_COUNT],
}

fn weights_of_any_age<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<[f32; FEATURE_COUNT], D::Error> {
    let given = Vec::<f32>::deserialize(deserializer)?;
    if !(4..=FEATURE_COUNT).contains(&given.len()) {
        return Err(serde::de::Error::invalid_length(given.len(), &"4 to 6 calibration weights"));
    }
    Ok(std::array::from_fn(|index| given.get(index).copied().unwrap_or(0.0)))
}

impl Default for Calibration {
    /// Fitted by `kb tune --unanswerable` on the StackFAQ tuning split, with
    /// a quarter of the articles left out in turn and 400 CLINC150 training
    /// queries no article answers (see the crate's README): a match must be
    /// close to the question in its own right, not only ahead of the others.
    fn default() -> Self {
        Self { intercept: -17.468948, weights: [4.6081862, 11.845382, 5.7400575, 5.1997757, 1.6511599, -1.8611963] }
    }
}

impl Calibration {
    /// A probability in [0, 1]; never NaN, even for NaN input.
    pub fn confidence(&self, features: &MatchFeatures) -> f32 {
        let z = self.intercept
            + self.weights.iter().zip(features.to_array()).map(|(weight, value)| weight * value).sum::<f32>();
        let probability = 1.0 / (1.0 + (-z).exp());
        if probability.is_nan() { 0.0 } else { probability.clamp(0.0, 1.0) }
    }

    /// Fits the model by gradient descent on the log-loss with a small L2
    /// penalty. `samples` pairs features with whether the match was right.
    /// Features are standardised while fitting and the weights mapped back.
    pub fn fit(samples: &[(MatchFeatures, bool)]) -> Calibration {
        if samples.is_empty() {
            return Calibration::default();
        }
        let count = samples.len() as f64;
        let rows: Vec<[f64; FEATURE_COUNT]> =
            samples.iter().map(|(features, _)| features.to_array().map(f64::from)).collect();
        let mut mean = [0.0; FEATURE_COUNT];
        let mut deviation = [0.0; FEATURE_COUNT];
        for row in &rows {
            for (index, value) in row.iter().enumerate() {
                mean[index] += value / count;
            }
        }
        for row in &rows {
            for (index, value) in row.iter().enumerate() {
                deviation[index] += (value - mean[index]).powi(2) / count;
            }
        }
        let deviation = deviation.map(|variance: f64| variance.sqrt().max(1e-6));
        let standardised: Vec<[f64; FEATURE_COUNT]> =
            rows.iter().map(|row| std::array::from_fn(|index| (row[index] - mean[index]) / deviation[index])).collect();

        let mut weights = [0.0f64; FEATURE_COUNT];
        let mut intercept = 0.0f64;
        let learning_rate = 0.5;
        let l2 = 1e-3;
        for _ in 0..3000 {
            let mut gradient = [0.0; FEATURE_COUNT];
            let mut intercept_gradient = 0.0;
            for (row, (_, label)) in standardised.iter().zip(samples) {
                let z = intercept + weights.iter().zip(row).map(|(w, x)| w * x).sum::<f64>();
                let error = 1.0 / (1.0 + (-z).exp()) - if *label { 1.0 } else { 0.0 };
                intercept_gradient += error / count;
                for index in 0..FEATURE_COUNT {
                    gradient[index] += error * row[index] / count;
                }
            }
            intercept -= learning_rate * intercept_gradient;
            for index in 0..FEATURE_COUNT {
                weights[index] -= learning_rate * (gradient[index] + l2 * weights[index]);
            }
        }
        let raw_weights: [f64; FEATURE_COUNT] = std::array::from_fn(|index| weights[index] / deviation[index]);
        let raw_intercept = intercept - (0..FEATURE_COUNT).map(|index| raw_weights[index] * mean[index]).sum::<f64>();
        Calibration { intercept: raw_intercept as f32, weights: raw_weights.map(|weight| weight as f32) }
    }
}

/// How well top-1 confidences separate right from wrong answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeparationReport {
    pub n: usize,
    /// Area under the ROC curve: the chance a random right answer has a
    /// higher confidence than a random wrong one.
    pub auc: f64,
    /// Mean log-loss of the confidences (lower is better calibrated).
    pub log_loss: f64,
    /// For a few thresholds: share of queries at or above it (coverage) and
    /// the share of those whose top match is right (precision).
    pub thresholds: Vec<ThresholdPoint>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThresholdPoint {
    pub threshold: f32,
    pub coverage: f64,
    pub precision: f64,
}

pub fn separation(top_confidences: &[(f32, bool)]) -> SeparationReport {
    let n = top_confidences.len();
    let positives: Vec<f32> = top_confidences.iter().filter(|(_, right)| *right).map(|(c, _)| *c).collect();
    let negatives: Vec<f32> = top_confidences.iter().filter(|(_, right)| !*right).map(|(c, _)| *c).collect();
    let mut wins = 0.0;
    for positive in &positives {
        for negative in &negatives {
            wins += if positive > negative {
                1.0
            } else if positive == negative {
                0.5
            } else {
                0.0
            };
        }
    }
    let pairs = (positives.len() * negatives.len()) as f64;
    let auc = if pairs > 0.0 { wins / pairs } else { f64::NAN };
    let log_loss = top_confidences
        .iter()
        .map(|(confidence, right)| {
            let p = f64::from(*confidence).clamp(1e-6, 1.0 - 1e-6);
            if *right { -p.ln() } else { -(1.0 - p).ln() }
        })
        .sum::<f64>()
        / n.max(1) as f64;
    let thresholds = [0.5f32, 0.7, 0.8, 0.9]
        .into_iter()
        .map(|threshold| {
            let above: Vec<bool> =
                top_confidences.iter().filter(|(c, _)| *c >= threshold).map(|(_, right)| *right).collect();
            let right = above.iter().filter(|right| **right).count();
            ThresholdPoint {
                threshold,
                coverage: above.len() as f64 / n.max(1) as f64,
                precision: if above.is_empty() { f64::NAN } else { right as f64 / above.len() as f64 },
            }
        })
        .collect();
    SeparationReport { n, auc, log_loss, thresholds }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confidence_is_a_probability_for_any_input() {
        let calibration = Calibration::default();
        for value in [f32::NEG_INFINITY, -1e30, -1.0, 0.0, 0.5, 1.0, 1e30, f32::INFINITY, f32::NAN] {
            let features = MatchFeatures {
                margin: value,
                relative: value,
                ngram_whole: value,
                ngram_best_part: value,
                coverage: value,
                unknown: value,
            };
            let confidence = calibration.confidence(&features);
            assert!((0.0..=1.0).contains(&confidence), "{value} -> {confidence}");
        }
    }

    #[test]
    fn calibrations_written_before_coverage_still_read() {
        let old: Calibration = serde_json::from_str(r#"{"intercept": -1.5, "weights": [1, 2, 3, 4]}"#).expect("four");
        assert_eq!(old.weights, [1.0, 2.0, 3.0, 4.0, 0.0, 0.0]);
        let error = serde_json::from_str::<Calibration>(r#"{"intercept": 0, "weights": [1, 2]}"#).expect_err("two");
        assert!(error.to_string().contains("4 to 6 calibration weights"), "{error}");
    }

    #[test]
    fn fitting_learns_the_direction_of_the_evidence() {
        let samples: Vec<(MatchFeatures, bool)> = (0..200)
            .map(|i| {
                let margin = (i % 20) as f32 / 20.0;
                (
                    MatchFeatures {
                        margin,
                        relative: 1.0,
                        ngram_whole: 0.3,
                        ngram_best_part: 0.3,
                        coverage: 0.5,
                        unknown: 0.0,
                    },
                    margin > 0.4,
                )
            })
            .collect();
        let calibration = Calibration::fit(&samples);
        let low = calibration.confidence(&MatchFeatures {
            margin: 0.1,
            relative: 1.0,
            ngram_whole: 0.3,
            ngram_best_part: 0.3,
            coverage: 0.5,
            unknown: 0.0,
        });
        let high = calibration.confidence(&MatchFeatures {
            margin: 0.9,
            relative: 1.0,
            ngram_whole: 0.3,
            ngram_best_part: 0.3,
            coverage: 0.5,
            unknown: 0.0,
        });
        assert!(high > 0.9 && low < 0.1, "{low} {high}");
        let report = separation(&[(0.9, true), (0.2, false), (0.8, true), (0.85, false)]);
        assert!((report.auc - 0.75).abs() < 1e-9);
    }
}
