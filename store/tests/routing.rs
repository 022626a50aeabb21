//! Routing rulesets on both databases: each change is a new version, one
//! version per company is active, and rolling back activates an old one.

use switchboard_core::CompanyId;
use switchboard_core::filter::Query;
use switchboard_core::routing::{Rule, RuleAction, Ruleset};
use switchboard_core::ticket::Urgency;
use switchboard_store::testing::TestStore;

fn company(name: &str) -> CompanyId {
    CompanyId::parse(name).expect("valid")
}

fn ruleset(name: &str, when: &str) -> Ruleset {
    Ruleset {
        rules: vec![Rule {
            name: name.into(),
            enabled: true,
            when: Query::parse(when).expect("parses"),
            then: vec![RuleAction::SetUrgency { urgency: Urgency::High }],
            stop: false,
        }],
    }
}

async fn versions_are_immutable_and_one_is_active(test: TestStore) {
    let store = test.store;
    let acme = company("acme");
    assert_eq!(store.active_ruleset(&acme).await.expect("active"), None);
    let first = store.create_ruleset(&acme, &ruleset("vip", "tag:vip"), None).await.expect("v1");
    let second = store.create_ruleset(&acme, &ruleset("fire", "fire OR smoke"), None).await.expect("v2");
    assert_eq!((first.version, second.version), (1, 2));
    let other = store.create_ruleset(&company("globex"), &ruleset("x", ""), None).await.expect("globex v1");
    assert_eq!(other.version, 1, "versions count per company");

    let active = store.active_ruleset(&acme).await.expect("active").expect("one");
    assert_eq!((active.version, active.ruleset.clone()), (2, ruleset("fire", "fire OR smoke")));
    assert!(store.activate_ruleset(&acme, 1).await.expect("roll back"));
    assert_eq!(store.active_ruleset(&acme).await.expect("active").map(|record| record.version), Some(1));
    assert!(!store.activate_ruleset(&acme, 7).await.expect("no such version"));
    assert_eq!(store.active_ruleset(&acme).await.expect("active").map(|record| record.version), Some(1));

    let listed: Vec<(u32, bool)> =
        store.rulesets(&acme).await.expect("list").iter().map(|record| (record.version, record.active)).collect();
    assert_eq!(listed, vec![(2, false), (1, true)]);
    assert_eq!(store.ruleset(&acme, 2).await.expect("get").map(|record| record.ruleset), Some(second.ruleset));
    assert_eq!(store.ruleset(&company("globex"), 2).await.expect("get"), None);
    assert_eq!(store.active_ruleset(&company("globex")).await.expect("active").map(|record| record.version), Some(1));
}

switchboard_store::test_both_backends!(versions_are_immutable_and_one_is_active);
