//! `Store::transition`: the one writer of a ticket's status, on both
//! databases.

use switchboard_core::auth::AccountKind;
use switchboard_core::events::{AutoAnswer, TicketEvent, TransitionDetails};
use switchboard_core::ticket::{NewRequester, Requester};
use switchboard_core::{Action, Actor, Channel, Envelope, EventId, NewTicket, Role, Status, Ticket, TicketId};
use switchboard_core::{CompanyId, Scope, TransitionError};
use switchboard_store::testing::TestStore;
use switchboard_store::{AppendRecord, Error, NewAccount, Projection, ProjectionKind, Store, TransitionRequest};
use time::OffsetDateTime;

fn acme() -> Scope {
    Scope::Company(CompanyId::parse("acme").expect("valid"))
}

fn ticket(company: &str) -> Ticket {
    NewTicket {
        title: Some("The boiler is leaking".into()),
        description: Some("Water on the floor of the plant room".into()),
        requester: Some(NewRequester { email: Some("ana@example.com".into()), name: None }),
        company: Some(company.into()),
        ..NewTicket::default()
    }
    .validate(TicketId::new(), Channel::Api, OffsetDateTime::now_utc())
    .expect("a valid ticket")
}

fn request(ticket: &Ticket, action: Action, role: Role) -> TransitionRequest {
    TransitionRequest {
        ticket_id: ticket.id,
        action,
        actor: Actor { role, account: None },
        event_id: EventId::new(),
        request_id: None,
        details: TransitionDetails::None,
    }
}

fn answer() -> AutoAnswer {
    AutoAnswer {
        faq_id: "boiler-leak".into(),
        question: "What do I do when the boiler leaks?".into(),
        answer: "Close the cold-water inlet valve.".into(),
        confidence: 0.93,
        answered_at: OffsetDateTime::now_utc(),
    }
}

async fn stored(store: &Store, ticket: &Ticket) {
    store.insert_ticket(&Scope::Installation, ticket).await.expect("insert");
}

