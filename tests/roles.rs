//! The role × route matrix: every route of the API and of ingest (taken
//! from their rule tables, so a new route without a row here fails), called
//! as anonymous, a customer on their own ticket, another customer, a
//! technician, an engineer, the admin, and another company's admin; each
//! cell's status code is checked. On SQLite and on PostgreSQL.

mod common;

use std::collections::HashMap;

use common::{App, PASSWORD, client, client_with_token, create_account, sign_in, spawn_app_with};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard_core::config::Secret;

/// Who calls, in the order of the expectation columns.
const CALLERS: [&str; 7] =
    ["anonymous", "customer", "other_customer", "technician", "engineer", "admin", "other_admin"];

/// Expected status per caller, in [`CALLERS`] order, for each route.
fn expectations() -> HashMap<(&'static str, &'static str), [u16; 7]> {
    HashMap::from([
        (("POST", "/v1/accounts"), [201, 403, 403, 403, 403, 201, 201]),
        (("GET", "/v1/accounts"), [401, 403, 403, 403, 403, 200, 200]),
        (("GET", "/v1/accounts/me"), [401, 200, 200, 200, 200, 200, 200]),
        // The target is the customer's account: theirs, or the admin's to see.
        (("GET", "/v1/accounts/{id}"), [401, 200, 404, 404, 404, 200, 404]),
        // The target is a fresh customer account per call.
        (("DELETE", "/v1/accounts/{id}"), [401, 404, 404, 404, 404, 204, 404]),
        // With the current password, for the customer's account.
        (("PUT", "/v1/accounts/{id}/password"), [401, 204, 404, 404, 404, 404, 404]),
        (("POST", "/v1/sessions"), [201, 201, 201, 201, 201, 201, 201]),
        (("DELETE", "/v1/sessions/current"), [401, 204, 204, 204, 204, 204, 204]),
        (("POST", "/v1/password-resets"), [202, 202, 202, 202, 202, 202, 202]),
        (("POST", "/v1/api-keys"), [401, 403, 403, 403, 403, 201, 201]),
        (("GET", "/v1/api-keys"), [401, 403, 403, 403, 403, 200, 200]),
        // The target is a fresh key of acme per call.
        (("DELETE", "/v1/api-keys/{id}"), [401, 403, 403, 403, 403, 204, 404]),
        (("POST", "/v1/tickets"), [401, 202, 202, 202, 202, 202, 202]),
        (("GET", "/v1/tickets"), [401, 200, 200, 200, 200, 200, 200]),
        // The target is the customer's ticket.
        (("GET", "/v1/tickets/{id}"), [401, 200, 404, 200, 200, 200, 404]),
        (("PATCH", "/v1/tickets/{id}"), [401, 403, 403, 200, 200, 200, 404]),
        // Assigned to the technician (the admin's call opens it).
        (("PUT", "/v1/tickets/{id}/assignment"), [401, 403, 403, 403, 403, 200, 404]),
        // With the site in the query (the ticket names no equipment).
        (("GET", "/v1/tickets/{id}/dispatch-options"), [401, 403, 403, 403, 403, 200, 404]),
        // The target is the technician's account.
        (("GET", "/v1/accounts/{id}/field-profile"), [401, 403, 403, 403, 403, 200, 404]),
        (("PUT", "/v1/accounts/{id}/field-profile"), [401, 403, 403, 403, 403, 200, 404]),
        // To `closed` from `opened`: a dismissal, the admin's.
        (("PUT", "/v1/tickets/{id}/status"), [401, 403, 404, 403, 403, 200, 404]),
        (("GET", "/v1/tickets/{id}/history"), [401, 200, 404, 200, 200, 200, 404]),
        (("GET", "/v1/tickets/{id}/deliveries"), [401, 403, 403, 200, 200, 200, 404]),
        // The target is a fresh closed ticket per call.
        (("DELETE", "/v1/tickets/{id}"), [401, 403, 403, 403, 403, 204, 404]),
        // The target is the customer's second ticket, in progress with the
        // technician, who submitted a report.
        (("GET", "/v1/tickets/{id}/report"), [401, 200, 404, 200, 200, 200, 404]),
        (("PUT", "/v1/tickets/{id}/report"), [401, 403, 404, 200, 403, 403, 404]),
        // A rejection, with the caller's password.
        (("POST", "/v1/tickets/{id}/report/approval"), [401, 200, 404, 403, 403, 403, 404]),
        (("GET", "/v1/tickets/{id}/messages"), [401, 200, 404, 200, 200, 200, 404]),
        (("GET", "/v1/tickets/{id}/attachments"), [401, 200, 404, 200, 200, 200, 404]),
        // The ticket (filed as JSON) has no files: who may read it learns
        // only that this one does not exist (tests/web_form.rs downloads
        // real ones).
        (("GET", "/v1/tickets/{id}/attachments/{attachment_id}"), [401, 404, 404, 404, 404, 404, 404]),
        (("POST", "/v1/tickets/{id}/messages"), [401, 201, 404, 201, 201, 201, 404]),
        (("GET", "/v1/vehicles"), [401, 403, 403, 403, 403, 200, 200]),
        (("POST", "/v1/vehicles"), [401, 403, 403, 403, 403, 201, 201]),
        // The target is a vehicle of acme's.
        (("GET", "/v1/vehicles/{id}"), [401, 403, 403, 403, 403, 200, 404]),
        (("PUT", "/v1/vehicles/{id}"), [401, 403, 403, 403, 403, 200, 404]),
        // The target is a fresh vehicle of acme's per call.
        (("DELETE", "/v1/vehicles/{id}"), [401, 403, 403, 403, 403, 204, 404]),
        // Customers read the registry (their own equipment only); staff write.
        (("GET", "/v1/equipment"), [401, 200, 200, 200, 200, 200, 200]),
        (("POST", "/v1/equipment"), [401, 403, 403, 201, 201, 201, 201]),
        // The target is a unit of acme's recorded as the customer's.
        (("GET", "/v1/equipment/{id}"), [401, 200, 404, 200, 200, 200, 404]),
        (("PUT", "/v1/equipment/{id}"), [401, 403, 403, 200, 200, 200, 404]),
        // The target is a fresh unit of acme's per call.
        (("DELETE", "/v1/equipment/{id}"), [401, 403, 403, 204, 204, 204, 404]),
        // Photos: of acme's unit (the customer's) and of acme's vehicle;
        // each DELETE has a fresh photo of its own.
        (("GET", "/v1/equipment/{id}/photos"), [401, 200, 404, 200, 200, 200, 404]),
        (("POST", "/v1/equipment/{id}/photos"), [401, 403, 403, 201, 201, 201, 404]),
        (("GET", "/v1/equipment/{id}/photos/{photo_id}"), [401, 200, 404, 200, 200, 200, 404]),
        (("DELETE", "/v1/equipment/{id}/photos/{photo_id}"), [401, 403, 403, 204, 204, 204, 404]),
        (("GET", "/v1/vehicles/{id}/photos"), [401, 403, 403, 403, 403, 200, 404]),
        (("POST", "/v1/vehicles/{id}/photos"), [401, 403, 403, 403, 403, 201, 404]),
        (("GET", "/v1/vehicles/{id}/photos/{photo_id}"), [401, 403, 403, 403, 403, 200, 404]),
        (("DELETE", "/v1/vehicles/{id}/photos/{photo_id}"), [401, 403, 403, 403, 403, 204, 404]),
        (("GET", "/v1/stats/equipment"), [401, 403, 403, 403, 200, 200, 200]),
        (("GET", "/v1/kb/search"), [401, 200, 200, 200, 200, 200, 200]),
        (("GET", "/v1/faqs"), [401, 200, 200, 200, 200, 200, 200]),
        (("POST", "/v1/faqs"), [401, 403, 403, 403, 403, 201, 201]),
        (("POST", "/v1/faqs/import"), [401, 403, 403, 403, 403, 200, 200]),
        // The target is an article of acme's. Ids are per company: another
        // company's admin PUTs an article of its own under that id (acme's
        // stays as it was), and never learns that acme has one.
        (("GET", "/v1/faqs/{id}"), [401, 200, 200, 200, 200, 200, 404]),
        (("PUT", "/v1/faqs/{id}"), [401, 403, 403, 403, 403, 200, 201]),
        // The target is a fresh article of acme's per call.
        (("DELETE", "/v1/faqs/{id}"), [401, 403, 403, 403, 403, 204, 404]),
        // acme's settings.
        (("GET", "/v1/companies/{company}/settings"), [401, 403, 403, 403, 403, 200, 404]),
        (("PUT", "/v1/companies/{company}/settings"), [401, 403, 403, 403, 403, 200, 404]),
        (("GET", "/v1/companies/{company}/inbound-addresses"), [401, 403, 403, 403, 403, 200, 404]),
        (("PUT", "/v1/companies/{company}/inbound-addresses"), [401, 403, 403, 403, 403, 200, 404]),
        (("POST", "/v1/inbound/email"), [401, 403, 403, 403, 403, 403, 403]),
        (("GET", "/v1/triage/models"), [401, 403, 403, 403, 403, 200, 200]),
        // An id no model has.
        (("POST", "/v1/triage/models/{id}/activate"), [401, 403, 403, 403, 403, 404, 404]),
        (("POST", "/v1/triage/models/{id}/deactivate"), [401, 403, 403, 403, 403, 404, 404]),
        (("GET", "/v1/triage/policy"), [401, 403, 403, 403, 403, 200, 200]),
        (("PUT", "/v1/triage/policy"), [401, 403, 403, 403, 403, 200, 200]),
        (("GET", "/v1/servers"), [401, 403, 403, 403, 403, 200, 200]),
        (("POST", "/v1/servers"), [401, 403, 403, 403, 403, 201, 201]),
        // The target is a server of acme's.
        (("GET", "/v1/servers/{id}"), [401, 403, 403, 403, 403, 200, 404]),
        (("PUT", "/v1/servers/{id}"), [401, 403, 403, 403, 403, 200, 404]),
        // The target is a fresh server of acme's per call.
        (("DELETE", "/v1/servers/{id}"), [401, 403, 403, 403, 403, 204, 404]),
        (("GET", "/v1/teams"), [401, 403, 403, 403, 403, 200, 200]),
        (("POST", "/v1/teams"), [401, 403, 403, 403, 403, 201, 201]),
        // The target is a team of acme's.
        (("GET", "/v1/teams/{id}"), [401, 403, 403, 403, 403, 200, 404]),
        (("PUT", "/v1/teams/{id}"), [401, 403, 403, 403, 403, 200, 404]),
        // The target is a fresh team of acme's per call.
        (("DELETE", "/v1/teams/{id}"), [401, 403, 403, 403, 403, 204, 404]),
        (("GET", "/v1/routing/rulesets"), [401, 403, 403, 403, 403, 200, 200]),
        (("PUT", "/v1/routing/rulesets"), [401, 403, 403, 403, 403, 201, 201]),
        // The target is acme's version 2 (globex saves at most one).
        (("GET", "/v1/routing/rulesets/{version}"), [401, 403, 403, 403, 403, 200, 404]),
        (("POST", "/v1/routing/rulesets/{version}/activate"), [401, 403, 403, 403, 403, 200, 404]),
        // A written-out ticket, tried against the caller's active rules.
        (("POST", "/v1/routing/dry-run"), [401, 403, 403, 403, 403, 200, 200]),
        (("POST", "/v1/routing/backtest"), [401, 403, 403, 403, 403, 200, 200]),
        // The customer's ticket to acme's server.
        (("POST", "/v1/tickets/{id}/distribute/{server_id}"), [401, 403, 403, 403, 403, 202, 404]),
        (("POST", "/v1/tickets/distribute"), [401, 403, 403, 403, 403, 202, 404]),
        (("GET", "/v1/webhooks"), [401, 403, 403, 403, 403, 200, 200]),
        (("POST", "/v1/webhooks"), [401, 403, 403, 403, 403, 201, 201]),
        (("GET", "/v1/webhooks/event-types"), [401, 403, 403, 403, 403, 200, 200]),
        // The target is an endpoint of acme's.
        (("GET", "/v1/webhooks/{id}"), [401, 403, 403, 403, 403, 200, 404]),
        (("PUT", "/v1/webhooks/{id}"), [401, 403, 403, 403, 403, 200, 404]),
        (("POST", "/v1/webhooks/{id}/rotate-secret"), [401, 403, 403, 403, 403, 200, 404]),
        (("GET", "/v1/webhooks/{id}/attempts"), [401, 403, 403, 403, 403, 200, 404]),
        // The target is a fresh endpoint of acme's per call.
        (("DELETE", "/v1/webhooks/{id}"), [401, 403, 403, 403, 403, 204, 404]),
        (("POST", "/v1/webhooks/{id}/replay"), [401, 403, 403, 403, 403, 202, 404]),
        (("GET", "/v1/tickets/{id}/notifications"), [401, 403, 403, 200, 200, 200, 404]),
        // The customer's ticket, to every subscriber of acme's.
        (("POST", "/v1/tickets/{id}/notifications"), [401, 403, 403, 403, 403, 202, 404]),
        (("GET", "/v1/live"), [401, 200, 200, 200, 200, 200, 200]),
        // A plain GET, not a handshake: past the permission check, refused.
        (("GET", "/v1/live/ws"), [401, 400, 400, 400, 400, 400, 400]),
        // Every signed-in person has their own (an API key has none).
        (("GET", "/v1/accounts/me/notification-preferences"), [401, 200, 200, 200, 200, 200, 200]),
        (("PUT", "/v1/accounts/me/notification-preferences"), [401, 200, 200, 200, 200, 200, 200]),
        (("GET", "/v1/tickets/{id}/mails"), [401, 403, 403, 200, 200, 200, 404]),
        (("GET", "/v1/mail-templates"), [401, 403, 403, 403, 403, 200, 200]),
        (("PUT", "/v1/mail-templates/{kind}"), [401, 403, 403, 403, 403, 200, 200]),
        // acme's admin set the template before each call; the other
        // company has none then.
        (("DELETE", "/v1/mail-templates/{kind}"), [401, 403, 403, 403, 403, 204, 404]),
    ])
}

