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

/// A delivery's outcome counts only while its claim holds, and a fallback
/// never takes a ticket back from the server an admin sent it to.
async fn stale_claims_change_nothing_and_fallbacks_respect_a_later_choice(test: TestStore) {
    use switchboard_core::events::Routing;
    use switchboard_core::ids::ServerId;
    use switchboard_core::routing::{Decision, Destination};
    use switchboard_core::{Channel, NewTicket, Scope, TicketId};
    use switchboard_store::{AttemptOutcome, DeliveryState, NewDelivery, NewRouting};

    let store = test.store;
    let ticket = NewTicket {
        title: Some("Printer jams".into()),
        requester: Some(switchboard_core::ticket::NewRequester { email: Some("a@b.co".into()), name: None }),
        company: Some("acme".into()),
        ..NewTicket::default()
    }
    .validate(TicketId::new(), Channel::Api, time::OffsetDateTime::now_utc())
    .expect("valid");
    store.insert_ticket(&Scope::Installation, &ticket).await.expect("insert");
    let read = store.ticket_with_routing(&Scope::Installation, ticket.id).await.expect("read").expect("there");
    assert_eq!((read.0.id, read.1), (ticket.id, None), "not routed yet");
    let (first, admins_choice, fallback) = (ServerId::new(), ServerId::new(), ServerId::new());
    let delivery = |server: ServerId| NewDelivery {
        id: uuid::Uuid::now_v7(),
        server,
        reason: "routed".into(),
        payload: "{}".into(),
    };
    let routing = Routing {
        ruleset_version: None,
        decision: Decision {
            destination: Destination::Central,
            reason: "test".into(),
            urgency: None,
            add_tags: vec![],
            assignee: None,
            trace: vec![],
        },
        team: None,
        server: Some(first),
        server_reason: "test".into(),
        assignment: None,
    };
    let recorded = store
        .record_routing(NewRouting { ticket: &ticket, routing: &routing, delivery: Some(delivery(first)) })
        .await
        .expect("route");
    assert!(recorded);
    let (routed, record) =
        store.ticket_with_routing(&Scope::Company(company("acme")), ticket.id).await.expect("read").expect("there");
    let record = record.expect("routed");
    assert_eq!((routed.server, record.routing.server), (Some(first), Some(first)));
    assert_eq!((record.ticket_id, record.company), (ticket.id, company("acme")));
    assert_eq!(record.routing.decision, routing.decision);
    let elsewhere = store.ticket_with_routing(&Scope::Company(company("globex")), ticket.id).await.expect("read");
    assert!(elsewhere.is_none(), "another company's ticket is not found");
    let claimed = store.claim_due_deliveries(time::Duration::seconds(60), 10).await.expect("claim");
    assert_eq!(claimed.len(), 1);
    let mut stale = claimed[0].clone();
    stale.next_attempt_at -= time::Duration::seconds(1);
    let retry = AttemptOutcome::Retry {
        status: Some(503),
        error: "busy".into(),
        next_attempt_at: time::OffsetDateTime::now_utc(),
    };
    assert!(!store.finish_attempt(&stale, &retry).await.expect("finish"), "a stale claim records nothing");

    // An admin sends the ticket elsewhere while the first server fails.
    store.add_deliveries(&company("acme"), &[(ticket.id, delivery(admins_choice))]).await.expect("distribute");
    let give_up = AttemptOutcome::GiveUp { status: None, error: "down".into(), fallback: Some(delivery(fallback)) };
    assert!(store.finish_attempt(&claimed[0], &give_up).await.expect("finish"));
    let log: Vec<(ServerId, DeliveryState)> = store
        .deliveries_of(&Scope::Installation, ticket.id)
        .await
        .expect("log")
        .iter()
        .map(|record| (record.server, record.state))
        .collect();
    assert_eq!(log, vec![(first, DeliveryState::Failed), (admins_choice, DeliveryState::Pending)]);
    let (stored, record) =
        store.ticket_with_routing(&Scope::Installation, ticket.id).await.expect("get").expect("there");
    assert_eq!(
        (stored.server, record.and_then(|record| record.routing.server)),
        (Some(admins_choice), Some(admins_choice))
    );
}

switchboard_store::test_both_backends!(
    versions_are_immutable_and_one_is_active,
    stale_claims_change_nothing_and_fallbacks_respect_a_later_choice,
);
