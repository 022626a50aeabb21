//! Classification metrics, and the JSON object `eval` prints.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::calibration::{ECE_BINS, expected_calibration_error};

/// Precision, recall and F1 of one class, and how many examples it has.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

/// What one evaluated example contributes.
#[derive(Clone, Debug)]
pub struct Outcome<'a> {
    /// The true label.
    pub truth: &'a str,
    /// The label the evaluation counts: the model's decision, with an unsure
    /// decision standing for the unsure label when one is given.
    pub decided: Option<&'a str>,
    /// The model's most probable label, ignoring the unsure threshold.
    pub best: &'a str,
    /// Calibrated probability of `best`.
    pub confidence: f32,
    /// Whether the model said unsure (threshold or out-of-scope label).
    pub unsure: bool,
}

/// The JSON object `eval` prints last. The first five fields are always
/// there; the others only when they apply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub n: usize,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub per_class: BTreeMap<String, ClassMetrics>,
    /// Expected calibration error of the top label's confidence (15 bins).
    pub ece: f64,
    /// Share of examples the model was unsure about (below its threshold, or
    /// its out-of-scope label).
    pub unsure_rate: f64,
    /// Accuracy of the most probable label on the examples the model was
    /// sure about.
    pub accepted_accuracy: f64,
    /// With an unsure label: share of in-scope examples given their right
    /// label (an unsure decision counts as wrong).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_scope_accuracy: Option<f64>,
    /// With an unsure label: share of out-of-scope examples the model was
    /// unsure about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsure_recall: Option<f64>,
    /// Recall of groups of labels taken together (`--recall-group`): the
    /// share of examples of any label in the group predicted as any label in
    /// the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_recall: Option<BTreeMap<String, f64>>,
}

