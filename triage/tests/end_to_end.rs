//! End-to-end tests on the small fixture in `tests/fixtures` (no ../shared
//! needed): train → save → load → eval → predict through the public API and
//! the command entry points, artefact errors, and the shipped models.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use clap::Parser;
use switchboard_triage::artefact::{self, FORMAT_VERSION};
use switchboard_triage::{
    Error, Evaluation, LearnerFamily, Model, TrainOptions, TriageCommand, run_command, train_from_examples,
};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/intents_sample.csv")
}

type Examples = Vec<(String, String)>;

/// The fixture's rows, split deterministically: every fifth row is held out.
fn split() -> (Examples, Examples) {
    let mut reader = csv::Reader::from_path(fixture()).expect("fixture");
    let rows: Vec<(String, String)> = reader
        .records()
        .map(|record| {
            let record = record.expect("row");
            (record[0].to_owned(), record[1].to_owned())
        })
        .collect();
    let (held, train): (Vec<_>, Vec<_>) = rows.into_iter().enumerate().partition(|(index, _)| index % 5 == 0);
    (train.into_iter().map(|(_, row)| row).collect(), held.into_iter().map(|(_, row)| row).collect())
}

fn write_csv(path: &Path, rows: &[(String, String)]) {
    let mut writer = csv::Writer::from_path(path).expect("create csv");
    writer.write_record(["text", "label"]).expect("header");
    for (text, label) in rows {
        writer.write_record([text, label]).expect("row");
    }
    writer.flush().expect("flush");
}

fn options() -> TrainOptions {
    TrainOptions {
        name: "fixture".into(),
        learners: vec![LearnerFamily::Svm],
        unsure_label: Some("oos".into()),
        trained_at: Some(time::macros::datetime!(2024-01-01 00:00 UTC)),
        ..TrainOptions::default()
    }
}

/// One model shared by the tests that only read it.
fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| train_from_examples(split().0, &options()).expect("train"))
}

fn parse(args: &[&str]) -> TriageCommand {
    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        command: TriageCommand,
    }
    Cli::try_parse_from(std::iter::once("triage").chain(args.iter().copied())).expect("parse").command
}

