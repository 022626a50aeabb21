//! The ticket filter language, shared by ticket search (`GET /v1/tickets?q=`),
//! routing conditions and webhook subscriptions:
//!
//! ```text
//! status:new urgency>=high (tag:printer OR equipment.model:"HP M404") -company:test
//! confidence.category<0.6 created>2026-01-01 "paper jam"
//! ```
//!
//! * `field:value` (or `field=value`) holds when the ticket's field equals the
//!   value; ordered fields (status, urgency, created, confidences) also take
//!   `<`, `<=`, `>`, `>=`. `has:field` holds when an optional field is set.
//! * A bare word or a `"quoted phrase"` holds when the ticket's title or
//!   description contains it as whole words, compared after the one text
//!   normalisation ([`crate::text::normalize`]: case and punctuation do not
//!   matter); `text:` says the same explicitly.
//! * Conditions side by side must all hold (`AND` may be written); `OR`
//!   binds looser than `AND`; `-` or `NOT` negates; parentheses group.
//! * A date (`2026-01-01`) stands for that whole UTC day: `created>2026-01-01`
//!   is from the next midnight on, `created:2026-01-01` is within the day.
//!   A time (`2026-01-01T09:30:00Z`) stands for that microsecond.
//! * A field the ticket lacks satisfies no comparison: `urgency<high` does not
//!   select tickets without an urgency, and `-urgency>=high` does.
//!
//! This module is the syntax (parse, print), the meaning ([`Query::matches`]),
//! and nothing else: the store compiles the same [`Query`] to SQL, and a
//! property test keeps the two in agreement.

mod eval;
mod parse;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

use std::fmt;

use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::lifecycle::Status;
use crate::ticket::{Channel, Urgency};

pub use eval::{Subject, requester_domain, searchable_text};
pub use parse::{MAX_CONDITIONS, MAX_DEPTH, MAX_QUERY_BYTES, QueryError};

/// A parsed filter. Build one with [`Query::parse`]; [`fmt::Display`] prints
/// it back in a form that parses to the same query.
#[derive(Clone, Debug, PartialEq)]
pub enum Query {
    /// Every part holds. With no parts (the empty query), every ticket.
    All(Vec<Query>),
    /// At least one part holds (never empty).
    Any(Vec<Query>),
    Not(Box<Query>),
    Condition(Condition),
}

/// One condition on one field.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// `field:value`, `field>=value`, …; the value has the field's kind.
    Compare { field: Field, op: Op, value: Value },
    /// `has:field`: an optional field is set.
    Has(Field),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => ":",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }

    /// Whether `left op right` holds.
    pub fn holds<T: PartialOrd>(self, left: T, right: T) -> bool {
        match self {
            Op::Eq => left == right,
            Op::Lt => left < right,
            Op::Le => left <= right,
            Op::Gt => left > right,
            Op::Ge => left >= right,
        }
    }
}

/// What kind of value a field holds, which decides how its values are
/// written and which comparisons it takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Status,
    Urgency,
    Channel,
    /// Exact text (a label, an address, a model name).
    Keyword,
    /// Words in the ticket's text.
    Text,
    Id,
    Number,
    Time,
    Bool,
}

impl Kind {
    /// Takes `<`, `<=`, `>`, `>=` as well as `:`.
    pub fn is_ordered(self) -> bool {
        matches!(self, Kind::Status | Kind::Urgency | Kind::Number | Kind::Time)
    }
}

macro_rules! fields {
    ($($variant:ident => $name:literal, $kind:ident, $optional:literal;)*) => {
        /// A ticket property a query can name.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Field {
            $($variant,)*
        }

        impl Field {
            pub const ALL: &'static [Field] = &[$(Field::$variant,)*];

            /// The name written in queries.
            pub fn name(self) -> &'static str {
                match self {
                    $(Field::$variant => $name,)*
                }
            }

            pub fn kind(self) -> Kind {
                match self {
                    $(Field::$variant => Kind::$kind,)*
                }
            }

            /// A ticket may lack it, so `has:` applies.
            pub fn is_optional(self) -> bool {
                match self {
                    $(Field::$variant => $optional,)*
                }
            }
        }
    };
}

fields! {
    Id => "id", Id, false;
    Status => "status", Status, false;
    Urgency => "urgency", Urgency, true;
    Category => "category", Keyword, true;
    Channel => "channel", Channel, false;
    Company => "company", Keyword, false;
    Tag => "tag", Keyword, true;
    Text => "text", Text, false;
    RequesterEmail => "requester.email", Keyword, false;
    RequesterDomain => "requester.domain", Keyword, true;
    RequesterName => "requester.name", Keyword, true;
    RequesterAccount => "requester.account", Id, true;
    EquipmentModel => "equipment.model", Keyword, true;
    EquipmentSerial => "equipment.serial", Keyword, true;
    Assignee => "assignee", Id, true;
    Team => "team", Id, true;
    Server => "server", Id, true;
    Vehicle => "vehicle", Id, true;
    Created => "created", Time, false;
    CategoryConfidence => "confidence.category", Number, true;
    UrgencyConfidence => "confidence.urgency", Number, true;
    Unsure => "unsure", Bool, false;
    Answered => "answered", Bool, false;
}

impl Field {
    pub fn parse(name: &str) -> Option<Field> {
        Field::ALL.iter().copied().find(|field| field.name() == name)
    }
}

