//! What the notifier mails: each notification's mails
//! (`switchboard_core::mail::mails_of`), each password-reset request and
//! each webhook endpoint the webhooks stage disabled,
//! addressed (accounts' addresses and preferences; nothing to a deleted
//! account), rendered with the company's template or the built-in one, and
//! queued in the store's outbox for the mail stage.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use switchboard_bus::HandlerError;
use switchboard_core::cache::TtlCache;
use switchboard_core::config::MailConfig;
use switchboard_core::events::{AccountEvent, AccountMessage};
use switchboard_core::mail::{self, Links, MailKind, MailTemplate, Recipient, RenderedMail};
use switchboard_core::notifications::Notification;
use switchboard_core::{AccountId, CompanyId, EventId, Role, Scope, Ticket};
use switchboard_store::{AccountRecord, NewMail, Store, WebhookRecord};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Companies whose templates are cached at once.
const MAX_CACHED_COMPANIES: usize = 10_000;

/// Queues the mails of notifications and account events.
pub(crate) struct MailQueue {
    store: Store,
    links: Links,
    /// Each company's own templates, read at most every `mail.refresh_ms`.
    templates: TtlCache<CompanyId, Arc<HashMap<MailKind, MailTemplate>>>,
}

/// One address a mail goes to.
struct Addressee {
    email: String,
    name: Option<String>,
    account: Option<AccountId>,
}

impl MailQueue {
    /// `None` when mail is off (no `mail.smtp_url`): nothing is queued.
    pub(crate) fn new(store: Store, config: &MailConfig) -> Option<Self> {
        config.smtp_url.as_ref()?;
        Some(Self {
            store,
            links: Links::new(&config.public_url),
            templates: TtlCache::new(Duration::from_millis(config.refresh_ms), MAX_CACHED_COMPANIES),
        })
    }

    /// The mails `notifications` imply, addressed and rendered, for the
    /// stage to record with the rest of the event's writes.
    pub(crate) async fn mails_of(&self, notifications: &[Notification]) -> Result<Vec<NewMail>, HandlerError> {
        let mut mails = Vec::new();
        for notification in notifications {
            for (kind, recipient) in mail::mails_of(notification) {
                let ticket = notification.ticket.as_ref();
                for addressee in self.addressees(&notification.company, ticket, kind, &recipient).await? {
                    let context =
                        mail::ticket_context(notification, &self.links, addressee.name.as_deref(), &addressee.email);
                    let Some(rendered) = self.render(&notification.company, kind, &context).await? else { continue };
                    mails.push(NewMail::of(notification, kind, addressee.email, addressee.account, rendered));
                }
            }
        }
        Ok(mails)
    }

    /// Queues the mail an account event implies: the reset link, always
    /// (it was asked for), unless the account is gone meanwhile.
    pub(crate) async fn queue_account_event(&self, message: &AccountMessage) -> Result<(), HandlerError> {
        let AccountEvent::PasswordResetRequested { email, name, token, expires_at } = &message.event;
        // A link that no longer works is not sent (a backlog, a replay).
        if *expires_at <= OffsetDateTime::now_utc() {
            return Ok(());
        }
        let scope = Scope::Company(message.company.clone());
        let account = self.store.account(&scope, message.account_id).await.map_err(HandlerError::classify)?;
        if account.is_none_or(|account| account.deleted_at.is_some()) {
            return Ok(());
        }
        let context = serde_json::json!({
            "recipient": {"name": name, "email": email},
            "reset_url": self.links.reset_password(message.account_id, token.expose()),
            "token": token.expose(),
            "expires_at": expires_at.format(&Rfc3339).unwrap_or_default(),
        });
        let kind = MailKind::PasswordReset;
        let Some(rendered) = self.render(&message.company, kind, &context).await? else { return Ok(()) };
        let mail = NewMail {
            id: mail::mail_id(message.event_id, kind, email),
            company: message.company.clone(),
            kind,
            ticket_id: None,
            account_id: Some(message.account_id),
            recipient: email.clone(),
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
            occurred_at: message.occurred_at,
        };
        self.queue(&[mail]).await
    }

