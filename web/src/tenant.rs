//! Who is calling, as a [`Scope`]: the one place a request becomes a tenant.
//!
//! Until accounts exist there is no credential to read, so every caller
//! gets [`Scope::Installation`] (whoever can reach the port operates the
//! installation, as before). Handlers already take their scope from here
//! and pass it into every store call, so deriving [`Scope::Company`] from a
//! session or an API key is a change to this extractor alone. Nothing reads
//! a company from a request body or query string as authority: a `company`
//! there can only narrow an installation-wide scope ([`Scope::narrowed_to`]).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use switchboard_core::Scope;

use crate::error::ApiError;

/// The caller's scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenant(pub Scope);

impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(_parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Tenant(Scope::Installation))
    }
}
