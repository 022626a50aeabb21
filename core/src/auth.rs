//! Who may do what, as data: the [`Permission`]s, which roles hold each and
//! which API-key scope grants it ([`GRANTS`], read like the lifecycle's
//! transition table), the authenticated [`Caller`], and the rules a new
//! password must meet ([`password`]).
//!
//! Authentication (sessions and keys) happens in `switchboard-web`; every
//! route declares the one [`Permission`] it needs there, and this table is
//! the only place that says who holds it. What depends on the object (a
//! customer reads only their own tickets, an assignee acts only on tickets
//! assigned to them) is checked by the handler on top.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, ApiKeyId};
use crate::lifecycle::{Actor, Role};
use crate::tenant::{CompanyId, Scope};

/// Something a route does that not everyone may.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Any signed-in person: their own account and session.
    SignedIn,
    /// File a ticket.
    TicketsCreate,
    /// Read tickets (customers: their own only).
    TicketsRead,
    /// Correct a ticket's category and urgency (staff labels).
    TicketsLabel,
    /// Assign a ticket to an engineer or technician (and a vehicle).
    TicketsAssign,
    /// Move a ticket along its lifecycle; which moves a role may make is
    /// the transition table's (`lifecycle::TRANSITIONS`). Keys with
    /// `tickets:act` hold it for the tickets delivered to a team server.
    TicketsAct,
    /// The company's vehicles.
    VehiclesManage,
    /// Read the equipment registry (customers: their own equipment only).
    EquipmentRead,
    /// Add, change and remove equipment in the registry.
    EquipmentWrite,
    /// The manufacturer's statistics per equipment model.
    StatsRead,
    /// Delete a closed ticket.
    TicketsDelete,
    /// Search the knowledge base and read FAQ articles.
    KnowledgeRead,
    /// Write FAQ articles.
    KnowledgeWrite,
    /// Create, list and delete the company's accounts.
    AccountsManage,
    /// Create, list and revoke the company's API keys.
    ApiKeysManage,
    /// Read and change the company's settings.
    SettingsManage,
    /// Triage models and the urgency policy.
    TriageManage,
    /// Read a ticket's deliveries to team servers.
    DeliveriesRead,
    /// Routing: team servers, teams, rulesets (versions, activation,
    /// dry-runs).
    RoutingManage,
    /// Webhook endpoints and their delivery logs.
    WebhooksManage,
    /// Deliver raw e-mail for intake (`POST /v1/inbound/email`).
    InboundEmail,
}

/// What an integration's API key may do: each scope grants permissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
pub enum KeyScope {
    #[serde(rename = "tickets:read")]
    TicketsRead,
    #[serde(rename = "tickets:write")]
    TicketsWrite,
    #[serde(rename = "kb:read")]
    KnowledgeRead,
    #[serde(rename = "inbound:email")]
    InboundEmail,
    /// A team server reporting progress on the tickets delivered to it:
    /// start, resolve, the report, messages.
    #[serde(rename = "tickets:act")]
    TicketsAct,
}

impl KeyScope {
    pub const ALL: [KeyScope; 5] = [
        KeyScope::TicketsRead,
        KeyScope::TicketsWrite,
        KeyScope::KnowledgeRead,
        KeyScope::InboundEmail,
        KeyScope::TicketsAct,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyScope::TicketsRead => "tickets:read",
            KeyScope::TicketsWrite => "tickets:write",
            KeyScope::KnowledgeRead => "kb:read",
            KeyScope::InboundEmail => "inbound:email",
            KeyScope::TicketsAct => "tickets:act",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == text)
    }

    /// Scopes from their names, sorted and without repeats; an unknown one
    /// is refused with its index and a message naming the known ones.
    pub fn parse_list(texts: &[String]) -> Result<Vec<Self>, (usize, String)> {
        let mut scopes = Vec::with_capacity(texts.len());
        for (index, text) in texts.iter().enumerate() {
            let scope = Self::parse(text).ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|scope| scope.as_str()).collect();
                (index, format!("unknown scope `{text}`; one of {}", known.join(", ")))
            })?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        scopes.sort();
        Ok(scopes)
    }
}

impl fmt::Display for KeyScope {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// One row of the permission table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    pub permission: Permission,
    /// The roles of people who hold it.
    pub roles: &'static [Role],
    /// The API-key scope that grants it, if keys may hold it at all.
    pub key_scope: Option<KeyScope>,
}

const PEOPLE: &[Role] = &[Role::Admin, Role::Engineer, Role::Technician, Role::Customer];
const STAFF: &[Role] = &[Role::Admin, Role::Engineer, Role::Technician];
const ADMIN: &[Role] = &[Role::Admin];

