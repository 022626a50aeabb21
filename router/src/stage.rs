//! The `router` stage: `tickets.matched` → decision → server → recorded
//! routing and first delivery → `tickets.routed`.
//!
//! Every side effect is idempotent: the routing is recorded once per ticket
//! (a redelivered message finds it and changes nothing), and the first
//! delivery's id, like the `open` transition of a rule that assigns, derives
//! from the message's event id.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use switchboard_bus::{Handler, HandlerError, Message, OutgoingMessage, Stage, StageContext, decode_envelope, runner};
use switchboard_core::cache::TtlCache;
use switchboard_core::events::{Routing, TicketMatched, TicketRouted, TransitionDetails};
use switchboard_core::lifecycle::{Action, Actor};
use switchboard_core::routing::{Destination, Ruleset, TeamCategories, decide, delivery_body};
use switchboard_core::topics::stages;
use switchboard_core::{AccountId, CompanyId, Envelope, EventId, Role, Scope, Ticket, TicketId, TransitionError};
use switchboard_store::{
    NewDelivery, NewRouting, Projection, ProjectionKind, ServerRecord, Store, TeamRecord, TransitionRequest,
};
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
    companies: TtlCache<CompanyId, Arc<CompanyRouting>>,
}

/// Companies cached at once.
const MAX_CACHED_COMPANIES: usize = 10_000;

impl RoutingCache {
    pub(crate) fn new(store: Store, refresh: Duration) -> Self {
        Self { store, companies: TtlCache::new(refresh, MAX_CACHED_COMPANIES) }
    }

    pub(crate) async fn get(&self, company: &CompanyId) -> switchboard_store::Result<Arc<CompanyRouting>> {
        self.companies
            .get_or_load(company, || async {
                let active = self.store.active_ruleset(company).await?;
                let teams = self.store.list_teams(company).await?;
                let servers = self.store.list_servers(company).await?;
                let categories = teams.iter().map(TeamRecord::categories).collect();
                let (version, ruleset) = match active {
                    Some(record) => (Some(record.version), record.ruleset),
                    None => (None, Ruleset::default()),
                };
                Ok(Arc::new(CompanyRouting { version, ruleset, teams, categories, servers }))
            })
            .await
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

impl Router {
    /// A redelivered message: what was recorded the first time stands (the
    /// rules, loads and circuits may have changed since), and is emitted
    /// again.
    async fn routed_again(
        &self,
        envelope: &Envelope<TicketMatched>,
        scope: &Scope,
        ticket: TicketId,
    ) -> Result<Vec<OutgoingMessage>, HandlerError> {
        let stored_ticket = self.store.get_ticket(scope, ticket).await.map_err(HandlerError::classify)?;
        let stored_routing = self.store.routing_of(scope, ticket).await.map_err(HandlerError::classify)?;
        let (Some(ticket), Some(record)) = (stored_ticket, stored_routing) else {
            // Deleted since: nothing left to announce.
            return Ok(Vec::new());
        };
        let routed = envelope.derive(STAGE_NAME, TicketRouted { ticket, routing: record.routing });
        Ok(vec![OutgoingMessage::for_envelope(&self.routed_topic, &routed).map_err(HandlerError::permanent)?])
    }

    /// Opens a new ticket with the assignee a rule chose, as the system
    /// acting on the admin's rule, and says what happened. The ticket's
    /// snapshot takes the new status and assignee.
    async fn assign(
        &self,
        envelope: &Envelope<TicketMatched>,
        scope: &Scope,
        ticket: &mut Ticket,
        assignee: AccountId,
    ) -> Result<String, HandlerError> {
        // The ruleset was checked when saved; the account may have changed since.
        let account = self.store.account(scope, assignee).await.map_err(HandlerError::classify)?;
        if !account.is_some_and(|account| {
            account.deleted_at.is_none() && matches!(account.role, Role::Engineer | Role::Technician)
        }) {
            return Ok(format!("not assigned: account {assignee} is no longer an engineer or technician here"));
        }
        let request = TransitionRequest {
            ticket_id: ticket.id,
            action: Action::Open,
            actor: Actor::SYSTEM,
            // Stable across redeliveries: a second handling finds the first.
            event_id: EventId::derived(envelope.event_id, "rule-assignment"),
            request_id: envelope.request_id.clone(),
            details: TransitionDetails::Assignment { assignee, vehicle: None },
        };
        match self.store.transition(scope, request).await {
            Ok(opened) => {
                ticket.status = opened.ticket.status;
                ticket.assignee = opened.ticket.assignee;
                Ok(format!("assigned to {assignee}"))
            }
            Err(switchboard_store::Error::Transition(
                TransitionError::InvalidTransition { from, .. } | TransitionError::Conflict { from, .. },
            )) => Ok(format!("not assigned: the ticket was no longer new (it was {from})")),
            Err(error) => Err(HandlerError::classify(error)),
        }
    }
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
        let scope = Scope::Company(ticket.company.clone());
        let company = self.cache.get(&ticket.company).await.map_err(HandlerError::classify)?;
        let decision = decide(&company.ruleset, &company.categories, &ticket);
        // The projector may not have stored the ticket yet: its row is born
        // from this snapshot if so (insert-if-absent, as the projector does).
        let submitted = Projection::of(ProjectionKind::Submitted, &envelope.payload.ticket);
        self.store.project(&scope, std::slice::from_ref(&submitted)).await.map_err(HandlerError::classify)?;
        let assignment = match decision.assignee {
            Some(assignee) => {
                // An assignment is a transition: never taken on a decision
                // other than the one recorded (a redelivery under new rules).
                if self.store.routing_of(&scope, ticket.id).await.map_err(HandlerError::classify)?.is_some() {
                    return self.routed_again(&envelope, &scope, ticket.id).await;
                }
                Some(self.assign(&envelope, &scope, &mut ticket, assignee).await?)
            }
            None => None,
        };
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
            assignment,
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
        let recorded = self
            .store
            .record_routing(NewRouting { ticket: &ticket, routing: &routing, delivery })
            .await
            .map_err(HandlerError::classify)?;
        if !recorded {
            return self.routed_again(&envelope, &scope, ticket.id).await;
        }
        let destination = match routing.decision.destination {
            Destination::Team { .. } => "team",
            Destination::Server { .. } => "server",
            Destination::Central => "central",
            Destination::Review => "review",
        };
        metrics::counter!("switchboard_router_tickets_total", "destination" => destination).increment(1);
        tracing::info!(ticket_id = %ticket.id, destination, server = ?routing.server, "ticket routed");
        let routed = envelope.derive(STAGE_NAME, TicketRouted { ticket, routing });
        Ok(vec![OutgoingMessage::for_envelope(&self.routed_topic, &routed).map_err(HandlerError::permanent)?])
    }
}
