//! Knowledge-base articles as the store keeps them.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::events::{Suggestion, SuggestionKind};
use crate::ticket::ValidationError;

/// An FAQ article.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Faq {
    /// Chosen by the importer or the admin; any text up to 200 characters.
    pub id: String,
    pub question: String,
    /// One or more answers; the first is what a customer is sent.
    pub answers: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Product or equipment model the article is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equipment_model: Option<String>,
    /// BCP 47 language tag.
    #[serde(default = "default_language")]
    pub language: String,
    /// Drafts are indexed but never suggested or sent.
    #[serde(default = "default_published")]
    pub published: bool,
    /// `None`: every company sees it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    /// Other ways customers asked this question.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phrasings: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Faq {
    /// The bytes of its text (question, answers, phrasings, tags and short
    /// fields): about its size as JSON, for budgets such as a page's.
    pub fn text_bytes(&self) -> usize {
        let lists = self.answers.iter().chain(&self.phrasings).chain(&self.tags).map(String::len).sum::<usize>();
        self.id.len()
            + self.question.len()
            + lists
            + self.equipment_model.as_ref().map_or(0, String::len)
            + self.language.len()
            + self.company.as_ref().map_or(0, String::len)
    }

    /// A published English article with a question and answers only (for
    /// tools and tests; the API and imports build articles with
    /// [`NewFaq::validate`]).
    pub fn new(id: impl Into<String>, question: impl Into<String>, answers: Vec<String>) -> Self {
        let now = OffsetDateTime::now_utc();
        Faq {
            id: id.into(),
            question: question.into(),
            answers,
            tags: Vec::new(),
            equipment_model: None,
            language: default_language(),
            published: true,
            company: None,
            phrasings: Vec::new(),
            created_at: now,
            updated_at: now,
        }
    }
}

fn default_language() -> String {
    "en".to_owned()
}

fn default_published() -> bool {
    true
}

/// An FAQ article as an admin or an import file supplies it, before
/// validation: the one input shape of the API, `switchboard kb import` and
/// the evaluation tools. Unknown fields are refused; an `id` may be a JSON
/// integer (kept as its decimal text) and a single answer may be a string.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFaq {
    #[serde(default, deserialize_with = "id_text")]
    pub id: Option<String>,
    #[serde(default)]
    pub question: Option<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub answers: Option<Vec<String>>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub equipment_model: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub published: Option<bool>,
    #[serde(default)]
    pub company: Option<String>,
    #[serde(default)]
    pub phrasings: Option<Vec<String>>,
}

fn id_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Text(String),
        Number(u64),
    }
    Ok(Option::<Id>::deserialize(deserializer)?.map(|id| match id {
        Id::Text(text) => text,
        Id::Number(number) => number.to_string(),
    }))
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(Option::<OneOrMany>::deserialize(deserializer)?.map(|answers| match answers {
        OneOrMany::One(answer) => vec![answer],
        OneOrMany::Many(answers) => answers,
    }))
}

/// Why a line of an FAQ import was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {}", self.detail())]
pub struct ImportError {
    /// 1-based.
    pub line: u64,
    pub field: Option<String>,
    pub message: String,
}

impl ImportError {
    /// What is wrong on the line: `field: message`, or the message alone.
    pub fn detail(&self) -> String {
        match &self.field {
            Some(field) => format!("{field}: {}", self.message),
            None => self.message.clone(),
        }
    }
}

/// Parses and validates FAQ articles from JSON Lines, one [`NewFaq`] object
/// per line (blank lines skipped, `id` required). All or nothing: the first
/// bad line, or an id seen twice, is the error.
pub fn parse_faq_lines(bytes: &[u8], now: OffsetDateTime) -> Result<Vec<Faq>, ImportError> {
    let text = std::str::from_utf8(bytes).map_err(|error| {
        let line = bytes[..error.valid_up_to()].iter().filter(|byte| **byte == b'\n').count() as u64 + 1;
        ImportError { line, field: None, message: "not UTF-8 text".into() }
    })?;
    let mut faqs: Vec<Faq> = Vec::new();
    let mut first_line_of_id = std::collections::HashMap::new();
    for (index, line) in text.lines().enumerate() {
        let line_number = index as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        let error = |field: Option<String>, message: String| ImportError { line: line_number, field, message };
        let input: NewFaq = crate::http::parse_json_body(line.as_bytes()).map_err(|refusal| match refusal {
            crate::http::BodyError::Malformed(message) => error(None, message),
            crate::http::BodyError::Invalid { field, message } => error(Some(field).filter(|f| !f.is_empty()), message),
        })?;
        if input.id.is_none() {
            return Err(error(Some("id".into()), "`id` is required in an import".into()));
        }
        let faq =
            input.validate(String::new, now).map_err(|invalid| error(Some(invalid.field.clone()), invalid.message))?;
        if let Some(first) = first_line_of_id.insert(faq.id.clone(), line_number) {
            return Err(error(Some("id".into()), format!("duplicate id `{}` (first seen on line {first})", faq.id)));
        }
        faqs.push(faq);
    }
    Ok(faqs)
}

