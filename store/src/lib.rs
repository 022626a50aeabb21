//! Persistence for Switchboard: one [`Store`] over PostgreSQL (production)
//! or SQLite (the embedded default), with migrations applied at start-up.
//!
//! Every query is written once and compiled for both databases by the
//! [`on_pool!`] dispatch; the SQL uses only what both dialects share
//! (`$n` placeholders, `ON CONFLICT`, `RETURNING`). Timestamps are stored as
//! microseconds since the Unix epoch in both, so range filters and ordering
//! behave the same.

pub mod accounts;
pub mod attachments;
mod db;
pub mod deliveries;
pub mod dispatch;
pub mod equipment;
pub mod error;
mod filter;
pub mod idempotency;
pub mod imap;
pub mod inbound;
pub mod knowledge;
mod lease;
pub mod live;
pub mod log;
pub mod mail;
pub mod models;
mod notifications;
pub mod photos;
pub mod reports;
pub mod routing;
pub mod servers;
pub mod settings;
pub mod stats;
pub mod teams;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tickets;
pub mod transitions;
pub mod vehicles;
pub mod webhooks;

pub use accounts::{
    AccountRecord, ApiKeyRecord, CompanyOptions, CompanyRecord, NewAccount, NewApiKey, SessionRecord, TokenPurpose,
};
pub use attachments::{FileStore, Folder, PendingAttachment};
pub use db::{Backend, PoolOptions, Store};
pub use deliveries::{
    AttemptOutcome, DeliveryRecord, DeliveryState, NewDelivery, NewRouting, RoutingRecord, parse_webhook_id, webhook_id,
};
pub use dispatch::{DispatchPerson, FieldProfile, TicketTravel};
pub use equipment::{Coordinates, EquipmentFields, EquipmentFilter, EquipmentRecord};
pub use error::{Error, Result};
pub use idempotency::{IdempotencyOutcome, IdempotencyRecord};
pub use imap::ImapPosition;
pub use knowledge::StoredReport;
pub use live::{Audience, LiveEventRecord, NewLiveEvent};
pub use log::{AppendRecord, LogRecord};
pub use mail::{MailAttempt, MailOutcome, MailRecord, MailTemplateRecord, NewMail};
pub use models::{ActiveModel, ModelInfo};
pub use photos::PhotoSubject;
pub use reports::{Change, MailReply, ReportRecord, ReportState};
pub use routing::RulesetRecord;
pub use servers::{ServerFields, ServerRecord};
pub use stats::{EquipmentStats, StatsQuery};
pub use teams::{TeamFields, TeamRecord};
pub use tickets::{InsertOutcome, LabelField, MAX_PAGE_SIZE, Projection, ProjectionKind, TicketFilter, TicketPage};
pub use transitions::{AuditEvent, OutboxRecord, TransitionRequest, Transitioned};
pub use vehicles::{VehicleFields, VehicleRecord};
pub use webhooks::{
    AttemptFacts, FinishedAttempt, MessageOutcome, NewWebhookMessage, Recorded, Replay, WebhookAttemptRecord,
    WebhookFields, WebhookMessageRecord, WebhookRecord,
};
