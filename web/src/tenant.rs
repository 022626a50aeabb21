//! Who is calling, as a [`Scope`]: the one place a request becomes a tenant.
//!
//! The scope is the authenticated caller's company ([`crate::auth`]): a
//! session's or an API key's, never a company read from a request body or
//! query string. A request that reaches a handler taking [`Tenant`] without
//! a caller is refused with 401.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use switchboard_core::Scope;

use crate::auth::Authenticated;
use crate::error::ApiError;

/// The caller's scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenant(pub Scope);

impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Authenticated(caller) = Authenticated::from_request_parts(parts, state).await?;
        Ok(Tenant(caller.scope()))
    }
}
