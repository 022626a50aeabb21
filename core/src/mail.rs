//! E-mail to people, as data: which mails a notification implies and to
//! whom ([`mails_of`]), the kinds people may mute, the threading headers,
//! and the templates (built in, or a company's) rendered with `minijinja`.
//!
//! No I/O: the notifier stage resolves recipients to addresses and queues
//! the rendered mails; the mail stage sends them.

use std::collections::BTreeMap;

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::notifications::{EventType, Notification};
use crate::{AccountId, Role, TicketId, Urgency};

/// Every kind of mail, by the public name its preference and its template
/// go by (the catalogue's name where there is one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
pub enum MailKind {
    /// To the customer: their ticket arrived, with its link.
    #[serde(rename = "ticket.created")]
    TicketReceived,
    /// To the customer: the FAQ's answer, and a link that reopens the
    /// ticket when it did not help.
    #[serde(rename = "ticket.answered_by_faq")]
    AnsweredByFaq,
    /// To the customer: the report waits for their approval.
    #[serde(rename = "ticket.report_submitted")]
    ReportSubmitted,
    /// To the customer: resolved.
    #[serde(rename = "ticket.resolved")]
    Resolved,
    /// To the customer: staff replied (internal notes are never mailed).
    #[serde(rename = "ticket.message_added")]
    Reply,
    /// To the assignee: the ticket is theirs.
    #[serde(rename = "ticket.assigned")]
    Assigned,
    /// To the company's admins and engineers: a ticket triaged critical is
    /// waiting in the queue.
    #[serde(rename = "ticket.urgent")]
    Urgent,
    /// To an address an admin named (`POST /v1/tickets/{id}/notifications`).
    #[serde(rename = "ticket.shared")]
    Shared,
    /// The password-reset link; always sent.
    #[serde(rename = "account.password_reset_requested")]
    PasswordReset,
    /// To the company's admins: a webhook endpoint was disabled (it
    /// answered 410 Gone, or failed every attempt for
    /// `notifier.disable_after_failing_ms`).
    #[serde(rename = "webhook.disabled")]
    WebhookDisabled,
}

