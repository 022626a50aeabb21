//! Companies, accounts, sessions, one-time tokens and API keys.
//!
//! Secrets never reach this module: callers pass the SHA-256 hash of a
//! session token, API key or one-time token, and the argon2id PHC string of
//! a password. Usernames and e-mail addresses are stored lower-cased and
//! unique across the installation. Deleting an account keeps its row (the
//! tickets it filed point at it) and removes its personal data.

use switchboard_core::auth::{AccountKind, KeyScope};
use switchboard_core::{AccountId, ApiKeyId, CompanyId, Role, Scope};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Store;
use crate::db::{BeginWrite, from_micros, now_micros, on_pool};
use crate::error::{Error, Result};

/// A company (tenant).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompanyRecord {
    pub id: CompanyId,
    pub name: String,
    pub options: CompanyOptions,
    pub created_at: OffsetDateTime,
}

/// What a company's admin switches on and off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompanyOptions {
    /// Whether anyone may sign up as a customer of the company.
    pub allow_self_signup: bool,
    /// Whether the public form `/support/{company}` takes tickets.
    pub web_form: bool,
    /// Whether a customer's e-mail reply to a resolved ticket reopens it.
    pub reopen_on_reply: bool,
    /// Whether automatic mail (an out-of-office reply, a bounce) that
    /// answers a ticket's mail is kept on the ticket as an internal note
    /// (never a ticket, never answered either way).
    pub keep_automatic_mail: bool,
}

impl Default for CompanyOptions {
    fn default() -> Self {
        Self { allow_self_signup: false, web_form: false, reopen_on_reply: true, keep_automatic_mail: false }
    }
}

/// An account as the API shows it (no password hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountRecord {
    pub id: AccountId,
    pub company: CompanyId,
    pub role: Role,
    pub kind: AccountKind,
    /// `None` once the account is deleted.
    pub name: Option<String>,
    pub username: Option<String>,
    pub email: Option<String>,
    pub created_at: OffsetDateTime,
    pub deleted_at: Option<OffsetDateTime>,
}

/// A new account. `username` and `email` are lower-cased here.
#[derive(Clone, Debug)]
pub struct NewAccount<'a> {
    pub company: &'a CompanyId,
    pub role: Role,
    pub kind: AccountKind,
    pub name: &'a str,
    pub username: &'a str,
    pub email: &'a str,
    /// `None` for an account that sets its password with a token.
    pub password_hash: Option<&'a str>,
}

/// Which one-time token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenPurpose {
    /// The first password of an account an admin (or `company create`) made.
    SetPassword,
    /// A forgotten password.
    ResetPassword,
}

impl TokenPurpose {
    fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::SetPassword => "set_password",
            TokenPurpose::ResetPassword => "reset_password",
        }
    }
}

/// What a live session stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    pub account: AccountId,
    pub company: CompanyId,
    pub role: Role,
    pub expires_at: OffsetDateTime,
}

/// An API key as the API shows it (never the secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub company: CompanyId,
    pub name: String,
    pub scopes: Vec<KeyScope>,
    /// The first characters of the key, to tell keys apart.
    pub prefix: String,
    pub created_by: Option<AccountId>,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

/// A new API key.
#[derive(Clone, Debug)]
pub struct NewApiKey<'a> {
    pub company: &'a CompanyId,
    pub name: &'a str,
    pub scopes: &'a [KeyScope],
    pub key_hash: &'a [u8],
    pub prefix: &'a str,
    pub created_by: Option<AccountId>,
}

const ACCOUNT_COLUMNS: &str = "id, company, role, kind, name, username, email, created_at, deleted_at";

#[derive(sqlx::FromRow)]
struct AccountRow {
    id: Uuid,
    company: String,
    role: String,
    kind: String,
    name: Option<String>,
    username: Option<String>,
    email: Option<String>,
    created_at: i64,
    deleted_at: Option<i64>,
}

impl TryFrom<AccountRow> for AccountRecord {
    type Error = Error;

