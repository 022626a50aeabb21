//! The urgency policy: admin-editable rules applied after the urgency model.
//! Data and a pure function, so it lives in `core`: the API stores and
//! validates it, the triage stage applies it.
//!
//! A policy is data (serde, so the store can keep it as JSON) and applying it
//! is a pure function of the policy, the model's urgency, the ticket's
//! category and its text. The rules combine without depending on their order:
//!
//! 1. if any `set` rule matches, the urgency is the highest urgency among the
//!    matching `set` rules, whatever the model said;
//! 2. otherwise it starts from the model's urgency (or `default_urgency` when
//!    the model was unsure), is lowered to the lowest matching `at_most` cap,
//!    then raised to the highest matching `at_least` floor. A floor beats a
//!    cap: when rules disagree, the ticket is escalated rather than buried.
//!
//! ```json
//! {
//!   "default_urgency": "normal",
//!   "rules": [
//!     {"name": "fraud", "when": {"category": "card_compromised"}, "then": {"set": "critical"}},
//!     {"when": {"any_keyword": ["outage", "data loss"]}, "then": {"at_least": "high"}},
//!     {"when": {"category": "card_about_to_expire"}, "then": {"at_most": "normal"}}
//!   ]
//! }
//! ```

use serde::{Deserialize, Serialize};

use crate::text::normalize;
use crate::ticket::Urgency;

/// Why a policy was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid urgency policy: {0}")]
pub struct PolicyError(pub String);

type Result<T, E = PolicyError> = std::result::Result<T, E>;

/// When a rule applies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = PolicyCondition)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// The ticket's category is exactly this label.
    Category(String),
    /// The ticket's text contains any of these words or phrases, compared
    /// after the same normalisation the models use (case, punctuation and
    /// apostrophes do not matter; whole words only).
    AnyKeyword(Vec<String>),
}

/// What a matching rule does to the urgency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = PolicyAction)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Set(Urgency),
    AtLeast(Urgency),
    AtMost(Urgency),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = PolicyRule)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// An admin's name for the rule, shown where the rule decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub when: Condition,
    pub then: Action,
}

impl Rule {
    /// The rule's name, or a description of it.
    pub fn describe(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        let when = match &self.when {
            Condition::Category(category) => format!("category {category}"),
            Condition::AnyKeyword(keywords) => format!("keyword {}", keywords.join("|")),
        };
        let then = match self.then {
            Action::Set(urgency) => format!("set {}", urgency.as_str()),
            Action::AtLeast(urgency) => format!("at least {}", urgency.as_str()),
            Action::AtMost(urgency) => format!("at most {}", urgency.as_str()),
        };
        format!("{when} => {then}")
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UrgencyPolicy {
    /// The urgency when the model is unsure (or absent) and no `set` rule
    /// matches.
    #[serde(default = "default_urgency")]
    pub default_urgency: Urgency,
    #[serde(default)]
    pub rules: Vec<Rule>,
}

fn default_urgency() -> Urgency {
    Urgency::Normal
}

impl Default for UrgencyPolicy {
    fn default() -> Self {
        Self { default_urgency: default_urgency(), rules: Vec::new() }
    }
}

/// Where the final urgency came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UrgencySource {
    /// The model's urgency, untouched by any rule.
    Model,
    /// `default_urgency`, because the model was unsure and no rule changed it.
    Default,
    /// One or more rules decided or changed it.
    Policy,
}

/// The policy's verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UrgencyDecision {
    pub urgency: Urgency,
    pub source: UrgencySource,
    /// Indices (into `rules`) of the rules that matched, ascending.
    pub matched_rules: Vec<usize>,
}

/// What the policy looks at.
#[derive(Clone, Copy, Debug)]
pub struct PolicyInput<'a> {
    /// The urgency model's label, `None` when it was unsure.
    pub model_urgency: Option<Urgency>,
    pub category: Option<&'a str>,
    /// The ticket's text (triage's `ticket_text`).
    pub text: &'a str,
}