impl MailKind {
    pub const ALL: [MailKind; 10] = [
        MailKind::TicketReceived,
        MailKind::AnsweredByFaq,
        MailKind::ReportSubmitted,
        MailKind::Resolved,
        MailKind::Reply,
        MailKind::Assigned,
        MailKind::Urgent,
        MailKind::Shared,
        MailKind::PasswordReset,
        MailKind::WebhookDisabled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::TicketReceived => "ticket.created",
            MailKind::AnsweredByFaq => "ticket.answered_by_faq",
            MailKind::ReportSubmitted => "ticket.report_submitted",
            MailKind::Resolved => "ticket.resolved",
            MailKind::Reply => "ticket.message_added",
            MailKind::Assigned => "ticket.assigned",
            MailKind::Urgent => "ticket.urgent",
            MailKind::Shared => "ticket.shared",
            MailKind::PasswordReset => "account.password_reset_requested",
            MailKind::WebhookDisabled => "webhook.disabled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    /// Whether an account may turn it off: not a password reset (asked
    /// for), nor what an admin sends by hand to an address.
    pub fn mutable(self) -> bool {
        !matches!(self, MailKind::PasswordReset | MailKind::Shared)
    }

    /// Whether a company may replace its template: not the password reset,
    /// whose link is a secret (a company's template could send it
    /// elsewhere, an image's address say, and take the account over).
    pub fn customizable(self) -> bool {
        self != MailKind::PasswordReset
    }

    /// The built-in template.
    pub fn default_template(self) -> MailTemplate {
        macro_rules! shipped {
            ($name:literal) => {
                MailTemplate {
                    subject: include_str!(concat!("../templates/mail/", $name, ".subject.txt")).trim().to_owned(),
                    text: include_str!(concat!("../templates/mail/", $name, ".txt")).to_owned(),
                    html: include_str!(concat!("../templates/mail/", $name, ".html")).to_owned(),
                }
            };
        }
        match self {
            MailKind::TicketReceived => shipped!("ticket.created"),
            MailKind::AnsweredByFaq => shipped!("ticket.answered_by_faq"),
            MailKind::ReportSubmitted => shipped!("ticket.report_submitted"),
            MailKind::Resolved => shipped!("ticket.resolved"),
            MailKind::Reply => shipped!("ticket.message_added"),
            MailKind::Assigned => shipped!("ticket.assigned"),
            MailKind::Urgent => shipped!("ticket.urgent"),
            MailKind::Shared => shipped!("ticket.shared"),
            MailKind::PasswordReset => shipped!("account.password_reset_requested"),
            MailKind::WebhookDisabled => shipped!("webhook.disabled"),
        }
    }
}

impl std::fmt::Display for MailKind {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Who a mail is for, before the store turns it into addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recipient {
    /// The ticket's requester: their account's address and preferences
    /// when they filed it signed in (none once that account is deleted),
    /// else the address on the ticket.
    Requester,
    /// One account (the assignee).
    Account(AccountId),
    /// The company's admins and engineers.
    Staff,
    /// The company's admins (who own its webhook endpoints).
    Admins,
}

/// The roles [`Recipient::Staff`] means.
pub const STAFF_ROLES: [Role; 2] = [Role::Admin, Role::Engineer];

/// The mails `notification` implies, and for whom.
pub fn mails_of(notification: &Notification) -> Vec<(MailKind, Recipient)> {
    let Some(ticket) = &notification.ticket else { return Vec::new() };
    let to_requester = |kind| vec![(kind, Recipient::Requester)];
    match notification.kind {
        EventType::TicketCreated => to_requester(MailKind::TicketReceived),
        EventType::TicketAnsweredByFaq => to_requester(MailKind::AnsweredByFaq),
        EventType::TicketReportSubmitted => to_requester(MailKind::ReportSubmitted),
        EventType::TicketResolved => to_requester(MailKind::Resolved),
        EventType::TicketMessageAdded => {
            let message = &notification.data["message"];
            let internal = message["internal"].as_bool().unwrap_or(true);
            let by_staff = serde_json::from_value::<Role>(message["author_role"].clone())
                .is_ok_and(|role| matches!(role, Role::Admin | Role::Engineer | Role::Technician));
            if by_staff && !internal { to_requester(MailKind::Reply) } else { Vec::new() }
        }
        EventType::TicketAssigned => match ticket.assignee {
            Some(assignee) => vec![(MailKind::Assigned, Recipient::Account(assignee))],
            None => Vec::new(),
        },
        EventType::TicketTriaged if ticket.urgency == Some(Urgency::Critical) => {
            vec![(MailKind::Urgent, Recipient::Staff)]
        }
        _ => Vec::new(),
    }
}

/// The mail's id: derived from the notification's, the kind and the
/// address, so a notification handled twice queues each mail once.
pub fn mail_id(notification_id: crate::EventId, kind: MailKind, address: &str) -> Uuid {
    crate::EventId::derived(notification_id, &format!("mail {kind} {address}")).0
}

/// `Message-ID` of a mail: `<{mail id}.{ticket id}@{domain}>` for one
/// about a ticket, `<{mail id}@{domain}>` otherwise. Stable across retries.
pub fn message_id(mail: Uuid, ticket: Option<TicketId>, domain: &str) -> String {
    match ticket {
        Some(ticket) => format!("<{}.{}@{domain}>", mail.simple(), ticket.0.simple()),
        None => format!("<{}@{domain}>", mail.simple()),
    }
}

/// The root of a ticket's thread, `<ticket.{ticket id}@{domain}>` (the id
/// as 32 hex digits): every mail about the ticket names it in `References`
/// and `In-Reply-To`, so a reply can be matched to its ticket by it (and by
/// the `.{ticket id}@` of the `Message-ID` it answers).
pub fn thread_root(ticket: TicketId, domain: &str) -> String {
    format!("<ticket.{}@{domain}>", ticket.0.simple())
}

/// The domain of an address, `Name <user@host>` or `user@host`.
pub fn address_domain(address: &str) -> Option<&str> {
    let address = address.trim();
    let bare = match address.rsplit_once('<') {
        Some((_, rest)) => rest.strip_suffix('>')?,
        None => address,
    };
    let (local, domain) = bare.rsplit_once('@')?;
    let valid = !local.is_empty()
        && !domain.is_empty()
        && domain.chars().all(|character| character.is_ascii_alphanumeric() || ".-".contains(character));
    valid.then_some(domain)
}

/// The links mails carry, from `mail.public_url`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Links {
    base: String,
}

impl Links {
    pub fn new(public_url: &str) -> Self {
        Self { base: public_url.trim_end_matches('/').to_owned() }
    }

