//! Mail: the outbox of mails the notifier owes people (a durable retry
//! schedule worked like webhook messages, with the same leases), the
//! companies' own templates, and accounts' mail preferences.
//!
//! A mail waits while an earlier mail of the same ticket to the same
//! address is pending, so each person gets a ticket's mails in order.
//!
//! Times are passed in (`now`) rather than read here, so the schedule can
//! be tested with a clock the test controls.

use switchboard_core::mail::{self, MailKind, MailPreferences, MailTemplate, RenderedMail};
use switchboard_core::notifications::Notification;
use switchboard_core::{AccountId, CompanyId, Scope, TicketId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Store;
use crate::db::{from_micros, now_micros, on_pool, to_micros};
use crate::deliveries::DeliveryState;
use crate::error::{Error, Result};
use crate::tickets::push_scope;

/// A mail to queue, rendered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMail {
    /// Derived from the notification, the kind and the address
    /// (`switchboard_core::mail::mail_id`): queued twice, stored once.
    pub id: Uuid,
    pub company: CompanyId,
    pub kind: MailKind,
    pub ticket_id: Option<TicketId>,
    /// The recipient's account, if the address is one's.
    pub account_id: Option<AccountId>,
    pub recipient: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub occurred_at: OffsetDateTime,
}

impl NewMail {
    /// `notification`'s mail of `kind` to `recipient` (the account's
    /// address, if `account`), rendered; its id derives from all three.
    pub fn of(
        notification: &Notification,
        kind: MailKind,
        recipient: String,
        account_id: Option<AccountId>,
        rendered: RenderedMail,
    ) -> Self {
        Self {
            id: mail::mail_id(notification.id, kind, &recipient),
            company: notification.company.clone(),
            kind,
            ticket_id: Some(notification.ticket_id),
            account_id,
            recipient,
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
            occurred_at: notification.occurred_at,
        }
    }
}

/// A mail as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailRecord {
    pub id: Uuid,
    pub company: CompanyId,
    pub kind: MailKind,
    pub ticket_id: Option<TicketId>,
    pub account_id: Option<AccountId>,
    pub recipient: String,
    pub subject: String,
    /// The bodies: empty once the mail is sent or failed.
    pub text: String,
    pub html: String,
    /// `Delivered`: the SMTP server accepted it.
    pub state: DeliveryState,
    pub attempts: u32,
    /// While pending: when the next attempt is due (or a claim's lease
    /// ends).
    pub next_attempt_at: OffsetDateTime,
    /// The SMTP server's reply code to the last attempt.
    pub last_code: Option<u16>,
    pub last_error: Option<String>,
    pub occurred_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// What an attempt means for the mail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MailOutcome {
    /// Accepted by the server: never sent again.
    Sent,
    /// A temporary failure: the next attempt at this time.
    Retry(OffsetDateTime),
    /// A permanent refusal, or the schedule ran out: kept as failed.
    Failed,
}

/// One attempt's facts: the server's reply code and text, or why there was
/// none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailAttempt {
    pub attempted_at: OffsetDateTime,
    pub code: Option<u16>,
    pub error: Option<String>,
}

/// A mail that may be sent (`m`): pending, and no earlier mail of its
/// ticket to its address still pending (a mail about no ticket never
/// waits).
const CLAIMABLE: &str = "m.state = 'pending' \
     AND NOT EXISTS (SELECT 1 FROM mails e WHERE e.ticket_id = m.ticket_id AND e.recipient = m.recipient \
     AND e.state = 'pending' AND (e.occurred_at < m.occurred_at OR (e.occurred_at = m.occurred_at AND e.id < m.id)))";

const MAIL_COLUMNS: &str = "id, company, kind, ticket_id, account_id, recipient, subject, text_body, html_body, \
     state, attempts, next_attempt_at, last_code, last_error, occurred_at, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct MailRow {
    id: Uuid,
    company: String,
    kind: String,
    ticket_id: Option<Uuid>,
    account_id: Option<Uuid>,
    recipient: String,
    subject: String,
    text_body: String,
    html_body: String,
    state: String,
    attempts: i64,
    next_attempt_at: i64,
    last_code: Option<i64>,
    last_error: Option<String>,
    occurred_at: i64,
    created_at: i64,
    updated_at: i64,
}

impl crate::lease::LeasedRow for MailRow {
    fn id(&self) -> Uuid {
        self.id
    }

    fn set_next_attempt_at(&mut self, until: i64) {
        self.next_attempt_at = until;
    }
}

impl TryFrom<MailRow> for MailRecord {
    type Error = Error;

