//! The estimators model selection chooses from. Each fits a
//! [`LinearScorer`] over the same TF-IDF features:
//!
//! * [`Learner::LinearSvm`]: our sparse one-vs-rest linear SVM (see `linear`);
//! * [`Learner::Logistic`]: `linfa-logistic`'s multinomial logistic regression;
//! * [`Learner::NaiveBayes`]: `linfa-bayes`' Bernoulli naive Bayes.
//!
//! The two linfa estimators take dense matrices. The logistic regression is
//! therefore fitted on the most frequent features only, as many as keep the
//! dense matrix within [`DENSE_CELL_BUDGET`] and a gradient within
//! [`LOGISTIC_FLOP_BUDGET`], and naive Bayes on at most
//! [`NAIVE_BAYES_MAX_FEATURES`] of them.

use linfa::prelude::*;
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::linear::{self, ClassWeight, LinearScorer, SvmParams};
use crate::sparse::CsrMatrix;

/// The largest dense matrix (rows × columns) handed to a linfa estimator:
/// 24 million `f32` cells, about 100 MB.
pub const DENSE_CELL_BUDGET: usize = 24_000_000;

/// The most multiply-adds one logistic-regression gradient may cost (rows ×
/// columns × classes), which bounds an L-BFGS iteration to a fraction of a
/// second on one core.
pub const LOGISTIC_FLOP_BUDGET: usize = 1_000_000_000;

/// One estimator with its hyper-parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Learner {
    LinearSvm(SvmParams),
    Logistic {
        /// L2 penalty on the weights (the loss is summed over examples, so
        /// this is scikit-learn's `1 / C`).
        alpha: f32,
        max_iterations: u64,
    },
    NaiveBayes {
        /// Additive smoothing.
        alpha: f32,
    },
}

/// The families a caller may allow (`--learners svm,logistic,nb`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LearnerFamily {
    /// One-vs-rest linear SVM (squared hinge), our sparse dual coordinate descent.
    Svm,
    /// Multinomial logistic regression (linfa-logistic, L-BFGS, dense).
    Logistic,
    /// Bernoulli naive Bayes (linfa-bayes).
    Nb,
}

impl LearnerFamily {
    pub const ALL: [LearnerFamily; 3] = [LearnerFamily::Svm, LearnerFamily::Logistic, LearnerFamily::Nb];

    /// The hyper-parameter grid cross-validation searches for this family.
    pub fn grid(self) -> Vec<Learner> {
        match self {
            LearnerFamily::Svm => {
                let mut grid = Vec::new();
                for class_weight in [ClassWeight::Uniform, ClassWeight::Balanced] {
                    for c in [0.1, 0.3, 1.0, 3.0] {
                        grid.push(Learner::LinearSvm(SvmParams { c, class_weight, ..SvmParams::default() }));
                    }
                }
                grid
            }
            LearnerFamily::Logistic => {
                [0.01, 0.1].into_iter().map(|alpha| Learner::Logistic { alpha, max_iterations: 100 }).collect()
            }
            LearnerFamily::Nb => [0.1, 1.0].into_iter().map(|alpha| Learner::NaiveBayes { alpha }).collect(),
        }
    }
}

impl Learner {
    pub fn family(&self) -> LearnerFamily {
        match self {
            Learner::LinearSvm(_) => LearnerFamily::Svm,
            Learner::Logistic { .. } => LearnerFamily::Logistic,
            Learner::NaiveBayes { .. } => LearnerFamily::Nb,
        }
    }

    /// A short human-readable name with the hyper-parameters.
    pub fn describe(&self) -> String {
        match self {
            Learner::LinearSvm(params) => {
                let weighting = match params.class_weight {
                    ClassWeight::Uniform => "",
                    ClassWeight::Balanced => " balanced",
                };
                format!("linear-svm C={}{weighting}", params.c)
            }
            Learner::Logistic { alpha, .. } => format!("linfa-logistic alpha={alpha}"),
            Learner::NaiveBayes { alpha } => format!("linfa-bayes bernoulli-nb alpha={alpha}"),
        }
    }