    fn try_from(row: AccountRow) -> Result<Self> {
        let corrupt = |what: &str, value: &str| Error::Corrupt(format!("account {}: bad {what} `{value}`", row.id));
        Ok(AccountRecord {
            id: AccountId(row.id),
            company: CompanyId::parse(&row.company).map_err(|_| corrupt("company", &row.company))?,
            role: Role::parse(&row.role).ok_or_else(|| corrupt("role", &row.role))?,
            kind: AccountKind::parse(&row.kind).ok_or_else(|| corrupt("kind", &row.kind))?,
            name: row.name,
            username: row.username,
            email: row.email,
            created_at: from_micros(row.created_at)?,
            deleted_at: row.deleted_at.map(from_micros).transpose()?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ApiKeyRow {
    id: Uuid,
    company: String,
    name: String,
    scopes: String,
    key_prefix: String,
    created_by: Option<Uuid>,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl TryFrom<ApiKeyRow> for ApiKeyRecord {
    type Error = Error;

    fn try_from(row: ApiKeyRow) -> Result<Self> {
        let corrupt = |what: &str, value: &str| Error::Corrupt(format!("API key {}: bad {what} `{value}`", row.id));
        let scopes = row
            .scopes
            .split_whitespace()
            .map(|scope| KeyScope::parse(scope).ok_or_else(|| corrupt("scope", scope)))
            .collect::<Result<Vec<_>>>()?;
        Ok(ApiKeyRecord {
            id: ApiKeyId(row.id),
            company: CompanyId::parse(&row.company).map_err(|_| corrupt("company", &row.company))?,
            name: row.name,
            scopes,
            prefix: row.key_prefix,
            created_by: row.created_by.map(AccountId),
            created_at: from_micros(row.created_at)?,
            last_used_at: row.last_used_at.map(from_micros).transpose()?,
        })
    }
}

const API_KEY_COLUMNS: &str = "id, company, name, scopes, key_prefix, created_by, created_at, last_used_at";

fn micros_after(ttl: std::time::Duration) -> i64 {
    now_micros().saturating_add(i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX))
}

/// The company a scope limits to; an installation-wide scope names none.
fn scope_company(scope: &Scope) -> Option<&str> {
    scope.company().map(CompanyId::as_str)
}

impl Store {
    /// Creates a company; false if one with this id exists.
    pub async fn create_company(&self, id: &CompanyId, name: &str) -> Result<bool> {
        let inserted = on_pool!(&self.writer, |pool| sqlx::query(
            "INSERT INTO companies (id, name, allow_self_signup, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO NOTHING"
        )
        .bind(id.as_str())
        .bind(name)
        .bind(false)
        .bind(now_micros())
        .execute(pool)
        .await
        .map(|result| result.rows_affected() == 1))?;
        Ok(inserted)
    }

    pub async fn company(&self, id: &CompanyId) -> Result<Option<CompanyRecord>> {
        let row: Option<(String, String, bool, bool, bool, bool, i64)> = on_pool!(&self.db, |pool| {
            sqlx::query_as(
            "SELECT id, name, allow_self_signup, web_form_enabled, reopen_on_reply, keep_automatic_mail, created_at \
             FROM companies WHERE id = $1"
        )
        .bind(id.as_str())
        .fetch_optional(pool)
        .await
        })?;
        row.map(|(id, name, allow_self_signup, web_form, reopen_on_reply, keep_automatic_mail, created_at)| {
            Ok(CompanyRecord {
                id: CompanyId::parse(&id).map_err(|_| Error::Corrupt(format!("bad company id `{id}`")))?,
                name,
                options: CompanyOptions { allow_self_signup, web_form, reopen_on_reply, keep_automatic_mail },
                created_at: from_micros(created_at)?,
            })
        })
        .transpose()
    }

    /// How many companies exist (a fresh install has none).
    pub async fn count_companies(&self) -> Result<i64> {
        let count: i64 =
            on_pool!(&self.db, |pool| sqlx::query_scalar("SELECT COUNT(*) FROM companies").fetch_one(pool).await)?;
        Ok(count)
    }

    /// Replaces the company's options; false if there is no such company.
    pub async fn set_company_options(&self, company: &CompanyId, options: CompanyOptions) -> Result<bool> {
        let updated = on_pool!(&self.writer, |pool| sqlx::query(
            "UPDATE companies SET allow_self_signup = $1, web_form_enabled = $2, reopen_on_reply = $3, \
             keep_automatic_mail = $4 WHERE id = $5"
        )
        .bind(options.allow_self_signup)
        .bind(options.web_form)
        .bind(options.reopen_on_reply)
        .bind(options.keep_automatic_mail)
        .bind(company.as_str())
        .execute(pool)
        .await
        .map(|result| result.rows_affected() == 1))?;
        Ok(updated)
    }

    /// Creates an account. [`Error::Taken`] names `username` or `email` when
    /// another account has it.
    pub async fn create_account(&self, account: &NewAccount<'_>) -> Result<AccountRecord> {
        let (username, email) = (account.username.to_lowercase(), account.email.to_lowercase());
        let id = AccountId::new();
        let now = now_micros();
        on_pool!(&self.writer, |pool| {
            let mut transaction = pool.begin_write().await?;
            let taken: Option<(Option<String>, Option<String>)> =
                sqlx::query_as("SELECT username, email FROM accounts WHERE username = $1 OR email = $2 LIMIT 1")
                    .bind(&username)
                    .bind(&email)
                    .fetch_optional(&mut *transaction)
                    .await?;
            if let Some((other_username, _)) = taken {
                let field = if other_username.as_deref() == Some(username.as_str()) { "username" } else { "email" };
                return Err(Error::Taken(field));
            }
            sqlx::query(
                "INSERT INTO accounts (id, company, role, kind, name, username, email, password_hash, created_at, \
                 updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
            )
            .bind(id.0)
            .bind(account.company.as_str())
            .bind(account.role.as_str())
            .bind(account.kind.as_str())
            .bind(account.name)
            .bind(&username)
            .bind(&email)
            .bind(account.password_hash)
            .bind(now)
            .execute(&mut *transaction)
            .await
            .map_err(|error| match error.as_database_error() {
                // Lost a race with another sign-up for the same name.
                Some(database) if database.is_unique_violation() => {
                    Error::Taken(if database.message().contains("username") { "username" } else { "email" })
                }
                _ => Error::Database(error),
            })?;
            transaction.commit().await?;
            Ok::<_, Error>(())
        })?;
        Ok(AccountRecord {
            id,
            company: account.company.clone(),
            role: account.role,
            kind: account.kind,
            name: Some(account.name.to_owned()),
            username: Some(username),
            email: Some(email),
            created_at: from_micros(now)?,
            deleted_at: None,
        })
    }

    /// The account, if it is inside `scope` (deleted ones included).
    pub async fn account(&self, scope: &Scope, id: AccountId) -> Result<Option<AccountRecord>> {
        let row: Option<AccountRow> = on_pool!(&self.db, |pool| sqlx::query_as(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1 AND ($2 IS NULL OR company = $2)"
        ))
        .bind(id.0)
        .bind(scope_company(scope))
        .fetch_optional(pool)
        .await)?;
        row.map(AccountRecord::try_from).transpose()
    }

    /// The company's accounts that are not deleted, oldest first.
    pub async fn list_accounts(&self, company: &CompanyId) -> Result<Vec<AccountRecord>> {
        let rows: Vec<AccountRow> = on_pool!(&self.db, |pool| sqlx::query_as(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE company = $1 AND deleted_at IS NULL ORDER BY id"
        ))
        .bind(company.as_str())
        .fetch_all(pool)
        .await)?;
        rows.into_iter().map(AccountRecord::try_from).collect()
    }

    /// The live account whose username or e-mail is `login`
    /// (case-insensitive), with its password hash (`None` until it sets
    /// one).
    pub async fn account_for_sign_in(&self, login: &str) -> Result<Option<(AccountRecord, Option<String>)>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            account: AccountRow,
            password_hash: Option<String>,
        }
        let login = login.to_lowercase();
        let row: Option<Row> = on_pool!(&self.db, |pool| sqlx::query_as(&format!(
            "SELECT {ACCOUNT_COLUMNS}, password_hash FROM accounts \
             WHERE (username = $1 OR email = $1) AND deleted_at IS NULL LIMIT 1"
        ))
        .bind(&login)
        .fetch_optional(pool)
        .await)?;
        row.map(|row| Ok((AccountRecord::try_from(row.account)?, row.password_hash))).transpose()
    }

