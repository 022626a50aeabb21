//! The ticket lifecycle as actions over HTTP: vehicles, assignment (which
//! opens a new ticket), status changes by the people allowed to make them,
//! typed refusals naming the allowed moves, lists by assignee and status,
//! and the history with every actor.

mod common;

use common::{App, spawn_app, status_and_json};
use reqwest::StatusCode;
use serde_json::{Value, json};

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
    let (status, van) = status_and_json(
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
    let (_, parked) = status_and_json(
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
    let (status, body) = status_and_json(assign(json!({"assignee": customer_id})).await.expect("send")).await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("assignee")),
        "{body}"
    );
    let (status, body) =
        status_and_json(assign(json!({"assignee": technician_id, "vehicle": parked["id"]})).await.expect("send")).await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("vehicle")),
        "{body}"
    );
    let (status, body) = status_and_json(
        assign(json!({"assignee": technician_id, "vehicle": uuid::Uuid::now_v7()})).await.expect("send"),
    )
    .await;
    assert_eq!((status, body["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("vehicle")));
    // Assigning a new ticket opens it.
    let (status, opened) =
        status_and_json(assign(json!({"assignee": technician_id, "vehicle": van})).await.expect("send")).await;
    assert_eq!(status, StatusCode::OK, "{opened}");
    assert_eq!(
        (opened["status"].clone(), opened["assignee"].clone(), opened["vehicle"].clone()),
        (json!("opened"), json!(technician_id), json!(van))
    );
    // The vehicle is in use now.
    let (status, _) =
        status_and_json(app.client.delete(app.url(&format!("/v1/vehicles/{van}"))).send().await.expect("send")).await;
    assert_eq!(status, StatusCode::CONFLICT);

    let set_status = |client: &reqwest::Client, status: &str| {
        client.put(app.url(&format!("/v1/tickets/{ticket}/status"))).json(&json!({"status": status})).send()
    };
    // Not the assignee: refused. A move that does not exist: named.
    let (status, body) = status_and_json(set_status(&engineer, "in_progress").await.expect("send")).await;
    assert_eq!((status, body["error"]["code"].clone()), (StatusCode::FORBIDDEN, json!("forbidden")), "{body}");
    let (status, body) = status_and_json(set_status(&customer, "in_progress").await.expect("send")).await;
    assert_eq!((status, body["error"]["code"].clone()), (StatusCode::FORBIDDEN, json!("forbidden")), "{body}");
    let (status, body) = status_and_json(set_status(&technician, "new").await.expect("send")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], json!("invalid_transition"));
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("start (→ in_progress)") && message.contains("dismiss (→ closed)"), "{message}");
    let (status, body) = status_and_json(set_status(&technician, "done").await.expect("send")).await;
    assert_eq!((status, body["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("status")));

    // The assignee starts; asking again changes nothing.
    let (status, started) = status_and_json(set_status(&technician, "in_progress").await.expect("send")).await;
    assert_eq!((status, started["status"].clone()), (StatusCode::OK, json!("in_progress")));
    let (status, _) = status_and_json(set_status(&technician, "in_progress").await.expect("send")).await;
    assert_eq!(status, StatusCode::OK);
    // Reassigning keeps the status.
    let (eng_client, engineer_id) = (engineer.clone(), {
        let me: Value =
            engineer.get(app.url("/v1/accounts/me")).send().await.expect("send").json().await.expect("JSON");
        me["id"].as_str().expect("id").to_owned()
    });
    let (status, reassigned) = status_and_json(assign(json!({"assignee": engineer_id})).await.expect("send")).await;
    assert_eq!(
        (status, reassigned["status"].clone(), reassigned["assignee"].clone()),
        (StatusCode::OK, json!("in_progress"), json!(engineer_id))
    );

    // Lists: the engineer's own, by several statuses, ids only.
    let (_, mine) = status_and_json(
        eng_client.get(app.url("/v1/tickets?assignee=me&status=opened,in_progress")).send().await.expect("send"),
    )
    .await;
    assert_eq!(mine["items"].as_array().map(Vec::len), Some(1), "{mine}");
    let (_, theirs) =
        status_and_json(technician.get(app.url("/v1/tickets?assignee=me")).send().await.expect("send")).await;
    assert_eq!(theirs["items"], json!([]));
    let (_, ids) = status_and_json(
        app.client.get(app.url("/v1/tickets?fields=id&channel=api&status=in_progress")).send().await.expect("send"),
    )
    .await;
    assert_eq!(ids["items"], json!([ticket]));
    let (status, _) =
        status_and_json(app.client.get(app.url("/v1/tickets?fields=title")).send().await.expect("send")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) =
        status_and_json(app.client.get(app.url("/v1/tickets?status=new,bogus")).send().await.expect("send")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The admin dismisses it; then reopens it.
    let (status, closed) = status_and_json(set_status(&app.client, "closed").await.expect("send")).await;
    assert_eq!((status, closed["status"].clone()), (StatusCode::OK, json!("closed")));
    let (status, reopened) = status_and_json(set_status(&app.client, "opened").await.expect("send")).await;
    assert_eq!((status, reopened["status"].clone()), (StatusCode::OK, json!("opened")));

    // The history has every step and who took it.
    let (status, history) =
        status_and_json(customer.get(app.url(&format!("/v1/tickets/{ticket}/history"))).send().await.expect("send"))
            .await;
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
        ("create", "new", "customer"),
        ("open", "opened", "admin"),
        ("start", "in_progress", "technician"),
        ("assign", "in_progress", "admin"),
        ("dismiss", "closed", "admin"),
        ("reopen", "opened", "admin"),
    ];
    assert_eq!(steps, expected.map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned())));
    assert_eq!(history["items"][2]["actor"]["account"], json!(technician_id));
    app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vehicles_have_a_full_api_with_precise_errors() {
    let app = spawn_app().await;
    let (status, created) = status_and_json(
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
    let (status, updated) = status_and_json(
        app.client.put(&url).json(&json!({"name": "Truck", "available": false})).send().await.expect("send"),
    )
    .await;
    assert_eq!(
        (status, updated["available"].clone(), updated["plate"].clone()),
        (StatusCode::OK, json!(false), Value::Null)
    );
    for (body, field) in
        [(json!({"name": ""}), "name"), (json!({"name": "x", "wheels": 4}), ""), (json!({"name": 5}), "name")]
    {
        let (status, error) =
            status_and_json(app.client.post(app.url("/v1/vehicles")).json(&body).send().await.expect("send")).await;
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

/// The main flow of the seed, over HTTP against a running `switchboard up`:
/// sign-up, create, assign with a vehicle, start, report, the customer's
/// approval with their password (a wrong one refused, a rejection sent
/// back), resolve (then a past solution in the knowledge base), close,
/// the conversation, the history with every actor, delete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_main_flow_end_to_end() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let data = directory.path().join("data").display().to_string();
    common::cli_api_key(&["--data-dir", data.as_str()], &[]).await;
    let created = common::run_switchboard(&[
        "--data-dir",
        data.as_str(),
        "company",
        "create",
        "--name",
        "Contoso",
        "--id",
        "contoso",
        "--admin-email",
        "ada@contoso.example",
        "--json",
    ])
    .await;
    assert!(created.0, "{}", created.2);
    let created: Value = serde_json::from_str(&created.1).expect("JSON");
    let args = ["up", "--data-dir", data.as_str(), "--listen", "127.0.0.1:0"];
    let mut process = common::spawn_process(&args, &[], directory.path(), "up.log").await;
    let base = process.url("");
    let url = |path: &str| format!("{base}{path}");
    common::set_password(
        &base,
        created["admin_account"].as_str().expect("id"),
        created["set_password_token"].as_str().expect("token"),
    )
    .await;
    let admin = common::client_with_token(&common::sign_in(&base, "ada", common::PASSWORD).await);

    // The company takes sign-ups; a customer signs up and files a ticket.
    let response = admin
        .put(url("/v1/companies/contoso/settings"))
        .json(&json!({"allow_self_signup": true}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    let response = common::client()
        .post(url("/v1/accounts"))
        .json(&json!({"name": "Cora", "username": "cora", "email": "cora@example.com", "password": common::PASSWORD, "company": "contoso"}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::CREATED);
    let cora_id = response.json::<Value>().await.expect("JSON")["account"]["id"].as_str().expect("id").to_owned();
    let cora = common::client_with_token(&common::sign_in(&base, "cora", common::PASSWORD).await);
    let response = cora
        .post(url("/v1/tickets"))
        .json(&json!({"title": "Boiler pressure drops", "description": "The boiler in room 4 loses pressure overnight.",
                      "requester": {"email": "ignored@example.com"}, "equipment": {"model": "Vaillant ecoTEC", "serial": "VT-99"}}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let ticket = response.json::<Value>().await.expect("JSON")["id"].as_str().expect("id").to_owned();
    let ticket_url = url(&format!("/v1/tickets/{ticket}"));
    common::wait_for_ok(&cora, &ticket_url).await;

    // The admin makes a technician and a vehicle, and assigns both.
    let (technician_id, technician_token) = common::create_account(&admin, &base, "technician", "theo").await;
    let technician = common::client_with_token(&technician_token);
    let (status, van) = status_and_json(
        admin.post(url("/v1/vehicles")).json(&json!({"name": "Van 9", "plate": "CT-9"})).send().await.expect("send"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let step = |client: &reqwest::Client, method: reqwest::Method, path: &str, body: Value| {
        client.request(method, format!("{ticket_url}{path}")).json(&body).send()
    };
    let (status, opened) = status_and_json(
        step(&admin, reqwest::Method::PUT, "/assignment", json!({"assignee": technician_id, "vehicle": van["id"]}))
            .await
            .expect("send"),
    )
    .await;
    assert_eq!((status, opened["status"].clone()), (StatusCode::OK, json!("opened")), "{opened}");
    let (status, _) = status_and_json(
        step(&technician, reqwest::Method::PUT, "/status", json!({"status": "in_progress"})).await.expect("send"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // Resolving before the customer approved a report is refused.
    let (status, body) = status_and_json(
        step(&technician, reqwest::Method::PUT, "/status", json!({"status": "resolved"})).await.expect("send"),
    )
    .await;
    assert_eq!((status, body["error"]["code"].clone()), (StatusCode::CONFLICT, json!("report_not_approved")), "{body}");

    // The report: a draft, then submitted.
    let report = json!({"malfunction": "Expansion vessel lost its charge.", "solution": "Recharged the expansion vessel to 1 bar.",
                        "parts": ["schrader valve"], "time_spent_minutes": 45, "travel_minutes": 20, "notes": "Check again in spring."});
    let (status, draft) =
        status_and_json(step(&technician, reqwest::Method::PUT, "/report", report.clone()).await.expect("send")).await;
    assert_eq!(
        (status, draft["state"].clone(), draft["equipment_serial"].clone()),
        (StatusCode::OK, json!("draft"), json!("VT-99")),
        "{draft}"
    );
    let mut submitted = report.clone();
    submitted["submit"] = json!(true);
    let (status, body) =
        status_and_json(step(&technician, reqwest::Method::PUT, "/report", submitted.clone()).await.expect("send"))
            .await;
    assert_eq!((status, body["state"].clone()), (StatusCode::OK, json!("submitted")));
    // The customer: a wrong password is refused; a rejection goes back.
    let (status, body) = status_and_json(
        step(&cora, reqwest::Method::POST, "/report/approval", json!({"password": "not my password at all"}))
            .await
            .expect("send"),
    )
    .await;
    assert_eq!((status, body["error"]["code"].clone()), (StatusCode::UNAUTHORIZED, json!("invalid_credentials")));
    let (status, body) = status_and_json(
        step(&admin, reqwest::Method::POST, "/report/approval", json!({"password": common::PASSWORD}))
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = status_and_json(
        step(
            &cora,
            reqwest::Method::POST,
            "/report/approval",
            json!({"password": common::PASSWORD, "approve": false, "reason": "It still drops a little."}),
        )
        .await
        .expect("send"),
    )
    .await;
    assert_eq!(
        (status, body["state"].clone(), body["rejection_reason"].clone()),
        (StatusCode::OK, json!("rejected"), json!("It still drops a little."))
    );
    let (status, _) =
        status_and_json(step(&technician, reqwest::Method::PUT, "/report", submitted).await.expect("send")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = status_and_json(
        step(&cora, reqwest::Method::POST, "/report/approval", json!({"password": common::PASSWORD}))
            .await
            .expect("send"),
    )
    .await;
    assert_eq!((status, body["state"].clone()), (StatusCode::OK, json!("approved")), "{body}");
    // Approved reports are final.
    let (status, body) =
        status_and_json(step(&technician, reqwest::Method::PUT, "/report", report).await.expect("send")).await;
    assert_eq!((status, body["error"]["code"].clone()), (StatusCode::CONFLICT, json!("report_locked")));

    // Resolve; the report becomes a past solution in the knowledge base.
    let (status, resolved) = status_and_json(
        step(&technician, reqwest::Method::PUT, "/status", json!({"status": "resolved"})).await.expect("send"),
    )
    .await;
    assert_eq!((status, resolved["status"].clone()), (StatusCode::OK, json!("resolved")), "{resolved}");
    common::wait_for_json(
        &technician,
        &url("/v1/kb/search?q=expansion%20vessel%20pressure"),
        "the past solution",
        |found| found["items"].as_array().is_some_and(|items| items.iter().any(|item| item["id"] == json!(ticket))),
    )
    .await;

    // The conversation: a reply, and a note the customer never sees.
    let (status, _) = status_and_json(
        step(&cora, reqwest::Method::POST, "/messages", json!({"body": "Thank you!"})).await.expect("send"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = status_and_json(
        step(&cora, reqwest::Method::POST, "/messages", json!({"body": "psst", "internal": true})).await.expect("send"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = status_and_json(
        step(
            &technician,
            reqwest::Method::POST,
            "/messages",
            json!({"body": "Vessel was at 0.2 bar.", "internal": true}),
        )
        .await
        .expect("send"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, seen) = status_and_json(cora.get(format!("{ticket_url}/messages")).send().await.expect("send")).await;
    assert_eq!(seen["items"].as_array().map(Vec::len), Some(1), "{seen}");
    let (_, all) = status_and_json(admin.get(format!("{ticket_url}/messages")).send().await.expect("send")).await;
    assert_eq!(all["items"].as_array().map(Vec::len), Some(2));

    // Close; the history has every step and its actor.
    let (status, body) = status_and_json(admin.delete(&ticket_url).send().await.expect("send")).await;
    assert_eq!((status, body["error"]["code"].clone()), (StatusCode::CONFLICT, json!("not_closed")));
    let (status, closed) = status_and_json(
        step(&admin, reqwest::Method::PUT, "/status", json!({"status": "closed"})).await.expect("send"),
    )
    .await;
    assert_eq!((status, closed["status"].clone()), (StatusCode::OK, json!("closed")));
    let (_, history) = status_and_json(cora.get(format!("{ticket_url}/history")).send().await.expect("send")).await;
    let steps: Vec<String> = history["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|entry| {
            format!(
                "{} by {}",
                entry["action"].as_str().unwrap_or_default(),
                entry["actor"]["role"].as_str().unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            "create by customer",
            "open by admin",
            "start by technician",
            "save_report by technician",
            "submit_report by technician",
            "reject_report by customer",
            "submit_report by technician",
            "approve_report by customer",
            "resolve by technician",
            "add_reply by customer",
            "add_note by technician",
            "close by admin",
        ]
    );
    let approval = history["items"]
        .as_array()
        .and_then(|items| items.iter().find(|item| item["action"] == json!("approve_report")))
        .cloned()
        .unwrap_or_default();
    assert_eq!(approval["actor"]["account"], json!(cora_id));

    // Delete: gone, with a tombstone in the audit trail.
    let response = admin.delete(&ticket_url).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(admin.get(&ticket_url).send().await.expect("send").status(), StatusCode::NOT_FOUND);
    let store = switchboard_store::Store::connect(&format!("sqlite://{data}/switchboard.db"), 1).await.expect("store");
    let trail =
        store.ticket_events(&switchboard_core::Scope::Installation, ticket.parse().expect("id")).await.expect("events");
    assert_eq!(trail.last().map(|event| event.action.as_str()), Some("delete"));
    assert!(process.terminate().await.success());
}