    pub fn ticket(&self, ticket: TicketId) -> String {
        format!("{}/tickets/{ticket}", self.base)
    }

    /// "This did not help": the console's page that reopens the ticket
    /// (`PUT /v1/tickets/{id}/status {"status": "opened"}` as its customer).
    pub fn reopen(&self, ticket: TicketId) -> String {
        format!("{}/tickets/{ticket}/reopen", self.base)
    }

    /// The console's page that sets a new password with the token
    /// (`PUT /v1/accounts/{account}/password {"token", "new_password"}`).
    pub fn reset_password(&self, account: AccountId, token: &str) -> String {
        format!("{}/reset-password?account={account}&token={token}", self.base)
    }
}

/// The template context of a mail about a ticket: the notification's
/// `data` (`ticket`, and `answer`, `report`, `message`… as its type
/// adds), `recipient` (`name`, `email`), `ticket_url`, and `reopen_url`.
pub fn ticket_context(notification: &Notification, links: &Links, recipient_name: Option<&str>, email: &str) -> Value {
    let mut context = notification.data.clone();
    context["recipient"] = json!({"name": recipient_name, "email": email});
    context["ticket_url"] = json!(links.ticket(notification.ticket_id));
    context["reopen_url"] = json!(links.reopen(notification.ticket_id));
    context
}

/// The most instructions one part of a template may run.
const TEMPLATE_FUEL: u64 = 100_000;

/// The most bytes one part of a mail may render to.
const RENDERED_MAX_BYTES: usize = 256 * 1024;

/// A template's output, refused past [`RENDERED_MAX_BYTES`].
struct CappedOutput(Vec<u8>);

impl std::io::Write for CappedOutput {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + bytes.len() > RENDERED_MAX_BYTES {
            return Err(std::io::Error::other("the rendered part is too long"));
        }
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The environment mail templates run in. A company's template is an
/// admin's code running in a process every company shares, so it gets
/// little: no globals (no `range`), a few filters that cannot make a value
/// much longer than their input, fuel (a loop cannot run long), and an
/// output cap; [`refuse_unbounded`] keeps out what builds values.
/// Printing an undefined value is an error (a misspelt name shows when the
/// template is set); testing one (`{% if ticket.equipment %}`) is not.
fn template_environment() -> Environment<'static> {
    use minijinja::{filters, tests};
    let mut environment = Environment::empty();
    environment.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    environment.set_fuel(Some(TEMPLATE_FUEL));
    environment
        .set_auto_escape_callback(|name| if name.ends_with(".html") { AutoEscape::Html } else { AutoEscape::None });
    environment.add_filter("upper", filters::upper);
    environment.add_filter("lower", filters::lower);
    environment.add_filter("title", filters::title);
    environment.add_filter("capitalize", filters::capitalize);
    environment.add_filter("trim", filters::trim);
    environment.add_filter("default", filters::default);
    environment.add_filter("d", filters::default);
    environment.add_filter("length", filters::length);
    environment.add_filter("first", filters::first);
    environment.add_filter("last", filters::last);
    environment.add_filter("join", filters::join);
    environment.add_filter("round", filters::round);
    environment.add_filter("escape", filters::escape);
    environment.add_filter("e", filters::escape);
    environment.add_test("defined", tests::is_defined);
    environment.add_test("undefined", tests::is_undefined);
    environment.add_test("none", tests::is_none);
    environment.add_test("number", tests::is_number);
    environment.add_test("string", tests::is_string);
    environment
}

/// Tags that define, import or accumulate (`set` in a loop doubles a
/// string each turn).
const REFUSED_TAGS: [&str; 7] = ["set", "macro", "call", "include", "import", "from", "extends"];

/// Refuses what could build a value without bound: the operators `*`, `+`
/// and `~` (repeat and join strings) and [`REFUSED_TAGS`]. The error is
/// the line and why.
fn refuse_unbounded(source: &str) -> Result<(), (usize, String)> {
    let mut rest = source;
    let mut offset = 0;
    while let Some(start) = rest.find(['{']) {
        let opening = &rest[start..];
        let closing = match opening.get(..2) {
            Some("{{") => "}}",
            Some("{%") => "%}",
            _ => {
                rest = &rest[start + 1..];
                offset += start + 1;
                continue;
            }
        };
        let end = opening.find(closing).unwrap_or(opening.len());
        let line = source[..offset + start].matches('\n').count() + 1;
        // Whitespace control (`{%-`, `+%}`) is not an operator.
        let inside = opening[2..end].trim_start_matches(['-', '+']).trim_end_matches(['-', '+']);
        if closing == "%}"
            && let Some(word) = inside.split_whitespace().next()
            && REFUSED_TAGS.contains(&word)
        {
            return Err((line, format!("`{{% {word} %}}` is not allowed in mail templates")));
        }
        let mut quote = None;
        for character in inside.chars() {
            match (quote, character) {
                (None, '"' | '\'') => quote = Some(character),
                (Some(open), _) if character == open => quote = None,
                (None, '*' | '+' | '~') => {
                    return Err((line, format!("the `{character}` operator is not allowed in mail templates")));
                }
                _ => {}
            }
        }
        let consumed = start + end.min(opening.len());
        rest = &rest[consumed..];
        offset += consumed;
    }
    Ok(())
}

/// What a mail says, as templates: the subject (one line), the plain text
/// and the HTML (auto-escaped).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MailTemplate {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// A mail rendered from its template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedMail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Why a template did not render: which part, where, and what.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{part}: {message}")]
pub struct TemplateError {
    /// `subject`, `text` or `html`.
    pub part: &'static str,
    pub line: Option<usize>,
    pub message: String,
}

impl MailTemplate {
    /// Renders the three parts with `context`, in the bounds of
    /// [`template_environment`].
    pub fn render(&self, context: &Value) -> Result<RenderedMail, TemplateError> {
        let mut environment = template_environment();
        let parts = [
            ("subject", "subject.txt", &self.subject),
            ("text", "text.txt", &self.text),
            ("html", "html.html", &self.html),
        ];
        let mut rendered = BTreeMap::new();
        for (part, name, source) in parts {
            let failed = |error: minijinja::Error| TemplateError {
                part,
                line: error.line(),
                message: match error.detail() {
                    Some(detail) => format!("{}: {detail}", error.kind()),
                    None => error.kind().to_string(),
                } + &error.line().map(|line| format!(" (line {line})")).unwrap_or_default(),
            };
            refuse_unbounded(source).map_err(|(line, message)| TemplateError { part, line: Some(line), message })?;
            environment.add_template(name, source).map_err(failed)?;
            let mut output = CappedOutput(Vec::new());
            environment
                .get_template(name)
                .and_then(|template| template.render_captured_to(context, &mut output).map(drop))
                .map_err(|error| match error.kind() {
                    minijinja::ErrorKind::WriteFailure => TemplateError {
                        part,
                        line: None,
                        message: format!("renders to more than {} KiB", RENDERED_MAX_BYTES / 1024),
                    },
                    _ => failed(error),
                })?;
            rendered.insert(part, String::from_utf8_lossy(&output.0).into_owned());
        }
        // A header is one line: line breaks in the subject become spaces.
        let subject = rendered.remove("subject").unwrap_or_default().split_whitespace().collect::<Vec<_>>().join(" ");
        if subject.is_empty() {
            return Err(TemplateError { part: "subject", line: None, message: "the subject is empty".into() });
        }
        Ok(RenderedMail {
            subject,
            text: rendered.remove("text").unwrap_or_default(),
            html: rendered.remove("html").unwrap_or_default(),
        })
    }

