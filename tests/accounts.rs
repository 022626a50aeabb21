//! Accounts end to end over HTTP: sign-up, sign-in and its limits, sessions
//! and their end, API keys, password changes and resets (the token read
//! from the `accounts.events` event), deletion, customers seeing only their
//! own tickets, every bad input's precise JSON error, and no secret in the
//! logs.

mod common;

use std::time::Duration;

use common::{PASSWORD, client, client_with_token, sign_in, spawn_app, spawn_app_with, status_and_json};
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_bus::Bus;
use switchboard_bus::embedded::EmbeddedBus;
use switchboard_core::config::EmbeddedBusConfig;
use switchboard_core::topics;

fn sign_up_body(username: &str) -> Value {
    json!({
        "name": "Carla Customer", "username": username, "email": format!("{username}@example.com"),
        "password": PASSWORD, "company": "acme", "type": "personal",
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_needs_the_company_to_allow_it_and_refuses_taken_names_and_weak_passwords() {
    let app = spawn_app().await;
    let post = |body: Value| app.anonymous.post(app.url("/v1/accounts")).json(&body).send();

    let (status, body) = status_and_json(post(sign_up_body("carla")).await.expect("send")).await;
    assert_eq!((status, body["error"]["code"].clone()), (StatusCode::FORBIDDEN, json!("forbidden")), "{body}");
    app.allow_sign_up().await;
    let response = post(sign_up_body("carla")).await.expect("send");
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.expect("JSON");
    assert_eq!(created["account"]["role"], json!("customer"));
    assert_eq!(created["account"]["type"], json!("personal"));
    assert!(created.get("set_password_token").is_none() && created["account"].get("password").is_none());

    // Taken names, in any case.
    let (status, body) = status_and_json(post(sign_up_body("CARLA")).await.expect("send")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body["error"],
        json!({"code": "already_exists", "message": "another account has this username", "field": "username"})
    );
    let mut same_email = sign_up_body("carla2");
    same_email["email"] = json!("Carla@Example.com");
    let (status, body) = status_and_json(post(same_email).await.expect("send")).await;
    assert_eq!((status, body["error"]["field"].clone()), (StatusCode::CONFLICT, json!("email")));

    // Weak passwords, each with its reason.
    for (password, reason) in
        [("short", "at least 10"), ("password123", "most common"), ("dora-the-explorer", "username")]
    {
        let mut body = sign_up_body("dora-the-explorer");
        body["password"] = json!(password);
        let (status, body) = status_and_json(post(body).await.expect("send")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{password}");
        assert_eq!(body["error"]["code"], json!("weak_password"));
        assert_eq!(body["error"]["field"], json!("password"));
        assert!(body["error"]["message"].as_str().is_some_and(|message| message.contains(reason)), "{body}");
    }
    // A sign-up cannot make staff.
    let mut staff = sign_up_body("eve");
    staff["role"] = json!("admin");
    let (status, body) = status_and_json(post(staff).await.expect("send")).await;
    assert_eq!((status, body["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("role")));

    // Malformed, wrong types, unknown fields, oversize.
    let raw = |bytes: Vec<u8>| {
        app.anonymous.post(app.url("/v1/accounts")).header("content-type", "application/json").body(bytes).send()
    };
    let (status, body) = status_and_json(raw(b"{\"name\": ".to_vec()).await.expect("send")).await;
    assert_eq!((status, body["error"]["code"].clone()), (StatusCode::BAD_REQUEST, json!("malformed_json")));
    let mut wrong_type = sign_up_body("fay");
    wrong_type["username"] = json!(7);
    let (status, body) = status_and_json(post(wrong_type).await.expect("send")).await;
    assert_eq!((status, body["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("username")));
    let mut unknown = sign_up_body("fay");
    unknown["is_admin"] = json!(true);
    let (status, body) = status_and_json(post(unknown).await.expect("send")).await;
    assert_eq!((status, body["error"]["code"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("invalid_field")));
    let (status, body) = status_and_json(raw(vec![b' '; 3 * 1024 * 1024]).await.expect("send")).await;
    assert_eq!((status, body["error"]["code"].clone()), (StatusCode::PAYLOAD_TOO_LARGE, json!("body_too_large")));
    app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_out_and_tokens_that_no_longer_work() {
    let app = spawn_app().await;
    app.allow_sign_up().await;
    let response = app.anonymous.post(app.url("/v1/accounts")).json(&sign_up_body("gus")).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::CREATED);
    let base = app.url("");
    // By username or e-mail, any case.
    let token = sign_in(&base, "GUS", PASSWORD).await;
    assert!(token.starts_with("sbs_") && token.len() >= 4 + 43, "256 random bits: {token}");
    sign_in(&base, "gus@example.com", PASSWORD).await;
    let gus = client_with_token(&token);
    let me: Value = gus.get(app.url("/v1/accounts/me")).send().await.expect("send").json().await.expect("JSON");
    assert_eq!(me["username"], json!("gus"));

    // A wrong password and an unknown login get the same answer.
    let attempt = |login: &str, password: &str| {
        app.anonymous.post(app.url("/v1/sessions")).json(&json!({"login": login, "password": password})).send()
    };
    let (status, wrong) = status_and_json(attempt("gus", "not the password").await.expect("send")).await;
    let (_, unknown) = status_and_json(attempt("nobody", "not the password").await.expect("send")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong, unknown);
    assert_eq!(wrong["error"]["code"], json!("invalid_credentials"));

    // Signing out ends that session only.
    let response = gus.delete(app.url("/v1/sessions/current")).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = gus.get(app.url("/v1/accounts/me")).send().await.expect("send");
    assert_eq!(response.headers().get("www-authenticate").and_then(|v| v.to_str().ok()), Some("Bearer"));
    let (status, body) = status_and_json(response).await;
    assert_eq!((status, body["error"]["code"].clone()), (StatusCode::UNAUTHORIZED, json!("unauthenticated")));
    // Malformed and unknown credentials are 401 too, never 500.
    for header in
        ["Bearer", "Basic Z3VzOng=", "Bearer sbs_forged", "Bearer sbk_forged", &format!("Bearer {}", "x".repeat(300))]
    {
        let response =
            app.anonymous.get(app.url("/v1/tickets")).header("authorization", header).send().await.expect("send");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{header}");
    }
    // An expired session: the store's clock says it is over.
    let store = switchboard_store::Store::connect(&app.store_url(), 1).await.expect("store");
    let account = store.account_for_sign_in("gus").await.expect("read").expect("gus").0;
    let expired = "sbs_expired-session-for-the-test";
    store
        .create_session(&switchboard_web::auth::hash_secret(expired), &account, Duration::ZERO)
        .await
        .expect("session");
    let response = client_with_token(expired).get(app.url("/v1/accounts/me")).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_failed_sign_ins_are_429_with_retry_after() {
    let app = spawn_app_with(|config| {
        config.auth.sign_in_failures_per_account = 3;
    })
    .await;
    let attempt = |password: &str| {
        app.anonymous.post(app.url("/v1/sessions")).json(&json!({"login": "admin-acme", "password": password})).send()
    };
    for _ in 0..3 {
        assert_eq!(attempt("wrong password").await.expect("send").status(), StatusCode::UNAUTHORIZED);
    }
    // Now even the right password waits for the window.
    let response = attempt(PASSWORD).await.expect("send");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"].to_str().expect("ascii").parse().expect("seconds");
    assert!((1..=300).contains(&retry_after), "{retry_after}");
    let (_, body) = status_and_json(response).await;
    assert_eq!(body["error"]["code"], json!("rate_limited"));
    app.running.stop().await.expect("clean stop");

    let app = spawn_app_with(|config| config.auth.sign_in_attempts_per_address = 2).await;
    // (bootstrapping signed in once from this address)
    let response = app
        .anonymous
        .post(app.url("/v1/sessions"))
        .json(&json!({"login": "admin-acme", "password": PASSWORD}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = app
        .anonymous
        .post(app.url("/v1/sessions"))
        .json(&json!({"login": "anyone", "password": PASSWORD}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    app.running.stop().await.expect("clean stop");
}

/// The token of the next `account.password_reset_requested` event.
async fn next_reset_token(bus: &EmbeddedBus, group: &str) -> (Value, String) {
    let consumer = bus.subscribe(group, &[topics::ACCOUNT_EVENTS.to_owned()]).await.expect("subscribe");
    let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv()).await.expect("in time").expect("recv");
    let event: Value = serde_json::from_slice(&message.payload).expect("JSON");
    consumer.store_offset(&message.topic, message.partition, message.offset + 1).expect("store offset");
    consumer.commit().await.expect("commit");
    let token = event["data"]["token"].as_str().expect("token").to_owned();
    (event, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_reset_works_once_within_its_time_and_ends_every_session() {
    let app = spawn_app().await;
    let (customer, id) = app.account("customer", "hana").await;
    let store = switchboard_store::Store::connect(&app.store_url(), 2).await.expect("store");
    let bus = EmbeddedBus::new(
        store.clone(),
        EmbeddedBusConfig::default(),
        switchboard_core::config::DEFAULT_MAX_MESSAGE_BYTES,
    );

    // Unknown and known addresses get the same answer.
    for email in ["nobody@example.com", "hana@example.com"] {
        let response = app
            .anonymous
            .post(app.url("/v1/password-resets"))
            .json(&json!({"email": email}))
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        assert_eq!(response.json::<Value>().await.expect("JSON"), json!({"status": "accepted"}));
    }
    let (event, token) = next_reset_token(&bus, "test-resets").await;
    assert_eq!(event["type"], json!("account.password_reset_requested"));
    assert_eq!(event["account_id"], json!(id));
    assert_eq!(event["data"]["email"], json!("hana@example.com"));
    assert!(token.starts_with("sbt_"));

    let new_password = "a brand new passphrase";
    let put = |body: Value| app.anonymous.put(app.url(&format!("/v1/accounts/{id}/password"))).json(&body).send();
    let response = put(json!({"token": token, "new_password": new_password})).await.expect("send");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // The old session is over; the new password works, the old one not.
    assert_eq!(customer.get(app.url("/v1/accounts/me")).send().await.expect("send").status(), StatusCode::UNAUTHORIZED);
    sign_in(&app.url(""), "hana", new_password).await;
    let refused = app
        .anonymous
        .post(app.url("/v1/sessions"))
        .json(&json!({"login": "hana", "password": PASSWORD}))
        .send()
        .await
        .expect("send");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    // Used once: refused the second time.
    let (status, body) =
        status_and_json(put(json!({"token": token, "new_password": "yet another passphrase"})).await.expect("send"))
            .await;
    assert_eq!((status, body["error"]["code"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("invalid_token")));
    // Expired: refused.
    let expired = "sbt_expired-token-for-the-test";
    store
        .create_account_token(
            &switchboard_web::auth::hash_secret(expired),
            id.parse().expect("id"),
            switchboard_store::TokenPurpose::ResetPassword,
            Duration::ZERO,
        )
        .await
        .expect("token");
    let (status, body) =
        status_and_json(put(json!({"token": expired, "new_password": "yet another passphrase"})).await.expect("send"))
            .await;
    assert_eq!((status, body["error"]["code"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("invalid_token")));
    // A change with the current password needs the right one.
    let hana = client_with_token(&sign_in(&app.url(""), "hana", new_password).await);
    let response = hana
        .put(app.url(&format!("/v1/accounts/{id}/password")))
        .json(&json!({"current_password": "not it at all", "new_password": "yet another passphrase"}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_are_shown_once_scoped_and_revocable() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/v1/api-keys"))
        .json(&json!({"name": "web form", "scopes": ["tickets:write"]}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.expect("JSON");
    let secret = created["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("sbk_") && secret.starts_with(created["prefix"].as_str().expect("prefix")));
    let key = client_with_token(&secret);
    let ticket = common::ticket_json("Filed by an integration");
    assert_eq!(
        key.post(app.url("/v1/tickets")).json(&ticket).send().await.expect("send").status(),
        StatusCode::ACCEPTED
    );
    // Its scope does not read tickets, nor manage anything.
    assert_eq!(key.get(app.url("/v1/tickets")).send().await.expect("send").status(), StatusCode::FORBIDDEN);
    assert_eq!(key.get(app.url("/v1/api-keys")).send().await.expect("send").status(), StatusCode::FORBIDDEN);
    // Listed without the secret.
    let listed: Value = app.client.get(app.url("/v1/api-keys")).send().await.expect("send").json().await.expect("JSON");
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
    assert!(!listed.to_string().contains(&secret));
    // Bad scopes are named.
    let (status, body) = status_and_json(
        app.client
            .post(app.url("/v1/api-keys"))
            .json(&json!({"name": "x", "scopes": ["tickets:write", "tickets:delete"]}))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!((status, body["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("scopes[1]")));
    // Revoked: refused at once.
    let id = created["id"].as_str().expect("id");
    let response = app.client.delete(app.url(&format!("/v1/api-keys/{id}"))).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        key.post(app.url("/v1/tickets")).json(&ticket).send().await.expect("send").status(),
        StatusCode::UNAUTHORIZED
    );
    app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_see_only_their_own_tickets_and_a_deleted_account_leaves_its_tickets() {
    let app = spawn_app().await;
    let (ivy, ivy_id) = app.account("customer", "ivy").await;
    let (jon, _) = app.account("customer", "jon").await;
    let response =
        ivy.post(app.url("/v1/tickets")).json(&common::ticket_json("Ivy's printer")).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let ticket_id = response.json::<Value>().await.expect("JSON")["id"].as_str().expect("id").to_owned();
    let url = app.url(&format!("/v1/tickets/{ticket_id}"));
    let ticket = common::wait_for_ok(&ivy, &url).await;
    // A customer files as themselves, whatever the body says.
    assert_eq!(ticket["requester"]["email"], json!("ivy@example.com"));
    assert_eq!(ticket["requester"]["account"], json!(ivy_id));
    assert_eq!(jon.get(&url).send().await.expect("send").status(), StatusCode::NOT_FOUND);
    let jons: Value = jon.get(app.url("/v1/tickets")).send().await.expect("send").json().await.expect("JSON");
    assert_eq!(jons["items"], json!([]));
    let staff: Value = app.client.get(app.url("/v1/tickets")).send().await.expect("send").json().await.expect("JSON");
    assert_eq!(staff["items"].as_array().map(Vec::len), Some(1));

    // Ivy deletes her account: signed out, personal data gone, ticket kept.
    let response = ivy.delete(app.url(&format!("/v1/accounts/{ivy_id}"))).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(ivy.get(app.url("/v1/accounts/me")).send().await.expect("send").status(), StatusCode::UNAUTHORIZED);
    let account = common::get_json(&app.client, &app.url(&format!("/v1/accounts/{ivy_id}"))).await;
    assert_eq!(
        (account["deleted"].clone(), account["email"].clone(), account["name"].clone()),
        (json!(true), Value::Null, Value::Null)
    );
    let ticket: Value = app.client.get(&url).send().await.expect("send").json().await.expect("JSON");
    assert_eq!(ticket["requester"]["email"], json!(""));
    assert_eq!(ticket["requester"]["account"], json!(ivy_id));
    // The name is free again.
    let response = client()
        .post(app.url("/v1/sessions"))
        .json(&json!({"login": "ivy", "password": PASSWORD}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_the_logs() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let data = directory.path().join("data").display().to_string();
    let key = common::cli_api_key(&["--data-dir", data.as_str()], &[]).await;
    let args = ["up", "--data-dir", data.as_str(), "--listen", "127.0.0.1:0"];
    let envs = [("RUST_LOG".to_owned(), "debug".to_owned())];
    let mut process = common::spawn_process(&args, &envs, directory.path(), "up.log").await;
    let base = process.url("");
    let http = client_with_token(&key);
    let response =
        http.post(process.url("/v1/tickets")).json(&common::ticket_json("Logged?")).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::ACCEPTED);

    // The admin from `company create`: set the password, sign in, ask for a reset.
    let created = common::run_switchboard(&[
        "--data-dir",
        data.as_str(),
        "company",
        "create",
        "--name",
        "Initech",
        "--admin-email",
        "bill@initech.example",
        "--json",
    ])
    .await;
    assert!(created.0, "{}", created.2);
    let created: Value = serde_json::from_str(&created.1).expect("JSON");
    let set_token = created["set_password_token"].as_str().expect("token");
    common::set_password(&base, created["admin_account"].as_str().expect("id"), set_token).await;
    let session = sign_in(&base, "bill", PASSWORD).await;
    let wrong = client()
        .post(process.url("/v1/sessions"))
        .json(&json!({"login": "bill", "password": "a wrong password here"}))
        .send()
        .await
        .expect("send");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let response = client()
        .post(process.url("/v1/password-resets"))
        .json(&json!({"email": "bill@initech.example"}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let store_url = format!("sqlite://{}/switchboard.db", data);
    let store = switchboard_store::Store::connect(&store_url, 1).await.expect("store");
    let bus =
        EmbeddedBus::new(store, EmbeddedBusConfig::default(), switchboard_core::config::DEFAULT_MAX_MESSAGE_BYTES);
    let (_, reset_token) = next_reset_token(&bus, "test-log-resets").await;
    let status = process.terminate().await;
    assert!(status.success());

    let log = process.log_text();
    assert!(log.contains("password reset requested"), "the flow ran with debug logs:\n{log}");
    for (what, secret) in [
        ("API key", key.as_str()),
        ("set-password token", set_token),
        ("session token", session.as_str()),
        ("reset token", reset_token.as_str()),
        ("password", PASSWORD),
        ("wrong password", "a wrong password here"),
    ] {
        assert!(!log.contains(secret), "the {what} is in the log");
    }
    let (ok, config, _) = common::run_switchboard(&["--data-dir", data.as_str(), "config"]).await;
    assert!(ok && !config.contains(&key) && !config.contains(set_token));
}
