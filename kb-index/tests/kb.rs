//! The knowledge base end to end, on the small fixtures in `tests/fixtures`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use switchboard_core::TicketId;
use switchboard_kb::KbToolCommand;
use switchboard_kb::cli::{CorpusArgs, EvalArgs};
use switchboard_kb::index::MARKER_FILE;
use switchboard_kb::{
    Change, DocKey, DocKind, Error, Faq, KbDocument, KbOptions, KnowledgeBase, PastSolution, RebuildReason,
    SearchFilter, read_faqs_jsonl, run_tool,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn fixture_documents() -> Vec<KbDocument> {
    read_faqs_jsonl(&fixture("faqs.jsonl")).expect("fixture parses").into_iter().map(KbDocument::Faq).collect()
}

fn built_in_ram() -> KnowledgeBase {
    let knowledge_base = KnowledgeBase::in_ram(KbOptions::default()).expect("in-RAM index");
    knowledge_base.rebuild(fixture_documents()).expect("rebuild");
    knowledge_base
}

fn top_id(knowledge_base: &KnowledgeBase, text: &str) -> Option<String> {
    let matches = knowledge_base.search(text, 3, &SearchFilter::default()).expect("search");
    matches.into_iter().next().map(|found| found.id)
}

fn open(directory: &Path) -> (KnowledgeBase, Option<RebuildReason>) {
    KnowledgeBase::open_or_create(directory, KbOptions::default())
        .expect("open_or_create never fails on our own directory")
}

#[test]
fn fixture_queries_find_their_articles() {
    let knowledge_base = built_in_ram();
    assert_eq!(knowledge_base.len(), 7);
    assert_eq!(top_id(&knowledge_base, "forgot my password, cannot log in").as_deref(), Some("reset-password"));
    assert_eq!(top_id(&knowledge_base, "paper is stuck in the printer").as_deref(), Some("printer-paper-jam"));
    assert_eq!(top_id(&knowledge_base, "ship my order to another address").as_deref(), Some("42"));
    assert!(knowledge_base.search("", 5, &SearchFilter::default()).expect("empty query").is_empty());
    assert!(knowledge_base.search("?! -- ...", 5, &SearchFilter::default()).expect("no words").is_empty());
    let mut options = KbOptions::default();
    options.analysis.stop_words = switchboard_kb::StopWords::Lucene;
    let without_stop_words = KnowledgeBase::in_ram(options).expect("index");
    without_stop_words.rebuild(fixture_documents()).expect("rebuild");
    assert!(without_stop_words.search("the of and", 5, &SearchFilter::default()).expect("stop words").is_empty());
    assert!(knowledge_base.search("printer", 0, &SearchFilter::default()).expect("k = 0").is_empty());
}

#[test]
fn matches_are_ordered_with_confidences_in_range() {
    let knowledge_base = built_in_ram();
    for query in ["printer jam", "refund money back invoice", "wifi password", "zzzz qqqq", &"printer ".repeat(5000)] {
        let matches = knowledge_base.search(query, 10, &SearchFilter::default()).expect("search");
        for pair in matches.windows(2) {
            assert!(pair[0].score >= pair[1].score, "{query}: not sorted");
        }
        for found in &matches {
            assert!((0.0..=1.0).contains(&found.confidence), "{query}: confidence {}", found.confidence);
            assert!(found.score.is_finite());
        }
    }
    let matches = knowledge_base.search("printer paper jam error", 3, &SearchFilter::default()).expect("search");
    assert_eq!(matches[0].title, "The printer shows a paper jam error");
    assert!(matches[0].snippet.starts_with("Switch the printer off"));
    assert!(matches[0].confidence > matches.get(1).map_or(0.0, |second| second.confidence));
}

#[test]
fn filters_restrict_results() {
    let knowledge_base = built_in_ram();
    // Unpublished drafts only show up when asked for.
    let warranty = "extended warranty cover parts labour";
    assert_ne!(top_id(&knowledge_base, warranty).as_deref(), Some("draft-warranty"));
    let preview = SearchFilter { include_unpublished: true, ..SearchFilter::default() };
    let matches = knowledge_base.search(warranty, 1, &preview).expect("search");
    assert_eq!(matches[0].id, "draft-warranty");

    // Articles about another equipment model are left out; general ones stay.
    let other_model = SearchFilter { equipment_model: Some("OfficeJet 200".into()), ..SearchFilter::default() };
    let matches = knowledge_base.search("printer paper jam", 5, &other_model).expect("search");
    assert!(matches.iter().all(|found| found.id != "printer-paper-jam"));
    let same_model = SearchFilter { equipment_model: Some("laserjet 4000".into()), ..SearchFilter::default() };
    let matches = knowledge_base.search("printer paper jam", 5, &same_model).expect("search");
    assert_eq!(matches[0].id, "printer-paper-jam");

    let past_only = SearchFilter { kind: Some(DocKind::PastSolution), ..SearchFilter::default() };
    assert!(knowledge_base.search("printer paper jam", 5, &past_only).expect("search").is_empty());
}

#[test]
fn upserts_and_deletes_are_visible_after_commit() {
    let knowledge_base = built_in_ram();
    let ticket_id = TicketId::new();
    let solution = PastSolution {
        ticket_id,
        title: "Conveyor belt squeaks".into(),
        malfunction: "Worn bearing in the drive roller of the conveyor".into(),
        solution: "Replaced the bearing and greased the roller".into(),
        equipment_model: Some("CB-9".into()),
        company: Some("acme".into()),
    };
    knowledge_base.upsert(&solution.clone().into()).expect("upsert");
    // Not committed yet: not visible.
    assert!(top_id(&knowledge_base, "conveyor squeaking noise bearing").is_none());
    knowledge_base.commit().expect("commit");
    let matches =
        knowledge_base.search("conveyor squeaking noise bearing", 3, &SearchFilter::default()).expect("search");
    assert_eq!(matches[0].kind, DocKind::PastSolution);
    assert_eq!(matches[0].id, ticket_id.to_string());
    // Another company does not see it.
    let other_company = SearchFilter { company: Some("globex".into()), ..SearchFilter::default() };
    assert!(knowledge_base.search("conveyor bearing", 3, &other_company).expect("search").is_empty());

    // Updating an article replaces it rather than adding a second copy,
    // and what searches of the last snapshot kept (word scores, titles,
    // snippets) is not shown for the new one.
    let first = knowledge_base.search("how long does a refund take", 1, &SearchFilter::default()).expect("search");
    assert_eq!(first[0].title, "How long does a refund take?");
    let mut article = Faq::new("refund-time", "How long until my refund arrives?", vec!["Up to ten days.".into()]);
    article.phrasings.push("money back when".into());
    let documents_before = knowledge_base.len();
    knowledge_base.apply([Change::Upsert(article.into())]).expect("apply");
    assert_eq!(knowledge_base.len(), documents_before);
    let stored = knowledge_base.get(&DocKey::faq("refund-time")).expect("get").expect("exists");
    assert_eq!(stored.title(), "How long until my refund arrives?");
    let updated = knowledge_base.search("how long does a refund take", 1, &SearchFilter::default()).expect("search");
    assert_eq!(
        (updated[0].id.as_str(), updated[0].title.as_str(), updated[0].snippet.as_str()),
        ("refund-time", "How long until my refund arrives?", "Up to ten days.")
    );

    knowledge_base
        .apply([Change::Delete(DocKey::past_solution(ticket_id)), Change::Delete(DocKey::faq("refund-time"))])
        .expect("apply");
    assert!(knowledge_base.get(&DocKey::faq("refund-time")).expect("get").is_none());
    assert_ne!(top_id(&knowledge_base, "how long does a refund take").as_deref(), Some("refund-time"));
    assert!(top_id(&knowledge_base, "conveyor squeaking noise bearing").is_none());
    assert_eq!(knowledge_base.len(), documents_before - 2);

    let invalid = Faq::new(" ", "question?", Vec::new());
    assert!(matches!(knowledge_base.upsert(&invalid.into()), Err(Error::InvalidDocument { .. })));
}

#[test]
fn searching_from_many_threads_while_writing() {
    let knowledge_base = Arc::new(built_in_ram());
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let knowledge_base = Arc::clone(&knowledge_base);
            std::thread::spawn(move || {
                for _ in 0..50 {
                    let matches =
                        knowledge_base.search("printer paper jam", 3, &SearchFilter::default()).expect("search");
                    assert!(!matches.is_empty());
                }
            })
        })
        .collect();
    for round in 0..10 {
        let article = Faq::new(format!("extra-{round}"), format!("Extra question number {round}"), vec![]);
        knowledge_base.apply([Change::Upsert(article.into())]).expect("apply");
    }
    for reader in readers {
        reader.join().expect("reader thread");
    }
    assert_eq!(knowledge_base.len(), 17);
}

