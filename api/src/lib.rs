//! The REST API for people and admins. Bodies, query strings, path
//! parameters and errors go through `switchboard-web`, like every HTTP
//! surface; the knowledge base is reached through
//! [`switchboard_core::kb::KnowledgeSearch`], so this crate links neither
//! the classifiers nor the search engine.
//!
//! Every route and the permission it needs are in [`ROUTES`]; the
//! `switchboard_web::authorize` middleware enforces it, so a route added to
//! the router without a rule there is refused (and fails the role × route
//! test). See `README.md` for what each route does.

mod accounts;
mod api_keys;
mod attachments;
mod dispatch;
mod equipment;
pub mod faqs;
mod kb;
mod lifecycle;
mod live;
mod mail;
mod photos;
mod routing;
mod servers;
mod settings;
mod stats;
mod teams;
mod tickets;
mod triage;
mod vehicles;
mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post, put};
use switchboard_bus::Bus;
use switchboard_core::Permission;
use switchboard_core::Ticket;
use switchboard_core::config::Config;
use switchboard_core::events::TicketMessage;
use switchboard_core::kb::Faq;
use switchboard_core::kb::KnowledgeSearch;
use switchboard_core::policy::UrgencyPolicy;
use switchboard_core::topics::Topics;
use switchboard_store::{FileStore, Store};
use switchboard_web::openapi::Link;
use switchboard_web::{Access, Auth, RouteRule, authorize};
use tokio_util::sync::CancellationToken;

/// What the API handlers need. Cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    pub(crate) store: Store,
    pub(crate) bus: Arc<dyn Bus>,
    pub(crate) topics: Topics,
    /// This process's knowledge-base index, if it holds one.
    pub(crate) knowledge_base: Option<Arc<dyn KnowledgeSearch>>,
    pub(crate) auth: Auth,
    /// The configuration: where deliveries and webhooks may go (checked
    /// when an admin sets a destination), the webhook secrets' overlap.
    pub(crate) config: Arc<Config>,
    /// This process's reader of the live-update feed.
    pub(crate) live: live::LiveHub,
    /// The bytes of tickets' attachments.
    pub(crate) files: FileStore,
    /// Travel estimates for the dispatch assistant.
    pub(crate) travel: switchboard_dispatch::TravelEstimator,
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
        knowledge_base: Option<Arc<dyn KnowledgeSearch>>,
        auth: Auth,
        files: FileStore,
        config: Arc<Config>,
        shutdown: CancellationToken,
    ) -> Result<Self, switchboard_core::Error> {
        let travel = switchboard_dispatch::TravelEstimator::from_config(&config.dispatch.travel)?;
        let live = live::LiveHub::new(store.clone(), &config.live, shutdown);
        Ok(Self { store, bus, topics: config.topics(), knowledge_base, auth, config, live, files, travel })
    }
}

const fn rule(method: &'static str, path: &'static str, permission: Permission) -> RouteRule {
    RouteRule::new(method, path, Access::Needs(permission))
}

const fn public(method: &'static str, path: &'static str) -> RouteRule {
    RouteRule::new(method, path, Access::Public)
}

