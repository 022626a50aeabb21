//! Accounts, sign-in and passwords:
//!
//! - `POST /v1/accounts`: self sign-up as a customer of a company that
//!   allows it, or creation of any role by the company's admin (who gets a
//!   set-password token to hand on; the account has no password until then);
//! - `GET /v1/accounts` (admin), `GET /v1/accounts/me`,
//!   `GET|DELETE /v1/accounts/{id}` (self or the company's admin);
//! - `PUT /v1/accounts/{id}/password` with the current password, or with a
//!   set-password or reset token;
//! - `POST /v1/sessions` (sign in) and `DELETE /v1/sessions/current`;
//! - `POST /v1/password-resets`: always 202; the token goes out as an
//!   `account.password_reset_requested` event on `accounts.events`.

use axum::Json;
use axum::extract::State;
use axum::http::{Extensions, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use switchboard_bus::OutgoingMessage;
use switchboard_core::auth::{AccountKind, Caller, password};
use switchboard_core::config::Secret;
use switchboard_core::events::{AccountEvent, AccountMessage};
use switchboard_core::{AccountId, CompanyId, Role, Scope};
use switchboard_store::{AccountRecord, NewAccount, TokenPurpose};
use switchboard_web::auth::{BearerToken, SecretKind, client_address, hash_secret, issue_one_time_token, new_secret};
use switchboard_web::{ApiError, Authenticated, JsonBody, MaybeAuthenticated, Path};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::ApiState;

const NAME_MAX_CHARS: usize = 200;
const USERNAME_MAX_CHARS: usize = 64;
const EMAIL_MAX_CHARS: usize = 254;

/// An account as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct AccountView {
    id: AccountId,
    company: CompanyId,
    role: Role,
    #[serde(rename = "type")]
    kind: AccountKind,
    name: Option<String>,
    username: Option<String>,
    email: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    deleted: bool,
}