/// Every permission and who holds it. A permission not listed is held by
/// no one.
pub const GRANTS: &[Grant] = &[
    Grant { permission: Permission::SignedIn, roles: PEOPLE, key_scope: None },
    Grant { permission: Permission::TicketsCreate, roles: PEOPLE, key_scope: Some(KeyScope::TicketsWrite) },
    Grant { permission: Permission::TicketsRead, roles: PEOPLE, key_scope: Some(KeyScope::TicketsRead) },
    Grant { permission: Permission::TicketsLabel, roles: STAFF, key_scope: None },
    Grant { permission: Permission::TicketsAssign, roles: ADMIN, key_scope: None },
    Grant { permission: Permission::TicketsAct, roles: PEOPLE, key_scope: Some(KeyScope::TicketsAct) },
    Grant { permission: Permission::VehiclesManage, roles: ADMIN, key_scope: None },
    Grant { permission: Permission::EquipmentRead, roles: PEOPLE, key_scope: None },
    Grant { permission: Permission::EquipmentWrite, roles: STAFF, key_scope: None },
    Grant { permission: Permission::StatsRead, roles: &[Role::Admin, Role::Engineer], key_scope: None },
    Grant { permission: Permission::TicketsDelete, roles: ADMIN, key_scope: None },
    Grant { permission: Permission::KnowledgeRead, roles: PEOPLE, key_scope: Some(KeyScope::KnowledgeRead) },
    Grant { permission: Permission::KnowledgeWrite, roles: ADMIN, key_scope: None },
    Grant { permission: Permission::AccountsManage, roles: ADMIN, key_scope: None },
    Grant { permission: Permission::ApiKeysManage, roles: ADMIN, key_scope: None },
    Grant { permission: Permission::SettingsManage, roles: ADMIN, key_scope: None },
    Grant { permission: Permission::TriageManage, roles: ADMIN, key_scope: None },
    Grant { permission: Permission::RoutingManage, roles: ADMIN, key_scope: None },
    Grant { permission: Permission::WebhooksManage, roles: ADMIN, key_scope: None },
    Grant { permission: Permission::DeliveriesRead, roles: STAFF, key_scope: None },
    Grant { permission: Permission::InboundEmail, roles: &[], key_scope: Some(KeyScope::InboundEmail) },
];

fn grant(permission: Permission) -> Option<&'static Grant> {
    GRANTS.iter().find(|grant| grant.permission == permission)
}

/// What the caller signed in with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// A person's session.
    Session { account: AccountId, role: Role },
    /// An integration's API key.
    ApiKey { key: ApiKeyId, scopes: Vec<KeyScope> },
}

/// An authenticated caller: a company, and a person or an integration in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub company: CompanyId,
    pub credential: Credential,
}

impl Caller {
    /// Whether the caller holds `permission`.
    pub fn may(&self, permission: Permission) -> bool {
        let Some(grant) = grant(permission) else { return false };
        match &self.credential {
            Credential::Session { role, .. } => grant.roles.contains(role),
            Credential::ApiKey { scopes, .. } => grant.key_scope.is_some_and(|needed| scopes.contains(&needed)),
        }
    }

    /// The data the caller may see: their company's.
    pub fn scope(&self) -> Scope {
        Scope::Company(self.company.clone())
    }

    /// The person's account, if a person is calling.
    pub fn account(&self) -> Option<AccountId> {
        match &self.credential {
            Credential::Session { account, .. } => Some(*account),
            Credential::ApiKey { .. } => None,
        }
    }

    /// The person's role; an integration has none.
    pub fn role(&self) -> Option<Role> {
        match &self.credential {
            Credential::Session { role, .. } => Some(*role),
            Credential::ApiKey { .. } => None,
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role() == Some(Role::Admin)
    }

    /// A customer sees only the tickets they requested.
    pub fn is_customer(&self) -> bool {
        self.role() == Some(Role::Customer)
    }

    /// Who the audit trail names.
    pub fn actor(&self) -> Actor {
        match &self.credential {
            Credential::Session { account, role } => Actor { role: *role, account: Some(*account) },
            Credential::ApiKey { .. } => Actor { role: Role::Integration, account: None },
        }
    }
}

/// Whether an account is a person's own or one a company gave them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    Personal,
    Work,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Personal => "personal",
            AccountKind::Work => "work",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [AccountKind::Personal, AccountKind::Work].into_iter().find(|kind| kind.as_str() == text)
    }
}

/// The rules a new password must meet.
pub mod password {
    use std::collections::HashSet;
    use std::sync::OnceLock;

    use crate::ticket::ValidationError;

    /// The shortest password accepted, in characters.
    pub const MIN_CHARS: usize = 10;
    /// The longest (hashing cost does not depend on it, but a bound keeps
    /// bodies small).
    pub const MAX_CHARS: usize = 128;