    /// Renders against [`sample_context`] of `kind`: what a company's
    /// template must pass to be stored.
    pub fn check(&self, kind: MailKind) -> Result<RenderedMail, TemplateError> {
        self.render(&sample_context(kind))
    }
}

/// Renders a mail of `kind` with the company's `own` template when it has
/// one that renders `context`, else with the built-in one. With the mail,
/// the error of an own template that failed (checked on a sample when set,
/// a real ticket may still lack a field it prints), for the log.
pub fn render_mail(
    kind: MailKind,
    own: Option<&MailTemplate>,
    context: &Value,
) -> Result<(RenderedMail, Option<TemplateError>), TemplateError> {
    let own = own.filter(|_| kind.customizable());
    let own_error = match own.map(|template| template.render(context)) {
        Some(Ok(rendered)) => return Ok((rendered, None)),
        Some(Err(error)) => Some(error),
        None => None,
    };
    Ok((kind.default_template().render(context)?, own_error))
}

/// A context with every field a mail of `kind` can have filled in.
pub fn sample_context(kind: MailKind) -> Value {
    let ticket_id = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
    let mut context = json!({
        "recipient": {"name": "Ana Example", "email": "ana@example.com"},
        "ticket_url": format!("https://support.example.com/tickets/{ticket_id}"),
        "reopen_url": format!("https://support.example.com/tickets/{ticket_id}/reopen"),
        "ticket": {
            "id": ticket_id,
            "title": "Printer shows error E-45",
            "description": "The printer on the third floor shows error E-45 and will not print.",
            "requester": {"email": "ana@example.com", "name": "Ana Example"},
            "company": "acme",
            "channel": "api",
            "tags": ["printer"],
            "equipment": {"model": "LaserJet 4000", "serial": "SN-1"},
            "created_at": "2026-01-02T03:04:05Z",
            "status": "new",
            "urgency": "critical",
            "category": "hardware",
            "server": null,
            "team": null,
            "assignee": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c",
            "vehicle": null,
        },
    });
    let report = json!({
        "malfunction": "Worn fuser", "solution": "Replaced the fuser", "parts": ["fuser"],
        "time_spent_minutes": 30, "equipment_model": "LaserJet 4000",
    });
    match kind {
        MailKind::AnsweredByFaq => {
            context["answer"] = json!({
                "faq_id": "printer-e45", "question": "What does E-45 mean?",
                "answer": "Open the rear cover and remove the jammed sheet.", "confidence": 0.92,
                "answered_at": "2026-01-02T03:04:06Z",
            });
        }
        MailKind::ReportSubmitted | MailKind::Resolved => context["report"] = report,
        MailKind::Reply => {
            context["message"] = json!({
                "id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5d", "author": null, "author_role": "technician",
                "internal": false, "body": "I will come by at 3 pm.", "created_at": "2026-01-02T04:00:00Z",
            });
        }
        MailKind::Assigned => {
            context["assignee"] = context["ticket"]["assignee"].clone();
            context["vehicle"] = Value::Null;
            context["actor"] = json!({"role": "admin", "account": null});
        }
        MailKind::Shared => context["actor"] = json!({"role": "admin", "account": null}),
        MailKind::PasswordReset => {
            return json!({
                "recipient": {"name": "Ana Example", "email": "ana@example.com"},
                "reset_url": "https://support.example.com/reset-password?account=0190a1b2&token=sample",
                "token": "sample",
                "expires_at": "2026-01-02T03:34:05Z",
            });
        }
        MailKind::WebhookDisabled => {
            return json!({
                "recipient": {"name": "Ana Example", "email": "ana@example.com"},
                "endpoint": {
                    "id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5e",
                    "url": "https://hooks.example.com/switchboard",
                    "description": "The desk's inbox",
                },
                "reason": "it answered 410 Gone",
                "disabled_at": "2026-01-02T03:04:05Z",
            });
        }
        MailKind::TicketReceived | MailKind::Urgent => {}
    }
    context
}

/// An account's mail preferences: the kinds it muted (every other kind is
/// sent).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MailPreferences {
    pub muted: Vec<MailKind>,
}