/// The bounds of a policy, so that storing, loading and applying one stays
/// cheap whatever an admin sends.
pub mod limits {
    pub const RULES_MAX: usize = 500;
    pub const KEYWORDS_PER_RULE_MAX: usize = 200;
    pub const KEYWORDS_TOTAL_MAX: usize = 5_000;
    pub const KEYWORD_MAX_CHARS: usize = 100;
    pub const NAME_MAX_CHARS: usize = 100;
    pub const CATEGORY_MAX_CHARS: usize = 100;
    /// Characters of a ticket's text the keyword rules look at (its start).
    pub const TEXT_SCANNED_MAX_CHARS: usize = 32 * 1024;
}

/// The installation's policy until an operator stores one
/// (`core/data/default-urgency-policy.json`): named phrase rules for the
/// unmistakable cases of everyday support text (danger to people, security
/// incidents, outages for many, data or money lost, close deadlines) and
/// caps for questions, ideas and cosmetic faults.
pub const SHIPPED_POLICY_JSON: &str = include_str!("../data/default-urgency-policy.json");

impl UrgencyPolicy {
    /// The shipped default policy ([`SHIPPED_POLICY_JSON`]), parsed once
    /// per process.
    pub fn shipped() -> Self {
        // A unit test parses the file, so this cannot fail in a build that
        // passed its tests.
        static SHIPPED: std::sync::LazyLock<UrgencyPolicy> =
            std::sync::LazyLock::new(|| UrgencyPolicy::from_json(SHIPPED_POLICY_JSON).unwrap_or_default());
        SHIPPED.clone()
    }

    /// Parses and validates a policy from JSON.
    pub fn from_json(json: &str) -> Result<Self> {
        let policy: UrgencyPolicy = serde_json::from_str(json).map_err(|error| PolicyError(error.to_string()))?;
        policy.validate()?;
        Ok(policy)
    }

    /// Refuses rules that can never match, and policies over the
    /// [`limits`].
    pub fn validate(&self) -> Result<()> {
        use limits::*;
        if self.rules.len() > RULES_MAX {
            return Err(PolicyError(format!("{} rules; at most {RULES_MAX}", self.rules.len())));
        }
        let mut keywords_total = 0_usize;
        for (index, rule) in self.rules.iter().enumerate() {
            let texts = rule.name.iter().chain(match &rule.when {
                Condition::Category(category) => std::slice::from_ref(category),
                Condition::AnyKeyword(keywords) => keywords.as_slice(),
            });
            for text in texts {
                if let Some(character) = crate::text::forbidden_control(text) {
                    return Err(PolicyError(format!(
                        "rule {index}: contains the control character U+{:04X}",
                        u32::from(character)
                    )));
                }
            }
            if let Some(name) = &rule.name
                && name.chars().count() > NAME_MAX_CHARS
            {
                return Err(PolicyError(format!("rule {index}: the name is over {NAME_MAX_CHARS} characters")));
            }
            match &rule.when {
                Condition::Category(category) if category.trim().is_empty() => {
                    return Err(PolicyError(format!("rule {index}: empty category")));
                }
                Condition::Category(category) if category.chars().count() > CATEGORY_MAX_CHARS => {
                    return Err(PolicyError(format!(
                        "rule {index}: the category is over {CATEGORY_MAX_CHARS} characters"
                    )));
                }
                Condition::AnyKeyword(keywords) => {
                    if keywords.is_empty() {
                        return Err(PolicyError(format!("rule {index}: no keywords")));
                    }
                    if keywords.len() > KEYWORDS_PER_RULE_MAX {
                        return Err(PolicyError(format!(
                            "rule {index}: {} keywords; at most {KEYWORDS_PER_RULE_MAX} per rule",
                            keywords.len()
                        )));
                    }
                    keywords_total += keywords.len();
                    if let Some(keyword) = keywords.iter().find(|k| k.chars().count() > KEYWORD_MAX_CHARS) {
                        return Err(PolicyError(format!(
                            "rule {index}: keyword {:?}… is over {KEYWORD_MAX_CHARS} characters",
                            keyword.chars().take(20).collect::<String>()
                        )));
                    }
                    if let Some(keyword) = keywords.iter().find(|k| normalize(k, usize::MAX).is_empty()) {
                        return Err(PolicyError(format!("rule {index}: keyword {keyword:?} has no word in it")));
                    }
                }
                Condition::Category(_) => {}
            }
        }
        if keywords_total > KEYWORDS_TOTAL_MAX {
            return Err(PolicyError(format!("{keywords_total} keywords in all; at most {KEYWORDS_TOTAL_MAX}")));
        }
        Ok(())
    }