    static COMMON_TEXT: &str = include_str!("../data/common-passwords.txt");

    fn common() -> &'static HashSet<&'static str> {
        static COMMON: OnceLock<HashSet<&'static str>> = OnceLock::new();
        COMMON.get_or_init(|| COMMON_TEXT.lines().filter(|line| !line.is_empty()).collect())
    }

    /// Checks `password` for an account known by `names` (username, e-mail):
    /// length, no control characters, not one of the most common passwords
    /// (`core/data/common-passwords.txt`, compared case-insensitively), and
    /// not the account's own name.
    pub fn check(password: &str, names: &[&str]) -> Result<(), ValidationError> {
        let weak = |message: String| ValidationError::new("weak_password", "password", message);
        let length = password.chars().count();
        if length < MIN_CHARS {
            return Err(weak(format!("the password must have at least {MIN_CHARS} characters")));
        }
        if length > MAX_CHARS {
            return Err(weak(format!("the password must have at most {MAX_CHARS} characters")));
        }
        if password.chars().any(char::is_control) {
            return Err(weak("the password must not contain control characters".into()));
        }
        let lowered = password.to_lowercase();
        if common().contains(lowered.as_str()) {
            return Err(weak("this password is one of the most common ones; choose another".into()));
        }
        let local_part = |name: &str| name.split('@').next().unwrap_or(name).to_lowercase();
        if names.iter().any(|name| !name.is_empty() && (lowered == name.to_lowercase() || lowered == local_part(name)))
        {
            return Err(weak("the password must not be the username or e-mail address".into()));
        }
        Ok(())
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn weak_passwords_are_refused_with_the_reason() {
            for (candidate, reason) in [
                ("short", "at least"),
                ("Password123", "most common"),
                ("QWERTYUIOP", "most common"),
                ("ana.lopez.1", "username"),
                ("tab\tinside the password", "control"),
            ] {
                let error = check(candidate, &["ana.lopez.1", "ana@example.com"]).expect_err(candidate);
                assert_eq!(error.code, "weak_password");
                assert!(error.message.contains(reason), "{candidate}: {}", error.message);
            }
            assert!(check("correct horse battery staple", &["ana"]).is_ok());
            assert!(check(&"x".repeat(MAX_CHARS + 1), &[]).is_err());
        }

        #[test]
        fn the_shipped_list_is_loaded() {
            assert!(common().len() > 10_000);
            assert!(common().contains("password"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(role: Role) -> Caller {
        Caller {
            company: CompanyId::parse("acme").expect("valid"),
            credential: Credential::Session { account: AccountId::new(), role },
        }
    }

    #[test]
    fn every_permission_has_one_grant() {
        let mut seen = std::collections::HashSet::new();
        for grant in GRANTS {
            assert!(seen.insert(grant.permission), "{:?} listed twice", grant.permission);
            assert!(!grant.roles.contains(&Role::System) && !grant.roles.contains(&Role::Integration));
        }
    }

    #[test]
    fn roles_and_scopes_grant_what_the_table_says() {
        assert!(session(Role::Admin).may(Permission::SettingsManage));
        assert!(!session(Role::Engineer).may(Permission::SettingsManage));
        assert!(session(Role::Technician).may(Permission::TicketsLabel));
        assert!(!session(Role::Customer).may(Permission::TicketsLabel));
        assert!(session(Role::Customer).may(Permission::TicketsCreate));
        let key = Caller {
            company: CompanyId::parse("acme").expect("valid"),
            credential: Credential::ApiKey { key: ApiKeyId::new(), scopes: vec![KeyScope::TicketsWrite] },
        };
        assert!(key.may(Permission::TicketsCreate));
        assert!(!key.may(Permission::TicketsRead));
        assert!(!key.may(Permission::SignedIn));
        assert_eq!(key.actor().role, Role::Integration);
        assert!(!session(Role::Admin).may(Permission::InboundEmail));
        let team_server = Caller {
            company: CompanyId::parse("acme").expect("valid"),
            credential: Credential::ApiKey { key: ApiKeyId::new(), scopes: vec![KeyScope::TicketsAct] },
        };
        assert!(team_server.may(Permission::TicketsAct));
        assert!(!team_server.may(Permission::TicketsAssign) && !team_server.may(Permission::TicketsRead));
    }

    #[test]
    fn key_scopes_round_trip() {
        for scope in KeyScope::ALL {
            assert_eq!(KeyScope::parse(scope.as_str()), Some(scope));
            let json = serde_json::to_string(&scope).expect("serialise");
            assert_eq!(json, format!("\"{scope}\""));
        }
        assert_eq!(KeyScope::parse("tickets:delete"), None);
    }
}
