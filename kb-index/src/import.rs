//! Reading FAQ articles and labelled queries from files.
//!
//! JSON Lines for FAQs (`{"id", "question", "answers": [...]}` and optionally
//! the other [`FaqArticle`] fields), CSV for labelled queries and for generic
//! labelled corpora. Every error names the file and the 1-based line.

use std::collections::BTreeMap;
use std::io::{BufRead, Read};
use std::path::Path;

use serde::Deserialize;

use crate::document::{FaqArticle, default_language};
use crate::{Error, Result};

/// The shape of one import line. Ids may be JSON strings or integers.
#[derive(Deserialize)]
struct FaqLine {
    id: serde_json::Value,
    question: String,
    #[serde(default)]
    answers: OneOrMany,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    equipment_model: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    published: Option<bool>,
    #[serde(default)]
    company: Option<String>,
    #[serde(default)]
    phrasings: Vec<String>,
}

/// `answers` is usually a list, but a single answer may be given as a string.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl Default for OneOrMany {
    fn default() -> Self {
        OneOrMany::Many(Vec::new())
    }
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(text) => vec![text],
            OneOrMany::Many(texts) => texts,
        }
    }
}

/// Parses FAQ articles from JSON Lines. Blank lines are skipped; the first
/// bad line stops the import with its line number, and so does an id that
/// appears twice (an import must not silently drop an article).
pub fn parse_faqs_jsonl(reader: impl BufRead, source_name: &str) -> Result<Vec<FaqArticle>> {
    let mut articles = Vec::new();
    let mut first_line_of_id: BTreeMap<String, u64> = BTreeMap::new();
    for (index, line) in reader.lines().enumerate() {
        let line_number = index as u64 + 1;
        let input_error =
            |message: String| Error::Input { source_name: source_name.to_owned(), line: line_number, message };
        let line = line.map_err(|error| input_error(format!("cannot read line: {error}")))?;
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let parsed: FaqLine = serde_json::from_str(trimmed).map_err(|error| input_error(error.to_string()))?;
        let id = match parsed.id {
            serde_json::Value::String(text) => text,
            serde_json::Value::Number(number) if number.is_u64() || number.is_i64() => number.to_string(),
            other => return Err(input_error(format!("`id` must be a string or an integer, got {other}"))),
        };
        let id = id.trim().to_owned();
        if id.is_empty() {
            return Err(input_error("`id` is empty".into()));
        }
        if parsed.question.trim().is_empty() {
            return Err(input_error(format!("article `{id}` has an empty `question`")));
        }
        if let Some(first_line) = first_line_of_id.insert(id.clone(), line_number) {
            return Err(input_error(format!("duplicate id `{id}` (first seen on line {first_line})")));
        }
        articles.push(FaqArticle {
            id,
            question: parsed.question,
            answers: parsed.answers.into_vec(),
            tags: parsed.tags,
            equipment_model: parsed.equipment_model,
            language: parsed.language.unwrap_or_else(default_language),
            published: parsed.published.unwrap_or(true),
            company: parsed.company,
            phrasings: parsed.phrasings,
        });
    }
    Ok(articles)
}

/// Reads FAQ articles from a JSON Lines file.
pub fn read_faqs_jsonl(path: &Path) -> Result<Vec<FaqArticle>> {
    let file = std::fs::File::open(path).map_err(|error| Error::io(format!("opening {}", path.display()), error))?;
    parse_faqs_jsonl(std::io::BufReader::new(file), &path.display().to_string())
}

/// A query whose right answer is known: the id of the document that answers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelledQuery {
    pub text: String,
    pub gold_id: String,
}

/// Reads `(text, label)` pairs from the named CSV columns. Rows with an
/// empty text are an error, not skipped, so a broken export is noticed.
pub fn parse_labelled_csv(
    reader: impl Read,
    source_name: &str,
    text_column: &str,
    label_column: &str,
) -> Result<Vec<LabelledQuery>> {
    let mut csv_reader = csv::ReaderBuilder::new().flexible(false).from_reader(reader);
    let file_error = |message: String| Error::InputFile { source_name: source_name.to_owned(), message };
    let headers = csv_reader.headers().map_err(|error| file_error(format!("cannot read the header: {error}")))?.clone();
    let column_index = |name: &str| {
        headers.iter().position(|header| header == name).ok_or_else(|| {
            file_error(format!("no column `{name}` (columns: {})", headers.iter().collect::<Vec<_>>().join(", ")))
        })
    };
    let text_index = column_index(text_column)?;
    let label_index = column_index(label_column)?;
    let mut rows = Vec::new();
    for (index, record) in csv_reader.records().enumerate() {
        // Line 1 is the header; a record's own position is more exact when
        // the csv crate knows it (quoted fields can span lines).
        let fallback_line = index as u64 + 2;
        let record = record.map_err(|error| Error::Input {
            source_name: source_name.to_owned(),
            line: error.position().map(|position| position.line()).unwrap_or(fallback_line),
            message: error.to_string(),
        })?;
        let line = record.position().map(|position| position.line()).unwrap_or(fallback_line);
        let text = record.get(text_index).unwrap_or("").trim().to_owned();
        let label = record.get(label_index).unwrap_or("").trim().to_owned();
        if text.is_empty() || label.is_empty() {
            return Err(Error::Input {
                source_name: source_name.to_owned(),
                line,
                message: format!("empty `{text_column}` or `{label_column}`"),
            });
        }
        rows.push(LabelledQuery { text, gold_id: label });
    }
    Ok(rows)
}