/// The people of the matrix, signed in.
struct People {
    app: App,
    tokens: HashMap<&'static str, String>,
    logins: HashMap<&'static str, String>,
    customer_account: String,
    technician_account: String,
    customer_ticket: String,
    report_ticket: String,
    acme_vehicle: String,
    acme_equipment: String,
    acme_vehicle_photo: String,
    acme_equipment_photo: String,
    acme_server: String,
    acme_team: String,
    acme_webhook: String,
    acme_faq: String,
    serial: usize,
}

impl People {
    fn client(&self, caller: &str) -> reqwest::Client {
        self.tokens.get(caller).map_or_else(client, |token| client_with_token(token))
    }

    fn next(&mut self) -> usize {
        self.serial += 1;
        self.serial
    }

    /// Signs everyone in again (after a route that ends sessions).
    async fn sign_in_again(&mut self) {
        let base = self.app.url("");
        for (caller, login) in self.logins.clone() {
            self.tokens.insert(caller, sign_in(&base, &login, PASSWORD).await);
        }
    }

    /// A fresh object of acme's for a route that destroys its target.
    async fn fresh_target(&mut self, path: &str) -> String {
        let serial = self.next();
        let admin = self.app.client.clone();
        let base = self.app.url("");
        match path {
            "/v1/accounts/{id}" => create_account(&admin, &base, "customer", &format!("victim{serial}")).await.0,
            "/v1/api-keys/{id}" => {
                let key: Value = admin
                    .post(self.app.url("/v1/api-keys"))
                    .json(&json!({"name": format!("victim {serial}"), "scopes": ["tickets:read"]}))
                    .send()
                    .await
                    .expect("send")
                    .json()
                    .await
                    .expect("JSON");
                key["id"].as_str().expect("id").to_owned()
            }
            "/v1/tickets/{id}" => {
                let id = post_and_wait(&admin, &base, &format!("Spam {serial}")).await;
                let response = admin
                    .put(self.app.url(&format!("/v1/tickets/{id}/status")))
                    .json(&json!({"status": "closed"}))
                    .send()
                    .await
                    .expect("send");
                assert_eq!(response.status(), StatusCode::OK);
                id
            }
            "/v1/vehicles/{id}" => {
                created(&admin, &self.app.url("/v1/vehicles"), json!({"name": format!("victim {serial}")})).await
            }
            "/v1/equipment/{id}" => {
                created(
                    &admin,
                    &self.app.url("/v1/equipment"),
                    json!({"model": "P-200", "serial": format!("victim {serial}")}),
                )
                .await
            }
            "/v1/servers/{id}" => created(&admin, &self.app.url("/v1/servers"), server_json(serial)).await,
            "/v1/webhooks/{id}" => created(&admin, &self.app.url("/v1/webhooks"), webhook_json(serial)).await,
            "/v1/teams/{id}" => {
                created(&admin, &self.app.url("/v1/teams"), json!({"name": format!("victim {serial}")})).await
            }
            "/v1/faqs/{id}" => {
                let id = format!("victim-{serial}");
                let response = admin
                    .put(self.app.url(&format!("/v1/faqs/{id}")))
                    .json(&json!({"question": "Victim?", "answers": ["Yes."]}))
                    .send()
                    .await
                    .expect("send");
                assert!(response.status().is_success(), "{:?}", response.text().await);
                id
            }
            other => panic!("no fresh target for {other}"),
        }
    }

