//! The `mail` stage: works the store's outbox of mails over SMTP (`lettre`).
//!
//! Each due mail (the earliest pending one of its ticket to its address) is
//! claimed with a lease, like webhook messages, built as
//! `multipart/alternative` (plain text and HTML) with `Message-ID`
//! `<{mail id}.{ticket id}@{domain}>` (the same on every attempt),
//! `In-Reply-To` and `References` naming the ticket's thread root
//! `<ticket.{ticket id}@{domain}>`, `Auto-Submitted: auto-generated` and
//! `X-Auto-Response-Suppress: All`, `Date` the time of the event, and
//! sent. Then:
//!
//! * the server accepted it (2xx): sent, never sent again;
//! * a permanent refusal (5xx), or an address lettre cannot write: failed;
//! * anything else (4xx, no connection, a timeout): the next attempt per
//!   `mail.schedule_ms` (jittered), or failed when it ran out.
//!
//! The reply code and text of the last attempt are kept on the mail.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rand::Rng;
use switchboard_bus::StageContext;
use switchboard_core::config::MailConfig;
use switchboard_core::mail;
use switchboard_core::topics::stages;
use switchboard_outbound::worker::Schedule;
use switchboard_store::{MailAttempt, MailOutcome, MailRecord, Store};
use time::OffsetDateTime;

use crate::schedule::next_attempt;

pub const STAGE_NAME: &str = stages::MAIL;

/// How long a claimed mail is the claimer's beyond its send timeout.
const LEASE_MARGIN: Duration = Duration::from_secs(30);

/// The mail stage, until `ctx.shutdown` fires. With mail off (no
/// `mail.smtp_url`) it says so once and waits.
pub async fn stage(ctx: StageContext) -> crate::Result<()> {
    let config = ctx.config.mail.clone();
    let Some(url) = &config.smtp_url else {
        tracing::info!(stage = STAGE_NAME, "mail is off (no mail.smtp_url): no mail is queued or sent");
        ctx.shutdown.cancelled().await;
        return Ok(());
    };
    let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
        .map_err(|error| crate::Error::Config(format!("mail.smtp_url: {error}")))?
        .timeout(Some(Duration::from_millis(config.command_timeout_ms)))
        .build();
    let from: Mailbox =
        config.from.parse().map_err(|error| crate::Error::Config(format!("mail.from `{}`: {error}", config.from)))?;
    let concurrency = config.concurrency;
    let worker = Arc::new(Worker { store: ctx.store.clone(), transport, from, config });
    tracing::info!(stage = STAGE_NAME, "mail sending started");
    switchboard_outbound::worker::run(worker, ctx.store.mails_due(), concurrency, &ctx.shutdown, STAGE_NAME).await;
    tracing::info!(stage = STAGE_NAME, "mail sending stopped");
    Ok(())
}

struct Worker {
    store: Store,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    config: MailConfig,
}

impl Schedule for Worker {
    type Item = MailRecord;

    async fn claim(&self, limit: usize) -> Result<Vec<MailRecord>, String> {
        let timeout = Duration::from_millis(self.config.send_timeout_ms);
        let lease = time::Duration::try_from(timeout + LEASE_MARGIN).unwrap_or(time::Duration::MINUTE);
        let limit = u32::try_from(limit).unwrap_or(u32::MAX);
        self.store.claim_due_mails(OffsetDateTime::now_utc(), lease, limit).await.map_err(|error| error.to_string())
    }

    async fn next_due(&self) -> Result<Option<OffsetDateTime>, String> {
        self.store.next_mail_due().await.map_err(|error| error.to_string())
    }

    async fn attempt(self: Arc<Self>, mail: MailRecord) {
        self.attempt_one(mail).await;
    }
}

/// The headers lettre has no type for.
const AUTO_SUBMITTED: HeaderName = HeaderName::new_from_ascii_str("Auto-Submitted");
const AUTO_RESPONSE_SUPPRESS: HeaderName = HeaderName::new_from_ascii_str("X-Auto-Response-Suppress");

impl Worker {
    #[tracing::instrument(skip_all, fields(mail = %mail.id, kind = %mail.kind))]
    async fn attempt_one(&self, mail: MailRecord) {
        let (attempt, outcome) = self.send(&mail).await;
        let label = match &outcome {
            MailOutcome::Sent => "sent",
            MailOutcome::Retry(_) => "retry",
            MailOutcome::Failed => "failed",
        };
        metrics::counter!("switchboard_mail_attempts_total", "outcome" => label).increment(1);
        if outcome == MailOutcome::Failed {
            tracing::warn!(error = attempt.error.as_deref().unwrap_or_default(), "a mail failed for good");
        }
        match self.store.finish_mail_attempt(&mail, &attempt, &outcome).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!("the mail's lease ran out before its attempt was recorded"),
            // The lease runs out and the mail is attempted again: at least
            // once, in the narrow window between the server's answer and
            // this write.
            Err(error) => tracing::warn!(%error, "cannot record a mail attempt; it will be attempted again"),
        }
    }

    /// The message as sent on every attempt.
    fn message(&self, mail: &MailRecord) -> Result<Message, String> {
        let to: Mailbox = mail.recipient.parse().map_err(|error| format!("the address cannot be written: {error}"))?;
        let domain = self.config.message_id_domain();
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            // When it happened, not when this attempt is: a thread sorts by it.
            .date(mail.occurred_at.into())
            .message_id(Some(mail::message_id(mail.id, mail.ticket_id, domain)))
            .raw_header(HeaderValue::new(AUTO_SUBMITTED, "auto-generated".into()))
            .raw_header(HeaderValue::new(AUTO_RESPONSE_SUPPRESS, "All".into()));
        if let Some(ticket) = mail.ticket_id {
            let root = mail::thread_root(ticket, domain);
            builder = builder.in_reply_to(root.clone()).references(root);
        }
        builder
            .multipart(MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone()))
            .map_err(|error| format!("the mail cannot be built: {error}"))
    }

    /// One attempt, and what it means for the schedule.
    async fn send(&self, mail: &MailRecord) -> (MailAttempt, MailOutcome) {
        let now = OffsetDateTime::now_utc();
        let message = match self.message(mail) {
            Ok(message) => message,
            Err(error) => {
                return (MailAttempt { attempted_at: now, code: None, error: Some(error) }, MailOutcome::Failed);
            }
        };
        let timeout = Duration::from_millis(self.config.send_timeout_ms);
        let (code, error, permanent) = match tokio::time::timeout(timeout, self.transport.send(message)).await {
            Ok(Ok(response)) => {
                let attempt = MailAttempt { attempted_at: now, code: Some(response.code().into()), error: None };
                return (attempt, MailOutcome::Sent);
            }
            Ok(Err(error)) => (error.status().map(u16::from), error.to_string(), error.is_permanent()),
            Err(_) => (None, format!("no answer within {} ms", self.config.send_timeout_ms), false),
        };
        let attempt = MailAttempt { attempted_at: now, code, error: Some(error) };
        if permanent {
            return (attempt, MailOutcome::Failed);
        }
        let jitter = rand::rng().random::<f64>();
        let outcome = match next_attempt(&self.config.schedule_ms, mail.attempts + 1, now, None, jitter) {
            Some(at) => MailOutcome::Retry(at),
            None => MailOutcome::Failed,
        };
        (attempt, outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_sender_is_an_address_lettre_writes() {
        let from: Result<Mailbox, _> = MailConfig::default().from.parse();
        assert_eq!(from.map(|mailbox| mailbox.email.to_string()), Ok("no-reply@localhost".to_owned()));
    }
}
