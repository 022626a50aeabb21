//! The public support form of each company that switches it on
//! (`web_form_enabled` in its settings):
//!
//! - `GET /support/{company}`: the form, plain HTML that works without
//!   JavaScript (a small script only warns early about too many or too
//!   large photos);
//! - `POST /support/{company}`: `multipart/form-data` with the fields and up
//!   to `ingest.web_form.max_photos` photos. Problems come back as the form
//!   again, with each error next to its field and a summary on top. A
//!   ticket is produced like any other (202-after-durable semantics: the
//!   answer comes once the bus holds it), then the browser is sent to
//! - `GET /support/{company}/status/{token}`: the private status page, by a
//!   signed link that expires after `ingest.web_form.status_link_days`.
//!
//! Against abuse: an anti-forgery token in each page bound to a cookie, a
//! honeypot field people never see (what fills it gets a thank-you page and
//! no ticket), and a limit of submissions per client address and hour.

mod tokens;

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::{Bytes, BytesMut};
use futures::TryStreamExt;
use minijinja::{Environment, context};
use serde::{Deserialize, Serialize};
use switchboard_core::config::WebFormConfig;
use switchboard_core::lifecycle::Role;
use switchboard_core::ticket::{NewEquipment, NewRequester, NewTicket};
use switchboard_core::{Channel, CompanyId, Scope, Status, TicketId};
use switchboard_store::CompanyRecord;
use switchboard_web::auth::client_address;
use switchboard_web::{ApiError, Path, WindowCounter, address_key};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;
use tokio::sync::OnceCell;

use tokens::SigningKey;

use crate::IngestState;
use crate::attachments::{self, Accept, Refused, Upload, human_size};
use crate::submit::{complete_equipment, file_ticket, request_id};

const COOKIE: &str = "sb_form";
const FIELDS: [&str; 6] = ["title", "description", "email", "name", "equipment_model", "equipment_serial"];
/// Room for the text fields and the multipart framing, beside the photos.
const TEXT_ROOM_BYTES: u64 = 1024 * 1024;
/// Security headers of every page: nothing from elsewhere, no framing, and
/// no `Referer` (the status page's address is its secret).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// What the form needs besides the intake's state.
pub(crate) struct Forms {
    templates: Environment<'static>,
    key: OnceCell<SigningKey>,
    submissions: WindowCounter,
    config: WebFormConfig,
}

impl std::fmt::Debug for Forms {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Forms").field("config", &self.config).finish()
    }
}

impl Forms {
    pub(crate) fn new(config: WebFormConfig) -> Self {
        let mut templates = Environment::new();
        for (name, source) in [
            ("layout.html", include_str!("../../templates/support/layout.html")),
            ("form.html", include_str!("../../templates/support/form.html")),
            ("status.html", include_str!("../../templates/support/status.html")),
            ("notice.html", include_str!("../../templates/support/notice.html")),
        ] {
            templates.add_template(name, source).expect("the built-in support templates parse");
        }
        Self {
            templates,
            key: OnceCell::new(),
            submissions: WindowCounter::new(std::time::Duration::from_secs(3600)),
            config,
        }
    }
}

/// The form's routes. They are public pages, outside the API's
/// authorisation and its OpenAPI document.
pub(crate) fn router(state: IngestState) -> Router {
    Router::new()
        .route("/support/assets/form.css", get(|| async { asset("text/css; charset=utf-8", FORM_CSS) }))
        .route("/support/assets/form.js", get(|| async { asset("text/javascript; charset=utf-8", FORM_JS) }))
        .route("/support/{company}", get(show_form).post(submit_form))
        .route("/support/{company}/status/{token}", get(show_status))
        .with_state(state)
}

