//! `GET /v1/kb/search`: the knowledge base, queried directly.

use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use switchboard_core::events::Suggestion;
use switchboard_kb::{DocKind, SearchFilter};

use crate::ApiState;
use crate::error::ApiError;

const MAX_RESULTS: usize = 50;
const MAX_QUERY_CHARS: usize = 8 * 1024;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct SearchParameters {
    q: Option<String>,
    k: Option<usize>,
    kind: Option<String>,
    company: Option<String>,
    equipment_model: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct SearchResults {
    items: Vec<Suggestion>,
}

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::InvalidParameter { field: field.into(), message: message.into() }
}

pub(crate) async fn search(
    State(state): State<ApiState>,
    parameters: Result<Query<SearchParameters>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<SearchResults>, ApiError> {
    let Query(parameters) = parameters.map_err(|rejection| invalid("query", rejection.body_text()))?;
    let query = parameters.q.filter(|q| !q.trim().is_empty()).ok_or_else(|| invalid("q", "`q` is required"))?;
    if query.chars().count() > MAX_QUERY_CHARS {
        return Err(invalid("q", format!("`q` must be at most {MAX_QUERY_CHARS} characters")));
    }
    let k = parameters.k.unwrap_or(5);
    if !(1..=MAX_RESULTS).contains(&k) {
        return Err(invalid("k", format!("`k` must be from 1 to {MAX_RESULTS}")));
    }
    let kind = match parameters.kind.as_deref() {
        None | Some("") => None,
        Some(text) => Some(DocKind::parse(text).ok_or_else(|| invalid("kind", "`kind` is `faq` or `past_solution`"))?),
    };
    let filter = SearchFilter {
        kind,
        company: parameters.company.filter(|c| !c.is_empty()),
        equipment_model: parameters.equipment_model.filter(|m| !m.is_empty()),
        ..SearchFilter::default()
    };
    let knowledge_base = state
        .knowledge_base
        .clone()
        .ok_or_else(|| ApiError::Unavailable("this process holds no knowledge-base index".into()))?;
    let matches = tokio::task::spawn_blocking(move || knowledge_base.search(&query, k, &filter))
        .await
        .map_err(|error| ApiError::Internal(Box::new(error)))?
        .map_err(|error| {
            if error.is_transient() {
                ApiError::Unavailable(error.to_string())
            } else {
                ApiError::Internal(Box::new(error))
            }
        })?;
    Ok(Json(SearchResults { items: matches.iter().map(switchboard_kb::stage::suggestion).collect() }))
}
