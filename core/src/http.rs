//! What every Switchboard HTTP endpoint shares, independent of the web
//! framework: the JSON error body
//! `{"error": {"code": "...", "message": "...", "field": "..."}}`, the
//! parsing of JSON request bodies into precise errors, and references to
//! the schemas the OpenAPI document collects.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;

/// Schemas collected for the OpenAPI document's components, by name.
pub type Schemas = Vec<(String, RefOr<Schema>)>;

/// A reference to `T`'s schema among the components; `referenced` gets it
/// and the schemas it refers to.
pub fn reference_to<T: ToSchema>(referenced: &mut Schemas) -> RefOr<Schema> {
    T::schemas(referenced);
    referenced.push((T::name().into_owned(), T::schema()));
    RefOr::Ref(utoipa::openapi::Ref::from_schema_name(T::name()))
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `missing_field`, `not_found`, …
    pub code: String,
    /// For people; may change between versions.
    pub message: String,
    /// The request field at fault, as a dotted path, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For a refused filter query (`invalid_query`): where in the field's
    /// text the error is, in characters from 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<usize>,
    /// For a refused filter query: what would have been understood there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
}

impl ErrorBody {
    pub fn new(code: impl Into<String>, message: impl Into<String>, field: Option<String>) -> Self {
        Self {
            error: ErrorDetail { code: code.into(), message: message.into(), field, position: None, expected: None },
        }
    }
}

/// Why a JSON request body was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Not JSON at all (HTTP 400).
    #[error("the request body is not valid JSON: {0}")]
    Malformed(String),
    /// JSON of the wrong shape (HTTP 422); `field` is a dotted path, empty
    /// for the body as a whole.
    #[error("{message}")]
    Invalid { field: String, message: String },
}

/// True for `application/json` and `application/*+json`, with any parameters.
pub fn is_json_media_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses a body that must be a JSON object. (serde would also fill a struct
/// from an array, by position; request bodies are objects with named fields.)
pub fn parse_json_object(bytes: &[u8]) -> Result<serde_json::Value, BodyError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|error| BodyError::Malformed(error.to_string()))?;
    if !value.is_object() {
        return Err(BodyError::Invalid { field: String::new(), message: "expected a JSON object".into() });
    }
    Ok(value)
}

/// Converts parsed JSON into `T`, naming the offending field on failure.
pub fn from_json_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, BodyError> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let field = if path == "." { String::new() } else { path };
        let message = error.into_inner().to_string();
        // serde's data errors may end in " at line L column C", which means
        // little to a client that sent a field of the wrong type.
        let message = match message.rfind(" at line ") {
            Some(index) => message[..index].to_owned(),
            None => message,
        };
        BodyError::Invalid { field, message }
    })
}

/// [`parse_json_object`] then [`from_json_value`].
pub fn parse_json_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, BodyError> {
    from_json_value(parse_json_object(bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Example {
        name: String,
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        count: u32,
    }

    #[test]
    fn body_errors_name_the_field() {
        assert!(matches!(parse_json_body::<Example>(b"{"), Err(BodyError::Malformed(_))));
        assert!(matches!(parse_json_body::<Example>(b"[]"), Err(BodyError::Invalid { field, .. }) if field.is_empty()));
        match parse_json_body::<Example>(br#"{"name": "x", "inner": {"count": "many"}}"#) {
            Err(BodyError::Invalid { field, message }) => {
                assert_eq!(field, "inner.count");
                assert!(!message.contains(" at line "), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert!(parse_json_body::<Example>(br#"{"name": "x"}"#).is_ok());
        for (body, expected) in
            [(&br#"{"nmae": "x"}"#[..], "nmae"), (br#"{"name": "x", "inner": {"cuont": 1}}"#, "inner.cuont")]
        {
            match parse_json_body::<Example>(body) {
                Err(BodyError::Invalid { field, .. }) => assert_eq!(field, expected),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn json_media_types() {
        assert!(is_json_media_type("application/json; charset=utf-8"));
        assert!(is_json_media_type("application/problem+json"));
        assert!(!is_json_media_type("text/json"));
        assert!(!is_json_media_type(""));
    }
}