    fn try_from(row: MailRow) -> Result<Self> {
        let corrupt = |what: &str| Error::Corrupt(format!("mail {}: bad {what}", row.id));
        Ok(MailRecord {
            id: row.id,
            company: CompanyId::parse(&row.company).map_err(|_| corrupt("company"))?,
            kind: MailKind::parse(&row.kind).ok_or_else(|| corrupt("kind"))?,
            ticket_id: row.ticket_id.map(TicketId),
            account_id: row.account_id.map(AccountId),
            recipient: row.recipient,
            subject: row.subject,
            text: row.text_body,
            html: row.html_body,
            state: DeliveryState::parse(&row.state).ok_or_else(|| corrupt("state"))?,
            attempts: u32::try_from(row.attempts).map_err(|_| corrupt("attempts"))?,
            next_attempt_at: from_micros(row.next_attempt_at)?,
            last_code: row.last_code.and_then(|code| u16::try_from(code).ok()),
            last_error: row.last_error,
            occurred_at: from_micros(row.occurred_at)?,
            created_at: from_micros(row.created_at)?,
            updated_at: from_micros(row.updated_at)?,
        })
    }
}

/// A company's template of one kind, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailTemplateRecord {
    pub kind: MailKind,
    pub template: MailTemplate,
    pub updated_at: OffsetDateTime,
}

impl Store {
    /// Queues mails, due at once; those queued already are left out.
    pub async fn add_mails(&self, mails: &[NewMail]) -> Result<()> {
        self.record_notifications(&[], &[], mails).await
    }

    /// Claims up to `limit` mails due at `now`, each the earliest pending
    /// one of its ticket to its address, each leased until
    /// `now + lease` (no other worker takes it meanwhile; a worker that dies
    /// leaves it due again).
    pub async fn claim_due_mails(
        &self,
        now: OffsetDateTime,
        lease: time::Duration,
        limit: u32,
    ) -> Result<Vec<MailRecord>> {
        let now = to_micros(now);
        let leased_until = crate::lease::leased_until(now, lease);
        let rows: Vec<MailRow> = on_pool!(&self.db, |pool| {
            sqlx::query_as(&format!(
                "SELECT {MAIL_COLUMNS} FROM mails m WHERE {CLAIMABLE} AND m.next_attempt_at <= $1 \
                 ORDER BY m.next_attempt_at LIMIT $2"
            ))
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
        })?;
        let leased = self.lease_rows("mails", rows, now, leased_until).await?;
        leased.into_iter().map(MailRecord::try_from).collect()
    }

    /// When the next mail [`Store::claim_due_mails`] could take falls due,
    /// if any (not one waiting for an earlier mail of its ticket).
    pub async fn next_mail_due(&self) -> Result<Option<OffsetDateTime>> {
        let next: Option<i64> = on_pool!(&self.db, |pool| sqlx::query_scalar(&format!(
            "SELECT m.next_attempt_at FROM mails m WHERE {CLAIMABLE} ORDER BY m.next_attempt_at LIMIT 1"
        ))
        .fetch_optional(pool)
        .await)?;
        next.map(from_micros).transpose()
    }

    /// Records an attempt's outcome, if the claim (`mail` as claimed) still
    /// holds; `false` when the lease ran out and another worker took the
    /// mail over (nothing changed). A mail sent or failed keeps no body.
    pub async fn finish_mail_attempt(
        &self,
        mail: &MailRecord,
        attempt: &MailAttempt,
        outcome: &MailOutcome,
    ) -> Result<bool> {
        let now = to_micros(attempt.attempted_at);
        let (state, next_attempt_at) = match outcome {
            MailOutcome::Sent => (DeliveryState::Delivered, now),
            MailOutcome::Retry(at) => (DeliveryState::Pending, to_micros(*at)),
            MailOutcome::Failed => (DeliveryState::Failed, now),
        };
        let recorded = on_pool!(&self.writer, |pool| sqlx::query(
            "UPDATE mails SET state = $1, attempts = attempts + 1, next_attempt_at = $2, last_code = $3, \
             last_error = $4, updated_at = $5, \
             text_body = CASE WHEN $1 = 'pending' THEN text_body ELSE '' END, \
             html_body = CASE WHEN $1 = 'pending' THEN html_body ELSE '' END \
             WHERE id = $6 AND state = 'pending' AND next_attempt_at = $7"
        )
        .bind(state.as_str())
        .bind(next_attempt_at)
        .bind(attempt.code.map(i64::from))
        .bind(&attempt.error)
        .bind(now)
        .bind(mail.id)
        .bind(to_micros(mail.next_attempt_at))
        .execute(pool)
        .await
        .map(|result| result.rows_affected() == 1))?;
        Ok(recorded)
    }

