//! The public support form, `/support/{company}`: in a real headless
//! Chromium (with JavaScript and without), and over plain HTTP for what a
//! browser cannot easily do (forged and abusive submissions).

mod common;

use std::path::PathBuf;

use common::browser::{self, Browser};
use common::{App, get_json, spawn_app, spawn_app_with, wait_for_json, wait_for_ok};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn photo(name: &str) -> (PathBuf, Vec<u8>) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/photos").join(name);
    let bytes = std::fs::read(&path).expect("read a test photo");
    (path, bytes)
}

async fn enable_form(app: &App) {
    common::enable_web_form(app).await;
    let settings = get_json(&app.client, &app.url("/v1/companies/acme/settings")).await;
    assert_eq!(settings["web_form_enabled"], true);
    assert_eq!(settings["reopen_on_reply"], true, "the default stays when it is left out");
}

/// The ticket id of a status page's URL, through the API: the admin's view
/// once the projector has it.
async fn ticket_of_status_page(app: &App, ticket_id: &str) -> Value {
    wait_for_ok(&app.client, &app.url(&format!("/v1/tickets/{ticket_id}"))).await
}

/// Downloads every attachment of the ticket: (name, type, bytes).
async fn attachments(app: &App, ticket_id: &str) -> Vec<(String, String, Vec<u8>)> {
    let list = get_json(&app.client, &app.url(&format!("/v1/tickets/{ticket_id}/attachments"))).await;
    let mut files = Vec::new();
    for item in list["items"].as_array().expect("items") {
        let id = item["id"].as_str().expect("id");
        let response = app
            .client
            .get(app.url(&format!("/v1/tickets/{ticket_id}/attachments/{id}")))
            .send()
            .await
            .expect("download");
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers().clone();
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert!(headers["content-disposition"].to_str().expect("ascii").starts_with("inline; filename="));
        let content_type = headers["content-type"].to_str().expect("ascii").to_owned();
        assert_eq!(content_type, item["content_type"].as_str().expect("type"));
        let bytes = response.bytes().await.expect("bytes").to_vec();
        assert_eq!(bytes.len() as u64, item["size_bytes"].as_u64().expect("size"));
        files.push((item["filename"].as_str().expect("name").to_owned(), content_type, bytes));
    }
    files
}

/// Fills and sends the form in `browser`, first empty (errors next to each
/// field), then complete with two photos; returns the ticket number shown.
async fn file_through_the_form(app: &App, browser: &Browser, title: &str) -> String {
    let form = app.url("/support/acme");
    browser.go(&form).await;
    assert_eq!(browser.text("h1").await, "Report a problem");

    // Nothing filled in: the form comes back with each error by its field.
    browser.click("button[type=submit]").await;
    browser.wait_for("#error-summary").await;
    for field in ["title", "description", "email"] {
        assert_eq!(browser.attribute(&format!("#{field}"), "aria-invalid").await.as_deref(), Some("true"), "{field}");
        let described = browser.attribute(&format!("#{field}"), "aria-describedby").await.unwrap_or_default();
        assert!(described.contains(&format!("{field}-error")), "{field}: {described}");
        assert!(!browser.text(&format!("#{field}-error")).await.is_empty());
    }
    assert_eq!(browser.count("#name-error").await, 0, "an optional field has no error");
    assert!(browser.text("#email-error").await.contains("Enter your e-mail address"));

    // Keyboard only: type into each field, Tab between them.
    browser.type_into("#title", title).await;
    browser.press("\u{E004}").await; // Tab
    assert_eq!(browser.focused_id().await, "description");
    browser.type_into("#description", "Oil drips from the pump's seal since this morning.\nPhotos attached.").await;
    browser.type_into("#email", "rita@customer.example").await;
    browser.type_into("#name", "Rita Requester").await;
    browser.type_into("#equipment_model", "P-200").await;
    browser.type_into("#equipment_serial", "SN-4471").await;
    let (leak, _) = photo("leak.png");
    let (gauge, _) = photo("gauge.gif");
    browser.type_into("#photos", &format!("{}\n{}", leak.display(), gauge.display())).await;
    browser.click("button[type=submit]").await;

    browser.wait_for(".confirmation").await;
    let number = browser.text("#ticket-number").await;
    assert!(uuid::Uuid::parse_str(&number).is_ok(), "{number}");
    assert!(browser.url().await.contains("/support/acme/status/"));

    // The private status link shows the ticket once it is filed.
    browser.click("#status-link").await;
    browser.wait_for("#ticket-title").await;
    assert_eq!(browser.text("#ticket-title").await, title);
    assert_eq!(browser.text("#ticket-status").await, "Received");
    number
}