/// Bounds on an FAQ article.
pub mod limits {
    pub const ID_MAX_CHARS: usize = 200;
    pub const QUESTION_MAX_CHARS: usize = 1_000;
    /// Community FAQs gather many answers (StackExchange: up to 681).
    pub const ANSWERS_MAX: usize = 1_000;
    pub const ANSWER_MAX_BYTES: usize = 64 * 1024;
    pub const ANSWERS_TOTAL_MAX_BYTES: usize = 1024 * 1024;
    pub const TAGS_MAX: usize = 20;
    pub const TAG_MAX_CHARS: usize = 64;
    pub const PHRASINGS_MAX: usize = 200;
    pub const PHRASING_MAX_CHARS: usize = 1_000;
    pub const SHORT_FIELD_MAX_CHARS: usize = 200;
}

/// True for ids that are safe as a URL path segment: letters, digits and
/// `.`, `_`, `:`, `-`.
pub fn valid_faq_id(id: &str) -> bool {
    (1..=limits::ID_MAX_CHARS).contains(&id.chars().count())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
}

impl NewFaq {
    /// Checks every rule. `id` is used when the article names none (a new
    /// article posted without an id); `created_at` and `updated_at` are set
    /// to `now` (the store keeps the original creation time on updates).
    pub fn validate(self, id: impl FnOnce() -> String, now: OffsetDateTime) -> Result<Faq, ValidationError> {
        use limits::*;
        let id = match self.id {
            Some(id) => id.trim().to_owned(),
            None => id(),
        };
        if !valid_faq_id(&id) {
            return Err(ValidationError::new(
                "invalid_id",
                "id",
                format!("`id` must be 1 to {ID_MAX_CHARS} letters, digits, `.`, `_`, `:` or `-`"),
            ));
        }
        let question = text("question", self.question, QUESTION_MAX_CHARS)?;
        let answers = list("answers", self.answers.unwrap_or_default(), ANSWERS_MAX, |field, answer| {
            crate::ticket::check_characters(field, &answer)?;
            let answer = answer.trim().to_owned();
            if answer.is_empty() {
                return Err(ValidationError::new("empty_field", field, format!("`{field}` must not be empty")));
            }
            if answer.len() > ANSWER_MAX_BYTES {
                return Err(ValidationError::new(
                    "too_long",
                    field,
                    format!("`{field}` is over {ANSWER_MAX_BYTES} bytes"),
                ));
            }
            Ok(answer)
        })?;
        if answers.is_empty() {
            return Err(ValidationError::new("missing_field", "answers", "at least one answer is required"));
        }
        if answers.iter().map(String::len).sum::<usize>() > ANSWERS_TOTAL_MAX_BYTES {
            return Err(ValidationError::new(
                "too_long",
                "answers",
                format!("the answers together must be at most {ANSWERS_TOTAL_MAX_BYTES} bytes"),
            ));
        }
        let tags =
            list("tags", self.tags.unwrap_or_default(), TAGS_MAX, |field, tag| text(field, Some(tag), TAG_MAX_CHARS))?;
        let phrasings = list("phrasings", self.phrasings.unwrap_or_default(), PHRASINGS_MAX, |field, phrasing| {
            text(field, Some(phrasing), PHRASING_MAX_CHARS)
        })?;
        let optional = |field: &str, value: Option<String>| match value {
            Some(value) if !value.trim().is_empty() => text(field, Some(value), SHORT_FIELD_MAX_CHARS).map(Some),
            _ => Ok(None),
        };
        Ok(Faq {
            id,
            question,
            answers,
            tags,
            equipment_model: optional("equipment_model", self.equipment_model)?,
            language: optional("language", self.language)?.unwrap_or_else(default_language),
            published: self.published.unwrap_or(true),
            company: match optional("company", self.company)? {
                Some(company) => Some(crate::tenant::CompanyId::parse(&company)?.to_string()),
                None => None,
            },
            phrasings,
            created_at: now,
            updated_at: now,
        })
    }
}

fn text(field: &str, value: Option<String>, max_chars: usize) -> Result<String, ValidationError> {
    let value = value.ok_or_else(|| ValidationError::new("missing_field", field, format!("`{field}` is required")))?;
    crate::ticket::check_characters(field, &value)?;
    let value = value.trim();
    if value.is_empty() {
        return Err(ValidationError::new("empty_field", field, format!("`{field}` must not be empty")));
    }
    if value.chars().count() > max_chars {
        return Err(ValidationError::new(
            "too_long",
            field,
            format!("`{field}` must be at most {max_chars} characters"),
        ));
    }
    Ok(value.to_owned())
}