    /// A fresh photo of `subject` (`vehicles/{id}` or `equipment/{id}`).
    async fn fresh_photo(&self, subject: &str) -> String {
        photo(&self.app.client, &self.app.url(&format!("/v1/{subject}/photos"))).await
    }

    /// The request of one cell.
    async fn request(&mut self, method: &str, path: &str, caller: &str) -> reqwest::RequestBuilder {
        let serial = self.next();
        let id = match (method, path) {
            (
                "DELETE",
                "/v1/accounts/{id}" | "/v1/api-keys/{id}" | "/v1/faqs/{id}" | "/v1/vehicles/{id}" | "/v1/tickets/{id}"
                | "/v1/servers/{id}" | "/v1/teams/{id}" | "/v1/webhooks/{id}" | "/v1/equipment/{id}",
            ) => self.fresh_target(path).await,
            ("DELETE", "/v1/mail-templates/{kind}") => {
                // The other company's own (from its PUT cell) goes first, so
                // its admin's call can only find acme's.
                let url = self.app.url("/v1/mail-templates/ticket.shared");
                self.client("other_admin").delete(url).send().await.expect("send");
                let response = self
                    .client("admin")
                    .put(self.app.url("/v1/mail-templates/ticket.shared"))
                    .json(&mail_template_json())
                    .send()
                    .await
                    .expect("send");
                assert_eq!(response.status(), StatusCode::OK, "{:?}", response.text().await);
                String::new()
            }
            (_, path) if path.starts_with("/v1/webhooks/{id}") => self.acme_webhook.clone(),
            (_, path) if path.starts_with("/v1/vehicles/{id}") => self.acme_vehicle.clone(),
            (_, path) if path.starts_with("/v1/equipment/{id}") => self.acme_equipment.clone(),
            (_, "/v1/servers/{id}") => self.acme_server.clone(),
            (_, "/v1/teams/{id}") => self.acme_team.clone(),
            (_, "/v1/accounts/{id}" | "/v1/accounts/{id}/password") => self.customer_account.clone(),
            (_, "/v1/accounts/{id}/field-profile") => self.technician_account.clone(),
            (_, path) if path.starts_with("/v1/tickets/{id}/report") => self.report_ticket.clone(),
            (_, path) if path.starts_with("/v1/tickets/{id}") => self.customer_ticket.clone(),
            (_, "/v1/faqs/{id}") => self.acme_faq.clone(),
            _ => uuid::Uuid::now_v7().to_string(),
        };
        let photo = match (method, path) {
            ("DELETE", "/v1/vehicles/{id}/photos/{photo_id}") => {
                self.fresh_photo(&format!("vehicles/{}", self.acme_vehicle)).await
            }
            ("DELETE", "/v1/equipment/{id}/photos/{photo_id}") => {
                self.fresh_photo(&format!("equipment/{}", self.acme_equipment)).await
            }
            (_, "/v1/vehicles/{id}/photos/{photo_id}") => self.acme_vehicle_photo.clone(),
            (_, "/v1/equipment/{id}/photos/{photo_id}") => self.acme_equipment_photo.clone(),
            _ => String::new(),
        };
        let url = self.app.url(
            &path
                .replace("{photo_id}", &photo)
                .replace("{id}", &id)
                .replace("{company}", "acme")
                .replace("{version}", "2")
                .replace("{kind}", "ticket.shared")
                .replace("{server_id}", &self.acme_server)
                .replace("{attachment_id}", &uuid::Uuid::now_v7().to_string()),
        );
        let url = match path {
            "/v1/kb/search" => format!("{url}?q=printer"),
            "/v1/tickets/{id}/dispatch-options" => format!("{url}?latitude=48.137&longitude=11.575"),
            "/v1/stats/equipment" => format!("{url}?model=P-200"),
            _ => url,
        };
        let builder = self.client(caller).request(Method::from_bytes(method.as_bytes()).expect("method"), url);
        match (method, path) {
            ("POST", "/v1/accounts") => builder.json(&json!({
                "name": "New Person", "username": format!("new{serial}"), "email": format!("new{serial}@example.com"),
                "company": if caller == "anonymous" { Some("acme") } else { None },
                "password": if caller == "anonymous" { Some(PASSWORD) } else { None },
            })),
            ("PUT", "/v1/accounts/{id}/password") => {
                builder.json(&json!({"current_password": PASSWORD, "new_password": PASSWORD}))
            }
            ("POST", "/v1/sessions") => builder.json(&json!({"login": self.logins["customer"], "password": PASSWORD})),
            ("POST", "/v1/password-resets") => builder.json(&json!({"email": "nobody@example.com"})),
            ("POST", "/v1/api-keys") => builder.json(&json!({"name": "matrix", "scopes": ["tickets:write"]})),
            ("POST", "/v1/tickets") => builder.json(&json!({
                "title": "Printer jam", "description": "Paper stuck in tray 2.",
                "requester": {"email": "walk-in@example.com"},
            })),
            ("PATCH", "/v1/tickets/{id}") => builder.json(&json!({"urgency": "high"})),
            ("PUT", "/v1/tickets/{id}/assignment") => builder.json(&json!({"assignee": self.technician_account})),
            ("PUT", "/v1/accounts/{id}/field-profile") => builder.json(&json!({"skills": ["P-200"]})),
            ("PUT", "/v1/tickets/{id}/status") => builder.json(&json!({"status": "closed"})),
            ("PUT", "/v1/tickets/{id}/report") => builder.json(&report()),
            ("POST", "/v1/tickets/{id}/report/approval") => {
                builder.json(&json!({"password": PASSWORD, "approve": false, "reason": "The tray still squeaks."}))
            }
            ("POST", "/v1/tickets/{id}/messages") => builder.json(&json!({"body": "Any news?"})),
            ("POST", "/v1/vehicles") | ("PUT", "/v1/vehicles/{id}") => {
                builder.json(&json!({"name": "Van 1", "plate": "AB-123", "kind": "van"}))
            }
            ("POST", "/v1/equipment") => {
                builder.json(&json!({"model": "P-200", "serial": format!("matrix {serial}"), "manufacturer": "Acme"}))
            }
            ("PUT", "/v1/equipment/{id}") => builder.json(&json!({
                "model": "P-200", "serial": "SN-ACME-1", "customer": self.customer_account,
                "site": {"address": "1 Main St", "latitude": 48.1, "longitude": 11.5},
            })),
            ("POST", "/v1/vehicles/{id}/photos" | "/v1/equipment/{id}/photos") => {
                builder.header("content-type", "image/png").body(PNG.to_vec())
            }
            ("POST", "/v1/faqs") => builder.json(&json!({"question": "Matrix?", "answers": ["Yes."]})),
            ("POST", "/v1/servers") | ("PUT", "/v1/servers/{id}") => builder.json(&server_json(serial)),
            ("POST", "/v1/webhooks") | ("PUT", "/v1/webhooks/{id}") => builder.json(&webhook_json(serial)),
            ("POST", "/v1/webhooks/{id}/replay") => builder.json(&json!({"since": "2026-01-01T00:00:00Z"})),
            ("POST", "/v1/tickets/{id}/notifications") => builder.json(&json!({"all_subscribers": true})),
            ("PUT", "/v1/accounts/me/notification-preferences") => {
                builder.json(&json!({"email": {"ticket.resolved": true}}))
            }
            ("PUT", "/v1/mail-templates/{kind}") => builder.json(&mail_template_json()),
            ("POST", "/v1/teams") | ("PUT", "/v1/teams/{id}") => {
                builder.json(&json!({"name": format!("Team {serial}"), "categories": ["printer"]}))
            }
            ("POST", "/v1/faqs/import") => builder.header("content-type", "application/x-ndjson").body(format!(
                "{{\"id\": \"import-{serial}\", \"question\": \"Imported?\", \"answers\": [\"Yes.\"]}}\n"
            )),
            ("PUT", "/v1/faqs/{id}") => {
                builder.json(&json!({"question": "How do I clear a jam?", "answers": ["Open tray 2."]}))
            }
            ("PUT", "/v1/companies/{company}/settings") => builder.json(&json!({"allow_self_signup": true})),
            ("PUT", "/v1/companies/{company}/inbound-addresses") => {
                builder.json(&json!({"addresses": ["support@acme.example"]}))
            }
            ("POST", "/v1/inbound/email") => builder
                .header("content-type", "message/rfc822")
                .body("From: a@b.example\r\nTo: support@acme.example\r\nSubject: hi\r\n\r\nhello\r\n"),
            ("PUT", "/v1/triage/policy") => builder.json(&json!({"rules": []})),
            ("PUT", "/v1/routing/rulesets") => builder.json(&json!({"rules": [
                {"name": "printers", "when": "tag:printer", "then": [{"kind": "add_tags", "tags": ["hardware"]}]}
            ]})),
            ("POST", "/v1/tickets/distribute") => {
                builder.json(&json!({"ticket_ids": [self.customer_ticket], "server_id": self.acme_server}))
            }
            ("POST", "/v1/routing/backtest") => builder.json(&json!({"filter": "tag:printer", "limit": 50})),
            ("POST", "/v1/routing/dry-run") => builder.json(&json!({
                "ticket": {"title": "Printer jam", "requester": {"email": "walk-in@example.com"}}
            })),
            _ => builder,
        }
    }
}

