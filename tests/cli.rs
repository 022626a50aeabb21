//! The `switchboard` binary's one-shot commands, run as a user runs them.

mod common;

use std::path::{Path, PathBuf};

use common::{run_switchboard, spawn_process};
use serde_json::Value;

fn fixture(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path).display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kb_tune_writes_options_that_kb_eval_reads() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let options = directory.path().join("tuned.json").display().to_string();
    let faqs = fixture("kb-index/tests/fixtures/faqs.jsonl");
    let queries = fixture("kb-index/tests/fixtures/queries.csv");
    let (ok, stdout, stderr) =
        run_switchboard(&["kb", "tune", "--faqs", &faqs, "--queries", &queries, "--out", &options]).await;
    assert!(ok, "tune failed: {stdout}\n{stderr}");
    assert!(stdout.contains(&format!("tuned options written to {options}")), "{stdout}");

    let (ok, stdout, stderr) =
        run_switchboard(&["kb", "eval", "--faqs", &faqs, "--queries", &queries, "--options", &options]).await;
    assert!(ok, "eval with the tuned options failed: {stdout}\n{stderr}");
    let summary: Value = serde_json::from_str(stdout.lines().last().expect("output")).expect("a JSON summary");
    assert_eq!(summary["n"], 6, "{summary}");

    // Options that are not options are refused with the file's name.
    let broken = directory.path().join("broken.json");
    std::fs::write(&broken, "{\"search\": 7}").expect("write");
    let broken = broken.display().to_string();
    let (ok, _, stderr) =
        run_switchboard(&["kb", "eval", "--faqs", &faqs, "--queries", &queries, "--options", &broken]).await;
    assert!(!ok && stderr.contains("broken.json"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kb_import_and_search_work_on_the_store() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let data = directory.path().join("data").display().to_string();
    let faqs = fixture("tests/fixtures/faqs.jsonl");
    let (ok, stdout, stderr) = run_switchboard(&["--data-dir", &data, "kb", "import", "--faqs", &faqs]).await;
    assert!(ok, "{stderr}");
    let articles = std::fs::read_to_string(&faqs).expect("fixture").lines().filter(|l| !l.trim().is_empty()).count();
    assert_eq!(stdout.trim(), format!("imported {articles} articles ({articles} new, 0 updated)"));
    let (ok, stdout, _) = run_switchboard(&["--data-dir", &data, "kb", "import", "--faqs", &faqs]).await;
    assert!(ok && stdout.contains(&format!("(0 new, {articles} updated)")), "{stdout}");

    let (ok, stdout, stderr) =
        run_switchboard(&["--data-dir", &data, "kb", "search", "how do I clear a paper jam", "--json", "--k", "2"])
            .await;
    assert!(ok, "{stderr}");
    let best: Value = serde_json::from_str(stdout.lines().next().expect("a match")).expect("JSON");
    assert_eq!((best["id"].as_str(), best["kind"].as_str()), (Some("printer-jam"), Some("faq")), "{stdout}");

    // A bad file is refused whole, naming the line and the field.
    let bad = directory.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"id\": \"new-one\", \"question\": \"Q?\", \"answers\": [\"A.\"]}\n{\"id\": \"x\", \"question\": \"Q\", \"answers\": [\"A\"], \"colour\": \"red\"}\n",
    )
    .expect("write");
    let bad = bad.display().to_string();
    let (ok, _, stderr) = run_switchboard(&["--data-dir", &data, "kb", "import", "--faqs", &bad]).await;
    assert!(!ok && stderr.contains("line 2") && stderr.contains("colour"), "{stderr}");
    let (_, stdout, _) = run_switchboard(&["--data-dir", &data, "kb", "search", "Q?", "--json"]).await;
    assert!(!stdout.contains("new-one"), "nothing of a refused file is stored: {stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_server_per_data_directory_and_no_rebuild_under_it() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let data: PathBuf = directory.path().join("data");
    let data = data.display().to_string();
    let args = ["up", "--data-dir", data.as_str(), "--listen", "127.0.0.1:0"];
    let mut first = spawn_process(&args, &[], directory.path(), "first.log").await;

    let (ok, _, stderr) = run_switchboard(&args).await;
    assert!(!ok, "a second server on the same data directory must not start");
    assert!(stderr.contains("is in use by another switchboard process"), "{stderr}");
    assert!(stderr.contains(&format!("process {}", first.child.id().expect("pid"))), "{stderr}");

    let (ok, _, stderr) = run_switchboard(&["--data-dir", &data, "kb", "rebuild"]).await;
    assert!(!ok && stderr.contains("knowledge-base index"), "kb rebuild under a server is refused: {stderr}");
    // Commands that only use the store still work next to the server.
    let faqs = fixture("tests/fixtures/faqs.jsonl");
    let (ok, _, stderr) = run_switchboard(&["--data-dir", &data, "kb", "import", "--faqs", &faqs]).await;
    assert!(ok, "{stderr}");

    let status = first.terminate().await;
    assert!(status.success(), "{status}");
    let (ok, stdout, stderr) = run_switchboard(&["--data-dir", &data, "kb", "rebuild"]).await;
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("rebuilt ") && stdout.contains("documents"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triage_score_urgency_scores_the_defaults_on_the_everyday_set() {
    let data = fixture("triage/eval/urgency-everyday.csv");
    let (ok, stdout, stderr) = run_switchboard(&["triage", "score-urgency", "--data", &data]).await;
    assert!(ok, "{stderr}");
    let scores: Value = serde_json::from_str(stdout.lines().last().expect("a JSON line")).expect("JSON");
    let tickets = std::fs::read_to_string(&data).expect("read").lines().skip(1).count();
    for decided_by in ["model alone", "policy alone", "model + policy"] {
        assert_eq!(scores[decided_by]["n"], tickets, "{decided_by}: {stdout}");
        assert!(stdout.contains(decided_by), "{stdout}");
    }
    // The shipped policy changes what the model alone decides.
    assert_ne!(scores["model alone"], scores["model + policy"], "{stdout}");

    let policy = tempfile::NamedTempFile::new().expect("file");
    std::fs::write(policy.path(), r#"{"rules": [{"when": {"any_keyword": []}, "then": {"set": "low"}}]}"#)
        .expect("write");
    let (ok, _, stderr) = run_switchboard(&[
        "triage",
        "score-urgency",
        "--data",
        &data,
        "--policy",
        &policy.path().display().to_string(),
    ])
    .await;
    assert!(!ok && stderr.contains("rule 0: no keywords"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triage_cv_repeats_the_whole_training_and_reports_the_spread() {
    let data = fixture("triage/tests/fixtures/intents_sample.csv");
    let args = ["triage", "cv", "--data", &data, "--text", "text", "--label", "label", "--repeats", "2"];
    let (ok, stdout, stderr) = run_switchboard(
        &[
            &args[..],
            &["--outer-folds", "3", "--learners", "svm", "--recall-group", "cards=card_arrival+declined_transfer"],
        ]
        .concat(),
    )
    .await;
    assert!(ok, "{stderr}");
    assert_eq!(stdout.lines().filter(|line| line.starts_with("repeat ")).count(), 6, "{stdout}");
    let summary: Value = serde_json::from_str(stdout.lines().last().expect("a JSON line")).expect("JSON");
    for figure in ["accuracy", "macro_f1", "cards_recall"] {
        let spread = &summary[figure];
        assert_eq!(spread["runs"], 6, "{figure}: {summary}");
        let (min, mean, max) = (spread["min"].as_f64(), spread["mean"].as_f64(), spread["max"].as_f64());
        assert!(min <= mean && mean <= max && max <= Some(1.0), "{figure}: {summary}");
    }
    let (ok, _, stderr) = run_switchboard(&[&args[..], &["--outer-folds", "1"]].concat()).await;
    assert!(!ok && stderr.contains("--outer-folds at least 2"), "{stderr}");
}