    /// Fits on `matrix` with `labels` in `0..n_classes`. Every class must
    /// have at least one example.
    pub fn fit(&self, matrix: &CsrMatrix, labels: &[u32], n_classes: usize) -> Result<LinearScorer> {
        match self {
            Learner::LinearSvm(params) => linear::fit_svm(matrix, labels, n_classes, params),
            Learner::Logistic { alpha, max_iterations } => {
                fit_logistic(matrix, labels, n_classes, *alpha, *max_iterations)
            }
            Learner::NaiveBayes { alpha } => fit_naive_bayes(matrix, labels, n_classes, *alpha),
        }
    }
}

/// The `limit` columns non-zero in most rows, ascending.
fn most_frequent_columns(matrix: &CsrMatrix, limit: usize) -> Vec<u32> {
    let frequency = matrix.column_document_frequency();
    let mut columns: Vec<u32> = (0..matrix.n_columns as u32).filter(|&c| frequency[c as usize] > 0).collect();
    columns.sort_by(|&a, &b| frequency[b as usize].cmp(&frequency[a as usize]).then(a.cmp(&b)));
    columns.truncate(limit);
    columns.sort_unstable();
    columns
}

fn fit_logistic(
    matrix: &CsrMatrix,
    labels: &[u32],
    n_classes: usize,
    alpha: f32,
    max_iterations: u64,
) -> Result<LinearScorer> {
    let n_rows = matrix.n_rows().max(1);
    let column_limit = (DENSE_CELL_BUDGET / n_rows).min(LOGISTIC_FLOP_BUDGET / (n_rows * n_classes.max(1))).max(1);
    let columns = most_frequent_columns(matrix, column_limit);
    let records = matrix.to_dense_columns(&columns);
    let targets = Array1::from_iter(labels.iter().map(|&label| label as usize));
    let dataset = Dataset::new(records, targets);
    let fitted = linfa_logistic::MultiLogisticRegression::<f32>::default()
        .alpha(alpha)
        .max_iterations(max_iterations)
        .fit(&dataset)
        .map_err(|error| Error::Fit { estimator: "linfa-logistic", message: error.to_string() })?;

    // linfa numbers the classes it saw in sorted order; a class absent from
    // the data keeps zero weights and a very low bias.
    let params = fitted.params();
    let intercept = fitted.intercept();
    let mut weights = vec![0.0f32; matrix.n_columns * n_classes];
    let mut bias = vec![-1.0e4f32; n_classes];
    for (position, &class) in fitted.classes().iter().enumerate() {
        bias[class] = intercept[position];
        for (row, &column) in columns.iter().enumerate() {
            weights[column as usize * n_classes + class] = params[(row, position)];
        }
    }
    LinearScorer::new(matrix.n_columns, n_classes, weights, bias)
}

/// At most this many features go to naive Bayes: recovering its linear form
/// costs one probe per feature (see [`fit_naive_bayes`]).
pub const NAIVE_BAYES_MAX_FEATURES: usize = 4_096;

