//! Text with a control character no store can keep (NUL, and the other C0
//! controls but tab, newline and carriage return) is refused with a precise
//! 4xx wherever it enters, so that nothing accepted is later unstorable.
//! Run on PostgreSQL, which refuses NUL in text (SQLSTATE 22021).

mod common;

use common::{spawn_app_with, ticket_json, wait_for_ok};
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_core::config::Secret;

const FORBIDDEN: [char; 4] = ['\u{0}', '\u{1}', '\u{7}', '\u{1b}'];

fn set(body: &mut Value, path: &str, value: Value) {
    let mut target = body;
    let parts: Vec<&str> = path.split('.').collect();
    for part in &parts[..parts.len() - 1] {
        target = &mut target[*part];
    }
    target[parts[parts.len() - 1]] = value;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_are_refused_everywhere_and_whatever_is_accepted_is_readable() {
    let Some(database) = switchboard_store::testing::fresh_postgres_database().await else { return };
    let app = spawn_app_with(|config| config.store.url = Some(Secret::new(database))).await;

    for character in FORBIDDEN {
        for field in [
            "title",
            "description",
            "requester.email",
            "requester.name",
            "company",
            "equipment.model",
            "equipment.serial",
        ] {
            let mut body = ticket_json("control characters");
            let text = format!("before{character}after");
            set(&mut body, field, json!(if field == "requester.email" { format!("a{character}@b.co") } else { text }));
            let response = app.client.post(app.url("/v1/tickets")).json(&body).send().await.expect("send");
            assert_eq!(
                response.status(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "{field} with U+{:04X}",
                u32::from(character)
            );
            let error: Value = response.json().await.expect("JSON");
            assert_eq!(error["error"]["field"], json!(field), "{error}");
        }
        let mut body = ticket_json("control characters");
        body["tags"] = json!([format!("tag{character}")]);
        let response = app.client.post(app.url("/v1/tickets")).json(&body).send().await.expect("send");
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }

    // Tabs, newlines, carriage returns and any other text are fine, and what
    // is accepted is stored and readable.
    let mut body = ticket_json("Tabs\tand lines");
    body["description"] = json!("line one\r\nline two\ttabbed, delete \u{7f}, é 漢字 🙂");
    let response = app.client.post(app.url("/v1/tickets")).json(&body).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let accepted: Value = response.json().await.expect("JSON");
    let stored = wait_for_ok(&app.client, &app.url(accepted["status_url"].as_str().expect("url"))).await;
    assert_eq!(stored["description"], body["description"]);

    let nul = "a\u{0}b";
    let faq = json!({"id": "f1", "question": nul, "answers": ["x"]});
    let response = app.client.post(app.url("/v1/faqs")).json(&faq).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "an FAQ question");
    let faq = json!({"id": "f1", "question": "q", "answers": [nul]});
    let response = app.client.post(app.url("/v1/faqs")).json(&faq).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "an FAQ answer");
    let policy = json!({"rules": [{"when": {"any_keyword": [nul]}, "then": {"set": "high"}}]});
    let response = app.client.put(app.url("/v1/triage/policy")).json(&policy).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "a policy keyword");
    let id = accepted["id"].as_str().expect("id");
    let response = app
        .client
        .patch(app.url(&format!("/v1/tickets/{id}")))
        .json(&json!({"category": nul}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "a staff category");
    for (path, field) in [
        ("/v1/tickets?tag=a%00b", "tag"),
        ("/v1/tickets?category=a%00b", "category"),
        ("/v1/kb/search?q=a%00b", "q"),
        ("/v1/equipment?model=a%00b", "model"),
        ("/v1/equipment?serial=%01", "serial"),
        ("/v1/stats/equipment?model=a%00b", "model"),
    ] {
        let response = app.client.get(app.url(path)).send().await.expect("send");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        let error: Value = response.json().await.expect("JSON");
        assert_eq!(error["error"]["field"], json!(field), "{error}");
    }
    app.running.stop().await.expect("clean stop");
}