impl MailPreferences {
    pub fn wants(&self, kind: MailKind) -> bool {
        !kind.mutable() || !self.muted.contains(&kind)
    }
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;
    use crate::events::{TicketEvent, TicketMessage, TicketTriaged};
    use crate::{CompanyId, Envelope, EventId, Ticket};

    fn ticket() -> Ticket {
        let mut ticket: Ticket = serde_json::from_value(sample_context(MailKind::TicketReceived)["ticket"].clone())
            .expect("the sample ticket is a ticket");
        ticket.assignee = None;
        ticket.urgency = None;
        ticket
    }

    fn envelope<T>(ticket: &Ticket, payload: T) -> Envelope<T> {
        Envelope::new(ticket.id, CompanyId::parse("acme").expect("company"), None, payload)
    }

    fn message(role: Role, internal: bool) -> TicketMessage {
        TicketMessage {
            id: EventId::new(),
            author: None,
            author_role: role,
            internal,
            body: "On my way".into(),
            created_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn mails_of_event(event: TicketEvent) -> Vec<(MailKind, Recipient)> {
        let ticket = ticket();
        crate::notifications::of_ticket_event(&envelope(&ticket, event)).iter().flat_map(mails_of).collect()
    }

    #[test]
    fn a_template_cannot_build_values_without_bound() {
        let template = |text: &str| MailTemplate { subject: "Hi".into(), text: text.into(), html: String::new() };
        let context = sample_context(MailKind::TicketReceived);
        for (text, why) in [
            ("{{ 'x' * 100000000 }}", "the `*` operator"),
            ("{{ ticket.title ~ ticket.title }}", "the `~` operator"),
            ("a\n{{- ticket.title + 'x' -}}", "the `+` operator"),
            ("{% set s = 'x' %}{{ s }}", "`{% set %}`"),
            ("{%- macro m() %}{% endmacro %}", "`{% macro %}`"),
        ] {
            let error = template(text).render(&context).expect_err(text);
            assert!(error.message.contains(why), "{text}: {error}");
        }
        assert_eq!(template("a\n\n{{ ticket.title ~ 'x' }}").render(&context).expect_err("~").line, Some(3));
        // Operators inside strings, and whitespace control, are fine; so
        // is what the built-in templates use.
        let fine = "{%- if ticket.title -%}{{ '1 + 1 ~ *' }} {{ ticket.tags | join(', ') | upper }}{%+ endif %}";
        assert_eq!(template(fine).render(&context).expect("renders").text, "1 + 1 ~ * PRINTER");
        // No `range`, and the output is capped.
        assert!(template("{% for i in range(10) %}x{% endfor %}").render(&context).is_err());
        let long = format!("{{% for tag in ticket.tags %}}{}{{% endfor %}}", "y".repeat(99_000));
        let mut many = context.clone();
        many["ticket"]["tags"] = json!(["a", "b", "c"]);
        let error = template(&long).render(&many).expect_err("too long");
        assert!(error.message.contains("more than 256 KiB"), "{error}");
    }

    #[test]
    fn the_customer_hears_of_receipt_answers_reports_resolution_and_staff_replies() {
        let ticket = Box::new(ticket());
        assert_eq!(
            mails_of_event(TicketEvent::Created { ticket: ticket.clone(), actor: None }),
            [(MailKind::TicketReceived, Recipient::Requester)]
        );
        let reply =
            |role, internal| TicketEvent::MessageAdded { ticket: ticket.clone(), message: message(role, internal) };
        assert_eq!(mails_of_event(reply(Role::Technician, false)), [(MailKind::Reply, Recipient::Requester)]);
        assert_eq!(mails_of_event(reply(Role::Technician, true)), [], "an internal note is never mailed");
        assert_eq!(mails_of_event(reply(Role::Customer, false)), [], "the customer's own message");
    }

    #[test]
    fn the_assignee_hears_of_the_assignment_and_staff_of_a_critical_ticket() {
        let mut assigned = ticket();
        let assignee = AccountId(Uuid::now_v7());
        assigned.assignee = Some(assignee);
        let event = TicketEvent::Assigned {
            ticket: Box::new(assigned.clone()),
            assignee,
            vehicle: None,
            actor: crate::Actor { role: Role::Admin, account: None },
        };
        let notifications = crate::notifications::of_ticket_event(&envelope(&assigned, event));
        assert_eq!(
            notifications.iter().flat_map(mails_of).collect::<Vec<_>>(),
            [(MailKind::Assigned, Recipient::Account(assignee))]
        );
        let mut critical = ticket();
        for (urgency, expected) in
            [(Urgency::High, vec![]), (Urgency::Critical, vec![(MailKind::Urgent, Recipient::Staff)])]
        {
            critical.urgency = Some(urgency);
            let triaged = TicketTriaged { ticket: critical.clone() };
            let notification = crate::notifications::of_triaged(&envelope(&critical, triaged));
            assert_eq!(mails_of(&notification), expected, "{urgency:?}");
        }
    }

    #[test]
    fn message_ids_are_stable_and_name_their_ticket() {
        let ticket = TicketId(Uuid::now_v7());
        let mail = mail_id(EventId::new(), MailKind::Resolved, "ana@example.com");
        let id = message_id(mail, Some(ticket), "mail.example.com");
        assert_eq!(id, format!("<{}.{}@mail.example.com>", mail.simple(), ticket.0.simple()));
        assert_eq!(thread_root(ticket, "mail.example.com"), format!("<ticket.{}@mail.example.com>", ticket.0.simple()));
        assert_eq!(address_domain("Switchboard <no-reply@mail.example.com>"), Some("mail.example.com"));
        assert_eq!(address_domain("no-reply@localhost"), Some("localhost"));
        assert_eq!(address_domain("Switchboard"), None);
    }

    #[test]
    fn every_built_in_template_renders_its_sample_and_html_is_escaped() {
        for kind in MailKind::ALL {
            let rendered = kind.default_template().check(kind).unwrap_or_else(|error| panic!("{kind}: {error}"));
            assert!(!rendered.text.trim().is_empty() && rendered.html.contains("<"), "{kind}");
        }
        let template = MailTemplate {
            subject: "About {{ ticket.title }}\nsecond line".into(),
            text: "{{ ticket.title }}".into(),
            html: "<p>{{ ticket.title }}</p>".into(),
        };
        let mut context = sample_context(MailKind::TicketReceived);
        context["ticket"]["title"] = json!("<b>Fire</b> & smoke");
        let rendered = template.render(&context).expect("renders");
        assert_eq!(rendered.subject, "About <b>Fire</b> & smoke second line");
        assert_eq!(rendered.text, "<b>Fire</b> & smoke");
        assert_eq!(rendered.html, "<p>&lt;b&gt;Fire&lt;&#x2f;b&gt; &amp; smoke</p>");
    }

    #[test]
    fn a_broken_template_names_its_part_and_line() {
        let broken = MailTemplate {
            subject: "Fine".into(),
            text: "line one\n{% if ticket.title %}\nunclosed".into(),
            html: "<p></p>".into(),
        };
        let error = broken.check(MailKind::TicketReceived).expect_err("unclosed block");
        // The block opened on line 2 is never closed.
        assert_eq!((error.part, error.line), ("text", Some(2)), "{error}");
        let misspelt = MailTemplate { subject: "{{ ticket.titel }}".into(), text: String::new(), html: String::new() };
        assert_eq!(misspelt.check(MailKind::TicketReceived).expect_err("undefined").part, "subject");
        let endless = MailTemplate {
            subject: "Fine".into(),
            text: String::new(),
            html: "{% for a in numbers %}{% for b in numbers %}{% endfor %}{% endfor %}".into(),
        };
        let numbers: Vec<u32> = (0..1_000).collect();
        let error = endless.render(&json!({"numbers": numbers})).expect_err("out of fuel");
        assert!(error.part == "html" && error.message.contains("fuel"), "{error}");
    }

    #[test]
    fn a_company_template_that_fails_falls_back_to_the_built_in_one() {
        let context = sample_context(MailKind::Resolved);
        let own = MailTemplate { subject: "Done: {{ ticket.title }}".into(), text: "t".into(), html: "h".into() };
        let (rendered, failed) = render_mail(MailKind::Resolved, Some(&own), &context).expect("renders");
        assert_eq!((rendered.subject.as_str(), failed), ("Done: Printer shows error E-45", None));
        let broken = MailTemplate { subject: "{{ ticket.missing }}".into(), ..own };
        let (rendered, failed) = render_mail(MailKind::Resolved, Some(&broken), &context).expect("renders");
        assert_eq!(rendered.subject, "Resolved: Printer shows error E-45");
        assert_eq!(failed.map(|error| error.part), Some("subject"));
    }

    #[test]
    fn only_mutable_kinds_can_be_muted() {
        let preferences = MailPreferences { muted: vec![MailKind::Resolved, MailKind::PasswordReset] };
        assert!(!preferences.wants(MailKind::Resolved));
        assert!(preferences.wants(MailKind::PasswordReset));
        assert!(preferences.wants(MailKind::TicketReceived));
    }
}