/// Computes the metrics. `accuracy`, `macro_f1` and `per_class` count each
/// example's `decided` label (an undecided one is wrong for every class);
/// `ece` uses `best` and `confidence`.
pub fn evaluate(
    outcomes: &[Outcome<'_>],
    unsure_label: Option<&str>,
    recall_groups: &BTreeMap<String, Vec<String>>,
) -> Evaluation {
    let n = outcomes.len();
    let classes: BTreeSet<&str> =
        outcomes.iter().flat_map(|outcome| std::iter::once(outcome.truth).chain(outcome.decided)).collect();
    let mut per_class = BTreeMap::new();
    let mut f1_sum = 0.0;
    let mut classes_with_support = 0usize;
    for class in &classes {
        let support = outcomes.iter().filter(|o| o.truth == *class).count();
        let predicted = outcomes.iter().filter(|o| o.decided == Some(*class)).count();
        let true_positive = outcomes.iter().filter(|o| o.truth == *class && o.decided == Some(*class)).count();
        let precision = ratio(true_positive, predicted);
        let recall = ratio(true_positive, support);
        let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
        // Macro-F1 averages over the labels that occur in the data: a label
        // that is only ever predicted is reported but not averaged (the
        // comparison script asks scikit-learn for the same average).
        if support > 0 {
            f1_sum += f1;
            classes_with_support += 1;
        }
        per_class.insert(class.to_string(), ClassMetrics { precision, recall, f1, support });
    }
    let correct = outcomes.iter().filter(|o| o.decided == Some(o.truth)).count();
    let sure: Vec<&Outcome<'_>> = outcomes.iter().filter(|o| !o.unsure).collect();
    let sure_correct = sure.iter().filter(|o| o.best == o.truth).count();
    let confidences: Vec<f32> = outcomes.iter().map(|o| o.confidence).collect();
    let best_correct: Vec<bool> = outcomes.iter().map(|o| o.best == o.truth).collect();

    let (in_scope_accuracy, unsure_recall) = match unsure_label {
        None => (None, None),
        Some(unsure_label) => {
            let in_scope: Vec<&Outcome<'_>> = outcomes.iter().filter(|o| o.truth != unsure_label).collect();
            let out_of_scope: Vec<&Outcome<'_>> = outcomes.iter().filter(|o| o.truth == unsure_label).collect();
            let in_scope_correct = in_scope.iter().filter(|o| !o.unsure && o.decided == Some(o.truth)).count();
            let caught = out_of_scope.iter().filter(|o| o.unsure).count();
            (Some(ratio(in_scope_correct, in_scope.len())), Some(ratio(caught, out_of_scope.len())))
        }
    };

    let group_recall = (!recall_groups.is_empty()).then(|| {
        recall_groups
            .iter()
            .map(|(name, members)| {
                let in_group = |label: &str| members.iter().any(|member| member == label);
                let relevant: Vec<&Outcome<'_>> = outcomes.iter().filter(|o| in_group(o.truth)).collect();
                let hit = relevant.iter().filter(|o| o.decided.is_some_and(in_group)).count();
                (name.clone(), ratio(hit, relevant.len()))
            })
            .collect()
    });

    Evaluation {
        n,
        accuracy: ratio(correct, n),
        macro_f1: if classes_with_support == 0 { 0.0 } else { f1_sum / classes_with_support as f64 },
        per_class,
        ece: expected_calibration_error(&confidences, &best_correct, ECE_BINS),
        unsure_rate: ratio(n - sure.len(), n),
        accepted_accuracy: ratio(sure_correct, sure.len()),
        in_scope_accuracy,
        unsure_recall,
        group_recall,
    }
}

fn ratio(numerator: usize, denominator: usize) -> f64 {
    if denominator == 0 { 0.0 } else { numerator as f64 / denominator as f64 }
}

/// Macro-F1 of label indices (used during model selection, where labels are
/// numbers). Averaged over classes that occur in `truth`.
pub fn macro_f1_of_indices(truth: &[u32], predicted: &[u32], n_classes: usize) -> f64 {
    let mut true_positive = vec![0usize; n_classes];
    let mut support = vec![0usize; n_classes];
    let mut predicted_count = vec![0usize; n_classes];
    for (&t, &p) in truth.iter().zip(predicted) {
        support[t as usize] += 1;
        predicted_count[p as usize] += 1;
        if t == p {
            true_positive[t as usize] += 1;
        }
    }
    let mut sum = 0.0;
    let mut classes = 0usize;
    for class in 0..n_classes {
        if support[class] == 0 {
            continue;
        }
        let precision = ratio(true_positive[class], predicted_count[class]);
        let recall = ratio(true_positive[class], support[class]);
        sum += if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
        classes += 1;
    }
    if classes == 0 { 0.0 } else { sum / classes as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome<'a>(truth: &'a str, decided: Option<&'a str>) -> Outcome<'a> {
        Outcome { truth, decided, best: decided.unwrap_or("a"), confidence: 0.9, unsure: decided.is_none() }
    }

    #[test]
    fn per_class_and_macro_figures() {
        let outcomes = [outcome("a", Some("a")), outcome("a", Some("b")), outcome("b", Some("b")), outcome("b", None)];
        let evaluation = evaluate(&outcomes, None, &BTreeMap::new());
        assert_eq!(evaluation.n, 4);
        assert!((evaluation.accuracy - 0.5).abs() < 1e-12);
        let a = &evaluation.per_class["a"];
        assert_eq!((a.precision, a.recall, a.support), (1.0, 0.5, 2));
        let b = &evaluation.per_class["b"];
        assert_eq!((b.precision, b.recall), (0.5, 0.5));
        assert!((evaluation.macro_f1 - (2.0 / 3.0 + 0.5) / 2.0).abs() < 1e-12);
        assert!(evaluation.in_scope_accuracy.is_none());
        let json = serde_json::to_value(&evaluation).expect("json");
        assert!(json.get("unsure_recall").is_none() && json.get("group_recall").is_none());
    }

    #[test]
    fn unsure_figures() {
        let outcomes = [
            outcome("a", Some("a")),
            outcome("a", None),
            Outcome { truth: "oos", decided: Some("oos"), best: "a", confidence: 0.2, unsure: true },
            Outcome { truth: "oos", decided: Some("a"), best: "a", confidence: 0.9, unsure: false },
        ];
        let evaluation = evaluate(&outcomes, Some("oos"), &BTreeMap::new());
        assert_eq!(evaluation.in_scope_accuracy, Some(0.5));
        assert_eq!(evaluation.unsure_recall, Some(0.5));
    }

    #[test]
    fn group_recall_counts_confusions_inside_the_group_as_hits() {
        let outcomes =
            [outcome("critical", Some("high")), outcome("high", Some("normal")), outcome("low", Some("low"))];
        let groups = BTreeMap::from([("urgent".to_owned(), vec!["critical".to_owned(), "high".to_owned()])]);
        let evaluation = evaluate(&outcomes, None, &groups);
        assert_eq!(evaluation.group_recall, Some(BTreeMap::from([("urgent".to_owned(), 0.5)])));
    }

    #[test]
    fn index_macro_f1_matches_label_macro_f1() {
        let truth = [0, 0, 1, 1, 2];
        let predicted = [0, 1, 1, 1, 0];
        let names = ["a", "b", "c"];
        let outcomes: Vec<Outcome<'_>> =
            truth.iter().zip(&predicted).map(|(&t, &p)| outcome(names[t as usize], Some(names[p as usize]))).collect();
        let by_label = evaluate(&outcomes, None, &BTreeMap::new()).macro_f1;
        assert!((macro_f1_of_indices(&truth, &predicted, 3) - by_label).abs() < 1e-12);
    }
}
