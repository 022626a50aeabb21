//! The notifier: what happens to tickets, told to the outside world.
//!
//! * [`stage`]: the `notifier` stage. Consumes `tickets.events`,
//!   `tickets.triaged` and `tickets.routed`, turns each event into the
//!   public catalogue's notifications (`switchboard_core::notifications`),
//!   and stores one message per subscribed webhook endpoint (types and
//!   filter) in the store's schedule.
//! * [`webhooks`]: the `webhooks` stage. Works that schedule: POSTs each
//!   message signed as Standard Webhooks (through `switchboard_outbound`),
//!   logs every attempt, retries on [`schedule`], disables endpoints that
//!   answer 410 or fail for days.
//! * the mails notifications and password-reset requests imply: queued by
//!   the notifier stage (`mail_queue`: recipients, preferences, templates)
//!   in the store's outbox of mails.
//! * [`mail`]: the `mail` stage. Works that outbox over SMTP, retrying on
//!   [`schedule`] with `mail.schedule_ms`.

mod error;
pub mod mail;
mod mail_queue;
pub mod schedule;
pub mod stage;
pub mod webhooks;

pub use error::{Error, Result};
