//! The dispatch assistant over HTTP (admins, who assign tickets):
//!
//! - `GET|PUT /v1/accounts/{id}/field-profile`: an engineer's or
//!   technician's skills (equipment models and ticket categories) and home
//!   base;
//! - `GET /v1/tickets/{id}/dispatch-options[?latitude=&longitude=]`: the
//!   company's engineers, technicians and vehicles ranked for the ticket by
//!   travel time to its equipment's site (the registry's coordinates for
//!   the ticket's serial, or the ones given), skills and load, each
//!   estimate naming its source (`switchboard_dispatch`).

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use switchboard_core::{AccountId, Caller, Role, Ticket, VehicleId};
use switchboard_dispatch::{Coordinates, DispatchOptions, Job, Person, Vehicle};
use switchboard_store::{Coordinates as StoredCoordinates, FieldProfile, TicketTravel};
use switchboard_web::{ApiError, Authenticated, JsonBody, Path, Query};

use crate::ApiState;
use crate::equipment::Place;
use crate::tickets::visible_ticket;

/// At most this many skills, each at most [`SKILL_MAX_CHARS`].
const SKILLS_MAX: usize = 100;
const SKILL_MAX_CHARS: usize = 200;

/// An engineer's or technician's field profile.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FieldProfileView {
    /// Equipment models and ticket categories they repair (compared without
    /// regard to case).
    #[serde(default)]
    skills: Vec<String>,
    /// Where their day starts, and travel is counted from.
    #[serde(default)]
    home_base: Option<Place>,
}

impl FieldProfileView {
    fn of(profile: FieldProfile) -> Self {
        Self { skills: profile.skills, home_base: Place::view(profile.home_base_address, profile.home_base) }
    }

    fn fields(self) -> Result<FieldProfile, ApiError> {
        if self.skills.len() > SKILLS_MAX {
            return Err(ApiError::invalid_body("skills", format!("`skills` lists at most {SKILLS_MAX} entries")));
        }
        let mut skills: Vec<String> = Vec::with_capacity(self.skills.len());
        for skill in self.skills {
            let skill = skill.trim();
            if skill.is_empty() || skill.chars().count() > SKILL_MAX_CHARS || skill.chars().any(char::is_control) {
                return Err(ApiError::invalid_body(
                    "skills",
                    format!("each of `skills` must be 1 to {SKILL_MAX_CHARS} characters, without control characters"),
                ));
            }
            if !skills.iter().any(|known| known.eq_ignore_ascii_case(skill)) {
                skills.push(skill.to_owned());
            }
        }
        let (home_base_address, home_base) = Place::fields(self.home_base, "home_base")?;
        Ok(FieldProfile { skills, home_base_address, home_base })
    }
}

/// The company's live engineer or technician `id` names; anything else is 404.
async fn field_worker(state: &ApiState, caller: &Caller, id: &str) -> Result<AccountId, ApiError> {
    let not_found = || ApiError::NotFound { what: "engineer or technician" };
    let id: AccountId = id.trim().parse().map_err(|_| not_found())?;
    let account = state.store.account(&caller.scope(), id).await?.ok_or_else(not_found)?;
    if account.deleted_at.is_some() || !matches!(account.role, Role::Engineer | Role::Technician) {
        return Err(not_found());
    }
    Ok(id)
}

pub(crate) async fn get_field_profile(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<FieldProfileView>, ApiError> {
    let account = field_worker(&state, &caller, &id).await?;
    let profile = state
        .store
        .field_profile(&caller.company, account)
        .await?
        .ok_or(ApiError::NotFound { what: "engineer or technician" })?;
    Ok(Json(FieldProfileView::of(profile)))
}

pub(crate) async fn put_field_profile(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<FieldProfileView>,
) -> Result<Json<FieldProfileView>, ApiError> {
    let account = field_worker(&state, &caller, &id).await?;
    let profile = input.fields()?;
    if !state.store.set_field_profile(&caller.company, account, &profile).await? {
        return Err(ApiError::NotFound { what: "engineer or technician" });
    }
    Ok(Json(FieldProfileView::of(profile)))
}

/// Where to count travel to, when not the registered equipment's site.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct SiteParameters {
    /// The site's latitude in degrees (with `longitude`), instead of the
    /// registered site of the ticket's equipment.
    #[param(value_type = Option<f64>)]
    latitude: Option<String>,
    #[param(value_type = Option<f64>)]
    longitude: Option<String>,
}

/// The ticket's options, and the site they were counted to.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct DispatchView {
    /// Where travel is counted to.
    site: Place,
    #[serde(flatten)]
    options: DispatchOptions,
}

