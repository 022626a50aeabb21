//! Routing rules: which team (or server) a ticket goes to, as data and a
//! pure function, so it lives in `core` like the urgency policy: the API
//! validates, stores and dry-runs rulesets, the router stage applies them.
//!
//! A company's ruleset is an ordered list of rules. [`decide`] walks it in
//! order; each enabled rule whose condition (the filter language) holds
//! *matches* and contributes its actions:
//!
//! * single-valued actions (route to a team or a server, set the urgency,
//!   assign, flag for review) are decided by the **first** matching rule
//!   that has one; later ones are recorded in the trace as overridden;
//! * `add_tags` accumulates over every matching rule;
//! * a matching rule with `stop` ends the walk: no later rule runs.
//!
//! Conditions see the ticket as triage left it, not as earlier rules changed
//! it, so every rule can be read on its own. With no rule routing the ticket:
//! a ticket triage marked unsure goes to review; otherwise the team whose
//! categories contain the ticket's category; otherwise the company's central
//! server. A rule that routes an unsure ticket overrides review, and
//! `flag_for_review` sends any ticket to review.

use serde::{Deserialize, Serialize};

use crate::filter::{Query, QueryError, Subject};
use crate::ids::{AccountId, ServerId, TeamId};
use crate::ticket::{Ticket, Urgency, ValidationError, limits};

/// The most rules a ruleset may hold.
pub const MAX_RULES: usize = 500;
/// The longest rule name, in characters.
pub const RULE_NAME_MAX_CHARS: usize = 100;

/// What a matching rule does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RuleAction {
    RouteToTeam { team: TeamId },
    RouteToServer { server: ServerId },
    SetUrgency { urgency: Urgency },
    AddTags { tags: Vec<String> },
    Assign { account: AccountId },
    FlagForReview,
}

impl RuleAction {
    fn describe(&self) -> String {
        match self {
            RuleAction::RouteToTeam { team } => format!("route to team {team}"),
            RuleAction::RouteToServer { server } => format!("route to server {server}"),
            RuleAction::SetUrgency { urgency } => format!("set urgency {}", urgency.as_str()),
            RuleAction::AddTags { tags } => format!("add tags {}", tags.join(", ")),
            RuleAction::Assign { account } => format!("assign to {account}"),
            RuleAction::FlagForReview => "flag for review".into(),
        }
    }
}

/// One rule of a ruleset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rule {
    /// Unique within the ruleset; traces and decisions name rules by it.
    pub name: String,
    pub enabled: bool,
    /// A query in the ticket filter language.
    #[schema(value_type = String, example = "urgency>=high tag:printer")]
    pub when: Query,
    pub then: Vec<RuleAction>,
    /// When the rule matches, no later rule runs.
    pub stop: bool,
}

/// A company's rules, in the order they run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Ruleset {
    pub rules: Vec<Rule>,
}

/// A rule as an admin sends it, before validation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    pub name: Option<String>,
    /// Defaults to `true`.
    pub enabled: Option<bool>,
    pub when: Option<String>,
    pub then: Option<Vec<RuleAction>>,
    /// Defaults to `false`.
    pub stop: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulesetInput {
    pub rules: Option<Vec<RuleInput>>,
}

/// Why a ruleset was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RulesetError {
    /// A field of a rule (`rules[2].name`).
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// A rule's condition does not parse; `field` is `rules[N].when`.
    #[error("{field}: {error}")]
    Query { field: String, error: QueryError },
}

