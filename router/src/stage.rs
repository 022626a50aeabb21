//! The `router` stage: `tickets.matched` → decision → server → recorded
//! routing and first delivery → `tickets.routed`.
//!
//! Every side effect is idempotent: the routing is recorded once per ticket
//! (a redelivered message finds it and changes nothing), and the first
//! delivery's id derives from the message's event id.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use switchboard_bus::{Handler, HandlerError, Message, OutgoingMessage, Stage, StageContext, decode_envelope, runner};
use switchboard_core::events::{Routing, TicketMatched, TicketRouted};
use switchboard_core::routing::{Ruleset, TeamCategories, decide, delivery_body};
use switchboard_core::topics::stages;
use switchboard_core::{CompanyId, Envelope, EventId, Scope};
use switchboard_store::{NewDelivery, NewRouting, Projection, ProjectionKind, ServerRecord, Store, TeamRecord};
use time::OffsetDateTime;

use crate::select;

pub const STAGE_NAME: &str = stages::ROUTER;

/// What the router knows of one company, refreshed every `refresh`.
pub(crate) struct CompanyRouting {
    pub version: Option<u32>,
    pub ruleset: Ruleset,
    pub teams: Vec<TeamRecord>,
    pub categories: Vec<TeamCategories>,
    pub servers: Vec<ServerRecord>,
}

/// Companies' routing data, each read from the store at most every
/// `refresh`: an admin's change reaches the router without a restart.
pub(crate) struct RoutingCache {
    store: Store,
    refresh: Duration,
    companies: Mutex<HashMap<CompanyId, (Instant, Arc<CompanyRouting>)>>,
}

/// Companies cached at once; past it, the cache starts over.
const MAX_CACHED_COMPANIES: usize = 10_000;

impl RoutingCache {
    pub(crate) fn new(store: Store, refresh: Duration) -> Self {
        Self { store, refresh, companies: Mutex::new(HashMap::new()) }
    }

    pub(crate) async fn get(&self, company: &CompanyId) -> switchboard_store::Result<Arc<CompanyRouting>> {
        if let Ok(cache) = self.companies.lock()
            && let Some((read_at, routing)) = cache.get(company)
            && read_at.elapsed() < self.refresh
        {
            return Ok(routing.clone());
        }
        let active = self.store.active_ruleset(company).await?;
        let teams = self.store.list_teams(company).await?;
        let servers = self.store.list_servers(company).await?;
        let categories = teams.iter().map(TeamRecord::categories).collect();
        let (version, ruleset) = match active {
            Some(record) => (Some(record.version), record.ruleset),
            None => (None, Ruleset::default()),
        };
        let routing = Arc::new(CompanyRouting { version, ruleset, teams, categories, servers });
        if let Ok(mut cache) = self.companies.lock() {
            if cache.len() >= MAX_CACHED_COMPANIES {
                cache.clear();
            }
            cache.insert(company.clone(), (Instant::now(), routing.clone()));
        }
        Ok(routing)
    }
}

/// The router stage, until `ctx.shutdown` fires.
pub async fn stage(ctx: StageContext) -> switchboard_bus::Result<()> {
    let topics = ctx.config.topics();
    let stage =
        Stage { name: STAGE_NAME.into(), group: ctx.config.group(STAGE_NAME), topics: topics.inputs(STAGE_NAME) };
    let handler = Arc::new(Router {
        store: ctx.store.clone(),
        cache: RoutingCache::new(ctx.store.clone(), Duration::from_millis(ctx.config.router.refresh_ms)),
        routed_topic: topics.routed(),
    });
    runner::run(ctx.bus, stage, handler, ctx.config.runner.clone(), ctx.shutdown).await
}

struct Router {
    store: Store,
    cache: RoutingCache,
    routed_topic: String,
}

#[async_trait]
impl Handler for Router {
    async fn handle(&self, message: &Message) -> Result<Vec<OutgoingMessage>, HandlerError> {
        let envelope: Envelope<TicketMatched> = decode_envelope(message)?;
        let mut ticket = envelope.payload.ticket.clone();
        if ticket.answered_by_faq.is_some() {
            metrics::counter!("switchboard_router_tickets_total", "destination" => "answered").increment(1);
            return Ok(Vec::new());
        }
        let company = self.cache.get(&ticket.company).await.map_err(HandlerError::classify)?;
        let decision = decide(&company.ruleset, &company.categories, &ticket);
        let pending = self.store.pending_deliveries(&ticket.company).await.map_err(HandlerError::classify)?;
        let choice = select::choose(
            decision.destination,
            &company.teams,
            &company.servers,
            &pending,
            &[],
            OffsetDateTime::now_utc(),
        );
        // What the rules changed travels with the ticket.
        if let Some(urgency) = decision.urgency {
            ticket.urgency = Some(urgency);
        }
        ticket.tags.extend(decision.add_tags.iter().cloned());
        ticket.team = choice.team;
        ticket.server = choice.server;
        let routing = Routing {
            ruleset_version: company.version,
            decision,
            team: choice.team,
            server: choice.server,
            server_reason: choice.reason,
        };
        let delivery = match choice.server {
            Some(server) => Some(NewDelivery {
                // Stable across redeliveries of this message.
                id: EventId::derived(envelope.event_id, "delivery").0,
                server,
                reason: "routed".into(),
                payload: delivery_body(&ticket, choice.team, "routed").map_err(HandlerError::permanent)?,
            }),
            None => None,
        };
        // The projector may not have stored the ticket yet: its row is born
        // from this snapshot if so (insert-if-absent, as the projector does).
        let scope = Scope::Company(ticket.company.clone());
        let submitted = Projection::of(ProjectionKind::Submitted, &envelope.payload.ticket);
        self.store.project(&scope, std::slice::from_ref(&submitted)).await.map_err(HandlerError::classify)?;
        let recorded = self
            .store
            .record_routing(NewRouting { ticket: &ticket, routing: &routing, delivery })
            .await
            .map_err(HandlerError::classify)?;
        if !recorded {
            // A redelivered message: what was recorded the first time stands
            // (the rules, loads and circuits may have changed since).
            let stored_ticket = self.store.get_ticket(&scope, ticket.id).await.map_err(HandlerError::classify)?;
            let stored_routing = self.store.routing_of(&scope, ticket.id).await.map_err(HandlerError::classify)?;
            if let (Some(stored_ticket), Some(stored_routing)) = (stored_ticket, stored_routing) {
                let routed = envelope
                    .derive(STAGE_NAME, TicketRouted { ticket: stored_ticket, routing: stored_routing.routing });
                return Ok(vec![
                    OutgoingMessage::for_envelope(&self.routed_topic, &routed).map_err(HandlerError::permanent)?,
                ]);
            }
        }
        if recorded {
            let destination = match routing.decision.destination {
                switchboard_core::routing::Destination::Team { .. } => "team",
                switchboard_core::routing::Destination::Server { .. } => "server",
                switchboard_core::routing::Destination::Central => "central",
                switchboard_core::routing::Destination::Review => "review",
            };
            metrics::counter!("switchboard_router_tickets_total", "destination" => destination).increment(1);
            tracing::info!(ticket_id = %ticket.id, destination, server = ?routing.server, "ticket routed");
        }
        let routed = envelope.derive(STAGE_NAME, TicketRouted { ticket, routing });
        Ok(vec![OutgoingMessage::for_envelope(&self.routed_topic, &routed).map_err(HandlerError::permanent)?])
    }
}
