//! The dispatch assistant over HTTP: field profiles, and the ticket's
//! engineers, technicians and vehicles ranked by travel to its equipment's
//! site; the offline estimate standing in for a provider that fails, and
//! saying so; on SQLite and on PostgreSQL.

mod common;

use common::{App, spawn_app_with, status_and_json};
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_core::config::{ProviderKind, Secret};

/// The equipment's site (Munich) and where three technicians start their
/// day, farther and farther from it.
const SITE: (f64, f64) = (48.137, 11.575);
const AUGSBURG: (f64, f64) = (48.3705, 10.8978);
const INGOLSTADT: (f64, f64) = (48.7665, 11.4258);
const NUREMBERG: (f64, f64) = (49.4521, 11.0767);

/// Great-circle metres, computed here independently of the product.
fn great_circle_m((lat1, lon1): (f64, f64), (lat2, lon2): (f64, f64)) -> f64 {
    let (phi1, phi2) = (lat1.to_radians(), lat2.to_radians());
    let (dphi, dlambda) = ((lat2 - lat1).to_radians(), (lon2 - lon1).to_radians());
    let a = (dphi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (dlambda / 2.0).sin().powi(2);
    2.0 * 6_371_008.8 * a.sqrt().asin()
}

async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    status_and_json(request.send().await.expect("send")).await
}

fn place((latitude, longitude): (f64, f64)) -> Value {
    json!({"latitude": latitude, "longitude": longitude})
}