    /// The password hash of a live account (`None` when it has none).
    pub async fn password_hash(&self, id: AccountId) -> Result<Option<String>> {
        let hash: Option<Option<String>> = on_pool!(&self.db, |pool| sqlx::query_scalar(
            "SELECT password_hash FROM accounts WHERE id = $1 AND deleted_at IS NULL"
        )
        .bind(id.0)
        .fetch_optional(pool)
        .await)?;
        Ok(hash.flatten())
    }

    /// Sets the password and ends every session of the account (a changed
    /// or reset password signs everyone out). False if there is no live
    /// account.
    pub async fn set_password_hash(&self, id: AccountId, hash: &str) -> Result<bool> {
        on_pool!(&self.writer, |pool| {
            let mut transaction = pool.begin_write().await?;
            let updated = sqlx::query(
                "UPDATE accounts SET password_hash = $1, updated_at = $2 WHERE id = $3 AND deleted_at IS NULL",
            )
            .bind(hash)
            .bind(now_micros())
            .bind(id.0)
            .execute(&mut *transaction)
            .await?
            .rows_affected()
                == 1;
            sqlx::query("DELETE FROM sessions WHERE account_id = $1").bind(id.0).execute(&mut *transaction).await?;
            transaction.commit().await?;
            Ok(updated)
        })
    }