impl RulesetInput {
    /// Checks every rule, in order, and reports the first fault by its path.
    pub fn validate(self) -> Result<Ruleset, RulesetError> {
        let inputs = self.rules.unwrap_or_default();
        if inputs.len() > MAX_RULES {
            return Err(ValidationError::new(
                "too_many",
                "rules",
                format!("at most {MAX_RULES} rules are allowed, got {}", inputs.len()),
            )
            .into());
        }
        let mut rules: Vec<Rule> = Vec::with_capacity(inputs.len());
        for (index, input) in inputs.into_iter().enumerate() {
            let path = |field: &str| format!("rules[{index}].{field}");
            let name = input.name.map(|name| name.trim().to_owned()).unwrap_or_default();
            if name.is_empty() {
                return Err(ValidationError::new("missing_field", path("name"), "every rule needs a name").into());
            }
            crate::ticket::check_characters(&path("name"), &name)?;
            if name.chars().count() > RULE_NAME_MAX_CHARS {
                let message = format!("a rule name has at most {RULE_NAME_MAX_CHARS} characters");
                return Err(ValidationError::new("too_long", path("name"), message).into());
            }
            if rules.iter().any(|rule| rule.name == name) {
                let message = format!("another rule is already named `{name}`");
                return Err(ValidationError::new("duplicate_name", path("name"), message).into());
            }
            let when = input.when.ok_or_else(|| {
                ValidationError::new(
                    "missing_field",
                    path("when"),
                    "`when` is required (an empty query matches every ticket)",
                )
            })?;
            let when = Query::parse(&when).map_err(|error| RulesetError::Query { field: path("when"), error })?;
            // The ruleset is stored as the printed conditions: each must read
            // back as itself (printing can lengthen a query past the limit).
            if Query::parse(&when.to_string()).as_ref() != Ok(&when) {
                let message = "the condition is too long or too deeply nested once written out; simplify it";
                return Err(ValidationError::new("invalid_query", path("when"), message).into());
            }
            let then = input.then.unwrap_or_default();
            if then.is_empty() {
                return Err(
                    ValidationError::new("missing_field", path("then"), "a rule needs at least one action").into()
                );
            }
            for (action_index, action) in then.iter().enumerate() {
                if let RuleAction::AddTags { tags } = action {
                    check_tags(&format!("rules[{index}].then[{action_index}].tags"), tags)?;
                }
            }
            rules.push(Rule {
                name,
                enabled: input.enabled.unwrap_or(true),
                when,
                then,
                stop: input.stop.unwrap_or(false),
            });
        }
        Ok(Ruleset { rules })
    }
}

fn check_tags(field: &str, tags: &[String]) -> Result<(), ValidationError> {
    if tags.is_empty() || tags.len() > limits::TAGS_MAX {
        let message = format!("`add_tags` takes 1 to {} tags", limits::TAGS_MAX);
        return Err(ValidationError::new("invalid_field", field, message));
    }
    for (index, tag) in tags.iter().enumerate() {
        let field = format!("{field}[{index}]");
        crate::ticket::check_characters(&field, tag)?;
        if tag.trim().is_empty() || tag.trim() != tag || tag.chars().count() > limits::TAG_MAX_CHARS {
            let message = format!("a tag is 1 to {} characters without spaces at either end", limits::TAG_MAX_CHARS);
            return Err(ValidationError::new("invalid_field", field, message));
        }
    }
    Ok(())
}

/// What the router needs to know of a team to route by category.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeamCategories {
    pub team: TeamId,
    pub name: String,
    pub categories: Vec<String>,
}

/// Where a ticket goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Destination {
    Team {
        team: TeamId,
    },
    Server {
        server: ServerId,
    },
    /// The company's central server: nothing else claimed the ticket.
    Central,
    /// A person triages it first; it is not delivered.
    Review,
}

/// How one rule fared for one ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuleOutcome {
    Matched,
    NotMatched,
    Disabled,
    /// An earlier matching rule had `stop`.
    NotReached,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RuleTrace {
    pub rule: String,
    pub outcome: RuleOutcome,
    /// Why the condition held or not (`urgency>=high` does not hold:
    /// urgency is normal).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub why: String,
    /// What the rule did, and what it would have done but an earlier rule
    /// had decided.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applied: Vec<String>,
}

