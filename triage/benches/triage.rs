//! Benchmarks: single-ticket prediction throughput (one thread; with the
//! sentence encoder also from 64 threads at once, as the stage calls it),
//! and training on Banking77.
//!
//! ```sh
//! RAYON_NUM_THREADS=1 SWITCHBOARD_BENCH_FULL_TRAIN=1 cargo bench -p switchboard-triage --bench triage
//! ```
//!
//! Prediction uses the shipped category model (`models/`); training needs
//! `../shared/data/banking77/train.csv` and is skipped without it. The
//! sentence-encoder group needs `scripts/triage/fetch-encoder.sh` and is
//! skipped without it.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use switchboard_triage::encoder::{DEFAULT_MAX_TOKENS, EncoderFeatures, SentenceEncoder};
use switchboard_triage::learners::Learner;
use switchboard_triage::linear::{ClassWeight, SvmParams};
use switchboard_triage::sparse::CsrMatrix;
use switchboard_triage::{FeatureConfig, LearnerFamily, Model, TrainOptions, features::Vectorizer};

fn manifest_path(relative: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn fixture_texts() -> Vec<String> {
    let mut reader = csv::Reader::from_path(manifest_path("tests/fixtures/intents_sample.csv")).expect("fixture");
    reader.records().map(|record| record.expect("row")[0].to_owned()).collect()
}

fn banking77() -> Option<Vec<(String, String)>> {
    let mut reader = csv::Reader::from_path(manifest_path("../../shared/data/banking77/train.csv")).ok()?;
    Some(reader.records().map(|record| record.expect("row")).map(|r| (r[0].to_owned(), r[1].to_owned())).collect())
}

fn prediction(criterion: &mut Criterion) {
    let texts = fixture_texts();
    let mut group = criterion.benchmark_group("predict");
    group.throughput(Throughput::Elements(texts.len() as u64));
    // The defaults (with the built-in static embedding table) and the
    // plain TF-IDF models for banks and bug trackers.
    for (name, file) in [
        ("category-customer-service", "category-customer-service.sbtm"),
        ("urgency-everyday", "urgency-everyday.sbtm"),
        ("category-banking77", "category-banking77.sbtm"),
        ("urgency-hadoop", "urgency-hadoop.sbtm"),
    ] {
        let model = Model::load(manifest_path(&format!("../models/{file}"))).expect("shipped model");
        group.bench_function(name, |bench| {
            bench.iter(|| {
                for text in &texts {
                    black_box(model.predict(black_box(text)));
                }
            })
        });
    }
    // Ticket-sized texts: fixture queries glued into ~1,000-character
    // descriptions (the length of an average Hadoop bug report).
    let long_texts: Vec<String> = texts.chunks(16).map(|chunk| chunk.join(" ")).collect();
    let model = Model::load(manifest_path("../models/category-banking77.sbtm")).expect("shipped model");
    group.throughput(Throughput::Elements(long_texts.len() as u64));
    group.bench_function("category-banking77/1k-chars", |bench| {
        bench.iter(|| {
            for text in &long_texts {
                black_box(model.predict(black_box(text)));
            }
        })
    });
    group.finish();
}

/// A model with sentence-encoder features (trained on the fixture), per
/// ticket and ~1,000-character texts, and the encoder alone in batches as
/// training uses it.
fn prediction_with_encoder(criterion: &mut Criterion) {
    let directory = manifest_path("../models/encoders/all-MiniLM-L6-v2");
    if !directory.join("model.safetensors").is_file() {
        eprintln!("skipping encoder benchmarks: run scripts/triage/fetch-encoder.sh");
        return;
    }
    let encoder = SentenceEncoder::load(&directory).expect("encoder");
    let mut reader = csv::Reader::from_path(manifest_path("tests/fixtures/intents_sample.csv")).expect("fixture");
    let examples: Vec<(String, String)> =
        reader.records().map(|record| record.expect("row")).map(|r| (r[0].to_owned(), r[1].to_owned())).collect();
    let options = TrainOptions {
        learners: vec![LearnerFamily::Svm],
        folds: 3,
        encoder: Some(EncoderFeatures::new(encoder.clone())),
        ..TrainOptions::default()
    };
    let model = switchboard_triage::train_from_examples(examples, &options).expect("train");
    let texts = fixture_texts();
    let long_texts: Vec<String> = texts.chunks(16).map(|chunk| chunk.join(" ")).collect();
    let mut group = criterion.benchmark_group("predict-with-encoder");
    group.sample_size(10);
    group.throughput(Throughput::Elements(texts.len() as u64));
    group.bench_function("fixture-model", |bench| {
        bench.iter(|| {
            for text in &texts {
                black_box(model.predict(black_box(text)));
            }
        })
    });
    // As the triage stage predicts: one ticket per call, from as many
    // threads as tickets in flight (`runner.max_in_flight`, 64 by default);
    // the encoder gathers the calls made at once into batches.
    group.bench_function("fixture-model/64-callers", |bench| {
        bench.iter(|| {
            std::thread::scope(|scope| {
                for caller in 0..64 {
                    let (model, texts) = (&model, &texts);
                    scope.spawn(move || {
                        for text in texts.iter().skip(caller).step_by(64) {
                            black_box(model.predict(black_box(text)));
                        }
                    });
                }
            })
        })
    });
    group.throughput(Throughput::Elements(long_texts.len() as u64));
    group.bench_function("fixture-model/1k-chars", |bench| {
        bench.iter(|| {
            for text in &long_texts {
                black_box(model.predict(black_box(text)));
            }
        })
    });
    group.throughput(Throughput::Elements(texts.len() as u64));
    group.bench_function("embed-all-batched", |bench| {
        bench.iter(|| black_box(encoder.embed_all(black_box(&texts), DEFAULT_MAX_TOKENS)))
    });
    group.finish();
}

fn training(criterion: &mut Criterion) {
    let Some(examples) = banking77() else {
        eprintln!("skipping training benchmarks: ../shared/data/banking77/train.csv not found");
        return;
    };
    let mut group = criterion.benchmark_group("train-banking77");
    group.sample_size(10).measurement_time(Duration::from_secs(60));
    let texts: Vec<&str> = examples.iter().map(|(text, _)| text.as_str()).collect();
    let mut label_names: Vec<&str> = examples.iter().map(|(_, label)| label.as_str()).collect();
    label_names.sort_unstable();
    label_names.dedup();
    let labels: Vec<u32> =
        examples.iter().map(|(_, label)| label_names.binary_search(&label.as_str()).expect("label") as u32).collect();

    // One fit of the model the default build selects: vocabulary, features
    // and a one-vs-rest linear SVM over all 77 classes.
    let svm = Learner::LinearSvm(SvmParams { c: 1.0, class_weight: ClassWeight::Uniform, ..SvmParams::default() });
    group.bench_function("vectorise+linear-svm", |bench| {
        bench.iter(|| {
            let vectorizer = Vectorizer::fit(&texts, FeatureConfig::default()).expect("fit");
            let rows: Vec<_> = texts.iter().map(|text| vectorizer.transform(text)).collect();
            let matrix = CsrMatrix::from_rows(&rows, vectorizer.n_features());
            black_box(svm.fit(&matrix, &labels, label_names.len()).expect("fit"))
        })
    });
    group.finish();

    // The whole training command (5-fold cross-validation of the SVM grid,
    // calibration, final fit) takes a minute, not a criterion sample; with
    // SWITCHBOARD_BENCH_FULL_TRAIN=1 it is timed once, beside the others.
    if std::env::var_os("SWITCHBOARD_BENCH_FULL_TRAIN").is_none() {
        return;
    }
    let started = std::time::Instant::now();
    let options = TrainOptions { learners: vec![LearnerFamily::Svm], ..TrainOptions::default() };
    let model = switchboard_triage::train_from_examples(examples, &options).expect("train");
    eprintln!(
        "train-banking77/full-cv-svm-grid: {:.1}s for {} ({})",
        started.elapsed().as_secs_f64(),
        model.version(),
        model.metadata().learner.describe()
    );
}

criterion_group!(benches, prediction, prediction_with_encoder, training);
criterion_main!(benches);
