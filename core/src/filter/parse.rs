//! The filter language's parser: a recursive descent over characters that
//! reports the position (in characters from 0) of the first thing it cannot
//! read, and what it expected there.
//!
//! ```text
//! query     = [ any ]
//! any       = all { "OR" all }
//! all       = unary { [ "AND" ] unary }
//! unary     = ( "-" | "NOT" ) unary | "(" any ")" | condition
//! condition = "has:" field | field op value | value
//! op        = ":" | "=" | "<" | "<=" | ">" | ">="
//! value     = bare | '"' { char | '\"' | '\\' } '"'
//! ```

use std::fmt;

use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::{Condition, Field, Kind, Op, Query, TimeValue, Value};
use crate::lifecycle::Status;
use crate::text::{forbidden_control, normalize};
use crate::ticket::{Channel, Urgency};

/// The longest query accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 4_096;
/// The deepest nesting of parentheses and negations accepted.
pub const MAX_DEPTH: usize = 32;
/// The most conditions one query may hold (SQLite refuses expressions
/// nested deeper than 1,000, and `AND` chains nest).
pub const MAX_CONDITIONS: usize = 200;
/// The longest keyword value, in characters (a tag or a model name).
const MAX_VALUE_CHARS: usize = 200;

/// Why a query was refused: where (in characters from the start, 0-based)
/// and what the parser expected there.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at character {position}; expected {expected})")]
pub struct QueryError {
    pub position: usize,
    pub expected: String,
    pub message: String,
}

impl QueryError {
    fn new(position: usize, expected: impl Into<String>, message: impl Into<String>) -> Self {
        Self { position, expected: expected.into(), message: message.into() }
    }
}

/// True when `text` reads back as one value without quotes.
pub(super) fn is_bare(text: &str) -> bool {
    !text.is_empty() && !text.chars().any(|c| c.is_whitespace() || matches!(c, '"' | '\\' | '(' | ')'))
}

pub(super) fn parse(text: &str) -> Result<Query, QueryError> {
    if text.len() > MAX_QUERY_BYTES {
        return Err(QueryError::new(
            0,
            format!("at most {MAX_QUERY_BYTES} bytes"),
            format!("the query is {} bytes long", text.len()),
        ));
    }
    let mut parser = Parser { characters: text.chars().collect(), position: 0, depth: 0, conditions: 0 };
    parser.skip_whitespace();
    if parser.at_end() {
        return Ok(Query::everything());
    }
    let query = parser.any()?;
    parser.skip_whitespace();
    match parser.peek() {
        None => Ok(query),
        Some(')') => Err(parser.error("a condition, `OR` or the end", "`)` without a matching `(`")),
        Some(_) => Err(parser.error("a condition, `OR` or the end", "unexpected text")),
    }
}

