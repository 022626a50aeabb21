//! What becomes of a received mail: a new ticket, a message on the ticket
//! it answers, or nothing (a duplicate, or automatic mail). One path for
//! every way mail arrives (`POST /v1/inbound/email`, `switchboard mailgate`
//! through it, the IMAP poller).
//!
//! - **Company**: the first recipient (To, Cc, Delivered-To, X-Original-To)
//!   that is one of a company's inbound addresses.
//! - **Noise** (RFC 3834 and common practice, see [`super::noise`]): never
//!   a ticket, never answered.
//! - **Threading**: a reply joins a ticket when its `In-Reply-To` or
//!   `References` name a mail of that ticket (one we sent:
//!   `<ticket.{id}@…>` or `<{mail}.{id}@…>`; or one we received) or its
//!   subject carries `[#{ticket id}]`, *and* its sender takes part in the
//!   ticket (the requester, the assignee, or someone whose mail joined it
//!   before). Otherwise it is a new ticket: a stranger quoting a ticket
//!   number never joins someone else's ticket. A customer's reply to a
//!   resolved ticket reopens it when the company's `reopen_on_reply` is on.
//! - **Once**: a mail is taken once per `Message-ID` (one without gets an id
//!   from its content's hash).
//! - **Durability**: a new ticket is answered once the bus holds it; a reply
//!   once the store committed it. Files are stored first, and the full
//!   original is kept as `original.eml`.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Serialize;
use sha2::{Digest, Sha256};
use switchboard_core::lifecycle::{Action, Actor, Role};
use switchboard_core::ticket::{NewRequester, NewTicket};
use switchboard_core::{Channel, CompanyId, EventId, Scope, Status, Ticket, TicketId};
use switchboard_store::{Change, MailReply, TransitionRequest};
use switchboard_web::{ApiError, Authenticated, read_limited, require_media_type};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{InboundMail, ParseError};
use crate::IngestState;
use crate::attachments::{self, Accept, Upload};
use crate::submit::{produce_once, ticket_message};

/// What became of a mail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Received {
    /// `ticket` (a new ticket), `message` (a reply on an existing one),
    /// `duplicate` (this mail was taken before), `ignored` (automatic mail:
    /// `reason` says which kind) or `kept` (automatic mail kept on the
    /// ticket it answers as an internal note, for a company that asks so).
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket_id: Option<TicketId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<EventId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// Whether the ticket was reopened by this reply.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reopened: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ticket,
    Message,
    Duplicate,
    Ignored,
    Kept,
}

impl Outcome {
    /// The name the API and the metrics give it.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ticket => "ticket",
            Outcome::Message => "message",
            Outcome::Duplicate => "duplicate",
            Outcome::Ignored => "ignored",
            Outcome::Kept => "kept",
        }
    }
}

impl Received {
    fn of(outcome: Outcome, ticket_id: Option<TicketId>) -> Self {
        Self { outcome, ticket_id, message_id: None, reason: None, reopened: false }
    }
}

/// Where a mail is known to belong before its recipients are read.
#[derive(Clone, Debug)]
pub enum Destination {
    /// Through the API: the caller's company, which the recipient must
    /// name.
    Caller(CompanyId),
    /// A mailbox configured for one company (IMAP): its mail is the
    /// company's whatever the recipients say.
    Of(CompanyId),
}

impl From<ParseError> for ApiError {
    fn from(error: ParseError) -> Self {
        match error {
            ParseError::TooLarge { limit, .. } => ApiError::TooLarge { limit },
            other => ApiError::Unprocessable { code: "unreadable_email", message: other.to_string() },
        }
    }
}

/// `POST /v1/inbound/email`: one raw mail (`message/rfc822`) for the
/// caller's company.
pub(crate) async fn receive_email(
    State(state): State<IngestState>,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    require_media_type(&headers, "message/rfc822", |value| {
        value.split(';').next().is_some_and(|media| media.trim().eq_ignore_ascii_case("message/rfc822"))
    })?;
    let raw = read_limited(body, &headers, state.config.email.max_message_bytes).await?;
    let Some(company) = caller.scope().company().cloned() else {
        return Err(ApiError::Forbidden { message: "mail is received for one company: use a company's key".into() });
    };
    let received = receive(&state, Destination::Caller(company), raw).await?;
    Ok((StatusCode::ACCEPTED, Json(received)).into_response())
}

