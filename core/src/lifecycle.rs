//! The ticket lifecycle as data: which action moves a ticket from which status
//! to which, and who may take it.
//!
//! ```text
//! New ──open──> Opened ──start──> InProgress ──resolve──> Resolved ──close──> Closed
//!  │              │  ^                 │                     │                  │
//!  └──dismiss─────┴──┼─────dismiss─────┴──> Closed           └──reopen──> Opened <──reopen──┘
//!  │                                                         ^
//!  └──answer_from_faq (the knowledge base, role System)──────┘
//! ```
//!
//! Permissions that depend on the ticket (the assignee starts and resolves,
//! or the team server it was delivered to; the ticket's own customer
//! reopens) are checked by the API on top of the role check here.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    New,
    Opened,
    InProgress,
    Resolved,
    Closed,
}

impl Status {
    pub const ALL: [Status; 5] = [Status::New, Status::Opened, Status::InProgress, Status::Resolved, Status::Closed];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Opened => "opened",
            Status::InProgress => "in_progress",
            Status::Resolved => "resolved",
            Status::Closed => "closed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Engineer,
    Technician,
    Customer,
    /// The pipeline itself (not a person): the knowledge base answering a
    /// ticket from an FAQ, the router assigning one by a rule.
    System,
    /// An integration calling with an API key (not a person).
    Integration,
}

impl Role {
    pub const ALL: [Role; 6] =
        [Role::Admin, Role::Engineer, Role::Technician, Role::Customer, Role::System, Role::Integration];

    /// The roles a person's account can have.
    pub const PEOPLE: [Role; 4] = [Role::Admin, Role::Engineer, Role::Technician, Role::Customer];

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.as_str() == text)
    }

    /// Admins, engineers and technicians: the company's staff.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Admin | Role::Engineer | Role::Technician)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Admin accepts a new ticket and assigns it (or the router does, by
    /// an admin's rule).
    Open,
    /// The assignee begins work.
    Start,
    /// The assignee finishes, with a report.
    Resolve,
    /// Admin closes a resolved ticket.
    Close,
    /// A resolved or closed ticket needs more work.
    Reopen,
    /// Admin closes spam or a duplicate before it is resolved.
    Dismiss,
    /// The knowledge base answers a new ticket from an FAQ.
    AnswerFromFaq,
}

impl Action {
    pub const ALL: [Action; 7] = [
        Action::Open,
        Action::Start,
        Action::Resolve,
        Action::Close,
        Action::Reopen,
        Action::Dismiss,
        Action::AnswerFromFaq,
    ];
}

/// One edge of the lifecycle graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    pub from: Status,
    pub action: Action,
    pub to: Status,
    pub roles: &'static [Role],
}

const ADMIN: &[Role] = &[Role::Admin];
/// An admin, or the router applying an admin's rule that assigns.
const ADMIN_OR_SYSTEM: &[Role] = &[Role::Admin, Role::System];
/// The assignee, or the team server the ticket was delivered to (an API
/// key with `tickets:act`).
const ASSIGNEE: &[Role] = &[Role::Engineer, Role::Technician, Role::Integration];
const ADMIN_OR_CUSTOMER: &[Role] = &[Role::Admin, Role::Customer];
const SYSTEM: &[Role] = &[Role::System];

/// Every allowed transition. Anything not listed is refused.
pub const TRANSITIONS: &[Transition] = &[
    Transition { from: Status::New, action: Action::Open, to: Status::Opened, roles: ADMIN_OR_SYSTEM },
    Transition { from: Status::New, action: Action::AnswerFromFaq, to: Status::Resolved, roles: SYSTEM },
    Transition { from: Status::Opened, action: Action::Start, to: Status::InProgress, roles: ASSIGNEE },
    Transition { from: Status::InProgress, action: Action::Resolve, to: Status::Resolved, roles: ASSIGNEE },
    Transition { from: Status::Resolved, action: Action::Close, to: Status::Closed, roles: ADMIN },
    Transition { from: Status::Resolved, action: Action::Reopen, to: Status::Opened, roles: ADMIN_OR_CUSTOMER },
    Transition { from: Status::Closed, action: Action::Reopen, to: Status::Opened, roles: ADMIN },
    Transition { from: Status::New, action: Action::Dismiss, to: Status::Closed, roles: ADMIN },
    Transition { from: Status::Opened, action: Action::Dismiss, to: Status::Closed, roles: ADMIN },
    Transition { from: Status::InProgress, action: Action::Dismiss, to: Status::Closed, roles: ADMIN },
];

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Open => "open",
            Action::Start => "start",
            Action::Resolve => "resolve",
            Action::Close => "close",
            Action::Reopen => "reopen",
            Action::Dismiss => "dismiss",
            Action::AnswerFromFaq => "answer_from_faq",
        }
    }
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Engineer => "engineer",
            Role::Technician => "technician",
            Role::Customer => "customer",
            Role::System => "system",
            Role::Integration => "integration",
        }
    }
}

/// Who takes an action: a role, and the account when a person acts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Actor {
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<crate::ids::AccountId>,
}

