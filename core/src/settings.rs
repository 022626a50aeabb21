//! Keys of installation-wide settings kept in the store.

/// The urgency policy applied after the urgency model (JSON; see
/// `switchboard_triage::UrgencyPolicy`).
pub const URGENCY_POLICY: &str = "triage.urgency_policy";