#[test]
fn a_new_directory_needs_a_rebuild_then_reopens_cleanly() {
    let temporary = tempfile::tempdir().expect("tempdir");
    let directory = temporary.path().join("kb");
    {
        let (knowledge_base, needs_rebuild) = open(&directory);
        assert_eq!(needs_rebuild, Some(RebuildReason::Missing));
        assert_eq!(knowledge_base.rebuild(fixture_documents()).expect("rebuild"), 7);
    }
    // A second open finds the finished index, with its n-gram model restored.
    let (knowledge_base, needs_rebuild) = open(&directory);
    assert_eq!(needs_rebuild, None);
    assert_eq!(knowledge_base.len(), 7);
    assert_eq!(top_id(&knowledge_base, "paper stuck in the printer").as_deref(), Some("printer-paper-jam"));
    drop(knowledge_base);

    // An index opened with other analysis options is rebuilt.
    let mut options = KbOptions::default();
    options.analysis.stemming = !options.analysis.stemming;
    let (_, needs_rebuild) = KnowledgeBase::open_or_create(&directory, options).expect("open");
    assert_eq!(needs_rebuild, Some(RebuildReason::AnalysisChanged));
}

/// Builds a committed on-disk index, damages it with `damage`, and returns
/// what opening it again reports.
fn reopen_after(damage: impl FnOnce(&Path)) -> Option<RebuildReason> {
    let temporary = tempfile::tempdir().expect("tempdir");
    let directory = temporary.path().join("kb");
    {
        let (knowledge_base, _) = open(&directory);
        knowledge_base.rebuild(fixture_documents()).expect("rebuild");
    }
    damage(&directory);
    let (knowledge_base, needs_rebuild) = open(&directory);
    // Whatever happened, the index is usable again after a rebuild.
    knowledge_base.rebuild(fixture_documents()).expect("rebuild after damage");
    assert_eq!(knowledge_base.len(), 7);
    drop(knowledge_base);
    assert_eq!(open(&directory).1, None);
    needs_rebuild
}