fn run(args: &[&str]) -> String {
    let mut out = Vec::new();
    run_command(parse(args), &mut out).expect("run");
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn train_eval_predict_through_the_commands() {
    let directory = tempfile::tempdir().expect("tempdir");
    let (train, held) = split();
    let train_csv = directory.path().join("train.csv");
    let held_csv = directory.path().join("held.csv");
    let model_path = directory.path().join("intents.sbtm");
    write_csv(&train_csv, &train);
    write_csv(&held_csv, &held);
    let (train_csv, held_csv, model_path) =
        (train_csv.to_str().expect("utf-8"), held_csv.to_str().expect("utf-8"), model_path.to_str().expect("utf-8"));

    // All three learner families, so the linfa estimators run end to end.
    let report = run(&[
        "train",
        "--data",
        train_csv,
        "--text",
        "text",
        "--label",
        "label",
        "--out",
        model_path,
        "--unsure-label",
        "oos",
    ]);
    assert!(report.contains("linfa-logistic") && report.contains("linfa-bayes"), "{report}");
    assert!(report.contains("validation"), "{report}");

    let output = run(&[
        "eval",
        "--model",
        model_path,
        "--data",
        held_csv,
        "--text",
        "text",
        "--label",
        "label",
        "--unsure-label",
        "oos",
    ]);
    let last_line = output.lines().last().expect("output");
    let json: serde_json::Value = serde_json::from_str(last_line).expect("last line is JSON");
    for key in ["n", "accuracy", "macro_f1", "per_class", "ece", "in_scope_accuracy", "unsure_recall"] {
        assert!(json.get(key).is_some(), "missing {key} in {last_line}");
    }
    let evaluation: Evaluation = serde_json::from_value(json.clone()).expect("evaluation");
    assert_eq!(evaluation.n, held.len());
    assert!(evaluation.accuracy > 0.75, "held-out accuracy {}", evaluation.accuracy);
    let card_arrival = &json["per_class"]["card_arrival"];
    for key in ["precision", "recall", "f1", "support"] {
        assert!(card_arrival.get(key).is_some(), "per_class entry lacks {key}");
    }

    // Without --unsure-label the object has exactly the documented keys plus
    // the abstention figures, and no unsure-path keys.
    let output = run(&["eval", "--model", model_path, "--data", held_csv, "--text", "text", "--label", "label"]);
    let json: serde_json::Value = serde_json::from_str(output.lines().last().expect("line")).expect("json");
    assert!(json.get("in_scope_accuracy").is_none() && json.get("unsure_recall").is_none());

    let prediction = run(&["predict", "--model", model_path, "--text", "My new card still hasn't arrived"]);
    assert!(prediction.contains("label: card_arrival"), "{prediction}");
    assert!(prediction.contains("top:") && prediction.contains("model: intents@"), "{prediction}");
    let json = run(&["predict", "--model", model_path, "--text", "I lost my card", "--json"]);
    let value: serde_json::Value = serde_json::from_str(json.trim()).expect("json");
    assert_eq!(value["top"].as_array().map(Vec::len), Some(3));
}

#[test]
fn command_shapes_parse() {
    let command = parse(&[
        "train",
        "--data",
        "f.csv",
        "--text",
        "summary,description",
        "--label",
        "priority",
        "--out",
        "m.sbtm",
        "--unsure-label",
        "oos",
    ]);
    let TriageCommand::Train(args) = command else { panic!("train") };
    assert_eq!(args.text_columns, ["summary", "description"]);
    assert_eq!(args.unsure_label.as_deref(), Some("oos"));
    assert!(matches!(parse(&["predict", "--model", "m", "--text", "hi"]), TriageCommand::Predict(_)));
    // --data needs its columns.
    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        command: TriageCommand,
    }
    assert!(Cli::try_parse_from(["t", "train", "--data", "f.csv", "--out", "m"]).is_err());
    assert!(Cli::try_parse_from(["t", "train", "--out", "m"]).is_err());
    use clap::CommandFactory;
    Cli::command().debug_assert();
}

#[test]
fn predictions_are_calibrated_and_unsure_on_out_of_scope() {
    let model = model();
    let (_, held) = split();
    assert_eq!(model.unsure_label(), Some("oos"));
    let validation = &model.metadata().validation;
    assert!(validation.ece < validation.ece_uncalibrated, "calibration should help: {validation:?}");
    assert!(validation.ece < 0.15, "{validation:?}");

    let mut in_scope_right = 0;
    let mut in_scope = 0;
    for (text, label) in &held {
        let prediction = model.predict(text);
        assert!((0.0..=1.0).contains(&prediction.confidence));
        assert!(prediction.top.windows(2).all(|pair| pair[0].1 >= pair[1].1));
        assert_eq!(prediction.top[0].0, prediction.best_label);
        let total: f32 = model.probabilities(text).iter().sum();
        assert!((total - 1.0).abs() < 1e-4);
        if label != "oos" {
            in_scope += 1;
            in_scope_right += usize::from(prediction.label.as_deref() == Some(label.as_str()));
        }
    }
    assert!(in_scope_right as f64 / in_scope as f64 > 0.6, "{in_scope_right}/{in_scope}");
    let far_away = model.predict("what is the boiling point of mercury in kelvin");
    assert!(far_away.is_unsure(), "{far_away:?}");
}

#[test]
fn training_is_deterministic() {
    let again = train_from_examples(split().0, &options()).expect("train");
    assert_eq!(again.version(), model().version());
    assert_eq!(artefact::to_bytes(&again).expect("bytes"), artefact::to_bytes(model()).expect("bytes"));
}