pub(crate) async fn get_dispatch_options(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    Query(parameters): Query<SiteParameters>,
) -> Result<Json<DispatchView>, ApiError> {
    let ticket = visible_ticket(&state, &caller, &id).await?;
    let (address, site) = match given_site(&parameters)? {
        Some(point) => (None, point),
        None => registered_site(&state, &ticket).await?.ok_or(ApiError::Refused {
            code: "no_site",
            message: "the ticket names no registered equipment with site coordinates: register its serial \
                      with a site (POST /v1/equipment), or pass latitude and longitude"
                .into(),
        })?,
    };
    let job = Job {
        site: geo(site),
        equipment_model: ticket.equipment.as_ref().map(|equipment| equipment.model.clone()),
        equipment_category: ticket.category.clone(),
    };
    let people = state
        .store
        .dispatch_people(&caller.company)
        .await?
        .into_iter()
        .map(|person| Person {
            id: person.id.to_string(),
            name: person.name,
            role: match person.role {
                Role::Technician => switchboard_dispatch::Role::Technician,
                _ => switchboard_dispatch::Role::Engineer,
            },
            skills: person.profile.skills,
            open_assignments: person.open_assignments,
            current_site: person.current_site.map(geo),
            home_base: person.profile.home_base.map(geo),
            available: true,
        })
        .collect();
    let vehicles = state
        .store
        .list_vehicles(&caller.company)
        .await?
        .into_iter()
        .map(|vehicle| Vehicle {
            id: vehicle.id.to_string(),
            name: vehicle.name,
            location: vehicle.home_base.map(geo),
            available: vehicle.available,
        })
        .collect();
    let options = switchboard_dispatch::dispatch_options(&state.travel, &job, people, vehicles)
        .await
        .map_err(|error| ApiError::InvalidParameter { field: "latitude".into(), message: error.to_string() })?;
    Ok(Json(DispatchView { site: Place::at(address, site), options }))
}

/// The registered site (address and coordinates) of the ticket's
/// equipment, when its serial is registered with coordinates.
async fn registered_site(
    state: &ApiState,
    ticket: &Ticket,
) -> Result<Option<(Option<String>, StoredCoordinates)>, switchboard_store::Error> {
    let Some(serial) = ticket.equipment.as_ref().and_then(|equipment| equipment.serial.as_deref()) else {
        return Ok(None);
    };
    let unit = state.store.equipment_by_serial(&ticket.company, serial).await?;
    Ok(unit.and_then(|unit| unit.site_coordinates.map(|point| (unit.site_address, point))))
}

/// Estimates the travel of the ticket's new assignment, from the vehicle's
/// home base (else the assignee's) to its equipment's registered site, and
/// records it for the report; forgets an earlier estimate when either end
/// is unknown. The assignment has happened whatever this does: a failure is
/// logged, not answered.
pub(crate) async fn record_assignment_travel(
    state: &ApiState,
    ticket: &Ticket,
    assignee: AccountId,
    vehicle: Option<VehicleId>,
) {
    let estimate = async {
        let Some((_, site)) = registered_site(state, ticket).await? else { return Ok(None) };
        let vehicle_base = match vehicle {
            Some(vehicle) => state.store.vehicle(&ticket.company, vehicle).await?.and_then(|vehicle| vehicle.home_base),
            None => None,
        };
        let origin = match vehicle_base {
            Some(base) => Some(base),
            None => state.store.field_profile(&ticket.company, assignee).await?.and_then(|profile| profile.home_base),
        };
        let Some(origin) = origin else { return Ok(None) };
        let estimate = state.travel.estimate(geo(site), &[geo(origin)]).await.pop();
        Ok::<_, switchboard_store::Error>(estimate.map(|estimate| TicketTravel {
            distance_m: estimate.distance_m,
            duration_s: estimate.duration_s,
            source: estimate.source.as_str().to_owned(),
        }))
    };
    let recorded = match estimate.await {
        Ok(travel) => state.store.set_ticket_travel(&ticket.company, ticket.id, travel.as_ref()).await,
        Err(error) => Err(error),
    };
    if let Err(error) = recorded {
        tracing::warn!(ticket_id = %ticket.id, error = %switchboard_core::error::describe_chain(&error), "cannot record the assignment's travel estimate");
    }
}

/// The store's point as the dispatch crate takes it.
fn geo(point: StoredCoordinates) -> Coordinates {
    Coordinates { lat: point.latitude, lon: point.longitude }
}

/// The site given in the query, checked.
fn given_site(parameters: &SiteParameters) -> Result<Option<StoredCoordinates>, ApiError> {
    let invalid =
        |field: &str, message: &str| ApiError::InvalidParameter { field: field.into(), message: message.into() };
    let number = |field: &str, text: &Option<String>| -> Result<Option<f64>, ApiError> {
        text.as_deref()
            .map(|text| {
                text.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|value| value.is_finite())
                    .ok_or_else(|| invalid(field, &format!("`{field}` must be a number of degrees")))
            })
            .transpose()
    };
    match (number("latitude", &parameters.latitude)?, number("longitude", &parameters.longitude)?) {
        (None, None) => Ok(None),
        (Some(latitude), Some(longitude)) => {
            if !(-90.0..=90.0).contains(&latitude) {
                return Err(invalid("latitude", "`latitude` must be between -90 and 90 degrees"));
            }
            if !(-180.0..=180.0).contains(&longitude) {
                return Err(invalid("longitude", "`longitude` must be between -180 and 180 degrees"));
            }
            Ok(Some(StoredCoordinates { latitude, longitude }))
        }
        (None, Some(_)) => Err(invalid("latitude", "`latitude` is required with `longitude`")),
        (Some(_), None) => Err(invalid("longitude", "`longitude` is required with `latitude`")),
    }
}
