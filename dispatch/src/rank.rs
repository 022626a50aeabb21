//! Who and what to send: people and vehicles ranked for one site.
//!
//! The rule, for people:
//!
//! 1. available before unavailable;
//! 2. within each, those with a known location before those without (who
//!    get no estimate and no score);
//! 3. then by score, lowest first, in minutes:
//!    `travel minutes + skill penalty + 20 × open assignments`, where the
//!    skill penalty is 0 for a skill naming the equipment's model, 30 for
//!    one naming its category and 120 for neither;
//! 4. then by id, so equal candidates keep a stable order.
//!
//! Vehicles: available first, known location first, then travel time,
//! distance and id. Every option carries its reasons in words.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::estimator::TravelEstimator;
use crate::geo::{Coordinates, CoordinatesError};
use crate::provider::{Source, TravelEstimate};

/// Minutes added for a skill that names the equipment's category only.
pub const CATEGORY_MATCH_PENALTY_MIN: f64 = 30.0;
/// Minutes added for no matching skill.
pub const NO_MATCH_PENALTY_MIN: f64 = 120.0;
/// Minutes added per open assignment.
pub const LOAD_PENALTY_MIN: f64 = 20.0;

/// What needs someone: where, and the equipment there.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = DispatchJob)]
pub struct Job {
    pub site: Coordinates,
    pub equipment_model: Option<String>,
    pub equipment_category: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = FieldRole)]
pub enum Role {
    Engineer,
    Technician,
}

/// Where a person's travel is counted from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = TravelOrigin)]
pub enum Origin {
    CurrentSite,
    HomeBase,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = DispatchPerson)]
pub struct Person {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// Equipment models and categories this person services.
    pub skills: Vec<String>,
    /// Assignments not yet resolved.
    pub open_assignments: u32,
    /// Where they are working now; preferred over `home_base`.
    pub current_site: Option<Coordinates>,
    pub home_base: Option<Coordinates>,
    pub available: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = DispatchVehicle)]
pub struct Vehicle {
    pub id: String,
    pub name: String,
    pub location: Option<Coordinates>,
    pub available: bool,
}

/// How a person's skills meet the equipment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SkillMatch {
    Model,
    Category,
    None,
}

