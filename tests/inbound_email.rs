//! E-mail in through `POST /v1/inbound/email` on a running instance: each
//! real-world message shape of the fixture set gives the expected ticket,
//! or nothing; replies join their ticket only from its participants; a
//! customer's reply reopens a resolved ticket; a mail taken twice is one
//! ticket.

mod common;

use common::{App, client_with_token, get_json, inbound_mail_key, spawn_app, wait_for_json, wait_for_ok};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ingest/tests/fixtures/email").join(name);
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// acme receives at its support addresses (given in any case, stored
/// lowercase and sorted), and an MTA holds an `inbound:email` key: that
/// key's client.
async fn mail_gate(app: &App) -> reqwest::Client {
    let key =
        inbound_mail_key(app, &["Support@acme.example", "support+1207@acme.example", "billing@acme.example"]).await;
    let addresses = get_json(&app.client, &app.url("/v1/companies/acme/inbound-addresses")).await;
    assert_eq!(
        addresses["addresses"],
        json!(["billing@acme.example", "support+1207@acme.example", "support@acme.example"])
    );
    client_with_token(&key)
}

async fn deliver(app: &App, gate: &reqwest::Client, raw: impl Into<reqwest::Body>) -> (StatusCode, Value) {
    let response = gate
        .post(app.url("/v1/inbound/email"))
        .header("content-type", "message/rfc822")
        .body(raw)
        .send()
        .await
        .expect("send");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn ticket(app: &App, id: &str) -> Value {
    wait_for_ok(&app.client, &app.url(&format!("/v1/tickets/{id}"))).await
}

async fn files(app: &App, id: &str) -> Vec<(String, Vec<u8>)> {
    let list = get_json(&app.client, &app.url(&format!("/v1/tickets/{id}/attachments"))).await;
    let mut files = Vec::new();
    for item in list["items"].as_array().expect("items") {
        let url = app.url(&format!("/v1/tickets/{id}/attachments/{}", item["id"].as_str().expect("id")));
        let bytes = app.client.get(url).send().await.expect("send").bytes().await.expect("bytes").to_vec();
        files.push((item["filename"].as_str().expect("name").to_owned(), bytes));
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_message_shape_gives_its_ticket_or_nothing() {
    let app = spawn_app().await;
    let gate = mail_gate(&app).await;

    // Automatic mail: taken (202) and dropped, whatever its recipient.
    for (name, reason) in [
        ("out-of-office.eml", "auto_submitted"),
        ("vacation-x-autoreply.eml", "auto_reply_header"),
        ("bounce.eml", "report"),
        ("mailing-list.eml", "mailing_list"),
    ] {
        let (status, body) = deliver(&app, &gate, fixture(name)).await;
        assert_eq!(
            (status, body["outcome"].as_str(), body["reason"].as_str()),
            (StatusCode::ACCEPTED, Some("ignored"), Some(reason)),
            "{name}: {body}"
        );
    }

    // Every other shape is a ticket with the sender as requester and the
    // full original kept.
    let shapes = [
        ("plain-text.eml", "bob.baker@customer.example"),
        ("alternative.eml", "zoe@customer.example"),
        ("html-only.eml", "dana@shop.example"),
        ("latin1.eml", "juergen.weiss@kunde.example"),
        ("shift-jis-base64.eml", "yuki.sato@kaisha.example"),
        ("inline-image.eml", "ann.lee@customer.example"),
        ("attachments.eml", "bob.baker@customer.example"),
        ("forward-inline.eml", "erik.lund@nordicretail.example"),
        ("forward-attached.eml", "erik.lund@nordicretail.example"),
        ("attachment-only.eml", "scanner-3f@customer.example"),
        ("reply-gmail.eml", "bob.baker@customer.example"),
        ("reply-outlook.eml", "zoe@customer.example"),
    ];
    let mut tickets = Vec::new();
    for (name, sender) in shapes {
        let (status, body) = deliver(&app, &gate, fixture(name)).await;
        assert_eq!((status, body["outcome"].as_str()), (StatusCode::ACCEPTED, Some("ticket")), "{name}: {body}");
        let id = body["ticket_id"].as_str().expect("ticket id").to_owned();
        let filed = ticket(&app, &id).await;
        assert_eq!(filed["channel"], "email", "{name}");
        assert_eq!(filed["requester"]["email"], sender, "{name}");
        assert!(!filed["description"].as_str().unwrap_or_default().is_empty(), "{name}");
        let kept = files(&app, &id).await;
        assert_eq!(
            kept.last().map(|(name, bytes)| (name.as_str(), bytes.clone())),
            Some(("original.eml", fixture(name))),
            "{name}"
        );
        tickets.push((name, id, filed));
    }
    let by_name = |wanted: &str| tickets.iter().find(|(name, _, _)| *name == wanted).expect("filed");

    // Encoded headers and a Latin-1 body read right; the quoted German
    // history is gone from the description.
    let (_, _, latin1) = by_name("latin1.eml");
    assert_eq!(latin1["requester"]["name"], "Jürgen Weiß");
    let description = latin1["description"].as_str().expect("text");
    assert!(
        description.contains('ü')
            || description.contains('ä')
            || description.contains('ö')
            || description.contains('ß'),
        "{description}"
    );
    assert!(!description.contains("schrieb"), "{description}");

    // Attachments arrive byte for byte.
    let (_, attachments_id, _) = by_name("attachments.eml");
    let kept = files(&app, attachments_id).await;
    let pdf = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("ingest/tests/fixtures/email/files/invoice-2026-1207.pdf"),
    )
    .expect("pdf");
    assert!(kept.iter().any(|(_, bytes)| *bytes == pdf), "the PDF is byte-identical");
    assert_eq!(kept.len(), 3, "PDF, PNG and the original");

    // The same mail again (an MTA retrying) is one ticket.
    let (status, body) = deliver(&app, &gate, fixture("plain-text.eml")).await;
    assert_eq!((status, body["outcome"].as_str()), (StatusCode::ACCEPTED, Some("duplicate")), "{body}");
}

/// A mail from `from` to acme, answering `references` (ids without
/// brackets), with `subject`.
fn reply(from: &str, subject: &str, references: &[String], message_id: &str, text: &str) -> String {
    let references: Vec<String> = references.iter().map(|id| format!("<{id}>")).collect();
    let mut mail = format!(
        "From: {from}\r\nTo: support@acme.example\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n\
         Date: Mon, 7 Dec 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
    );
    if let Some(last) = references.last() {
        mail.push_str(&format!("In-Reply-To: {last}\r\nReferences: {}\r\n", references.join(" ")));
    }
    mail.push_str(&format!("\r\n{text}\r\n\r\nOn Mon, 7 Dec 2026 at 08:00, ACME Support <support@acme.example> wrote:\r\n> Earlier words\r\n"));
    mail
}

async fn messages(app: &App, id: &str) -> Vec<Value> {
    get_json(&app.client, &app.url(&format!("/v1/tickets/{id}/messages"))).await["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_join_their_ticket_only_from_its_participants_and_reopen_it() {
    let app = spawn_app().await;
    let gate = mail_gate(&app).await;
    // Ann is acme's customer (ann@example.com); she writes by mail.
    let (ann, ann_id) = app.account("customer", "ann").await;
    let first = reply(
        "Ann Lee <Ann@Example.com>",
        "Printer jams",
        &[],
        "first.1@customer.example",
        "The printer jams on every page.",
    );
    let (status, body) = deliver(&app, &gate, first).await;
    assert_eq!((status, body["outcome"].as_str()), (StatusCode::ACCEPTED, Some("ticket")), "{body}");
    let id = body["ticket_id"].as_str().expect("id").to_owned();
    let filed = ticket(&app, &id).await;
    assert_eq!(filed["requester"]["account"], ann_id.as_str(), "the sender's customer account owns it");
    let hex = uuid::Uuid::parse_str(&id).expect("uuid").simple().to_string();
    let root = format!("ticket.{hex}@mail.switchboard.example");

    // The requester answers our mail: a message on the ticket, without the
    // quoted history.
    let answer = reply(
        "ann@example.com",
        "Re: Printer jams",
        std::slice::from_ref(&root),
        "second.2@customer.example",
        "It also smells of smoke.",
    );
    let (status, body) = deliver(&app, &gate, answer).await;
    assert_eq!(
        (status, body["outcome"].as_str(), body["ticket_id"].as_str()),
        (StatusCode::ACCEPTED, Some("message"), Some(id.as_str())),
        "{body}"
    );
    let said = messages(&app, &id).await;
    assert_eq!(said.len(), 1);
    assert_eq!(said[0]["body"], "It also smells of smoke.");
    assert_eq!(said[0]["author_role"], "customer");

    // A reply to the customer's own first mail (by its Message-ID) joins too.
    let again = reply(
        "ann@example.com",
        "Re: Printer jams",
        &["first.1@customer.example".into()],
        "third.3@customer.example",
        "Any news?",
    );
    let (_, body) = deliver(&app, &gate, again).await;
    assert_eq!(body["outcome"], "message", "{body}");

    // A stranger naming the same thread, or the ticket's tag, gets a ticket
    // of their own.
    let stranger = reply(
        "mallory@elsewhere.example",
        "Re: Printer jams",
        std::slice::from_ref(&root),
        "x.4@elsewhere.example",
        "Send me the details.",
    );
    let (_, body) = deliver(&app, &gate, stranger).await;
    assert_eq!(body["outcome"], "ticket", "{body}");
    assert_ne!(body["ticket_id"].as_str(), Some(id.as_str()));
    let tagged = reply(
        "mallory@elsewhere.example",
        &format!("Re: [#{id}] Printer jams"),
        &[],
        "x.5@elsewhere.example",
        "Me too.",
    );
    let (_, body) = deliver(&app, &gate, tagged).await;
    assert_eq!(body["outcome"], "ticket", "{body}");
    // The requester's mail tagged with the ticket joins it.
    let tagged =
        reply("ann@example.com", &format!("Re: [#{id}] Printer jams"), &[], "ann.6@customer.example", "Tagged.");
    let (_, body) = deliver(&app, &gate, tagged).await;
    assert_eq!(body["outcome"], "message", "{body}");
    assert_eq!(messages(&app, &id).await.len(), 3);

    // The customer (who has an account: the ticket is theirs) approves the
    // technician's report, the ticket is resolved, and their reply by mail
    // reopens it.
    let (technician, technician_id) = app.account("technician", "tess").await;
    let step = |client: &reqwest::Client, method: reqwest::Method, path: &str, body: Value| {
        client.request(method, app.url(&format!("/v1/tickets/{id}{path}"))).json(&body).send()
    };
    let response =
        step(&app.client, reqwest::Method::PUT, "/assignment", json!({"assignee": technician_id})).await.expect("send");
    assert_eq!(response.status(), StatusCode::OK, "{:?}", response.text().await);
    let response =
        step(&technician, reqwest::Method::PUT, "/status", json!({"status": "in_progress"})).await.expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    let report = json!({"malfunction": "Worn pick-up roller.", "solution": "Replaced the roller.", "submit": true});
    let response = step(&technician, reqwest::Method::PUT, "/report", report).await.expect("send");
    assert_eq!(response.status(), StatusCode::OK, "{:?}", response.text().await);
    let response = step(&ann, reqwest::Method::POST, "/report/approval", json!({"password": common::PASSWORD}))
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::OK, "{:?}", response.text().await);
    let response =
        step(&technician, reqwest::Method::PUT, "/status", json!({"status": "resolved"})).await.expect("send");
    assert_eq!(response.status(), StatusCode::OK, "{:?}", response.text().await);
    let later = reply(
        "ann@example.com",
        "Re: Printer jams",
        std::slice::from_ref(&root),
        "ann.7@customer.example",
        "It is jamming again.",
    );
    let (_, body) = deliver(&app, &gate, later).await;
    assert_eq!((body["outcome"].as_str(), body["reopened"].as_bool()), (Some("message"), Some(true)), "{body}");
    // Automatic mail answering the ticket: dropped, or kept for staff as an
    // internal note when the company asks so; never a ticket either way.
    let out_of_office = reply(
        "ann@example.com",
        "Automatic reply: Printer jams",
        std::slice::from_ref(&root),
        "ooo.8@example.com",
        "I am away until Monday.",
    )
    .replacen("MIME-Version", "Auto-Submitted: auto-replied\r\nMIME-Version", 1);
    let (_, body) = deliver(&app, &gate, out_of_office.clone()).await;
    assert_eq!(
        (body["outcome"].as_str(), body["reason"].as_str()),
        (Some("ignored"), Some("auto_submitted")),
        "{body}"
    );
    let response = app
        .client
        .put(app.url("/v1/companies/acme/settings"))
        .json(&json!({"keep_automatic_mail": true}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    let (_, body) = deliver(&app, &gate, out_of_office).await;
    assert_eq!((body["outcome"].as_str(), body["ticket_id"].as_str()), (Some("kept"), Some(id.as_str())), "{body}");
    let notes = messages(&app, &id).await;
    let note = notes.last().expect("the note");
    assert_eq!((note["internal"].as_bool(), note["author_role"].as_str()), (Some(true), Some("system")), "{note}");
    assert!(note["body"].as_str().unwrap_or_default().contains("I am away until Monday"), "{note}");
    let seen_by_ann = get_json(&ann, &app.url(&format!("/v1/tickets/{id}/messages"))).await;
    assert!(seen_by_ann["items"].as_array().expect("items").iter().all(|message| message["internal"] == false));

    let reopened = wait_for_json(&app.client, &app.url(&format!("/v1/tickets/{id}")), "reopened", |ticket| {
        ticket["status"] == "opened"
    })
    .await;
    assert_eq!(reopened["status"], "opened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_that_cannot_be_taken_is_a_clear_4xx() {
    let app = spawn_app().await;
    let gate = mail_gate(&app).await;
    // Not for an address of acme's.
    let stray = reply("ann@example.com", "Hello", &[], "s.1@customer.example", "Hi")
        .replace("support@acme.example", "sales@else.example");
    let (status, body) = deliver(&app, &gate, stray).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_recipient")),
        "{body}"
    );
    // Not a mail at all.
    let (status, body) = deliver(&app, &gate, "just some words").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("unreadable_email")),
        "{body}"
    );
    // The wrong media type.
    let response = gate.post(app.url("/v1/inbound/email")).json(&json!({"raw": "x"})).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // A person's session may not post mail.
    let response = app
        .client
        .post(app.url("/v1/inbound/email"))
        .header("content-type", "message/rfc822")
        .body(reply("a@b.example", "x", &[], "p.1@b.example", "x"))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // Not an address: 422. Another company cannot take an address acme
    // has: 409, and its own addresses stay as they were.
    let response = app
        .client
        .put(app.url("/v1/companies/acme/inbound-addresses"))
        .json(&json!({"addresses": ["not an address"]}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let globex = client_with_token(&common::bootstrap_company(&app.config, &app.url(""), "globex").await);
    let put = |addresses: Value| {
        globex.put(app.url("/v1/companies/globex/inbound-addresses")).json(&json!({"addresses": addresses})).send()
    };
    assert_eq!(put(json!(["help@globex.example"])).await.expect("send").status(), StatusCode::OK);
    let response = put(json!(["help@globex.example", "support@acme.example"])).await.expect("send");
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "address_taken", "{body}");
    let kept = get_json(&globex, &app.url("/v1/companies/globex/inbound-addresses")).await;
    assert_eq!(kept["addresses"], json!(["help@globex.example"]));
}
