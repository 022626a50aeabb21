//! Statistics for the manufacturer: `GET /v1/stats/equipment?model=&from=&to=`
//! (admins and engineers), one model of the caller's company, as JSON or,
//! with `Accept: text/csv`, as the flat table of
//! [`switchboard_store::EquipmentStats::to_csv`]. What each figure means is
//! documented in `switchboard_store::stats`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use switchboard_core::ticket::ValidationError;
use switchboard_store::StatsQuery;
use switchboard_web::{ApiError, Authenticated, Query};
use time::Date;

use crate::ApiState;
use crate::equipment::parse_date;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatsParameters {
    /// The equipment model (exact).
    model: Option<String>,
    /// First day, `YYYY-MM-DD` (UTC), included; open without.
    from: Option<String>,
    /// Last day, `YYYY-MM-DD` (UTC), included; open without.
    to: Option<String>,
}

fn date(field: &'static str, text: Option<&str>) -> Result<Option<Date>, ApiError> {
    match text.map(str::trim).filter(|text| !text.is_empty()) {
        None => Ok(None),
        Some(text) => parse_date(text).map(Some).ok_or_else(|| {
            ValidationError::new("invalid_date", field, format!("`{field}` must be a date, YYYY-MM-DD")).into()
        }),
    }
}

/// Whether the client asked for CSV rather than JSON.
fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|media| media.split(';').next().is_some_and(|media| media.trim().eq_ignore_ascii_case("text/csv")))
}

pub(crate) async fn equipment_stats(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Query(parameters): Query<StatsParameters>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let model = parameters.model.as_deref().map(str::trim).filter(|model| !model.is_empty());
    let model = model.ok_or_else(|| ValidationError::new("missing", "model", "`model` is required"))?;
    let (from, to) = (date("from", parameters.from.as_deref())?, date("to", parameters.to.as_deref())?);
    if from.zip(to).is_some_and(|(from, to)| from > to) {
        return Err(ValidationError::new("invalid_date", "to", "`to` must not be before `from`").into());
    }
    let stats = state.store.equipment_stats(&caller.company, &StatsQuery::for_dates(model, from, to)).await?;
    if wants_csv(&headers) {
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], stats.to_csv()).into_response());
    }
    Ok(Json(stats).into_response())
}
