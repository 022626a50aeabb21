//! Mail end to end: `switchboard up` in this process, the SMTP server a real
//! one in its own process (`tests/receivers/smtp_receiver.py`, `aiosmtpd`).
//! The customer gets the mails of a ticket's life and the assignee theirs,
//! threaded by the ticket, each once although the server refused the first
//! attempts; preferences and deleted accounts are honoured; the reset mail's
//! token sets a password; an admin mails a ticket to an address, with the
//! company's own template; a restart loses no queued mail and sends none
//! twice.

mod common;

use common::smtp::{SmtpReceiver, header};
use common::{App, PASSWORD, spawn_app_with, status_and_json, ticket_json, wait_for_json};
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_core::config::Secret;

const DOMAIN: &str = "switchboard.test";

async fn app_mailing_to(receiver: &SmtpReceiver) -> App {
    // Milliseconds instead of hours.
    app_mailing_on_schedule(receiver, vec![0, 50, 100, 200, 400, 800]).await
}

async fn app_mailing_on_schedule(receiver: &SmtpReceiver, schedule_ms: Vec<u64>) -> App {
    let smtp_url = receiver.smtp_url.clone();
    spawn_app_with(move |config| {
        config.mail.smtp_url = Some(Secret::new(smtp_url));
        config.mail.from = format!("Switchboard <no-reply@{DOMAIN}>");
        config.mail.public_url = "https://support.example.com/".into();
        config.mail.refresh_ms = 0;
        config.mail.schedule_ms = schedule_ms;
    })
    .await
}

/// `client` files a ticket: its id.
async fn file_ticket(app: &App, client: &reqwest::Client, title: &str) -> String {
    let response = client.post(app.url("/v1/tickets")).json(&ticket_json(title)).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let id = response.json::<Value>().await.expect("JSON")["id"].as_str().expect("id").to_owned();
    common::wait_for_ok(client, &app.url(&format!("/v1/tickets/{id}"))).await;
    id
}

async fn call(client: &reqwest::Client, method: reqwest::Method, url: String, body: Value) -> Value {
    let (status, answer) = status_and_json(client.request(method, url).json(&body).send().await.expect("send")).await;
    assert!(status.is_success(), "{status}: {answer}");
    answer
}

fn simple(id: &str) -> String {
    id.replace('-', "")
}