    /// Deletes an account inside `scope`: its personal data (name,
    /// username, e-mail, password) is removed, its sessions, one-time tokens
    /// and the API keys it created are revoked; the row stays so that its
    /// tickets show a deleted requester. False if there was no live account.
    pub async fn delete_account(&self, scope: &Scope, id: AccountId) -> Result<bool> {
        let now = now_micros();
        on_pool!(&self.writer, |pool| {
            let mut transaction = pool.begin_write().await?;
            let deleted = sqlx::query(
                "UPDATE accounts SET name = NULL, username = NULL, email = NULL, password_hash = NULL, \
                 deleted_at = $1, updated_at = $1 WHERE id = $2 AND deleted_at IS NULL AND ($3 IS NULL OR company = $3)",
            )
            .bind(now)
            .bind(id.0)
            .bind(scope_company(scope))
            .execute(&mut *transaction)
            .await?
            .rows_affected()
                == 1;
            if deleted {
                sqlx::query("DELETE FROM sessions WHERE account_id = $1").bind(id.0).execute(&mut *transaction).await?;
                sqlx::query("DELETE FROM account_tokens WHERE account_id = $1")
                    .bind(id.0)
                    .execute(&mut *transaction)
                    .await?;
                // Mails to it hold its address: none is sent any more.
                for table in ["mails", "mail_preferences"] {
                    sqlx::query(&format!("DELETE FROM {table} WHERE account_id = $1"))
                        .bind(id.0)
                        .execute(&mut *transaction)
                        .await?;
                }
                sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE created_by = $2 AND revoked_at IS NULL")
                    .bind(now)
                    .bind(id.0)
                    .execute(&mut *transaction)
                    .await?;
                // The tickets it filed keep their id, without the address.
                sqlx::query(
                    "UPDATE tickets SET requester_email = '', requester_name = NULL, requester_domain = NULL \
                     WHERE requester_account = $1",
                )
                .bind(id.0)
                .execute(&mut *transaction)
                .await?;
                // And so do the copies of those tickets recorded on the way:
                // their audit events, the messages kept for idempotent
                // retries, and the embedded bus log (a Kafka broker's copies
                // last until its retention; see docs/ARCHITECTURE.md).
                let tickets: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM tickets WHERE requester_account = $1")
                    .bind(id.0)
                    .fetch_all(&mut *transaction)
                    .await?;
                for chunk in tickets.chunks(SCRUB_CHUNK) {
                    let mut query =
                        sqlx::QueryBuilder::new("SELECT seq, envelope FROM ticket_events WHERE ticket_id IN (");
                    let mut list = query.separated(", ");
                    for ticket in chunk {
                        list.push_bind(*ticket);
                    }
                    query.push(")");
                    let events: Vec<(i64, Vec<u8>)> = query.build_query_as().fetch_all(&mut *transaction).await?;
                    for (seq, envelope) in events {
                        if let Some(scrubbed) = without_personal_data(&envelope, id) {
                            sqlx::query("UPDATE ticket_events SET envelope = $1 WHERE seq = $2")
                                .bind(scrubbed)
                                .bind(seq)
                                .execute(&mut *transaction)
                                .await?;
                        }
                    }
                    let mut query = sqlx::QueryBuilder::new(
                        "SELECT company, idempotency_key, message FROM idempotency_keys WHERE ticket_id IN (",
                    );
                    let mut list = query.separated(", ");
                    for ticket in chunk {
                        list.push_bind(*ticket);
                    }
                    query.push(")");
                    let claims: Vec<(String, String, Vec<u8>)> =
                        query.build_query_as().fetch_all(&mut *transaction).await?;
                    for (company, key, message) in claims {
                        if let Some(scrubbed) = without_personal_data(&message, id) {
                            sqlx::query(
                                "UPDATE idempotency_keys SET message = $1 WHERE company = $2 AND idempotency_key = $3",
                            )
                            .bind(scrubbed)
                            .bind(company)
                            .bind(key)
                            .execute(&mut *transaction)
                            .await?;
                        }
                    }
                }
                // On the embedded bus, messages are keyed by ticket, and the
                // account's own events by account.
                let keys: Vec<Vec<u8>> = std::iter::once(id.to_string())
                    .chain(tickets.iter().map(|ticket| switchboard_core::TicketId(*ticket).to_string()))
                    .map(String::into_bytes)
                    .collect();
                for chunk in keys.chunks(SCRUB_CHUNK) {
                    let mut query = sqlx::QueryBuilder::new(
                        "SELECT topic, msg_offset, payload FROM bus_messages WHERE msg_key IN (",
                    );
                    let mut list = query.separated(", ");
                    for key in chunk {
                        list.push_bind(key.clone());
                    }
                    query.push(")");
                    let messages: Vec<(String, i64, Vec<u8>)> =
                        query.build_query_as().fetch_all(&mut *transaction).await?;
                    for (topic, offset, payload) in messages {
                        if let Some(scrubbed) = without_personal_data(&payload, id) {
                            sqlx::query("UPDATE bus_messages SET payload = $1 WHERE topic = $2 AND msg_offset = $3")
                                .bind(scrubbed)
                                .bind(topic)
                                .bind(offset)
                                .execute(&mut *transaction)
                                .await?;
                        }
                    }
                }
            }
            transaction.commit().await?;
            Ok(deleted)
        })
    }

