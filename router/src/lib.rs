//! The router: where each ticket goes, and getting it there.
//!
//! * [`stage`]: the `router` stage. Consumes `tickets.matched`; a ticket
//!   the knowledge base answered is not routed. The company's active
//!   ruleset decides ([`switchboard_core::routing::decide`]), [`select`]
//!   picks the server, and the store records the routing with its first
//!   delivery in one transaction; then `tickets.routed` carries the ticket
//!   on.
//! * [`delivery`]: the `delivery` stage. Works the store's delivery
//!   schedule: POSTs each ticket to its server signed as Standard Webhooks,
//!   retries with jittered backoff (honouring `Retry-After`), and after a
//!   permanent refusal or the last attempt falls back to the next server of
//!   the team, then the central one.
//! * [`team_server`]: the reference team server (`switchboard team-server`)
//!   that verifies, de-duplicates and lists what it receives.

pub mod delivery;
mod error;
pub mod select;
pub mod stage;
pub mod team_server;

pub use error::{Error, Result};