/// A routing decision with its explanation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Decision {
    pub destination: Destination,
    /// Why this destination (the rule that chose it, the category's team, …).
    pub reason: String,
    /// The urgency a rule set, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urgency: Option<Urgency>,
    /// Tags rules added (not already on the ticket), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<AccountId>,
    /// Every rule, in order.
    pub trace: Vec<RuleTrace>,
}

/// Decides where `ticket` goes under `ruleset`. Pure: the same inputs give
/// the same decision, which is what dry-runs and backtests rely on.
pub fn decide(ruleset: &Ruleset, teams: &[TeamCategories], ticket: &Ticket) -> Decision {
    let subject = Subject::new(ticket);
    let mut route: Option<(Destination, String)> = None;
    let mut review_by: Option<String> = None;
    let mut urgency = None;
    let mut assignee = None;
    let mut add_tags: Vec<String> = Vec::new();
    let mut trace = Vec::with_capacity(ruleset.rules.len());
    let mut stopped_by: Option<&str> = None;
    for rule in &ruleset.rules {
        if let Some(stopper) = stopped_by {
            trace.push(RuleTrace {
                rule: rule.name.clone(),
                outcome: RuleOutcome::NotReached,
                why: format!("rule `{stopper}` matched and stops"),
                applied: Vec::new(),
            });
            continue;
        }
        if !rule.enabled {
            trace.push(RuleTrace {
                rule: rule.name.clone(),
                outcome: RuleOutcome::Disabled,
                why: String::new(),
                applied: Vec::new(),
            });
            continue;
        }
        let (matched, why) = rule.when.explain(&subject);
        if !matched {
            trace.push(RuleTrace {
                rule: rule.name.clone(),
                outcome: RuleOutcome::NotMatched,
                why,
                applied: Vec::new(),
            });
            continue;
        }
        let mut applied = Vec::with_capacity(rule.then.len());
        for action in &rule.then {
            let mut decided_earlier = false;
            match action {
                RuleAction::RouteToTeam { team } if route.is_none() => {
                    route = Some((Destination::Team { team: *team }, rule.name.clone()));
                }
                RuleAction::RouteToServer { server } if route.is_none() => {
                    route = Some((Destination::Server { server: *server }, rule.name.clone()));
                }
                RuleAction::SetUrgency { urgency: set } if urgency.is_none() => urgency = Some(*set),
                RuleAction::Assign { account } if assignee.is_none() => assignee = Some(*account),
                RuleAction::FlagForReview if review_by.is_none() => review_by = Some(rule.name.clone()),
                RuleAction::AddTags { tags } => {
                    for tag in tags {
                        if !ticket.tags.contains(tag) && !add_tags.contains(tag) {
                            add_tags.push(tag.clone());
                        }
                    }
                }
                _ => decided_earlier = true,
            }
            let description = action.describe();
            applied.push(if decided_earlier {
                format!("{description} (overridden: an earlier rule decided)")
            } else {
                description
            });
        }
        trace.push(RuleTrace { rule: rule.name.clone(), outcome: RuleOutcome::Matched, why, applied });
        if rule.stop {
            stopped_by = Some(&rule.name);
        }
    }
    let unsure = ticket.triage.as_ref().is_some_and(|triage| triage.needs_human);
    let (destination, reason) = match (review_by, route) {
        (Some(rule), _) => (Destination::Review, format!("rule `{rule}` flags it for review")),
        (None, Some((destination, rule))) => (destination, format!("rule `{rule}` routes it")),
        (None, None) if unsure => (Destination::Review, "triage was unsure and no rule routes it".into()),
        (None, None) => match ticket.category.as_deref().and_then(|category| {
            teams
                .iter()
                .find(|team| team.categories.iter().any(|handled| handled == category))
                .map(|team| (team, category))
        }) {
            Some((team, category)) => (
                Destination::Team { team: team.team },
                format!("no rule routes it; team `{}` handles category `{category}`", team.name),
            ),
            None => (
                Destination::Central,
                match &ticket.category {
                    Some(category) => format!("no rule routes it and no team handles category `{category}`"),
                    None => "no rule routes it and it has no category".into(),
                },
            ),
        },
    };
    Decision { destination, reason, urgency, add_tags, assignee, trace }
}