    /// Tells the company's admins that `endpoint` was disabled at
    /// `disabled_at`, and why: once per time it was disabled (the mail's id
    /// derives from the endpoint and the time).
    pub(crate) async fn queue_webhook_disabled(
        &self,
        endpoint: &WebhookRecord,
        reason: &str,
        disabled_at: OffsetDateTime,
    ) -> Result<(), HandlerError> {
        let kind = MailKind::WebhookDisabled;
        let at = disabled_at.format(&Rfc3339).unwrap_or_default();
        let cause = EventId::derived(EventId(endpoint.id.0), &format!("disabled at {at}"));
        let mut mails = Vec::new();
        for addressee in self.addressees(&endpoint.company, None, kind, &Recipient::Admins).await? {
            let context = serde_json::json!({
                "recipient": {"name": addressee.name, "email": addressee.email},
                "endpoint": {
                    "id": endpoint.id,
                    "url": endpoint.fields.url,
                    "description": endpoint.fields.description,
                },
                "reason": reason,
                "disabled_at": at,
            });
            let Some(rendered) = self.render(&endpoint.company, kind, &context).await? else { continue };
            mails.push(NewMail {
                id: mail::mail_id(cause, kind, &addressee.email),
                company: endpoint.company.clone(),
                kind,
                ticket_id: None,
                account_id: addressee.account,
                recipient: addressee.email,
                subject: rendered.subject,
                text: rendered.text,
                html: rendered.html,
                occurred_at: disabled_at,
            });
        }
        self.queue(&mails).await
    }

    async fn queue(&self, mails: &[NewMail]) -> Result<(), HandlerError> {
        if mails.is_empty() {
            return Ok(());
        }
        metrics::counter!("switchboard_mails_queued_total").increment(mails.len() as u64);
        self.store.add_mails(mails).await.map_err(HandlerError::classify)
    }

    /// Where a mail of `kind` to `recipient` goes: accounts that are not
    /// deleted and did not mute `kind`, or the address on a ticket filed
    /// without an account.
    async fn addressees(
        &self,
        company: &CompanyId,
        ticket: Option<&Ticket>,
        kind: MailKind,
        recipient: &Recipient,
    ) -> Result<Vec<Addressee>, HandlerError> {
        let scope = &Scope::Company(company.clone());
        let account = |id| async move { self.store.account(scope, id).await.map_err(HandlerError::classify) };
        let with_roles = |roles: &'static [Role]| async move {
            let everyone = self.store.list_accounts(company).await.map_err(HandlerError::classify)?;
            Ok::<Vec<AccountRecord>, HandlerError>(
                everyone.into_iter().filter(|account| roles.contains(&account.role)).collect(),
            )
        };
        let accounts: Vec<AccountRecord> = match recipient {
            Recipient::Requester => {
                let Some(ticket) = ticket else { return Ok(Vec::new()) };
                match ticket.requester.account {
                    Some(id) => account(id).await?.into_iter().collect(),
                    // A deleted account's tickets keep no address.
                    None if ticket.requester.email.is_empty() => return Ok(Vec::new()),
                    None => {
                        return Ok(vec![Addressee {
                            email: ticket.requester.email.clone(),
                            name: ticket.requester.name.clone(),
                            account: None,
                        }]);
                    }
                }
            }
            Recipient::Account(id) => account(*id).await?.into_iter().collect(),
            Recipient::Staff => with_roles(&mail::STAFF_ROLES).await?,
            Recipient::Admins => with_roles(&[Role::Admin]).await?,
        };
        let mut addressees = Vec::with_capacity(accounts.len());
        for account in accounts {
            let (None, Some(email)) = (account.deleted_at, account.email) else { continue };
            let preferences = self.store.mail_preferences(account.id).await.map_err(HandlerError::classify)?;
            if preferences.wants(kind) {
                addressees.push(Addressee { email, name: account.name, account: Some(account.id) });
            }
        }
        Ok(addressees)
    }

    /// The mail rendered with the company's template of `kind`, or with the
    /// built-in one (`mail::render_mail`); `None` if even that fails.
    async fn render(
        &self,
        company: &CompanyId,
        kind: MailKind,
        context: &serde_json::Value,
    ) -> Result<Option<RenderedMail>, HandlerError> {
        let templates = self
            .templates
            .get_or_load(company, || async {
                let records = self.store.mail_templates(company).await?;
                let templates = records.into_iter().map(|record| (record.kind, record.template)).collect();
                Ok::<_, switchboard_store::Error>(Arc::new(templates))
            })
            .await
            .map_err(HandlerError::classify)?;
        match mail::render_mail(kind, templates.get(&kind), context) {
            Ok((rendered, own_error)) => {
                if let Some(error) = own_error {
                    tracing::warn!(
                        %company, %kind, %error,
                        "a company's mail template failed; the built-in one is used"
                    );
                }
                Ok(Some(rendered))
            }
            Err(error) => {
                tracing::error!(%company, %kind, %error, "a built-in mail template failed; the mail is not sent");
                Ok(None)
            }
        }
    }
}