impl Actor {
    /// The pipeline itself.
    pub const SYSTEM: Actor = Actor { role: Role::System, account: None };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The ticket's status does not allow the action at all (HTTP 409).
    #[error("a ticket that is {from} cannot be {action:?}")]
    InvalidTransition { from: Status, action: Action },
    /// The action exists from this status, but not for this role (HTTP 403).
    #[error("{role:?} may not {action:?} a ticket that is {from}")]
    Forbidden { from: Status, action: Action, role: Role },
    /// The ticket left `from` while the action was being taken: someone else
    /// changed it first (HTTP 409). Never a silent overwrite.
    #[error("the ticket changed while {action:?} was being taken (it was {from}); reload it and try again")]
    Conflict { from: Status, action: Action },
}

/// The edge for `action` from `from`, if there is one.
pub fn edge(from: Status, action: Action) -> Option<&'static Transition> {
    TRANSITIONS.iter().find(|transition| transition.from == from && transition.action == action)
}

/// The status after `role` takes `action` on a ticket that is `from`.
pub fn apply(from: Status, action: Action, role: Role) -> Result<Status, TransitionError> {
    let transition = edge(from, action).ok_or(TransitionError::InvalidTransition { from, action })?;
    if !transition.roles.contains(&role) {
        return Err(TransitionError::Forbidden { from, action, role });
    }
    Ok(transition.to)
}

/// The actions that can be taken from `from` by anyone.
pub fn actions_from(from: Status) -> impl Iterator<Item = Action> {
    TRANSITIONS.iter().filter(move |transition| transition.from == from).map(|transition| transition.action)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;

    fn any_status() -> impl Strategy<Value = Status> {
        proptest::sample::select(Status::ALL.to_vec())
    }
    fn any_action() -> impl Strategy<Value = Action> {
        proptest::sample::select(Action::ALL.to_vec())
    }
    fn any_role() -> impl Strategy<Value = Role> {
        proptest::sample::select(Role::ALL.to_vec())
    }

    #[test]
    fn each_status_and_action_has_at_most_one_edge() {
        let mut seen = HashSet::new();
        for transition in TRANSITIONS {
            assert!(seen.insert((transition.from, transition.action)), "{transition:?}");
            assert_ne!(transition.from, transition.to, "no edge loops: {transition:?}");
            assert!(!transition.roles.is_empty());
        }
    }

    #[test]
    fn every_status_is_reachable_from_new_and_can_reach_closed() {
        let reachable_from = |start: Status| {
            let mut seen = HashSet::from([start]);
            let mut frontier = vec![start];
            while let Some(status) = frontier.pop() {
                for transition in TRANSITIONS.iter().filter(|t| t.from == status) {
                    if seen.insert(transition.to) {
                        frontier.push(transition.to);
                    }
                }
            }
            seen
        };
        assert_eq!(reachable_from(Status::New).len(), Status::ALL.len());
        for status in Status::ALL {
            assert!(reachable_from(status).contains(&Status::Closed) || status == Status::Closed);
        }
    }

    #[test]
    fn the_happy_path() {
        let mut status = Status::New;
        for (action, role) in [
            (Action::Open, Role::Admin),
            (Action::Start, Role::Engineer),
            (Action::Resolve, Role::Engineer),
            (Action::Close, Role::Admin),
        ] {
            status = apply(status, action, role).expect("happy path");
        }
        assert_eq!(status, Status::Closed);
    }

    proptest! {
        #[test]
        fn apply_agrees_with_the_table(from in any_status(), action in any_action(), role in any_role()) {
            match (edge(from, action), apply(from, action, role)) {
                (None, Err(TransitionError::InvalidTransition { .. })) => {}
                (Some(t), Ok(to)) => { prop_assert!(t.roles.contains(&role)); prop_assert_eq!(to, t.to); }
                (Some(t), Err(TransitionError::Forbidden { .. })) => prop_assert!(!t.roles.contains(&role)),
                (edge, result) => prop_assert!(false, "edge {:?} but {:?}", edge, result),
            }
        }

        #[test]
        fn closed_is_left_only_by_reopen(action in any_action(), role in any_role()) {
            if let Ok(to) = apply(Status::Closed, action, role) {
                prop_assert_eq!(action, Action::Reopen);
                prop_assert_eq!(to, Status::Opened);
            }
        }

        #[test]
        fn customers_and_assignees_never_close(from in any_status(), action in any_action(),
                                                role in proptest::sample::select(vec![Role::Customer, Role::Engineer, Role::Technician, Role::System])) {
            if let Ok(to) = apply(from, action, role) {
                prop_assert_ne!(to, Status::Closed);
            }
        }

        #[test]
        fn random_walks_stay_on_the_graph(steps in proptest::collection::vec((any_action(), any_role()), 0..64)) {
            let mut status = Status::New;
            for (action, role) in steps {
                if let Ok(next) = apply(status, action, role) {
                    prop_assert!(TRANSITIONS.iter().any(|t| t.from == status && t.to == next && t.action == action));
                    status = next;
                }
            }
            // From anywhere, an admin can always finish the ticket.
            let finish = match status {
                Status::Closed => Ok(Status::Closed),
                Status::Resolved => apply(status, Action::Close, Role::Admin),
                other => apply(other, Action::Dismiss, Role::Admin),
            };
            prop_assert_eq!(finish, Ok(Status::Closed));
        }

        #[test]
        fn status_names_round_trip(status in any_status()) {
            prop_assert_eq!(Status::parse(status.as_str()), Some(status));
            let json = serde_json::to_string(&status).unwrap_or_default();
            prop_assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
    }
}
