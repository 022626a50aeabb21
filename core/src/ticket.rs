//! The ticket: what a customer submitted, plus what the pipeline and staff
//! learned about it since.

use serde::{Deserialize, Serialize};

use crate::tenant::CompanyId;
use time::OffsetDateTime;

use crate::events::{AutoAnswer, Suggestion, SuggestionKind, Triage};
use crate::ids::{AccountId, AttachmentId, ServerId, TeamId, TicketId, VehicleId};
use crate::lifecycle::Status;

/// Upper bounds on what a submitted ticket may contain. They protect every
/// stage downstream (the classifier, the index, the store) from runaway input.
pub mod limits {
    /// Characters (not bytes) in a title.
    pub const TITLE_MAX_CHARS: usize = 200;
    /// Bytes of UTF-8 in a description.
    pub const DESCRIPTION_MAX_BYTES: usize = 64 * 1024;
    pub const TAGS_MAX: usize = 20;
    pub const TAG_MAX_CHARS: usize = 64;
    pub const NAME_MAX_CHARS: usize = 200;
    pub const COMPANY_MAX_CHARS: usize = 100;
    pub const EQUIPMENT_FIELD_MAX_CHARS: usize = 200;
    /// RFC 5321 limits on a forward path.
    pub const EMAIL_MAX_BYTES: usize = 254;
    pub const EMAIL_LOCAL_MAX_BYTES: usize = 64;
}

/// The company a ticket belongs to when the submitter names none.
pub const DEFAULT_COMPANY: &str = "default";

/// Where a ticket came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Api,
    WebForm,
    Email,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Api, Channel::WebForm, Channel::Email];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Api => "api",
            Channel::WebForm => "web_form",
            Channel::Email => "email",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|channel| channel.as_str() == text)
    }
}

/// How soon a ticket needs attention, lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    Low,
    Normal,
    High,
    Critical,
}

impl Urgency {
    pub const ALL: [Urgency; 4] = [Urgency::Low, Urgency::Normal, Urgency::High, Urgency::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::Low => "low",
            Urgency::Normal => "normal",
            Urgency::High => "high",
            Urgency::Critical => "critical",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|urgency| urgency.as_str() == text)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Requester {
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The customer's account, when a signed-in customer filed the ticket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<AccountId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Equipment {
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
}

/// A ticket as the store and the bus know it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Ticket {
    pub id: TicketId,
    pub title: String,
    pub description: String,
    pub requester: Requester,
    pub company: CompanyId,
    pub channel: Channel,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equipment: Option<Equipment>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub status: Status,
    #[serde(default)]
    pub urgency: Option<Urgency>,
    #[serde(default)]
    pub category: Option<String>,
    /// The team server it was routed to; not shown to customers.
    #[serde(default)]
    pub server: Option<ServerId>,
    /// Not shown to customers.
    #[serde(default)]
    pub team: Option<TeamId>,
    #[serde(default)]
    pub assignee: Option<AccountId>,
    /// The vehicle the assignee takes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vehicle: Option<VehicleId>,
    /// What triage decided, once it ran; not shown to customers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triage: Option<Triage>,
    /// Knowledge-base matches: absent until matching ran, then the matches
    /// found (possibly none). Customers see only the FAQ articles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggestions: Option<Vec<Suggestion>>,
    /// Set when the knowledge base answered the customer directly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_by_faq: Option<AutoAnswer>,
    /// Files that came with the ticket (`GET /v1/tickets/{id}` shows them
    /// with those of replies; lists leave them out). Ingest stores each
    /// before it produces the ticket, so an accepted ticket never names a
    /// missing file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

impl Ticket {
    /// What the customer who filed the ticket sees of it: no triage details
    /// and no routing (server, team), and of the suggestions only the FAQ
    /// articles; past solutions are other tickets' reports.
    pub fn for_customer(mut self) -> Self {
        self.triage = None;
        self.server = None;
        self.team = None;
        if let Some(suggestions) = &mut self.suggestions {
            suggestions.retain(|suggestion| suggestion.kind == SuggestionKind::Faq);
        }
        self
    }
}

/// A file that came with a ticket (or with a message on it): what it is, not
/// its bytes, which the attachment store keeps under
/// `{company}/{ticket id}/{attachment id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attachment {
    pub id: AttachmentId,
    /// The name the sender gave it, cleaned of paths and control characters.
    pub filename: String,
    /// The type its content shows (magic bytes), not the one it claimed.
    pub content_type: String,
    pub size_bytes: u64,
    /// SHA-256 of the content, lowercase hex.
    pub sha256: String,
}