/// The bare address of `Name <user@host>` or `user@host`, lowercase.
pub fn bare_address(mailbox: &str) -> Option<String> {
    let mailbox = mailbox.trim();
    let address = match mailbox.rsplit_once('<') {
        Some((_, rest)) => rest.strip_suffix('>')?,
        None => mailbox,
    };
    address.contains('@').then(|| address.trim().to_lowercase())
}

/// Takes one raw mail.
pub async fn receive(state: &IngestState, mailbox: Destination, raw: Bytes) -> Result<Received, ApiError> {
    let parsed = {
        let raw = raw.clone();
        tokio::task::spawn_blocking(move || super::parse(&raw)).await.map_err(ApiError::internal)??
    };
    // Automatic mail is taken (never refused: a refusal would bounce, and
    // a bounce to an auto-reply is how mail loops start) and dropped, even
    // when it reached an address no company receives at.
    if let Some(noise) = parsed.noise {
        return keep_or_drop(state, &mailbox, &parsed, noise, raw).await;
    }
    let company = company_of(state, &mailbox, &parsed).await?;
    let own = own_addresses(state, &company).await?;
    let own: Vec<&str> = own.iter().map(String::as_str).collect();
    if let Some(noise) = parsed.noise_given(&own) {
        return Ok(ignored(noise, Some(&company)));
    }
    let Some(sender) = parsed.from.as_ref().map(|from| from.email.clone()) else {
        return Err(ParseError::NoFrom.into());
    };
    if switchboard_core::ticket::check_email(&sender).is_err() || sender.chars().any(char::is_control) {
        return Err(ApiError::Unprocessable {
            code: "invalid_sender",
            message: "the mail's From is not an address a ticket can be answered at".into(),
        });
    }
    let limit = state.config.email.per_sender_per_hour;
    if let Some(retry_after) = state.mail_senders.check(format!("{company}:{sender}"), limit, true) {
        metrics::counter!("switchboard_ingest_emails_total", "outcome" => "rate_limited").increment(1);
        return Err(ApiError::RateLimited { retry_after_seconds: retry_after });
    }
    let message_id = match parsed.message_id.as_deref() {
        Some(id) if is_storable_id(id) => id.to_owned(),
        Some(id) => content_id(id.as_bytes()),
        None => content_id(&raw),
    };
    if state.store.inbound_mail_seen(&company, &message_id).await? {
        metrics::counter!("switchboard_ingest_emails_total", "outcome" => "duplicate").increment(1);
        return Ok(Received::of(Outcome::Duplicate, None));
    }

    let uploads = uploads(&parsed, raw);
    let received = match answered_ticket(state, &company, &parsed, &sender).await? {
        Some(ticket) => add_reply(state, &company, &ticket, &parsed, &message_id, &sender, &uploads).await?,
        None => file_new_ticket(state, &company, &parsed, &message_id, &sender, &uploads).await?,
    };
    metrics::counter!("switchboard_ingest_emails_total", "outcome" => received.outcome.as_str()).increment(1);
    Ok(received)
}

/// Automatic mail: kept on the ticket it answers as an internal note when
/// the company keeps automatic mail (staff learn of a bounce or an absence;
/// nobody is notified of an internal note, so nothing answers it), else
/// dropped. Never a ticket, never an error.
async fn keep_or_drop(
    state: &IngestState,
    mailbox: &Destination,
    mail: &InboundMail,
    noise: super::Noise,
    raw: Bytes,
) -> Result<Received, ApiError> {
    let Ok(company) = company_of(state, mailbox, mail).await else {
        return Ok(ignored(noise, None));
    };
    let keeps = state.store.company(&company).await?.is_some_and(|record| record.options.keep_automatic_mail);
    let thread: Vec<String> = mail.in_reply_to.iter().chain(&mail.references).cloned().collect();
    let mut candidates = tickets_named_by_ids(&thread);
    if !keeps || candidates.is_empty() {
        return Ok(ignored(noise, Some(&company)));
    }
    let scope = Scope::Company(company.clone());
    let mut ticket = None;
    for candidate in candidates.drain(..) {
        if let Some(found) = state.store.get_ticket(&scope, candidate).await? {
            ticket = Some(found);
            break;
        }
    }
    let Some(ticket) = ticket else {
        return Ok(ignored(noise, Some(&company)));
    };
    let message_id =
        mail.message_id.as_deref().filter(|id| is_storable_id(id)).map_or_else(|| content_id(&raw), str::to_owned);
    let sender = mail.from.as_ref().map_or_else(|| "(no sender)".to_owned(), |from| storable(&from.email));
    let uploads = uploads(mail, raw);
    let files = attachments::check(&uploads, Accept::Anything, usize::MAX, &state.attachments)?;
    attachments::store(state, &company, ticket.id, &files, &uploads).await?;
    let text = storable(mail.body.trim());
    let body = truncate(
        &format!("Automatic mail ({}) from {sender}: {}\n\n{text}", noise.as_str(), mail.subject),
        switchboard_core::ticket::limits::DESCRIPTION_MAX_BYTES,
    );
    let change = Change { ticket_id: ticket.id, actor: Actor { role: Role::System, account: None }, request_id: None };
    // No sender is recorded: automatic mail never makes its sender a
    // participant whose later mail would join the ticket.
    let note = MailReply { message_id: &message_id, sender: "", body: &body, attachments: &files, internal: true };
    match state.store.add_mail_reply(&scope, change, &note).await? {
        Some(message) => {
            metrics::counter!("switchboard_ingest_emails_total", "outcome" => "kept").increment(1);
            Ok(Received {
                message_id: Some(message.id),
                reason: Some(noise.as_str()),
                ..Received::of(Outcome::Kept, Some(ticket.id))
            })
        }
        None => {
            attachments::discard(state, &company, ticket.id, &files).await;
            Ok(Received::of(Outcome::Duplicate, Some(ticket.id)))
        }
    }
}