/// A value in a query, of its field's [`Kind`].
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Status(Status),
    Urgency(Urgency),
    Channel(Channel),
    Keyword(String),
    /// Normalised words, never empty ([`crate::text::normalize`]).
    Text(String),
    Id(Uuid),
    Number(f64),
    Time(TimeValue),
    Bool(bool),
}

/// A day or an instant, each standing for an interval of microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeValue {
    /// The whole UTC day.
    Day(Date),
    /// One microsecond.
    Instant(OffsetDateTime),
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

impl TimeValue {
    /// The microseconds since the Unix epoch it covers: `[start, end)`.
    pub fn interval(self) -> (i64, i64) {
        match self {
            TimeValue::Day(date) => {
                let start = micros(date.midnight().assume_utc());
                (start, start + MICROS_PER_DAY)
            }
            TimeValue::Instant(instant) => {
                let start = micros(instant);
                (start, start + 1)
            }
        }
    }

    /// The interval of instants `t` for which `t op self` holds, as bounds
    /// `(from inclusive, to exclusive)`, either open.
    pub fn bounds(self, op: Op) -> (Option<i64>, Option<i64>) {
        let (start, end) = self.interval();
        match op {
            Op::Eq => (Some(start), Some(end)),
            Op::Lt => (None, Some(start)),
            Op::Le => (None, Some(end)),
            Op::Gt => (Some(end), None),
            Op::Ge => (Some(start), None),
        }
    }
}

/// Microseconds since the Unix epoch: the store's representation of times.
pub fn micros(time: OffsetDateTime) -> i64 {
    i64::try_from(time.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

/// The position of a status or urgency in its order, lowest first.
pub fn rank<T: PartialEq + Copy>(all: &[T], value: T) -> usize {
    all.iter().position(|candidate| *candidate == value).unwrap_or(0)
}

impl Default for Query {
    fn default() -> Self {
        Query::everything()
    }
}

impl Query {
    /// Every ticket.
    pub fn everything() -> Query {
        Query::All(Vec::new())
    }

    pub fn is_everything(&self) -> bool {
        matches!(self, Query::All(parts) if parts.is_empty())
    }

    /// Parses a query; an empty or blank one selects every ticket.
    pub fn parse(text: &str) -> Result<Query, QueryError> {
        parse::parse(text)
    }

    /// Whether the ticket behind `subject` is selected.
    pub fn matches(&self, subject: &Subject<'_>) -> bool {
        match self {
            Query::All(parts) => parts.iter().all(|part| part.matches(subject)),
            Query::Any(parts) => parts.iter().any(|part| part.matches(subject)),
            Query::Not(inner) => !inner.matches(subject),
            Query::Condition(condition) => subject.satisfies(condition),
        }
    }
}

impl fmt::Display for Query {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A compound part of a compound query is parenthesised, so that the
        // printed query parses back to the same tree.
        fn part(query: &Query, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
            match query {
                Query::All(parts) | Query::Any(parts) if !parts.is_empty() => write!(formatter, "({query})"),
                _ => write!(formatter, "{query}"),
            }
        }
        match self {
            Query::All(parts) | Query::Any(parts) => {
                let separator = if matches!(self, Query::All(_)) { " " } else { " OR " };
                for (index, query) in parts.iter().enumerate() {
                    if index > 0 {
                        formatter.write_str(separator)?;
                    }
                    part(query, formatter)?;
                }
                Ok(())
            }
            Query::Not(inner) => {
                formatter.write_str("-")?;
                part(inner, formatter)
            }
            Query::Condition(condition) => write!(formatter, "{condition}"),
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::Has(field) => write!(formatter, "has:{}", field.name()),
            // Words alone are the ticket's text: no need to name the field.
            Condition::Compare { field: Field::Text, op: Op::Eq, value: Value::Text(words) } => {
                write_value(formatter, words)
            }
            Condition::Compare { field, op, value } => {
                write!(formatter, "{}{}", field.name(), op.as_str())?;
                match value {
                    Value::Status(status) => formatter.write_str(status.as_str()),
                    Value::Urgency(urgency) => formatter.write_str(urgency.as_str()),
                    Value::Channel(channel) => formatter.write_str(channel.as_str()),
                    Value::Keyword(text) | Value::Text(text) => write_value(formatter, text),
                    Value::Id(id) => write!(formatter, "{id}"),
                    // `{:?}` keeps 1e300 short; `{}` would write 301 digits.
                    Value::Number(number) => write!(formatter, "{number:?}"),
                    Value::Time(TimeValue::Day(date)) => write!(formatter, "{date}"),
                    Value::Time(TimeValue::Instant(instant)) => {
                        let text =
                            instant.format(&time::format_description::well_known::Rfc3339).map_err(|_| fmt::Error)?;
                        formatter.write_str(&text)
                    }
                    Value::Bool(flag) => write!(formatter, "{flag}"),
                }
            }
        }
    }
}

/// Writes a value bare when it reads back as one value, else quoted.
fn write_value(formatter: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    if parse::is_bare(text) {
        return formatter.write_str(text);
    }
    formatter.write_str("\"")?;
    for character in text.chars() {
        if matches!(character, '"' | '\\') {
            formatter.write_str("\\")?;
        }
        write!(formatter, "{character}")?;
    }
    formatter.write_str("\"")
}

impl serde::Serialize for Query {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Query {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Query::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