    pub async fn create_session(
        &self,
        token_hash: &[u8],
        account: &AccountRecord,
        ttl: std::time::Duration,
    ) -> Result<OffsetDateTime> {
        let expires_at = micros_after(ttl);
        on_pool!(&self.writer, |pool| sqlx::query(
            "INSERT INTO sessions (token_hash, account_id, company, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)"
        )
        .bind(token_hash)
        .bind(account.id.0)
        .bind(account.company.as_str())
        .bind(now_micros())
        .bind(expires_at)
        .execute(pool)
        .await
        .map(|_| ()))?;
        from_micros(expires_at)
    }

    /// The live session with this token hash, with its account's current
    /// role; `None` when unknown, expired, or its account is deleted.
    pub async fn session(&self, token_hash: &[u8]) -> Result<Option<SessionRecord>> {
        let row: Option<(Uuid, String, String, i64)> = on_pool!(&self.db, |pool| {
            sqlx::query_as(
            "SELECT s.account_id, s.company, a.role, s.expires_at FROM sessions s JOIN accounts a ON a.id = s.account_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND a.deleted_at IS NULL"
        )
        .bind(token_hash)
        .bind(now_micros())
        .fetch_optional(pool)
        .await
        })?;
        row.map(|(account, company, role, expires_at)| {
            let corrupt = || Error::Corrupt(format!("session of account {account}: bad company or role"));
            Ok(SessionRecord {
                account: AccountId(account),
                company: CompanyId::parse(&company).map_err(|_| corrupt())?,
                role: Role::parse(&role).ok_or_else(corrupt)?,
                expires_at: from_micros(expires_at)?,
            })
        })
        .transpose()
    }