const FORM_CSS: &str = include_str!("../../assets/form.css");
const FORM_JS: &str = include_str!("../../assets/form.js");

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let headers = [
        (header::CONTENT_TYPE, content_type),
        (header::CACHE_CONTROL, "public, max-age=3600"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    (headers, body).into_response()
}

/// What was typed, to fill the form again after an error.
#[derive(Debug, Default, Serialize)]
struct Values(BTreeMap<&'static str, String>);

impl Values {
    fn get(&self, field: &str) -> Option<String> {
        self.0.get(field).map(|value| value.trim().to_owned()).filter(|value| !value.is_empty())
    }
}

/// Errors by form field, in the form's order.
type Errors = BTreeMap<&'static str, String>;

/// Whether a page needs the company's form switched on: the form does; a
/// status link keeps working after the form is switched off.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Needs {
    Form,
    Company,
}

/// A page for `company`, or the page that says why there is none.
async fn open_company(state: &IngestState, company: &str, needs: Needs) -> Result<CompanyRecord, Response> {
    let not_found = || {
        notice(state, None, StatusCode::NOT_FOUND, "Page not found", "There is no support form at this address.", None)
    };
    let Ok(id) = CompanyId::parse(company) else {
        return Err(not_found());
    };
    match state.store.company(&id).await {
        Ok(Some(record)) if record.options.web_form || needs == Needs::Company => Ok(record),
        Ok(_) => Err(not_found()),
        Err(error) => {
            tracing::warn!(%error, "cannot read a company for its support form");
            Err(unavailable_page(state, None))
        }
    }
}

async fn signing_key(state: &IngestState) -> Result<&SigningKey, switchboard_store::Error> {
    state
        .forms
        .key
        .get_or_try_init(|| async {
            let stored = state
                .store
                .setting_or_insert(switchboard_core::settings::INTAKE_SIGNING_KEY, &SigningKey::random_hex())
                .await?;
            SigningKey::from_hex(&stored).ok_or_else(|| {
                switchboard_store::Error::Corrupt(format!(
                    "setting {} is not a key of 64 hex digits",
                    switchboard_core::settings::INTAKE_SIGNING_KEY
                ))
            })
        })
        .await
}

pub(crate) async fn show_form(
    State(state): State<IngestState>,
    Path(company): Path<String>,
    headers: HeaderMap,
) -> Response {
    let company = match open_company(&state, &company, Needs::Form).await {
        Ok(company) => company,
        Err(page) => return page,
    };
    let form = FormPage { company: &company, values: &Values::default(), errors: &Errors::new(), notice: None };
    form.render(&state, &headers, StatusCode::OK).await
}

/// The form with what was typed and what is wrong with it.
struct FormPage<'a> {
    company: &'a CompanyRecord,
    values: &'a Values,
    errors: &'a Errors,
    /// A problem with the whole submission, shown on top.
    notice: Option<&'a str>,
}

impl FormPage<'_> {
    async fn render(&self, state: &IngestState, headers: &HeaderMap, status: StatusCode) -> Response {
        let key = match signing_key(state).await {
            Ok(key) => key,
            Err(error) => {
                tracing::warn!(%error, "cannot read the intake signing key");
                return unavailable_page(state, Some(self.company));
            }
        };
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let token = key.form_token(&self.company.id, now, cookie(headers, COOKIE).as_deref());
        let (config, limits) = (&state.forms.config, &state.attachments);
        let html = state.forms.templates.get_template("form.html").and_then(|template| {
            template.render(context! {
                company => company_context(self.company),
                csrf => token.token,
                values => self.values,
                values_kept => !self.values.0.is_empty(),
                errors => self.errors,
                notice => self.notice,
                max_photos => config.max_photos,
                max_file_bytes => limits.max_file_bytes,
                max_total_bytes => limits.max_ticket_bytes,
                max_file_size => human_size(limits.max_file_bytes),
                max_total_size => human_size(limits.max_ticket_bytes),
            })
        });
        let mut response = page(html, status);
        let cookie = format!(
            "{COOKIE}={}; Path=/support/{}; Max-Age={}; HttpOnly; SameSite=Strict",
            token.nonce,
            self.company.id,
            u64::from(config.form_token_hours) * 3600
        );
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
        response
    }
}

fn company_context(company: &CompanyRecord) -> minijinja::Value {
    context! { id => company.id.as_str(), name => company.name }
}

/// The value of cookie `name` in the request.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// A submission as it arrived.
#[derive(Debug, Default)]
struct Submission {
    values: Values,
    csrf: String,
    honeypot: bool,
    photos: Vec<Upload>,
}

/// Why a body could not be read as a form.
enum Unreadable {
    /// Beyond a size limit: the photos' error.
    TooLarge(String),
    Malformed(String),
}

