//! The company's equipment registry: `GET|POST /v1/equipment`,
//! `GET|PUT|DELETE /v1/equipment/{id}`. Staff (admins, engineers,
//! technicians) write; a customer reads only the equipment recorded as
//! theirs, and another company's equipment is 404 to everyone. Photos:
//! [`crate::photos`].

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use switchboard_core::{AccountId, Caller, CompanyId, EquipmentId, Role};
use switchboard_store::{Coordinates, EquipmentFields, EquipmentFilter, EquipmentRecord, PhotoSubject};
use switchboard_web::{ApiError, Authenticated, JsonBody, Path, Query};
use time::{Date, OffsetDateTime};

use crate::ApiState;

const TEXT_MAX_CHARS: usize = 200;
const ADDRESS_MAX_CHARS: usize = 500;

/// A place: an address and (optionally) its coordinates in degrees, WGS 84.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Place {
    #[serde(default)]
    address: Option<String>,
    /// -90 to 90; given with `longitude` or not at all.
    #[serde(default)]
    latitude: Option<f64>,
    /// -180 to 180; given with `latitude` or not at all.
    #[serde(default)]
    longitude: Option<f64>,
}

impl Place {
    /// A known point, with its address if any.
    pub(crate) fn at(address: Option<String>, point: Coordinates) -> Place {
        Place { address, latitude: Some(point.latitude), longitude: Some(point.longitude) }
    }

    pub(crate) fn view(address: Option<String>, coordinates: Option<Coordinates>) -> Option<Place> {
        if address.is_none() && coordinates.is_none() {
            return None;
        }
        Some(Place {
            address,
            latitude: coordinates.map(|point| point.latitude),
            longitude: coordinates.map(|point| point.longitude),
        })
    }

    /// The address and coordinates, checked; `field` names the place in
    /// errors (`site`, `home_base`).
    pub(crate) fn fields(
        place: Option<Place>,
        field: &'static str,
    ) -> Result<(Option<String>, Option<Coordinates>), ApiError> {
        let Some(place) = place else {
            return Ok((None, None));
        };
        let address = text(&format!("{field}.address"), place.address, ADDRESS_MAX_CHARS)?;
        let coordinates = match (place.latitude, place.longitude) {
            (None, None) => None,
            (Some(latitude), Some(longitude)) => {
                if !(-90.0..=90.0).contains(&latitude) {
                    return Err(ApiError::invalid_body(
                        format!("{field}.latitude"),
                        format!("`{field}.latitude` must be between -90 and 90 degrees"),
                    ));
                }
                if !(-180.0..=180.0).contains(&longitude) {
                    return Err(ApiError::invalid_body(
                        format!("{field}.longitude"),
                        format!("`{field}.longitude` must be between -180 and 180 degrees"),
                    ));
                }
                Some(Coordinates { latitude, longitude })
            }
            (None, Some(_)) => {
                return Err(ApiError::invalid_body(
                    format!("{field}.latitude"),
                    format!("`{field}.latitude` is required with `{field}.longitude`"),
                ));
            }
            (Some(_), None) => {
                return Err(ApiError::invalid_body(
                    format!("{field}.longitude"),
                    format!("`{field}.longitude` is required with `{field}.latitude`"),
                ));
            }
        };
        Ok((address, coordinates))
    }
}

/// Trimmed text without control characters; empty counts as absent.
fn text(field: &str, value: Option<String>, max_chars: usize) -> Result<Option<String>, ApiError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) if text.chars().count() > max_chars || text.chars().any(char::is_control) => {
            Err(ApiError::invalid_body(
                field,
                format!("`{field}` must be at most {max_chars} characters, without control characters"),
            ))
        }
        Some(text) => Ok(Some(text.to_owned())),
    }
}

fn required(field: &'static str, value: Option<String>) -> Result<String, ApiError> {
    text(field, value, TEXT_MAX_CHARS)?.ok_or_else(|| ApiError::invalid_body(field, format!("`{field}` is required")))
}

const DATE_FORMAT: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// A calendar date, `YYYY-MM-DD`.
pub(crate) fn parse_date(text: &str) -> Option<Date> {
    Date::parse(text, DATE_FORMAT).ok()
}