    /// Ends a session; false if there was none.
    pub async fn delete_session(&self, token_hash: &[u8]) -> Result<bool> {
        let deleted = on_pool!(&self.writer, |pool| sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(pool)
            .await
            .map(|result| result.rows_affected() == 1))?;
        Ok(deleted)
    }

    /// Records a one-time token for `account`. A new reset token replaces
    /// the account's earlier unused ones of the same purpose.
    pub async fn create_account_token(
        &self,
        token_hash: &[u8],
        account: AccountId,
        purpose: TokenPurpose,
        ttl: std::time::Duration,
    ) -> Result<OffsetDateTime> {
        let expires_at = micros_after(ttl);
        on_pool!(&self.writer, |pool| {
            let mut transaction = pool.begin_write().await?;
            sqlx::query("DELETE FROM account_tokens WHERE account_id = $1 AND purpose = $2")
                .bind(account.0)
                .bind(purpose.as_str())
                .execute(&mut *transaction)
                .await?;
            sqlx::query(
                "INSERT INTO account_tokens (token_hash, account_id, purpose, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(token_hash)
            .bind(account.0)
            .bind(purpose.as_str())
            .bind(now_micros())
            .bind(expires_at)
            .execute(&mut *transaction)
            .await?;
            transaction.commit().await?;
            Ok::<_, Error>(())
        })?;
        from_micros(expires_at)
    }

    /// Uses a one-time token: the account it was for, if it is unused,
    /// unexpired and of one of `purposes`. A token works once.
    pub async fn redeem_account_token(
        &self,
        token_hash: &[u8],
        purposes: &[TokenPurpose],
    ) -> Result<Option<AccountId>> {
        let now = now_micros();
        let account: Option<(Uuid, String)> = on_pool!(&self.writer, |pool| sqlx::query_as(
            "UPDATE account_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 \
             RETURNING account_id, purpose"
        )
        .bind(now)
        .bind(token_hash)
        .fetch_optional(pool)
        .await)?;
        Ok(account
            .filter(|(_, purpose)| purposes.iter().any(|wanted| wanted.as_str() == purpose))
            .map(|(account, _)| AccountId(account)))
    }

    pub async fn create_api_key(&self, key: &NewApiKey<'_>) -> Result<ApiKeyRecord> {
        let id = ApiKeyId::new();
        let now = now_micros();
        let scopes: Vec<&str> = key.scopes.iter().map(|scope| scope.as_str()).collect();
        on_pool!(&self.writer, |pool| sqlx::query(
            "INSERT INTO api_keys (id, company, name, scopes, key_hash, key_prefix, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        )
        .bind(id.0)
        .bind(key.company.as_str())
        .bind(key.name)
        .bind(scopes.join(" "))
        .bind(key.key_hash)
        .bind(key.prefix)
        .bind(key.created_by.map(|account| account.0))
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(ApiKeyRecord {
            id,
            company: key.company.clone(),
            name: key.name.to_owned(),
            scopes: key.scopes.to_vec(),
            prefix: key.prefix.to_owned(),
            created_by: key.created_by,
            created_at: from_micros(now)?,
            last_used_at: None,
        })
    }

    /// The company's keys that are not revoked, oldest first.
    pub async fn list_api_keys(&self, company: &CompanyId) -> Result<Vec<ApiKeyRecord>> {
        let rows: Vec<ApiKeyRow> = on_pool!(&self.db, |pool| sqlx::query_as(&format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE company = $1 AND revoked_at IS NULL ORDER BY id"
        ))
        .bind(company.as_str())
        .fetch_all(pool)
        .await)?;
        rows.into_iter().map(ApiKeyRecord::try_from).collect()
    }

    /// Revokes a key of the company; false if there was no live one.
    pub async fn revoke_api_key(&self, company: &CompanyId, id: ApiKeyId) -> Result<bool> {
        let revoked = on_pool!(&self.writer, |pool| sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND company = $3 AND revoked_at IS NULL"
        )
        .bind(now_micros())
        .bind(id.0)
        .bind(company.as_str())
        .execute(pool)
        .await
        .map(|result| result.rows_affected() == 1))?;
        Ok(revoked)
    }

    /// The live key with this hash.
    pub async fn api_key(&self, key_hash: &[u8]) -> Result<Option<ApiKeyRecord>> {
        let row: Option<ApiKeyRow> = on_pool!(&self.db, |pool| sqlx::query_as(&format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL"
        ))
        .bind(key_hash)
        .fetch_optional(pool)
        .await)?;
        row.map(ApiKeyRecord::try_from).transpose()
    }