fn files_with_extension(directory: &Path, extension: &str) -> Vec<PathBuf> {
    std::fs::read_dir(directory)
        .expect("list")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|found| found == extension))
        .collect()
}

#[test]
fn an_older_schema_version_needs_a_rebuild() {
    let reason = reopen_after(|directory| {
        let marker = directory.join(MARKER_FILE);
        let text = std::fs::read_to_string(&marker).expect("marker");
        let older =
            text.replace(&format!("\"schema_version\": {}", switchboard_kb::SCHEMA_VERSION), "\"schema_version\": 0");
        assert_ne!(older, text);
        std::fs::write(&marker, older).expect("write marker");
    });
    assert_eq!(reason, Some(RebuildReason::SchemaChanged { found: 0, expected: switchboard_kb::SCHEMA_VERSION }));
}

#[test]
fn an_interrupted_rebuild_is_detected() {
    let reason = reopen_after(|directory| {
        let marker = directory.join(MARKER_FILE);
        let text = std::fs::read_to_string(&marker).expect("marker");
        std::fs::write(&marker, text.replace("\"complete\": true", "\"complete\": false")).expect("write marker");
    });
    assert_eq!(reason, Some(RebuildReason::Incomplete));
}

#[test]
fn damaged_files_need_a_rebuild() {
    let garbage_meta =
        reopen_after(|directory| std::fs::write(directory.join("meta.json"), b"{ not json").expect("write"));
    assert!(matches!(garbage_meta, Some(RebuildReason::Corrupt(_))), "{garbage_meta:?}");

    let garbage_marker =
        reopen_after(|directory| std::fs::write(directory.join(MARKER_FILE), b"\x00\x01").expect("write"));
    assert!(matches!(garbage_marker, Some(RebuildReason::Corrupt(_))), "{garbage_marker:?}");

    let missing_marker = reopen_after(|directory| std::fs::remove_file(directory.join(MARKER_FILE)).expect("remove"));
    assert!(matches!(missing_marker, Some(RebuildReason::Corrupt(_))), "{missing_marker:?}");

    let missing_segment = reopen_after(|directory| {
        for path in files_with_extension(directory, "idx") {
            std::fs::remove_file(path).expect("remove");
        }
    });
    assert!(matches!(missing_segment, Some(RebuildReason::Corrupt(_))), "{missing_segment:?}");

    let flipped_bytes = reopen_after(|directory| {
        for path in files_with_extension(directory, "store") {
            let mut bytes = std::fs::read(&path).expect("read");
            for byte in bytes.iter_mut().take(64) {
                *byte ^= 0xFF;
            }
            std::fs::write(&path, bytes).expect("write");
        }
    });
    assert!(matches!(flipped_bytes, Some(RebuildReason::Corrupt(_))), "{flipped_bytes:?}");

    let truncated = reopen_after(|directory| {
        for path in files_with_extension(directory, "term") {
            let bytes = std::fs::read(&path).expect("read");
            std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("write");
        }
    });
    assert!(matches!(truncated, Some(RebuildReason::Corrupt(_))), "{truncated:?}");
}

