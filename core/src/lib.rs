//! Domain types shared by every Switchboard crate.
//!
//! This crate does no I/O: it defines identifiers, the [`Ticket`] and its
//! lifecycle ([`Status`] and the transition map), the event [`Envelope`] that
//! travels on the bus, the topic names, and the configuration types with their
//! defaults and validation.

pub mod auth;
pub mod cache;
pub mod config;
pub mod envelope;
pub mod error;
pub mod events;
pub mod files;
pub mod filter;
pub mod ids;
pub mod lifecycle;
pub mod mail;
pub mod notifications;
pub mod policy;
pub mod random;
pub mod routing;
pub mod tenant;
pub mod text;
pub mod ticket;
pub mod topics;

pub use auth::{Caller, Credential, KeyScope, Permission};
pub use envelope::{Envelope, SCHEMA_VERSION};
pub use error::{Error, Result};
pub use ids::{AccountId, ApiKeyId, AttachmentId, EquipmentId, EventId, TicketId, VehicleId};
pub use lifecycle::{Action, Actor, Role, Status, Transition, TransitionError};
pub use tenant::{CompanyId, Scope};
pub use ticket::{Attachment, Channel, Equipment, NewTicket, Requester, Ticket, Urgency};
pub mod http;
pub mod kb;
pub mod settings;
pub mod signing;
