//! Reading FAQ articles and labelled queries from files.
//!
//! JSON Lines for FAQs (one `switchboard_core::kb::NewFaq` per line: `{"id",
//! "question", "answers": [...]}` and optionally the other fields), CSV for
//! labelled queries and for generic labelled corpora. Every error names the
//! file and the 1-based line.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use crate::document::Faq;
use crate::{Error, Result};

/// Parses FAQ articles from JSON Lines: the same lines, rules and errors as
/// `switchboard kb import` and `POST /v1/faqs/import`
/// ([`switchboard_core::kb::parse_faq_lines`]), as index documents.
pub fn parse_faqs_jsonl(mut reader: impl Read, source_name: &str) -> Result<Vec<Faq>> {
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes).map_err(|error| Error::io(format!("reading {source_name}"), error))?;
    let faqs = switchboard_core::kb::parse_faq_lines(&bytes, time::OffsetDateTime::now_utc()).map_err(|error| {
        Error::Input { source_name: source_name.to_owned(), line: error.line, message: error.detail() }
    })?;
    Ok(faqs)
}

/// Reads FAQ articles from a JSON Lines file.
pub fn read_faqs_jsonl(path: &Path) -> Result<Vec<Faq>> {
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
    let rows = parse_csv_columns(reader, source_name, &[text_column, label_column])?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let mut fields = row.into_iter();
            LabelledQuery { text: fields.next().unwrap_or_default(), gold_id: fields.next().unwrap_or_default() }
        })
        .collect())
}

/// The named columns of every row, trimmed, in the order asked for. A row
/// with any of them empty is an error.
fn parse_csv_columns(reader: impl Read, source_name: &str, columns: &[&str]) -> Result<Vec<Vec<String>>> {
    let mut csv_reader = csv::ReaderBuilder::new().flexible(false).from_reader(reader);
    let file_error = |message: String| Error::InputFile { source_name: source_name.to_owned(), message };
    let headers = csv_reader.headers().map_err(|error| file_error(format!("cannot read the header: {error}")))?.clone();
    let column_index = |name: &str| {
        headers.iter().position(|header| header == name).ok_or_else(|| {
            file_error(format!("no column `{name}` (columns: {})", headers.iter().collect::<Vec<_>>().join(", ")))
        })
    };
    let indices: Vec<usize> = columns.iter().map(|name| column_index(name)).collect::<Result<_>>()?;
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
        let row: Vec<String> = indices.iter().map(|&index| record.get(index).unwrap_or("").trim().to_owned()).collect();
        if row.iter().any(String::is_empty) {
            let named: Vec<String> = columns.iter().map(|name| format!("`{name}`")).collect();
            return Err(Error::Input {
                source_name: source_name.to_owned(),
                line,
                message: format!("empty {}", named.join(" or ")),
            });
        }
        rows.push(row);
    }
    Ok(rows)
}

pub fn read_labelled_csv(path: &Path, text_column: &str, label_column: &str) -> Result<Vec<LabelledQuery>> {
    let file = std::fs::File::open(path).map_err(|error| Error::io(format!("opening {}", path.display()), error))?;
    parse_labelled_csv(std::io::BufReader::new(file), &path.display().to_string(), text_column, label_column)
}

/// The texts of one CSV column (e.g. questions with no answer), with the
/// checks of [`parse_labelled_csv`].
pub fn read_csv_column(path: &Path, column: &str) -> Result<Vec<String>> {
    let file = std::fs::File::open(path).map_err(|error| Error::io(format!("opening {}", path.display()), error))?;
    let rows = parse_csv_columns(std::io::BufReader::new(file), &path.display().to_string(), &[column])?;
    Ok(rows.into_iter().flatten().collect())
}

/// Builds one FAQ-like document per label from labelled examples (for
/// example one Banking77 category made of its training sentences). The
/// examples become the document's phrasings; its question is left empty, so
/// nothing but the examples describes it. Documents come out sorted by id.
pub fn documents_from_examples(examples: &[LabelledQuery]) -> Vec<Faq> {
    let mut grouped: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for example in examples {
        grouped.entry(example.gold_id.as_str()).or_default().push(example.text.clone());
    }
    grouped
        .into_iter()
        .map(|(id, texts)| {
            let mut article = Faq::new(id, "", Vec::new());
            article.phrasings = texts;
            article
        })
        .collect()
}

/// Adds learned phrasings (`query,faq_id` rows) to the articles they belong
/// to. Returns how many rows named an article that does not exist; those
/// rows are ignored.
pub fn add_phrasings(articles: &mut [Faq], learned: &[LabelledQuery]) -> usize {
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
        let input = "{\"id\": \"faq-1\", \"question\": \"a?\", \"answers\": [\"x\"]}\n\n{\"id\": 7, \"question\": \"b?\", \"answers\": [\"y\", \"z\"]}\n{\"id\": 8, \"question\": \"c?\", \"answers\": \"one\"}\n";
        let articles = parse_faqs_jsonl(input.as_bytes(), "test").expect("valid input");
        assert_eq!(articles.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["faq-1", "7", "8"]);
        assert_eq!(articles[2].answers, ["one"]);
        assert_eq!(articles[1].answers, ["y", "z"]);
        assert!(articles[0].published);
        assert_eq!(articles[0].language, "en");
    }

    #[test]
    fn errors_name_the_line() {
        let input = "{\"id\": 1, \"question\": \"a?\", \"answers\": [\"x\"]}\n{\"id\": 2, \"question\": }\n";
        let error = parse_faqs_jsonl(input.as_bytes(), "faqs.jsonl").expect_err("line 2 is broken");
        assert!(matches!(error, Error::Input { line: 2, .. }), "{error}");
        assert!(error.to_string().starts_with("faqs.jsonl:2:"), "{error}");

        let input = "{\"id\": 1, \"question\": \"a?\", \"answers\": [\"x\"]}\n{\"id\": \"1\", \"question\": \"b?\", \"answers\": [\"x\"]}\n";
        let error = parse_faqs_jsonl(input.as_bytes(), "f").expect_err("duplicate");
        assert!(error.to_string().contains("duplicate id `1`"), "{error}");

        let input = "{\"id\": 1.5, \"question\": \"a?\", \"answers\": [\"x\"]}\n";
        assert!(matches!(parse_faqs_jsonl(input.as_bytes(), "f"), Err(Error::Input { line: 1, .. })));
        let input = "{\"id\": \"x\", \"question\": \"  \", \"answers\": [\"x\"]}\n";
        assert!(matches!(parse_faqs_jsonl(input.as_bytes(), "f"), Err(Error::Input { line: 1, .. })));
        // Unknown fields are refused, as by the API.
        let input = "{\"id\": \"x\", \"question\": \"q\", \"answers\": [\"x\"], \"anwsers\": []}\n";
        let error = parse_faqs_jsonl(input.as_bytes(), "f").expect_err("unknown field");
        assert!(error.to_string().contains("anwsers"), "{error}");
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
