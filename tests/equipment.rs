//! The equipment registry over HTTP (staff write, customers read their own,
//! other companies see nothing, precise errors), tickets naming their unit
//! by serial, and the manufacturer's statistics as JSON, CSV and from the
//! CLI; on SQLite and on PostgreSQL.

mod common;

use common::{App, spawn_app_with, status_and_json};
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_core::config::Secret;

async fn post(client: &reqwest::Client, url: &str, body: Value) -> (StatusCode, Value) {
    status_and_json(client.post(url).json(&body).send().await.expect("send")).await
}

async fn get(client: &reqwest::Client, url: &str) -> (StatusCode, Value) {
    status_and_json(client.get(url).send().await.expect("send")).await
}

fn serials(list: &Value) -> Vec<&str> {
    list["items"].as_array().expect("items").iter().map(|item| item["serial"].as_str().expect("serial")).collect()
}

async fn the_registry_over_http(app: App) {
    let (customer, customer_id) = app.account("customer", "cora").await;
    let (other_customer, _) = app.account("customer", "otto").await;
    let (technician, _) = app.account("technician", "tess").await;
    let other_admin = common::client_with_token(&common::bootstrap_company(&app.config, &app.url(""), "globex").await);
    let url = app.url("/v1/equipment");

    let boiler = json!({
        "model": "ecoTEC plus", "serial": "VT-1001", "manufacturer": "Vaillant", "customer": customer_id,
        "site": {"address": "1 Main St, Springfield", "latitude": 48.137, "longitude": 11.575},
        "installed_on": "2024-03-01",
    });
    let (status, created) = post(&technician, &url, boiler.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        (&created["model"], &created["customer"], &created["site"], &created["installed_on"]),
        (
            &json!("ecoTEC plus"),
            &json!(customer_id),
            &json!({"address": "1 Main St, Springfield", "latitude": 48.137, "longitude": 11.575}),
            &json!("2024-03-01")
        )
    );
    let boiler_id = created["id"].as_str().expect("id").to_owned();
    let (status, _) = post(&app.client, &url, json!({"model": "Pump 9", "serial": "P-9"})).await;
    assert_eq!(status, StatusCode::CREATED);

    // Staff list and filter; a customer sees only their own, whatever they ask.
    assert_eq!(serials(&get(&app.client, &url).await.1), ["VT-1001", "P-9"]);
    assert_eq!(serials(&get(&app.client, &format!("{url}?model=Pump%209")).await.1), ["P-9"]);
    assert_eq!(serials(&get(&app.client, &format!("{url}?customer={customer_id}")).await.1), ["VT-1001"]);
    assert_eq!(serials(&get(&customer, &url).await.1), ["VT-1001"]);
    assert_eq!(serials(&get(&other_customer, &url).await.1), Vec::<&str>::new());
    assert_eq!(get(&customer, &app.url(&format!("/v1/equipment/{boiler_id}"))).await.0, StatusCode::OK);
    assert_eq!(get(&other_customer, &app.url(&format!("/v1/equipment/{boiler_id}"))).await.0, StatusCode::NOT_FOUND);
    // Another company neither sees nor changes it.
    assert_eq!(serials(&get(&other_admin, &url).await.1), Vec::<&str>::new());
    let (status, body) = get(&other_admin, &app.url(&format!("/v1/equipment/{boiler_id}"))).await;
    assert_eq!((status, &body["error"]["code"]), (StatusCode::NOT_FOUND, &json!("not_found")));
    let put = other_admin.put(app.url(&format!("/v1/equipment/{boiler_id}"))).json(&boiler).send();
    assert_eq!(put.await.expect("send").status(), StatusCode::NOT_FOUND);
    // Customers do not write.
    assert_eq!(post(&customer, &url, json!({"model": "X", "serial": "X-1"})).await.0, StatusCode::FORBIDDEN);

    // Bad input is 422 naming the field; a serial the company has is 409.
    for (body, field) in [
        (json!({"model": "X", "serial": "X-2", "site": {"latitude": 91.0, "longitude": 0.0}}), "site.latitude"),
        (json!({"model": "X", "serial": "X-2", "site": {"latitude": 10.0, "longitude": -180.5}}), "site.longitude"),
        (json!({"model": "X", "serial": "X-2", "site": {"latitude": 10.0}}), "site.longitude"),
        (json!({"model": "X", "serial": "X-2", "installed_on": "2024-02-30"}), "installed_on"),
        (json!({"model": "X"}), "serial"),
        (json!({"model": "X", "serial": "X-2", "customer": "not-an-id"}), "customer"),
        (json!({"model": "X", "serial": "X-2", "site": {"latitude": "north", "longitude": 1.0}}), "site.latitude"),
    ] {
        let (status, error) = post(&app.client, &url, body.clone()).await;
        assert_eq!((status, &error["error"]["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!(field)), "{body}");
    }
    let (status, error) = post(&app.client, &url, json!({"model": "Other", "serial": "VT-1001"})).await;
    assert_eq!((status, &error["error"]["code"]), (StatusCode::CONFLICT, &json!("serial_taken")));
    // The same serial in another company is another unit.
    assert_eq!(post(&other_admin, &url, json!({"model": "Other", "serial": "VT-1001"})).await.0, StatusCode::CREATED);

    // A ticket naming a registered serial gets the registry's model, in
    // JSON intake whatever model it sent; an unknown serial needs a model.
    let ticket = |equipment: Value| {
        json!({"title": "No heat", "description": "Cold since Monday.",
               "requester": {"email": "cora@example.com"}, "equipment": equipment})
    };
    let id = common::post_ticket(&app, &ticket(json!({"serial": "VT-1001"}))).await;
    let stored = common::wait_for_ok(&app.client, &app.url(&format!("/v1/tickets/{id}"))).await;
    assert_eq!(stored["equipment"], json!({"model": "ecoTEC plus", "serial": "VT-1001"}));
    let id = common::post_ticket(&app, &ticket(json!({"model": "guessed", "serial": "VT-1001"}))).await;
    let stored = common::wait_for_ok(&app.client, &app.url(&format!("/v1/tickets/{id}"))).await;
    assert_eq!(stored["equipment"]["model"], json!("ecoTEC plus"));
    let (status, error) = post(&app.client, &app.url("/v1/tickets"), ticket(json!({"serial": "NOPE-1"}))).await;
    assert_eq!((status, &error["error"]["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("equipment.model")));

    // Delete: gone for its company, 404 for another.
    let delete = |client: &reqwest::Client| client.delete(app.url(&format!("/v1/equipment/{boiler_id}"))).send();
    assert_eq!(delete(&other_admin).await.expect("send").status(), StatusCode::NOT_FOUND);
    assert_eq!(delete(&technician).await.expect("send").status(), StatusCode::NO_CONTENT);
    assert_eq!(get(&app.client, &app.url(&format!("/v1/equipment/{boiler_id}"))).await.0, StatusCode::NOT_FOUND);

    // Vehicles keep a home base.
    let (status, van) = post(
        &app.client,
        &app.url("/v1/vehicles"),
        json!({"name": "Van 1", "home_base": {"address": "Depot", "latitude": 1.5, "longitude": 2.5}}),
    )
    .await;
    assert_eq!(
        (status, &van["home_base"]),
        (StatusCode::CREATED, &json!({"address": "Depot", "latitude": 1.5, "longitude": 2.5}))
    );
    let (status, error) = post(
        &app.client,
        &app.url("/v1/vehicles"),
        json!({"name": "Van 2", "home_base": {"latitude": -91.0, "longitude": 0.0}}),
    )
    .await;
    assert_eq!((status, &error["error"]["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("home_base.latitude")));
    app.running.stop().await.expect("clean stop");
}

/// Runs the `switchboard` binary against `app`'s store: (success, stdout,
/// stderr).
async fn switchboard_cli(app: &App, args: &[&str]) -> (bool, String, String) {
    let store_url = app.config.store.url.as_ref().map(|url| url.expose().clone()).unwrap_or_else(|| app.store_url());
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("--data-dir")
        .arg(app.data_dir.path())
        .args(args)
        .env("SWITCHBOARD_LOG__FILTER", "warn")
        .env("SWITCHBOARD_STORE__URL", &store_url)
        .output()
        .await
        .expect("run switchboard");
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    (output.status.success(), text(output.stdout), text(output.stderr))
}

async fn statistics_over_http_and_cli(app: App) {
    let store_url = app.config.store.url.as_ref().map(|url| url.expose().clone()).unwrap_or_else(|| app.store_url());
    let (engineer, _) = app.account("engineer", "eve").await;
    let (technician, _) = app.account("technician", "ted").await;
    let seed = ["stats", "seed", "--company", "acme", "--models", "3", "--units", "30", "--tickets", "600"];
    let (ok, out, err) = switchboard_cli(&app, &seed).await;
    assert!(ok && out.starts_with("wrote 30 units and 600 tickets of 3 models to acme"), "{out}{err}");
    let url = app.url("/v1/stats/equipment?model=Model%2001&from=2025-01-01&to=2026-12-31");
    let (status, stats) = get(&engineer, &url).await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    let store = switchboard_store::Store::connect(&store_url, 1).await.expect("store");
    let acme = switchboard_core::CompanyId::parse("acme").expect("id");
    let query = switchboard_store::StatsQuery::for_dates(
        "Model 01",
        Some(time::macros::date!(2025 - 01 - 01)),
        Some(time::macros::date!(2026 - 12 - 31)),
    );
    let expected = store.equipment_stats(&acme, &query).await.expect("stats");
    assert!(expected.tickets > 0);
    assert_eq!(stats, serde_json::to_value(&expected).expect("JSON"));

    let response = engineer.get(&url).header("accept", "text/csv").send().await.expect("send");
    assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(response.text().await.expect("text"), expected.to_csv());
    assert!(expected.to_csv().contains(&format!("summary,tickets,,{}\r\n", expected.tickets)));

    // The CLI prints the same figures.
    let range = ["--model", "Model 01", "--from", "2025-01-01", "--to", "2026-12-31", "--company", "acme"];
    let (ok, json_out, err) =
        switchboard_cli(&app, &[&["stats", "equipment", "--format", "json"][..], &range].concat()).await;
    assert!(ok, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&json_out).expect("JSON"), stats);
    let (ok, csv_out, err) =
        switchboard_cli(&app, &[&["stats", "equipment", "--format", "csv"][..], &range].concat()).await;
    assert!(ok, "{err}");
    assert_eq!(csv_out, expected.to_csv());
    let (ok, table, err) = switchboard_cli(&app, &[&["stats", "equipment"][..], &range].concat()).await;
    assert!(ok && table.contains(&format!("  tickets                    {}\n", expected.tickets)), "{table}{err}");
    let (ok, _, err) = switchboard_cli(&app, &["stats", "equipment", "--model", "M", "--from", "2025-02-30"]).await;
    assert!(!ok && err.contains("not a date"), "{err}");

    assert_eq!(get(&technician, &url).await.0, StatusCode::FORBIDDEN);
    for (query, field) in [
        ("model=Model%2001&from=2025-13-01", "from"),
        ("from=2025-01-01", "model"),
        ("model=M&from=2025-02-01&to=2025-01-01", "to"),
    ] {
        let (status, error) = get(&engineer, &app.url(&format!("/v1/stats/equipment?{query}"))).await;
        assert_eq!((status, &error["error"]["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!(field)), "{query}");
    }
    app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_over_http_on_sqlite() {
    the_registry_over_http(spawn_app_with(|_| {}).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_over_http_on_postgresql() {
    let Some(database) = switchboard_store::testing::fresh_postgres_database().await else { return };
    the_registry_over_http(spawn_app_with(|config| config.store.url = Some(Secret::new(database))).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_over_http_and_cli_on_sqlite() {
    statistics_over_http_and_cli(spawn_app_with(|_| {}).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_over_http_and_cli_on_postgresql() {
    let Some(database) = switchboard_store::testing::fresh_postgres_database().await else { return };
    statistics_over_http_and_cli(spawn_app_with(|config| config.store.url = Some(Secret::new(database))).await).await;
}

/// A 1×1 PNG.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

async fn upload(client: &reqwest::Client, url: &str, content: &[u8], content_type: &str) -> (StatusCode, Value) {
    let request = client.post(url).header("content-type", content_type).body(content.to_vec());
    status_and_json(request.send().await.expect("send")).await
}

/// Files under the attachment store's folder of one company.
fn stored_files(app: &App, company: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut folders = vec![app.config.attachments_dir().join(company)];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            if entry.path().is_dir() { folders.push(entry.path()) } else { found.push(entry.path()) }
        }
    }
    found
}

/// Photos of equipment (staff add them, the owning customer sees them) and
/// of vehicles (admins), in the attachment store: pictures only, within the
/// limits, served inline, gone with their subject.
async fn photos_over_http(app: App) {
    let (customer, customer_id) = app.account("customer", "cora").await;
    let (other_customer, _) = app.account("customer", "otto").await;
    let (technician, _) = app.account("technician", "tess").await;
    let other_admin = common::client_with_token(&common::bootstrap_company(&app.config, &app.url(""), "globex").await);
    let unit = json!({"model": "ecoTEC plus", "serial": "VT-7", "customer": customer_id});
    let (status, created) = post(&app.client, &app.url("/v1/equipment"), unit).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let unit_url = app.url(&format!("/v1/equipment/{}", created["id"].as_str().expect("id")));
    let photos = format!("{unit_url}/photos");

    let (status, photo) = upload(&technician, &format!("{photos}?filename=front%20view.png"), PNG, "image/png").await;
    assert_eq!(status, StatusCode::CREATED, "{photo}");
    assert_eq!((&photo["filename"], &photo["content_type"]), (&json!("front view.png"), &json!("image/png")));
    assert_eq!(photo["size_bytes"], json!(PNG.len()));
    let photo_url = format!("{photos}/{}", photo["id"].as_str().expect("id"));
    // The type comes from the bytes, whatever the header says.
    let (status, _) = upload(&technician, &photos, PNG, "application/octet-stream").await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = upload(&technician, &photos, b"<svg onload=alert(1)>", "image/png").await;
    assert_eq!((status, &body["error"]["code"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("invalid_attachment")));
    let (status, body) = upload(&technician, &photos, b"", "image/png").await;
    assert_eq!((status, &body["error"]["code"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("invalid_attachment")));
    let mut huge = PNG.to_vec();
    huge.resize(2_000, 0);
    let (status, body) = upload(&technician, &photos, &huge, "image/png").await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");

    // The owner reads them; nobody else does, and only staff add them.
    let (status, list) = get(&customer, &photos).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(2), "{list}");
    let served = customer.get(&photo_url).send().await.expect("send");
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(served.headers()["content-type"], "image/png");
    assert_eq!(served.headers()["x-content-type-options"], "nosniff");
    assert!(served.headers()["content-disposition"].to_str().expect("ascii").starts_with("inline"));
    assert_eq!(served.bytes().await.expect("bytes").as_ref(), PNG);
    assert_eq!(upload(&customer, &photos, PNG, "image/png").await.0, StatusCode::FORBIDDEN);
    assert_eq!(get(&other_customer, &photos).await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(&other_customer, &photo_url).await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(&other_admin, &photo_url).await.0, StatusCode::NOT_FOUND);
    assert_eq!(upload(&other_admin, &photos, PNG, "image/png").await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(&app.client, &format!("{photos}/not-an-id")).await.0, StatusCode::NOT_FOUND);

    // At most 20 per unit.
    for _ in 2..20 {
        assert_eq!(upload(&technician, &photos, PNG, "image/png").await.0, StatusCode::CREATED);
    }
    let (status, body) = upload(&technician, &photos, PNG, "image/png").await;
    assert_eq!((status, &body["error"]["code"]), (StatusCode::CONFLICT, &json!("too_many_photos")), "{body}");
    assert_eq!(stored_files(&app, "acme").len(), 20);

    // Vehicles: admins only; a deleted photo is gone, bytes and all.
    let (status, vehicle) = post(&app.client, &app.url("/v1/vehicles"), json!({"name": "Van 1"})).await;
    assert_eq!(status, StatusCode::CREATED, "{vehicle}");
    let vehicle_photos = app.url(&format!("/v1/vehicles/{}/photos", vehicle["id"].as_str().expect("id")));
    let (status, photo) = upload(&app.client, &vehicle_photos, PNG, "image/png").await;
    assert_eq!(status, StatusCode::CREATED, "{photo}");
    assert_eq!(photo["filename"], json!("photo"));
    assert_eq!(upload(&technician, &vehicle_photos, PNG, "image/png").await.0, StatusCode::FORBIDDEN);
    let vehicle_photo = format!("{vehicle_photos}/{}", photo["id"].as_str().expect("id"));
    assert_eq!(app.client.get(&vehicle_photo).send().await.expect("send").status(), StatusCode::OK);
    assert_eq!(app.client.delete(&vehicle_photo).send().await.expect("send").status(), StatusCode::NO_CONTENT);
    assert_eq!(get(&app.client, &vehicle_photo).await.0, StatusCode::NOT_FOUND);
    assert_eq!(stored_files(&app, "acme").len(), 20);

    // Deleting the unit deletes its photos' bytes.
    assert_eq!(app.client.delete(&unit_url).send().await.expect("send").status(), StatusCode::NO_CONTENT);
    assert_eq!(get(&app.client, &photos).await.0, StatusCode::NOT_FOUND);
    assert_eq!(stored_files(&app, "acme"), Vec::<std::path::PathBuf>::new());
    app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photos_over_http_on_sqlite() {
    photos_over_http(spawn_app_with(|config| config.attachments.max_file_bytes = 1_000).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photos_over_http_on_postgresql() {
    let Some(database) = switchboard_store::testing::fresh_postgres_database().await else { return };
    photos_over_http(
        spawn_app_with(|config| {
            config.store.url = Some(Secret::new(database));
            config.attachments.max_file_bytes = 1_000;
        })
        .await,
    )
    .await;
}
