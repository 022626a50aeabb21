//! The `notifier` stage: bus events → the catalogue's notifications → the
//! live feed (every notification, for the API's streams) and one stored
//! message per subscribed endpoint, recorded together, and the mails they
//! imply (`mail_queue`); password-reset requests on `accounts.events` → the
//! reset mail.
//!
//! Idempotent: a message's id derives from the notification's (itself
//! derived from the bus event's) and the endpoint's, a mail's from the
//! notification's and its address, so an event handled twice stores each
//! message and each mail once.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use switchboard_bus::{Handler, HandlerError, Message, OutgoingMessage, Stage, StageContext, decode_envelope, runner};
use switchboard_core::CompanyId;
use switchboard_core::cache::TtlCache;
use switchboard_core::events::{AccountMessage, TicketEvent, TicketRouted, TicketTriaged};
use switchboard_core::filter::{Query, Subject};
use switchboard_core::notifications::{self, EventType, Notification};
use switchboard_core::topics::stages;
use switchboard_store::{NewLiveEvent, NewWebhookMessage, Store, WebhookRecord};

use crate::mail_queue::MailQueue;

pub const STAGE_NAME: &str = stages::NOTIFIER;

/// Companies whose endpoints are cached at once.
const MAX_CACHED_COMPANIES: usize = 10_000;

/// An endpoint with its filter parsed once.
struct Subscriber {
    endpoint: WebhookRecord,
    /// `Err` for a stored filter that no longer parses (checked when set;
    /// a newer build's field, say): the endpoint then gets nothing.
    filter: Result<Option<Query>, ()>,
}

/// The notifier stage, until `ctx.shutdown` fires.
pub async fn stage(ctx: StageContext) -> crate::Result<()> {
    let topics = ctx.config.topics();
    let stage =
        Stage { name: STAGE_NAME.into(), group: ctx.config.group(STAGE_NAME), topics: topics.inputs(STAGE_NAME) };
    let handler = Arc::new(Notifier {
        store: ctx.store.clone(),
        subscribers: TtlCache::new(Duration::from_millis(ctx.config.notifier.refresh_ms), MAX_CACHED_COMPANIES),
        events_topic: topics.events(),
        triaged_topic: topics.triaged(),
        routed_topic: topics.routed(),
        account_events_topic: topics.account_events(),
        mail: MailQueue::new(ctx.store.clone(), &ctx.config.mail),
    });
    Ok(runner::run(ctx.bus, stage, handler, ctx.config.runner.clone(), ctx.shutdown).await?)
}

struct Notifier {
    store: Store,
    subscribers: TtlCache<CompanyId, Arc<Vec<Subscriber>>>,
    events_topic: String,
    triaged_topic: String,
    routed_topic: String,
    account_events_topic: String,
    /// `None` when mail is off.
    mail: Option<MailQueue>,
}

impl Notifier {
    /// The company's endpoints, each read from the store at most every
    /// `notifier.refresh_ms`.
    async fn subscribers(&self, company: &CompanyId) -> Result<Arc<Vec<Subscriber>>, HandlerError> {
        self.subscribers
            .get_or_load(company, || async {
                let endpoints = self.store.list_webhooks(company).await?;
                let subscribers = endpoints
                    .into_iter()
                    .map(|endpoint| {
                        let filter = endpoint.fields.filter.as_deref().map(Query::parse).transpose().map_err(|error| {
                            tracing::warn!(endpoint = %endpoint.id, %error, "a webhook's filter does not parse; it gets nothing");
                        });
                        Subscriber { endpoint, filter }
                    })
                    .collect();
                Ok::<_, switchboard_store::Error>(Arc::new(subscribers))
            })
            .await
            .map_err(HandlerError::classify)
    }

    fn notifications(&self, message: &Message) -> Result<Vec<Notification>, HandlerError> {
        if message.topic == self.events_topic {
            Ok(notifications::of_ticket_event(&decode_envelope::<TicketEvent>(message)?))
        } else if message.topic == self.triaged_topic {
            Ok(vec![notifications::of_triaged(&decode_envelope::<TicketTriaged>(message)?)])
        } else if message.topic == self.routed_topic {
            Ok(vec![notifications::of_routed(&decode_envelope::<TicketRouted>(message)?)])
        } else {
            Ok(Vec::new())
        }
    }
}

/// Whether `subscriber` gets a notification of `kind` about `ticket`:
/// enabled, of a type it takes, and a ticket its filter selects (a deleted
/// ticket passes no filter).
fn wanted(subscriber: &Subscriber, kind: EventType, ticket: Option<&Subject<'_>>) -> bool {
    subscriber.endpoint.wants(kind)
        && match (&subscriber.filter, ticket) {
            (Ok(None), _) => true,
            (Ok(Some(filter)), Some(ticket)) => filter.matches(ticket),
            (Ok(Some(_)), None) | (Err(()), _) => false,
        }
}

#[async_trait]
impl Handler for Notifier {
    async fn handle(&self, message: &Message) -> Result<Vec<OutgoingMessage>, HandlerError> {
        if message.topic == self.account_events_topic {
            if let Some(mail) = &self.mail {
                let event: AccountMessage = serde_json::from_slice(&message.payload)
                    .map_err(|error| HandlerError::permanent(format!("undecodable account event: {error}")))?;
                mail.queue_account_event(&event).await?;
            }
            return Ok(Vec::new());
        }
        let notifications = self.notifications(message)?;
        let mails = match &self.mail {
            Some(mail) => mail.mails_of(&notifications).await?,
            None => Vec::new(),
        };
        let Some(first) = notifications.first() else { return Ok(Vec::new()) };
        let subscribers = self.subscribers(&first.company).await?;
        let bodies: Vec<String> = notifications.iter().map(Notification::body).collect();
        let mut live = Vec::with_capacity(notifications.len());
        let mut messages = Vec::new();
        for (notification, body) in notifications.iter().zip(&bodies) {
            live.push(NewLiveEvent { notification, body });
            let subject = notification.ticket.as_ref().map(Subject::new);
            for subscriber in
                subscribers.iter().filter(|subscriber| wanted(subscriber, notification.kind, subject.as_ref()))
            {
                messages.push(NewWebhookMessage::of(notification, subscriber.endpoint.id, body.clone()));
            }
        }
        self.store.record_notifications(&live, &messages, &mails).await.map_err(HandlerError::classify)?;
        metrics::counter!("switchboard_webhook_messages_total").increment(messages.len() as u64);
        metrics::counter!("switchboard_mails_queued_total").increment(mails.len() as u64);
        Ok(Vec::new())
    }
}