    /// Deletes mails settled (delivered or failed) before `older_than`
    /// (microseconds): the log's retention.
    pub async fn purge_settled_mails(&self, older_than_micros: i64) -> Result<u64> {
        on_pool!(&self.writer, |pool| {
            Ok(sqlx::query("DELETE FROM mails WHERE state <> 'pending' AND updated_at < $1")
                .bind(older_than_micros)
                .execute(pool)
                .await?
                .rows_affected())
        })
    }

    /// A ticket's mails, oldest first.
    pub async fn mails_of(&self, scope: &Scope, ticket: TicketId) -> Result<Vec<MailRecord>> {
        let rows: Vec<MailRow> = on_pool!(&self.db, |pool| {
            let mut query = sqlx::QueryBuilder::new(format!("SELECT {MAIL_COLUMNS} FROM mails WHERE ticket_id = "));
            query.push_bind(ticket.0);
            push_scope(&mut query, scope);
            query.push(" ORDER BY occurred_at, id");
            query.build_query_as().fetch_all(pool).await
        })?;
        rows.into_iter().map(MailRecord::try_from).collect()
    }

    /// Woken when a mail is due at once.
    pub fn mails_due(&self) -> &tokio::sync::Notify {
        &self.mails_due
    }

    /// The company's own templates, by kind.
    pub async fn mail_templates(&self, company: &CompanyId) -> Result<Vec<MailTemplateRecord>> {
        let rows: Vec<(String, String, String, String, i64)> = on_pool!(&self.db, |pool| sqlx::query_as(
            "SELECT kind, subject, text_body, html_body, updated_at FROM mail_templates WHERE company = $1 \
             ORDER BY kind"
        )
        .bind(company.as_str())
        .fetch_all(pool)
        .await)?;
        rows.into_iter()
            .map(|(kind, subject, text, html, updated_at)| {
                Ok(MailTemplateRecord {
                    kind: MailKind::parse(&kind)
                        .ok_or_else(|| Error::Corrupt(format!("mail template of {company}: kind `{kind}`")))?,
                    template: MailTemplate { subject, text, html },
                    updated_at: from_micros(updated_at)?,
                })
            })
            .collect()
    }

    /// Sets the company's template of `kind`.
    pub async fn put_mail_template(&self, company: &CompanyId, kind: MailKind, template: &MailTemplate) -> Result<()> {
        on_pool!(&self.writer, |pool| sqlx::query(
            "INSERT INTO mail_templates (company, kind, subject, text_body, html_body, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (company, kind) DO UPDATE SET subject = excluded.subject, \
             text_body = excluded.text_body, html_body = excluded.html_body, updated_at = excluded.updated_at"
        )
        .bind(company.as_str())
        .bind(kind.as_str())
        .bind(&template.subject)
        .bind(&template.text)
        .bind(&template.html)
        .bind(now_micros())
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Drops the company's template of `kind` (the built-in one applies
    /// again); `false` if it had none.
    pub async fn delete_mail_template(&self, company: &CompanyId, kind: MailKind) -> Result<bool> {
        let deleted =
            on_pool!(&self.writer, |pool| sqlx::query("DELETE FROM mail_templates WHERE company = $1 AND kind = $2")
                .bind(company.as_str())
                .bind(kind.as_str())
                .execute(pool)
                .await
                .map(|result| result.rows_affected() == 1))?;
        Ok(deleted)
    }

    /// An account's mail preferences (every kind on when it set none).
    pub async fn mail_preferences(&self, account: AccountId) -> Result<MailPreferences> {
        let muted: Option<String> =
            on_pool!(&self.db, |pool| sqlx::query_scalar("SELECT muted FROM mail_preferences WHERE account_id = $1")
                .bind(account.0)
                .fetch_optional(pool)
                .await)?;
        let Some(muted) = muted else { return Ok(MailPreferences::default()) };
        let names: Vec<String> = serde_json::from_str(&muted)
            .map_err(|_| Error::Corrupt(format!("mail preferences of {account}: not a list")))?;
        // A kind a later build dropped is ignored.
        Ok(MailPreferences { muted: names.iter().filter_map(|name| MailKind::parse(name)).collect() })
    }

    /// Replaces an account's mail preferences.
    pub async fn set_mail_preferences(&self, account: AccountId, preferences: &MailPreferences) -> Result<()> {
        let names: Vec<&str> = preferences.muted.iter().map(|kind| kind.as_str()).collect();
        let muted = serde_json::to_string(&names).map_err(|error| Error::Corrupt(error.to_string()))?;
        on_pool!(&self.writer, |pool| sqlx::query(
            "INSERT INTO mail_preferences (account_id, muted, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (account_id) DO UPDATE SET muted = excluded.muted, updated_at = excluded.updated_at"
        )
        .bind(account.0)
        .bind(muted)
        .bind(now_micros())
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }
}