fn list(
    field: &str,
    values: Vec<String>,
    max: usize,
    check: impl Fn(&str, String) -> Result<String, ValidationError>,
) -> Result<Vec<String>, ValidationError> {
    if values.len() > max {
        return Err(ValidationError::new("too_many", field, format!("at most {max} `{field}` are allowed")));
    }
    let mut checked: Vec<String> = Vec::with_capacity(values.len());
    for (index, value) in values.into_iter().enumerate() {
        let value = check(&format!("{field}[{index}]"), value)?;
        if !checked.contains(&value) {
            checked.push(value);
        }
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> NewFaq {
        NewFaq { question: Some("How?".into()), answers: Some(vec!["Like this.".into()]), ..NewFaq::default() }
    }

    #[test]
    fn a_minimal_article_gets_defaults() {
        let faq = base().validate(|| "generated".into(), OffsetDateTime::UNIX_EPOCH).expect("valid");
        assert_eq!((faq.id.as_str(), faq.language.as_str(), faq.published), ("generated", "en", true));
    }

    #[test]
    fn import_lines_are_new_faqs_refusing_unknown_fields() {
        let lines = b"{\"id\": 42, \"question\": \"Q?\", \"answers\": \"A.\"}\n\n{\"id\": \"b\", \"question\": \"R?\", \"answers\": [\"B.\"]}\n";
        let faqs = parse_faq_lines(lines, OffsetDateTime::UNIX_EPOCH).expect("valid");
        assert_eq!(faqs.iter().map(|faq| faq.id.as_str()).collect::<Vec<_>>(), ["42", "b"]);
        assert_eq!(faqs[0].answers, ["A."]);
        let refused = |bytes: &[u8]| parse_faq_lines(bytes, OffsetDateTime::UNIX_EPOCH).expect_err("refused");
        let unknown = refused(b"{\"id\": \"a\", \"question\": \"Q\", \"answers\": [\"A\"], \"colour\": \"red\"}");
        assert_eq!((unknown.line, unknown.field.as_deref()), (1, Some("colour")));
        let twice = refused(b"{\"id\": \"a\", \"question\": \"Q\", \"answers\": [\"A\"]}\n{\"id\": \"a\", \"question\": \"Q\", \"answers\": [\"A\"]}");
        assert_eq!((twice.line, twice.field.as_deref()), (2, Some("id")));
        assert_eq!(refused(b"{\"question\": \"Q\", \"answers\": [\"A\"]}").field.as_deref(), Some("id"));
        assert_eq!(refused(b"{\"id\": \"a\",").line, 1);
    }

    #[test]
    fn bad_articles_name_the_field() {
        let check =
            |faq: NewFaq| faq.validate(|| "x".into(), OffsetDateTime::UNIX_EPOCH).map_err(|e| (e.code, e.field));
        assert_eq!(check(NewFaq { answers: Some(vec![]), ..base() }), Err(("missing_field", "answers".into())));
        assert_eq!(
            check(NewFaq { answers: Some(vec![" ".into()]), ..base() }),
            Err(("empty_field", "answers[0]".into()))
        );
        assert_eq!(check(NewFaq { question: None, ..base() }), Err(("missing_field", "question".into())));
        assert_eq!(check(NewFaq { id: Some("has space".into()), ..base() }), Err(("invalid_id", "id".into())));
        assert_eq!(check(NewFaq { id: Some("a/b".into()), ..base() }), Err(("invalid_id", "id".into())));
        assert!(check(NewFaq { id: Some("faq-12.v2:en".into()), ..base() }).is_ok());
    }
}

/// A direct query of the knowledge base (`GET /v1/kb/search`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchRequest {
    pub text: String,
    pub k: usize,
    pub kind: Option<SuggestionKind>,
    /// Whose documents: a company's own and the shared ones, or (the
    /// installation) all.
    pub scope: crate::tenant::Scope,
    /// Documents about this equipment model and those about none.
    pub equipment_model: Option<String>,
}

/// Why a search failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SearchFailure {
    /// Worth retrying (the index is busy), as opposed to broken.
    pub transient: bool,
    pub message: String,
}

/// Searching the knowledge base, as the API needs it: implemented by
/// `switchboard-kb` over its index, so the API does not link the search
/// engine. Blocking: call it from a blocking thread.
pub trait KnowledgeSearch: Send + Sync + 'static {
    fn search(&self, request: &SearchRequest) -> Result<Vec<Suggestion>, SearchFailure>;
}
