//! Per-company settings: `GET`/`PUT /v1/companies/{company}/settings`.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use switchboard_core::{CompanyId, Scope};
use switchboard_store::CompanyOptions;
use switchboard_web::{ApiError, JsonBody, Path, Tenant};

use crate::ApiState;

/// The lowest auto-answer threshold a company may set.
pub const MIN_AUTO_ANSWER_THRESHOLD: f64 = 0.5;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct CompanySettings {
    company: String,
    /// The knowledge base answers this company's customers directly when
    /// its best FAQ match reaches this confidence; `null` (the default):
    /// never.
    auto_answer_threshold: Option<f64>,
    /// Whether anyone may sign up as a customer (`POST /v1/accounts`).
    allow_self_signup: bool,
    /// Whether the public form `GET /support/{company}` takes tickets.
    web_form_enabled: bool,
    /// Whether a customer's e-mail reply to a resolved ticket reopens it.
    reopen_on_reply: bool,
    /// Whether automatic mail (an out-of-office reply, a bounce) answering
    /// a ticket's mail is kept on the ticket as an internal note; either way
    /// it never makes a ticket and is never answered.
    keep_automatic_mail: bool,
}

impl CompanySettings {
    fn new(company: &CompanyId, auto_answer_threshold: Option<f64>, options: CompanyOptions) -> Self {
        Self {
            company: company.to_string(),
            auto_answer_threshold,
            allow_self_signup: options.allow_self_signup,
            web_form_enabled: options.web_form,
            reopen_on_reply: options.reopen_on_reply,
            keep_automatic_mail: options.keep_automatic_mail,
        }
    }
}

/// A whole replacement: what is left out takes its default (`null`;
/// false; `reopen_on_reply` true).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SettingsInput {
    auto_answer_threshold: Option<f64>,
    #[serde(default)]
    allow_self_signup: bool,
    #[serde(default)]
    web_form_enabled: bool,
    #[serde(default = "reopen_on_reply_default")]
    reopen_on_reply: bool,
    #[serde(default)]
    keep_automatic_mail: bool,
}

fn reopen_on_reply_default() -> bool {
    CompanyOptions::default().reopen_on_reply
}

/// The company in the path, if the caller may see its settings (another
/// company's are "not found").
fn checked_company(scope: &Scope, company: &str) -> Result<CompanyId, ApiError> {
    let company = CompanyId::parse(company).map_err(|error| ApiError::invalid_parameter("company", error.message))?;
    if scope.allows(company.as_str()) { Ok(company) } else { Err(ApiError::NotFound { what: "company" }) }
}

pub(crate) async fn get_settings(
    State(state): State<ApiState>,
    Tenant(scope): Tenant,
    Path(company): Path<String>,
) -> Result<Json<CompanySettings>, ApiError> {
    let company = checked_company(&scope, &company)?;
    let threshold = state.store.auto_answer_threshold(&company).await?;
    let options = state.store.company(&company).await?.map(|record| record.options).unwrap_or_default();
    Ok(Json(CompanySettings::new(&company, threshold, options)))
}

pub(crate) async fn put_settings(
    State(state): State<ApiState>,
    Tenant(scope): Tenant,
    Path(company): Path<String>,
    JsonBody(input): JsonBody<SettingsInput>,
) -> Result<Json<CompanySettings>, ApiError> {
    let company = checked_company(&scope, &company)?;
    // Below 0.5 the "best" match is more likely wrong than right: answering
    // every customer with whatever matched is not a setting.
    if let Some(threshold) = input.auto_answer_threshold
        && !(MIN_AUTO_ANSWER_THRESHOLD..=1.0).contains(&threshold)
    {
        return Err(ApiError::invalid_body(
            "auto_answer_threshold",
            format!(
                "`auto_answer_threshold` is a confidence from {MIN_AUTO_ANSWER_THRESHOLD} to 1, or null to turn \
                 auto-answer off"
            ),
        ));
    }
    state.store.set_auto_answer_threshold(&company, input.auto_answer_threshold).await?;
    let options = CompanyOptions {
        allow_self_signup: input.allow_self_signup,
        web_form: input.web_form_enabled,
        reopen_on_reply: input.reopen_on_reply,
        keep_automatic_mail: input.keep_automatic_mail,
    };
    state.store.set_company_options(&company, options).await?;
    Ok(Json(CompanySettings::new(&company, input.auto_answer_threshold, options)))
}

/// The addresses a company receives support mail at.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct InboundAddresses {
    /// Bare addresses (`support@acme.example`); a mail to one of them (To,
    /// Cc, Delivered-To or X-Original-To) is the company's. At most
    /// [`MAX_INBOUND_ADDRESSES`], each the company's alone.
    addresses: Vec<String>,
}

/// The most addresses one company receives at.
pub const MAX_INBOUND_ADDRESSES: usize = 50;

pub(crate) async fn get_inbound_addresses(
    State(state): State<ApiState>,
    Tenant(scope): Tenant,
    Path(company): Path<String>,
) -> Result<Json<InboundAddresses>, ApiError> {
    let company = checked_company(&scope, &company)?;
    Ok(Json(InboundAddresses { addresses: state.store.inbound_addresses(&company).await? }))
}

/// Replaces the company's inbound addresses; 409 when another company
/// receives at one of them.
pub(crate) async fn put_inbound_addresses(
    State(state): State<ApiState>,
    Tenant(scope): Tenant,
    Path(company): Path<String>,
    JsonBody(input): JsonBody<InboundAddresses>,
) -> Result<Json<InboundAddresses>, ApiError> {
    let company = checked_company(&scope, &company)?;
    if input.addresses.len() > MAX_INBOUND_ADDRESSES {
        return Err(ApiError::invalid_body(
            "addresses",
            format!("at most {MAX_INBOUND_ADDRESSES} addresses, got {}", input.addresses.len()),
        ));
    }
    let mut addresses: Vec<String> = Vec::with_capacity(input.addresses.len());
    for (index, address) in input.addresses.iter().enumerate() {
        let address = address.trim().to_lowercase();
        switchboard_core::ticket::check_characters(&format!("addresses[{index}]"), &address)?;
        if let Err(reason) = switchboard_core::ticket::check_email(&address) {
            return Err(ApiError::invalid_body(
                format!("addresses[{index}]"),
                format!("`{address}` is not an e-mail address: {reason}"),
            ));
        }
        if !addresses.contains(&address) {
            addresses.push(address);
        }
    }
    addresses.sort();
    state.store.set_inbound_addresses(&company, &addresses).await?;
    Ok(Json(InboundAddresses { addresses }))
}
