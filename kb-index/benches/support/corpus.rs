//! A large FAQ-like corpus built from the shared public data sets, for
//! benchmarks only (tests never read ../shared/data).
//!
//! Every CLINC150 training or validation sentence becomes an article's
//! question; its answers are a Bitext utterance and a Banking77 sentence, so
//! articles have the length and vocabulary spread of real FAQ entries.
//! Queries are Banking77 and CLINC150 sentences that are not questions.

use std::path::PathBuf;

use switchboard_kb::import::read_labelled_csv;
use switchboard_kb::{Faq, KbDocument, LabelledQuery};

pub fn data_directory() -> PathBuf {
    std::env::var_os("SWITCHBOARD_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"))
}

fn read(file: &str, text: &str, label: &str) -> Vec<LabelledQuery> {
    let path = data_directory().join(file);
    read_labelled_csv(&path, text, label).unwrap_or_else(|error| panic!("benchmark data {}: {error}", path.display()))
}

/// `documents` articles (at most about 18,000) and `queries` query texts.
pub fn corpus(documents: usize, queries: usize) -> (Vec<KbDocument>, Vec<String>) {
    let mut questions = read("clinc150/train.csv", "text", "intent");
    questions.extend(read("clinc150/val.csv", "text", "intent"));
    let bitext = read("bitext/utterances.csv", "utterance", "intent");
    let banking = read("banking77/train.csv", "text", "category");
    assert!(questions.len() >= documents, "only {} questions for {documents} documents", questions.len());
    let articles = questions
        .iter()
        .take(documents)
        .enumerate()
        .map(|(index, question)| {
            let answers =
                vec![bitext[index % bitext.len()].text.clone(), banking[(index * 7) % banking.len()].text.clone()];
            let mut article = Faq::new(format!("bench-{index}"), question.text.clone(), answers);
            article.tags.push(question.gold_id.clone());
            KbDocument::Faq(article)
        })
        .collect();
    let query_texts = banking
        .iter()
        .step_by(3)
        .map(|row| row.text.clone())
        .chain(questions.iter().skip(documents).map(|row| row.text.clone()))
        .take(queries)
        .collect();
    (articles, query_texts)
}