#[test]
fn a_directory_that_is_not_an_index_is_left_alone() {
    let temporary = tempfile::tempdir().expect("tempdir");
    std::fs::write(temporary.path().join("thesis.txt"), b"precious").expect("write");
    let result = KnowledgeBase::open_or_create(temporary.path(), KbOptions::default());
    assert!(matches!(result, Err(Error::ForeignDirectory { .. })), "{:?}", result.map(|(_, reason)| reason));
    assert!(temporary.path().join("thesis.txt").exists());
}

fn run(command: KbToolCommand) -> String {
    let mut out = Vec::new();
    run_tool(command, &mut out).expect("command succeeds");
    String::from_utf8(out).expect("utf-8 output")
}

/// The README's articles and their labelled queries, embedded with `encoder`.
fn fixture_corpus(encoder: &str) -> CorpusArgs {
    CorpusArgs {
        faqs: Some(fixture("faqs.jsonl")),
        docs: None,
        doc_text: None,
        doc_id: None,
        queries: fixture("queries.csv"),
        query_column: "query".into(),
        gold_column: "faq_id".into(),
        encoder: encoder.into(),
    }
}

#[test]
fn eval_prints_the_json_summary_last() {
    let output = run(KbToolCommand::Eval(EvalArgs {
        corpus: fixture_corpus("static"),
        learn: None,
        plain: false,
        single_field: false,
        options: None,
        confidence_report: true,
    }));
    let last_line = output.lines().last().expect("output");
    let summary: serde_json::Map<String, serde_json::Value> = serde_json::from_str(last_line).expect("json object");
    let keys: Vec<&str> = summary.keys().map(String::as_str).collect();
    let mut expected = vec!["n", "mrr", "recall@1", "recall@5", "recall@10", "p50_ms", "p99_ms"];
    expected.sort_unstable();
    let mut sorted_keys = keys.clone();
    sorted_keys.sort_unstable();
    assert_eq!(sorted_keys, expected);
    assert_eq!(summary["n"], 6);
    let mrr = summary["mrr"].as_f64().expect("number");
    assert!(mrr > 0.8, "fixture MRR {mrr}");
    for key in ["recall@1", "recall@5", "recall@10"] {
        assert!((0.0..=1.0).contains(&summary[key].as_f64().expect("number")));
    }
}

