//! Tenancy: [`CompanyId`], and the [`Scope`] every store call on company
//! data takes.
//!
//! A scope says whose data a call may see and change. It is derived once,
//! from the caller's credential, by `switchboard-web` (and by each stage
//! for the ticket it handles), and never read from a request body. Until
//! accounts exist, an HTTP caller gets [`Scope::Installation`]: one
//! installation, operated by whoever can reach its port. The next step
//! derives [`Scope::Company`] from sessions and API keys; no store query
//! changes then, because every one already filters by the scope.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ticket::ValidationError;
use crate::ticket::limits::COMPANY_MAX_CHARS;

/// Identifies a company (a tenant): 1 to [`COMPANY_MAX_CHARS`] characters
/// after trimming, no control characters. (The same rule ingest applied to
/// the `company` text before it had a type, so every ticket already
/// accepted still parses.)
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CompanyId(String);

impl CompanyId {
    /// Checks `text` (after trimming) and wraps it.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let text = text.trim();
        let valid = (1..=COMPANY_MAX_CHARS).contains(&text.chars().count()) && !text.chars().any(char::is_control);
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(ValidationError::new(
                "invalid_company",
                "company",
                format!("`company` must be 1 to {COMPANY_MAX_CHARS} characters, without control characters"),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A company id is a string in the API's documents.
impl utoipa::PartialSchema for CompanyId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        String::schema()
    }
}

impl utoipa::ToSchema for CompanyId {}

impl TryFrom<String> for CompanyId {
    type Error = ValidationError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        CompanyId::parse(&text)
    }
}

impl From<CompanyId> for String {
    fn from(company: CompanyId) -> Self {
        company.0
    }
}

impl fmt::Display for CompanyId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl AsRef<str> for CompanyId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for CompanyId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for CompanyId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// Whose data a store call may see and change.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// One company's: reads are filtered to it, writes of another company's
    /// rows are refused (another company's ticket is "not found").
    Company(CompanyId),
    /// Every company's: the pipeline's own stages, one-shot operator
    /// commands, and (until accounts exist) the HTTP API.
    Installation,
}

impl Scope {
    /// The company the scope is limited to, if any.
    pub fn company(&self) -> Option<&CompanyId> {
        match self {
            Scope::Company(company) => Some(company),
            Scope::Installation => None,
        }
    }

    /// Whether a row of `company` is inside the scope.
    pub fn allows(&self, company: &str) -> bool {
        match self {
            Scope::Company(own) => own.as_str() == company,
            Scope::Installation => true,
        }
    }

    /// The scope narrowed to `company` (an installation-wide caller asking
    /// for one company's rows). A company scope cannot widen: asking for
    /// another company leaves it as it is, so it finds nothing of theirs.
    pub fn narrowed_to(&self, company: Option<CompanyId>) -> Scope {
        match (self, company) {
            (Scope::Installation, Some(company)) => Scope::Company(company),
            (scope, _) => scope.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn company_ids_are_checked_and_round_trip_as_strings() {
        let acme = CompanyId::parse(" Acme Corp ").expect("valid");
        assert_eq!(acme.as_str(), "Acme Corp");
        assert_eq!(serde_json::to_string(&acme).ok().as_deref(), Some("\"Acme Corp\""));
        assert_eq!(serde_json::from_str::<CompanyId>("\"Acme Corp\"").ok(), Some(acme.clone()));
        for bad in ["", "   ", "x\u{0}", "a\nb", &"c".repeat(COMPANY_MAX_CHARS + 1)] {
            assert!(CompanyId::parse(bad).is_err(), "{bad:?}");
            assert!(serde_json::from_str::<CompanyId>(&format!("{bad:?}")).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_company_scope_never_widens() {
        let acme = Scope::Company(CompanyId::parse("acme").expect("valid"));
        let globex = CompanyId::parse("globex").expect("valid");
        assert!(acme.allows("acme") && !acme.allows("globex"));
        assert_eq!(acme.narrowed_to(Some(globex.clone())), acme);
        assert_eq!(Scope::Installation.narrowed_to(Some(globex.clone())), Scope::Company(globex));
        assert!(Scope::Installation.allows("anyone"));
    }
}