async fn concurrent_transitions_have_exactly_one_winner_and_one_audit_event(test: TestStore) {
    let store = test.store;
    for round in 0..5 {
        let ticket = ticket("acme");
        stored(&store, &ticket).await;
        // Eight admins open it while the knowledge base answers it: every
        // request leaves `new`, so exactly one may win.
        let mut attempts = Vec::new();
        for index in 0..9 {
            let store = store.clone();
            let request = if index == 4 {
                TransitionRequest {
                    details: TransitionDetails::FaqAnswer(answer()),
                    ..request(&ticket, Action::AnswerFromFaq, Role::System)
                }
            } else {
                request(&ticket, Action::Open, Role::Admin)
            };
            attempts.push(tokio::spawn(async move { store.transition(&acme(), request).await }));
        }
        let mut winners = Vec::new();
        for attempt in attempts {
            match attempt.await.expect("join") {
                Ok(transitioned) => winners.push(transitioned),
                Err(Error::Transition(
                    TransitionError::Conflict { from: Status::New, .. } | TransitionError::InvalidTransition { .. },
                )) => {}
                Err(other) => panic!("round {round}: unexpected error {other:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: exactly one winner");
        let winner = &winners[0];
        let row = store.get_ticket(&Scope::Installation, ticket.id).await.expect("get").expect("present");
        assert_eq!(row.status, winner.to, "the row says what the winner did");
        assert_eq!(row.answered_by_faq.is_some(), winner.to == Status::Resolved);
        let events = store.ticket_events(&acme(), ticket.id).await.expect("events");
        assert_eq!(events.len(), 1, "round {round}: one audit event for one change: {events:?}");
        assert_eq!((events[0].from.as_str(), events[0].to.as_str()), ("new", winner.to.as_str()));
        assert_eq!(events[0].event_id, winner.event_id);
    }
}

async fn a_transition_writes_its_event_to_the_outbox_once(test: TestStore) {
    let store = test.store;
    let ticket = ticket("acme");
    stored(&store, &ticket).await;
    let answered = TransitionRequest {
        details: TransitionDetails::FaqAnswer(answer()),
        request_id: Some("req-7".into()),
        ..request(&ticket, Action::AnswerFromFaq, Role::System)
    };
    let first = store.transition(&acme(), answered.clone()).await.expect("answer");
    assert_eq!((first.from, first.to, first.replayed), (Status::New, Status::Resolved, false));
    // The same request again (a stage handling its message twice) is the
    // same outcome, not a second change or a second event.
    let again = store.transition(&acme(), answered.clone()).await.expect("replay");
    assert_eq!((again.from, again.to, again.replayed), (Status::New, Status::Resolved, true));

    assert!(store.outbox_pending().await.expect("pending"));
    let claimed = store.outbox_claim(10, 30_000_000).await.expect("claim");
    assert_eq!(claimed.len(), 1);
    let envelope: Envelope<TicketEvent> = serde_json::from_slice(&claimed[0].envelope).expect("an envelope");
    assert_eq!(envelope.event_id, answered.event_id);
    assert_eq!(envelope.request_id.as_deref(), Some("req-7"));
    match envelope.payload {
        TicketEvent::AnsweredByFaq { ticket: after, answer } => {
            assert_eq!(after.status, Status::Resolved);
            assert_eq!(answer.faq_id, "boiler-leak");
        }
        other => panic!("{other:?}"),
    }
    // Claimed rows are not handed out twice while the lease runs.
    assert!(store.outbox_claim(10, 30_000_000).await.expect("claim").is_empty());
    store.outbox_mark_relayed(&[claimed[0].seq]).await.expect("mark");
    let events = store.ticket_events(&acme(), ticket.id).await.expect("events");
    assert!(events[0].relayed);
    assert!(!store.outbox_pending().await.expect("pending"), "nothing left to relay");
}

async fn the_same_request_racing_itself_is_carried_out_once(test: TestStore) {
    let store = test.store;
    let ticket = ticket("acme");
    stored(&store, &ticket).await;
    // One message delivered twice at once (say, across a rebalance).
    let open = request(&ticket, Action::Open, Role::Admin);
    let attempts: Vec<_> = (0..6)
        .map(|_| {
            let (store, open) = (store.clone(), open.clone());
            tokio::spawn(async move { store.transition(&acme(), open).await })
        })
        .collect();
    let mut fresh = 0;
    for attempt in attempts {
        let transitioned = attempt.await.expect("join").expect("the same request never conflicts with itself");
        assert_eq!((transitioned.from, transitioned.to), (Status::New, Status::Opened));
        fresh += usize::from(!transitioned.replayed);
    }
    assert_eq!(fresh, 1, "carried out once, replayed for the others");
    assert_eq!(store.ticket_events(&acme(), ticket.id).await.expect("events").len(), 1);
}

async fn refusals_are_typed_and_change_nothing(test: TestStore) {
    let store = test.store;
    let ticket = ticket("acme");
    stored(&store, &ticket).await;
    let refused = store.transition(&acme(), request(&ticket, Action::Close, Role::Admin)).await;
    assert!(
        matches!(refused, Err(Error::Transition(TransitionError::InvalidTransition { from: Status::New, .. }))),
        "{refused:?}"
    );
    let forbidden = store.transition(&acme(), request(&ticket, Action::Open, Role::Customer)).await;
    assert!(matches!(forbidden, Err(Error::Transition(TransitionError::Forbidden { .. }))), "{forbidden:?}");
    // Another company's ticket does not exist for this caller.
    let elsewhere = store
        .transition(
            &Scope::Company(CompanyId::parse("globex").expect("valid")),
            request(&ticket, Action::Open, Role::Admin),
        )
        .await;
    assert!(matches!(elsewhere, Err(Error::TicketNotFound)), "{elsewhere:?}");
    let missing = store.transition(&acme(), request(&self::ticket("acme"), Action::Open, Role::Admin)).await;
    assert!(matches!(missing, Err(Error::TicketNotFound)), "{missing:?}");
    assert_eq!(
        store.get_ticket(&Scope::Installation, ticket.id).await.expect("get").map(|t| t.status),
        Some(Status::New)
    );
    assert!(store.ticket_events(&acme(), ticket.id).await.expect("events").is_empty());
}

async fn a_deleted_requester_is_forgotten_in_every_recorded_copy(test: TestStore) {
    let store = test.store;
    let acme = CompanyId::parse("acme").expect("valid");
    store.create_company(&acme, "Acme").await.expect("company");
    let account = store
        .create_account(&NewAccount {
            company: &acme,
            role: Role::Customer,
            kind: AccountKind::Personal,
            name: "Ivy Example",
            username: "ivy",
            email: "ivy@example.com",
            password_hash: None,
        })
        .await
        .expect("account");
    let filed_by_ivy = || {
        let mut ticket = ticket("acme");
        ticket.requester =
            Requester { email: "ivy@example.com".into(), name: Some("Ivy Example".into()), account: Some(account.id) };
        ticket
    };
    let project = |ticket: Ticket| {
        let store = store.clone();
        async move {
            let projection = Projection {
                kind: ProjectionKind::Submitted,
                ticket: &ticket,
                audit_creation: true,
                filed_by: None,
                request_id: None,
            };
            store.project(&Scope::Installation, &[projection]).await.expect("project");
            ticket
        }
    };
    // A ticket of hers, projected with its audit event; its message on the
    // embedded bus log; and an event about her account.
    let earlier = project(filed_by_ivy()).await;
    let envelope = serde_json::to_vec(&serde_json::json!({"ticket_id": earlier.id, "payload": {"ticket": earlier}}))
        .expect("JSON");
    let account_event = serde_json::to_vec(&serde_json::json!({
        "account_id": account.id,
        "type": "account.password_reset_requested",
        "data": {"email": "ivy@example.com", "name": "Ivy Example"},
    }))
    .expect("JSON");
    for topic in ["tickets.submitted", "accounts.events"] {
        store.log_create_topic(topic).await.expect("topic");
    }
    let record = |topic: &str, key: String, payload: Vec<u8>| AppendRecord {
        topic: topic.into(),
        key: Some(key.into_bytes()),
        payload,
        headers: "{}".into(),
        timestamp_ms: 0,
    };
    store
        .log_append(&[
            record("tickets.submitted", earlier.id.to_string(), envelope),
            record("accounts.events", account.id.to_string(), account_event),
        ])
        .await
        .expect("append");

    assert!(store.delete_account(&Scope::Company(acme.clone()), account.id).await.expect("delete"));
    // A ticket of hers still in flight when she left is stored without her.
    let late = project(filed_by_ivy()).await;

    for ticket in [&earlier, &late] {
        let stored = store.get_ticket(&Scope::Installation, ticket.id).await.expect("get").expect("kept");
        assert_eq!((stored.requester.email.as_str(), stored.requester.name), ("", None));
        assert_eq!(stored.requester.account, Some(account.id));
    }
    let mut copies: Vec<Vec<u8>> =
        store.outbox_claim(100, 60_000_000).await.expect("outbox").into_iter().map(|record| record.envelope).collect();
    assert_eq!(copies.len(), 2, "both tickets' created events");
    for topic in ["tickets.submitted", "accounts.events"] {
        copies.extend(store.log_read(topic, 0, 100).await.expect("log").into_iter().map(|record| record.payload));
    }
    assert_eq!(copies.len(), 4);
    for copy in copies {
        let text = String::from_utf8(copy).expect("UTF-8");
        assert!(!text.contains("ivy@example.com") && !text.contains("Ivy Example"), "{text}");
        assert!(text.contains(&account.id.to_string()), "the copy still names the account: {text}");
    }
}

switchboard_store::test_both_backends!(
    concurrent_transitions_have_exactly_one_winner_and_one_audit_event,
    a_transition_writes_its_event_to_the_outbox_once,
    refusals_are_typed_and_change_nothing,
    the_same_request_racing_itself_is_carried_out_once,
    a_deleted_requester_is_forgotten_in_every_recorded_copy,
);