/// Three technicians with the boiler's model as a skill, at `AUGSBURG`,
/// `NUREMBERG` and `INGOLSTADT` (created in that order), a vehicle at each
/// end, the boiler registered at `SITE`, and a ticket naming it: the
/// ticket's id and the technicians' ids by city.
async fn dispatch_scene(app: &App) -> (String, [String; 3]) {
    let mut ids = Vec::new();
    for (name, home) in [("augsburg", AUGSBURG), ("nuremberg", NUREMBERG), ("ingolstadt", INGOLSTADT)] {
        let (_, id) = app.account("technician", name).await;
        let profile = json!({"skills": ["ecoTEC plus"], "home_base": place(home)});
        let url = app.url(&format!("/v1/accounts/{id}/field-profile"));
        let (status, body) = send(app.client.put(&url).json(&profile)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        ids.push(id);
    }
    for (name, home) in [("Van far", NUREMBERG), ("Van near", AUGSBURG)] {
        let vehicle = json!({"name": name, "plate": name, "kind": "van", "home_base": place(home)});
        let (status, body) = send(app.client.post(app.url("/v1/vehicles")).json(&vehicle)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let unit = json!({"model": "ecoTEC plus", "serial": "VT-1", "site": {"address": "Marienplatz 1", "latitude": SITE.0, "longitude": SITE.1}});
    let (status, body) = send(app.client.post(app.url("/v1/equipment")).json(&unit)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let ticket = json!({"title": "No heat", "description": "Cold since Monday.",
                        "requester": {"email": "cora@example.com"}, "equipment": {"serial": "VT-1"}});
    let id = common::post_ticket(app, &ticket).await;
    common::wait_for_ok(&app.client, &app.url(&format!("/v1/tickets/{id}"))).await;
    (id, ids.try_into().expect("three"))
}

async fn ranked_by_travel(app: App) {
    let (ticket, [augsburg, nuremberg, ingolstadt]) = dispatch_scene(&app).await;
    let url = app.url(&format!("/v1/tickets/{ticket}/dispatch-options"));
    let (status, options) = send(app.client.get(&url)).await;
    assert_eq!(status, StatusCode::OK, "{options}");
    assert_eq!(options["site"], json!({"address": "Marienplatz 1", "latitude": SITE.0, "longitude": SITE.1}));
    assert_eq!(options["provider"], json!("offline"));
    let people = options["people"].as_array().expect("people");
    let order: Vec<&str> = people.iter().map(|person| person["id"].as_str().expect("id")).collect();
    assert_eq!(order, [augsburg.as_str(), ingolstadt.as_str(), nuremberg.as_str()], "{options}");
    // Each distance is the great circle × the default road factor 1.3.
    for (person, home) in people.iter().zip([AUGSBURG, INGOLSTADT, NUREMBERG]) {
        let expected = great_circle_m(home, SITE) * 1.3;
        let distance = person["travel"]["distance_m"].as_f64().expect("distance");
        assert!((distance - expected).abs() <= expected * 0.001 + 1.0, "{distance} vs {expected}: {person}");
        assert_eq!(person["travel"]["source"], json!("offline"));
        assert!(person["travel"].get("fallback").is_none(), "{person}");
        assert_eq!(person["skill_match"], json!("model"));
    }
    let vehicles: Vec<&str> = options["vehicles"]
        .as_array()
        .expect("vehicles")
        .iter()
        .map(|vehicle| vehicle["name"].as_str().expect("name"))
        .collect();
    assert_eq!(vehicles, ["Van near", "Van far"]);

    // Load counts: an open assignment adds 20 minutes to the score.
    let score_before = options["people"][0]["score"].as_f64().expect("score");
    let assign = json!({"assignee": augsburg});
    let (status, body) = send(app.client.put(app.url(&format!("/v1/tickets/{ticket}/assignment"))).json(&assign)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, options) = send(app.client.get(&url)).await;
    let first = &options["people"][0];
    assert_eq!((&first["id"], &first["open_assignments"]), (&json!(augsburg), &json!(1)), "{options}");
    let score_after = first["score"].as_f64().expect("score");
    assert!((score_after - score_before - 20.0).abs() < 0.2, "{score_before} → {score_after}");

    // A ticket without registered equipment needs the site in the query.
    let plain =
        json!({"title": "Question", "description": "Where is my invoice?", "requester": {"email": "a@example.com"}});
    let other = common::post_ticket(&app, &plain).await;
    common::wait_for_ok(&app.client, &app.url(&format!("/v1/tickets/{other}"))).await;
    let other_url = app.url(&format!("/v1/tickets/{other}/dispatch-options"));
    let (status, body) = send(app.client.get(&other_url)).await;
    assert_eq!((status, &body["error"]["code"]), (StatusCode::CONFLICT, &json!("no_site")), "{body}");
    let (status, body) =
        send(app.client.get(format!("{other_url}?latitude={}&longitude={}", NUREMBERG.0, NUREMBERG.1))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["people"][0]["id"], json!(nuremberg), "{body}");
    for (query, field) in [
        ("latitude=91&longitude=0", "latitude"),
        ("latitude=10", "longitude"),
        ("longitude=-181&latitude=0", "longitude"),
    ] {
        let (status, body) = send(app.client.get(format!("{other_url}?{query}"))).await;
        assert_eq!((status, &body["error"]["field"]), (StatusCode::BAD_REQUEST, &json!(field)), "{query}: {body}");
    }

    // Profiles: precise errors, people of the company only, admins only.
    let profile_url = app.url(&format!("/v1/accounts/{augsburg}/field-profile"));
    let (status, profile) = send(app.client.get(&profile_url)).await;
    assert_eq!(status, StatusCode::OK);
    let home_base = json!({"address": null, "latitude": AUGSBURG.0, "longitude": AUGSBURG.1});
    assert_eq!(profile, json!({"skills": ["ecoTEC plus"], "home_base": home_base}));
    for (body, field) in [
        (json!({"home_base": {"latitude": 100.0, "longitude": 1.0}}), "home_base.latitude"),
        (json!({"skills": [""]}), "skills"),
        (json!({"skills": ["x".repeat(201)]}), "skills"),
        (json!({"skils": []}), "skils"),
    ] {
        let (status, error) = send(app.client.put(&profile_url).json(&body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {error}");
        assert!(error["error"]["field"].as_str().is_some_and(|named| named.starts_with(field)), "{body}: {error}");
    }
    let (customer, customer_id) = app.account("customer", "cora").await;
    let customer_profile = app.url(&format!("/v1/accounts/{customer_id}/field-profile"));
    assert_eq!(send(app.client.get(&customer_profile)).await.0, StatusCode::NOT_FOUND);
    assert_eq!(send(customer.get(&url)).await.0, StatusCode::FORBIDDEN);
    let other_admin = common::client_with_token(&common::bootstrap_company(&app.config, &app.url(""), "globex").await);
    assert_eq!(send(other_admin.get(&url)).await.0, StatusCode::NOT_FOUND);
    assert_eq!(send(other_admin.get(&profile_url)).await.0, StatusCode::NOT_FOUND);
    app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_and_vehicles_are_ranked_by_travel_to_the_site_on_sqlite() {
    ranked_by_travel(spawn_app_with(|_| {}).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_and_vehicles_are_ranked_by_travel_to_the_site_on_postgresql() {
    let Some(database) = switchboard_store::testing::fresh_postgres_database().await else { return };
    ranked_by_travel(spawn_app_with(|config| config.store.url = Some(Secret::new(database))).await).await;
}

/// A routing engine that cannot be reached: every estimate is the offline
/// one, and says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_fails_falls_back_to_the_offline_estimate_and_says_so() {
    // Nothing listens on the discard port: the connection is refused.
    let app = spawn_app_with(|config| {
        config.dispatch.travel.provider = ProviderKind::Osrm;
        config.dispatch.travel.osrm.url = Some("http://127.0.0.1:9".into());
    })
    .await;
    let (ticket, [augsburg, _, _]) = dispatch_scene(&app).await;
    let (status, options) = send(app.client.get(app.url(&format!("/v1/tickets/{ticket}/dispatch-options")))).await;
    assert_eq!(status, StatusCode::OK, "{options}");
    assert_eq!(options["provider"], json!("osrm"));
    let first = &options["people"][0];
    assert_eq!(first["id"], json!(augsburg), "{options}");
    assert_eq!(first["travel"]["source"], json!("offline"), "{options}");
    let reason = first["travel"]["fallback"].as_str().expect("a fallback reason");
    assert!(reason.contains("osrm"), "{reason}");
    let expected = great_circle_m(AUGSBURG, SITE) * 1.3;
    let distance = first["travel"]["distance_m"].as_f64().expect("distance");
    assert!((distance - expected).abs() <= expected * 0.001 + 1.0, "{distance} vs {expected}");
    app.running.stop().await.expect("clean stop");
}

/// The chosen option's travel goes into the report: assigned with a
/// vehicle, the estimate runs from the vehicle's home base; reassigned
/// without one, from the assignee's; figures the assignee writes win. A
/// technician at work on a unit is counted from its site.
async fn travel_goes_into_the_report(app: App) {
    let (ticket, _) = dispatch_scene(&app).await;
    let (munich, munich_id) = app.account("technician", "munich").await;
    let profile = json!({"skills": [], "home_base": place(INGOLSTADT)});
    let url = app.url(&format!("/v1/accounts/{munich_id}/field-profile"));
    assert_eq!(send(app.client.put(&url).json(&profile)).await.0, StatusCode::OK);
    let (_, options) = send(app.client.get(app.url(&format!("/v1/tickets/{ticket}/dispatch-options")))).await;
    let van = options["vehicles"]
        .as_array()
        .expect("vehicles")
        .iter()
        .find(|vehicle| vehicle["name"] == json!("Van far"))
        .expect("the van at Nuremberg")
        .clone();

    let ticket_url = app.url(&format!("/v1/tickets/{ticket}"));
    let assign = json!({"assignee": munich_id, "vehicle": van["id"]});
    let (status, body) = send(app.client.put(format!("{ticket_url}/assignment")).json(&assign)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = send(munich.put(format!("{ticket_url}/status")).json(&json!({"status": "in_progress"}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // At work on the unit, the technician's current site is the unit's.
    let (_, options) = send(app.client.get(format!("{ticket_url}/dispatch-options"))).await;
    let here = options["people"]
        .as_array()
        .expect("people")
        .iter()
        .find(|person| person["id"] == json!(munich_id))
        .expect("the technician")
        .clone();
    assert_eq!(here["origin"], json!("current_site"), "{here}");
    assert_eq!(here["travel"]["distance_m"], json!(0), "{here}");
    let report = json!({"malfunction": "Pump seized", "solution": "Replaced the pump"});
    let (status, saved) = send(munich.put(format!("{ticket_url}/report")).json(&report)).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let expected_m = van["travel"]["distance_m"].as_u64().expect("distance");
    let expected_minutes = van["travel"]["duration_s"].as_u64().expect("duration").div_ceil(60);
    assert_eq!(
        (&saved["travel_distance_m"], &saved["travel_minutes"], &saved["travel_source"]),
        (&json!(expected_m), &json!(expected_minutes), &json!("offline")),
        "{saved}"
    );
    let expected = great_circle_m(NUREMBERG, SITE) * 1.3;
    assert!((expected_m as f64 - expected).abs() <= expected * 0.001 + 1.0, "{expected_m} vs {expected}");

    // Reassigned without a vehicle: from the assignee's home base.
    let (status, body) =
        send(app.client.put(format!("{ticket_url}/assignment")).json(&json!({"assignee": munich_id}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, saved) = send(munich.put(format!("{ticket_url}/report")).json(&report)).await;
    let distance = saved["travel_distance_m"].as_f64().expect("distance");
    let expected = great_circle_m(INGOLSTADT, SITE) * 1.3;
    assert!((distance - expected).abs() <= expected * 0.001 + 1.0, "{distance} vs {expected}: {saved}");

    // The assignee's own figures win, and name no estimator.
    let written = json!({"malfunction": "Pump seized", "solution": "Replaced the pump", "travel_minutes": 95});
    let (status, saved) = send(munich.put(format!("{ticket_url}/report")).json(&written)).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["travel_minutes"], json!(95));
    assert!(saved.get("travel_distance_m").is_none() && saved.get("travel_source").is_none(), "{saved}");
    let (_, read) = send(munich.get(format!("{ticket_url}/report"))).await;
    assert_eq!(read["travel_minutes"], json!(95), "{read}");
    let too_far = json!({"malfunction": "x", "solution": "y", "travel_distance_m": 30_000_000});
    let (status, body) = send(munich.put(format!("{ticket_url}/report")).json(&too_far)).await;
    assert_eq!((status, &body["error"]["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("travel_distance_m")));
    app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_assignment_travel_goes_into_the_report_on_sqlite() {
    travel_goes_into_the_report(spawn_app_with(|_| {}).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_assignment_travel_goes_into_the_report_on_postgresql() {
    let Some(database) = switchboard_store::testing::fresh_postgres_database().await else { return };
    travel_goes_into_the_report(spawn_app_with(|config| config.store.url = Some(Secret::new(database))).await).await;
}
