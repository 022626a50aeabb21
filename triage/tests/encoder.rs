//! Sentence-encoder features: the tokenizer and forward pass, training with
//! an encoder, the model file's link to its encoder, and the errors when the
//! encoder is missing or different.
//!
//! Most tests use a small encoder with random weights written here, in the
//! same files as a real one (config.json, vocab.txt, model.safetensors), so
//! they need nothing outside the repository. One test checks the real
//! all-MiniLM-L6-v2 against embeddings from an independent implementation
//! (Hugging Face `tokenizers` + NumPy); it needs
//! `scripts/triage/fetch-encoder.sh` and fails under `CI=true` without it.

use std::path::{Path, PathBuf};

use switchboard_triage::artefact::{FORMAT_VERSION, PLAIN_FORMAT_VERSION};
use switchboard_triage::encoder::{
    BUILTIN_STATIC_NAME, EncoderFeatures, EncoderKind, STATIC_TABLE_FILE, SentenceEncoder,
};
use switchboard_triage::{Error, LearnerFamily, Model, TrainOptions, train_from_examples};

const WORDS: &[&str] = &[
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "my", "card", "was", "stole", "##n", "lost", "block", "it", "please",
    "how", "do", "i", "change", "pin", "reset", "password", "the", "printer", "is", "on", "fire", "broken", "refund",
    "money", "back", "want", "a", "!", "?", ",", ".", "##s", "##ed",
];

/// A deterministic pseudo-random stream (splitmix64) for the weights.
fn random_values(seed: u64, count: usize) -> Vec<f32> {
    let mut state = seed;
    (0..count)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            ((z >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.4
        })
        .collect()
}

/// Writes a 2-layer, 16-wide BERT with random weights to `directory`.
fn write_tiny_encoder(directory: &Path, seed: u64) {
    const HIDDEN: usize = 16;
    const INTERMEDIATE: usize = 32;
    const POSITIONS: usize = 24;
    std::fs::create_dir_all(directory).expect("encoder dir");
    std::fs::write(directory.join("vocab.txt"), WORDS.join("\n") + "\n").expect("vocab");
    let config = serde_json::json!({
        "hidden_size": HIDDEN, "num_hidden_layers": 2, "num_attention_heads": 4,
        "intermediate_size": INTERMEDIATE, "max_position_embeddings": POSITIONS,
        "vocab_size": WORDS.len(), "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu",
    });
    std::fs::write(directory.join("config.json"), config.to_string()).expect("config");

    let mut tensors: Vec<(String, Vec<usize>)> = vec![
        ("embeddings.word_embeddings.weight".into(), vec![WORDS.len(), HIDDEN]),
        ("embeddings.position_embeddings.weight".into(), vec![POSITIONS, HIDDEN]),
        ("embeddings.token_type_embeddings.weight".into(), vec![2, HIDDEN]),
        ("embeddings.LayerNorm.weight".into(), vec![HIDDEN]),
        ("embeddings.LayerNorm.bias".into(), vec![HIDDEN]),
    ];
    for layer in 0..2 {
        let p = format!("encoder.layer.{layer}");
        for (name, shape) in [
            ("attention.self.query", vec![HIDDEN, HIDDEN]),
            ("attention.self.key", vec![HIDDEN, HIDDEN]),
            ("attention.self.value", vec![HIDDEN, HIDDEN]),
            ("attention.output.dense", vec![HIDDEN, HIDDEN]),
            ("intermediate.dense", vec![INTERMEDIATE, HIDDEN]),
            ("output.dense", vec![HIDDEN, INTERMEDIATE]),
        ] {
            tensors.push((format!("{p}.{name}.bias"), vec![shape[0]]));
            tensors.push((format!("{p}.{name}.weight"), shape));
        }
        for name in ["attention.output.LayerNorm", "output.LayerNorm"] {
            tensors.push((format!("{p}.{name}.weight"), vec![HIDDEN]));
            tensors.push((format!("{p}.{name}.bias"), vec![HIDDEN]));
        }
    }
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (index, (name, shape)) in tensors.iter().enumerate() {
        let count: usize = shape.iter().product();
        let values = if name.contains("LayerNorm.weight") {
            vec![1.0; count]
        } else {
            random_values(seed ^ index as u64, count)
        };
        let start = data.len();
        data.extend(values.iter().flat_map(|value| value.to_le_bytes()));
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [start, data.len()]}),
        );
    }
    let header = serde_json::to_vec(&header).expect("header");
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(&header);
    file.extend_from_slice(&data);
    std::fs::write(directory.join("model.safetensors"), file).expect("weights");
}