async fn check_filed_ticket(app: &App, number: &str, title: &str) {
    let ticket = ticket_of_status_page(app, number).await;
    assert_eq!(ticket["title"], title);
    assert_eq!(ticket["channel"], "web_form");
    assert_eq!(ticket["requester"]["email"], "rita@customer.example");
    assert_eq!(ticket["equipment"], json!({"model": "P-200", "serial": "SN-4471"}));
    assert_eq!(ticket["attachments"].as_array().map(Vec::len), Some(2), "{ticket}");
    let files = attachments(app, number).await;
    let (_, leak) = photo("leak.png");
    let (_, gauge) = photo("gauge.gif");
    assert_eq!(files.len(), 2);
    assert!(files.contains(&("leak.png".into(), "image/png".into(), leak)), "the PNG is byte-identical");
    assert!(files.contains(&("gauge.gif".into(), "image/gif".into(), gauge)), "the GIF is byte-identical");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_files_a_ticket_with_two_photos_in_a_real_browser() {
    let Some((chromium, chromedriver)) = browser::installed() else { return };
    let app = spawn_app().await;
    enable_form(&app).await;

    let browser = Browser::start(chromium, chromedriver, true).await;
    let number = file_through_the_form(&app, &browser, "Pump P-200 leaks oil").await;
    browser.quit().await;
    check_filed_ticket(&app, &number, "Pump P-200 leaks oil").await;

    // Without JavaScript the same form works the same way.
    let browser = Browser::start(chromium, chromedriver, false).await;
    let number = file_through_the_form(&app, &browser, "Pump P-200 leaks again").await;
    browser.quit().await;
    check_filed_ticket(&app, &number, "Pump P-200 leaks again").await;
}

/// A `multipart/form-data` body built by hand (so tests control every byte):
/// the content type and the body.
fn multipart(fields: &[(&str, &str)], files: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----switchboard-test-boundary-7f3a";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    for (filename, content) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"photos\"; filename=\"{filename}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A client without redirects, as a form-filling program would be.
fn form_client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// The form page's token and cookie, checking the headers every page has.
async fn open_form(app: &App, client: &reqwest::Client) -> (String, String) {
    let response = client.get(app.url("/support/acme")).send().await.expect("send");
    let headers = response.headers();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(headers["content-security-policy"].to_str().expect("ascii").contains("default-src 'none'"));
    let cookie = headers["set-cookie"].to_str().expect("ascii");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    common::open_support_form(app, client).await
}

async fn send_form(
    app: &App,
    client: &reqwest::Client,
    cookie: Option<&str>,
    fields: &[(&str, &str)],
    files: &[(&str, &[u8])],
) -> reqwest::Response {
    let (content_type, body) = multipart(fields, files);
    let mut request = client.post(app.url("/support/acme")).header("content-type", content_type).body(body);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await.expect("send")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_oversized_and_automated_submissions_file_nothing() {
    let app = spawn_app_with(|config| {
        config.attachments.max_file_bytes = 4096;
        config.attachments.max_ticket_bytes = 8192;
        config.ingest.web_form.max_photos = 2;
        config.ingest.web_form.submissions_per_address_per_hour = 9;
    })
    .await;
    let client = form_client();
    // Switched off (the default), the form does not exist.
    let response = client.get(app.url("/support/acme")).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(client.get(app.url("/support/nobody")).send().await.expect("send").status(), StatusCode::NOT_FOUND);
    enable_form(&app).await;

    let (token, cookie) = open_form(&app, &client).await;
    let valid = [
        ("csrf", token.as_str()),
        ("title", "Gauge shows nothing"),
        ("description", "The gauge stays at zero."),
        ("email", "sam@customer.example"),
    ];
    let (_, gif) = photo("gauge.gif");
    let (_, png) = photo("leak.png");

    // 1. No cookie (a page of another site posting here): refused.
    let response = send_form(&app, &client, None, &valid, &[]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.text().await.expect("HTML").contains("did not send its cookie"));

    // 2. The honeypot filled: thanks, and no ticket.
    let mut trap = valid.to_vec();
    trap.push(("website", "http://spam.example"));
    let response = send_form(&app, &client, Some(&cookie), &trap, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.expect("HTML").contains("Thank you"));

    // 3. A "photo" that is a script: 422 by the photos field.
    let response = send_form(&app, &client, Some(&cookie), &valid, &[("x.png", b"<script>alert(1)</script>")]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.expect("HTML");
    assert!(html.contains(r#"id="photos-error""#) && html.contains("is not a picture"), "{html}");
    assert!(html.contains("Gauge shows nothing"), "what was typed is kept");

    // 4. A photo over the size limit: 413, nothing stored.
    let response = send_form(&app, &client, Some(&cookie), &valid, &[("leak.png", &png)]).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(response.text().await.expect("HTML").contains("is larger than 4 KB"));

    // 5. More photos than allowed: 413.
    let three: [(&str, &[u8]); 3] = [("a.gif", &gif), ("b.gif", &gif), ("c.gif", &gif)];
    let response = send_form(&app, &client, Some(&cookie), &valid, &three).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // 6. A malformed body: 400, never a 500.
    let response = client
        .post(app.url("/support/acme"))
        .header("content-type", "multipart/form-data; boundary=x")
        .header("cookie", &cookie)
        .body("--x\r\nnot a part")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = client.post(app.url("/support/acme")).body("title=x").send().await.expect("send");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // 7. A valid one: 303 to its status page, which shows it.
    let response = send_form(&app, &client, Some(&cookie), &valid, &[("gauge.gif", &gif)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()["location"].to_str().expect("ascii").to_owned();
    assert!(location.starts_with("/support/acme/status/") && location.ends_with("?submitted=1"), "{location}");
    let page = client.get(app.url(&location)).send().await.expect("send");
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.expect("HTML").contains("Thank you, we have your request"));
    let items = wait_for_json(&app.client, &app.url("/v1/tickets"), "the filed ticket", |body| {
        body["items"].as_array().is_some_and(|items| !items.is_empty())
    })
    .await;
    assert_eq!(items["items"].as_array().map(Vec::len), Some(1), "only the valid submission became a ticket");

    // A status link that was altered, or is another company's, shows nothing.
    let token = location.trim_start_matches("/support/acme/status/").trim_end_matches("?submitted=1");
    // Its last character is changed (to `1` when it already is `0`).
    let last = if token.ends_with('0') { '1' } else { '0' };
    let altered = format!("{}{last}", &token[..token.len() - 1]);
    let response = client.get(app.url(&format!("/support/acme/status/{altered}"))).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // 8. Nine submissions from one address in the hour were allowed; the
    // tenth is 429 with Retry-After.
    let response = send_form(&app, &client, Some(&cookie), &valid, &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "the 9th");
    let response = send_form(&app, &client, Some(&cookie), &valid, &[]).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    let filed = wait_for_json(&app.client, &app.url("/v1/tickets"), "both filed tickets", |body| {
        body["items"].as_array().is_some_and(|items| items.len() >= 2)
    })
    .await;
    assert_eq!(filed["items"].as_array().map(Vec::len), Some(2));
}