fn ignored(noise: super::Noise, company: Option<&CompanyId>) -> Received {
    tracing::info!(company = company.map(CompanyId::as_str), reason = noise.as_str(), "automatic mail dropped");
    metrics::counter!("switchboard_ingest_emails_total", "outcome" => "ignored").increment(1);
    Received { reason: Some(noise.as_str()), ..Received::of(Outcome::Ignored, None) }
}

async fn company_of(state: &IngestState, mailbox: &Destination, mail: &InboundMail) -> Result<CompanyId, ApiError> {
    let named = state.store.company_of_addresses(&mail.recipients).await?;
    match (mailbox, named) {
        (Destination::Of(company), _) => Ok(company.clone()),
        (Destination::Caller(caller), Some((company, _))) if company == *caller => Ok(company),
        (Destination::Caller(_), Some((_, address))) => Err(ApiError::Unprocessable {
            code: "recipient_of_another_company",
            message: format!("`{address}` is another company's inbound address"),
        }),
        (Destination::Caller(_), None) => Err(ApiError::Unprocessable {
            code: "unknown_recipient",
            message: "no recipient (To, Cc, Delivered-To, X-Original-To) is one of the company's inbound addresses; \
                      add the address to `inbound_addresses` in the company's settings"
                .into(),
        }),
    }
}

/// Addresses mail must not come from: ours (a loop).
async fn own_addresses(state: &IngestState, company: &CompanyId) -> Result<Vec<String>, ApiError> {
    let mut own = state.store.inbound_addresses(company).await?;
    if let Some(sender) = &state.mail_from {
        own.push(sender.clone());
    }
    Ok(own)
}

/// Whether a `Message-ID` can be kept as it is: printable, and of a sane
/// length (others are replaced by [`content_id`] of them).
fn is_storable_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 512 && id.chars().all(|character| !character.is_control())
}

/// Text a ticket can hold: control characters other than tab, newline and
/// carriage return (which no person types, and PostgreSQL cannot store
/// NUL) become spaces.
fn storable(text: &str) -> String {
    text.chars()
        .map(
            |character| {
                if character.is_control() && !matches!(character, '\t' | '\n' | '\r') { ' ' } else { character }
            },
        )
        .collect()
}

/// An id for a mail without a usable `Message-ID`: the same bytes get the
/// same id.
fn content_id(raw: &[u8]) -> String {
    let digest = Sha256::digest(raw);
    let hex: String = digest.iter().take(16).map(|byte| format!("{byte:02x}")).collect();
    format!("sha256.{hex}@switchboard.invalid")
}

/// The mail's files, and the whole original last.
fn uploads(mail: &InboundMail, raw: Bytes) -> Vec<Upload> {
    let mut uploads: Vec<Upload> = mail
        .attachments
        .iter()
        .map(|file| Upload { filename: file.filename.clone(), content: Bytes::from(file.content.clone()) })
        .collect();
    uploads.push(Upload { filename: "original.eml".into(), content: raw });
    uploads
}