/// Texts with labels the tiny vocabulary covers.
fn examples() -> Vec<(String, String)> {
    let mut rows = Vec::new();
    for (index, (text, label)) in [
        ("my card was stolen please block it", "card"),
        ("i lost my card", "card"),
        ("block my card please", "card"),
        ("how do i change my pin", "pin"),
        ("reset my pin please", "pin"),
        ("i want to change the pin", "pin"),
        ("i want my money back", "refund"),
        ("refund please", "refund"),
        ("how do i get a refund", "refund"),
    ]
    .iter()
    .cycle()
    .take(45)
    .enumerate()
    {
        // Vary the texts a little so the folds differ.
        let text = if index % 2 == 0 { format!("{text}!") } else { format!("{text}?") };
        rows.push((text, (*label).to_owned()));
    }
    rows
}

fn options(encoder: Option<EncoderFeatures>) -> TrainOptions {
    TrainOptions {
        name: "with-encoder".into(),
        learners: vec![LearnerFamily::Svm],
        folds: 3,
        encoder,
        trained_at: Some(time::macros::datetime!(2024-01-01 00:00 UTC)),
        ..TrainOptions::default()
    }
}

/// A tiny encoder written to `<directory>/tiny`, and loaded.
fn tiny_encoder_in(directory: &Path, seed: u64) -> (PathBuf, std::sync::Arc<SentenceEncoder>) {
    let path = directory.join("tiny");
    write_tiny_encoder(&path, seed);
    let encoder = SentenceEncoder::load(&path).expect("load");
    (path, encoder)
}

fn format_version(path: &Path) -> u32 {
    let bytes = std::fs::read(path).expect("model file");
    u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"))
}

#[test]
fn embeddings_are_unit_length_deterministic_and_the_same_alone_or_in_a_batch() {
    let directory = tempfile::tempdir().expect("tempdir");
    let (path, encoder) = tiny_encoder_in(directory.path(), 7);
    assert_eq!(encoder.dimension(), 16);
    assert_eq!(encoder.name(), "tiny");
    let texts = ["my card was stolen!", "how do i change my pin?", "", "refund refund refund refund"];
    let batch = encoder.embed_all(&texts, 128);
    for (text, from_batch) in texts.iter().zip(&batch) {
        let alone = encoder.embed(text, 128);
        let norm: f32 = alone.iter().map(|value| value * value).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{text:?}: norm {norm}");
        for (a, b) in alone.iter().zip(from_batch) {
            assert!((a - b).abs() < 1e-5, "{text:?}: {alone:?} vs {from_batch:?}");
        }
    }
    assert_ne!(batch[0], batch[1]);
    // Longer than the encoder's 24 positions: truncated, not a panic.
    let long = "my card ".repeat(50);
    assert_eq!(encoder.token_ids(&long, 512).len(), 24);
    assert_eq!(encoder.embed(&long, 512).len(), 16);
    // The same weights load once per process.
    assert!(std::sync::Arc::ptr_eq(&encoder, &SentenceEncoder::load(&path).expect("again")));
}