pub fn read_labelled_csv(path: &Path, text_column: &str, label_column: &str) -> Result<Vec<LabelledQuery>> {
    let file = std::fs::File::open(path).map_err(|error| Error::io(format!("opening {}", path.display()), error))?;
    parse_labelled_csv(std::io::BufReader::new(file), &path.display().to_string(), text_column, label_column)
}

/// Builds one FAQ-like document per label from labelled examples (for
/// example one Banking77 category made of its training sentences). The
/// examples become the document's phrasings; its question is left empty, so
/// nothing but the examples describes it. Documents come out sorted by id.
pub fn documents_from_examples(examples: &[LabelledQuery]) -> Vec<FaqArticle> {
    let mut grouped: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for example in examples {
        grouped.entry(example.gold_id.as_str()).or_default().push(example.text.clone());
    }
    grouped
        .into_iter()
        .map(|(id, texts)| {
            let mut article = FaqArticle::new(id, "", Vec::new());
            article.phrasings = texts;
            article
        })
        .collect()
}

/// Adds learned phrasings (`query,faq_id` rows) to the articles they belong
/// to. Returns how many rows named an article that does not exist; those
/// rows are ignored.
pub fn add_phrasings(articles: &mut [FaqArticle], learned: &[LabelledQuery]) -> usize {
    let position_of: BTreeMap<String, usize> =
        articles.iter().enumerate().map(|(position, article)| (article.id.clone(), position)).collect();
    let mut unknown = 0;
    for row in learned {
        match position_of.get(&row.gold_id) {
            Some(&position) => articles[position].phrasings.push(row.text.clone()),
            None => unknown += 1,
        }
    }
    unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_may_be_strings_or_integers() {
        let input = "{\"id\": \"faq-1\", \"question\": \"a?\", \"answers\": [\"x\"]}\n\n{\"id\": 7, \"question\": \"b?\"}\n{\"id\": 8, \"question\": \"c?\", \"answers\": \"one\"}\n";
        let articles = parse_faqs_jsonl(input.as_bytes(), "test").expect("valid input");
        assert_eq!(articles.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["faq-1", "7", "8"]);
        assert_eq!(articles[2].answers, ["one"]);
        assert!(articles[1].answers.is_empty());
        assert!(articles[0].published);
        assert_eq!(articles[0].language, "en");
    }

    #[test]
    fn errors_name_the_line() {
        let input = "{\"id\": 1, \"question\": \"a?\"}\n{\"id\": 2, \"question\": }\n";
        let error = parse_faqs_jsonl(input.as_bytes(), "faqs.jsonl").expect_err("line 2 is broken");
        assert!(matches!(error, Error::Input { line: 2, .. }), "{error}");
        assert!(error.to_string().starts_with("faqs.jsonl:2:"), "{error}");

        let input = "{\"id\": 1, \"question\": \"a?\"}\n{\"id\": \"1\", \"question\": \"b?\"}\n";
        let error = parse_faqs_jsonl(input.as_bytes(), "f").expect_err("duplicate");
        assert!(error.to_string().contains("duplicate id `1`"), "{error}");

        let input = "{\"id\": 1.5, \"question\": \"a?\"}\n";
        assert!(matches!(parse_faqs_jsonl(input.as_bytes(), "f"), Err(Error::Input { line: 1, .. })));
        let input = "{\"id\": \"x\", \"question\": \"  \"}\n";
        assert!(matches!(parse_faqs_jsonl(input.as_bytes(), "f"), Err(Error::Input { line: 1, .. })));
    }

    #[test]
    fn csv_columns_are_checked_by_name() {
        let input = "query,faq_id\nhello there,f1\n\"multi\nline\",f2\n";
        let rows = parse_labelled_csv(input.as_bytes(), "q.csv", "query", "faq_id").expect("valid");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].text, "multi\nline");
        let error = parse_labelled_csv(input.as_bytes(), "q.csv", "text", "faq_id").expect_err("no such column");
        assert!(error.to_string().contains("no column `text`"), "{error}");
        let input = "query,faq_id\nhello,f1\n,f2\n";
        let error = parse_labelled_csv(input.as_bytes(), "q.csv", "query", "faq_id").expect_err("empty text");
        assert!(matches!(error, Error::Input { line: 3, .. }), "{error}");
    }

    #[test]
    fn examples_become_one_document_per_label() {
        let rows = vec![
            LabelledQuery { text: "a".into(), gold_id: "y".into() },
            LabelledQuery { text: "b".into(), gold_id: "x".into() },
            LabelledQuery { text: "c".into(), gold_id: "y".into() },
        ];
        let documents = documents_from_examples(&rows);
        assert_eq!(documents.len(), 2);
        assert_eq!(documents[1].id, "y");
        assert_eq!(documents[1].phrasings, ["a", "c"]);
        let mut articles = documents;
        let unknown = add_phrasings(&mut articles, &[LabelledQuery { text: "d".into(), gold_id: "z".into() }]);
        assert_eq!(unknown, 1);
    }
}
