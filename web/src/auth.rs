//! Authentication and the one authorisation check of every HTTP surface.
//!
//! * [`Auth`]: turns a bearer credential into a [`Caller`] (a session
//!   token `sbs_…` of a person, or an API key `sbk_…` of an integration).
//!   Secrets are 256 random bits; the store holds only their SHA-256. A
//!   verified credential is cached for [`CREDENTIAL_CACHE_TTL`] so that a
//!   busy integration costs one hash per request, not a query; revoking in
//!   this process drops the cached entry at once (another process notices
//!   within the TTL).
//! * [`authorize`]: the middleware each router installs with its
//!   [`RouteRule`] table. It finds the matched route's rule (a route
//!   without one is refused: fail closed, and the role × route test
//!   enumerates the tables), authenticates, checks the rule's
//!   [`Permission`] against `core::auth::GRANTS`, and hands the handler the
//!   [`Authenticated`] caller. What depends on the object (a customer's own
//!   tickets) the handler checks on top.
//! * [`Passwords`]: argon2id with OWASP's parameters (19 MiB, 2 passes, 1
//!   lane), on blocking threads, a bounded number at once; verification of
//!   an unknown account runs against a dummy hash so it takes as long.
//! * [`SignInLimiter`]: failed sign-ins per account and attempts per client
//!   address in a window; beyond either, 429 with `Retry-After`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, State};
use axum::http::request::Parts;
use axum::http::{Method, Request, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use switchboard_core::auth::{Caller, Credential, Permission};
use switchboard_core::config::AuthConfig;
use switchboard_core::{AccountId, ApiKeyId};
use switchboard_store::Store;
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// How long a verified credential is trusted without asking the store.
pub const CREDENTIAL_CACHE_TTL: Duration = Duration::from_secs(5);
/// How often an API key's `last_used_at` is written at most.
const TOUCH_EVERY: Duration = Duration::from_secs(60);
/// Entries the credential cache holds before it is emptied.
const CACHE_CAPACITY: usize = 100_000;

/// The kinds of secret Switchboard hands out, by prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretKind {
    Session,
    ApiKey,
    /// A one-time set-password or reset token.
    OneTime,
}

impl SecretKind {
    fn prefix(self) -> &'static str {
        match self {
            SecretKind::Session => "sbs_",
            SecretKind::ApiKey => "sbk_",
            SecretKind::OneTime => "sbt_",
        }
    }
}

/// A new secret: the prefix and 256 random bits, base64url. Show it once;
/// store [`hash_secret`] of it.
pub fn new_secret(kind: SecretKind) -> String {
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{}{}", kind.prefix(), URL_SAFE_NO_PAD.encode(bytes))
}

/// What the store keeps of a secret.
pub fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Makes a one-time token for `account` and records its hash: the token
/// (to hand on once) and when it expires.
pub async fn issue_one_time_token(
    store: &Store,
    account: AccountId,
    purpose: switchboard_store::TokenPurpose,
    ttl: Duration,
) -> Result<(String, time::OffsetDateTime), switchboard_store::Error> {
    let token = new_secret(SecretKind::OneTime);
    let expires_at = store.create_account_token(&hash_secret(&token), account, purpose, ttl).await?;
    Ok((token, expires_at))
}

/// Characters of an API key kept to tell keys apart (`sbk_` and 8 more).
const KEY_PREFIX_CHARS: usize = 12;

/// Makes an API key of `company` and records its hash: the record and the
/// secret (shown once).
pub async fn issue_api_key(
    store: &Store,
    company: &switchboard_core::CompanyId,
    name: &str,
    scopes: &[switchboard_core::KeyScope],
    created_by: Option<AccountId>,
) -> Result<(switchboard_store::ApiKeyRecord, String), switchboard_store::Error> {
    let secret = new_secret(SecretKind::ApiKey);
    let prefix: String = secret.chars().take(KEY_PREFIX_CHARS).collect();
    let key = switchboard_store::NewApiKey {
        company,
        name,
        scopes,
        key_hash: &hash_secret(&secret),
        prefix: &prefix,
        created_by,
    };
    Ok((store.create_api_key(&key).await?, secret))
}

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not (sign-in itself, sign-up, password reset).
    /// A credential that is sent must still be valid.
    Public,
    /// A caller holding the permission.
    Needs(Permission),
}

/// One route's rule: method, path as routed (`/v1/tickets/{id}`), access,
/// and its documentation for the OpenAPI document
/// ([`crate::openapi::document`]; set with `.doc(…)`, `.returns(…)`,
/// `.json::<T>()`).
#[derive(Clone, Copy, Debug)]
pub struct RouteRule {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
    pub doc: crate::openapi::RouteDoc,
}