/// The body POSTed to a team server (Standard Webhooks' recommended shape).
#[derive(Debug, Serialize)]
pub struct DeliveryBody<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: time::OffsetDateTime,
    pub data: DeliveryData<'a>,
}

#[derive(Debug, Serialize)]
pub struct DeliveryData<'a> {
    pub ticket: &'a Ticket,
    pub team: Option<TeamId>,
    /// Why this server: routed, a fallback, an admin's distribution.
    pub reason: &'a str,
}

/// The JSON body of a delivery of `ticket`.
pub fn delivery_body(ticket: &Ticket, team: Option<TeamId>, reason: &str) -> Result<String, serde_json::Error> {
    serde_json::to_string(&DeliveryBody {
        kind: "ticket.routed",
        timestamp: time::OffsetDateTime::now_utc(),
        data: DeliveryData { ticket, team, reason },
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use uuid::Uuid;

    use super::*;
    use crate::filter::testing::{arbitrary_query, arbitrary_ticket};
    use crate::ticket::{Channel, NewRequester, NewTicket};

    fn team(n: u128) -> TeamId {
        TeamId(Uuid::from_u128(n))
    }

    fn rule(name: &str, when: &str, then: Vec<RuleAction>, stop: bool) -> Rule {
        Rule { name: name.into(), enabled: true, when: Query::parse(when).expect("parses"), then, stop }
    }

    fn printer_fire() -> Ticket {
        let mut ticket = NewTicket {
            title: Some("Printer on fire".into()),
            description: Some("Smoke from tray 2".into()),
            requester: Some(NewRequester { email: Some("ana@example.com".into()), name: None }),
            tags: Some(vec!["printer".into()]),
            ..NewTicket::default()
        }
        .validate(crate::TicketId::new(), Channel::Api, time::OffsetDateTime::UNIX_EPOCH)
        .expect("valid");
        ticket.category = Some("hardware".into());
        ticket.urgency = Some(Urgency::Normal);
        ticket
    }

    fn teams() -> Vec<TeamCategories> {
        vec![TeamCategories { team: team(9), name: "hardware desk".into(), categories: vec!["hardware".into()] }]
    }

    #[test]
    fn the_first_matching_rule_routes_and_later_ones_are_overridden() {
        let ruleset = Ruleset {
            rules: vec![
                rule("vip only", "tag:vip", vec![RuleAction::RouteToTeam { team: team(1) }], false),
                rule(
                    "fire",
                    "fire",
                    vec![
                        RuleAction::RouteToTeam { team: team(2) },
                        RuleAction::SetUrgency { urgency: Urgency::Critical },
                    ],
                    false,
                ),
                rule(
                    "printers",
                    "tag:printer",
                    vec![RuleAction::RouteToTeam { team: team(3) }, RuleAction::AddTags { tags: vec!["hw".into()] }],
                    false,
                ),
            ],
        };
        let decision = decide(&ruleset, &teams(), &printer_fire());
        assert_eq!(decision.destination, Destination::Team { team: team(2) });
        assert_eq!(decision.reason, "rule `fire` routes it");
        assert_eq!(decision.urgency, Some(Urgency::Critical));
        assert_eq!(decision.add_tags, vec!["hw".to_owned()]);
        let outcomes: Vec<(&str, RuleOutcome)> =
            decision.trace.iter().map(|trace| (trace.rule.as_str(), trace.outcome)).collect();
        assert_eq!(
            outcomes,
            vec![
                ("vip only", RuleOutcome::NotMatched),
                ("fire", RuleOutcome::Matched),
                ("printers", RuleOutcome::Matched)
            ]
        );
        assert_eq!(decision.trace[0].why, "`tag:vip` does not hold: the ticket's tags are printer");
        assert_eq!(
            decision.trace[2].applied[0],
            format!("route to team {} (overridden: an earlier rule decided)", team(3))
        );
    }

    #[test]
    fn stop_ends_the_walk() {
        let ruleset = Ruleset {
            rules: vec![
                rule("tag it", "", vec![RuleAction::AddTags { tags: vec!["seen".into()] }], true),
                rule("never", "", vec![RuleAction::RouteToTeam { team: team(1) }], false),
            ],
        };
        let decision = decide(&ruleset, &teams(), &printer_fire());
        assert_eq!(decision.trace[1].outcome, RuleOutcome::NotReached);
        assert_eq!(decision.trace[1].why, "rule `tag it` matched and stops");
        assert_eq!(
            decision.destination,
            Destination::Team { team: team(9) },
            "the category's team, as if no rule routed"
        );
        assert_eq!(decision.reason, "no rule routes it; team `hardware desk` handles category `hardware`");
    }

    #[test]
    fn without_a_routing_rule_unsure_tickets_go_to_review_and_the_rest_by_category_or_to_central() {
        let mut ticket = printer_fire();
        ticket.triage = Some(crate::events::Triage {
            category: crate::events::Classification {
                label: None,
                confidence: 0.3,
                out_of_scope: false,
                model_version: "m".into(),
            },
            urgency_model: crate::events::Classification {
                label: None,
                confidence: 0.3,
                out_of_scope: false,
                model_version: "m".into(),
            },
            urgency: Urgency::Normal,
            urgency_source: crate::events::UrgencySource::Default,
            needs_human: true,
            triaged_at: time::OffsetDateTime::UNIX_EPOCH,
        });
        let empty = Ruleset::default();
        assert_eq!(decide(&empty, &teams(), &ticket).destination, Destination::Review);
        let routes = Ruleset {
            rules: vec![rule(
                "fires",
                "fire",
                vec![RuleAction::RouteToServer { server: ServerId(Uuid::from_u128(5)) }],
                false,
            )],
        };
        assert_eq!(
            decide(&routes, &teams(), &ticket).destination,
            Destination::Server { server: ServerId(Uuid::from_u128(5)) },
            "a rule overrides review"
        );
        let review =
            Ruleset { rules: vec![rule("look", "", vec![RuleAction::FlagForReview], false), routes.rules[0].clone()] };
        assert_eq!(decide(&review, &teams(), &printer_fire()).destination, Destination::Review);
        let mut other = printer_fire();
        other.category = Some("billing".into());
        let decision = decide(&empty, &teams(), &other);
        assert_eq!(
            (decision.destination, decision.reason.as_str()),
            (Destination::Central, "no rule routes it and no team handles category `billing`")
        );
    }

    #[test]
    fn rulesets_are_validated_with_paths() {
        let input = |rules: serde_json::Value| -> Result<Ruleset, RulesetError> {
            serde_json::from_value::<RulesetInput>(serde_json::json!({ "rules": rules })).expect("shape").validate()
        };
        let ok = input(serde_json::json!([{"name": " fire ", "when": "fire", "then": [{"kind": "set_urgency", "urgency": "critical"}]}]))
            .expect("valid");
        assert_eq!((ok.rules[0].name.as_str(), ok.rules[0].enabled, ok.rules[0].stop), ("fire", true, false));
        match input(serde_json::json!([{"name": "a", "when": "urgency>=hgh", "then": [{"kind": "flag_for_review"}]}])) {
            Err(RulesetError::Query { field, error }) => {
                assert_eq!((field.as_str(), error.position), ("rules[0].when", 9))
            }
            other => panic!("{other:?}"),
        }
        let two = serde_json::json!([
            {"name": "a", "when": "", "then": [{"kind": "flag_for_review"}]},
            {"name": "a", "when": "", "then": [{"kind": "flag_for_review"}]}
        ]);
        assert!(
            matches!(input(two), Err(RulesetError::Invalid(error)) if error.field == "rules[1].name" && error.code == "duplicate_name")
        );
        assert!(
            matches!(input(serde_json::json!([{"name": "a", "when": ""}])), Err(RulesetError::Invalid(error)) if error.field == "rules[0].then")
        );
        let bad_tag = serde_json::json!([{"name": "a", "when": "", "then": [{"kind": "add_tags", "tags": [" x"]}]}]);
        assert!(
            matches!(input(bad_tag), Err(RulesetError::Invalid(error)) if error.field == "rules[0].then[0].tags[0]")
        );
    }

    fn arbitrary_action() -> impl Strategy<Value = RuleAction> {
        prop_oneof![
            (1u128..4).prop_map(|n| RuleAction::RouteToTeam { team: team(n) }),
            (1u128..4).prop_map(|n| RuleAction::RouteToServer { server: ServerId(Uuid::from_u128(n)) }),
            prop::sample::select(Urgency::ALL.to_vec()).prop_map(|urgency| RuleAction::SetUrgency { urgency }),
            prop::sample::select(vec!["a", "b", "printer"])
                .prop_map(|tag| RuleAction::AddTags { tags: vec![tag.into()] }),
            Just(RuleAction::FlagForReview),
        ]
    }

    fn arbitrary_ruleset() -> impl Strategy<Value = Ruleset> {
        let rule = (
            arbitrary_query(),
            prop::collection::vec(arbitrary_action(), 1..3),
            any::<bool>(),
            prop::bool::weighted(0.2),
        );
        prop::collection::vec(rule, 0..8).prop_map(|rules| Ruleset {
            rules: rules
                .into_iter()
                .enumerate()
                .map(|(index, (when, then, enabled, stop))| Rule {
                    name: format!("r{index}"),
                    enabled,
                    when,
                    then,
                    stop,
                })
                .collect(),
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn rules_run_in_order_until_one_that_matches_stops(ruleset in arbitrary_ruleset(), ticket in arbitrary_ticket()) {
            let decision = decide(&ruleset, &teams(), &ticket);
            let subject = Subject::new(&ticket);
            prop_assert_eq!(decision.trace.len(), ruleset.rules.len());
            let mut stopped = false;
            let mut first_route = None;
            for (rule, trace) in ruleset.rules.iter().zip(&decision.trace) {
                prop_assert_eq!(&trace.rule, &rule.name);
                let expected = if stopped {
                    RuleOutcome::NotReached
                } else if !rule.enabled {
                    RuleOutcome::Disabled
                } else if rule.when.matches(&subject) {
                    RuleOutcome::Matched
                } else {
                    RuleOutcome::NotMatched
                };
                prop_assert_eq!(trace.outcome, expected);
                if expected == RuleOutcome::Matched {
                    stopped = rule.stop;
                    if first_route.is_none() {
                        first_route = rule.then.iter().find_map(|action| match action {
                            RuleAction::RouteToTeam { team } => Some(Destination::Team { team: *team }),
                            RuleAction::RouteToServer { server } => Some(Destination::Server { server: *server }),
                            _ => None,
                        });
                    }
                }
            }
            if let (Some(route), false) = (first_route, decision.destination == Destination::Review) {
                prop_assert_eq!(decision.destination, route);
            }
            // What follows a matching `stop` rule never counts.
            let stopper = ruleset
                .rules
                .iter()
                .zip(&decision.trace)
                .position(|(rule, trace)| trace.outcome == RuleOutcome::Matched && rule.stop);
            if let Some(index) = stopper {
                let truncated = Ruleset { rules: ruleset.rules[..=index].to_vec() };
                let shorter = decide(&truncated, &teams(), &ticket);
                prop_assert_eq!((shorter.destination, shorter.urgency, shorter.add_tags, shorter.assignee), (decision.destination, decision.urgency, decision.add_tags.clone(), decision.assignee));
            }
        }
    }
}