fn format_date(date: Date) -> String {
    date.format(DATE_FORMAT).unwrap_or_default()
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct EquipmentView {
    id: EquipmentId,
    company: CompanyId,
    /// The customer account that owns it.
    customer: Option<AccountId>,
    model: String,
    serial: String,
    manufacturer: Option<String>,
    /// The installation site.
    site: Option<Place>,
    /// `YYYY-MM-DD`.
    installed_on: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

impl From<EquipmentRecord> for EquipmentView {
    fn from(equipment: EquipmentRecord) -> Self {
        Self {
            id: equipment.id,
            company: equipment.company,
            customer: equipment.customer,
            model: equipment.model,
            serial: equipment.serial,
            manufacturer: equipment.manufacturer,
            site: Place::view(equipment.site_address, equipment.site_coordinates),
            installed_on: equipment.installed_on.map(format_date),
            created_at: equipment.created_at,
            updated_at: equipment.updated_at,
        }
    }
}

/// A whole piece of equipment: `model` and `serial` are required, what else
/// is left out is unset.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EquipmentInput {
    model: Option<String>,
    serial: Option<String>,
    #[serde(default)]
    manufacturer: Option<String>,
    /// A customer account of the company.
    #[serde(default)]
    customer: Option<String>,
    #[serde(default)]
    site: Option<Place>,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    installed_on: Option<String>,
}

impl EquipmentInput {
    async fn fields(self, state: &ApiState, caller: &Caller) -> Result<EquipmentFields, ApiError> {
        let model = required("model", self.model)?;
        let serial = required("serial", self.serial)?;
        let manufacturer = text("manufacturer", self.manufacturer, TEXT_MAX_CHARS)?;
        let (site_address, site_coordinates) = Place::fields(self.site, "site")?;
        let installed_on =
            match self.installed_on.as_deref().map(str::trim).filter(|text| !text.is_empty()) {
                None => None,
                Some(text) => Some(parse_date(text).ok_or_else(|| {
                    ApiError::invalid_body("installed_on", "`installed_on` must be a date, YYYY-MM-DD")
                })?),
            };
        let customer = match self.customer.as_deref().map(str::trim).filter(|text| !text.is_empty()) {
            None => None,
            Some(text) => Some(customer_account(state, caller, text).await?),
        };
        Ok(EquipmentFields { customer, model, serial, manufacturer, site_address, site_coordinates, installed_on })
    }
}

/// A customer account of the caller's company, or 422 naming `customer`.
async fn customer_account(state: &ApiState, caller: &Caller, text: &str) -> Result<AccountId, ApiError> {
    let not_a_customer =
        || ApiError::invalid_body("customer", "`customer` must be the id of a customer account of the company");
    let id: AccountId = text.parse().map_err(|_| not_a_customer())?;
    let account = state.store.account(&caller.scope(), id).await?.ok_or_else(not_a_customer)?;
    if account.role != Role::Customer || account.company != caller.company || account.deleted_at.is_some() {
        return Err(not_a_customer());
    }
    Ok(id)
}

fn equipment_id(text: &str) -> Result<EquipmentId, ApiError> {
    text.parse().map_err(|_| ApiError::NotFound { what: "equipment" })
}

/// What a customer may see: only what is recorded as theirs.
pub(crate) fn visible(caller: &Caller, equipment: &EquipmentRecord) -> bool {
    !caller.is_customer() || (caller.account().is_some() && equipment.customer == caller.account())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListParameters {
    /// Exactly this model.
    model: Option<String>,
    /// Exactly this serial.
    serial: Option<String>,
    /// A customer account's id (staff; a customer always sees their own).
    customer: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct EquipmentList {
    items: Vec<EquipmentView>,
}

pub(crate) async fn list_equipment(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Query(parameters): Query<ListParameters>,
) -> Result<Json<EquipmentList>, ApiError> {
    let nonempty = |value: Option<String>| value.map(|text| text.trim().to_owned()).filter(|text| !text.is_empty());
    let named_customer = match nonempty(parameters.customer) {
        None => None,
        Some(text) => Some(
            text.parse::<AccountId>()
                .map_err(|_| ApiError::invalid_parameter("customer", "`customer` must be an account id"))?,
        ),
    };
    // A customer's listing is their own, whichever customer they name.
    let customer = if caller.is_customer() {
        Some(
            caller
                .account()
                .ok_or_else(|| ApiError::Forbidden { message: "customers list their own equipment".into() })?,
        )
    } else {
        named_customer
    };
    let filter = EquipmentFilter { model: nonempty(parameters.model), serial: nonempty(parameters.serial), customer };
    let equipment = state.store.list_equipment(&caller.company, &filter).await?;
    Ok(Json(EquipmentList { items: equipment.into_iter().map(EquipmentView::from).collect() }))
}

pub(crate) async fn create_equipment(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    JsonBody(input): JsonBody<EquipmentInput>,
) -> Result<Response, ApiError> {
    let fields = input.fields(&state, &caller).await?;
    let equipment = state.store.create_equipment(&caller.company, &fields).await?;
    Ok((StatusCode::CREATED, Json(EquipmentView::from(equipment))).into_response())
}

pub(crate) async fn get_equipment(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<EquipmentView>, ApiError> {
    let equipment = state.store.equipment(&caller.company, equipment_id(&id)?).await?;
    let equipment = equipment.filter(|equipment| visible(&caller, equipment));
    Ok(Json(equipment.ok_or(ApiError::NotFound { what: "equipment" })?.into()))
}

pub(crate) async fn put_equipment(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<EquipmentInput>,
) -> Result<Json<EquipmentView>, ApiError> {
    let id = equipment_id(&id)?;
    // Another company's id is 404 before its body is looked at.
    if state.store.equipment(&caller.company, id).await?.is_none() {
        return Err(ApiError::NotFound { what: "equipment" });
    }
    let fields = input.fields(&state, &caller).await?;
    let equipment = state.store.update_equipment(&caller.company, id, &fields).await?;
    Ok(Json(equipment.ok_or(ApiError::NotFound { what: "equipment" })?.into()))
}

pub(crate) async fn delete_equipment(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = equipment_id(&id)?;
    let subject = PhotoSubject::Equipment(id);
    let photos = state.store.photos(&caller.company, subject).await?;
    if !state.store.delete_equipment(&caller.company, id).await? {
        return Err(ApiError::NotFound { what: "equipment" });
    }
    let ids: Vec<_> = photos.iter().map(|photo| photo.id).collect();
    crate::photos::forget_bytes(&state, &caller, subject, &ids).await;
    Ok(StatusCode::NO_CONTENT)
}