const ACCOUNT_LINKS: &[Link] = &[Link::to_id("GET", "/v1/accounts/{id}", "account/id")];
const API_KEY_LINKS: &[Link] = &[Link::to_id("DELETE", "/v1/api-keys/{id}", "id")];
const FIRST_TICKET_LINKS: &[Link] = &[
    Link::to_id("GET", "/v1/tickets/{id}", "items/0/id"),
    Link::to_id("GET", "/v1/tickets/{id}/history", "items/0/id"),
    Link::to_id("GET", "/v1/tickets/{id}/deliveries", "items/0/id"),
    Link::to_id("GET", "/v1/tickets/{id}/messages", "items/0/id"),
    Link::to_id("POST", "/v1/tickets/{id}/messages", "items/0/id"),
    Link::to_id("GET", "/v1/tickets/{id}/report", "items/0/id"),
    Link::to_id("PUT", "/v1/tickets/{id}/assignment", "items/0/id"),
    Link::to_id("PUT", "/v1/tickets/{id}/status", "items/0/id"),
    Link::to_id("PATCH", "/v1/tickets/{id}", "items/0/id"),
];
/// What a stored file is served as: a picture inline, anything else as a
/// download.
const FILE_TYPES: &[&str] = &["image/*", "application/octet-stream"];
const VEHICLE_LINKS: &[Link] = &[
    Link::to_id("GET", "/v1/vehicles/{id}", "id"),
    Link::to_id("PUT", "/v1/vehicles/{id}", "id"),
    Link::to_id("DELETE", "/v1/vehicles/{id}", "id"),
];
const EQUIPMENT_LINKS: &[Link] = &[
    Link::to_id("GET", "/v1/equipment/{id}", "id"),
    Link::to_id("PUT", "/v1/equipment/{id}", "id"),
    Link::to_id("DELETE", "/v1/equipment/{id}", "id"),
];
const SERVER_LINKS: &[Link] = &[
    Link::to_id("GET", "/v1/servers/{id}", "id"),
    Link::to_id("PUT", "/v1/servers/{id}", "id"),
    Link::to_id("DELETE", "/v1/servers/{id}", "id"),
];
const WEBHOOK_LINKS: &[Link] = &[
    Link::to_id("GET", "/v1/webhooks/{id}", "id"),
    Link::to_id("PUT", "/v1/webhooks/{id}", "id"),
    Link::to_id("DELETE", "/v1/webhooks/{id}", "id"),
    Link::to_id("POST", "/v1/webhooks/{id}/rotate-secret", "id"),
    Link::to_id("GET", "/v1/webhooks/{id}/attempts", "id"),
    Link::to_id("POST", "/v1/webhooks/{id}/replay", "id"),
];
const TEAM_LINKS: &[Link] = &[
    Link::to_id("GET", "/v1/teams/{id}", "id"),
    Link::to_id("PUT", "/v1/teams/{id}", "id"),
    Link::to_id("DELETE", "/v1/teams/{id}", "id"),
];
const FAQ_LINKS: &[Link] = &[
    Link::to_id("GET", "/v1/faqs/{id}", "id"),
    Link::to_id("PUT", "/v1/faqs/{id}", "id"),
    Link::to_id("DELETE", "/v1/faqs/{id}", "id"),
];