#[test]
fn artefacts_round_trip() {
    let directory = tempfile::tempdir().expect("tempdir");
    let path = directory.path().join("model.sbtm");
    model().save(&path).expect("save");
    let loaded = Model::load(&path).expect("load");
    assert_eq!(loaded.version(), model().version());
    assert_eq!(loaded.metadata(), model().metadata());
    assert_eq!(loaded.labels(), model().labels());
    for (text, _) in split().1 {
        assert_eq!(loaded.predict(&text), model().predict(&text));
    }
    assert_eq!(loaded.metadata().trained_at, "2024-01-01T00:00:00Z");
    let from_bytes = Model::from_bytes(&std::fs::read(&path).expect("read")).expect("from bytes");
    assert_eq!(from_bytes.version(), model().version());
    assert_eq!(model().to_bytes().expect("bytes"), std::fs::read(&path).expect("read"));
    let summary = format!("{:?}", model());
    assert!(summary.len() < 300 && summary.contains("fixture@"), "{summary}");
    assert_eq!(loaded.metadata().data_fingerprint.len(), 64);
}

#[test]
fn other_versions_and_damaged_files_are_typed_errors() {
    let bytes = artefact::to_bytes(model()).expect("bytes");
    let path = Path::new("model.sbtm");

    let mut newer = bytes.clone();
    newer[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    match artefact::from_bytes(&newer, path) {
        Err(Error::UnsupportedVersion { found, supported, .. }) => {
            assert_eq!((found, supported), (FORMAT_VERSION + 1, FORMAT_VERSION));
        }
        other => panic!("expected UnsupportedVersion, got {other:?}"),
    }

    let mut flipped = bytes.clone();
    let middle = bytes.len() / 2;
    flipped[middle] ^= 0x40;
    assert!(matches!(artefact::from_bytes(&flipped, path), Err(Error::ChecksumMismatch { .. })));

    let truncated = &bytes[..bytes.len() - 10];
    assert!(matches!(artefact::from_bytes(truncated, path), Err(Error::Corrupt(_))));
    assert!(matches!(artefact::from_bytes(&bytes[..30], path), Err(Error::Corrupt(_))));
    assert!(matches!(artefact::from_bytes(b"text,label\nhello,x\n", path), Err(Error::NotAModel { .. })));

    let error = artefact::from_bytes(&newer, path).expect_err("error");
    assert!(error.to_string().contains("format version"), "{error}");
    assert!(matches!(Model::load("/nonexistent/model.sbtm"), Err(Error::Io { .. })));
}

/// The default models shipped in `models/` load, and classify a ticket.
#[test]
fn shipped_models_load_and_predict() {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    let category = Model::load(models.join("category-banking77.sbtm")).expect("category model");
    let urgency = Model::load(models.join("urgency-hadoop.sbtm")).expect("urgency model");
    assert_eq!(category.labels().len(), 77);
    for label in urgency.labels() {
        assert!(switchboard_core::Urgency::parse(label).is_some(), "{label} is not an urgency");
    }
    let text = switchboard_triage::text::join_fields(["My card was stolen", "Please block it, someone is using it"]);
    let prediction = category.predict(&text);
    assert_eq!(prediction.best_label, "lost_or_stolen_card");
    assert!(prediction.model_version.starts_with("category-banking77@"));
    let urgency_prediction = urgency.predict("NameNode crashes on startup and the cluster is down, data loss");
    assert!(urgency_prediction.top.len() <= 3 && !urgency_prediction.top.is_empty());
}

/// The defaults `switchboard up` ships: customer-service categories with an
/// out-of-scope label, and urgency for everyday tickets of any trade; both
/// use the built-in static embedding table and load with no other file.
#[test]
fn the_default_models_know_customer_service_and_everyday_urgency() {
    use switchboard_triage::stage::{DEFAULT_CATEGORY_MODEL, DEFAULT_URGENCY_MODEL};
    use switchboard_triage::text::join_fields;
    use switchboard_triage::{UnsureReason, UrgencyPolicy};

    let category = Model::from_bytes(DEFAULT_CATEGORY_MODEL).expect("category model");
    let urgency = Model::from_bytes(DEFAULT_URGENCY_MODEL).expect("urgency model");
    for model in [&category, &urgency] {
        let spec = model.metadata().encoder.as_ref().expect("an encoder");
        assert_eq!(spec.name, switchboard_triage::encoder::BUILTIN_STATIC_NAME);
    }
    assert_eq!(category.labels().len(), 12);
    assert_eq!(category.unsure_label(), Some("other"));
    let refund = category.predict(&join_fields(["Refund please", "The blender I got is broken, I want my money back"]));
    assert_eq!(refund.label.as_deref(), Some("refunds"), "{refund:?}");
    let fire = category.predict(&join_fields(["Printer on fire", "The printer on floor 2 is smoking"]));
    assert_eq!((fire.label, fire.unsure), (None, Some(UnsureReason::OutOfScope)));

    // The issue's three tickets, rated by the model alone and with the
    // shipped policy on top, as the triage stage decides.
    let policy = UrgencyPolicy::shipped().compile();
    for (title, description) in [
        ("Printer on fire", "the printer is smoking"),
        ("Production database is down", "all customers get error 500"),
        ("Ransomware", "Files on the shared drive are encrypted and a ransom note appeared on every PC"),
    ] {
        let ticket = switchboard_core::ticket::NewTicket {
            title: Some(title.into()),
            description: Some(description.into()),
            requester: Some(switchboard_core::ticket::NewRequester { email: Some("a@example.com".into()), name: None }),
            ..Default::default()
        }
        .validate(switchboard_core::TicketId::new(), switchboard_core::Channel::Api, time::OffsetDateTime::UNIX_EPOCH)
        .expect("valid");
        let decided =
            switchboard_triage::triage_ticket(&category, &urgency, &policy, &ticket, time::OffsetDateTime::UNIX_EPOCH);
        assert!(decided.urgency >= switchboard_core::Urgency::High, "{title}: {decided:?}");
    }
    let question =
        urgency.predict(&join_fields(["Question about invoices", "Where can I download last year's invoices?"]));
    assert!(matches!(question.best_label.as_str(), "low" | "normal"), "{question:?}");
}

/// The stage's decision for a ticket: both shipped models and a policy.
#[test]
fn a_ticket_is_triaged_with_models_and_policy() {
    use switchboard_core::events::UrgencySource;
    use switchboard_core::ticket::{NewRequester, NewTicket};
    use switchboard_core::{Channel, TicketId, Urgency};
    use switchboard_triage::{UrgencyPolicy, triage_ticket};

    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    let category = Model::load(models.join("category-banking77.sbtm")).expect("category model");
    let urgency = Model::load(models.join("urgency-hadoop.sbtm")).expect("urgency model");
    let now = time::OffsetDateTime::UNIX_EPOCH;
    let ticket = NewTicket {
        title: Some("My card was stolen".into()),
        description: Some("Someone is using my card abroad, please block it".into()),
        requester: Some(NewRequester { email: Some("ana@example.com".into()), name: None }),
        ..NewTicket::default()
    }
    .validate(TicketId::new(), Channel::Api, now)
    .expect("valid ticket");

    let without_policy = triage_ticket(&category, &urgency, &UrgencyPolicy::default().compile(), &ticket, now);
    assert_eq!(without_policy.category.label.as_deref(), Some("lost_or_stolen_card"));
    assert!(without_policy.category.model_version.starts_with("category-banking77@"));
    assert!(without_policy.urgency_model.model_version.starts_with("urgency-hadoop@"));
    // No rule: the model's urgency when it was sure, the default otherwise.
    let expected_source =
        if without_policy.urgency_model.label.is_some() { UrgencySource::Model } else { UrgencySource::Default };
    assert_eq!(without_policy.urgency_source, expected_source);
    assert_eq!(without_policy.needs_human, expected_source == UrgencySource::Default);

    let policy = UrgencyPolicy::from_json(
        r#"{"rules":[{"name":"stolen cards are critical","when":{"category":"lost_or_stolen_card"},"then":{"set":"critical"}}]}"#,
    )
    .expect("policy");
    let with_policy = triage_ticket(&category, &urgency, &policy.compile(), &ticket, now);
    assert_eq!(with_policy.urgency, Urgency::Critical);
    assert_eq!(with_policy.urgency_source, UrgencySource::Policy { rule: "stolen cards are critical".into() });
    assert_eq!(with_policy.urgency_model, without_policy.urgency_model);
}
