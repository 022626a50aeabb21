//! Turning scores into calibrated probabilities, and measuring calibration.
//!
//! Probabilities are `softmax(scores / T)`, with the temperature `T` fitted by
//! minimising the negative log-likelihood of scores the model produced for
//! examples it was not trained on (out-of-fold scores from cross-validation).
//! One parameter cannot change which class wins, so calibration never costs
//! accuracy, and one parameter fitted on thousands of examples does not
//! overfit.

/// `softmax(scores / temperature)` into `probabilities`.
pub fn softmax(scores: &[f32], temperature: f32, probabilities: &mut [f32]) {
    debug_assert_eq!(scores.len(), probabilities.len());
    debug_assert!(temperature > 0.0);
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut total = 0.0f32;
    for (probability, &score) in probabilities.iter_mut().zip(scores) {
        *probability = ((score - max) / temperature).exp();
        total += *probability;
    }
    for probability in probabilities.iter_mut() {
        *probability /= total;
    }
}

/// Mean negative log-likelihood of the true classes under
/// `softmax(scores / temperature)`; `scores` is row-major `n × n_classes`.
pub fn negative_log_likelihood(scores: &[f32], labels: &[u32], n_classes: usize, temperature: f64) -> f64 {
    let mut total = 0.0f64;
    for (row_scores, &label) in scores.chunks_exact(n_classes).zip(labels) {
        let max = row_scores.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let log_sum: f64 = row_scores.iter().map(|&s| ((s as f64 - max) / temperature).exp()).sum::<f64>().ln();
        total += log_sum - (row_scores[label as usize] as f64 - max) / temperature;
    }
    total / labels.len().max(1) as f64
}

/// The temperature minimising [`negative_log_likelihood`], searched by golden
/// section over `ln T ∈ [ln 1e-4, ln 1e4]`. The likelihood is convex in `1/T`,
/// hence unimodal in `ln T`, which is what golden section needs.
pub fn fit_temperature(scores: &[f32], labels: &[u32], n_classes: usize) -> f32 {
    if labels.is_empty() {
        return 1.0;
    }
    let objective = |log_temperature: f64| negative_log_likelihood(scores, labels, n_classes, log_temperature.exp());
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let (mut low, mut high) = ((1e-4f64).ln(), (1e4f64).ln());
    let mut left = high - ratio * (high - low);
    let mut right = low + ratio * (high - low);
    let (mut left_value, mut right_value) = (objective(left), objective(right));
    for _ in 0..80 {
        if left_value <= right_value {
            high = right;
            right = left;
            right_value = left_value;
            left = high - ratio * (high - low);
            left_value = objective(left);
        } else {
            low = left;
            left = right;
            left_value = right_value;
            right = low + ratio * (high - low);
            right_value = objective(right);
        }
    }
    ((low + high) / 2.0).exp() as f32
}

/// Expected calibration error: the confidences are put in `bins` equal-width
/// bins, and the gaps between each bin's mean confidence and its accuracy are
/// averaged, weighted by the bin's share of examples.
pub fn expected_calibration_error(confidences: &[f32], correct: &[bool], bins: usize) -> f64 {
    debug_assert_eq!(confidences.len(), correct.len());
    if confidences.is_empty() {
        return 0.0;
    }
    let mut confidence_sum = vec![0.0f64; bins];
    let mut correct_count = vec![0usize; bins];
    let mut count = vec![0usize; bins];
    for (&confidence, &is_correct) in confidences.iter().zip(correct) {
        let bin = ((confidence.clamp(0.0, 1.0) as f64 * bins as f64) as usize).min(bins - 1);
        confidence_sum[bin] += confidence as f64;
        correct_count[bin] += usize::from(is_correct);
        count[bin] += 1;
    }
    let n = confidences.len() as f64;
    (0..bins)
        .filter(|&bin| count[bin] > 0)
        .map(|bin| {
            let size = count[bin] as f64;
            (confidence_sum[bin] / size - correct_count[bin] as f64 / size).abs() * size / n
        })
        .sum()
}

/// The number of bins used for every ECE this crate reports.
pub const ECE_BINS: usize = 15;

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic stream of uniform numbers in [0, 1).
    fn uniform(seed: &mut u64) -> f32 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32) / (1u64 << 24) as f32
    }

    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        let mut probabilities = [0.0; 3];
        softmax(&[1.0, 3.0, 2.0], 0.5, &mut probabilities);
        assert!((probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(probabilities[1] > probabilities[2] && probabilities[2] > probabilities[0]);
    }

    #[test]
    fn temperature_recovers_the_generating_one() {
        // Labels drawn from softmax(scores / 0.25): the fitted temperature
        // should come back near 0.25, and with it a small ECE.
        let mut seed = 7u64;
        let n_classes = 4;
        let mut scores = Vec::new();
        let mut labels = Vec::new();
        for _ in 0..20_000 {
            let row: Vec<f32> = (0..n_classes).map(|_| uniform(&mut seed)).collect();
            let mut probabilities = vec![0.0; n_classes];
            softmax(&row, 0.25, &mut probabilities);
            let draw = uniform(&mut seed);
            let mut cumulative = 0.0;
            let label = probabilities
                .iter()
                .position(|&p| {
                    cumulative += p;
                    draw < cumulative
                })
                .unwrap_or(n_classes - 1);
            scores.extend(row);
            labels.push(label as u32);
        }
        let temperature = fit_temperature(&scores, &labels, n_classes);
        assert!((temperature - 0.25).abs() < 0.03, "fitted {temperature}");

        let mut confidences = Vec::new();
        let mut correct = Vec::new();
        let mut probabilities = vec![0.0; n_classes];
        for (row, &label) in scores.chunks_exact(n_classes).zip(&labels) {
            softmax(row, temperature, &mut probabilities);
            let (best, confidence) = probabilities
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(index, &p)| (index, p))
                .expect("classes");
            confidences.push(confidence);
            correct.push(best as u32 == label);
        }
        let calibrated = expected_calibration_error(&confidences, &correct, ECE_BINS);
        assert!(calibrated < 0.03, "ece {calibrated}");

        // An over-confident temperature is measurably worse.
        let mut confidences = Vec::new();
        for row in scores.chunks_exact(n_classes) {
            softmax(row, 0.02, &mut probabilities);
            confidences.push(probabilities.iter().copied().fold(0.0, f32::max));
        }
        assert!(expected_calibration_error(&confidences, &correct, ECE_BINS) > 0.2);
    }

    #[test]
    fn ece_of_perfectly_calibrated_bins_is_zero() {
        let confidences = [0.75f32; 4];
        let correct = [true, true, true, false];
        assert!(expected_calibration_error(&confidences, &correct, ECE_BINS) < 1e-9);
        assert!((expected_calibration_error(&[1.0], &[false], ECE_BINS) - 1.0).abs() < 1e-9);
    }
}