/// Every API route and who may call it.
pub const ROUTES: &[RouteRule] = &[
    public("POST", "/v1/accounts")
        .doc("Creates an account: self sign-up as a customer, or any role by the company's admin")
        .responds::<accounts::CreatedAccount>()
        .links(ACCOUNT_LINKS)
        .returns(&[201])
        .json::<accounts::NewAccountInput>(),
    rule("GET", "/v1/accounts", Permission::AccountsManage)
        .doc("Lists the company's accounts")
        .responds::<accounts::AccountList>(),
    rule("GET", "/v1/accounts/me", Permission::SignedIn)
        .doc("The signed-in account")
        .responds::<accounts::AccountView>(),
    rule("GET", "/v1/accounts/me/notification-preferences", Permission::SignedIn)
        .doc("Which mails the signed-in account gets, by kind (password resets always go out)")
        .responds::<mail::NotificationPreferences>(),
    rule("PUT", "/v1/accounts/me/notification-preferences", Permission::SignedIn)
        .doc("Turns kinds of mail on (`true`) or off for the signed-in account; kinds left out stay as they are")
        .responds::<mail::NotificationPreferences>()
        .json::<mail::NotificationPreferences>(),
    rule("GET", "/v1/accounts/{id}", Permission::SignedIn)
        .doc("One account (yourself, or any of the company's for its admin)")
        .responds::<accounts::AccountView>(),
    rule("DELETE", "/v1/accounts/{id}", Permission::SignedIn)
        .doc("Deletes an account: sessions and keys revoked, personal data removed")
        .returns(&[204]),
    public("PUT", "/v1/accounts/{id}/password")
        .doc("Sets a password, with the current one or a one-time token")
        .returns(&[204])
        .json::<accounts::PasswordInput>(),
    public("POST", "/v1/sessions")
        .doc("Signs in with username or e-mail and password: a bearer token")
        .responds::<accounts::SessionView>()
        .returns(&[201])
        .json::<accounts::SignInInput>(),
    rule("DELETE", "/v1/sessions/current", Permission::SignedIn)
        .doc("Signs out: revokes the token sent")
        .returns(&[204]),
    public("POST", "/v1/password-resets")
        .doc("Requests a password reset e-mail (always 202)")
        .responds::<accounts::ResetRequested>()
        .returns(&[202])
        .json::<accounts::ResetInput>(),
    rule("POST", "/v1/api-keys", Permission::ApiKeysManage)
        .doc("Creates an API key; its secret is shown once")
        .responds::<api_keys::CreatedKey>()
        .links(API_KEY_LINKS)
        .returns(&[201])
        .json::<api_keys::NewKeyInput>(),
    rule("GET", "/v1/api-keys", Permission::ApiKeysManage)
        .doc("Lists the company's API keys (never their secrets)")
        .responds::<api_keys::KeyList>(),
    rule("DELETE", "/v1/api-keys/{id}", Permission::ApiKeysManage).doc("Revokes an API key").returns(&[204]),
    rule("GET", "/v1/tickets", Permission::TicketsRead)
        .doc("Lists tickets the caller may see, newest first, with filters")
        .responds::<tickets::TicketList>()
        .links(FIRST_TICKET_LINKS)
        .query::<tickets::ListParameters>(),
    rule("GET", "/v1/tickets/{id}", Permission::TicketsRead)
        .doc("One ticket; for staff, with its routing decision, trace and ruleset version")
        .responds::<tickets::TicketDetail>(),
    rule("GET", "/v1/tickets/{id}/deliveries", Permission::DeliveriesRead)
        .doc("The ticket's deliveries to team servers: attempts, states, fallbacks")
        .responds::<tickets::DeliveryList>(),
    rule("PATCH", "/v1/tickets/{id}", Permission::TicketsLabel)
        .doc("Corrects the triage labels (category, urgency)")
        .responds::<Ticket>()
        .json::<tickets::LabelsInput>(),
    rule("PUT", "/v1/tickets/{id}/assignment", Permission::TicketsAssign)
        .doc("Assigns an engineer or technician, with a vehicle")
        .responds::<Ticket>()
        .json::<lifecycle::AssignmentInput>(),
    rule("PUT", "/v1/tickets/{id}/status", Permission::TicketsAct)
        .doc("Moves the ticket along its lifecycle")
        .responds::<Ticket>()
        .json::<lifecycle::StatusInput>(),
    rule("GET", "/v1/tickets/{id}/history", Permission::TicketsRead)
        .doc("Every step of the ticket, with its actor")
        .responds::<lifecycle::History>(),
    rule("DELETE", "/v1/tickets/{id}", Permission::TicketsDelete).doc("Deletes a ticket").returns(&[204]),
    rule("GET", "/v1/tickets/{id}/report", Permission::TicketsRead)
        .doc("The engineer's report")
        .responds::<lifecycle::ReportView>(),
    rule("PUT", "/v1/tickets/{id}/report", Permission::TicketsAct)
        .doc("Saves or submits the engineer's report")
        .responds::<lifecycle::ReportView>()
        .json::<lifecycle::ReportInput>(),
    rule("POST", "/v1/tickets/{id}/report/approval", Permission::TicketsAct)
        .doc("The customer approves or rejects the report, confirming with their password")
        .responds::<lifecycle::ReportView>()
        .json::<lifecycle::ApprovalInput>(),
    rule("GET", "/v1/tickets/{id}/attachments", Permission::TicketsRead)
        .doc("The ticket's files: photos from the web form, e-mail attachments")
        .responds::<attachments::AttachmentList>(),
    rule("GET", "/v1/tickets/{id}/attachments/{attachment_id}", Permission::TicketsRead)
        .doc("One file's bytes: pictures inline, anything else as a download (`application/octet-stream`)")
        .streams(FILE_TYPES),
    rule("GET", "/v1/tickets/{id}/messages", Permission::TicketsRead)
        .doc("The ticket's conversation")
        .responds::<lifecycle::MessageList>(),
    rule("POST", "/v1/tickets/{id}/messages", Permission::TicketsAct)
        .doc("Adds a message (staff may mark it internal)")
        .responds::<TicketMessage>()
        .returns(&[201])
        .json::<lifecycle::MessageInput>(),
    rule("GET", "/v1/tickets/{id}/dispatch-options", Permission::TicketsAssign)
        .doc("Engineers, technicians and vehicles ranked for the ticket by travel time to its equipment's site (or `latitude`/`longitude`), skills and load; each estimate names its source, and a failed provider's fallback says why")
        .responds::<dispatch::DispatchView>()
        .query::<dispatch::SiteParameters>(),
    rule("GET", "/v1/accounts/{id}/field-profile", Permission::TicketsAssign)
        .doc("An engineer's or technician's skills and home base")
        .responds::<dispatch::FieldProfileView>(),
    rule("PUT", "/v1/accounts/{id}/field-profile", Permission::TicketsAssign)
        .doc("Sets an engineer's or technician's skills (equipment models, ticket categories) and home base")
        .responds::<dispatch::FieldProfileView>()
        .json::<dispatch::FieldProfileView>(),
    rule("GET", "/v1/vehicles", Permission::VehiclesManage)
        .doc("Lists the company's vehicles")
        .responds::<vehicles::VehicleList>(),
    rule("POST", "/v1/vehicles", Permission::VehiclesManage)
        .doc("Adds a vehicle")
        .responds::<vehicles::VehicleView>()
        .links(VEHICLE_LINKS)
        .returns(&[201])
        .json::<vehicles::VehicleInput>(),
    rule("GET", "/v1/vehicles/{id}", Permission::VehiclesManage).doc("One vehicle").responds::<vehicles::VehicleView>(),
    rule("PUT", "/v1/vehicles/{id}", Permission::VehiclesManage)
        .doc("Changes a vehicle")
        .responds::<vehicles::VehicleView>()
        .json::<vehicles::VehicleInput>(),
    rule("DELETE", "/v1/vehicles/{id}", Permission::VehiclesManage)
        .doc("Removes a vehicle that no open ticket uses")
        .returns(&[204]),
    rule("GET", "/v1/vehicles/{id}/photos", Permission::VehiclesManage)
        .doc("The vehicle's photos")
        .responds::<photos::PhotoList>(),
    rule("POST", "/v1/vehicles/{id}/photos", Permission::VehiclesManage)
        .doc("Adds a photo: the picture itself as the body (its type is read from the bytes), its name in `filename`; at most 20 per vehicle")
        .responds::<switchboard_core::Attachment>()
        .returns(&[201])
        .query::<photos::UploadParameters>()
        .binary_body(),
    rule("GET", "/v1/vehicles/{id}/photos/{photo_id}", Permission::VehiclesManage)
        .doc("One photo's bytes, inline")
        .streams(FILE_TYPES),
    rule("DELETE", "/v1/vehicles/{id}/photos/{photo_id}", Permission::VehiclesManage)
        .doc("Removes a photo")
        .returns(&[204]),
    rule("GET", "/v1/equipment", Permission::EquipmentRead)
        .doc("Lists the company's equipment (a customer's: their own)")
        .responds::<equipment::EquipmentList>()
        .query::<equipment::ListParameters>(),
    rule("POST", "/v1/equipment", Permission::EquipmentWrite)
        .doc("Adds equipment to the registry; a serial the company has is 409 serial_taken")
        .responds::<equipment::EquipmentView>()
        .links(EQUIPMENT_LINKS)
        .returns(&[201])
        .json::<equipment::EquipmentInput>(),
    rule("GET", "/v1/equipment/{id}", Permission::EquipmentRead)
        .doc("One piece of equipment")
        .responds::<equipment::EquipmentView>(),
    rule("PUT", "/v1/equipment/{id}", Permission::EquipmentWrite)
        .doc("Changes a piece of equipment")
        .responds::<equipment::EquipmentView>()
        .json::<equipment::EquipmentInput>(),
    rule("DELETE", "/v1/equipment/{id}", Permission::EquipmentWrite)
        .doc("Removes a piece of equipment; tickets keep the model and serial they name")
        .returns(&[204]),
    rule("GET", "/v1/equipment/{id}/photos", Permission::EquipmentRead)
        .doc("The equipment's photos")
        .responds::<photos::PhotoList>(),
    rule("POST", "/v1/equipment/{id}/photos", Permission::EquipmentWrite)
        .doc("Adds a photo: the picture itself as the body (its type is read from the bytes), its name in `filename`; at most 20 per unit")
        .responds::<switchboard_core::Attachment>()
        .returns(&[201])
        .query::<photos::UploadParameters>()
        .binary_body(),
    rule("GET", "/v1/equipment/{id}/photos/{photo_id}", Permission::EquipmentRead)
        .doc("One photo's bytes, inline")
        .streams(FILE_TYPES),
    rule("DELETE", "/v1/equipment/{id}/photos/{photo_id}", Permission::EquipmentWrite)
        .doc("Removes a photo")
        .returns(&[204]),
    rule("GET", "/v1/stats/equipment", Permission::StatsRead)
        .doc("Statistics of one equipment model: failures, repairs, MTTR, MTBF per unit, repeat failures, first-time fixes, malfunctions, solutions, parts; CSV with `Accept: text/csv`")
        .responds::<switchboard_store::EquipmentStats>()
        .query::<stats::StatsParameters>(),
    rule("GET", "/v1/kb/search", Permission::KnowledgeRead)
        .doc("Searches FAQs and past solutions")
        .responds::<kb::SearchResults>()
        .query::<kb::SearchParameters>(),
    rule("GET", "/v1/faqs", Permission::KnowledgeRead)
        .doc("Lists FAQs")
        .responds::<faqs::FaqList>()
        .query::<faqs::ListParameters>(),
    rule("POST", "/v1/faqs", Permission::KnowledgeWrite)
        .doc("Adds an FAQ")
        .responds::<Faq>()
        .links(FAQ_LINKS)
        .returns(&[201])
        .json::<switchboard_core::kb::NewFaq>(),
    rule("POST", "/v1/faqs/import", Permission::KnowledgeWrite)
        .doc("Imports FAQs, one JSON object per line")
        .responds::<faqs::ImportSummary>()
        .text_body("application/x-ndjson"),
    rule("GET", "/v1/faqs/{id}", Permission::KnowledgeRead).doc("One FAQ").responds::<Faq>(),
    rule("PUT", "/v1/faqs/{id}", Permission::KnowledgeWrite)
        .doc("Creates or replaces an FAQ")
        .responds::<Faq>()
        .returns(&[200, 201])
        .json::<switchboard_core::kb::NewFaq>(),
    rule("DELETE", "/v1/faqs/{id}", Permission::KnowledgeWrite).doc("Deletes an FAQ").returns(&[204]),
    rule("GET", "/v1/companies/{company}/settings", Permission::SettingsManage)
        .doc("The company's settings")
        .responds::<settings::CompanySettings>(),
    rule("GET", "/v1/companies/{company}/inbound-addresses", Permission::SettingsManage)
        .doc("The addresses the company receives support mail at")
        .responds::<settings::InboundAddresses>(),
    rule("PUT", "/v1/companies/{company}/inbound-addresses", Permission::SettingsManage)
        .doc("Replaces the addresses the company receives support mail at (each one company's alone)")
        .responds::<settings::InboundAddresses>()
        .json::<settings::InboundAddresses>(),
    rule("PUT", "/v1/companies/{company}/settings", Permission::SettingsManage)
        .doc("Changes the company's settings")
        .responds::<settings::CompanySettings>()
        .json::<settings::SettingsInput>(),
    rule("GET", "/v1/triage/models", Permission::TriageManage)
        .doc("The company's triage models and the installation's, and which are in use")
        .responds::<triage::ModelList>(),
    rule("POST", "/v1/triage/models/{id}/activate", Permission::TriageManage)
        .doc("Triages the company's tickets with one of its own models")
        .returns(&[204]),
    rule("POST", "/v1/triage/models/{id}/deactivate", Permission::TriageManage)
        .doc("Stops using the company's own model; the installation's serves it again")
        .returns(&[204]),
    rule("GET", "/v1/triage/policy", Permission::TriageManage)
        .doc("The company's urgency policy")
        .responds::<UrgencyPolicy>(),
    rule("PUT", "/v1/triage/policy", Permission::TriageManage)
        .doc("Replaces the company's urgency policy")
        .responds::<UrgencyPolicy>()
        .json::<UrgencyPolicy>(),
    rule("GET", "/v1/servers", Permission::RoutingManage)
        .doc("Lists the company's team servers")
        .responds::<servers::ServerList>(),
    rule("POST", "/v1/servers", Permission::RoutingManage)
        .doc("Adds a team server (a signing secret is made when none is given)")
        .responds::<servers::ServerView>()
        .links(SERVER_LINKS)
        .returns(&[201])
        .json::<servers::ServerInput>(),
    rule("GET", "/v1/servers/{id}", Permission::RoutingManage)
        .doc("One team server, with its signing secret")
        .responds::<servers::ServerView>(),
    rule("PUT", "/v1/servers/{id}", Permission::RoutingManage)
        .doc("Replaces a team server's settings (the signing secret stays unless one is given)")
        .responds::<servers::ServerView>()
        .json::<servers::ServerInput>(),
    rule("DELETE", "/v1/servers/{id}", Permission::RoutingManage)
        .doc("Removes a team server no team is hosted on")
        .returns(&[204]),
    rule("GET", "/v1/teams", Permission::RoutingManage).doc("Lists the company's teams").responds::<teams::TeamList>(),
    rule("POST", "/v1/teams", Permission::RoutingManage)
        .doc("Adds a team: the categories it handles, its members and its servers")
        .responds::<teams::TeamView>()
        .links(TEAM_LINKS)
        .returns(&[201])
        .json::<teams::TeamInput>(),
    rule("GET", "/v1/teams/{id}", Permission::RoutingManage).doc("One team").responds::<teams::TeamView>(),
    rule("PUT", "/v1/teams/{id}", Permission::RoutingManage)
        .doc("Replaces a team")
        .responds::<teams::TeamView>()
        .json::<teams::TeamInput>(),
    rule("DELETE", "/v1/teams/{id}", Permission::RoutingManage).doc("Removes a team").returns(&[204]),
    rule("GET", "/v1/routing/rulesets", Permission::RoutingManage)
        .doc("Every version of the company's routing ruleset, newest first")
        .responds::<routing::RulesetList>(),
    rule("PUT", "/v1/routing/rulesets", Permission::RoutingManage)
        .doc("Saves the routing rules as a new version of the ruleset and makes it active")
        .responds::<routing::RulesetView>()
        .returns(&[201])
        .json::<switchboard_core::routing::RulesetInput>(),
    rule("GET", "/v1/routing/rulesets/{version}", Permission::RoutingManage)
        .doc("One version of the routing ruleset (`active` for the one in use)")
        .responds::<routing::RulesetView>(),
    rule("POST", "/v1/routing/rulesets/{version}/activate", Permission::RoutingManage)
        .doc("Makes an earlier (or later) version the active one")
        .responds::<routing::RulesetView>(),
    rule("POST", "/v1/routing/dry-run", Permission::RoutingManage)
        .doc("The routing decision and trace a draft ruleset (or the active one) gives a ticket; nothing changes")
        .responds::<routing::DryRunView>()
        .json::<routing::DryRunInput>(),
    rule("POST", "/v1/tickets/{id}/distribute/{server_id}", Permission::RoutingManage)
        .doc("Re-delivers tickets (one id, or several separated by commas) to a team server, by hand")
        .responds::<routing::Distribution>()
        .returns(&[202]),
    rule("POST", "/v1/tickets/distribute", Permission::RoutingManage)
        .doc("Re-delivers the listed tickets to a team server, by hand")
        .responds::<routing::Distribution>()
        .returns(&[202])
        .json::<routing::DistributeInput>(),
    rule("POST", "/v1/routing/backtest", Permission::RoutingManage)
        .doc("Replays a draft ruleset (or the active one) over the latest tickets and counts what would change")
        .responds::<routing::BacktestView>()
        .json::<routing::BacktestInput>(),
    rule("GET", "/v1/webhooks", Permission::WebhooksManage)
        .doc("Lists the company's webhook endpoints (never their secrets)")
        .responds::<webhooks::WebhookList>(),
    rule("POST", "/v1/webhooks", Permission::WebhooksManage)
        .doc("Adds a webhook endpoint: its URL, the event types and a filter; its signing secret is made")
        .responds::<webhooks::WebhookView>()
        .links(WEBHOOK_LINKS)
        .returns(&[201])
        .json::<webhooks::WebhookInput>(),
    rule("GET", "/v1/webhooks/event-types", Permission::WebhooksManage)
        .doc("The event catalogue: every type a webhook can receive")
        .responds::<webhooks::EventTypeList>(),
    rule("GET", "/v1/webhooks/{id}", Permission::WebhooksManage)
        .doc("One webhook endpoint, with its signing secret")
        .responds::<webhooks::WebhookView>(),
    rule("PUT", "/v1/webhooks/{id}", Permission::WebhooksManage)
        .doc("Replaces a webhook endpoint's settings (enabling it again forgets why it was disabled)")
        .responds::<webhooks::WebhookView>()
        .json::<webhooks::WebhookInput>(),
    rule("DELETE", "/v1/webhooks/{id}", Permission::WebhooksManage)
        .doc("Removes a webhook endpoint with its messages and their log")
        .returns(&[204]),
    rule("POST", "/v1/webhooks/{id}/rotate-secret", Permission::WebhooksManage)
        .doc("Makes a new signing secret; the old one also signs for 24 hours")
        .responds::<webhooks::WebhookView>(),
    rule("GET", "/v1/webhooks/{id}/attempts", Permission::WebhooksManage)
        .doc("The endpoint's delivery log, newest first: every attempt's time, status, duration and answer")
        .responds::<webhooks::AttemptList>()
        .query::<webhooks::AttemptParameters>(),
    rule("POST", "/v1/webhooks/{id}/replay", Permission::WebhooksManage)
        .doc("Sends one message again (`webhook_id`), or every message that failed since a time (`since`)")
        .responds::<webhooks::Replayed>()
        .returns(&[202])
        .json::<webhooks::ReplayInput>(),
    rule("GET", "/v1/tickets/{id}/notifications", Permission::DeliveriesRead)
        .doc("What the ticket's events sent to webhook endpoints, and how each delivery stands")
        .responds::<webhooks::NotificationList>(),
    rule("POST", "/v1/tickets/{id}/notifications", Permission::WebhooksManage)
        .doc(
            "Sends the ticket as it is now (`ticket.shared`) to one webhook endpoint, to all its subscribers, or by \
             mail to an address",
        )
        .responds::<webhooks::Notified>()
        .returns(&[202])
        .json::<webhooks::NotifyInput>(),
    rule("GET", "/v1/live", Permission::TicketsRead)
        .doc(
            "Server-Sent Events of the events the caller may see (each `data` is one of the webhook bodies, \
             `<type>.v1`); resume with `Last-Event-ID` or `after`",
        )
        .streams(&["text/event-stream"])
        .query::<live::LiveParameters>(),
    rule("GET", "/v1/live/ws", Permission::TicketsRead)
        .doc("The same events over a WebSocket (upgrade), as `{\"id\", \"event\"}` text messages; resume with `after`")
        .returns(&[101])
        .query::<live::LiveParameters>(),
    rule("GET", "/v1/tickets/{id}/mails", Permission::DeliveriesRead)
        .doc("The mails the ticket's events sent: to whom, which kind, how each stands, and its Message-ID")
        .responds::<mail::MailList>(),
    rule("GET", "/v1/mail-templates", Permission::SettingsManage)
        .doc("Every kind of mail with its built-in template and the company's own")
        .responds::<mail::MailTemplateList>(),
    rule("PUT", "/v1/mail-templates/{kind}", Permission::SettingsManage)
        .doc("Sets the company's template of a kind of mail, checked by rendering it with a sample")
        .responds::<mail::MailTemplateView>()
        .json::<mail::MailTemplateInput>(),
    rule("DELETE", "/v1/mail-templates/{kind}", Permission::SettingsManage)
        .doc("Drops the company's template of a kind: the built-in one applies again")
        .returns(&[204]),
];

