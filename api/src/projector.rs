//! The projector stage: keeps the store's tickets in step with the ticket
//! topics. Every write is idempotent (insert-if-absent by ticket id), so a
//! redelivered message changes nothing.
//!
//! The runner hands the projector many tickets at once (one per lane); their
//! inserts go through a group-commit writer, so one transaction (one fsync)
//! stores a whole batch. If a batch fails, its tickets are retried one by one
//! so that one bad ticket cannot fail its neighbours.

use std::sync::Arc;

use async_trait::async_trait;
use switchboard_bus::group_commit::GroupCommit;
use switchboard_bus::{Bus, Handler, HandlerError, Message, OutgoingMessage, Stage, runner};
use switchboard_core::config::Config;
use switchboard_core::envelope::TicketSubmitted;
use switchboard_core::{Envelope, SCHEMA_VERSION, Ticket};
use switchboard_store::{InsertOutcome, Projection, ProjectionKind, Store};
use tokio_util::sync::CancellationToken;

pub const STAGE_NAME: &str = "projector";

/// The projector's stage description under `config`.
pub fn stage(config: &Config) -> Stage {
    let topics = config.topics();
    Stage {
        name: STAGE_NAME.into(),
        group: config.group(STAGE_NAME),
        topics: vec![topics.submitted(), topics.triaged(), topics.matched()],
    }
}

/// Runs the projector until `shutdown` fires.
pub async fn run(
    config: &Config,
    bus: Arc<dyn Bus>,
    store: Store,
    shutdown: CancellationToken,
) -> switchboard_bus::Result<()> {
    let writer = ticket_writer(store, config.runner.max_in_flight);
    let topics = config.topics();
    let handler = Arc::new(Projector {
        writer,
        kinds: vec![
            (topics.submitted(), ProjectionKind::Submitted),
            (topics.triaged(), ProjectionKind::Triaged),
            (topics.matched(), ProjectionKind::Matched),
        ],
    });
    runner::run(bus, stage(config), handler, config.runner.clone(), shutdown).await
}

type TicketWriter = GroupCommit<(ProjectionKind, Ticket), InsertOutcome, switchboard_store::Error>;

fn ticket_writer(store: Store, max_batch: usize) -> TicketWriter {
    GroupCommit::spawn(max_batch, max_batch, move |items: Vec<(ProjectionKind, Ticket)>| {
        let store = store.clone();
        async move {
            let projections: Vec<Projection<'_>> =
                items.iter().map(|(kind, ticket)| Projection { kind: *kind, ticket }).collect();
            match store.project(&projections).await {
                Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
                Err(error) if projections.len() == 1 => vec![Err(error)],
                Err(error) => {
                    tracing::warn!(%error, tickets = projections.len(), "batch projection failed; projecting one by one");
                    let mut results = Vec::with_capacity(projections.len());
                    for projection in &projections {
                        results.push(store.project(std::slice::from_ref(projection)).await.map(|outcomes| outcomes[0]));
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

/// Decodes an envelope, refusing (permanently) what this version cannot read.
fn decode<T: serde::de::DeserializeOwned>(message: &Message) -> Result<Envelope<T>, HandlerError> {
    let envelope: Envelope<T> =
        message.envelope().map_err(|error| HandlerError::permanent(format!("undecodable envelope: {error}")))?;
    if envelope.schema_version > SCHEMA_VERSION {
        return Err(HandlerError::permanent(format!(
            "envelope schema version {} is newer than {SCHEMA_VERSION}",
            envelope.schema_version
        )));
    }
    Ok(envelope)
}

fn store_failure(error: switchboard_store::Error) -> HandlerError {
    if error.is_transient() { HandlerError::transient(error) } else { HandlerError::permanent(error) }
}

#[async_trait]
impl Handler for Projector {
    async fn handle(&self, message: &Message) -> Result<Vec<OutgoingMessage>, HandlerError> {
        let Some(kind) = self.kinds.iter().find(|(topic, _)| *topic == message.topic).map(|(_, kind)| *kind) else {
            return Ok(Vec::new());
        };
        // Every stage topic carries `{"ticket": …}`; the kind says which
        // parts of it are news.
        let envelope: Envelope<TicketSubmitted> = decode(message)?;
        if envelope.payload.ticket.id != envelope.ticket_id {
            return Err(HandlerError::permanent("the envelope's ticket id differs from its ticket's"));
        }
        let outcome = self
            .writer
            .submit((kind, envelope.payload.ticket))
            .await
            .map_err(HandlerError::transient)?
            .map_err(store_failure)?;
        let label = match outcome {
            InsertOutcome::Inserted => "inserted",
            InsertOutcome::AlreadyExisted => "duplicate",
        };
        metrics::counter!("switchboard_projector_tickets_total", "outcome" => label).increment(1);
        Ok(Vec::new())
    }
}