async fn people(app: App) -> People {
    let base = app.url("");
    // Customers may sign up (the anonymous column of POST /v1/accounts).
    app.allow_sign_up().await;
    let mut tokens = HashMap::from([("admin", app.admin_token.clone())]);
    let mut logins = HashMap::from([("admin", "admin-acme".to_owned())]);
    let (mut customer_account, mut technician_account) = (String::new(), String::new());
    for (caller, role) in [
        ("customer", "customer"),
        ("other_customer", "customer"),
        ("technician", "technician"),
        ("engineer", "engineer"),
    ] {
        let (id, token) = create_account(&app.client, &base, role, caller).await;
        match caller {
            "customer" => customer_account = id,
            "technician" => technician_account = id,
            _ => {}
        }
        tokens.insert(caller, token);
        logins.insert(caller, caller.to_owned());
    }
    tokens.insert("other_admin", common::bootstrap_company(&app.config, &base, "globex").await);
    logins.insert("other_admin", "admin-globex".to_owned());

    let customer = client_with_token(&tokens["customer"]);
    let customer_ticket = post_and_wait(&customer, &base, "My printer jams").await;
    // The second ticket: assigned, started, its report submitted.
    let report_ticket = post_and_wait(&customer, &base, "My scanner jams").await;
    let technician = client_with_token(&tokens["technician"]);
    for (client, path, body) in [
        (&app.client, "assignment", json!({"assignee": technician_account})),
        (&technician, "status", json!({"status": "in_progress"})),
        (&technician, "report", report()),
    ] {
        let response =
            client.put(app.url(&format!("/v1/tickets/{report_ticket}/{path}"))).json(&body).send().await.expect("send");
        assert_eq!(response.status(), StatusCode::OK, "{path}: {:?}", response.text().await);
    }
    let response = app
        .client
        .put(app.url("/v1/faqs/acme-jam"))
        .json(&json!({"question": "How do I clear a jam?", "answers": ["Open tray 2."]}))
        .send()
        .await
        .expect("send");
    assert!(response.status().is_success());
    let acme_vehicle = created(&app.client, &app.url("/v1/vehicles"), json!({"name": "Van 7"})).await;
    let acme_equipment = created(
        &app.client,
        &app.url("/v1/equipment"),
        json!({"model": "P-200", "serial": "SN-ACME-1", "customer": customer_account}),
    )
    .await;
    let acme_vehicle_photo = photo(&app.client, &app.url(&format!("/v1/vehicles/{acme_vehicle}/photos"))).await;
    let acme_equipment_photo = photo(&app.client, &app.url(&format!("/v1/equipment/{acme_equipment}/photos"))).await;
    let acme_server = created(&app.client, &app.url("/v1/servers"), server_json(0)).await;
    let acme_team = created(&app.client, &app.url("/v1/teams"), json!({"name": "Printers"})).await;
    let acme_webhook = created(&app.client, &app.url("/v1/webhooks"), webhook_json(0)).await;
    // Two versions of acme's routing rules, so that version 2 exists.
    for _ in 0..2 {
        let response =
            app.client.put(app.url("/v1/routing/rulesets")).json(&json!({"rules": []})).send().await.expect("send");
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    People {
        app,
        tokens,
        logins,
        customer_account,
        technician_account,
        customer_ticket,
        report_ticket,
        acme_vehicle,
        acme_equipment,
        acme_vehicle_photo,
        acme_equipment_photo,
        acme_server,
        acme_team,
        acme_webhook,
        acme_faq: "acme-jam".into(),
        serial: 0,
    }
}

/// A 1×1 PNG.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

/// Uploads a photo to `url`: its id.
async fn photo(client: &reqwest::Client, url: &str) -> String {
    let response = client.post(url).header("content-type", "image/png").body(PNG.to_vec()).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::CREATED);
    let photo: Value = response.json().await.expect("JSON");
    photo["id"].as_str().expect("id").to_owned()
}