impl RouteRule {
    pub const fn new(method: &'static str, path: &'static str, access: Access) -> Self {
        Self { method, path, access, doc: crate::openapi::RouteDoc::new("") }
    }
}

/// The authenticated caller of a route that needs one.
#[derive(Clone, Debug)]
pub struct Authenticated(pub Caller);

/// The caller of a [`Access::Public`] route, if signed in.
#[derive(Clone, Debug)]
pub struct MaybeAuthenticated(pub Option<Caller>);

/// The bearer credential of the request, as sent (for signing out).
#[derive(Clone, Debug)]
pub struct BearerToken(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<MaybeAuthenticated>() {
            Some(MaybeAuthenticated(Some(caller))) => Ok(Authenticated(caller.clone())),
            _ => Err(ApiError::Unauthenticated),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for MaybeAuthenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<MaybeAuthenticated>().cloned().unwrap_or(MaybeAuthenticated(None)))
    }
}

/// The client's address, or `None` when the request did not come through
/// [`crate::serve`].
pub fn client_address(parts_extensions: &axum::http::Extensions) -> Option<SocketAddr> {
    parts_extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0)
}

#[derive(Clone, Debug)]
struct Cached {
    caller: Caller,
    verified_at: Instant,
}

/// Authentication state shared by every router of a process. Cheap to clone.
#[derive(Clone)]
pub struct Auth {
    store: Store,
    cache: Arc<Mutex<HashMap<[u8; 32], Cached>>>,
    touched: Arc<Mutex<HashMap<ApiKeyId, Instant>>>,
    pub passwords: Passwords,
    pub limiter: Arc<SignInLimiter>,
    pub config: Arc<AuthConfig>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Auth").finish_non_exhaustive()
    }
}

impl Auth {
    pub fn new(store: Store, config: &AuthConfig) -> Self {
        Self {
            store,
            cache: Arc::default(),
            touched: Arc::default(),
            passwords: Passwords::new(config.hash_concurrency),
            limiter: Arc::new(SignInLimiter::new(config)),
            config: Arc::new(config.clone()),
        }
    }

    /// The caller a bearer credential stands for; `None` when it is
    /// unknown, expired or revoked.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Caller>, ApiError> {
        let hash = hash_secret(token);
        if let Some(cached) = self.cached(&hash) {
            return Ok(Some(cached));
        }
        let caller = if token.starts_with(SecretKind::Session.prefix()) {
            self.store.session(&hash).await?.map(|session| Caller {
                company: session.company,
                credential: Credential::Session { account: session.account, role: session.role },
            })
        } else if token.starts_with(SecretKind::ApiKey.prefix()) {
            let key = self.store.api_key(&hash).await?;
            if let Some(key) = &key {
                self.touch(key.id, key.last_used_at);
            }
            key.map(|key| Caller {
                company: key.company,
                credential: Credential::ApiKey { key: key.id, scopes: key.scopes },
            })
        } else {
            None
        };
        if let Some(caller) = &caller {
            let mut cache = self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
            cache.insert(hash, Cached { caller: caller.clone(), verified_at: Instant::now() });
        }
        Ok(caller)
    }

    fn cached(&self, hash: &[u8; 32]) -> Option<Caller> {
        let mut cache = self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match cache.get(hash) {
            Some(entry) if entry.verified_at.elapsed() < CREDENTIAL_CACHE_TTL => Some(entry.caller.clone()),
            Some(_) => {
                cache.remove(hash);
                None
            }
            None => None,
        }
    }

    /// Writes `last_used_at` off the request's path, at most once a minute
    /// per key.
    fn touch(&self, key: ApiKeyId, last_used_at: Option<time::OffsetDateTime>) {
        let stale = last_used_at.is_none_or(|at| time::OffsetDateTime::now_utc() - at > TOUCH_EVERY);
        let mut touched = self.touched.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !stale || touched.get(&key).is_some_and(|at| at.elapsed() < TOUCH_EVERY) {
            return;
        }
        if touched.len() >= CACHE_CAPACITY {
            touched.clear();
        }
        touched.insert(key, Instant::now());
        let store = self.store.clone();
        tokio::spawn(async move {
            if let Err(error) = store.touch_api_key(key).await {
                tracing::debug!(%error, "cannot record an API key's last use");
            }
        });
    }

    /// Forgets the cached verification of one credential (signed out).
    pub fn forget_token(&self, token: &str) {
        self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(&hash_secret(token));
    }

    /// Forgets every cached session of an account (password changed,
    /// account deleted) and the keys it made.
    pub fn forget_account(&self, account: AccountId) {
        self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).retain(|_, entry| {
            entry.caller.account() != Some(account) && !matches!(entry.caller.credential, Credential::ApiKey { .. })
        });
    }

    /// Forgets a revoked key.
    pub fn forget_key(&self, key: ApiKeyId) {
        self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).retain(
            |_, entry| !matches!(entry.caller.credential, Credential::ApiKey { key: cached, .. } if cached == key),
        );
    }
}

