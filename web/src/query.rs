//! Query strings: one extractor and one error shape for every route.
//!
//! [`Query<T>`] reads the query string into `T`, whose fields are strings
//! (numbers and flags are parsed by the handler with [`parse_number`] and
//! [`parse_bool`], so every mistake names its parameter). Unknown
//! parameters and a parameter given twice are refused: a misspelt filter
//! must not silently widen a list. So is a value with a control character
//! no store can compare (NUL and the other C0 controls but tab, newline and
//! carriage return).

use std::ops::RangeInclusive;
use std::str::FromStr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use switchboard_core::http::{BodyError, from_json_value};

use crate::error::ApiError;

/// The query string parsed into `T` (see the module documentation); errors
/// are 400 `invalid_parameter` naming the parameter.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or_default()).map(Query)
    }
}

fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
        .map_err(|error| ApiError::invalid_parameter("query", format!("cannot parse the query string: {error}")))?;
    let mut object = serde_json::Map::new();
    for (name, value) in pairs {
        if object.contains_key(&name) {
            return Err(ApiError::invalid_parameter(name.clone(), format!("`{name}` is given more than once")));
        }
        if let Some(character) = switchboard_core::text::forbidden_control(&value) {
            let message = format!("`{name}` holds the control character U+{:04X}", u32::from(character));
            return Err(ApiError::invalid_parameter(name, message));
        }
        object.insert(name, serde_json::Value::String(value));
    }
    from_json_value(serde_json::Value::Object(object)).map_err(|error| match error {
        BodyError::Invalid { field, message } => {
            let field = if field.is_empty() { "query".to_owned() } else { field };
            ApiError::invalid_parameter(field, format!("query parameter: {message}"))
        }
        BodyError::Malformed(message) => ApiError::invalid_parameter("query", message),
    })
}

/// An optional number parameter in `range`; empty counts as absent.
pub fn parse_number<N>(field: &str, text: Option<&str>, range: RangeInclusive<N>) -> Result<Option<N>, ApiError>
where
    N: FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let Some(text) = text.filter(|text| !text.is_empty()) else {
        return Ok(None);
    };
    match text.parse::<N>() {
        Ok(number) if range.contains(&number) => Ok(Some(number)),
        _ => Err(ApiError::invalid_parameter(
            field,
            format!("`{field}` must be a whole number from {} to {}", range.start(), range.end()),
        )),
    }
}

/// An optional `true`/`false` parameter; empty counts as absent.
pub fn parse_bool(field: &str, text: Option<&str>) -> Result<Option<bool>, ApiError> {
    match text {
        None | Some("") => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(ApiError::invalid_parameter(field, format!("`{field}` is `true` or `false`"))),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Parameters {
        limit: Option<String>,
        q: Option<String>,
    }

    fn field_of(error: ApiError) -> String {
        match error {
            ApiError::InvalidParameter { field, .. } => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parameters_parse_and_mistakes_name_the_parameter() {
        let parsed: Parameters = parse_query("q=paper%20jam&limit=5").expect("valid");
        assert_eq!((parsed.q.as_deref(), parsed.limit.as_deref()), (Some("paper jam"), Some("5")));
        assert_eq!(field_of(parse_query::<Parameters>("limt=5").expect_err("unknown")), "limt");
        assert_eq!(field_of(parse_query::<Parameters>("q=a&q=b").expect_err("twice")), "q");
        assert_eq!(parse_number("limit", Some("5"), 1_u32..=500).expect("in range"), Some(5));
        assert_eq!(field_of(parse_number("limit", Some("0"), 1_u32..=500).expect_err("range")), "limit");
        assert_eq!(field_of(parse_number("limit", Some("x"), 1_u32..=500).expect_err("nan")), "limit");
        assert_eq!(parse_number::<u32>("limit", Some(""), 1..=500).expect("empty"), None);
        assert_eq!(field_of(parse_bool("needs_triage", Some("yes")).expect_err("bool")), "needs_triage");
        assert_eq!(field_of(parse_query::<Parameters>("q=a%00b").expect_err("NUL")), "q");
        assert_eq!(field_of(parse_query::<Parameters>("q=%1B%5B0m").expect_err("escape")), "q");
        let tabbed: Parameters = parse_query("q=a%09b").expect("a tab is text");
        assert_eq!(tabbed.q.as_deref(), Some("a\tb"));
    }
}