impl From<AccountRecord> for AccountView {
    fn from(account: AccountRecord) -> Self {
        Self {
            id: account.id,
            company: account.company,
            role: account.role,
            kind: account.kind,
            name: account.name,
            username: account.username,
            email: account.email,
            created_at: account.created_at,
            deleted: account.deleted_at.is_some(),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewAccountInput {
    name: String,
    username: String,
    email: String,
    password: Option<String>,
    role: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    /// Self sign-up only: the company to join.
    company: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct CreatedAccount {
    account: AccountView,
    /// For an account an admin created: the one-time token that sets its
    /// first password (`PUT /v1/accounts/{id}/password`). Shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    set_password_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    set_password_token_expires_at: Option<OffsetDateTime>,
}

/// Checks one text field: trimmed, 1 to `max` characters, no control
/// characters.
fn text_field(field: &'static str, value: &str, max: usize) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::invalid_body(field, format!("`{field}` must not be empty")));
    }
    if value.chars().count() > max {
        return Err(ApiError::invalid_body(field, format!("`{field}` must have at most {max} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::invalid_body(field, format!("`{field}` contains a control character")));
    }
    Ok(value.to_owned())
}

fn username_field(value: &str) -> Result<String, ApiError> {
    let value = text_field("username", value, USERNAME_MAX_CHARS)?;
    let valid = value.chars().all(|character| character.is_alphanumeric() || "._-".contains(character));
    if !valid || value.contains('@') {
        return Err(ApiError::invalid_body("username", "`username` may hold letters, digits, `.`, `_` and `-` only"));
    }
    Ok(value.to_lowercase())
}

fn email_field(value: &str) -> Result<String, ApiError> {
    let value = text_field("email", value, EMAIL_MAX_CHARS)?;
    let valid = value.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
    }) && !value.contains(char::is_whitespace);
    if !valid {
        return Err(ApiError::invalid_body("email", "`email` must be an e-mail address such as ana@example.com"));
    }
    Ok(value.to_lowercase())
}

fn role_field(value: Option<&str>) -> Result<Role, ApiError> {
    match value {
        None => Ok(Role::Customer),
        Some(text) => Role::parse(text).filter(|role| Role::PEOPLE.contains(role)).ok_or_else(|| {
            ApiError::invalid_body(
                "role",
                format!("unknown role `{text}`; one of admin, engineer, technician, customer"),
            )
        }),
    }
}

fn kind_field(value: Option<&str>, role: Role) -> Result<AccountKind, ApiError> {
    match value {
        // Staff accounts are the company's; a customer's is their own.
        None => Ok(if role == Role::Customer { AccountKind::Personal } else { AccountKind::Work }),
        Some(text) => AccountKind::parse(text)
            .ok_or_else(|| ApiError::invalid_body("type", format!("unknown account type `{text}`; personal or work"))),
    }
}

pub(crate) async fn create_account(
    State(state): State<ApiState>,
    MaybeAuthenticated(caller): MaybeAuthenticated,
    JsonBody(input): JsonBody<NewAccountInput>,
) -> Result<Response, ApiError> {
    let name = text_field("name", &input.name, NAME_MAX_CHARS)?;
    let username = username_field(&input.username)?;
    let email = email_field(&input.email)?;
    let role = role_field(input.role.as_deref())?;
    let kind = kind_field(input.kind.as_deref(), role)?;
    let by_admin = match &caller {
        Some(caller) if caller.is_admin() => true,
        Some(_) => {
            return Err(ApiError::Forbidden {
                message: "only an admin creates accounts for others; sign out to sign up".into(),
            });
        }
        None => false,
    };
    let company = if by_admin {
        let own = caller.as_ref().map(|caller| caller.company.clone()).ok_or(ApiError::Unauthenticated)?;
        if input.company.as_deref().is_some_and(|named| named.trim() != own.as_str()) {
            return Err(ApiError::invalid_body("company", "an admin creates accounts in their own company only"));
        }
        if input.password.is_some() {
            return Err(ApiError::invalid_body(
                "password",
                "an account an admin creates sets its own password with the token in the answer; leave `password` out",
            ));
        }
        own
    } else {
        let named = input
            .company
            .as_deref()
            .ok_or_else(|| ApiError::invalid_body("company", "name the `company` to sign up with"))?;
        let company = CompanyId::parse(named).map_err(|error| ApiError::invalid_body("company", error.message))?;
        let open = state.store.company(&company).await?.is_some_and(|record| record.options.allow_self_signup);
        if !open {
            // The same answer for a company that does not exist and one that
            // does not take sign-ups.
            return Err(ApiError::Forbidden { message: "this company does not take sign-ups".into() });
        }
        if role != Role::Customer {
            return Err(ApiError::invalid_body("role", "signing up makes a customer account; an admin creates staff"));
        }
        company
    };
    let password_hash = match (&input.password, by_admin) {
        (Some(password), false) => {
            password::check(password, &[&username, &email])?;
            Some(state.auth.passwords.hash(password).await?)
        }
        (None, false) => return Err(ApiError::invalid_body("password", "`password` is required to sign up")),
        (_, true) => None,
    };
    let account = state
        .store
        .create_account(&NewAccount {
            company: &company,
            role,
            kind,
            name: &name,
            username: &username,
            email: &email,
            password_hash: password_hash.as_deref(),
        })
        .await?;
    let (token, expires_at) = if by_admin {
        let ttl = state.auth.config.set_password_token_ttl();
        let (token, expires_at) =
            issue_one_time_token(&state.store, account.id, TokenPurpose::SetPassword, ttl).await?;
        (Some(token), Some(expires_at))
    } else {
        (None, None)
    };
    let body = CreatedAccount {
        account: account.into(),
        set_password_token: token,
        set_password_token_expires_at: expires_at,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct AccountList {
    items: Vec<AccountView>,
}

pub(crate) async fn list_accounts(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<AccountList>, ApiError> {
    let accounts = state.store.list_accounts(&caller.company).await?;
    Ok(Json(AccountList { items: accounts.into_iter().map(AccountView::from).collect() }))
}

pub(crate) async fn me(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<AccountView>, ApiError> {
    let id = caller.account().ok_or_else(|| ApiError::Forbidden { message: "an API key has no account".into() })?;
    let account = state.store.account(&caller.scope(), id).await?.ok_or(ApiError::Unauthenticated)?;
    Ok(Json(account.into()))
}

/// The account in the path, if the caller may see it: their own, or any of
/// their company's for an admin. Anything else is "not found".
async fn visible_account(state: &ApiState, caller: &Caller, id: &str) -> Result<AccountRecord, ApiError> {
    let not_found = || ApiError::NotFound { what: "account" };
    let id: AccountId = id.parse().map_err(|_| not_found())?;
    if !caller.is_admin() && caller.account() != Some(id) {
        return Err(not_found());
    }
    state.store.account(&caller.scope(), id).await?.ok_or_else(not_found)
}

pub(crate) async fn get_account(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<AccountView>, ApiError> {
    Ok(Json(visible_account(&state, &caller, &id).await?.into()))
}

/// `DELETE /v1/accounts/{id}`: by the account itself or the company's admin.
pub(crate) async fn delete_account(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let account = visible_account(&state, &caller, &id).await?;
    if !state.store.delete_account(&caller.scope(), account.id).await? {
        return Err(ApiError::NotFound { what: "account" });
    }
    state.auth.forget_account(account.id);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasswordInput {
    new_password: String,
    current_password: Option<String>,
    /// A set-password or reset token instead of the current password.
    token: Option<String>,
}

/// `PUT /v1/accounts/{id}/password`: with the current password (signed in
/// as that account), or with a one-time token (no sign-in needed). Every
/// session of the account ends.
pub(crate) async fn put_password(
    State(state): State<ApiState>,
    MaybeAuthenticated(caller): MaybeAuthenticated,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<PasswordInput>,
) -> Result<StatusCode, ApiError> {
    let invalid_token = || ApiError::Unprocessable {
        code: "invalid_token",
        message: "the token is unknown, used or expired; ask for a new one".into(),
    };
    let id: AccountId = id.parse().map_err(|_| ApiError::NotFound { what: "account" })?;
    match (&input.token, &input.current_password) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_body("token", "give `token` or `current_password`, not both"));
        }
        (None, None) => {
            return Err(ApiError::invalid_body("current_password", "give `current_password` or a reset `token`"));
        }
        _ => {}
    }
    let account = if input.token.is_some() {
        // The token names the account; a wrong id is a wrong token.
        state.store.account(&Scope::Installation, id).await?.filter(|account| account.deleted_at.is_none())
    } else {
        match &caller {
            Some(caller) if caller.account() == Some(id) => state.store.account(&caller.scope(), id).await?,
            Some(_) => return Err(ApiError::NotFound { what: "account" }),
            None => return Err(ApiError::Unauthenticated),
        }
    };
    let names: Vec<&str> =
        account.iter().flat_map(|account| [account.username.as_deref(), account.email.as_deref()]).flatten().collect();
    password::check(&input.new_password, &names)?;
    match (&input.token, &input.current_password, account) {
        (Some(token), _, Some(_)) => {
            let redeemed = state
                .store
                .redeem_account_token(&hash_secret(token), &[TokenPurpose::SetPassword, TokenPurpose::ResetPassword])
                .await?;
            if redeemed != Some(id) {
                return Err(invalid_token());
            }
        }
        (Some(_), _, None) => return Err(invalid_token()),
        (None, Some(current), Some(_)) => {
            let hash = state.store.password_hash(id).await?;
            if !state.auth.passwords.verify(hash, current).await? {
                return Err(ApiError::InvalidCredentials);
            }
        }
        (None, _, _) => return Err(ApiError::NotFound { what: "account" }),
    }
    let hash = state.auth.passwords.hash(&input.new_password).await?;
    if !state.store.set_password_hash(id, &hash).await? {
        return Err(ApiError::NotFound { what: "account" });
    }
    state.auth.forget_account(id);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignInInput {
    /// Username or e-mail address.
    login: String,
    password: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct SessionView {
    /// The bearer token: `Authorization: Bearer <token>`. Shown once.
    token: String,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    account: AccountView,
}

/// `POST /v1/sessions`: sign in. A wrong login and a wrong password get
/// the same answer after the same work.
pub(crate) async fn sign_in(
    State(state): State<ApiState>,
    extensions: Extensions,
    JsonBody(input): JsonBody<SignInInput>,
) -> Result<Response, ApiError> {
    state.auth.limiter.attempt_from(client_address(&extensions))?;
    let login = input.login.trim();
    if login.is_empty() || login.chars().count() > EMAIL_MAX_CHARS {
        return Err(ApiError::invalid_body("login", "`login` is a username or an e-mail address"));
    }
    if input.password.chars().count() > password::MAX_CHARS {
        return Err(ApiError::InvalidCredentials);
    }
    state.auth.limiter.account_allowed(login)?;
    let found = state.store.account_for_sign_in(login).await?;
    let (account, hash) = match found {
        Some((account, hash)) => (Some(account), hash),
        None => (None, None),
    };
    if !state.auth.passwords.verify(hash, &input.password).await? {
        state.auth.limiter.failed(login);
        return Err(ApiError::InvalidCredentials);
    }
    let account = account.ok_or(ApiError::InvalidCredentials)?;
    let token = new_secret(SecretKind::Session);
    let expires_at =
        state.store.create_session(&hash_secret(&token), &account, state.auth.config.session_ttl()).await?;
    let body = SessionView { token, expires_at, account: account.into() };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `DELETE /v1/sessions/current`: sign out.
pub(crate) async fn sign_out(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    extensions: Extensions,
) -> Result<StatusCode, ApiError> {
    let Some(BearerToken(token)) = extensions.get::<BearerToken>().cloned() else {
        return Err(ApiError::Unauthenticated);
    };
    if caller.account().is_none() {
        return Err(ApiError::Forbidden { message: "an API key is not a session; revoke it at /v1/api-keys".into() });
    }
    state.store.delete_session(&hash_secret(&token)).await?;
    state.auth.forget_token(&token);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResetInput {
    email: String,
}

/// `POST /v1/password-resets`: always 202 (whether an account has the
/// address is not told, nor how long the work took: it happens after the
/// answer). For a live account a single-use token valid
/// `auth.reset_token_minutes` is recorded (as a hash) and sent as an
/// `account.password_reset_requested` event for the notifier to e-mail.
/// The answer to every reset request, whether or not the address is known.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ResetRequested {
    status: &'static str,
}

pub(crate) async fn request_password_reset(
    State(state): State<ApiState>,
    extensions: Extensions,
    headers: axum::http::HeaderMap,
    JsonBody(input): JsonBody<ResetInput>,
) -> Result<Response, ApiError> {
    state.auth.limiter.attempt_from(client_address(&extensions))?;
    let email = email_field(&input.email)?;
    let request_id = headers.get("x-request-id").and_then(|value| value.to_str().ok()).map(str::to_owned);
    tokio::spawn(async move {
        if let Err(error) = send_reset(&state, &email, request_id).await {
            tracing::warn!(%error, "a password reset could not be sent");
        }
    });
    Ok((StatusCode::ACCEPTED, Json(ResetRequested { status: "accepted" })).into_response())
}

async fn send_reset(state: &ApiState, email: &str, request_id: Option<String>) -> Result<(), ApiError> {
    let Some((account, _)) = state.store.account_for_sign_in(email).await? else { return Ok(()) };
    // Only the e-mail address names an account here, not the username.
    if account.email.as_deref() != Some(email) {
        return Ok(());
    }
    let ttl = state.auth.config.reset_token_ttl();
    let (token, expires_at) = issue_one_time_token(&state.store, account.id, TokenPurpose::ResetPassword, ttl).await?;
    let event = AccountEvent::PasswordResetRequested {
        email: email.to_owned(),
        name: account.name.clone(),
        token: Secret::new(token),
        expires_at,
    };
    let message = AccountMessage::new(account.id, account.company.clone(), request_id, event);
    let payload = serde_json::to_vec(&message).map_err(ApiError::internal)?;
    let outgoing = OutgoingMessage::json(
        state.topics.account_events(),
        account.id.to_string(),
        message.event_id,
        message.request_id.as_deref(),
        payload,
    );
    state.bus.produce(outgoing).await.map_err(|error| ApiError::unavailable(error.to_string()))?;
    tracing::info!(account = %account.id, expires_at = %expires_at.format(&Rfc3339).unwrap_or_default(), "password reset requested");
    Ok(())
}