/// The bearer token of a request: `None` without an `Authorization`
/// header, 401 for one that is not `Bearer <token>`.
fn bearer(request: &Request<Body>) -> Result<Option<String>, ApiError> {
    let Some(value) = request.headers().get(header::AUTHORIZATION) else { return Ok(None) };
    let text = value.to_str().map_err(|_| ApiError::Unauthenticated)?;
    let (scheme, token) = text.split_once(' ').ok_or(ApiError::Unauthenticated)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.len() > 256 {
        return Err(ApiError::Unauthenticated);
    }
    Ok(Some(token.to_owned()))
}

/// The middleware of [`RouteRule`] tables: install it on a router with
/// `route_layer(middleware::from_fn_with_state((auth, TABLE), authorize))`.
pub async fn authorize(
    State((auth, rules)): State<(Auth, &'static [RouteRule])>,
    matched: Option<MatchedPath>,
    mut request: Request<Body>,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let path = matched.as_ref().map(MatchedPath::as_str).unwrap_or_default();
    // HEAD is answered by the GET route.
    let lookup = if method == Method::HEAD { Method::GET } else { method.clone() };
    let Some(rule) = rules.iter().find(|rule| rule.path == path && rule.method == lookup.as_str()) else {
        tracing::error!(%method, path, "route has no access rule; refused");
        return ApiError::Forbidden { message: "this route has no access rule".into() }.into_response();
    };
    let token = match bearer(&request) {
        Ok(token) => token,
        Err(error) => return error.into_response(),
    };
    let caller = match &token {
        None => None,
        Some(token) => match auth.authenticate(token).await {
            Ok(Some(caller)) => Some(caller),
            Ok(None) => return ApiError::Unauthenticated.into_response(),
            Err(error) => return error.into_response(),
        },
    };
    if let Access::Needs(permission) = rule.access {
        match &caller {
            None => return ApiError::Unauthenticated.into_response(),
            Some(caller) if !caller.may(permission) => {
                return ApiError::Forbidden {
                    message: format!("this needs the {} permission", permission_name(permission)),
                }
                .into_response();
            }
            Some(_) => {}
        }
    }
    if let Some(token) = token {
        request.extensions_mut().insert(BearerToken(token));
    }
    request.extensions_mut().insert(MaybeAuthenticated(caller));
    next.run(request).await
}

fn permission_name(permission: Permission) -> String {
    serde_json::to_value(permission).ok().and_then(|value| value.as_str().map(str::to_owned)).unwrap_or_default()
}

/// argon2id hashing on blocking threads, at most `concurrency` at once.
#[derive(Clone)]
pub struct Passwords {
    slots: Arc<Semaphore>,
}

fn argon2() -> Argon2<'static> {
    // OWASP's first recommended setting for argon2id: m = 19 MiB, t = 2, p = 1.
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A hash that no password matches, verified for unknown accounts so that
/// they take as long as known ones.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_blocking(&new_secret(SecretKind::OneTime)).unwrap_or_default())
}

fn hash_blocking(password: &str) -> Result<String, argon2::password_hash::Error> {
    let mut salt = [0_u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt)?;
    Ok(argon2().hash_password(password.as_bytes(), &salt)?.to_string())
}

impl Passwords {
    pub fn new(concurrency: usize) -> Self {
        Self { slots: Arc::new(Semaphore::new(concurrency.max(1))) }
    }

    async fn blocking<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
        let _slot = self.slots.acquire().await.map_err(|_| ApiError::unavailable("shutting down"))?;
        tokio::task::spawn_blocking(work).await.map_err(ApiError::internal)
    }

    /// The PHC string of `password`.
    pub async fn hash(&self, password: &str) -> Result<String, ApiError> {
        let password = password.to_owned();
        self.blocking(move || hash_blocking(&password))
            .await?
            .map_err(|error| ApiError::Internal(error.to_string().into()))
    }

    /// Whether `password` matches `hash`. Without a hash (unknown account,
    /// or one that never set a password) a dummy is verified, so the answer
    /// takes as long, and is false.
    pub async fn verify(&self, hash: Option<String>, password: &str) -> Result<bool, ApiError> {
        let password = password.to_owned();
        self.blocking(move || {
            let known = hash.is_some();
            let text = hash.unwrap_or_else(|| dummy_hash().to_owned());
            let matches = PasswordHash::new(&text)
                .is_ok_and(|parsed| argon2().verify_password(password.as_bytes(), &parsed).is_ok());
            known && matches
        })
        .await
    }

    /// Computes the dummy hash now rather than on the first sign-in.
    pub async fn warm_up(&self) {
        let _ = self.blocking(|| dummy_hash().len()).await;
    }
}