impl SkillMatch {
    fn penalty_min(self) -> f64 {
        match self {
            SkillMatch::Model => 0.0,
            SkillMatch::Category => CATEGORY_MATCH_PENALTY_MIN,
            SkillMatch::None => NO_MATCH_PENALTY_MIN,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PersonOption {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub available: bool,
    pub skill_match: SkillMatch,
    pub open_assignments: u32,
    /// Where `travel` is counted from; absent without a known location.
    pub origin: Option<Origin>,
    pub travel: Option<TravelEstimate>,
    /// Lower is better (module docs); absent without an estimate.
    pub score: Option<f64>,
    pub reasons: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VehicleOption {
    pub id: String,
    pub name: String,
    pub available: bool,
    pub travel: Option<TravelEstimate>,
    pub reasons: Vec<String>,
}

/// The answer of `GET /v1/tickets/{id}/dispatch-options`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DispatchOptions {
    /// The configured travel provider (an estimate's own `source` says
    /// whether it was used or the offline fallback was).
    pub provider: Source,
    pub people: Vec<PersonOption>,
    pub vehicles: Vec<VehicleOption>,
}

/// Estimates travel for everyone with a location (in one batch) and ranks.
/// Fails only when the site's coordinates are invalid; a candidate's invalid
/// location is treated as none ("no known location").
pub async fn dispatch_options(
    estimator: &TravelEstimator,
    job: &Job,
    people: Vec<Person>,
    vehicles: Vec<Vehicle>,
) -> Result<DispatchOptions, CoordinatesError> {
    job.site.validate()?;
    let person_origins: Vec<Option<(Origin, Coordinates)>> = people
        .iter()
        .map(|person| {
            let located = match (person.current_site, person.home_base) {
                (Some(site), _) => Some((Origin::CurrentSite, site)),
                (None, Some(base)) => Some((Origin::HomeBase, base)),
                (None, None) => None,
            };
            located.filter(|(_, point)| point.validate().is_ok())
        })
        .collect();
    let vehicle_origins: Vec<Option<Coordinates>> =
        vehicles.iter().map(|vehicle| vehicle.location.filter(|point| point.validate().is_ok())).collect();
    let batch: Vec<Coordinates> = person_origins
        .iter()
        .map(|origin| origin.map(|(_, point)| point))
        .chain(vehicle_origins.iter().copied())
        .flatten()
        .collect();
    // The estimates come back in the batch's order: people, then vehicles,
    // each only where it has a location.
    let mut estimates = estimator.estimate(job.site, &batch).await.into_iter();
    let people = people
        .into_iter()
        .zip(person_origins)
        .map(|(person, origin)| {
            let travel = origin.and_then(|(from, _)| estimates.next().map(|estimate| (from, estimate)));
            (person, travel)
        })
        .collect();
    let vehicles = vehicles
        .into_iter()
        .zip(vehicle_origins)
        .map(|(vehicle, origin)| {
            let travel = origin.and_then(|_| estimates.next());
            (vehicle, travel)
        })
        .collect();
    Ok(DispatchOptions {
        provider: estimator.source(),
        people: rank_people(job, people),
        vehicles: rank_vehicles(vehicles),
    })
}

/// Ranks people by the module's rule, given each one's travel estimate and
/// where it was counted from (`None`: no usable location).
pub fn rank_people(job: &Job, people: Vec<(Person, Option<(Origin, TravelEstimate)>)>) -> Vec<PersonOption> {
    let mut options: Vec<PersonOption> = people
        .into_iter()
        .map(|(person, travel)| {
            let skill_match = skill_match(job, &person.skills);
            let mut reasons = Vec::new();
            if !person.available {
                reasons.push("unavailable".to_owned());
            }
            reasons.push(match skill_match {
                SkillMatch::Model => format!("skill: model {}", job.equipment_model.as_deref().unwrap_or_default()),
                SkillMatch::Category => {
                    format!("skill: category {}", job.equipment_category.as_deref().unwrap_or_default())
                }
                SkillMatch::None => "no matching skill".to_owned(),
            });
            reasons.push(match person.open_assignments {
                0 => "no open assignments".to_owned(),
                1 => "1 open assignment".to_owned(),
                count => format!("{count} open assignments"),
            });
            let score = travel.as_ref().map(|(_, estimate)| {
                let minutes = f64::from(estimate.duration_s) / 60.0
                    + skill_match.penalty_min()
                    + LOAD_PENALTY_MIN * f64::from(person.open_assignments);
                (minutes * 10.0).round() / 10.0
            });
            match &travel {
                Some((origin, estimate)) => {
                    let from = match origin {
                        Origin::CurrentSite => "current site",
                        Origin::HomeBase => "home base",
                    };
                    reasons.push(format!("travel from {from}: {}", estimate.summary()));
                }
                None => reasons.push("no known location".to_owned()),
            }
            let (origin, travel) = travel.map_or((None, None), |(origin, estimate)| (Some(origin), Some(estimate)));
            PersonOption {
                id: person.id,
                name: person.name,
                role: person.role,
                available: person.available,
                skill_match,
                open_assignments: person.open_assignments,
                origin,
                travel,
                score,
                reasons,
            }
        })
        .collect();
    options.sort_by(|a, b| {
        b.available
            .cmp(&a.available)
            .then(a.score.is_none().cmp(&b.score.is_none()))
            .then(a.score.partial_cmp(&b.score).unwrap_or(Ordering::Equal))
            .then_with(|| a.id.cmp(&b.id))
    });
    options
}

/// Ranks vehicles: available first, known location first, then travel
/// time, distance and id.
pub fn rank_vehicles(vehicles: Vec<(Vehicle, Option<TravelEstimate>)>) -> Vec<VehicleOption> {
    let mut options: Vec<VehicleOption> = vehicles
        .into_iter()
        .map(|(vehicle, travel)| {
            let mut reasons = Vec::new();
            if !vehicle.available {
                reasons.push("unavailable".to_owned());
            }
            reasons.push(match &travel {
                Some(estimate) => format!("travel: {}", estimate.summary()),
                None => "no known location".to_owned(),
            });
            VehicleOption { id: vehicle.id, name: vehicle.name, available: vehicle.available, travel, reasons }
        })
        .collect();
    let travel_key =
        |option: &VehicleOption| option.travel.as_ref().map(|travel| (travel.duration_s, travel.distance_m));
    options.sort_by(|a, b| {
        b.available
            .cmp(&a.available)
            .then(a.travel.is_none().cmp(&b.travel.is_none()))
            .then(travel_key(a).cmp(&travel_key(b)))
            .then_with(|| a.id.cmp(&b.id))
    });
    options
}

/// The best skill match: a skill equal to the model, else to the category
/// (trimmed, case-insensitive).
pub fn skill_match(job: &Job, skills: &[String]) -> SkillMatch {
    let names = |wanted: Option<&str>| {
        let wanted = wanted.map(str::trim).filter(|wanted| !wanted.is_empty());
        wanted.is_some_and(|wanted| skills.iter().any(|skill| skill.trim().eq_ignore_ascii_case(wanted)))
    };
    if names(job.equipment_model.as_deref()) {
        SkillMatch::Model
    } else if names(job.equipment_category.as_deref()) {
        SkillMatch::Category
    } else {
        SkillMatch::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> Job {
        Job {
            site: Coordinates { lat: 52.52, lon: 13.405 },
            equipment_model: Some("X300".into()),
            equipment_category: Some("HVAC".into()),
        }
    }

    fn person(id: &str, skills: &[&str], open_assignments: u32, available: bool) -> Person {
        Person {
            id: id.into(),
            name: format!("Person {id}"),
            role: Role::Technician,
            skills: skills.iter().map(|skill| (*skill).to_owned()).collect(),
            open_assignments,
            current_site: None,
            home_base: None,
            available,
        }
    }

    fn minutes(duration_min: u32) -> Option<(Origin, TravelEstimate)> {
        let estimate = TravelEstimate {
            distance_m: duration_min * 800,
            duration_s: duration_min * 60,
            source: Source::Osrm,
            fallback: None,
        };
        Some((Origin::HomeBase, estimate))
    }

    fn ids<T>(options: &[T], id: impl Fn(&T) -> &str) -> Vec<String> {
        options.iter().map(|option| id(option).to_owned()).collect()
    }

    #[test]
    fn skills_match_model_before_category_ignoring_case_and_spaces() {
        let skills = |list: &[&str]| list.iter().map(|skill| (*skill).to_owned()).collect::<Vec<_>>();
        assert_eq!(skill_match(&job(), &skills(&["hvac", " x300 "])), SkillMatch::Model);
        assert_eq!(skill_match(&job(), &skills(&["Hvac"])), SkillMatch::Category);
        assert_eq!(skill_match(&job(), &skills(&["plumbing"])), SkillMatch::None);
        let no_equipment = Job { equipment_model: None, equipment_category: Some(" ".into()), ..job() };
        assert_eq!(skill_match(&no_equipment, &skills(&["", " "])), SkillMatch::None);
    }

    #[test]
    fn score_combines_travel_skill_and_load() {
        let ranked = rank_people(
            &job(),
            vec![
                // 40 min + 0 (model) + 0 = 40
                (person("model-far", &["X300"], 0, true), minutes(40)),
                // 10 min + 30 (category) + 20 × 1 = 60
                (person("category-near-busy", &["hvac"], 1, true), minutes(10)),
                // 5 min + 120 (none) = 125
                (person("unskilled-next-door", &["plumbing"], 0, true), minutes(5)),
                // 10 min + 30 + 0 = 40, ties with model-far: by id
                (person("category-near", &["HVAC"], 0, true), minutes(10)),
            ],
        );
        assert_eq!(
            ids(&ranked, |option| &option.id),
            ["category-near", "model-far", "category-near-busy", "unskilled-next-door"]
        );
        let scores: Vec<Option<f64>> = ranked.iter().map(|option| option.score).collect();
        assert_eq!(scores, [Some(40.0), Some(40.0), Some(60.0), Some(125.0)]);
        assert_eq!(
            ranked[2].reasons,
            ["skill: category HVAC", "1 open assignment", "travel from home base: 8.0 km, 10 min (osrm)"]
        );
    }

    #[test]
    fn available_first_then_located_then_unlocated() {
        let ranked = rank_people(
            &job(),
            vec![
                (person("away-near", &["X300"], 0, false), minutes(1)),
                (person("free-nowhere", &["X300"], 0, true), None),
                (person("free-far", &["plumbing"], 9, true), minutes(300)),
                (person("away-nowhere", &[], 0, false), None),
            ],
        );
        assert_eq!(ids(&ranked, |option| &option.id), ["free-far", "free-nowhere", "away-near", "away-nowhere"]);
        let nowhere = &ranked[1];
        assert_eq!((nowhere.travel.as_ref(), nowhere.score, nowhere.origin), (None, None, None));
        assert_eq!(nowhere.reasons, ["skill: model X300", "no open assignments", "no known location"]);
        assert_eq!(ranked[2].reasons[0], "unavailable");
    }

    #[test]
    fn vehicles_by_availability_then_travel_time() {
        let vehicle =
            |id: &str, available: bool| Vehicle { id: id.into(), name: format!("Van {id}"), location: None, available };
        let travel = |duration_s: u32| {
            Some(TravelEstimate {
                distance_m: 1_000,
                duration_s,
                source: Source::Offline,
                fallback: Some("osrm timed out after 2000 ms".into()),
            })
        };
        let ranked = rank_vehicles(vec![
            (vehicle("slow", true), travel(900)),
            (vehicle("parked", false), travel(60)),
            (vehicle("unknown", true), None),
            (vehicle("quick", true), travel(300)),
        ]);
        assert_eq!(ids(&ranked, |option| &option.id), ["quick", "slow", "unknown", "parked"]);
        assert_eq!(ranked[0].reasons, ["travel: 1.0 km, 5 min (offline: osrm timed out after 2000 ms)"]);
        assert_eq!(ranked[3].reasons, ["unavailable", "travel: 1.0 km, 1 min (offline: osrm timed out after 2000 ms)"]);
    }

    #[tokio::test]
    async fn dispatch_options_prefers_the_current_site_and_ignores_invalid_locations() {
        let estimator = TravelEstimator::offline_only(crate::Offline::default());
        let near = Coordinates { lat: 52.53, lon: 13.40 };
        let far = Coordinates { lat: 52.40, lon: 13.10 };
        let moved = Person { current_site: Some(near), home_base: Some(far), ..person("moved", &["X300"], 0, true) };
        let home = Person { home_base: Some(far), ..person("home", &["X300"], 0, true) };
        let broken =
            Person { home_base: Some(Coordinates { lat: f64::NAN, lon: 0.0 }), ..person("broken", &[], 0, true) };
        let van = Vehicle { id: "van".into(), name: "Van".into(), location: Some(near), available: true };
        let options =
            dispatch_options(&estimator, &job(), vec![broken, home, moved], vec![van]).await.expect("valid site");
        assert_eq!(options.provider, Source::Offline);
        assert_eq!(ids(&options.people, |option| &option.id), ["moved", "home", "broken"]);
        assert_eq!(options.people[0].origin, Some(Origin::CurrentSite));
        assert_eq!(options.people[0].travel, Some(crate::Offline::default().estimate_one(&near, &job().site)));
        assert_eq!(options.people[1].travel, Some(crate::Offline::default().estimate_one(&far, &job().site)));
        assert_eq!(options.people[2].travel, None);
        assert_eq!(options.vehicles[0].travel, Some(crate::Offline::default().estimate_one(&near, &job().site)));

        let bad_site = Job { site: Coordinates { lat: 95.0, lon: 0.0 }, ..job() };
        let error = dispatch_options(&estimator, &bad_site, vec![], vec![]).await.expect_err("invalid site");
        assert_eq!(error.to_string(), "lat must be between -90 and 90, got 95");
    }
}