pub fn router(state: ApiState) -> Router {
    let authorization = (state.auth.clone(), ROUTES);
    Router::new()
        .route("/v1/accounts", post(accounts::create_account).get(accounts::list_accounts))
        .route("/v1/accounts/me", get(accounts::me))
        .route("/v1/accounts/me/notification-preferences", get(mail::get_preferences).put(mail::put_preferences))
        .route("/v1/accounts/{id}", get(accounts::get_account).delete(accounts::delete_account))
        .route("/v1/accounts/{id}/password", put(accounts::put_password))
        .route("/v1/sessions", post(accounts::sign_in))
        .route("/v1/sessions/current", axum::routing::delete(accounts::sign_out))
        .route("/v1/password-resets", post(accounts::request_password_reset))
        .route("/v1/api-keys", post(api_keys::create_key).get(api_keys::list_keys))
        .route("/v1/api-keys/{id}", axum::routing::delete(api_keys::delete_key))
        .route("/v1/tickets", get(tickets::list_tickets))
        .route(
            "/v1/tickets/{id}",
            get(tickets::get_ticket).patch(tickets::patch_ticket).delete(lifecycle::delete_ticket),
        )
        .route("/v1/tickets/{id}/report", get(lifecycle::get_report).put(lifecycle::put_report))
        .route("/v1/tickets/{id}/report/approval", post(lifecycle::approve_report))
        .route("/v1/tickets/{id}/messages", get(lifecycle::list_messages).post(lifecycle::post_message))
        .route("/v1/tickets/{id}/attachments", get(attachments::list_attachments))
        .route("/v1/tickets/{id}/attachments/{attachment_id}", get(attachments::get_attachment))
        .route("/v1/tickets/{id}/assignment", put(lifecycle::put_assignment))
        .route("/v1/tickets/{id}/dispatch-options", get(dispatch::get_dispatch_options))
        .route("/v1/accounts/{id}/field-profile", get(dispatch::get_field_profile).put(dispatch::put_field_profile))
        .route("/v1/tickets/{id}/status", put(lifecycle::put_status))
        .route("/v1/tickets/{id}/history", get(lifecycle::history))
        .route("/v1/tickets/{id}/deliveries", get(tickets::list_deliveries))
        .route("/v1/tickets/{id}/distribute/{server_id}", post(routing::distribute_listed))
        .route("/v1/tickets/distribute", post(routing::distribute_body))
        .route("/v1/vehicles", get(vehicles::list_vehicles).post(vehicles::create_vehicle))
        .route(
            "/v1/vehicles/{id}",
            get(vehicles::get_vehicle).put(vehicles::put_vehicle).delete(vehicles::delete_vehicle),
        )
        .route("/v1/equipment", get(equipment::list_equipment).post(equipment::create_equipment))
        .route(
            "/v1/equipment/{id}",
            get(equipment::get_equipment).put(equipment::put_equipment).delete(equipment::delete_equipment),
        )
        .route(
            "/v1/vehicles/{id}/photos",
            get(photos::list_photos::<{ photos::VEHICLE }>).post(photos::add_photo::<{ photos::VEHICLE }>),
        )
        .route(
            "/v1/vehicles/{id}/photos/{photo_id}",
            get(photos::get_photo::<{ photos::VEHICLE }>).delete(photos::delete_photo::<{ photos::VEHICLE }>),
        )
        .route(
            "/v1/equipment/{id}/photos",
            get(photos::list_photos::<{ photos::EQUIPMENT }>).post(photos::add_photo::<{ photos::EQUIPMENT }>),
        )
        .route(
            "/v1/equipment/{id}/photos/{photo_id}",
            get(photos::get_photo::<{ photos::EQUIPMENT }>).delete(photos::delete_photo::<{ photos::EQUIPMENT }>),
        )
        .route("/v1/stats/equipment", get(stats::equipment_stats))
        .route("/v1/kb/search", get(kb::search))
        .route("/v1/faqs", get(faqs::list_faqs).post(faqs::create_faq))
        .route("/v1/faqs/import", post(faqs::import_faqs))
        .route("/v1/faqs/{id}", get(faqs::get_faq).put(faqs::put_faq).delete(faqs::delete_faq))
        .route("/v1/companies/{company}/settings", get(settings::get_settings).put(settings::put_settings))
        .route(
            "/v1/companies/{company}/inbound-addresses",
            get(settings::get_inbound_addresses).put(settings::put_inbound_addresses),
        )
        .route("/v1/triage/models", get(triage::list_models))
        .route("/v1/triage/models/{id}/activate", post(triage::activate_model))
        .route("/v1/triage/models/{id}/deactivate", post(triage::deactivate_model))
        .route("/v1/triage/policy", get(triage::get_policy).put(triage::put_policy))
        .route("/v1/servers", get(servers::list_servers).post(servers::create_server))
        .route("/v1/servers/{id}", get(servers::get_server).put(servers::put_server).delete(servers::delete_server))
        .route("/v1/teams", get(teams::list_teams).post(teams::create_team))
        .route("/v1/teams/{id}", get(teams::get_team).put(teams::put_team).delete(teams::delete_team))
        .route("/v1/routing/rulesets", get(routing::list_rulesets).put(routing::put_ruleset))
        .route("/v1/routing/rulesets/{version}", get(routing::get_ruleset))
        .route("/v1/routing/rulesets/{version}/activate", post(routing::activate_ruleset))
        .route("/v1/routing/dry-run", post(routing::dry_run))
        .route("/v1/routing/backtest", post(routing::backtest))
        .route("/v1/webhooks", get(webhooks::list_webhooks).post(webhooks::create_webhook))
        .route("/v1/webhooks/event-types", get(webhooks::event_types))
        .route(
            "/v1/webhooks/{id}",
            get(webhooks::get_webhook).put(webhooks::put_webhook).delete(webhooks::delete_webhook),
        )
        .route("/v1/webhooks/{id}/rotate-secret", post(webhooks::rotate_secret))
        .route("/v1/webhooks/{id}/attempts", get(webhooks::list_attempts))
        .route("/v1/webhooks/{id}/replay", post(webhooks::replay))
        .route("/v1/tickets/{id}/notifications", get(webhooks::ticket_notifications).post(webhooks::notify))
        .route("/v1/live", get(live::sse))
        .route("/v1/live/ws", get(live::websocket))
        .route("/v1/tickets/{id}/mails", get(mail::ticket_mails))
        .route("/v1/mail-templates", get(mail::list_templates))
        .route("/v1/mail-templates/{kind}", put(mail::put_template).delete(mail::delete_template))
        .route_layer(from_fn_with_state(authorization, authorize))
        .with_state(state)
}