/// The ticket ids a mail's thread ids name when they are ids we made:
/// `ticket.{32 hex}@…` (a thread root) or `{32 hex}.{32 hex}@…` (a mail
/// about the ticket).
fn tickets_named_by_ids(ids: &[String]) -> Vec<TicketId> {
    ids.iter()
        .filter_map(|id| {
            let local = id.split('@').next()?;
            let ticket = match local.split_once('.') {
                Some(("ticket", ticket)) => ticket,
                Some((mail, ticket)) if mail.len() == 32 && mail.bytes().all(|byte| byte.is_ascii_hexdigit()) => ticket,
                _ => return None,
            };
            (ticket.len() == 32).then(|| Uuid::try_parse(ticket).ok().map(TicketId)).flatten()
        })
        .collect()
}

/// The ticket a subject's `[#…]` tag names.
fn ticket_named_by_subject(subject: &str) -> Option<TicketId> {
    let (_, rest) = subject.split_once("[#")?;
    let (tag, _) = rest.split_once(']')?;
    Uuid::try_parse(tag.trim()).ok().map(TicketId)
}

/// The ticket the mail answers, if it names one its sender takes part in.
async fn answered_ticket(
    state: &IngestState,
    company: &CompanyId,
    mail: &InboundMail,
    sender: &str,
) -> Result<Option<Ticket>, ApiError> {
    let thread: Vec<String> = mail.in_reply_to.iter().chain(&mail.references).cloned().collect();
    let mut candidates = tickets_named_by_ids(&thread);
    if let Some(received) = state.store.ticket_of_received_mail(company, &thread).await? {
        candidates.push(received);
    }
    candidates.extend(ticket_named_by_subject(&mail.subject));
    let scope = Scope::Company(company.clone());
    for candidate in candidates {
        let Some(ticket) = state.store.get_ticket(&scope, candidate).await? else { continue };
        if state.store.takes_part_by_mail(company, ticket.id, sender).await? {
            return Ok(Some(ticket));
        }
        tracing::info!(ticket_id = %ticket.id, "a mail names a ticket its sender takes no part in; it becomes a new one");
    }
    Ok(None)
}

async fn add_reply(
    state: &IngestState,
    company: &CompanyId,
    ticket: &Ticket,
    mail: &InboundMail,
    message_id: &str,
    sender: &str,
    uploads: &[Upload],
) -> Result<Received, ApiError> {
    let actor = author(state, ticket, sender).await?;
    let files = attachments::check(uploads, Accept::Anything, usize::MAX, &state.attachments)?;
    attachments::store(state, company, ticket.id, &files, uploads).await?;
    let body = message_text(mail);
    let change = Change { ticket_id: ticket.id, actor, request_id: None };
    let reply = MailReply { message_id, sender, body: &body, attachments: &files, internal: false };
    let scope = Scope::Company(company.clone());
    let Some(message) = state.store.add_mail_reply(&scope, change, &reply).await? else {
        // Taken by a concurrent delivery of the same mail: its files are
        // this attempt's leftovers.
        attachments::discard(state, company, ticket.id, &files).await;
        return Ok(Received::of(Outcome::Duplicate, Some(ticket.id)));
    };
    let reopen = ticket.status == Status::Resolved
        && actor.role == Role::Customer
        && state.store.company(company).await?.is_some_and(|record| record.options.reopen_on_reply);
    let mut reopened = false;
    if reopen {
        let request = TransitionRequest {
            ticket_id: ticket.id,
            action: Action::Reopen,
            actor,
            event_id: EventId::derived(message.id, "reopen"),
            request_id: None,
            details: Default::default(),
        };
        match state.store.transition(&scope, request).await {
            Ok(_) => reopened = true,
            // Someone moved the ticket meanwhile: the reply stands.
            Err(switchboard_store::Error::Transition(refusal)) => {
                tracing::info!(%refusal, ticket_id = %ticket.id, "a reply did not reopen its ticket");
            }
            Err(error) => tracing::warn!(%error, ticket_id = %ticket.id, "a reply could not reopen its ticket"),
        }
    }
    Ok(Received { message_id: Some(message.id), reopened, ..Received::of(Outcome::Message, Some(ticket.id)) })
}

