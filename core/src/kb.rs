//! Knowledge-base articles as the store keeps them.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ticket::ValidationError;

/// An FAQ article.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

fn default_language() -> String {
    "en".to_owned()
}

fn default_published() -> bool {
    true
}

/// An FAQ article as an admin or an import file supplies it, before
/// validation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewFaq {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub question: Option<String>,
    #[serde(default)]
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
            company: optional("company", self.company)?,
            phrasings,
            created_at: now,
            updated_at: now,
        })
    }
}

fn text(field: &str, value: Option<String>, max_chars: usize) -> Result<String, ValidationError> {
    let value = value.ok_or_else(|| ValidationError::new("missing_field", field, format!("`{field}` is required")))?;
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
