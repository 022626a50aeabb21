//! The intake: `POST /v1/tickets`, the public support forms and mail in.
//!
//! Ingest validates a submission, wraps it in an envelope and produces it to
//! `tickets.submitted`. It answers `202 Accepted` only after the bus has made
//! the ticket durable; when the bus cannot, it answers `503` with
//! `Retry-After`, so a client never holds an id for a ticket that may be lost.
//! Nothing else happens here: classification, storage and notification are
//! later stages.
//!
//! Besides JSON, the public support form of each company that switches it
//! on (`/support/{company}`, the `form` module) files tickets with photos.
//! Files are stored ([`attachments`]) before the ticket is produced.
//! [`email`] parses inbound support mail into what a ticket needs (sender,
//! recipients, thread ids, the reply text, attachments, whether it is an
//! automatic message).

pub mod attachments;
pub mod email;
mod form;
mod submit;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::post;
use switchboard_bus::Bus;
use switchboard_core::Permission;
use switchboard_core::config::{AttachmentsConfig, Config, IngestConfig};
use switchboard_store::{FileStore, Store};
use switchboard_web::openapi::Link;
use switchboard_web::{Access, Auth, RouteRule, WindowCounter, authorize};

/// The header that carries a request's id (set by the HTTP layer when the
/// client sends none).
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// What the intake handlers need. Cheap to clone.
#[derive(Clone)]
pub struct IngestState {
    pub(crate) bus: Arc<dyn Bus>,
    pub(crate) store: Store,
    pub(crate) submitted_topic: Arc<str>,
    pub(crate) config: Arc<IngestConfig>,
    /// The longest a produce may take before the client gets a 503.
    pub(crate) produce_timeout: Duration,
    pub(crate) auth: Auth,
    /// Where the files of submissions go, and their limits.
    pub(crate) files: FileStore,
    pub(crate) attachments: Arc<AttachmentsConfig>,
    pub(crate) forms: Arc<form::Forms>,
    /// Mails per sender and company in the last hour.
    pub(crate) mail_senders: Arc<WindowCounter>,
    /// The address Switchboard's own mail comes from (a mail from it is a
    /// loop).
    pub(crate) mail_from: Option<String>,
}

impl std::fmt::Debug for IngestState {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("IngestState").field("topic", &self.submitted_topic).finish()
    }
}

impl IngestState {
    /// The intake of `config`, writing to `bus` and keeping files in `files`.
    pub fn new(bus: Arc<dyn Bus>, store: Store, files: FileStore, config: &Config, auth: Auth) -> Self {
        Self {
            auth,
            bus,
            store,
            files,
            attachments: Arc::new(config.attachments.clone()),
            submitted_topic: config.topics().submitted().into(),
            produce_timeout: config.ingest.produce_timeout(),
            forms: Arc::new(form::Forms::new(config.ingest.web_form.clone())),
            mail_senders: Arc::new(WindowCounter::new(Duration::from_secs(3600))),
            mail_from: email::bare_address(&config.mail.from),
            config: Arc::new(config.ingest.clone()),
        }
    }
}

/// The intake routes. Body size is enforced by the handler itself (so the
/// 413 is a JSON error like every other); errors are `switchboard_web`'s.
pub fn router(state: IngestState) -> Router {
    let authorization = (state.auth.clone(), ROUTES);
    Router::new()
        .route("/v1/tickets", post(submit::submit_ticket))
        .route("/v1/inbound/email", post(email::receive_email))
        .route_layer(from_fn_with_state(authorization, authorize))
        .with_state(state.clone())
        .merge(form::router(state))
}

/// The intake routes and who may call them: a session or an API key with
/// `tickets:write`; mail with an `inbound:email` key. (The public form's
/// pages are outside the API.)
pub const ROUTES: &[RouteRule] = &[
    RouteRule::new("POST", "/v1/tickets", Access::Needs(Permission::TicketsCreate))
        .doc("Submits a ticket: 202 once it is durable on the bus; an `Idempotency-Key` makes retries safe")
        .returns(&[202])
        .responds::<submit::Accepted>()
        .links(&[Link::to_id("GET", "/v1/tickets/{id}", "id"), Link::to_id("GET", "/v1/tickets/{id}/history", "id")])
        .json::<switchboard_core::NewTicket>(),
    RouteRule::new("POST", "/v1/inbound/email", Access::Needs(Permission::InboundEmail))
        .doc(
            "Takes one raw e-mail (RFC 5322, as an MTA pipe or a mail provider's inbound webhook sends it): a new \
             ticket, a message on the ticket it answers, or nothing for automatic mail; 202 once it is durable",
        )
        .returns(&[202])
        .responds::<email::Received>()
        .text_body("message/rfc822"),
];