/// A team server's settings.
fn server_json(serial: usize) -> Value {
    json!({"name": format!("Desk {serial}"), "base_url": "http://desk.example/deliveries", "region": "eu"})
}

/// A webhook endpoint's settings.
fn webhook_json(serial: usize) -> Value {
    json!({"url": format!("https://hooks.example/{serial}"), "event_types": ["ticket.created"], "filter": "urgency>=high"})
}

/// POSTs `body` as acme's admin and returns the new object's id.
async fn created(admin: &reqwest::Client, url: &str, body: Value) -> String {
    let response = admin.post(url).json(&body).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::CREATED, "{url}");
    let created: Value = response.json().await.expect("JSON");
    created["id"].as_str().expect("id").to_owned()
}

/// A submitted report.
fn report() -> Value {
    json!({"malfunction": "Worn pickup roller.", "solution": "Replaced the roller.", "parts": ["roller"], "submit": true})
}

/// Posts a ticket as `client` and waits until it is stored: its id.
async fn post_and_wait(client: &reqwest::Client, base: &str, title: &str) -> String {
    let response = client
        .post(format!("{base}/v1/tickets"))
        .json(&json!({"title": title, "description": "Every morning.", "requester": {"email": "x@y.co"}}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let id = response.json::<Value>().await.expect("JSON")["id"].as_str().expect("id").to_owned();
    common::wait_for_ok(client, &format!("{base}/v1/tickets/{id}")).await;
    id
}

/// A new vehicle of the admin's company: its id.
async fn every_route_answers_each_caller_as_the_table_says(app: App) {
    let expected = expectations();
    let mut routes: Vec<(&str, &str)> =
        switchboard_api::ROUTES.iter().chain(switchboard_ingest::ROUTES).map(|rule| (rule.method, rule.path)).collect();
    let missing: Vec<_> = routes.iter().filter(|route| !expected.contains_key(*route)).collect();
    assert!(missing.is_empty(), "routes without a row in the matrix: {missing:?}");
    assert_eq!(routes.len(), expected.len(), "rows for routes that do not exist");
    // Routes that end sessions go last, each followed by signing in again.
    routes.sort_by_key(|(method, path)| {
        matches!((*method, *path), ("PUT", "/v1/accounts/{id}/password") | ("DELETE", "/v1/sessions/current"))
    });

    let mut people = people(app).await;
    let mut wrong = Vec::new();
    for (method, path) in routes {
        for (column, caller) in CALLERS.iter().enumerate() {
            let response = people.request(method, path, caller).await.send().await.expect("send");
            let status = response.status().as_u16();
            let want = expected[&(method, path)][column];
            if status != want {
                let body = response.text().await.unwrap_or_default();
                wrong.push(format!("{method} {path} as {caller}: {status}, expected {want}: {body}"));
            } else if status >= 400 {
                // Every refusal is the JSON error.
                let body: Value = response.json().await.unwrap_or_default();
                assert!(body["error"]["code"].is_string(), "{method} {path} as {caller}: {body}");
            }
            if matches!(path, "/v1/accounts/{id}/password" | "/v1/sessions/current") {
                people.sign_in_again().await;
            }
        }
    }
    assert!(wrong.is_empty(), "{} cells differ:\n{}", wrong.len(), wrong.join("\n"));
    people.app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_route_matrix_on_sqlite() {
    every_route_answers_each_caller_as_the_table_says(spawn_app_with(|_| {}).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_route_matrix_on_postgresql() {
    let Some(database) = switchboard_store::testing::fresh_postgres_database().await else { return };
    let app = spawn_app_with(|config| config.store.url = Some(Secret::new(database))).await;
    every_route_answers_each_caller_as_the_table_says(app).await;
}

fn mail_template_json() -> Value {
    json!({"subject": "Ticket {{ ticket.title }}", "text": "{{ ticket_url }}", "html": "<p>{{ ticket.title }}</p>"})
}
