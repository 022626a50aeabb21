//! `GET /v1/kb/search`: the knowledge base, queried directly.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use switchboard_core::CompanyId;
use switchboard_core::events::{Suggestion, SuggestionKind};
use switchboard_core::kb::SearchRequest;
use switchboard_web::{ApiError, Query, Tenant, parse_number};

use crate::ApiState;

const MAX_RESULTS: usize = 50;
const MAX_QUERY_CHARS: usize = 8 * 1024;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchParameters {
    q: Option<String>,
    k: Option<String>,
    kind: Option<String>,
    company: Option<String>,
    equipment_model: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct SearchResults {
    items: Vec<Suggestion>,
}

pub(crate) async fn search(
    State(state): State<ApiState>,
    Tenant(scope): Tenant,
    Query(parameters): Query<SearchParameters>,
) -> Result<Json<SearchResults>, ApiError> {
    let text = parameters
        .q
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| ApiError::invalid_parameter("q", "`q` is required"))?;
    if switchboard_core::text::forbidden_control(&text).is_some() {
        return Err(ApiError::invalid_parameter("q", "`q` contains a control character"));
    }
    if text.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError::invalid_parameter("q", format!("`q` must be at most {MAX_QUERY_CHARS} characters")));
    }
    let k = parse_number("k", parameters.k.as_deref(), 1..=MAX_RESULTS)?.unwrap_or(5);
    let kind = match parameters.kind.as_deref() {
        None | Some("") => None,
        Some("faq") => Some(SuggestionKind::Faq),
        Some("past_solution") => Some(SuggestionKind::PastSolution),
        Some(_) => return Err(ApiError::invalid_parameter("kind", "`kind` is `faq` or `past_solution`")),
    };
    // `company` narrows what the caller may see; it never widens it.
    let company = parameters
        .company
        .filter(|company| !company.is_empty())
        .map(|company| {
            CompanyId::parse(&company).map_err(|error| ApiError::invalid_parameter("company", error.message))
        })
        .transpose()?;
    let request = SearchRequest {
        text,
        k,
        kind,
        scope: scope.narrowed_to(company),
        equipment_model: parameters.equipment_model.filter(|m| !m.is_empty()),
    };
    let knowledge_base = state
        .knowledge_base
        .clone()
        .ok_or_else(|| ApiError::unavailable("this process holds no knowledge-base index"))?;
    let items = tokio::task::spawn_blocking(move || knowledge_base.search(&request))
        .await
        .map_err(ApiError::internal)?
        .map_err(|failure| {
            if failure.transient { ApiError::unavailable(failure.message) } else { ApiError::internal(failure) }
        })?;
    Ok(Json(SearchResults { items }))
}