/// `linfa-bayes`' Bernoulli naive Bayes on feature presence, over the most
/// frequent features.
///
/// Bernoulli rather than multinomial: `linfa-bayes` 0.8.1's multinomial fit
/// prints every fitted histogram with `dbg!` (hundreds of megabytes on
/// stderr for Banking77); the Bernoulli fit does not.
///
/// The fitted model keeps its parameters private, but its joint
/// log-likelihood is public and, for presence vectors, linear:
/// `jll_c(x) = b_c + Σ_j x_j w_cj`. So `b_c = jll_c(0)` and
/// `w_cj = jll_c(e_j) - b_c`, probed with unit vectors, give a
/// [`LinearScorer`] that scores exactly as linfa does.
fn fit_naive_bayes(matrix: &CsrMatrix, labels: &[u32], n_classes: usize, alpha: f32) -> Result<LinearScorer> {
    use linfa_bayes::NaiveBayes;

    let fit_error = |message: String| Error::Fit { estimator: "linfa-bayes", message };
    let n_rows = matrix.n_rows().max(1);
    let columns = most_frequent_columns(matrix, (DENSE_CELL_BUDGET / n_rows).clamp(1, NAIVE_BAYES_MAX_FEATURES));
    let presence = matrix.to_dense_columns(&columns).mapv(|value| if value != 0.0 { 1.0f64 } else { 0.0 });
    let targets = Array1::from_iter(labels.iter().map(|&label| label as usize));
    let fitted = linfa_bayes::BernoulliNb::<f64, usize>::params()
        .alpha(f64::from(alpha))
        .binarize(None)
        .fit(&Dataset::new(presence, targets))
        .map_err(|error| fit_error(error.to_string()))?;

    let n_columns = columns.len();
    let zero = Array2::<f64>::zeros((1, n_columns));
    let baseline = fitted.joint_log_likelihood(zero.view());
    let mut weights = vec![0.0f32; matrix.n_columns * n_classes];
    let mut bias = vec![-1.0e4f32; n_classes];
    for (&class, values) in &baseline {
        bias[*class] = values[0] as f32;
    }
    const PROBE_ROWS: usize = 512;
    for block_start in (0..n_columns).step_by(PROBE_ROWS) {
        let block_len = PROBE_ROWS.min(n_columns - block_start);
        let mut probes = Array2::<f64>::zeros((block_len, n_columns));
        for offset in 0..block_len {
            probes[(offset, block_start + offset)] = 1.0;
        }
        for (&class, values) in &fitted.joint_log_likelihood(probes.view()) {
            let class_bias = baseline[&class][0];
            for offset in 0..block_len {
                let column = columns[block_start + offset] as usize;
                weights[column * n_classes + class] = (values[offset] - class_bias) as f32;
            }
        }
    }
    Ok(LinearScorer::new(matrix.n_columns, n_classes, weights, bias)?.with_binary_input(true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sparse::SparseVector;

    fn toy() -> (CsrMatrix, Vec<u32>) {
        let rows: Vec<SparseVector> = (0..30)
            .map(|i| SparseVector { indices: vec![(i % 3) as u32, 3], values: vec![0.9, 0.1 + 0.01 * (i % 7) as f32] })
            .collect();
        let labels = (0..30).map(|i| (i % 3) as u32).collect();
        (CsrMatrix::from_rows(&rows, 4), labels)
    }

    fn accuracy(scorer: &LinearScorer, matrix: &CsrMatrix, labels: &[u32]) -> f32 {
        let k = scorer.n_classes();
        let scores = scorer.score_matrix(matrix);
        let correct = labels
            .iter()
            .enumerate()
            .filter(|&(row, &label)| {
                let row_scores = &scores[row * k..(row + 1) * k];
                (0..k).max_by(|&a, &b| row_scores[a].total_cmp(&row_scores[b])) == Some(label as usize)
            })
            .count();
        correct as f32 / labels.len() as f32
    }

    #[test]
    fn every_family_learns_a_separable_problem() {
        let (matrix, labels) = toy();
        for family in LearnerFamily::ALL {
            for learner in family.grid() {
                let scorer = learner.fit(&matrix, &labels, 3).expect("fit");
                assert_eq!(accuracy(&scorer, &matrix, &labels), 1.0, "{}", learner.describe());
            }
        }
    }

    #[test]
    fn naive_bayes_scores_match_linfa() {
        use linfa_bayes::NaiveBayes;
        let (matrix, labels) = toy();
        let scorer = fit_naive_bayes(&matrix, &labels, 3, 0.5).expect("fit");
        assert!(scorer.binary_input());
        let presence = matrix.to_dense_columns(&[0, 1, 2, 3]).mapv(|v| if v != 0.0 { 1.0f64 } else { 0.0 });
        let targets = Array1::from_iter(labels.iter().map(|&l| l as usize));
        let reference = linfa_bayes::BernoulliNb::<f64, usize>::params()
            .alpha(0.5)
            .binarize(None)
            .fit(&Dataset::new(presence.clone(), targets))
            .expect("fit");
        let jll = reference.joint_log_likelihood(presence.view());
        let scores = scorer.score_matrix(&matrix);
        for row in 0..labels.len() {
            for (class, values) in &jll {
                let ours = scores[row * 3 + **class];
                assert!((f64::from(ours) - values[row]).abs() < 1e-3, "row {row} class {class}");
            }
        }
    }
}