#[test]
fn embeddings_asked_for_from_many_threads_at_once_are_each_the_callers_own() {
    let directory = tempfile::tempdir().expect("tempdir");
    let (_, encoder) = tiny_encoder_in(directory.path(), 11);
    let texts: Vec<String> =
        (0..400).map(|index| format!("ticket {index}: my card {} was stolen", "refund ".repeat(index % 5))).collect();
    let alone: Vec<Vec<f32>> = texts.iter().map(|text| encoder.embed(text, 128)).collect();
    // 32 threads ask at once, so the encoder's forward passes take several
    // texts (the batches); each thread must get its own texts' embeddings.
    let together: Vec<Vec<(usize, Vec<f32>)>> = std::thread::scope(|scope| {
        let callers: Vec<_> = (0..32)
            .map(|caller| {
                let (encoder, texts) = (&encoder, &texts);
                scope.spawn(move || {
                    (caller..texts.len()).step_by(32).map(|index| (index, encoder.embed(&texts[index], 128))).collect()
                })
            })
            .collect();
        callers.into_iter().map(|caller| caller.join().expect("caller")).collect()
    });
    let mut seen = 0;
    for (index, embedding) in together.into_iter().flatten() {
        seen += 1;
        for (a, b) in alone[index].iter().zip(&embedding) {
            assert!((a - b).abs() < 1e-5, "text {index}: {embedding:?} vs {:?}", alone[index]);
        }
    }
    assert_eq!(seen, texts.len());
}

#[test]
fn a_model_trained_with_an_encoder_finds_it_beside_its_file_and_refuses_other_weights() {
    let directory = tempfile::tempdir().expect("tempdir");
    let encoder_dir = directory.path().join("encoders").join("tiny");
    write_tiny_encoder(&encoder_dir, 11);
    let encoder = SentenceEncoder::load(&encoder_dir).expect("load");
    let model = train_from_examples(
        examples(),
        &options(Some(EncoderFeatures { encoder: encoder.clone(), weight: 1.0, max_tokens: 64 })),
    )
    .expect("train");
    let spec = model.metadata().encoder.clone().expect("spec recorded");
    assert_eq!((spec.name.as_str(), spec.sha256.as_str(), spec.dimension), ("tiny", encoder.sha256(), 16));
    assert!(model.predict("my card was stolen").label.is_some());

    let model_path = directory.path().join("model.sbtm");
    model.save(&model_path).expect("save");
    assert_eq!(format_version(&model_path), FORMAT_VERSION);
    let loaded = Model::load(&model_path).expect("load beside encoders/");
    assert_eq!(loaded.version(), model.version());
    for text in ["i lost my card", "reset my pin", "money back please", "fire"] {
        assert_eq!(loaded.probabilities(text), model.probabilities(text), "{text}");
    }

    // Other weights under the same name: refused, and the error says where.
    let other_dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(&model_path, other_dir.path().join("model.sbtm")).expect("copy");
    write_tiny_encoder(&other_dir.path().join("encoders").join("tiny"), 12);
    match Model::load(other_dir.path().join("model.sbtm")) {
        Err(Error::EncoderMissing(missing)) => {
            assert_eq!(missing.name, "tiny");
            assert_eq!(missing.mismatched.len(), 1, "{:?}", missing.mismatched);
        }
        other => panic!("expected EncoderMissing, got {other:?}"),
    }
    // No encoder at all: a clear error naming the fix.
    std::fs::remove_dir_all(other_dir.path().join("encoders")).expect("remove");
    let error = Model::load(other_dir.path().join("model.sbtm")).expect_err("no encoder");
    let message = error.to_string();
    assert!(message.contains("fetch-encoder.sh") && message.contains("tiny"), "{message}");
}