#[test]
fn eval_works_on_a_labelled_csv_corpus() {
    let output = run(KbToolCommand::Eval(EvalArgs {
        corpus: CorpusArgs {
            faqs: None,
            docs: Some(fixture("queries.csv")),
            doc_text: Some("query".into()),
            doc_id: Some("faq_id".into()),
            queries: fixture("queries.csv"),
            query_column: "query".into(),
            gold_column: "faq_id".into(),
            encoder: "none".into(),
        },
        learn: None,
        plain: true,
        single_field: false,
        options: None,
        confidence_report: false,
    }));
    let summary: serde_json::Value = serde_json::from_str(output.lines().last().expect("output")).expect("json");
    // Every query is its own document's only text.
    assert_eq!(summary["recall@1"], 1.0);
}

#[test]
fn eval_names_an_encoder_it_cannot_load() {
    let missing = std::env::temp_dir().join("switchboard-no-such-encoder");
    let command = KbToolCommand::Eval(EvalArgs {
        corpus: fixture_corpus(&missing.display().to_string()),
        learn: None,
        plain: false,
        single_field: false,
        options: None,
        confidence_report: false,
    });
    let error = run_tool(command, &mut Vec::new()).expect_err("no encoder there");
    assert!(error.to_string().contains("--encoder"), "{error}");
}

#[test]
fn invalid_documents_are_skipped_by_rebuild_and_refused_by_apply() {
    let knowledge_base = KnowledgeBase::in_ram(KbOptions::default()).expect("index");
    let mut documents = fixture_documents();
    documents.push(Faq::new("", "no id", Vec::new()).into());
    documents.push(Faq::new("blank", "   ", Vec::new()).into());
    assert_eq!(knowledge_base.rebuild(documents).expect("rebuild"), 7);

    let good = Faq::new("good", "A good question about toner", vec!["An answer".into()]);
    let bad = Faq::new("bad", " ", Vec::new());
    let result = knowledge_base.apply([Change::Upsert(good.into()), Change::Upsert(bad.into())]);
    assert!(matches!(result, Err(Error::InvalidDocument { .. })));
    knowledge_base.commit().expect("commit");
    // Nothing of the refused batch was written.
    assert!(knowledge_base.get(&DocKey::faq("good")).expect("get").is_none());
    assert_eq!(knowledge_base.len(), 7);
}

#[test]
fn auto_answer_needs_a_confident_faq_match() {
    let knowledge_base = built_in_ram();
    let matches = knowledge_base.search("How do I reset my password?", 5, &SearchFilter::default()).expect("search");
    let chosen = switchboard_kb::auto_answer(&matches, 0.5).expect("a confident match");
    assert_eq!(chosen.id, "reset-password");
    assert!(switchboard_kb::auto_answer(&matches, 1.01).is_none());
    assert!(switchboard_kb::auto_answer(&[], 0.0).is_none());
}

#[test]
fn a_burst_of_commits_rebuilds_the_ngram_snapshot_at_a_bounded_rate_and_searches_catch_up() {
    let knowledge_base = built_in_ram();
    let before = knowledge_base.ngram_refresh_count();
    let started = std::time::Instant::now();
    let burst = 200;
    for index in 0..burst {
        let article = Faq::new(
            format!("burst-{index}"),
            format!("How do I recalibrate sensor model Z{index}?"),
            vec!["Hold the reset button for five seconds.".into()],
        );
        knowledge_base.apply([Change::Upsert(article.into())]).expect("apply");
    }
    let elapsed = started.elapsed();
    let rebuilt = knowledge_base.ngram_refresh_count() - before;
    // A bucket of NGRAM_REFRESH_BURST, refilled once per NGRAM_REFRESH_EVERY.
    let allowed = u64::from(switchboard_kb::index::NGRAM_REFRESH_BURST)
        + (elapsed.as_secs_f64() / switchboard_kb::index::NGRAM_REFRESH_EVERY.as_secs_f64()).ceil() as u64;
    assert!(rebuilt <= allowed, "{rebuilt} rebuilds for {burst} commits in {elapsed:?}; at most {allowed} allowed");
    assert!(rebuilt < burst, "not one rebuild per commit");

    // Once the budget allows, a search rebuilds it: the last article of the
    // burst is re-ranked with its n-grams, not only found by BM25.
    std::thread::sleep(switchboard_kb::index::NGRAM_REFRESH_EVERY * 2);
    let matches = knowledge_base.search("recalibrate sensor model Z199", 1, &SearchFilter::default()).expect("search");
    assert_eq!(matches[0].id, "burst-199");
    let caught_up = knowledge_base.ngram_refresh_count() - before;
    assert!(caught_up - rebuilt <= 1, "one rebuild at most, if the last commit's was skipped");
    // Nothing stale is left: the next search rebuilds nothing.
    knowledge_base.search("recalibrate", 1, &SearchFilter::default()).expect("search");
    assert_eq!(knowledge_base.ngram_refresh_count() - before, caught_up);
}