    /// Builds the matcher that applies this policy: the keyword rules'
    /// keywords become one automaton, so a ticket's text is scanned once
    /// whatever the number of keywords.
    pub fn compile(&self) -> CompiledPolicy {
        let mut patterns: Vec<String> = Vec::new();
        let mut pattern_rules: Vec<Vec<usize>> = Vec::new();
        let mut pattern_of: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        for (index, rule) in self.rules.iter().enumerate() {
            let Condition::AnyKeyword(keywords) = &rule.when else { continue };
            for keyword in keywords {
                let keyword = normalize(keyword, usize::MAX);
                if keyword.is_empty() {
                    continue;
                }
                // Padded with spaces, as the text is: whole words only.
                let pattern = *pattern_of.entry(format!(" {keyword} ")).or_insert_with_key(|padded| {
                    patterns.push(padded.clone());
                    pattern_rules.push(Vec::new());
                    patterns.len() - 1
                });
                if pattern_rules[pattern].last() != Some(&index) {
                    pattern_rules[pattern].push(index);
                }
            }
        }
        let keywords = if patterns.is_empty() {
            None
        } else {
            // Standard semantics, so overlapping matches are all found (two
            // keywords share the space between adjacent words).
            aho_corasick::AhoCorasick::new(&patterns).ok()
        };
        CompiledPolicy { policy: self.clone(), keywords, pattern_rules }
    }

    /// Applies the policy (see the module documentation for the semantics).
    /// Compiles it first: keep a [`CompiledPolicy`] to apply it often.
    pub fn apply(&self, input: &PolicyInput<'_>) -> UrgencyDecision {
        self.compile().apply(input)
    }
}

/// A policy ready to apply: [`UrgencyPolicy::compile`].
#[derive(Clone, Debug)]
pub struct CompiledPolicy {
    policy: UrgencyPolicy,
    keywords: Option<aho_corasick::AhoCorasick>,
    /// For each automaton pattern, the rules it belongs to.
    pattern_rules: Vec<Vec<usize>>,
}

impl CompiledPolicy {
    pub fn policy(&self) -> &UrgencyPolicy {
        &self.policy
    }