fn subjects(mails: &[Value]) -> Vec<&str> {
    mails.iter().map(|mail| header(mail, "Subject")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_customer_and_the_assignee_get_each_mail_of_the_lifecycle_once_threaded_by_the_ticket() {
    let receiver = SmtpReceiver::start().await;
    let app = app_mailing_to(&receiver).await;
    // The server refuses the first two attempts; the schedule retries.
    receiver.fail_next(2).await;
    let (cora, _) = app.account("customer", "cora").await;
    let (tom, tom_id) = app.account("technician", "tom").await;
    let ticket = file_ticket(&app, &cora, "Boiler pressure drops").await;
    let url = |path: &str| app.url(&format!("/v1/tickets/{ticket}{path}"));
    let received = receiver.wait_for("cora@example.com", 1).await;
    assert_eq!(subjects(&received), ["We received your request: Boiler pressure drops"]);

    let first = &received[0];
    let root = format!("<ticket.{}@{DOMAIN}>", simple(&ticket));
    let message_id = header(first, "Message-ID");
    assert!(message_id.ends_with(&format!(".{}@{DOMAIN}>", simple(&ticket))), "{message_id}");
    assert_eq!(
        [header(first, "References"), header(first, "In-Reply-To"), header(first, "Auto-Submitted")],
        [root.as_str(), root.as_str(), "auto-generated"]
    );
    assert_eq!(header(first, "X-Auto-Response-Suppress"), "All");
    assert_eq!(first["from"], json!(format!("no-reply@{DOMAIN}")));
    assert_eq!(first["content_type"], json!("multipart/alternative"));
    let link = format!("https://support.example.com/tickets/{ticket}");
    assert!(first["text"].as_str().is_some_and(|text| text.contains(&link)), "{first}");
    // minijinja escapes `/` in HTML too (`&#x2f;`), which HTML decodes.
    let html = first["html"].as_str().expect("html").replace("&#x2f;", "/");
    assert!(html.contains(&format!("href=\"{link}\"")), "{html}");

    // Assigned (which opens it): the technician's mail.
    call(&app.client, reqwest::Method::PUT, url("/assignment"), json!({"assignee": tom_id})).await;
    let assigned = receiver.wait_for("tom@example.com", 1).await;
    assert_eq!(subjects(&assigned), ["Assigned to you: Boiler pressure drops"]);
    assert_eq!(header(&assigned[0], "References"), root);

    // An internal note is not mailed; a reply is.
    call(&tom, reqwest::Method::PUT, url("/status"), json!({"status": "in_progress"})).await;
    call(&tom, reqwest::Method::POST, url("/messages"), json!({"body": "Note to self", "internal": true})).await;
    call(&tom, reqwest::Method::POST, url("/messages"), json!({"body": "I come by at 3 pm."})).await;
    let report = json!({
        "malfunction": "Expansion vessel lost its charge.",
        "solution": "Recharged the expansion vessel to 1 bar.",
        "submit": true,
    });
    call(&tom, reqwest::Method::PUT, url("/report"), report).await;
    call(&cora, reqwest::Method::POST, url("/report/approval"), json!({"password": PASSWORD})).await;
    call(&tom, reqwest::Method::PUT, url("/status"), json!({"status": "resolved"})).await;

    let mails = receiver.wait_for("cora@example.com", 4).await;
    assert_eq!(
        subjects(&mails),
        [
            "We received your request: Boiler pressure drops",
            "New reply: Boiler pressure drops",
            "Please approve the report: Boiler pressure drops",
            "Resolved: Boiler pressure drops",
        ]
    );
    assert!(mails[1]["text"].as_str().is_some_and(|text| text.contains("I come by at 3 pm.")));
    assert!(mails.iter().all(|mail| header(mail, "References") == root));

    // The log agrees: every mail delivered, the refused attempts counted,
    // each Message-ID the one sent; and nothing arrived twice.
    let log = wait_for_json(&app.client, &url("/mails"), "every mail delivered", |log| {
        log["items"]
            .as_array()
            .is_some_and(|items| items.len() == 5 && items.iter().all(|item| item["state"] == json!("delivered")))
    })
    .await;
    let items = log["items"].as_array().expect("items");
    let attempts: u64 = items.iter().map(|item| item["attempts"].as_u64().unwrap_or_default()).sum();
    assert_eq!(attempts, 5 + 2, "{log}");
    assert!(items.iter().all(|item| item["last_code"] == json!(250)), "{log}");
    assert_eq!(items[0]["message_id"], json!(message_id));
    let all = receiver.received().await;
    assert_eq!(all.len(), 5, "each mail once: {all:?}");
    assert_eq!(all[0]["refused"], json!(2));
    let (status, _) = status_and_json(cora.get(url("/mails")).send().await.expect("send")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "customers see no mail log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preferences_deleted_accounts_resets_and_mails_by_hand() {
    let receiver = SmtpReceiver::start().await;
    let app = app_mailing_to(&receiver).await;
    let (tom, tom_id) = app.account("technician", "tom").await;

    // Pia mutes "ticket received": her ticket's replies still come.
    let (pia, pia_id) = app.account("customer", "pia").await;
    let preferences_url = app.url("/v1/accounts/me/notification-preferences");
    let muted =
        call(&pia, reqwest::Method::PUT, preferences_url.clone(), json!({"email": {"ticket.created": false}})).await;
    assert_eq!(
        (muted["email"]["ticket.created"].clone(), muted["email"]["ticket.resolved"].clone()),
        (json!(false), json!(true))
    );
    let (status, body) = status_and_json(
        pia.put(preferences_url.clone())
            .json(&json!({"email": {"account.password_reset_requested": false}}))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("email.account.password_reset_requested"))
    );
    let pias = file_ticket(&app, &pia, "Heating is cold").await;
    call(
        &app.client,
        reqwest::Method::POST,
        app.url(&format!("/v1/tickets/{pias}/messages")),
        json!({"body": "Looking into it"}),
    )
    .await;
    let replies = receiver.wait_for("pia@example.com", 1).await;
    assert_eq!(subjects(&replies), ["New reply: Heating is cold"]);

    // Dan's account is deleted: nothing more goes to him.
    let (dan, dan_id) = app.account("customer", "dan").await;
    let dans = file_ticket(&app, &dan, "Radiator leaks").await;
    receiver.wait_for("dan@example.com", 1).await;
    let response = app.client.delete(app.url(&format!("/v1/accounts/{dan_id}"))).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    call(
        &app.client,
        reqwest::Method::POST,
        app.url(&format!("/v1/tickets/{dans}/messages")),
        json!({"body": "We are on it"}),
    )
    .await;
    // The assignment after the reply arrives: the reply was handled by then.
    call(
        &app.client,
        reqwest::Method::PUT,
        app.url(&format!("/v1/tickets/{dans}/assignment")),
        json!({"assignee": tom_id}),
    )
    .await;
    receiver.wait_for("tom@example.com", 1).await;
    assert_eq!(subjects(&receiver.mails_to("dan@example.com").await), ["We received your request: Radiator leaks"]);
    let log = common::get_json(&app.client, &app.url(&format!("/v1/tickets/{dans}/mails"))).await;
    let recipients: Vec<&Value> = log["items"].as_array().expect("items").iter().map(|item| &item["to"]).collect();
    assert_eq!(recipients, [&json!("tom@example.com")], "{log}");

    // A password reset: the mail's link carries a token that sets a new
    // password.
    let response =
        app.anonymous.post(app.url("/v1/password-resets")).json(&json!({"email": "pia@example.com"})).send().await;
    assert_eq!(response.expect("send").status(), StatusCode::ACCEPTED);
    let with_reset = receiver.wait_for("pia@example.com", 2).await;
    let reset = &with_reset[1];
    assert_eq!(header(reset, "Subject"), "Reset your password");
    assert_eq!(header(reset, "References"), "", "a reset is about no ticket");
    let text = reset["text"].as_str().expect("text");
    let prefix = format!("https://support.example.com/reset-password?account={pia_id}&token=");
    let token = text.lines().find_map(|line| line.trim().strip_prefix(prefix.as_str())).expect("the link");
    let new_password = "a brand new password for pia";
    let response = app
        .anonymous
        .put(app.url(&format!("/v1/accounts/{pia_id}/password")))
        .json(&json!({"token": token, "new_password": new_password}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    common::sign_in(&app.url(""), "pia", new_password).await;

    // By hand, to an address; a broken template is refused with its line,
    // a good one is used.
    let notify =
        |body: Value| app.client.post(app.url(&format!("/v1/tickets/{pias}/notifications"))).json(&body).send();
    let (status, body) = status_and_json(notify(json!({"email": "not an address"})).await.expect("send")).await;
    assert_eq!((status, body["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("email")), "{body}");
    let template_url = app.url("/v1/mail-templates/ticket.shared");
    let broken = json!({"subject": "Shared", "text": "Hello\n{% for x in %}", "html": "<p></p>"});
    let (status, body) =
        status_and_json(app.client.put(template_url.clone()).json(&broken).send().await.expect("send")).await;
    assert_eq!((status, body["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("text")), "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|message| message.contains("line 2")), "{body}");
    let own = json!({
        "subject": "From Acme: {{ ticket.title }}",
        "text": "{{ ticket_url }}",
        "html": "<a href=\"{{ ticket_url }}\">{{ ticket.title }}</a>",
    });
    call(&app.client, reqwest::Method::PUT, template_url.clone(), own).await;
    let (status, _) = status_and_json(tom.get(app.url("/v1/mail-templates")).send().await.expect("send")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let listed = common::get_json(&app.client, &app.url("/v1/mail-templates")).await;
    let items = listed["items"].as_array().expect("items");
    let shared_kind = items.iter().find(|item| item["kind"] == json!("ticket.shared")).expect("the kind is listed");
    assert_eq!(shared_kind["own"]["subject"], json!("From Acme: {{ ticket.title }}"));
    assert_eq!(shared_kind["default"]["subject"], json!("Ticket: {{ ticket.title }}"));
    assert!(shared_kind["context"]["ticket"]["title"].is_string(), "{shared_kind}");
    let (status, queued) = status_and_json(notify(json!({"email": "Boss@Example.org"})).await.expect("send")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let shared = receiver.wait_for("boss@example.org", 1).await;
    assert_eq!(subjects(&shared), ["From Acme: Heating is cold"]);
    assert_eq!(header(&shared[0], "References"), format!("<ticket.{}@{DOMAIN}>", simple(&pias)));
    let response = app.client.delete(template_url).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_faq_answer_offers_to_reopen_and_staff_hear_of_a_critical_ticket() {
    let receiver = SmtpReceiver::start().await;
    let app = app_mailing_to(&receiver).await;
    let articles = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("kb-index/tests/fixtures/faqs.jsonl");
    common::import_faqs_file(&app.client, &app.url("/v1/faqs/import"), &articles).await;
    wait_for_json(&app.client, &app.url("/v1/kb/search?q=paper%20jam"), "the articles", |found| {
        found["items"].get(0).is_some()
    })
    .await;
    call(
        &app.client,
        reqwest::Method::PUT,
        app.url("/v1/companies/acme/settings"),
        json!({"auto_answer_threshold": 0.9}),
    )
    .await;
    let (_, _) = app.account("engineer", "eli").await;
    let (_, _) = app.account("technician", "tia").await;
    let (kim, _) = app.account("customer", "kim").await;
    let file = |title: &str, description: &str| {
        let mut body = ticket_json(title);
        body["description"] = json!(description);
        kim.post(app.url("/v1/tickets")).json(&body).send()
    };

    let response = file("Paper jam", "The printer shows a paper jam error").await.expect("send");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let answered = response.json::<Value>().await.expect("JSON")["id"].as_str().expect("id").to_owned();
    let mails = receiver.wait_for("kim@example.com", 2).await;
    assert_eq!(subjects(&mails), ["We received your request: Paper jam", "An answer to your request: Paper jam"]);
    let text = mails[1]["text"].as_str().expect("text");
    assert!(text.contains(&format!("https://support.example.com/tickets/{answered}/reopen")), "{text}");
    let ticket = common::get_json(&kim, &app.url(&format!("/v1/tickets/{answered}"))).await;
    let answer = ticket["answered_by_faq"]["answer"].as_str().expect("the answer");
    let first_line = answer.lines().next().expect("a line");
    assert!(text.contains(first_line), "the answer is in the mail: {text}");

    // Critical: the admin and the engineer hear of it, the technician not.
    let response = file("Printer on fire", "The printer shows a paper jam error and now it is smoking").await;
    assert_eq!(response.expect("send").status(), StatusCode::ACCEPTED);
    let urgent = "Urgent ticket waiting: Printer on fire";
    assert_eq!(subjects(&receiver.wait_for("admin@acme.example", 1).await), [urgent]);
    assert_eq!(subjects(&receiver.wait_for("eli@example.com", 1).await), [urgent]);
    receiver.wait_for("kim@example.com", 3).await;
    assert!(receiver.mails_to("tia@example.com").await.is_empty());
}

/// A restart in the middle of a mail's schedule loses nothing, and what the
/// server accepted before is not sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_the_outbox_and_sends_nothing_twice() {
    let receiver = SmtpReceiver::start().await;
    // Retries every half second for about 50 s: the queued mail must still
    // be pending however long the stop below takes (the short schedule of
    // the other tests runs out 1.5 s after the first refusal, and a slow
    // stop on a busy machine can outlast that: the mail then fails for good
    // and is never delivered after the restart).
    let app =
        app_mailing_on_schedule(&receiver, std::iter::once(0).chain(std::iter::repeat_n(500, 99)).collect()).await;
    let (ada, _) = app.account("customer", "ada").await;
    let before = file_ticket(&app, &ada, "Sent before the restart").await;
    receiver.wait_for("ada@example.com", 1).await;
    // The server refuses everything now: the next mail stays queued.
    receiver.fail_next(1_000).await;
    let during = file_ticket(&app, &ada, "Queued across the restart").await;
    let log_url = app.url(&format!("/v1/tickets/{during}/mails"));
    wait_for_json(&app.client, &log_url, "a refused attempt", |log| {
        log["items"][0]["last_code"] == json!(451) && log["items"][0]["state"] == json!("pending")
    })
    .await;

    // The data directory stays (in `app`) for the restarted instance.
    let App { running, config, client, .. } = app;
    running.stop().await.expect("clean stop");
    receiver.fail_next(0).await;
    let restarted = switchboard::start(config, switchboard::Components::ALL).await.expect("restart");
    let restarted_log_url = restarted.url(&format!("/v1/tickets/{during}/mails"));
    wait_for_json(&client, &restarted_log_url, "the mail delivered", |log| {
        log["items"][0]["state"] == json!("delivered")
    })
    .await;
    assert_eq!(
        subjects(&receiver.mails_to("ada@example.com").await),
        ["We received your request: Sent before the restart", "We received your request: Queued across the restart"]
    );
    let log = common::get_json(&client, &restarted.url(&format!("/v1/tickets/{before}/mails"))).await;
    assert_eq!(log["items"][0]["attempts"], json!(1), "{log}");
    restarted.stop().await.expect("clean stop");
}

/// Without `mail.smtp_url` nothing is queued, and a mail by hand is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_smtp_server_no_mail_is_queued() {
    let app = spawn_app_with(|config| config.outbound.allow_private_destinations = true).await;
    // An endpoint shows when the notifier has handled an event (it records
    // the event's mails with its webhook messages).
    let endpoint = json!({"url": "http://127.0.0.1:9/hooks", "event_types": ["ticket.created"]});
    call(&app.client, reqwest::Method::POST, app.url("/v1/webhooks"), endpoint).await;
    let (cy, _) = app.account("customer", "cy").await;
    let ticket = file_ticket(&app, &cy, "Nobody mails this").await;
    let (status, body) = status_and_json(
        app.client
            .post(app.url(&format!("/v1/tickets/{ticket}/notifications")))
            .json(&json!({"email": "boss@example.org"}))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!((status, body["error"]["code"].clone()), (StatusCode::CONFLICT, json!("mail_off")), "{body}");
    let notifications = app.url(&format!("/v1/tickets/{ticket}/notifications"));
    wait_for_json(&app.client, &notifications, "the created event handled", |log| {
        log["items"].as_array().is_some_and(|items| !items.is_empty())
    })
    .await;
    let log = common::get_json(&app.client, &app.url(&format!("/v1/tickets/{ticket}/mails"))).await;
    assert_eq!(log["items"], json!([]));
}

/// A webhook endpoint the notifier disables (410 Gone) is its owners'
/// news: the company's admins get a mail saying which and why, once each
/// time it is disabled; engineers do not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admins_are_told_each_time_a_webhook_endpoint_is_disabled() {
    let receiver = SmtpReceiver::start().await;
    let hooks = common::receiver::Receiver::start("127.0.0.1:0").await;
    let smtp_url = receiver.smtp_url.clone();
    let app = spawn_app_with(move |config| {
        config.mail.smtp_url = Some(Secret::new(smtp_url));
        config.mail.from = format!("Switchboard <no-reply@{DOMAIN}>");
        config.outbound.allow_private_destinations = true;
        config.notifier.refresh_ms = 0;
        config.notifier.schedule_ms = vec![0, 50, 100, 200, 400];
    })
    .await;
    app.account("engineer", "erin").await;
    let body = json!({"url": hooks.url("/hooks"), "description": "Desk inbox", "event_types": ["ticket.created"]});
    let endpoint = call(&app.client, reqwest::Method::POST, app.url("/v1/webhooks"), body.clone()).await;
    let id = endpoint["id"].as_str().expect("id");
    let secret = endpoint["secret"].as_str().expect("secret");
    // Gone twice: the first ticket's message disables the endpoint, and
    // again when an admin enables it; the third try delivers.
    hooks.control(json!({"secrets": [secret], "fail": 2, "status": 410})).await;
    common::post_ticket(&app, &ticket_json("Gone")).await;

    let told = receiver.wait_for("admin@acme.example", 1).await;
    assert_eq!(subjects(&told), ["Webhook endpoint disabled: Desk inbox"]);
    let text = told[0]["text"].as_str().expect("text");
    assert!(text.contains(&hooks.url("/hooks")) && text.contains("it answered 410 Gone"), "{text}");
    assert_eq!(header(&told[0], "Auto-Submitted"), "auto-generated");
    let webhook = app.url(&format!("/v1/webhooks/{id}"));
    wait_for_json(&app.client, &webhook, "disabled", |endpoint| endpoint["enabled"] == json!(false)).await;
    // A second ticket's message waits while the endpoint is disabled (the
    // notifier disabled it: nothing is lost).
    common::post_ticket(&app, &ticket_json("Waits")).await;

    let enabled = json!({"url": hooks.url("/hooks"), "description": "Desk inbox", "event_types": ["ticket.created"], "enabled": true});
    call(&app.client, reqwest::Method::PUT, webhook.clone(), enabled.clone()).await;
    let told = receiver.wait_for("admin@acme.example", 2).await;
    assert_eq!(subjects(&told), ["Webhook endpoint disabled: Desk inbox"; 2], "told again: a new disabling");
    wait_for_json(&app.client, &webhook, "disabled again", |endpoint| endpoint["enabled"] == json!(false)).await;
    call(&app.client, reqwest::Method::PUT, webhook, enabled).await;
    common::receiver::wait_for_received(&hooks, 2).await;
    // Both messages went out; each disabling was told once, to the admin
    // alone (mails are queued when the endpoint is disabled, long before).
    assert_eq!(receiver.mails_to("admin@acme.example").await.len(), 2);
    assert!(receiver.mails_to("erin@example.com").await.is_empty());
}