async fn read_submission(state: &IngestState, headers: &HeaderMap, body: Body) -> Result<Submission, Unreadable> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or_default();
    let boundary = multer::parse_boundary(content_type)
        .map_err(|_| Unreadable::Malformed("the form must be sent as multipart/form-data".into()))?;
    let limits = &state.attachments;
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(limits.max_ticket_bytes + TEXT_ROOM_BYTES)
            .per_field(limits.max_file_bytes.max(TEXT_ROOM_BYTES)),
    );
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let mut multipart = multer::Multipart::with_constraints(stream, boundary, constraints);
    let mut submission = Submission::default();
    let max_photos = state.forms.config.max_photos;
    let too_large = |error: &multer::Error| match error {
        multer::Error::FieldSizeExceeded { .. } => {
            Some(format!("Each photo can be at most {}. Choose smaller photos.", human_size(limits.max_file_bytes)))
        }
        multer::Error::StreamSizeExceeded { .. } => Some(format!(
            "The photos add up to more than {}. Choose fewer or smaller photos.",
            human_size(limits.max_ticket_bytes)
        )),
        _ => None,
    };
    let read_error = |error: multer::Error| match too_large(&error) {
        Some(message) => Unreadable::TooLarge(message),
        None => Unreadable::Malformed(format!("the form could not be read: {error}")),
    };
    while let Some(mut field) = multipart.next_field().await.map_err(read_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "photos" {
            let filename = field.file_name().unwrap_or_default().to_owned();
            let mut content = BytesMut::new();
            while let Some(chunk) = field.chunk().await.map_err(read_error)? {
                content.extend_from_slice(&chunk);
            }
            // A file input left empty sends a part with no name and no bytes.
            if filename.is_empty() && content.is_empty() {
                continue;
            }
            if submission.photos.len() == max_photos {
                return Err(Unreadable::TooLarge(format!("Choose at most {max_photos} photos.")));
            }
            submission.photos.push(Upload { filename, content: content.freeze() });
            continue;
        }
        let text = field.text().await.map_err(read_error)?;
        match name.as_str() {
            "csrf" => submission.csrf = text,
            "website" => submission.honeypot = !text.trim().is_empty(),
            _ => {
                if let Some(field) = FIELDS.iter().find(|field| **field == name) {
                    submission.values.0.insert(field, text);
                }
            }
        }
    }
    Ok(submission)
}

/// The form field a validation error of the ticket belongs to.
fn form_field(ticket_field: &str) -> &'static str {
    match ticket_field {
        "description" => "description",
        "requester" | "requester.email" => "email",
        "requester.name" => "name",
        "equipment" | "equipment.model" => "equipment_model",
        "equipment.serial" => "equipment_serial",
        _ => "title",
    }
}

pub(crate) async fn submit_form(
    State(state): State<IngestState>,
    Path(company): Path<String>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let company = match open_company(&state, &company, Needs::Form).await {
        Ok(company) => company,
        Err(page) => return page,
    };
    let address = address_key(client_address(&parts.extensions));
    let limit = state.forms.config.submissions_per_address_per_hour;
    if let Some(retry_after) = state.forms.submissions.check(format!("{}:{address}", company.id), limit, true) {
        metrics::counter!("switchboard_ingest_form_submissions_total", "outcome" => "rate_limited").increment(1);
        let mut page = notice(
            &state,
            Some(&company),
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests",
            "We received many requests from your network in the last hour. Please try again later, or write to us by e-mail.",
            None,
        );
        page.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        return page;
    }
    let outcome = accept(&state, &company, &parts.headers, body).await;
    let label = match &outcome {
        Accepted::Filed(_) => "accepted",
        Accepted::Honeypot => "honeypot",
        Accepted::Again { status, .. } if status.is_server_error() => "unavailable",
        Accepted::Again { .. } | Accepted::Unreadable(_) => "rejected",
    };
    metrics::counter!("switchboard_ingest_form_submissions_total", "outcome" => label).increment(1);
    match outcome {
        Accepted::Filed(location) => {
            let mut response = StatusCode::SEE_OTHER.into_response();
            if let Ok(value) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            response
        }
        Accepted::Honeypot => {
            notice(&state, Some(&company), StatusCode::OK, "Thank you", "We received your message.", None)
        }
        Accepted::Unreadable(message) => notice(
            &state,
            Some(&company),
            StatusCode::BAD_REQUEST,
            "The form could not be read",
            &message,
            Some(&company),
        ),
        Accepted::Again { values, errors, notice: message, status } => {
            let form = FormPage { company: &company, values: &values, errors: &errors, notice: message.as_deref() };
            let mut response = form.render(&state, &parts.headers, status).await;
            if status == StatusCode::SERVICE_UNAVAILABLE {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(state.config.retry_after_seconds));
            }
            response
        }
    }
}

