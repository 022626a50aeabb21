//! The projector stage: folds the ticket topics into the store's read model.
//!
//! It stores each ticket as ingest accepted it and the stages' findings
//! (triage, knowledge-base suggestions) as they arrive. It never writes a
//! ticket's status: that is `Store::transition`'s alone. Every write is
//! idempotent (insert-if-absent by ticket id, then "fill in this stage's
//! part"), and a later stage's part never goes back to an earlier one, so a
//! redelivered or reordered message changes nothing.
//!
//! The runner hands the projector many tickets at once (one per lane); their
//! writes go through a group-commit writer, so one transaction (one fsync)
//! stores a whole batch. If a batch fails, its tickets are retried one by one
//! so that one bad ticket cannot fail its neighbours.

use std::sync::Arc;

use async_trait::async_trait;
use switchboard_bus::group_commit::GroupCommit;
use switchboard_bus::{Handler, HandlerError, Message, OutgoingMessage, Stage, StageContext, decode_envelope, runner};
use switchboard_core::envelope::TicketSubmitted;
use switchboard_core::topics::stages;
use switchboard_core::{Actor, Envelope, Scope, Ticket};
use switchboard_store::{InsertOutcome, Projection, ProjectionKind, Store};

pub const STAGE_NAME: &str = stages::PROJECTOR;

/// The projector, until `ctx.shutdown` fires.
pub async fn stage(ctx: StageContext) -> switchboard_bus::Result<()> {
    let topics = ctx.config.topics();
    let handler = Arc::new(Projector {
        writer: ticket_writer(ctx.store.clone(), ctx.config.runner.max_in_flight),
        kinds: vec![
            (topics.submitted(), ProjectionKind::Submitted),
            (topics.triaged(), ProjectionKind::Triaged),
            (topics.matched(), ProjectionKind::Matched),
        ],
    });
    let stage =
        Stage { name: STAGE_NAME.into(), group: ctx.config.group(STAGE_NAME), topics: topics.inputs(STAGE_NAME) };
    runner::run(ctx.bus, stage, handler, ctx.config.runner.clone(), ctx.shutdown).await
}

/// One projection to write: the kind, the ticket, who filed it and the request.
type Item = (ProjectionKind, Ticket, Option<Actor>, Option<String>);

type TicketWriter = GroupCommit<Item, InsertOutcome, switchboard_store::Error>;

fn ticket_writer(store: Store, max_batch: usize) -> TicketWriter {
    GroupCommit::spawn(max_batch, max_batch, move |items: Vec<Item>| {
        let store = store.clone();
        async move {
            let projections: Vec<Projection<'_>> = items
                .iter()
                .map(|(kind, ticket, filed_by, request_id)| Projection {
                    kind: *kind,
                    ticket,
                    audit_creation: true,
                    filed_by: *filed_by,
                    request_id: request_id.as_deref(),
                })
                .collect();
            // The read model of every company: the installation's scope.
            match store.project(&Scope::Installation, &projections).await {
                Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
                Err(error) if projections.len() == 1 => vec![Err(error)],
                Err(error) => {
                    tracing::warn!(%error, tickets = projections.len(), "batch projection failed; projecting one by one");
                    let mut results = Vec::with_capacity(projections.len());
                    for projection in &projections {
                        results.push(
                            store
                                .project(&Scope::Installation, std::slice::from_ref(projection))
                                .await
                                .map(|outcomes| outcomes[0]),
                        );
                    }
                    results
                }
            }
        }
    })
}

struct Projector {
    writer: TicketWriter,
    /// Which projection each topic's messages get.
    kinds: Vec<(String, ProjectionKind)>,
}

#[async_trait]
impl Handler for Projector {
    async fn handle(&self, message: &Message) -> Result<Vec<OutgoingMessage>, HandlerError> {
        let Some(kind) = self.kinds.iter().find(|(topic, _)| *topic == message.topic).map(|(_, kind)| *kind) else {
            return Ok(Vec::new());
        };
        // Every stage topic carries `{"ticket": …}`; the kind says which
        // parts of it are news.
        let envelope: Envelope<TicketSubmitted> = decode_envelope(message)?;
        if envelope.payload.ticket.id != envelope.ticket_id {
            return Err(HandlerError::permanent("the envelope's ticket id differs from its ticket's"));
        }
        if envelope.payload.ticket.company != envelope.company {
            return Err(HandlerError::permanent("the envelope's company differs from its ticket's"));
        }
        let outcome = self
            .writer
            .submit((kind, envelope.payload.ticket, envelope.payload.filed_by, envelope.request_id))
            .await
            .map_err(HandlerError::transient)?
            .map_err(HandlerError::classify)?;
        let label = match outcome {
            InsertOutcome::Inserted => "inserted",
            InsertOutcome::AlreadyExisted => "duplicate",
        };
        metrics::counter!("switchboard_projector_tickets_total", "outcome" => label).increment(1);
        Ok(Vec::new())
    }
}
