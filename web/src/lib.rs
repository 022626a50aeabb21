//! What every Switchboard HTTP surface shares, so that ingest, the API and
//! the surfaces still to come answer alike:
//!
//! * [`ApiError`]: the one error type, mapped once to a status and the body
//!   `{"error": {"code", "message", "field"?}}`;
//! * extractors that refuse bad input with that body: [`JsonBody`] (media
//!   type, size limit, syntax, shape with the field's path), [`Query`] (one
//!   shape for query-string errors, unknown parameters refused) and
//!   [`Path`] (a bad escape is a JSON 400, not axum's plain text);
//! * the ops routes (`/healthz`, `/readyz`, `/metrics`) and the layers every
//!   listener has (request ids, request logs and metrics, a request
//!   timeout, a cap on requests in flight, JSON 404/405 fallbacks, a panic
//!   catcher), and [`serve`]: a header-read timeout, a connection cap and a
//!   deadline on the graceful drain.
//!
//! [`auth`] turns a bearer credential into a caller and checks each route's
//! permission ([`authorize`] with a table of [`RouteRule`]s): a credential
//! becomes a caller in this crate and nowhere else. [`Tenant`] is the
//! caller's `Scope`.

pub mod auth;
mod body;
mod error;
pub mod openapi;
mod ops;
mod query;
mod serve;
mod tenant;

pub use auth::{Access, Auth, Authenticated, MaybeAuthenticated, RouteRule, WindowCounter, address_key, authorize};
pub use body::{JSON_BODY_LIMIT, JsonBody, Path, read_limited, require_media_type};
pub use error::ApiError;
pub use ops::{finish, ops_router, prometheus};
pub use query::{Query, parse_bool, parse_number};
pub use serve::{HttpLimits, serve};
pub use tenant::Tenant;