/// The confidence means "this article answers it": questions the README's
/// articles do not answer stay far below an auto-answer threshold, however
/// far their nearest article is ahead of the rest; questions they answer
/// stay above it.
#[test]
fn a_match_that_does_not_answer_the_question_is_not_confident() {
    let knowledge_base = built_in_ram();
    let top_confidence = |text: &str| {
        let matches = knowledge_base.search(text, 2, &SearchFilter::default()).expect("search");
        matches.first().map_or(0.0, |found| found.confidence)
    };
    for unanswered in [
        "Someone stole my identity\nThey opened accounts in my name",
        "My laptop screen is cracked",
        "VPN keeps disconnecting\nSince this morning the VPN drops every 10 minutes",
    ] {
        let confidence = top_confidence(unanswered);
        assert!(confidence < 0.5, "{unanswered:?}: {confidence}");
    }
    // Wi-Fi's article shares every word of this question but the ones that
    // say what it is about, which no article has: below the README's
    // auto-answer threshold of 0.9, though not far (0.81).
    let vpn = top_confidence("How do I connect to the VPN from home?");
    assert!(vpn < 0.9, "the VPN question got Wi-Fi's article at {vpn}");
    for answered in
        ["I forgot my password", "where do I find my invoice", "Paper jam\nThe printer shows a paper jam error"]
    {
        let confidence = top_confidence(answered);
        assert!(confidence >= 0.9, "{answered:?}: {confidence}");
    }
}