struct Parser {
    characters: Vec<char>,
    position: usize,
    depth: usize,
    conditions: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.characters.get(self.position).copied()
    }

    fn at_end(&self) -> bool {
        self.position >= self.characters.len()
    }

    fn error(&self, expected: impl Into<String>, message: impl Into<String>) -> QueryError {
        QueryError::new(self.position, expected, message)
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.position += 1;
        }
    }

    /// The bare word starting here (up to whitespace or a parenthesis),
    /// without consuming it.
    fn word_ahead(&self) -> String {
        self.characters[self.position..].iter().take_while(|c| !c.is_whitespace() && !matches!(c, '(' | ')')).collect()
    }

    /// Consumes the operator word `keyword` (`AND`, `OR`, `NOT`) when it
    /// stands here as a word of its own.
    fn keyword(&mut self, keyword: &str) -> bool {
        if self.word_ahead() == keyword {
            self.position += keyword.chars().count();
            return true;
        }
        false
    }

    fn enter(&mut self) -> Result<(), QueryError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(
                format!("at most {MAX_DEPTH} levels of parentheses and negations"),
                "the query nests too deeply",
            ));
        }
        Ok(())
    }

    fn any(&mut self) -> Result<Query, QueryError> {
        let mut parts = vec![self.all()?];
        loop {
            self.skip_whitespace();
            if !self.keyword("OR") {
                break;
            }
            parts.push(self.all()?);
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { Query::Any(parts) })
    }

    fn all(&mut self) -> Result<Query, QueryError> {
        let mut parts = vec![self.unary()?];
        loop {
            self.skip_whitespace();
            if self.at_end() || self.peek() == Some(')') || self.word_ahead() == "OR" {
                break;
            }
            self.keyword("AND");
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { Query::All(parts) })
    }

    fn unary(&mut self) -> Result<Query, QueryError> {
        self.skip_whitespace();
        let start = self.position;
        match self.peek() {
            None => Err(self.error("a condition", "the query ends where a condition should follow")),
            Some(')') => Err(self.error("a condition", "`)` where a condition should be")),
            Some('-') => {
                self.position += 1;
                if self.peek().is_none_or(char::is_whitespace) {
                    return Err(self.error("a condition right after `-`", "`-` negates what follows it directly"));
                }
                self.negation()
            }
            Some('(') => {
                self.enter()?;
                self.position += 1;
                self.skip_whitespace();
                if self.peek() == Some(')') {
                    return Err(self.error("a condition", "empty parentheses"));
                }
                let inner = self.any()?;
                self.skip_whitespace();
                if self.peek() != Some(')') {
                    let message = format!("the `(` at character {start} is not closed");
                    return Err(self.error("`)`", message));
                }
                self.position += 1;
                self.depth -= 1;
                Ok(inner)
            }
            Some(_) if self.keyword("NOT") => self.negation(),
            Some(_) if matches!(self.word_ahead().as_str(), "AND" | "OR") => {
                Err(self.error("a condition", format!("`{}` where a condition should be", self.word_ahead())))
            }
            Some(_) => self.condition().map(Query::Condition),
        }
    }

    fn negation(&mut self) -> Result<Query, QueryError> {
        self.enter()?;
        let inner = self.unary()?;
        self.depth -= 1;
        Ok(Query::Not(Box::new(inner)))
    }

    fn condition(&mut self) -> Result<Condition, QueryError> {
        let start = self.position;
        self.conditions += 1;
        if self.conditions > MAX_CONDITIONS {
            return Err(self.error(format!("at most {MAX_CONDITIONS} conditions"), "the query has too many conditions"));
        }
        let name: String = self.characters[self.position..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_'))
            .collect();
        let after_name = start + name.chars().count();
        let op_start = self.characters.get(after_name).copied();
        if name.is_empty() || !matches!(op_start, Some(':' | '=' | '<' | '>')) {
            // Words of the ticket's text.
            let (words, words_start) = self.value()?;
            return Ok(Condition::Compare { field: Field::Text, op: Op::Eq, value: text_value(&words, words_start)? });
        }
        if name == "has" && op_start == Some(':') {
            self.position = after_name + 1;
            let field_start = self.position;
            let field_name = self.word_ahead();
            let field = Field::parse(&field_name).filter(|field| field.is_optional()).ok_or_else(|| {
                let optional: Vec<&str> =
                    Field::ALL.iter().filter(|field| field.is_optional()).map(|field| field.name()).collect();
                QueryError::new(
                    field_start,
                    format!("one of {}", optional.join(", ")),
                    format!("`has:` takes a field a ticket may lack, not `{field_name}`"),
                )
            })?;
            self.position += field_name.chars().count();
            return Ok(Condition::Has(field));
        }
        let field = Field::parse(&name).ok_or_else(|| {
            let known: Vec<&str> = Field::ALL.iter().map(|field| field.name()).collect();
            QueryError::new(start, format!("one of {}, or has", known.join(", ")), format!("unknown field `{name}`"))
        })?;
        self.position = after_name;
        let op = self.operator();
        if op != Op::Eq && !field.kind().is_ordered() {
            return Err(QueryError::new(
                after_name,
                "`:`",
                format!("`{}` is not ordered: compare it with `:` only", field.name()),
            ));
        }
        let (text, value_start) = self.value()?;
        let value = typed_value(field, &text, value_start)?;
        Ok(Condition::Compare { field, op, value })
    }

    fn operator(&mut self) -> Op {
        let first = self.peek();
        self.position += 1;
        let equals_follows = self.peek() == Some('=');
        let op = match (first, equals_follows) {
            (Some('<'), true) => Op::Le,
            (Some('>'), true) => Op::Ge,
            (Some('<'), false) => Op::Lt,
            (Some('>'), false) => Op::Gt,
            _ => Op::Eq,
        };
        if matches!(op, Op::Le | Op::Ge) {
            self.position += 1;
        }
        op
    }

    /// A bare or quoted value, and where it starts.
    fn value(&mut self) -> Result<(String, usize), QueryError> {
        let start = self.position;
        if self.peek() != Some('"') {
            let word = self.word_ahead();
            if word.is_empty() {
                return Err(self.error("a value", "a value is missing"));
            }
            if word.contains('"') || word.contains('\\') {
                return Err(self.error("a value in quotes", "`\"` and `\\` may only appear in a quoted value"));
            }
            self.position += word.chars().count();
            return Ok((word, start));
        }
        self.position += 1;
        let mut text = String::new();
        loop {
            match self.peek() {
                None => {
                    let message = format!("the quote at character {start} is not closed");
                    return Err(self.error("`\"`", message));
                }
                Some('"') => {
                    self.position += 1;
                    break;
                }
                Some('\\') => {
                    self.position += 1;
                    match self.peek() {
                        Some(escaped @ ('"' | '\\')) => text.push(escaped),
                        _ => return Err(self.error("`\"` or `\\` after `\\`", "an unknown escape")),
                    }
                    self.position += 1;
                }
                Some(character) => {
                    text.push(character);
                    self.position += 1;
                }
            }
        }
        match self.peek() {
            Some(c) if !c.is_whitespace() && c != ')' => {
                Err(self.error("a space, `)` or the end after the closing quote", "text runs on after a quoted value"))
            }
            _ => Ok((text, start)),
        }
    }
}