#[test]
fn models_without_an_encoder_keep_the_plain_format_version() {
    let directory = tempfile::tempdir().expect("tempdir");
    let model = train_from_examples(examples(), &options(None)).expect("train");
    assert!(model.metadata().encoder.is_none() && model.encoder().is_none());
    let path = directory.path().join("plain.sbtm");
    model.save(&path).expect("save");
    assert_eq!(format_version(&path), PLAIN_FORMAT_VERSION);
    // Metadata of a plain model does not mention an encoder at all, so
    // builds that predate encoders read it unchanged.
    let bytes = std::fs::read(&path).expect("read");
    assert!(!bytes.windows(9).any(|window| window == b"\"encoder\""));
    Model::load(&path).expect("load");
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn a_static_table_distilled_from_an_encoder_sums_its_rows_and_travels_with_models() {
    let directory = tempfile::tempdir().expect("tempdir");
    let transformer_dir = directory.path().join("tiny");
    write_tiny_encoder(&transformer_dir, 21);
    let transformer = SentenceEncoder::load(&transformer_dir).expect("load");
    let bytes = transformer.distill_static(8, &[]).expect("distil");
    assert!(transformer.distill_static(17, &[]).is_err(), "more dimensions than the encoder has");

    // A static encoder is a directory with static.sbse, found by its name.
    let table_dir = directory.path().join("encoders").join("tiny-static");
    std::fs::create_dir_all(&table_dir).expect("dir");
    std::fs::write(table_dir.join(STATIC_TABLE_FILE), &bytes).expect("write table");
    let table = SentenceEncoder::load(&table_dir).expect("load table");
    assert_eq!((table.kind(), table.dimension(), table.name()), (EncoderKind::Static, 8, "tiny-static"));
    assert!(table.distilled_from().is_some_and(|source| source.starts_with("tiny@")));
    assert!(table.distill_static(4, &[]).is_err(), "a table is not distilled again");

    // A sum of rows: unit length, order and repetition do not matter, and
    // nothing known gives zeros rather than NaN.
    let embedding = table.embed("my card was stolen", 128);
    let norm: f32 = embedding.iter().map(|value| value * value).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
    let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5);
    let reordered = table.embed("stolen was card my", 128);
    assert!(close(&reordered, &embedding), "{reordered:?} vs {embedding:?}");
    let (once, twice) = (table.embed("card", 128), table.embed("card card", 128));
    assert!(close(&once, &twice), "{once:?} vs {twice:?}");
    assert_eq!(table.embed("", 128), vec![0.0; 8]);
    assert_eq!(table.embed_all(&["my card was stolen", ""], 128), vec![embedding, vec![0.0; 8]]);

    // A model trained with it records the table and finds it beside its file.
    let model = train_from_examples(
        examples(),
        &options(Some(EncoderFeatures { encoder: table.clone(), weight: 1.0, max_tokens: 64 })),
    )
    .expect("train");
    let spec = model.metadata().encoder.clone().expect("spec");
    assert_eq!((spec.kind, spec.dimension, spec.name.as_str()), (EncoderKind::Static, 8, "tiny-static"));
    let model_path = directory.path().join("model.sbtm");
    model.save(&model_path).expect("save");
    let loaded = Model::load(&model_path).expect("load beside encoders/");
    assert_eq!(loaded.probabilities("i lost my card"), model.probabilities("i lost my card"));

    // The table as a lone .sbse file next to the model's encoders/ works too;
    // another table under the name is refused.
    std::fs::remove_dir_all(&table_dir).expect("remove");
    std::fs::write(directory.path().join("encoders").join("tiny-static.sbse"), &bytes).expect("write file");
    Model::load(&model_path).expect("load with the .sbse file");
    write_tiny_encoder(&directory.path().join("other"), 22);
    let other =
        SentenceEncoder::load(directory.path().join("other")).expect("other").distill_static(8, &[]).expect("distil");
    std::fs::write(directory.path().join("encoders").join("tiny-static.sbse"), other).expect("overwrite");
    match Model::load(&model_path) {
        Err(Error::EncoderMissing(missing)) => assert_eq!(missing.mismatched.len(), 1),
        other => panic!("expected EncoderMissing, got {other:?}"),
    }
    // Not a table at all: a clear error, not a panic.
    std::fs::write(directory.path().join("bogus.sbse"), b"SBSTATIC not postcard").expect("write");
    assert!(matches!(SentenceEncoder::load(directory.path().join("bogus.sbse")), Err(Error::Corrupt(_))));
}

