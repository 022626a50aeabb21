//! Keys of installation-wide settings kept in the store.

/// The urgency policy applied after the urgency model (JSON; see
/// `switchboard_triage::UrgencyPolicy`).
pub const URGENCY_POLICY: &str = "triage.urgency_policy";

/// The key of `company`'s own urgency policy (which replaces the
/// installation's for its tickets).
pub fn company_urgency_policy(company: &crate::CompanyId) -> String {
    format!("{URGENCY_POLICY}:{company}")
}

/// The company a key made by [`company_urgency_policy`] belongs to.
pub fn urgency_policy_company(key: &str) -> Option<crate::CompanyId> {
    key.strip_prefix(URGENCY_POLICY)?.strip_prefix(':').and_then(|company| crate::CompanyId::parse(company).ok())
}

/// The key (hex) that signs intake links and form tokens: the web form's
/// anti-forgery tokens and the private status links of its tickets. Made at
/// random on first use; every ingest process reads the same one.
pub const INTAKE_SIGNING_KEY: &str = "ingest.signing_key";
