//! The ticket lifecycle as actions over HTTP: vehicles, assignment (which
//! opens a new ticket), status changes by the people allowed to make them,
//! typed refusals naming the allowed moves, lists by assignee and status,
//! and the history with every actor.

mod common;

use common::{App, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn json_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    (status, response.json().await.unwrap_or_default())
}

/// A customer's ticket, stored: (its id, the customer's client).
async fn customer_ticket(app: &App, username: &str) -> (String, reqwest::Client, String) {
    let (customer, customer_id) = app.account("customer", username).await;
    let response =
        customer.post(app.url("/v1/tickets")).json(&common::ticket_json("Printer jams")).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let id = response.json::<Value>().await.expect("JSON")["id"].as_str().expect("id").to_owned();
    common::wait_for_ok(&customer, &app.url(&format!("/v1/tickets/{id}"))).await;
    (id, customer, customer_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assignment_opens_the_ticket_and_each_move_is_its_own_people_s() {
    let app = spawn_app().await;
    let (ticket, customer, customer_id) = customer_ticket(&app, "kim").await;
    let (technician, technician_id) = app.account("technician", "tom").await;
    let (engineer, _) = app.account("engineer", "eli").await;
    let (status, van) = json_of(
        app.client
            .post(app.url("/v1/vehicles"))
            .json(&json!({"name": "Van 3", "plate": "SW-3", "kind": "van"}))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let van = van["id"].as_str().expect("id").to_owned();
    let (_, parked) = json_of(
        app.client
            .post(app.url("/v1/vehicles"))
            .json(&json!({"name": "Van 4", "available": false}))
            .send()
            .await
            .expect("send"),
    )
    .await;

    let assign = |body: Value| app.client.put(app.url(&format!("/v1/tickets/{ticket}/assignment"))).json(&body).send();
    // Only staff can be assigned, and only an available vehicle.
    let (status, body) = json_of(assign(json!({"assignee": customer_id})).await.expect("send")).await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("assignee")),
        "{body}"
    );
    let (status, body) =
        json_of(assign(json!({"assignee": technician_id, "vehicle": parked["id"]})).await.expect("send")).await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("vehicle")),
        "{body}"
    );
    let (status, body) =
        json_of(assign(json!({"assignee": technician_id, "vehicle": uuid::Uuid::now_v7()})).await.expect("send")).await;
    assert_eq!((status, body["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("vehicle")));
    // Assigning a new ticket opens it.
    let (status, opened) =
        json_of(assign(json!({"assignee": technician_id, "vehicle": van})).await.expect("send")).await;
    assert_eq!(status, StatusCode::OK, "{opened}");
    assert_eq!(
        (opened["status"].clone(), opened["assignee"].clone(), opened["vehicle"].clone()),
        (json!("opened"), json!(technician_id), json!(van))
    );
    // The vehicle is in use now.
    let (status, _) =
        json_of(app.client.delete(app.url(&format!("/v1/vehicles/{van}"))).send().await.expect("send")).await;
    assert_eq!(status, StatusCode::CONFLICT);

    let set_status = |client: &reqwest::Client, status: &str| {
        client.put(app.url(&format!("/v1/tickets/{ticket}/status"))).json(&json!({"status": status})).send()
    };
    // Not the assignee: refused. A move that does not exist: named.
    let (status, body) = json_of(set_status(&engineer, "in_progress").await.expect("send")).await;
    assert_eq!((status, body["error"]["code"].clone()), (StatusCode::FORBIDDEN, json!("forbidden")), "{body}");
    let (status, body) = json_of(set_status(&customer, "in_progress").await.expect("send")).await;
    assert_eq!((status, body["error"]["code"].clone()), (StatusCode::FORBIDDEN, json!("forbidden")), "{body}");
    let (status, body) = json_of(set_status(&technician, "new").await.expect("send")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], json!("invalid_transition"));
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("start (→ in_progress)") && message.contains("dismiss (→ closed)"), "{message}");
    let (status, body) = json_of(set_status(&technician, "done").await.expect("send")).await;
    assert_eq!((status, body["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("status")));

    // The assignee starts; asking again changes nothing.
    let (status, started) = json_of(set_status(&technician, "in_progress").await.expect("send")).await;
    assert_eq!((status, started["status"].clone()), (StatusCode::OK, json!("in_progress")));
    let (status, _) = json_of(set_status(&technician, "in_progress").await.expect("send")).await;
    assert_eq!(status, StatusCode::OK);
    // Reassigning keeps the status.
    let (eng_client, engineer_id) = (engineer.clone(), {
        let me: Value =
            engineer.get(app.url("/v1/accounts/me")).send().await.expect("send").json().await.expect("JSON");
        me["id"].as_str().expect("id").to_owned()
    });
    let (status, reassigned) = json_of(assign(json!({"assignee": engineer_id})).await.expect("send")).await;
    assert_eq!(
        (status, reassigned["status"].clone(), reassigned["assignee"].clone()),
        (StatusCode::OK, json!("in_progress"), json!(engineer_id))
    );

    // Lists: the engineer's own, by several statuses, ids only.
    let (_, mine) = json_of(
        eng_client.get(app.url("/v1/tickets?assignee=me&status=opened,in_progress")).send().await.expect("send"),
    )
    .await;
    assert_eq!(mine["items"].as_array().map(Vec::len), Some(1), "{mine}");
    let (_, theirs) = json_of(technician.get(app.url("/v1/tickets?assignee=me")).send().await.expect("send")).await;
    assert_eq!(theirs["items"], json!([]));
    let (_, ids) = json_of(
        app.client.get(app.url("/v1/tickets?fields=id&channel=api&status=in_progress")).send().await.expect("send"),
    )
    .await;
    assert_eq!(ids["items"], json!([ticket]));
    let (status, _) = json_of(app.client.get(app.url("/v1/tickets?fields=title")).send().await.expect("send")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) =
        json_of(app.client.get(app.url("/v1/tickets?status=new,bogus")).send().await.expect("send")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The admin dismisses it; then reopens it.
    let (status, closed) = json_of(set_status(&app.client, "closed").await.expect("send")).await;
    assert_eq!((status, closed["status"].clone()), (StatusCode::OK, json!("closed")));
    let (status, reopened) = json_of(set_status(&app.client, "opened").await.expect("send")).await;
    assert_eq!((status, reopened["status"].clone()), (StatusCode::OK, json!("opened")));

    // The history has every step and who took it.
    let (status, history) =
        json_of(customer.get(app.url(&format!("/v1/tickets/{ticket}/history"))).send().await.expect("send")).await;
    assert_eq!(status, StatusCode::OK);
    let steps: Vec<(String, String, String)> = history["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|entry| {
            (
                entry["action"].as_str().unwrap_or_default().to_owned(),
                entry["to"].as_str().unwrap_or_default().to_owned(),
                entry["actor"]["role"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("open", "opened", "admin"),
        ("start", "in_progress", "technician"),
        ("assign", "in_progress", "admin"),
        ("dismiss", "closed", "admin"),
        ("reopen", "opened", "admin"),
    ];
    assert_eq!(steps, expected.map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned())));
    assert_eq!(history["items"][1]["actor"]["account"], json!(technician_id));
    app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vehicles_have_a_full_api_with_precise_errors() {
    let app = spawn_app().await;
    let (status, created) = json_of(
        app.client
            .post(app.url("/v1/vehicles"))
            .json(&json!({"name": "Truck", "plate": "TR-1"}))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!((status, created["available"].clone()), (StatusCode::CREATED, json!(true)));
    let id = created["id"].as_str().expect("id");
    let url = app.url(&format!("/v1/vehicles/{id}"));
    let (status, updated) =
        json_of(app.client.put(&url).json(&json!({"name": "Truck", "available": false})).send().await.expect("send"))
            .await;
    assert_eq!(
        (status, updated["available"].clone(), updated["plate"].clone()),
        (StatusCode::OK, json!(false), Value::Null)
    );
    for (body, field) in
        [(json!({"name": ""}), "name"), (json!({"name": "x", "wheels": 4}), ""), (json!({"name": 5}), "name")]
    {
        let (status, error) =
            json_of(app.client.post(app.url("/v1/vehicles")).json(&body).send().await.expect("send")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        if !field.is_empty() {
            assert_eq!(error["error"]["field"], json!(field), "{error}");
        }
    }
    assert_eq!(app.client.delete(&url).send().await.expect("send").status(), StatusCode::NO_CONTENT);
    assert_eq!(app.client.get(&url).send().await.expect("send").status(), StatusCode::NOT_FOUND);
    assert_eq!(
        app.client.get(app.url("/v1/vehicles/not-an-id")).send().await.expect("send").status(),
        StatusCode::NOT_FOUND
    );
    app.running.stop().await.expect("clean stop");
}