#[test]
fn the_builtin_static_table_places_paraphrases_near_each_other_and_needs_no_files() {
    let table = SentenceEncoder::builtin_static();
    assert_eq!((table.kind(), table.name()), (EncoderKind::Static, BUILTIN_STATIC_NAME));
    assert!(table.distilled_from().is_some_and(|source| source.starts_with("all-MiniLM-L6-v2@")));
    let stolen = table.embed("my card was stolen", 128);
    let paraphrase = table.embed("someone took my bank card", 128);
    let unrelated = table.embed("the printer on the second floor is smoking", 128);
    assert!(
        cosine(&stolen, &paraphrase) > cosine(&stolen, &unrelated) + 0.1,
        "paraphrase {} vs unrelated {}",
        cosine(&stolen, &paraphrase),
        cosine(&stolen, &unrelated)
    );
    let fire = table.embed("fire in the server room", 128);
    assert!(cosine(&unrelated, &fire) > cosine(&stolen, &fire), "smoke is nearer fire than a stolen card");

    // A model trained with it loads from bytes alone: the table is built in.
    let model = train_from_examples(
        examples(),
        &options(Some(EncoderFeatures { encoder: table, weight: 1.0, max_tokens: 64 })),
    )
    .expect("train");
    let reloaded = Model::from_bytes(&model.to_bytes().expect("bytes")).expect("from bytes");
    assert_eq!(reloaded.probabilities("i lost my card"), model.probabilities("i lost my card"));
}

/// The real encoder, where installed (models/encoders/all-MiniLM-L6-v2).
fn real_encoder_dir() -> Option<PathBuf> {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/encoders/all-MiniLM-L6-v2");
    if directory.join("model.safetensors").is_file() {
        return Some(directory);
    }
    if std::env::var("CI").is_ok_and(|value| value == "true") {
        panic!("{} is missing: CI runs scripts/triage/fetch-encoder.sh first", directory.display());
    }
    eprintln!("skipped: run scripts/triage/fetch-encoder.sh to check the real encoder");
    None
}

#[test]
fn all_minilm_matches_an_independent_implementation() {
    let Some(directory) = real_encoder_dir() else { return };
    let encoder = SentenceEncoder::load(&directory).expect("load");
    // Ids from Hugging Face `tokenizers` with the model's tokenizer.json.
    assert_eq!(
        encoder.token_ids("The printer on the third floor is on fire!", 128),
        [101, 1996, 15041, 2006, 1996, 2353, 2723, 2003, 2006, 2543, 999, 102]
    );
    assert_eq!(
        encoder.token_ids("I can't find my card's PIN — café résumé!", 128),
        [101, 1045, 2064, 1005, 1056, 2424, 2026, 4003, 1005, 1055, 9231, 1517, 7668, 13746, 999, 102]
    );
    // First six dimensions and cosines from the NumPy forward pass.
    let cases: [(&str, [f32; 6]); 3] = [
        ("My card was stolen yesterday, please block it.", [-0.13674, 0.10499, 0.05574, -0.03344, 0.06019, 0.01806]),
        ("How do I change my PIN?", [-0.00055, -0.02937, -0.03397, 0.02286, -0.00375, 0.02029]),
        ("The printer on the third floor is on fire!", [-0.04658, 0.0223, -0.06317, 0.00923, 0.02787, -0.0253]),
    ];
    let embeddings: Vec<Vec<f32>> = cases.iter().map(|(text, _)| encoder.embed(text, 128)).collect();
    for ((text, expected), embedding) in cases.iter().zip(&embeddings) {
        for (dimension, (&want, &got)) in expected.iter().zip(embedding).enumerate() {
            assert!((want - got).abs() < 2e-4, "{text:?} dimension {dimension}: {got} vs {want}");
        }
    }
    let cosine = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    for ((first, second), want) in [((0, 1), 0.33395), ((0, 2), 0.1159), ((1, 2), 0.03554)] {
        let got = cosine(&embeddings[first], &embeddings[second]);
        assert!((got - want).abs() < 2e-4, "cosine {first},{second}: {got} vs {want}");
    }
}
