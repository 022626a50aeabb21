//! The whole pipeline in `switchboard up`: triage, the knowledge base,
//! auto-answers, model and policy changes without a restart, staff labels.

mod common;

use std::time::Duration;

use common::{
    App, get_json, import_test_faqs, post_ticket, run_switchboard, spawn_app_with, status_and_json, ticket_json,
    wait_for_json,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_bus::Bus;
use switchboard_bus::embedded::EmbeddedBus;
use switchboard_core::CompanyId;
use switchboard_core::config::{Config, EmbeddedBusConfig};
use switchboard_core::topics;

fn fast_reload(config: &mut Config) {
    config.triage.reload_interval_ms = 200;
}

async fn app() -> App {
    spawn_app_with(fast_reload).await
}

fn matched(ticket: &Value) -> bool {
    ticket.get("triage").is_some() && ticket.get("suggestions").is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_is_triaged_with_confidences_and_model_versions() {
    let app = app().await;
    let id = post_ticket(
        &app,
        &json!({
            "title": "Refund please",
            "description": "The blender I got is broken, I want my money back",
            "requester": {"email": "ana@example.com"},
        }),
    )
    .await;
    let ticket =
        wait_for_json(&app.client, &app.url(&format!("/v1/tickets/{id}")), "a triage", |t| t.get("triage").is_some())
            .await;
    let triage = &ticket["triage"];
    assert!(
        triage["category"]["model_version"].as_str().is_some_and(|v| v.starts_with("category-customer-service@")),
        "{triage}"
    );
    assert!(
        triage["urgency_model"]["model_version"].as_str().is_some_and(|v| v.starts_with("urgency-everyday@")),
        "{triage}"
    );
    let confidence = triage["category"]["confidence"].as_f64().expect("a confidence");
    assert!((0.0..=1.0).contains(&confidence));
    assert!(["low", "normal", "high", "critical"].contains(&ticket["urgency"].as_str().expect("urgency")));
    assert_eq!(ticket["urgency"], triage["urgency"]);
    // The shipped category model knows this one (as in triage's own tests).
    assert_eq!(triage["category"]["label"], json!("refunds"), "{triage}");
    assert_eq!(ticket["category"], json!("refunds"));
    // A person looks when a model was unsure and no rule decided.
    let urgency_defaulted = triage["urgency_source"]["kind"] == json!("default");
    assert_eq!(triage["needs_human"], json!(urgency_defaulted), "{triage}");
    let queue: Value = app
        .client
        .get(app.url("/v1/tickets?needs_triage=true"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("JSON");
    let in_queue = queue["items"].as_array().expect("items").iter().any(|t| t["id"] == json!(id));
    assert_eq!(in_queue, triage["needs_human"] == json!(true));
    app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_urgency_policy_overrides_the_model_without_a_restart() {
    let app = app().await;
    let policy = json!({"default_urgency": "normal", "rules": [
        {"name": "fires are critical", "when": {"any_keyword": ["on fire"]}, "then": {"set": "critical"}},
        {"when": {"any_keyword": ["smoke"]}, "then": {"at_least": "high"}}
    ]});
    let response = app.client.put(app.url("/v1/triage/policy")).json(&policy).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    let bad = json!({"rules": [{"when": {"any_keyword": []}, "then": {"set": "critical"}}]});
    let response = app.client.put(app.url("/v1/triage/policy")).json(&bad).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Within the reload interval, new tickets are decided by the new policy;
    // the rules that decided are named (or described when unnamed).
    let deadline = tokio::time::Instant::now() + common::WAIT;
    let ticket = loop {
        let id = post_ticket(&app, &ticket_json("The printer is on fire and there is smoke")).await;
        let ticket = wait_for_json(&app.client, &app.url(&format!("/v1/tickets/{id}")), "a triage", |t| {
            t.get("triage").is_some()
        })
        .await;
        // (Until then the shipped default policy decides it.)
        if ticket["triage"]["urgency_source"]["rule"] == json!("fires are critical; keyword smoke => at least high") {
            break ticket;
        }
        assert!(tokio::time::Instant::now() < deadline, "the policy was never applied");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(ticket["urgency"], json!("critical"));
    // The policy is acme's: another company's tickets are not decided by it
    // but by the shipped default, which its admin sees.
    let globex = common::client_with_token(&common::bootstrap_company(&app.config, &app.url(""), "globex").await);
    let theirs: Value =
        globex.get(app.url("/v1/triage/policy")).send().await.expect("send").json().await.expect("JSON");
    assert_eq!(theirs, serde_json::from_str::<Value>(switchboard_core::policy::SHIPPED_POLICY_JSON).expect("JSON"));
    let mut fire = ticket_json("The printer is on fire and there is smoke");
    fire["company"] = json!("globex");
    let response = globex.post(app.url("/v1/tickets")).json(&fire).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let id = response.json::<Value>().await.expect("JSON")["id"].as_str().expect("id").to_owned();
    let ticket =
        wait_for_json(&globex, &app.url(&format!("/v1/tickets/{id}")), "a triage", |t| t.get("triage").is_some()).await;
    assert_eq!(ticket["triage"]["urgency_source"], json!({"kind": "policy", "rule": "fire or smoke"}), "{ticket}");
    app.running.stop().await.expect("clean stop");
}

/// Posts `title` as the client's company until `done` holds for its triage.
async fn triage_until(app: &App, client: &reqwest::Client, company: &str, what: &str, done: impl Fn(&Value) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut body = ticket_json("Which model decides?");
        body["company"] = json!(company);
        let response = client.post(app.url("/v1/tickets")).json(&body).send().await.expect("send");
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let id = response.json::<Value>().await.expect("JSON")["id"].as_str().expect("id").to_owned();
        let ticket =
            wait_for_json(client, &app.url(&format!("/v1/tickets/{id}")), "a triage", |t| t.get("triage").is_some())
                .await;
        if done(&ticket["triage"]) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "never: {what}; last triage {}", ticket["triage"]);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_company_activates_its_own_model_without_a_restart_and_only_its_tickets_use_it() {
    let app = app().await;
    let globex = common::client_with_token(&common::bootstrap_company(&app.config, &app.url(""), "globex").await);
    // Store a model of acme's for the category task. (The built-in urgency
    // model stands in for a retrained one: all that matters here is that its
    // version is different.)
    let store = switchboard_store::Store::connect(&app.store_url(), 2).await.expect("store");
    let replacement =
        switchboard_triage::Model::from_bytes(switchboard_triage::stage::DEFAULT_URGENCY_MODEL).expect("model");
    let acme = CompanyId::parse("acme").expect("company");
    let insert = |company: Option<CompanyId>| {
        let store = store.clone();
        let version = replacement.version().to_owned();
        async move {
            store
                .insert_triage_model(
                    company.as_ref(),
                    "category",
                    &version,
                    switchboard_triage::stage::DEFAULT_URGENCY_MODEL,
                    &json!({}),
                    false,
                )
                .await
                .expect("insert")
        }
    };
    let model_id = insert(Some(acme)).await;
    let shared_id = insert(None).await;
    let listed: Value =
        app.client.get(app.url("/v1/triage/models")).send().await.expect("list").json().await.expect("JSON");
    let ids: Vec<&Value> = listed["items"].as_array().expect("items").iter().map(|m| &m["id"]).collect();
    assert_eq!(ids, [&json!(shared_id), &json!(model_id)], "{listed}");
    assert_eq!(listed["items"][1]["company"], json!("acme"), "{listed}");
    assert_eq!(listed["items"][0]["company"], Value::Null, "{listed}");
    assert_eq!(listed["items"][1]["active"], json!(false));
    // globex sees the installation's model, not acme's, and cannot switch it.
    let theirs: Value =
        globex.get(app.url("/v1/triage/models")).send().await.expect("list").json().await.expect("JSON");
    assert_eq!(theirs["items"].as_array().map(Vec::len), Some(1), "{theirs}");
    let activate = |client: &reqwest::Client, id: uuid::Uuid, verb: &str| {
        client.post(app.url(&format!("/v1/triage/models/{id}/{verb}"))).send()
    };
    assert_eq!(activate(&globex, model_id, "activate").await.expect("send").status(), StatusCode::NOT_FOUND);
    // The installation's model is the operator's to switch.
    assert_eq!(activate(&app.client, shared_id, "activate").await.expect("send").status(), StatusCode::FORBIDDEN);
    assert_eq!(
        activate(&app.client, uuid::Uuid::now_v7(), "activate").await.expect("send").status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(activate(&app.client, model_id, "activate").await.expect("send").status(), StatusCode::NO_CONTENT);
    let listed: Value =
        app.client.get(app.url("/v1/triage/models")).send().await.expect("list").json().await.expect("JSON");
    assert_eq!((&listed["items"][1]["active"], &listed["items"][1]["in_use"]), (&json!(true), &json!(true)));

    // Within the reload interval acme's new tickets are decided by its model;
    // globex's, by the same stage after the same reload, are not.
    let uses = |version: &str| {
        let version = json!(version);
        move |triage: &Value| triage["category"]["model_version"] == version
    };
    triage_until(&app, &app.client, "acme", "acme's model used", uses(replacement.version())).await;
    let mut fresh = ticket_json("Which model decides?");
    fresh["company"] = json!("globex");
    let response = globex.post(app.url("/v1/tickets")).json(&fresh).send().await.expect("send");
    let id = response.json::<Value>().await.expect("JSON")["id"].as_str().expect("id").to_owned();
    let ticket =
        wait_for_json(&globex, &app.url(&format!("/v1/tickets/{id}")), "a triage", |t| t.get("triage").is_some()).await;
    assert_ne!(ticket["triage"]["category"]["model_version"], json!(replacement.version()), "{ticket}");

    // Deactivated, acme is back on the installation's (built-in) model.
    assert_eq!(activate(&app.client, model_id, "deactivate").await.expect("send").status(), StatusCode::NO_CONTENT);
    triage_until(&app, &app.client, "acme", "acme back on the default", |triage| {
        triage["category"]["model_version"] != json!(replacement.version())
    })
    .await;
    app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_matching_an_faq_gets_suggestions_and_with_auto_answer_is_answered() {
    let app = app().await;
    import_test_faqs(&app).await;
    wait_for_json(&app.client, &app.url("/v1/kb/search?q=paper%20jam"), "the imported articles", |found| {
        found["items"].get(0).is_some()
    })
    .await;
    let mut question = ticket_json("How do I clear a paper jam in the printer?");
    question["description"] = json!("Paper is jammed in tray 2 and the printer will not start");

    // Auto-answer is off by default: suggestions only.
    let id = post_ticket(&app, &question).await;
    let ticket = wait_for_json(&app.client, &app.url(&format!("/v1/tickets/{id}")), "suggestions", matched).await;
    assert_eq!(ticket["suggestions"][0]["id"], json!("printer-jam"), "{ticket}");
    assert_eq!(ticket["suggestions"][0]["kind"], json!("faq"));
    assert_eq!(ticket["status"], json!("new"));
    assert!(ticket.get("answered_by_faq").is_none());

    // The search endpoint finds it too.
    let found: Value = app
        .client
        .get(app.url("/v1/kb/search?q=paper%20jam%20printer&k=2"))
        .send()
        .await
        .expect("search")
        .json()
        .await
        .expect("JSON");
    assert_eq!(found["items"][0]["id"], json!("printer-jam"));

    // With auto-answer on for a company, its customers are answered: globex,
    // with the same articles of its own.
    let globex_token = common::bootstrap_company(&app.config, &app.url(""), "globex").await;
    let globex = common::client_with_token(&globex_token);
    // FAQ ids are per company: globex's articles have the same ids as
    // acme's, with answers of their own.
    let fixture =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/faqs.jsonl")).expect("fixture");
    let response = globex
        .post(app.url("/v1/faqs/import"))
        .header("content-type", "application/x-ndjson")
        .body(fixture.replace("\"answers\": [\"", "\"answers\": [\"Globex: "))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::OK, "{:?}", response.text().await);
    let summary = response.json::<Value>().await.expect("JSON");
    assert_eq!(summary["created"], summary["imported"], "all new for globex: {summary}");
    // Matching starts once the index has them.
    wait_for_json(&globex, &app.url("/v1/kb/search?q=paper%20jam%20printer&k=1"), "globex's articles", |found| {
        found["items"][0]["id"] == json!("printer-jam")
            && found["items"][0]["snippet"].as_str().is_some_and(|snippet| snippet.starts_with("Globex: "))
    })
    .await;
    // Each company reads its own article under the one id.
    let answer_of = |faq: Value| faq["answers"][0].as_str().unwrap_or_default().to_owned();
    let theirs = get_json(&globex, &app.url("/v1/faqs/printer-jam")).await;
    let ours = get_json(&app.client, &app.url("/v1/faqs/printer-jam")).await;
    assert!(answer_of(theirs).starts_with("Globex: "));
    assert!(answer_of(ours).starts_with("Switch the printer off"));
    let found = get_json(&app.client, &app.url("/v1/kb/search?q=paper%20jam%20printer&k=5")).await;
    assert!(
        found["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|item| !item["snippet"].as_str().unwrap_or_default().starts_with("Globex")),
        "acme never sees globex's articles: {found}"
    );
    let response = globex
        .put(app.url("/v1/companies/globex/settings"))
        .json(&json!({"auto_answer_threshold": 0.5}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    question["company"] = json!("globex");
    let response = globex.post(app.url("/v1/tickets")).json(&question).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let id = response.json::<Value>().await.expect("JSON")["id"].as_str().expect("id").to_owned();
    let ticket = wait_for_json(&globex, &app.url(&format!("/v1/tickets/{id}")), "an answer", |t| {
        t.get("answered_by_faq").is_some()
    })
    .await;
    assert_eq!(ticket["status"], json!("resolved"));
    assert_eq!(ticket["answered_by_faq"]["faq_id"], json!("printer-jam"));
    assert!(ticket["answered_by_faq"]["answer"].as_str().is_some_and(|a| a.starts_with("Globex: ")), "{ticket}");

    // The notification event for the customer is on tickets.events.
    let store = switchboard_store::Store::connect(&app.store_url(), 2).await.expect("store");
    let bus =
        EmbeddedBus::new(store, EmbeddedBusConfig::default(), switchboard_core::config::DEFAULT_MAX_MESSAGE_BYTES);
    let events = bus.subscribe("test-events", &[topics::EVENTS.to_owned()]).await.expect("subscribe");
    // (Each ticket's `created` event comes first.)
    let envelope = loop {
        let event = tokio::time::timeout(Duration::from_secs(30), events.recv()).await.expect("in time").expect("recv");
        let envelope: Value = serde_json::from_slice(&event.payload).expect("JSON");
        if envelope["payload"]["type"] != json!("created") {
            break envelope;
        }
    };
    assert_eq!(envelope["ticket_id"], json!(id));
    assert_eq!(envelope["payload"]["type"], json!("answered_by_faq"));
    assert_eq!(envelope["payload"]["answer"]["faq_id"], json!("printer-jam"));
    assert_eq!(envelope["payload"]["ticket"]["requester"]["email"], json!("ana@example.com"));
    app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faq_articles_have_a_full_api_and_the_index_follows() {
    let app = app().await;
    let article = json!({"id": "wifi-guest", "question": "How do guests join the office wifi?", "answers": ["Use the network Guest and the code on the reception desk."]});
    let response = app.client.post(app.url("/v1/faqs")).json(&article).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers().get("location").and_then(|v| v.to_str().ok()), Some("/v1/faqs/wifi-guest"));
    let again = app.client.post(app.url("/v1/faqs")).json(&article).send().await.expect("send");
    assert_eq!(again.status(), StatusCode::CONFLICT);

    let search = |query: &'static str| {
        let client = app.client.clone();
        let url = app.url(&format!("/v1/kb/search?q={query}"));
        async move { client.get(url).send().await.expect("search").json::<Value>().await.expect("JSON") }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while search("guest%20wifi").await["items"].get(0).map(|item| item["id"].clone()) != Some(json!("wifi-guest")) {
        assert!(tokio::time::Instant::now() < deadline, "the index never picked up the new article");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let replaced = json!({"question": "How do visitors get on the wifi?", "answers": ["Ask reception for a visitor badge with the wifi code."], "tags": ["network"]});
    let response = app.client.put(app.url("/v1/faqs/wifi-guest")).json(&replaced).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    let read: Value =
        app.client.get(app.url("/v1/faqs/wifi-guest")).send().await.expect("get").json().await.expect("JSON");
    assert_eq!(read["question"], json!("How do visitors get on the wifi?"));
    assert_eq!(read["tags"], json!(["network"]));

    for (body, field) in [
        (json!({"question": "No answers?", "answers": []}), "answers"),
        (json!({"id": "bad id!", "question": "q", "answers": ["a"]}), "id"),
        (json!({"question": "", "answers": ["a"]}), "question"),
        (json!({"question": "q", "answers": ["a"], "colour": "red"}), "colour"),
    ] {
        let response = app.client.post(app.url("/v1/faqs")).json(&body).send().await.expect("send");
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let error: Value = response.json().await.expect("JSON");
        assert_eq!(error["error"]["field"], json!(field), "{error}");
    }
    let bad_import = app
        .client
        .post(app.url("/v1/faqs/import"))
        .header("content-type", "application/x-ndjson")
        .body("{\"id\": \"ok\", \"question\": \"q\", \"answers\": [\"a\"]}\nnot json\n")
        .send()
        .await
        .expect("send");
    assert_eq!(bad_import.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error: Value = bad_import.json().await.expect("JSON");
    assert_eq!(error["error"]["field"], json!("line 2"));
    assert_eq!(
        app.client.get(app.url("/v1/faqs/ok")).send().await.expect("get").status(),
        StatusCode::NOT_FOUND,
        "all or nothing"
    );

    // Shared articles (the operator's `kb import`) and a company's own never
    // share an id, so an id names one article in the company's view.
    let shared = app.data_dir.path().join("shared.jsonl");
    std::fs::write(
        &shared,
        "{\"id\": \"office-hours\", \"question\": \"When is the office open?\", \"answers\": [\"9 to 5.\"]}\n",
    )
    .expect("write");
    switchboard::commands::kb_import(&app.config, &shared, &mut Vec::new()).await.expect("a shared article");
    let taken = json!({"id": "office-hours", "question": "Our hours?", "answers": ["8 to 4."]});
    for request in [app.client.post(app.url("/v1/faqs")), app.client.put(app.url("/v1/faqs/office-hours"))] {
        let (status, error) = status_and_json(request.json(&taken).send().await.expect("send")).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(
            error,
            json!({"error": {"code": "faq_id_taken", "message": "`office-hours` is the id of a shared article; give this article another id"}})
        );
    }
    let read = get_json(&app.client, &app.url("/v1/faqs/office-hours")).await;
    assert_eq!((read["answers"].clone(), read.get("company")), (json!(["9 to 5."]), None), "the shared one: {read}");
    std::fs::write(&shared, "{\"id\": \"wifi-guest\", \"question\": \"Wifi?\", \"answers\": [\"Ask.\"]}\n")
        .expect("write");
    let refused = switchboard::commands::kb_import(&app.config, &shared, &mut Vec::new()).await.expect_err("taken");
    assert!(format!("{refused:#}").contains("acme has an article `wifi-guest` of its own"), "{refused:#}");

    let response = app.client.delete(app.url("/v1/faqs/wifi-guest")).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.client.delete(app.url("/v1/faqs/wifi-guest")).send().await.expect("send").status(),
        StatusCode::NOT_FOUND
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while search("guest%20wifi").await["items"]
        .as_array()
        .is_some_and(|items| items.iter().any(|i| i["id"] == json!("wifi-guest")))
    {
        assert!(tokio::time::Instant::now() < deadline, "the index never dropped the deleted article");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_labels_are_kept_and_listed() {
    let app = app().await;
    let id = post_ticket(&app, &ticket_json("Invoice missing")).await;
    wait_for_json(&app.client, &app.url(&format!("/v1/tickets/{id}")), "suggestions", matched).await;
    let response = app
        .client
        .patch(app.url(&format!("/v1/tickets/{id}")))
        .json(&json!({"category": "billing", "urgency": "high"}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    let ticket: Value = response.json().await.expect("JSON");
    assert_eq!((ticket["category"].clone(), ticket["urgency"].clone()), (json!("billing"), json!("high")));
    let response = app
        .client
        .patch(app.url(&format!("/v1/tickets/{id}")))
        .json(&json!({"urgency": "soon"}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let listed: Value =
        app.client.get(app.url("/v1/tickets?category=billing")).send().await.expect("list").json().await.expect("JSON");
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
    app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_or_missing_index_is_rebuilt_from_the_store() {
    let data_dir = tempfile::tempdir().expect("temporary directory");
    let config = common::embedded_config(data_dir.path());
    let start = || switchboard::start(config.clone(), switchboard::Components::ALL);
    let watchdog = common::Watchdog::start();
    let running = start().await.expect("start");
    let app = App::bootstrap(running, config.clone(), tempfile::tempdir().expect("unused"), watchdog).await;
    import_test_faqs(&app).await;
    app.running.stop().await.expect("stop");

    let index = data_dir.path().join("kb-index");
    for damage in ["corrupt", "missing"] {
        match damage {
            "corrupt" => {
                for entry in std::fs::read_dir(&index).expect("index files") {
                    let path = entry.expect("entry").path();
                    if path.is_file() {
                        std::fs::write(&path, b"garbage").expect("corrupt a file");
                    }
                }
            }
            _ => std::fs::remove_dir_all(&index).expect("remove the index"),
        }
        let running =
            start().await.unwrap_or_else(|error| panic!("a {damage} index must not stop start-up: {error:#}"));
        // The admin's session is in the store, so it outlives the restart.
        let client = common::client_with_token(&app.admin_token);
        let found: Value = client
            .get(running.url("/v1/kb/search?q=reset%20my%20password"))
            .send()
            .await
            .expect("search")
            .json()
            .await
            .expect("JSON");
        assert_eq!(found["items"][0]["id"], json!("reset-password"), "{damage} index rebuilt: {found}");
        running.stop().await.expect("stop");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_retrained_on_staff_labels_is_stored_activated_and_used() {
    let app = app().await;
    let data_dir = app.data_dir.path().display().to_string();
    let train = ["--data-dir", &data_dir, "triage", "train", "--from-store", "--task", "category", "--activate"];

    // Nothing labelled yet: a clear refusal, nothing stored.
    let (ok, _, stderr) = run_switchboard(&train).await;
    assert!(!ok && stderr.contains("at least two"), "{stderr}");

    let examples = [
        ("billing", "My invoice shows the wrong amount", "We were charged twice on the last invoice"),
        ("billing", "Refund for a double payment", "The payment went through two times, please refund"),
        ("billing", "Invoice address is wrong", "Please correct the billing address on our invoice"),
        ("billing", "Charged after cancelling", "We cancelled but the card was charged again"),
        ("billing", "Need a copy of the invoice", "Send the invoice for March for our accounts"),
        ("billing", "Payment failed", "The monthly payment failed and the invoice is overdue"),
        ("access", "Cannot log in", "The password reset email never arrives and I cannot log in"),
        ("access", "Account locked", "My account is locked after too many password attempts"),
        ("access", "Two-factor code rejected", "The login code from the app is rejected"),
        ("access", "Forgot my password", "I forgot my password and the reset link has expired"),
        ("access", "New user cannot sign in", "Our new colleague cannot sign in to the account"),
        ("access", "Login page error", "The login page says my password is wrong but it is right"),
    ];
    for (label, title, description) in examples {
        let mut body = ticket_json(title);
        body["description"] = json!(description);
        let id = post_ticket(&app, &body).await;
        wait_for_json(&app.client, &app.url(&format!("/v1/tickets/{id}")), "suggestions", matched).await;
        let response = app
            .client
            .patch(app.url(&format!("/v1/tickets/{id}")))
            .json(&json!({"category": label}))
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), StatusCode::OK);
    }

    let (ok, stdout, stderr) = run_switchboard(&train).await;
    assert!(ok, "training failed: {stdout}\n{stderr}");
    assert!(stdout.contains("read 12 tickets") && stdout.contains("stored and activated"), "{stdout}");
    let listed: Value =
        app.client.get(app.url("/v1/triage/models")).send().await.expect("list").json().await.expect("JSON");
    let model = &listed["items"][0];
    assert_eq!((model["task"].clone(), model["active"].clone()), (json!("category"), json!(true)), "{listed}");
    let version = model["version"].as_str().expect("a version").to_owned();
    assert!(version.starts_with("category-store@"), "{version}");

    // The triage stage switches to it within its reload interval.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut body = ticket_json("I was charged twice");
        body["description"] = json!("Please refund the second payment on the invoice");
        let id = post_ticket(&app, &body).await;
        let ticket = wait_for_json(&app.client, &app.url(&format!("/v1/tickets/{id}")), "a triage", |t| {
            t.get("triage").is_some()
        })
        .await;
        let category = &ticket["triage"]["category"];
        if category["model_version"] == json!(version) {
            // Sure or unsure, never the other class.
            assert!([json!("billing"), Value::Null].contains(&category["label"]), "{ticket}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the retrained model was never used");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // It is the installation's: a company admin cannot switch it off, the
    // operator can (and back on), and an unknown id is a clear failure.
    let model_id = model["id"].as_str().expect("an id").to_owned();
    assert_eq!(
        app.client
            .post(app.url(&format!("/v1/triage/models/{model_id}/deactivate")))
            .send()
            .await
            .expect("send")
            .status(),
        StatusCode::FORBIDDEN
    );
    let operator = |extra: &[&str]| {
        let mut args = vec!["--data-dir", data_dir.as_str(), "triage", "activate"];
        args.extend_from_slice(extra);
        args.into_iter().map(str::to_owned).collect::<Vec<String>>()
    };
    let off = operator(&[model_id.as_str(), "--off"]);
    let (ok, stdout, stderr) = run_switchboard(&off.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert!(ok && stdout.contains("deactivated"), "{stdout}\n{stderr}");
    let listed: Value =
        app.client.get(app.url("/v1/triage/models")).send().await.expect("list").json().await.expect("JSON");
    assert_eq!((&listed["items"][0]["active"], &listed["items"][0]["in_use"]), (&json!(false), &json!(false)));
    let unknown = uuid::Uuid::now_v7().to_string();
    let missing = operator(&[unknown.as_str()]);
    let (ok, _, stderr) = run_switchboard(&missing.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert!(!ok && stderr.contains("no model"), "{stderr}");
    app.running.stop().await.expect("clean stop");
}

/// The README's articles, a company answering at the README's threshold,
/// and four tickets: one an article answers; two it must not answer because
/// triage rates them critical (the printer fire although its article
/// matches surely); and a VPN question whose nearest article, Wi-Fi's, does
/// not answer it and is not sure enough to go out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urgent_tickets_and_articles_that_do_not_answer_are_never_sent_automatically() {
    let app = app().await;
    let readme_articles = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("kb-index/tests/fixtures/faqs.jsonl");
    common::import_faqs_file(&app.client, &app.url("/v1/faqs/import"), &readme_articles).await;
    wait_for_json(&app.client, &app.url("/v1/kb/search?q=paper%20jam"), "the articles", |found| {
        found["items"].get(0).is_some()
    })
    .await;
    let response =
        app.client.put(app.url("/v1/companies/acme/settings")).json(&json!({"auto_answer_threshold": 0.9})).send();
    assert_eq!(response.await.expect("send").status(), StatusCode::OK);

    let ticket_for = |title: &str, description: &str| {
        let mut body = ticket_json(title);
        body["description"] = json!(description);
        body
    };
    let answered = |ticket: &Value| ticket.get("answered_by_faq").is_some();
    let settle = |id: String| {
        let (client, url) = (app.client.clone(), app.url(&format!("/v1/tickets/{id}")));
        async move { wait_for_json(&client, &url, "matching", matched).await }
    };

    // The control: a plain question the README's article answers is
    // answered, so the two below are withheld for their urgency alone.
    let id = post_ticket(&app, &ticket_for("Paper jam", "The printer shows a paper jam error")).await;
    let ticket = wait_for_json(&app.client, &app.url(&format!("/v1/tickets/{id}")), "an answer", answered).await;
    assert_eq!(ticket["answered_by_faq"]["faq_id"], json!("printer-paper-jam"), "{ticket}");

    // `sure`: the match alone would be answered, so only urgency withholds it.
    for (title, description, rule, article, sure) in [
        (
            "Printer on fire",
            "The printer shows a paper jam error and now it is smoking",
            "fire or smoke",
            "printer-paper-jam",
            true,
        ),
        (
            "Someone else reset my password",
            "I did not change my password, someone reset it and is sending emails from my account: identity theft",
            "security incident",
            "reset-password",
            false,
        ),
    ] {
        let id = post_ticket(&app, &ticket_for(title, description)).await;
        let ticket = settle(id).await;
        let triage = &ticket["triage"];
        assert_eq!(triage["urgency"], json!("critical"), "{title}: {triage}");
        assert_eq!(triage["urgency_source"], json!({"kind": "policy", "rule": rule}), "{title}: {triage}");
        let best = &ticket["suggestions"][0];
        assert_eq!(best["id"], json!(article), "{title}: {ticket}");
        if sure {
            assert!(
                best["confidence"].as_f64().is_some_and(|confidence| confidence >= 0.9),
                "{title}: a sure match {best}"
            );
        }
        assert!(!answered(&ticket), "{title} was answered: {ticket}");
        assert_eq!(ticket["status"], json!("new"), "{title}");
    }

    // A question the Wi-Fi article matches word for word except for what it
    // is about: its confidence stays under the threshold, whatever triage
    // says of the ticket.
    let id = post_ticket(&app, &ticket_for("VPN from home", "How do I connect to the VPN from home?")).await;
    let ticket = settle(id).await;
    let best = &ticket["suggestions"][0];
    assert_eq!(best["id"], json!("wifi-setup"), "{ticket}");
    assert!(best["confidence"].as_f64().is_some_and(|confidence| confidence < 0.9), "{best}");
    assert!(!answered(&ticket), "the VPN question was answered: {ticket}");
    app.running.stop().await.expect("clean stop");
}