    /// Records that a key was used now.
    pub async fn touch_api_key(&self, id: ApiKeyId) -> Result<()> {
        on_pool!(&self.writer, |pool| sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
            .bind(now_micros())
            .bind(id.0)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Deletes expired sessions and used or expired one-time tokens; returns
    /// how many rows went.
    pub async fn purge_expired_credentials(&self) -> Result<u64> {
        let now = now_micros();
        on_pool!(&self.writer, |pool| {
            let sessions = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected();
            let tokens = sqlx::query("DELETE FROM account_tokens WHERE expires_at <= $1 OR used_at IS NOT NULL")
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected();
            Ok(sessions + tokens)
        })
    }
}

/// Tickets whose recorded copies are scrubbed per query.
const SCRUB_CHUNK: usize = 200;

/// `json` (an envelope or message) with the e-mail address and name of
/// `account` removed wherever it appears: a ticket's requester that is the
/// account, and the `data` of an event about the account (`accounts.events`).
/// `None` when there was nothing to remove (or it is not JSON), so nothing
/// needs writing.
fn without_personal_data(json: &[u8], account: AccountId) -> Option<Vec<u8>> {
    use serde_json::{Map, Value};
    fn forget(person: &mut Map<String, Value>) -> bool {
        let had = person.get("email").and_then(Value::as_str).is_some_and(|email| !email.is_empty())
            || person.contains_key("name");
        if person.contains_key("email") {
            person.insert("email".into(), Value::String(String::new()));
        }
        person.remove("name");
        had
    }
    fn scrub(value: &mut Value, account: &str) -> bool {
        let is_account =
            |object: &Map<String, Value>, field: &str| object.get(field).and_then(Value::as_str) == Some(account);
        match value {
            Value::Object(object) => {
                let mut changed = false;
                if is_account(object, "account_id")
                    && let Some(Value::Object(data)) = object.get_mut("data")
                {
                    changed |= forget(data);
                }
                if let Some(Value::Object(requester)) = object.get_mut("requester")
                    && is_account(requester, "account")
                {
                    changed |= forget(requester);
                }
                for child in object.values_mut() {
                    changed |= scrub(child, account);
                }
                changed
            }
            Value::Array(items) => items.iter_mut().fold(false, |changed, item| scrub(item, account) | changed),
            _ => false,
        }
    }
    let mut value: Value = serde_json::from_slice(json).ok()?;
    scrub(&mut value, &account.to_string()).then(|| serde_json::to_vec(&value).ok()).flatten()
}