/// Who a reply is from: the requester is the customer; the assignee is
/// themself; anyone else who took part earlier writes as a customer.
async fn author(state: &IngestState, ticket: &Ticket, sender: &str) -> Result<Actor, ApiError> {
    if let Some(assignee) = ticket.assignee
        && !ticket.requester.email.eq_ignore_ascii_case(sender)
        && let Some(account) = state.store.account(&Scope::Company(ticket.company.clone()), assignee).await?
        && account.email.as_deref().is_some_and(|email| email.eq_ignore_ascii_case(sender))
    {
        return Ok(Actor { role: account.role, account: Some(assignee) });
    }
    let account = ticket.requester.account.filter(|_| ticket.requester.email.eq_ignore_ascii_case(sender));
    Ok(Actor { role: Role::Customer, account })
}

/// The words a mail adds: its reply text, else a note that it had none.
fn message_text(mail: &InboundMail) -> String {
    let text = mail.reply_text.trim();
    let text = if text.is_empty() { "(This e-mail had no text; its files are attached.)" } else { text };
    truncate(&storable(text), switchboard_core::ticket::limits::DESCRIPTION_MAX_BYTES)
}

fn truncate(text: &str, max_bytes: usize) -> String {
    switchboard_core::text::clip(text, max_bytes).to_owned()
}

async fn file_new_ticket(
    state: &IngestState,
    company: &CompanyId,
    mail: &InboundMail,
    message_id: &str,
    sender: &str,
    uploads: &[Upload],
) -> Result<Received, ApiError> {
    let subject = storable(&mail.subject);
    let title = if subject.trim().is_empty() { "(no subject)".to_owned() } else { subject };
    let title: String = title.chars().take(switchboard_core::ticket::limits::TITLE_MAX_CHARS).collect();
    let name =
        mail.from.as_ref().and_then(|from| from.name.as_deref()).map(|name| {
            storable(name).chars().take(switchboard_core::ticket::limits::NAME_MAX_CHARS).collect::<String>()
        });
    let submitted = NewTicket {
        title: Some(title),
        description: Some(message_text(mail)),
        requester: Some(NewRequester { email: Some(sender.to_owned()), name }),
        company: Some(company.to_string()),
        tags: None,
        equipment: None,
    };
    let mut ticket = submitted.validate(TicketId::new(), Channel::Email, OffsetDateTime::now_utc())?;
    ticket.requester.account = state.store.customer_with_email(company, sender).await?;
    ticket.attachments = attachments::check(uploads, Accept::Anything, usize::MAX, &state.attachments)?;
    let files = ticket.attachments.clone();
    let (envelope, message) = ticket_message(state, ticket, None, None)?;
    attachments::store(state, company, envelope.ticket_id, &files, uploads).await?;
    let request_hash = Sha256::digest(message_id.as_bytes()).to_vec();
    let key = format!("email:{message_id}");
    let (ticket_id, replayed) = produce_once(state, company, &key, request_hash, (envelope.ticket_id, message)).await?;
    if replayed {
        // An earlier attempt filed it: this attempt's files are leftovers.
        attachments::discard(state, company, envelope.ticket_id, &files).await;
    }
    if let Err(error) = state.store.record_inbound_mail(company, message_id, ticket_id, sender).await {
        // The ticket is on the bus; replies to this mail still thread by
        // our own ids, and a redelivery is caught by the idempotency key.
        tracing::warn!(%error, "cannot record a received mail");
    }
    Ok(Received::of(Outcome::Ticket, Some(ticket_id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_thread_ids_name_their_ticket_and_others_do_not() {
        let ticket = TicketId::new();
        let hex = ticket.0.simple().to_string();
        let mail = Uuid::now_v7().simple().to_string();
        let ids = vec![
            format!("ticket.{hex}@mail.example"),
            format!("{mail}.{hex}@mail.example"),
            "CAF=abc.def@mail.gmail.com".to_owned(),
            format!("ticket.{}@x", &hex[..31]),
            "no-at-sign".to_owned(),
        ];
        assert_eq!(tickets_named_by_ids(&ids), vec![ticket, ticket]);
        assert_eq!(ticket_named_by_subject(&format!("Re: Pump leaks [#{ticket}]")), Some(ticket));
        assert_eq!(ticket_named_by_subject("Re: [#12] nothing"), None);
    }

    #[test]
    fn mails_without_an_id_get_one_from_their_bytes() {
        assert!(is_storable_id("abc@example.com") && !is_storable_id("a\0b") && !is_storable_id(""));
        assert_eq!(storable("a\0b\tc\u{7}"), "a b\tc ");
        assert_eq!(content_id(b"same"), content_id(b"same"));
        assert_ne!(content_id(b"same"), content_id(b"other"));
        assert_eq!(truncate("héllo", 2), "h");
    }
}