/// A ticket as a submitter sends it, before validation. Every field is
/// optional here so that validation, not the JSON parser, reports what is
/// missing, with the field's name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTicket {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub requester: Option<NewRequester>,
    #[serde(default)]
    pub company: Option<String>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub equipment: Option<NewEquipment>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequester {
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEquipment {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub serial: Option<String>,
}

/// Why a submitted ticket was refused. `code` is stable for programs, the
/// message is for people, `field` is a dotted path into the request body.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub code: &'static str,
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(code: &'static str, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { code, field: field.into(), message: message.into() }
    }

    fn missing(field: &str) -> Self {
        Self::new("missing_field", field, format!("`{field}` is required"))
    }

    fn empty(field: &str) -> Self {
        Self::new("empty_field", field, format!("`{field}` must not be empty"))
    }

    fn too_long(field: &str, limit: usize, unit: &str) -> Self {
        Self::new("too_long", field, format!("`{field}` must be at most {limit} {unit}"))
    }
}

impl NewTicket {
    /// Checks every rule and builds the ticket the pipeline will carry. The
    /// first broken rule is reported, in field order.
    pub fn validate(
        self,
        id: TicketId,
        channel: Channel,
        created_at: OffsetDateTime,
    ) -> Result<Ticket, ValidationError> {
        use limits::*;

        let title = required_text(self.title, "title", TITLE_MAX_CHARS)?;

        let description = self.description.unwrap_or_default();
        if description.len() > DESCRIPTION_MAX_BYTES {
            return Err(ValidationError::too_long("description", DESCRIPTION_MAX_BYTES, "bytes"));
        }
        check_characters("description", &description)?;

        let requester = self.requester.ok_or_else(|| ValidationError::missing("requester"))?;
        let email = requester
            .email
            .map(|email| email.trim().to_owned())
            .ok_or_else(|| ValidationError::missing("requester.email"))?;
        if email.is_empty() {
            return Err(ValidationError::empty("requester.email"));
        }
        check_characters("requester.email", &email)?;
        if let Err(reason) = check_email(&email) {
            return Err(ValidationError::new(
                "invalid_email",
                "requester.email",
                format!("`requester.email` is not a valid email address: {reason}"),
            ));
        }
        let name = optional_text(requester.name, "requester.name", NAME_MAX_CHARS)?;

        let company = match self.company.as_deref().map(str::trim) {
            None | Some("") => CompanyId::parse(DEFAULT_COMPANY)?,
            Some(company) => CompanyId::parse(company)?,
        };

        let tags = self.tags.unwrap_or_default();
        if tags.len() > TAGS_MAX {
            return Err(ValidationError::new(
                "too_many",
                "tags",
                format!("at most {TAGS_MAX} tags are allowed, got {}", tags.len()),
            ));
        }
        let mut clean_tags: Vec<String> = Vec::with_capacity(tags.len());
        for (index, tag) in tags.into_iter().enumerate() {
            let field = format!("tags[{index}]");
            let tag = required_text(Some(tag), &field, TAG_MAX_CHARS)?;
            if !clean_tags.contains(&tag) {
                clean_tags.push(tag);
            }
        }

        let equipment = match self.equipment {
            None => None,
            Some(equipment) => {
                let serial = optional_text(equipment.serial, "equipment.serial", EQUIPMENT_FIELD_MAX_CHARS)?;
                // Intake fills in a registered serial's model before this;
                // what is left without one names an unknown unit.
                if equipment.model.is_none() && serial.is_some() {
                    return Err(ValidationError::new(
                        "missing_field",
                        "equipment.model",
                        "`equipment.model` is required: the serial is not in the company's equipment registry",
                    ));
                }
                Some(Equipment {
                    model: required_text(equipment.model, "equipment.model", EQUIPMENT_FIELD_MAX_CHARS)?,
                    serial,
                })
            }
        };

        Ok(Ticket {
            id,
            title,
            description,
            requester: Requester { email, name, account: None },
            company,
            channel,
            tags: clean_tags,
            equipment,
            created_at,
            status: Status::New,
            urgency: None,
            category: None,
            server: None,
            team: None,
            assignee: None,
            vehicle: None,
            triage: None,
            suggestions: None,
            answered_by_faq: None,
            attachments: Vec::new(),
        })
    }
}

/// 422 `invalid_characters` when `text` holds a control character that no
/// store can keep (see [`crate::text::forbidden_control`]).
pub fn check_characters(field: &str, text: &str) -> Result<(), ValidationError> {
    match crate::text::forbidden_control(text) {
        Some(character) => Err(ValidationError::new(
            "invalid_characters",
            field,
            format!(
                "`{field}` contains the control character U+{:04X}; only tab, newline and carriage return are allowed",
                u32::from(character)
            ),
        )),
        None => Ok(()),
    }
}