    /// Applies the policy (see the module documentation for the semantics).
    pub fn apply(&self, input: &PolicyInput<'_>) -> UrgencyDecision {
        let rules = &self.policy.rules;
        let mut matched = vec![false; rules.len()];
        for (index, rule) in rules.iter().enumerate() {
            if let Condition::Category(category) = &rule.when {
                matched[index] = input.category == Some(category.as_str());
            }
        }
        if let Some(keywords) = &self.keywords {
            let padded_text = format!(" {} ", normalize(input.text, limits::TEXT_SCANNED_MAX_CHARS));
            for found in keywords.find_overlapping_iter(&padded_text) {
                for &index in &self.pattern_rules[found.pattern().as_usize()] {
                    matched[index] = true;
                }
            }
        }
        let matched_rules: Vec<usize> = (0..rules.len()).filter(|&index| matched[index]).collect();

        let mut set: Option<Urgency> = None;
        let mut floor: Option<Urgency> = None;
        let mut cap: Option<Urgency> = None;
        for &index in &matched_rules {
            match rules[index].then {
                Action::Set(urgency) => set = set.max(Some(urgency)),
                Action::AtLeast(urgency) => floor = floor.max(Some(urgency)),
                Action::AtMost(urgency) => cap = Some(cap.map_or(urgency, |current| current.min(urgency))),
            }
        }
        let start = input.model_urgency.unwrap_or(self.policy.default_urgency);
        let urgency = match set {
            Some(urgency) => urgency,
            None => {
                let capped = cap.map_or(start, |cap| start.min(cap));
                floor.map_or(capped, |floor| capped.max(floor))
            }
        };
        let source = if urgency != start || set.is_some() {
            UrgencySource::Policy
        } else if input.model_urgency.is_some() {
            UrgencySource::Model
        } else {
            UrgencySource::Default
        };
        UrgencyDecision { urgency, source, matched_rules }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_shipped_policy_is_valid_and_names_why_it_decided() {
        let policy = UrgencyPolicy::from_json(SHIPPED_POLICY_JSON).expect("valid");
        assert!(policy.rules.iter().all(|rule| rule.name.is_some()), "every shipped rule is named");
        let compiled = UrgencyPolicy::shipped().compile();
        let decide = |text: &str, model_urgency: Option<Urgency>| {
            let decision = compiled.apply(&PolicyInput { model_urgency, category: None, text });
            let names: Vec<String> =
                decision.matched_rules.iter().map(|&index| policy.rules[index].describe()).collect();
            (decision.urgency, names)
        };
        assert_eq!(
            decide("Printer on fire - the printer is smoking", Some(Urgency::Low)),
            (Urgency::Critical, vec!["fire or smoke".to_owned()])
        );
        assert_eq!(decide("Ransomware: all our files are encrypted", None).0, Urgency::Critical);
        assert_eq!(decide("We were charged twice this month", Some(Urgency::Low)).0, Urgency::High);
        // A floor beats a cap: a question about an outage is still an outage.
        assert_eq!(decide("How do I get back in? Nobody can log in since 9", None).0, Urgency::Critical);
        assert_eq!(
            decide("Feature request: a dark mode would be nice", Some(Urgency::High)),
            (Urgency::Low, vec!["idea, feedback or cosmetic".to_owned()])
        );
        assert_eq!(decide("The printer has a paper jam", None), (Urgency::Normal, vec![]));
    }

    fn urgency() -> impl Strategy<Value = Urgency> {
        prop::sample::select(Urgency::ALL.to_vec())
    }

    fn condition() -> impl Strategy<Value = Condition> {
        prop_oneof![
            prop::sample::select(vec!["billing", "outage", "card"]).prop_map(|c| Condition::Category(c.to_owned())),
            prop::collection::vec(prop::sample::select(vec!["down", "data loss", "refund", "Urgent!"]), 1..3)
                .prop_map(|k| Condition::AnyKeyword(k.into_iter().map(str::to_owned).collect())),
        ]
    }

    fn rule() -> impl Strategy<Value = Rule> {
        let action = prop_oneof![
            urgency().prop_map(Action::Set),
            urgency().prop_map(Action::AtLeast),
            urgency().prop_map(Action::AtMost),
        ];
        (condition(), action).prop_map(|(when, then)| Rule { name: None, when, then })
    }

    fn policy() -> impl Strategy<Value = UrgencyPolicy> {
        (urgency(), prop::collection::vec(rule(), 0..6))
            .prop_map(|(default_urgency, rules)| UrgencyPolicy { default_urgency, rules })
    }

    fn input_parts() -> impl Strategy<Value = (Option<Urgency>, Option<&'static str>, &'static str)> {
        (
            prop::option::of(urgency()),
            prop::option::of(prop::sample::select(vec!["billing", "outage", "card"])),
            prop::sample::select(vec!["", "the site is DOWN", "we had data-loss", "refund me", "urgent: datab loss"]),
        )
    }

    #[test]
    fn documented_example() {
        let policy = UrgencyPolicy::from_json(
            r#"{"rules":[
                {"name":"fraud","when":{"category":"card_compromised"},"then":{"set":"critical"}},
                {"when":{"any_keyword":["outage","data loss"]},"then":{"at_least":"high"}},
                {"when":{"category":"card_about_to_expire"},"then":{"at_most":"normal"}}]}"#,
        )
        .expect("valid");
        let decide =
            |model_urgency, category, text| policy.apply(&PolicyInput { model_urgency, category, text }).urgency;
        assert_eq!(decide(Some(Urgency::Low), Some("card_compromised"), ""), Urgency::Critical);
        assert_eq!(decide(Some(Urgency::Low), None, "Total OUTAGE since 9am"), Urgency::High);
        assert_eq!(decide(Some(Urgency::Low), None, "outages"), Urgency::Low, "whole words only");
        assert_eq!(decide(Some(Urgency::Critical), Some("card_about_to_expire"), ""), Urgency::Normal);
        assert_eq!(decide(Some(Urgency::Critical), Some("card_about_to_expire"), "data loss!"), Urgency::High);
        assert_eq!(decide(None, None, ""), Urgency::Normal);
        let json = serde_json::to_string(&policy).expect("json");
        assert_eq!(UrgencyPolicy::from_json(&json).expect("round trip"), policy);
        assert_eq!(policy.rules[0].describe(), "fraud");
        assert_eq!(policy.rules[1].describe(), "keyword outage|data loss => at least high");
    }

    #[test]
    fn rules_that_cannot_match_are_refused() {
        assert!(UrgencyPolicy::from_json(r#"{"rules":[{"when":{"any_keyword":[]},"then":{"set":"low"}}]}"#).is_err());
        assert!(
            UrgencyPolicy::from_json(r#"{"rules":[{"when":{"any_keyword":["!!"]},"then":{"set":"low"}}]}"#).is_err()
        );
        assert!(UrgencyPolicy::from_json(r#"{"rules":[{"when":{"category":" "},"then":{"set":"low"}}]}"#).is_err());
        assert!(UrgencyPolicy::from_json(r#"{"rules":[{"when":{"colour":"red"},"then":{"set":"low"}}]}"#).is_err());
        // A misspelt field is an error, not a silently empty policy.
        assert!(UrgencyPolicy::from_json(r#"{"rule":[{"when":{"category":"x"},"then":{"set":"low"}}]}"#).is_err());
        assert!(
            UrgencyPolicy::from_json(r#"{"rules":[{"when":{"category":"x"},"then":{"set":"low"},"nmae":"y"}]}"#)
                .is_err()
        );
    }

    #[test]
    fn policies_over_the_limits_are_refused() {
        use limits::*;
        let keyword_rule = |keywords: Vec<String>| Rule {
            name: None,
            when: Condition::AnyKeyword(keywords),
            then: Action::AtLeast(Urgency::High),
        };
        let refused = |policy: UrgencyPolicy| policy.validate().expect_err("over a limit").0;
        let many_rules =
            UrgencyPolicy { rules: vec![keyword_rule(vec!["down".into()]); RULES_MAX + 1], ..Default::default() };
        assert!(refused(many_rules).contains("rules"));
        let words = |count: usize| (0..count).map(|index| format!("word{index}")).collect::<Vec<_>>();
        let crowded =
            UrgencyPolicy { rules: vec![keyword_rule(words(KEYWORDS_PER_RULE_MAX + 1))], ..Default::default() };
        assert!(refused(crowded).contains("per rule"));
        let total = UrgencyPolicy {
            rules: vec![keyword_rule(words(KEYWORDS_PER_RULE_MAX)); KEYWORDS_TOTAL_MAX / KEYWORDS_PER_RULE_MAX + 1],
            ..Default::default()
        };
        assert!(refused(total).contains("in all"));
        let long =
            UrgencyPolicy { rules: vec![keyword_rule(vec!["a".repeat(KEYWORD_MAX_CHARS + 1)])], ..Default::default() };
        assert!(refused(long).contains("characters"));
        let mut named = keyword_rule(vec!["down".into()]);
        named.name = Some("n".repeat(NAME_MAX_CHARS + 1));
        assert!(refused(UrgencyPolicy { rules: vec![named], ..Default::default() }).contains("name"));
        let category = Rule {
            name: None,
            when: Condition::Category("c".repeat(CATEGORY_MAX_CHARS + 1)),
            then: Action::Set(Urgency::Low),
        };
        assert!(refused(UrgencyPolicy { rules: vec![category], ..Default::default() }).contains("category"));
        // At the limits it is fine.
        let full = UrgencyPolicy {
            rules: vec![keyword_rule(words(KEYWORDS_PER_RULE_MAX)); KEYWORDS_TOTAL_MAX / KEYWORDS_PER_RULE_MAX],
            ..Default::default()
        };
        full.validate().expect("at the limits");
    }

    #[test]
    fn adjacent_and_overlapping_keywords_all_match() {
        let rule = |keyword: &str, urgency| Rule {
            name: None,
            when: Condition::AnyKeyword(vec![keyword.into()]),
            then: Action::AtLeast(urgency),
        };
        let policy = UrgencyPolicy {
            rules: vec![
                rule("data", Urgency::Low),
                rule("data loss", Urgency::Normal),
                rule("loss", Urgency::High),
                rule("oss", Urgency::Critical),
            ],
            ..Default::default()
        }
        .compile();
        let decision = policy.apply(&PolicyInput { model_urgency: None, category: None, text: "Data loss!" });
        assert_eq!(decision.matched_rules, vec![0, 1, 2], "whole words only, overlaps included");
    }

    /// What the automaton must agree with: one scan per keyword.
    fn matched_by_scanning(policy: &UrgencyPolicy, input: &PolicyInput<'_>) -> Vec<usize> {
        let padded = format!(" {} ", normalize(input.text, limits::TEXT_SCANNED_MAX_CHARS));
        (0..policy.rules.len())
            .filter(|&index| match &policy.rules[index].when {
                Condition::Category(category) => input.category == Some(category.as_str()),
                Condition::AnyKeyword(keywords) => keywords.iter().any(|keyword| {
                    let keyword = normalize(keyword, usize::MAX);
                    !keyword.is_empty() && padded.contains(&format!(" {keyword} "))
                }),
            })
            .collect()
    }

    proptest! {
        #[test]
        fn the_automaton_matches_what_a_scan_per_keyword_matches(
            policy in policy(),
            parts in input_parts(),
            extra in "[a-z !.]{0,40}",
        ) {
            let (model_urgency, category, text) = parts;
            let text = format!("{text} {extra}");
            let input = PolicyInput { model_urgency, category, text: &text };
            prop_assert_eq!(policy.compile().apply(&input).matched_rules, matched_by_scanning(&policy, &input));
        }

        #[test]
        fn an_empty_policy_keeps_the_model(parts in input_parts(), default in urgency()) {
            let (model_urgency, category, text) = parts;
            let policy = UrgencyPolicy { default_urgency: default, rules: vec![] };
            let decision = policy.apply(&PolicyInput { model_urgency, category, text });
            prop_assert_eq!(decision.urgency, model_urgency.unwrap_or(default));
            prop_assert!(decision.source != UrgencySource::Policy);
        }

        #[test]
        fn rule_order_does_not_matter(policy in policy(), parts in input_parts(), seed in any::<u64>()) {
            let (model_urgency, category, text) = parts;
            let input = PolicyInput { model_urgency, category, text };
            let mut shuffled = policy.clone();
            let n = shuffled.rules.len();
            if n > 1 {
                let rotation = (seed % n as u64) as usize;
                shuffled.rules.rotate_left(rotation);
                shuffled.rules.reverse();
            }
            prop_assert_eq!(policy.apply(&input).urgency, shuffled.apply(&input).urgency);
        }

        #[test]
        fn matched_floors_and_sets_hold(policy in policy(), parts in input_parts()) {
            let (model_urgency, category, text) = parts;
            let decision = policy.apply(&PolicyInput { model_urgency, category, text });
            let matched: Vec<Action> = decision.matched_rules.iter().map(|&i| policy.rules[i].then).collect();
            let sets: Vec<Urgency> = matched.iter().filter_map(|a| match a { Action::Set(u) => Some(*u), _ => None }).collect();
            if let Some(highest) = sets.iter().max() {
                prop_assert_eq!(decision.urgency, *highest);
            } else {
                for action in &matched {
                    if let Action::AtLeast(floor) = action {
                        prop_assert!(decision.urgency >= *floor);
                    }
                }
            }
        }

        #[test]
        fn adding_a_floor_never_lowers(policy in policy(), parts in input_parts(), extra in (condition(), urgency())) {
            let (model_urgency, category, text) = parts;
            let input = PolicyInput { model_urgency, category, text };
            let before = policy.apply(&input).urgency;
            let mut raised = policy.clone();
            raised.rules.push(Rule { name: None, when: extra.0, then: Action::AtLeast(extra.1) });
            prop_assert!(raised.apply(&input).urgency >= before);
        }

        #[test]
        fn applying_twice_changes_nothing(policy in policy(), parts in input_parts()) {
            let (model_urgency, category, text) = parts;
            let once = policy.apply(&PolicyInput { model_urgency, category, text }).urgency;
            let twice = policy.apply(&PolicyInput { model_urgency: Some(once), category, text }).urgency;
            prop_assert_eq!(once, twice);
        }

        #[test]
        fn policies_round_trip_through_json(policy in policy()) {
            let json = serde_json::to_string(&policy).expect("json");
            prop_assert_eq!(serde_json::from_str::<UrgencyPolicy>(&json).expect("parse"), policy);
        }
    }
}