/// A ticket about equipment model M sees M's most similar past solutions
/// first, ahead of better-scoring general documents; another model's
/// reports not at all. The matches an answer is chosen from are unchanged.
#[test]
fn a_tickets_own_models_past_solutions_come_first() {
    use switchboard_core::ticket::{Channel, NewEquipment, NewRequester, NewTicket};

    let knowledge_base = built_in_ram();
    let report = |model: Option<&str>, malfunction: &str, solution: &str| {
        let ticket_id = TicketId::new();
        let document = KbDocument::PastSolution(PastSolution {
            ticket_id,
            title: "Pump noise".into(),
            malfunction: malfunction.into(),
            solution: solution.into(),
            equipment_model: model.map(str::to_owned),
            company: Some("acme".into()),
        });
        (ticket_id.to_string(), document)
    };
    let (same_model, first) =
        report(Some("ecoTEC plus"), "Circulation pump noisy", "Bled the air from the heating circuit");
    let (general, second) = report(
        None,
        "Circulation pump grinding loudly, pump bearing worn, pump noisy at night",
        "Replaced the circulation pump bearing",
    );
    let (other_model, third) = report(
        Some("Logamax"),
        "Circulation pump grinding loudly, pump bearing worn, pump noisy at night",
        "Replaced the whole pump",
    );
    knowledge_base.apply([Change::Upsert(first), Change::Upsert(second), Change::Upsert(third)]).expect("apply");

    let ticket = NewTicket {
        title: Some("Circulation pump grinding and noisy at night".into()),
        description: Some("The pump bearing sounds worn".into()),
        requester: Some(NewRequester { email: Some("cora@example.com".into()), name: None }),
        company: Some("acme".into()),
        equipment: Some(NewEquipment { model: Some("ecoTEC plus".into()), serial: None }),
        ..NewTicket::default()
    }
    .validate(TicketId::new(), Channel::Api, time::OffsetDateTime::now_utc())
    .expect("valid");
    // By score alone the general report leads.
    let plain = knowledge_base
        .search(
            &format!("{}\n{}", ticket.title, ticket.description),
            5,
            &SearchFilter {
                company: Some("acme".into()),
                equipment_model: Some("ecoTEC plus".into()),
                ..SearchFilter::default()
            },
        )
        .expect("search");
    assert_eq!(plain.first().map(|found| found.id.as_str()), Some(general.as_str()), "{plain:?}");

    let plain_for_ticket = knowledge_base.search_ticket(&ticket, 5).expect("search");
    assert_eq!(plain_for_ticket, plain, "the matches an answer is chosen from keep their order");
    let matches = knowledge_base.suggestions_for_ticket(&ticket, 5, plain_for_ticket).expect("search");
    let ids: Vec<&str> = matches.iter().map(|found| found.id.as_str()).collect();
    assert_eq!(ids.first().copied(), Some(same_model.as_str()), "{matches:?}");
    assert_eq!(ids.iter().filter(|id| **id == general).count(), 1, "{matches:?}");
    assert!(!ids.contains(&other_model.as_str()), "{matches:?}");
    assert!(matches.len() <= 5);
    // A ticket about no model is ranked by score alone.
    let unmodelled = switchboard_core::Ticket { equipment: None, ..ticket };
    let plain = knowledge_base.search_ticket(&unmodelled, 5).expect("search");
    let matches = knowledge_base.suggestions_for_ticket(&unmodelled, 5, plain.clone()).expect("search");
    assert_eq!(matches, plain);
    assert_eq!(matches.first().map(|found| found.id.as_str()), Some(general.as_str()), "{matches:?}");
}

/// A knowledge base embeds its articles with the built-in static table and
/// adds the query's embedding cosine to each candidate's score, times its
/// weight; without an encoder (or with the weight at 0) the scores are the
/// words' alone, and setting the encoder again re-embeds what is indexed.
#[test]
fn embeddings_add_their_weighted_cosine_and_can_be_turned_off() {
    use switchboard_kb::SearchConfig;
    use switchboard_triage::encoder::SentenceEncoder;

    let knowledge_base = KnowledgeBase::in_ram(KbOptions::default()).expect("in-RAM index");
    knowledge_base
        .rebuild([
            KbDocument::Faq(Faq::new("refund", "How do I get a refund?", vec![])),
            KbDocument::Faq(Faq::new("card", "How do I get a new card?", vec![])),
        ])
        .expect("rebuild");
    let query = "how do I get a reimbursement";
    let scores = |config: &SearchConfig| -> Vec<(String, f32)> {
        let matches = knowledge_base.search_with(query, 2, &SearchFilter::default(), config).expect("search");
        matches.into_iter().map(|found| (found.id, found.score)).collect()
    };
    let defaults = SearchConfig::default();
    assert!(defaults.dense_whole_weight > 0.0, "dense re-ranking is on by default");
    let words_only = SearchConfig { dense_whole_weight: 0.0, dense_part_weight: 0.0, ..defaults.clone() };
    let (with_embeddings, without) = (scores(&defaults), scores(&words_only));
    assert_eq!(with_embeddings.len(), 2);
    for ((id, score), (same_id, word_score)) in with_embeddings.iter().zip(&without) {
        assert_eq!(id, same_id, "the same order here: {with_embeddings:?} {without:?}");
        let added = score - word_score;
        assert!(added > 0.0 && added <= defaults.dense_whole_weight + 1e-6, "{id}: {added}");
    }

    knowledge_base.set_encoder(None).expect("set");
    assert_eq!(scores(&defaults), without, "no encoder: the words' scores");
    knowledge_base.set_encoder(Some(SentenceEncoder::builtin_static())).expect("re-embeds");
    assert_eq!(scores(&defaults), with_embeddings);
}
