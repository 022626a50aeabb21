//! The REST API for people and admins. Bodies, query strings, path
//! parameters and errors go through `switchboard-web`, like every HTTP
//! surface; the knowledge base is reached through
//! [`switchboard_core::kb::KnowledgeSearch`], so this crate links neither
//! the classifiers nor the search engine.
//!
//! Routes:
//! - tickets: `GET /v1/tickets`, `GET /v1/tickets/{id}`, `PATCH /v1/tickets/{id}`
//!   (staff labels);
//! - knowledge base: `GET /v1/kb/search`, `POST /v1/faqs`, `GET /v1/faqs`,
//!   `GET|PUT|DELETE /v1/faqs/{id}`, `POST /v1/faqs/import`;
//! - settings: `GET|PUT /v1/companies/{company}/settings`;
//! - triage admin: `GET /v1/triage/models`, `POST /v1/triage/models/{id}/activate`,
//!   `GET|PUT /v1/triage/policy`.
//!
//! Accounts and auth come next, as a layer on this router; the admin routes
//! are the ones it will restrict.

pub mod faqs;
mod kb;
mod settings;
mod tickets;
mod triage;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use switchboard_bus::Bus;
use switchboard_core::kb::KnowledgeSearch;
use switchboard_core::topics::Topics;
use switchboard_store::Store;

/// What the API handlers need. Cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    pub(crate) store: Store,
    pub(crate) bus: Arc<dyn Bus>,
    pub(crate) topics: Topics,
    /// This process's knowledge-base index, if it holds one.
    pub(crate) knowledge_base: Option<Arc<dyn KnowledgeSearch>>,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("ApiState").field("knowledge_base", &self.knowledge_base.is_some()).finish()
    }
}

impl ApiState {
    pub fn new(
        store: Store,
        bus: Arc<dyn Bus>,
        topics: Topics,
        knowledge_base: Option<Arc<dyn KnowledgeSearch>>,
    ) -> Self {
        Self { store, bus, topics, knowledge_base }
    }
}

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v1/tickets", get(tickets::list_tickets))
        .route("/v1/tickets/{id}", get(tickets::get_ticket).patch(tickets::patch_ticket))
        .route("/v1/kb/search", get(kb::search))
        .route("/v1/faqs", get(faqs::list_faqs).post(faqs::create_faq))
        .route("/v1/faqs/import", post(faqs::import_faqs))
        .route("/v1/faqs/{id}", get(faqs::get_faq).put(faqs::put_faq).delete(faqs::delete_faq))
        .route("/v1/companies/{company}/settings", get(settings::get_settings).put(settings::put_settings))
        .route("/v1/triage/models", get(triage::list_models))
        .route("/v1/triage/models/{id}/activate", post(triage::activate_model))
        .route("/v1/triage/policy", get(triage::get_policy).put(triage::put_policy))
        .with_state(state)
}
