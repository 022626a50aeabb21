//! What the notifier records for each event it handles, in one
//! transaction: the live-feed entries of its notifications (`live.rs`), the
//! webhook messages they imply (`webhooks.rs`) and the mails (`mail.rs`).

use crate::Store;
use crate::db::{BeginWrite, LockTable, now_micros, on_pool, to_micros};
use crate::error::{Error, Result};
use crate::live::NewLiveEvent;
use crate::mail::NewMail;
use crate::webhooks::NewWebhookMessage;

impl Store {
    /// Records what notifications imply, in one transaction (one commit
    /// per event the notifier handles): their live-feed entries, webhook
    /// messages and mails. Idempotent: what is recorded already (the same
    /// bus message handled again) is skipped; a message for an endpoint
    /// deleted meanwhile is dropped.
    pub async fn record_notifications(
        &self,
        live: &[NewLiveEvent<'_>],
        messages: &[NewWebhookMessage],
        mails: &[NewMail],
    ) -> Result<()> {
        if live.is_empty() && messages.is_empty() && mails.is_empty() {
            return Ok(());
        }
        let now = now_micros();
        on_pool!(&self.writer, |pool| {
            let mut transaction = pool.begin_write().await?;
            for message in messages {
                sqlx::query(
                    "INSERT INTO webhook_messages (id, company, endpoint_id, event_type, ticket_id, payload, state, \
                     attempts, next_attempt_at, occurred_at, created_at, updated_at) \
                     SELECT $1, $2, $3, $4, $5, $6, 'pending', 0, $7, $8, $7, $7 \
                     WHERE EXISTS (SELECT 1 FROM webhook_endpoints WHERE id = $3 AND company = $2) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(message.id)
                .bind(message.company.as_str())
                .bind(message.endpoint.0)
                .bind(message.event_type.as_str())
                .bind(message.ticket_id.0)
                .bind(&message.payload)
                .bind(now)
                .bind(to_micros(message.occurred_at))
                .execute(&mut *transaction)
                .await?;
            }
            for mail in mails {
                sqlx::query(
                    "INSERT INTO mails (id, company, kind, ticket_id, account_id, recipient, subject, text_body, \
                     html_body, state, attempts, next_attempt_at, occurred_at, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', 0, $10, $11, $10, $10) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(mail.id)
                .bind(mail.company.as_str())
                .bind(mail.kind.as_str())
                .bind(mail.ticket_id.map(|ticket| ticket.0))
                .bind(mail.account_id.map(|account| account.0))
                .bind(&mail.recipient)
                .bind(&mail.subject)
                .bind(&mail.text)
                .bind(&mail.html)
                .bind(now)
                .bind(to_micros(mail.occurred_at))
                .execute(&mut *transaction)
                .await?;
            }
            // Last, so the writers take turns on the feed only for its
            // inserts and the commit.
            if !live.is_empty() {
                transaction.lock_table("live_events").await?;
            }
            for event in live {
                let notification = event.notification;
                sqlx::query(
                    "INSERT INTO live_events (id, company, ticket_id, customer, staff_only, event_type, payload, \
                     created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
                )
                .bind(notification.id.0)
                .bind(notification.company.as_str())
                .bind(notification.ticket_id.0)
                .bind(notification.customer().map(|account| account.0))
                .bind(notification.staff_only())
                .bind(notification.kind.as_str())
                .bind(event.body)
                .bind(now)
                .execute(&mut *transaction)
                .await?;
            }
            transaction.commit().await?;
            Ok::<_, Error>(())
        })?;
        if !live.is_empty() {
            self.live_written.notify_one();
        }
        if !messages.is_empty() {
            self.webhooks_due.notify_one();
        }
        if !mails.is_empty() {
            self.mails_due.notify_one();
        }
        Ok(())
    }
}