/// What became of a submission.
enum Accepted {
    /// Filed: where its status page is.
    Filed(String),
    Honeypot,
    Unreadable(String),
    /// The form again, with what is wrong.
    Again {
        values: Values,
        errors: Errors,
        notice: Option<String>,
        status: StatusCode,
    },
}

async fn accept(state: &IngestState, company: &CompanyRecord, headers: &HeaderMap, body: Body) -> Accepted {
    let again = |values, field: &'static str, message: String, status| Accepted::Again {
        values,
        errors: Errors::from([(field, message)]),
        notice: None,
        status,
    };
    let submission = match read_submission(state, headers, body).await {
        Ok(submission) => submission,
        Err(Unreadable::TooLarge(message)) => {
            return again(Values::default(), "photos", message, StatusCode::PAYLOAD_TOO_LARGE);
        }
        Err(Unreadable::Malformed(message)) => return Accepted::Unreadable(message),
    };
    if submission.honeypot {
        tracing::info!(company = %company.id, "a submission filled the honeypot field; no ticket");
        return Accepted::Honeypot;
    }
    let Submission { values, csrf, photos, .. } = submission;
    let key = match signing_key(state).await {
        Ok(key) => key,
        Err(error) => {
            tracing::warn!(%error, "cannot read the intake signing key");
            return Accepted::Again {
                values,
                errors: Errors::new(),
                notice: Some(UNAVAILABLE.into()),
                status: StatusCode::SERVICE_UNAVAILABLE,
            };
        }
    };
    let now = OffsetDateTime::now_utc();
    let max_age = i64::from(state.forms.config.form_token_hours) * 3600;
    let cookie_nonce = cookie(headers, COOKIE);
    if !key.check_form_token(&company.id, &csrf, cookie_nonce.as_deref(), now.unix_timestamp(), max_age) {
        let notice = "This form was open too long, or your browser did not send its cookie. Check your request and send it again.";
        return Accepted::Again {
            values,
            errors: Errors::new(),
            notice: Some(notice.into()),
            status: StatusCode::FORBIDDEN,
        };
    }

    // Validation stops at a ticket's first problem; a person should see
    // every one at once, so the common ones are checked here first.
    let mut errors = Errors::new();
    if values.get("title").is_none() {
        errors.insert("title", "Enter a subject.".into());
    }
    if values.get("description").is_none() {
        errors.insert("description", "Describe what happened.".into());
    }
    match values.get("email") {
        None => {
            errors.insert("email", "Enter your e-mail address.".into());
        }
        Some(email) if switchboard_core::ticket::check_email(&email).is_err() => {
            errors.insert("email", "Enter an e-mail address like name@example.com.".into());
        }
        Some(_) => {}
    }
    let mut equipment = match (values.get("equipment_model"), values.get("equipment_serial")) {
        (None, None) => None,
        (model, serial) => Some(NewEquipment { model, serial }),
    };
    // A registered serial names its model, as in JSON intake.
    if let Err(error) = complete_equipment(state, &company.id, &mut equipment).await {
        tracing::warn!(%error, "cannot look up the equipment of a form submission");
        let notice = Some(UNAVAILABLE.into());
        return Accepted::Again { values, errors: Errors::new(), notice, status: StatusCode::SERVICE_UNAVAILABLE };
    }
    let submitted = NewTicket {
        title: values.get("title"),
        description: values.get("description"),
        requester: Some(NewRequester { email: values.get("email"), name: values.get("name") }),
        company: Some(company.id.to_string()),
        tags: None,
        equipment,
    };
    let ticket = match submitted.validate(TicketId::new(), Channel::WebForm, now) {
        Ok(ticket) if errors.is_empty() => Some(ticket),
        Ok(_) => None,
        Err(error) => {
            errors.entry(form_field(&error.field)).or_insert_with(|| friendly(&error));
            None
        }
    };
    let files = attachments::check(&photos, Accept::Photos, state.forms.config.max_photos, &state.attachments);
    let files = match files {
        Ok(files) => files,
        Err(refused) => {
            let status = match refused {
                Refused::FileTooLarge { .. } | Refused::TooLargeInAll { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            errors.insert("photos", refused.to_string());
            return Accepted::Again { values, errors, notice: None, status };
        }
    };
    let Some(mut ticket) = ticket else {
        return Accepted::Again { values, errors, notice: None, status: StatusCode::UNPROCESSABLE_ENTITY };
    };
    ticket.attachments = files;
    match state.store.customer_with_email(&company.id, &ticket.requester.email.to_lowercase()).await {
        Ok(account) => ticket.requester.account = account,
        Err(error) => {
            tracing::warn!(%error, "cannot look up the requester of a form submission");
            let notice = Some(UNAVAILABLE.into());
            return Accepted::Again { values, errors: Errors::new(), notice, status: StatusCode::SERVICE_UNAVAILABLE };
        }
    }
    let id = ticket.id;
    match file_ticket(state, ticket, &photos, request_id(headers), None).await {
        Ok(_) => {
            let expires = now.unix_timestamp() + i64::from(state.forms.config.status_link_days) * 86_400;
            let token = key.status_token(&company.id, id, expires);
            Accepted::Filed(format!("/support/{}/status/{token}?submitted=1", company.id))
        }
        Err(ApiError::TicketTooLarge { .. }) => {
            again(values, "description", "The description is too long.".into(), StatusCode::PAYLOAD_TOO_LARGE)
        }
        Err(error) => {
            tracing::warn!(error = %switchboard_core::error::describe_chain(&error), "a form submission was not accepted");
            Accepted::Again {
                values,
                errors: Errors::new(),
                notice: Some(UNAVAILABLE.into()),
                status: StatusCode::SERVICE_UNAVAILABLE,
            }
        }
    }
}

const UNAVAILABLE: &str = "We cannot take requests right now. Nothing was sent; please try again in a minute.";

/// A validation message in the form's words.
fn friendly(error: &switchboard_core::ticket::ValidationError) -> String {
    match (form_field(&error.field), error.code) {
        ("title", "missing" | "empty") => "Enter a subject.".into(),
        ("email", "missing" | "empty") => "Enter your e-mail address.".into(),
        ("email", "invalid_email") => "Enter an e-mail address like name@example.com.".into(),
        ("equipment_model", "missing_field" | "empty_field") => {
            "Enter the model: we do not know this serial number (or leave it empty too).".into()
        }
        (_, "too_long") => error.message.replace('`', "").replace("requester.", "").replace("equipment.", ""),
        _ => error.message.replace('`', ""),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct StatusQuery {
    #[serde(default)]
    submitted: Option<String>,
}

pub(crate) async fn show_status(
    State(state): State<IngestState>,
    Path((company, token)): Path<(String, String)>,
    Query(query): Query<StatusQuery>,
) -> Response {
    let company = match open_company(&state, &company, Needs::Company).await {
        Ok(company) => company,
        Err(page) => return page,
    };
    let key = match signing_key(&state).await {
        Ok(key) => key,
        Err(_) => return unavailable_page(&state, Some(&company)),
    };
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let Some(ticket_id) = key.check_status_token(&company.id, &token, now) else {
        return notice(
            &state,
            Some(&company),
            StatusCode::NOT_FOUND,
            "Link not valid",
            "This status link is not valid or has expired. Write to us with your request number and we will help.",
            Some(&company),
        );
    };
    let expires = token
        .split('.')
        .nth(1)
        .and_then(|expires| expires.parse::<i64>().ok())
        .and_then(|expires| OffsetDateTime::from_unix_timestamp(expires).ok())
        .and_then(|expires| expires.format(&Rfc2822).ok())
        .unwrap_or_default();
    let ticket = match status_of(&state, &company.id, ticket_id).await {
        Ok(ticket) => ticket,
        Err(error) => {
            tracing::warn!(%error, "cannot read a ticket for its status page");
            return unavailable_page(&state, Some(&company));
        }
    };
    let html = state.forms.templates.get_template("status.html").and_then(|template| {
        template.render(context! {
            company => company_context(&company),
            ticket_id => ticket_id.to_string(),
            submitted => query.submitted.is_some(),
            status_path => format!("/support/{}/status/{token}", company.id),
            expires => expires,
            ticket => ticket,
        })
    });
    page(html, StatusCode::OK)
}

/// What the requester sees of their ticket: no internal notes, no staff
/// names.
async fn status_of(
    state: &IngestState,
    company: &CompanyId,
    id: TicketId,
) -> Result<Option<minijinja::Value>, switchboard_store::Error> {
    let scope = Scope::Company(company.clone());
    let Some(ticket) = state.store.get_ticket(&scope, id).await? else {
        return Ok(None);
    };
    let messages = state.store.messages(&scope, id, false).await?;
    let files = state.store.attachments(&scope, id).await?;
    let format = |at: OffsetDateTime| at.format(&Rfc2822).unwrap_or_default();
    let messages: Vec<minijinja::Value> = messages
        .iter()
        .map(|message| {
            let author = if message.author_role == Role::Customer { "You" } else { "Support team" };
            context! { author => author, at => format(message.created_at), body => message.body }
        })
        .collect();
    Ok(Some(context! {
        title => ticket.title,
        status => status_label(ticket.status),
        created_at => format(ticket.created_at),
        messages => messages,
        attachments => files.iter().map(|file| file.filename.clone()).collect::<Vec<_>>(),
    }))
}

fn status_label(status: Status) -> &'static str {
    match status {
        Status::New => "Received",
        Status::Opened => "Opened",
        Status::InProgress => "In progress",
        Status::Resolved => "Resolved",
        Status::Closed => "Closed",
    }
}

fn notice(
    state: &IngestState,
    company: Option<&CompanyRecord>,
    status: StatusCode,
    heading: &str,
    message: &str,
    back: Option<&CompanyRecord>,
) -> Response {
    let company = company.map_or_else(|| context! { id => "", name => "Switchboard" }, company_context);
    let html = state.forms.templates.get_template("notice.html").and_then(|template| {
        template.render(context! {
            company => company,
            heading => heading,
            message => message,
            back => back.map(|company| format!("/support/{}", company.id)),
        })
    });
    page(html, status)
}

fn unavailable_page(state: &IngestState, company: Option<&CompanyRecord>) -> Response {
    let mut response =
        notice(state, company, StatusCode::SERVICE_UNAVAILABLE, "Please try again shortly", UNAVAILABLE, company);
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(state.config.retry_after_seconds));
    response
}

/// An HTML page with the security headers every page has.
fn page(html: Result<String, minijinja::Error>, status: StatusCode) -> Response {
    let html = match html {
        Ok(html) => html,
        Err(error) => {
            tracing::error!(%error, "a support page did not render");
            return ApiError::internal(error).into_response();
        }
    };
    let headers = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
    ];
    (status, headers, Body::from(Bytes::from(html))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; sb_form=abc; b=2"));
        assert_eq!(cookie(&headers, "sb_form").as_deref(), Some("abc"));
        assert_eq!(cookie(&headers, "missing"), None);
    }

    #[test]
    fn the_built_in_pages_render() {
        let forms = Forms::new(WebFormConfig::default());
        let errors = Errors::from([("email", "Enter your e-mail address.".to_owned())]);
        let html = forms
            .templates
            .get_template("form.html")
            .and_then(|template| {
                template.render(context! {
                    company => context! { id => "acme", name => "Acme <Tools>" },
                    csrf => "token", values => Values::default(), errors => errors, max_photos => 5,
                })
            })
            .expect("renders");
        assert!(html.contains("Acme &lt;Tools&gt;"), "names are escaped");
        assert!(html.contains(r#"id="email-error""#) && html.contains(r#"aria-invalid="true""#), "{html}");
        assert!(html.contains(r##"<a href="#email">Enter your e-mail address.</a>"##), "{html}");
    }
}