fn text_value(words: &str, start: usize) -> Result<Value, QueryError> {
    if words.chars().count() > MAX_VALUE_CHARS {
        return Err(QueryError::new(start, format!("at most {MAX_VALUE_CHARS} characters"), "the phrase is too long"));
    }
    let normalized = normalize(words, MAX_VALUE_CHARS);
    if normalized.is_empty() {
        return Err(QueryError::new(start, "words to look for", format!("`{words}` has no words to look for")));
    }
    Ok(Value::Text(normalized))
}

fn typed_value(field: Field, text: &str, start: usize) -> Result<Value, QueryError> {
    let refuse = |expected: String| {
        let message = format!("`{text}` is not a value of `{}`", field.name());
        QueryError::new(start, expected, message)
    };
    let one_of = |names: Vec<&str>| format!("one of {}", names.join(", "));
    match field.kind() {
        Kind::Status => Status::parse(text)
            .map(Value::Status)
            .ok_or_else(|| refuse(one_of(Status::ALL.iter().map(|status| status.as_str()).collect()))),
        Kind::Urgency => Urgency::parse(text)
            .map(Value::Urgency)
            .ok_or_else(|| refuse(one_of(Urgency::ALL.iter().map(|urgency| urgency.as_str()).collect()))),
        Kind::Channel => Channel::parse(text)
            .map(Value::Channel)
            .ok_or_else(|| refuse(one_of(Channel::ALL.iter().map(|channel| channel.as_str()).collect()))),
        Kind::Text => text_value(text, start),
        Kind::Keyword => {
            if text.trim().is_empty() {
                return Err(refuse("a value that is not blank".into()));
            }
            if forbidden_control(text).is_some() {
                return Err(refuse("a value without control characters".into()));
            }
            if text.chars().count() > MAX_VALUE_CHARS {
                return Err(refuse(format!("at most {MAX_VALUE_CHARS} characters")));
            }
            // Domains are compared as the store keeps them: lower case.
            let keyword = if field == Field::RequesterDomain { text.to_lowercase() } else { text.to_owned() };
            Ok(Value::Keyword(keyword))
        }
        Kind::Id => Uuid::try_parse(text).map(Value::Id).map_err(|_| refuse("an id (a UUID)".into())),
        Kind::Number => match text.parse::<f64>() {
            Ok(number) if number.is_finite() && !text.starts_with('+') => Ok(Value::Number(number)),
            _ => Err(refuse("a number such as 0.6".into())),
        },
        Kind::Time => parse_time(text)
            .map(Value::Time)
            .ok_or_else(|| refuse("a date such as 2026-01-31 or a time such as 2026-01-31T09:00:00Z".into())),
        Kind::Bool => match text {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(refuse("true or false".into())),
        },
    }
}

fn parse_time(text: &str) -> Option<TimeValue> {
    let day_format = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(date) = Date::parse(text, &day_format) {
        return (0..=9999).contains(&date.year()).then_some(TimeValue::Day(date));
    }
    let instant = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    // Printed back in UTC, which RFC 3339 writes for years 0 to 9999 only.
    let instant =
        instant.checked_to_offset(time::UtcOffset::UTC).filter(|instant| (0..=9999).contains(&instant.year()))?;
    // The store keeps microseconds; finer parts would make `:` match nothing.
    let instant = instant.replace_nanosecond(instant.nanosecond() / 1_000 * 1_000).ok()?;
    Some(TimeValue::Instant(instant))
}

impl fmt::Display for Op {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}