/// Fixed-window counters of sign-in attempts.
#[derive(Debug)]
pub struct SignInLimiter {
    failures_per_account: u32,
    attempts_per_address: u32,
    counters: WindowCounter,
}

impl SignInLimiter {
    fn new(config: &AuthConfig) -> Self {
        Self {
            failures_per_account: config.sign_in_failures_per_account,
            attempts_per_address: config.sign_in_attempts_per_address,
            counters: WindowCounter::new(config.sign_in_window()),
        }
    }

    fn check(&self, key: String, limit: u32, add: bool) -> Option<u64> {
        self.counters.check(key, limit, add)
    }

    /// Counts an attempt from `address`; 429 when it has made too many.
    pub fn attempt_from(&self, address: Option<SocketAddr>) -> Result<(), ApiError> {
        let key = format!("address:{}", address_key(address));
        match self.check(key, self.attempts_per_address, true) {
            Some(retry_after) => Err(ApiError::RateLimited { retry_after_seconds: retry_after }),
            None => Ok(()),
        }
    }

    /// 429 when `login` has failed too often in the window.
    pub fn account_allowed(&self, login: &str) -> Result<(), ApiError> {
        match self.check(format!("login:{}", login.to_lowercase()), self.failures_per_account, false) {
            Some(retry_after) => Err(ApiError::RateLimited { retry_after_seconds: retry_after }),
            None => Ok(()),
        }
    }

    /// Counts a failed sign-in of `login`.
    pub fn failed(&self, login: &str) {
        let _ = self.check(format!("login:{}", login.to_lowercase()), u32::MAX, true);
    }
}

/// The key a client address is counted under: its IP (every port alike).
pub fn address_key(address: Option<SocketAddr>) -> String {
    address.map(|address| address.ip().to_string()).unwrap_or_default()
}

/// Counters that each start at the first hit and reset after `window`: what
/// per-address and per-account limits count with.
#[derive(Debug)]
pub struct WindowCounter {
    window: Duration,
    counters: Mutex<HashMap<String, (Instant, u32)>>,
}

impl WindowCounter {
    pub fn new(window: Duration) -> Self {
        Self { window, counters: Mutex::default() }
    }

    /// Seconds until `key` may try again, if its count reached `limit`;
    /// `add` counts one more hit first.
    pub fn check(&self, key: String, limit: u32, add: bool) -> Option<u64> {
        let now = Instant::now();
        let mut counters = self.counters.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if counters.len() > CACHE_CAPACITY {
            counters.retain(|_, (start, _)| now.duration_since(*start) < self.window);
        }
        let entry = counters.entry(key).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= limit {
            let left = self.window.saturating_sub(now.duration_since(entry.0));
            return Some(left.as_secs().max(1));
        }
        if add {
            entry.1 += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_prefixed() {
        let (one, two) = (new_secret(SecretKind::Session), new_secret(SecretKind::Session));
        assert!(one.starts_with("sbs_") && one.len() == 4 + 43);
        assert_ne!(one, two);
        assert_ne!(hash_secret(&one), hash_secret(&two));
        assert!(new_secret(SecretKind::ApiKey).starts_with("sbk_"));
    }

    #[tokio::test]
    async fn passwords_verify_only_against_their_own_hash() {
        let passwords = Passwords::new(2);
        let hash = passwords.hash("correct horse battery staple").await.expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(passwords.verify(Some(hash.clone()), "correct horse battery staple").await.expect("verify"));
        assert!(!passwords.verify(Some(hash), "Correct horse battery staple").await.expect("verify"));
        assert!(!passwords.verify(None, "anything at all").await.expect("verify"));
    }

    #[test]
    fn the_limiter_counts_failures_per_account_and_attempts_per_address() {
        let config =
            AuthConfig { sign_in_failures_per_account: 2, sign_in_attempts_per_address: 3, ..AuthConfig::default() };
        let limiter = SignInLimiter::new(&config);
        assert!(limiter.account_allowed("Ana").is_ok());
        limiter.failed("ana");
        limiter.failed("ANA");
        assert!(
            matches!(limiter.account_allowed("ana"), Err(ApiError::RateLimited { retry_after_seconds }) if retry_after_seconds >= 1)
        );
        assert!(limiter.account_allowed("bob").is_ok());
        let address = Some(SocketAddr::from(([127, 0, 0, 1], 5000)));
        for _ in 0..3 {
            assert!(limiter.attempt_from(address).is_ok());
        }
        assert!(limiter.attempt_from(address).is_err());
        assert!(limiter.attempt_from(Some(SocketAddr::from(([127, 0, 0, 2], 5000)))).is_ok());
    }
}