/// Present, not blank once trimmed, at most `max_chars` characters, and
/// free of forbidden control characters.
fn required_text(value: Option<String>, field: &str, max_chars: usize) -> Result<String, ValidationError> {
    let value = value.ok_or_else(|| ValidationError::missing(field))?;
    check_characters(field, &value)?;
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ValidationError::empty(field));
    }
    if trimmed.chars().count() > max_chars {
        return Err(ValidationError::too_long(field, max_chars, "characters"));
    }
    Ok(trimmed.to_owned())
}

/// Absent or blank means "not given"; otherwise at most `max_chars` characters.
fn optional_text(value: Option<String>, field: &str, max_chars: usize) -> Result<Option<String>, ValidationError> {
    match value {
        Some(text) if !text.trim().is_empty() => required_text(Some(text), field, max_chars).map(Some),
        _ => Ok(None),
    }
}

/// A pragmatic address check: one `@`, a local part and a dotted domain of
/// letters, digits and hyphens, within RFC 5321's lengths. It refuses what is
/// certainly not deliverable; it does not try to accept every RFC 5322 form.
pub fn check_email(email: &str) -> Result<(), &'static str> {
    use limits::{EMAIL_LOCAL_MAX_BYTES, EMAIL_MAX_BYTES};

    if email.len() > EMAIL_MAX_BYTES {
        return Err("longer than 254 bytes");
    }
    let (local, domain) = email.rsplit_once('@').ok_or("no `@`")?;
    if local.is_empty() || local.len() > EMAIL_LOCAL_MAX_BYTES {
        return Err("the part before `@` must be 1 to 64 bytes");
    }
    if local.contains('@') {
        return Err("more than one `@`");
    }
    let local_ok = local.chars().all(|c| {
        c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c) || (!c.is_ascii() && !c.is_whitespace())
    });
    if !local_ok || local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err("the part before `@` has characters an address cannot have");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err("the domain needs a dot");
    }
    for label in labels {
        let label_ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-');
        if !label_ok {
            return Err("the domain is not a valid host name");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> NewTicket {
        NewTicket {
            title: Some("Printer on fire".into()),
            description: Some("It smells".into()),
            requester: Some(NewRequester { email: Some("ana@example.com".into()), name: None }),
            ..NewTicket::default()
        }
    }

    fn check(ticket: NewTicket) -> Result<Ticket, ValidationError> {
        ticket.validate(TicketId::new(), Channel::Api, OffsetDateTime::UNIX_EPOCH)
    }

    #[test]
    fn a_valid_ticket_gets_defaults() {
        let ticket = check(base()).expect("valid");
        assert_eq!(ticket.company, DEFAULT_COMPANY);
        assert_eq!(ticket.status, Status::New);
        assert!(ticket.tags.is_empty());
    }

    #[test]
    fn titles_are_trimmed_and_bounded_in_characters() {
        let mut ticket = base();
        ticket.title = Some(format!("  {}  ", "é".repeat(200)));
        assert_eq!(check(ticket).map(|t| t.title.chars().count()), Ok(200));
        let mut ticket = base();
        ticket.title = Some("é".repeat(201));
        assert_eq!(check(ticket).map_err(|e| (e.code, e.field)), Err(("too_long", "title".into())));
        let mut ticket = base();
        ticket.title = Some(" \t".into());
        assert_eq!(check(ticket).map_err(|e| e.code), Err("empty_field"));
        let mut ticket = base();
        ticket.title = None;
        assert_eq!(check(ticket).map_err(|e| e.code), Err("missing_field"));
    }

    #[test]
    fn tags_are_bounded_and_deduplicated() {
        let mut ticket = base();
        ticket.tags = Some(vec!["a".into(), "a".into(), "b".into()]);
        assert_eq!(check(ticket).map(|t| t.tags), Ok(vec!["a".to_owned(), "b".to_owned()]));
        let mut ticket = base();
        ticket.tags = Some((0..21).map(|i| i.to_string()).collect());
        assert_eq!(check(ticket).map_err(|e| e.code), Err("too_many"));
        let mut ticket = base();
        ticket.tags = Some(vec!["ok".into(), "".into()]);
        assert_eq!(check(ticket).map_err(|e| e.field), Err("tags[1]".into()));
    }

    #[test]
    fn emails() {
        for good in ["a@b.co", "first.last+tag@sub.example.org", "ü@exämple.de"] {
            assert_eq!(check_email(good), Ok(()), "{good}");
        }
        for bad in ["", "plain", "a@b", "@b.co", "a@@b.co", "a b@c.co", "a@-b.co", "a@b..co", ".a@b.co", "a@b.co "] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }
}
