//! The webhook schedule on both databases, with a clock the test sets:
//! messages are due when the schedule says, one ticket's messages to one
//! endpoint go one at a time in the order they happened, a stale claim
//! records nothing, a disabled endpoint's messages wait, and an endpoint's
//! failing streak starts and ends with its attempts.

use switchboard_core::config::Secret;
use switchboard_core::ids::WebhookId;
use switchboard_core::notifications::EventType;
use switchboard_core::{CompanyId, EventId, Scope, TicketId};
use switchboard_store::testing::TestStore;
use switchboard_store::{
    AttemptFacts, DeliveryState, FinishedAttempt, MessageOutcome, NewWebhookMessage, Recorded, Replay, WebhookFields,
};
use time::{Duration, OffsetDateTime};

fn company(name: &str) -> CompanyId {
    CompanyId::parse(name).expect("valid")
}

fn facts(at: OffsetDateTime, status: Option<u16>) -> AttemptFacts {
    AttemptFacts {
        attempted_at: at,
        status,
        duration_ms: 12,
        error: status.filter(|status| *status >= 300).map(|status| format!("the server answered {status}")),
        response_excerpt: Some("{}".into()),
    }
}

/// An endpoint's settings: enabled, taking `event_types`.
fn fields(event_types: Vec<EventType>) -> WebhookFields {
    WebhookFields {
        url: "https://hooks.example/in".into(),
        description: None,
        event_types,
        filter: None,
        enabled: true,
    }
}

/// A `ticket.created` message of `ticket` to `endpoint`, of `at`.
fn message(company: &CompanyId, endpoint: WebhookId, ticket: TicketId, at: OffsetDateTime) -> NewWebhookMessage {
    NewWebhookMessage {
        id: EventId::new().0,
        company: company.clone(),
        endpoint,
        event_type: EventType::TicketCreated,
        ticket_id: ticket,
        payload: "{}".into(),
        occurred_at: at,
    }
}

async fn the_schedule_follows_the_clock_and_each_tickets_order(test: TestStore) {
    let store = test.store;
    let acme = company("acme");
    let fields = fields(vec![EventType::TicketCreated]);
    let endpoint = store.create_webhook(&acme, &fields, Secret::new("whsec_x".into())).await.expect("create");
    let (ticket, other_ticket) = (TicketId::new(), TicketId::new());
    let start = OffsetDateTime::now_utc() - Duration::minutes(1);
    let message = |ticket: TicketId, at: OffsetDateTime| message(&acme, endpoint.id, ticket, at);
    let (first, second, elsewhere) =
        (message(ticket, start), message(ticket, start + Duration::seconds(1)), message(other_ticket, start));
    // Stored twice, kept once; stored out of order, claimed in order.
    store.add_webhook_messages(&[second.clone(), first.clone()]).await.expect("add");
    store.add_webhook_messages(&[first.clone(), elsewhere.clone()]).await.expect("add again");
    let lease = Duration::seconds(30);
    let now = OffsetDateTime::now_utc();
    let claimed = store.claim_due_webhook_messages(now, lease, 10).await.expect("claim");
    let mut ids: Vec<_> = claimed.iter().map(|message| message.id).collect();
    ids.sort();
    let mut expected = vec![first.id, elsewhere.id];
    expected.sort();
    assert_eq!(ids, expected, "the ticket's second message waits for its first");
    assert!(store.claim_due_webhook_messages(now, lease, 10).await.expect("claim").is_empty(), "both are leased");
    let claimed_elsewhere = claimed.iter().find(|message| message.id == elsewhere.id).expect("claimed");
    assert!(
        store
            .finish_webhook_attempt(claimed_elsewhere, &facts(now, Some(204)), &MessageOutcome::Delivered)
            .await
            .expect("finish")
    );

    // The first fails: due again in five seconds, on the test's clock.
    let claimed_first = claimed.iter().find(|message| message.id == first.id).expect("claimed").clone();
    let retry_at = now + Duration::seconds(5);
    let mut stale = claimed_first.clone();
    stale.next_attempt_at -= Duration::seconds(1);
    // Recorded together (as the worker's group commit does): the stale
    // claim records nothing, its neighbour is recorded.
    let (failed, retry) = (facts(now, Some(503)), MessageOutcome::Retry(retry_at));
    let recorded = store
        .finish_webhook_attempts(&[
            FinishedAttempt { message: &stale, facts: &failed, outcome: &retry },
            FinishedAttempt { message: &claimed_first, facts: &failed, outcome: &retry },
        ])
        .await
        .expect("finish");
    assert_eq!(recorded, [Recorded::Stale, Recorded::Recorded], "a stale claim records nothing");
    // The second message is past due but blocked: the next due time is the
    // first's retry, so a worker sleeps until then instead of spinning.
    let next_due = store.next_webhook_message_due().await.expect("next").expect("one");
    assert_eq!(next_due.unix_timestamp(), retry_at.unix_timestamp());
    let failing = store.webhook(&acme, endpoint.id).await.expect("get").expect("there");
    assert_eq!(failing.failing_since.map(|at| at.unix_timestamp()), Some(now.unix_timestamp()));
    assert!(
        store.claim_due_webhook_messages(now + Duration::seconds(4), lease, 10).await.expect("claim").is_empty(),
        "not due before its time, and the second still waits"
    );
    let again = store.claim_due_webhook_messages(now + Duration::seconds(6), lease, 10).await.expect("claim");
    assert_eq!(again.iter().map(|message| message.id).collect::<Vec<_>>(), vec![first.id]);
    assert_eq!(again[0].attempts, 1);

    // Delivered: the streak ends and the second message is next.
    let later = now + Duration::seconds(6);
    assert!(
        store
            .finish_webhook_attempt(&again[0], &facts(later, Some(200)), &MessageOutcome::Delivered)
            .await
            .expect("finish")
    );
    assert_eq!(store.webhook(&acme, endpoint.id).await.expect("get").expect("there").failing_since, None);
    let next = store.claim_due_webhook_messages(later, lease, 10).await.expect("claim");
    assert_eq!(next.iter().map(|message| message.id).collect::<Vec<_>>(), vec![second.id]);

    // A 410 disables the endpoint: its messages wait, pending, until it is
    // enabled again.
    let gone = MessageOutcome::DisableEndpoint { reason: "it answered 410 Gone".into() };
    let gone_facts = facts(later, Some(410));
    let finished = FinishedAttempt { message: &next[0], facts: &gone_facts, outcome: &gone };
    assert_eq!(store.finish_webhook_attempts(&[finished]).await.expect("finish"), [Recorded::DisabledEndpoint]);
    let disabled = store.webhook(&acme, endpoint.id).await.expect("get").expect("there");
    assert_eq!((disabled.fields.enabled, disabled.disabled_reason.as_deref()), (false, Some("it answered 410 Gone")));
    let much_later = later + Duration::hours(1);
    assert!(store.claim_due_webhook_messages(much_later, lease, 10).await.expect("claim").is_empty());
    store.update_webhook(&acme, endpoint.id, &fields).await.expect("enable").expect("there");
    let resumed = store.claim_due_webhook_messages(much_later, lease, 10).await.expect("claim");
    assert_eq!(resumed.iter().map(|message| message.id).collect::<Vec<_>>(), vec![second.id]);
    assert!(
        store
            .finish_webhook_attempt(&resumed[0], &facts(much_later, None), &MessageOutcome::Exhausted)
            .await
            .expect("finish")
    );

    // The log: the ticket's messages in the order they happened, and every
    // attempt of the endpoint, newest first.
    let states: Vec<(uuid::Uuid, DeliveryState, u32)> = store
        .webhook_messages_of(&Scope::Company(acme.clone()), ticket)
        .await
        .expect("log")
        .iter()
        .map(|message| (message.id, message.state, message.attempts))
        .collect();
    assert_eq!(states, vec![(first.id, DeliveryState::Delivered, 2), (second.id, DeliveryState::Failed, 2)]);
    assert!(store.webhook_messages_of(&Scope::Company(company("globex")), ticket).await.expect("log").is_empty());
    let attempts = store.webhook_attempts(&acme, endpoint.id, 10).await.expect("attempts");
    let statuses: Vec<Option<u16>> = attempts.iter().map(|attempt| attempt.status).collect();
    assert_eq!(statuses[..3], [None, Some(410), Some(200)]);
    assert_eq!(statuses[3..].iter().filter(|status| **status == Some(503)).count(), 1);
    assert_eq!(statuses.len(), 5, "every attempt, the other ticket's too");
    assert!(store.webhook_attempts(&company("globex"), endpoint.id, 10).await.expect("attempts").is_empty());

    // A replay puts the failed message back, from the schedule's start.
    let replayed = store
        .replay_webhook_messages(&acme, endpoint.id, Replay::FailedSince(start - Duration::hours(1)), much_later)
        .await
        .expect("replay");
    assert_eq!(replayed, 1);
    let again = store.claim_due_webhook_messages(much_later, lease, 10).await.expect("claim");
    assert_eq!(
        again.iter().map(|message| (message.id, message.attempts, message.scheduled_attempts)).collect::<Vec<_>>(),
        vec![(second.id, 2, 0)]
    );
    let pending = Replay::Message(second.id);
    assert_eq!(
        store.replay_webhook_messages(&acme, endpoint.id, pending, much_later).await.expect("replay"),
        0,
        "a pending message is on its schedule already"
    );
    let one = Replay::Message(first.id);
    assert_eq!(
        store.replay_webhook_messages(&company("globex"), endpoint.id, one, much_later).await.expect("replay"),
        0
    );
    assert_eq!(
        store.replay_webhook_messages(&acme, endpoint.id, one, much_later).await.expect("replay"),
        1,
        "a delivered one too"
    );

    // Deleting the endpoint takes its messages and log with it; a message
    // for it stored afterwards (from a notifier's cached list) is left out.
    assert!(store.delete_webhook(&acme, endpoint.id).await.expect("delete"));
    assert!(store.webhook_messages_of(&Scope::Installation, other_ticket).await.expect("log").is_empty());
    store.add_webhook_messages(&[message(other_ticket, start)]).await.expect("add");
    assert!(store.webhook_messages_of(&Scope::Installation, other_ticket).await.expect("log").is_empty());
    assert_eq!(store.next_webhook_message_due().await.expect("next"), None);
}

/// An endpoint's failing streak: it starts with a failure, goes on while
/// failures follow within a day, starts anew after a quiet day, and ends
/// with a success.
async fn a_failing_streak_restarts_after_a_quiet_day(test: TestStore) {
    let store = test.store;
    let acme = company("acme");
    let endpoint =
        store.create_webhook(&acme, &fields(Vec::new()), Secret::new("whsec_x".into())).await.expect("create");
    let start = OffsetDateTime::now_utc();
    // One message per step, each failed (or delivered) at the step's time.
    let step = |at: OffsetDateTime, status: u16| {
        let store = store.clone();
        let acme = acme.clone();
        async move {
            store.add_webhook_messages(&[message(&acme, endpoint.id, TicketId::new(), at)]).await.expect("add");
            let claimed = store
                .claim_due_webhook_messages(OffsetDateTime::now_utc(), Duration::seconds(30), 1)
                .await
                .expect("claim");
            let outcome = if status < 300 { MessageOutcome::Delivered } else { MessageOutcome::Exhausted };
            assert!(
                store.finish_webhook_attempt(&claimed[0], &facts(at, Some(status)), &outcome).await.expect("finish")
            );
            let endpoint = store.webhook(&acme, endpoint.id).await.expect("get").expect("there");
            endpoint.failing_since.map(|since| since.unix_timestamp())
        }
    };
    let hours = |n: i64| start + Duration::hours(n);
    assert_eq!(step(hours(0), 503).await, Some(hours(0).unix_timestamp()), "a failure starts a streak");
    assert_eq!(step(hours(20), 503).await, Some(hours(0).unix_timestamp()), "within a day it goes on");
    assert_eq!(step(hours(50), 503).await, Some(hours(50).unix_timestamp()), "after a quiet day it starts anew");
    assert_eq!(step(hours(51), 200).await, None, "a success ends it");
}

/// Retention: settled messages and attempts older than the cutoff go; a
/// pending message stays however old.
async fn retention_trims_the_settled_log(test: TestStore) {
    let store = test.store;
    let acme = company("acme");
    let endpoint =
        store.create_webhook(&acme, &fields(Vec::new()), Secret::new("whsec_x".into())).await.expect("create");
    let at = OffsetDateTime::now_utc() - Duration::days(40);
    let messages: Vec<NewWebhookMessage> = (0..3).map(|_| message(&acme, endpoint.id, TicketId::new(), at)).collect();
    store.add_webhook_messages(&messages).await.expect("add");
    let claimed = store.claim_due_webhook_messages(OffsetDateTime::now_utc(), Duration::seconds(30), 10).await;
    let mut claimed = claimed.expect("claim");
    claimed.sort_by_key(|message| messages.iter().position(|m| m.id == message.id));
    let (ok, exhausted, retry) =
        (MessageOutcome::Delivered, MessageOutcome::Exhausted, MessageOutcome::Retry(at + Duration::days(100)));
    let (delivered, failed) = (facts(at, Some(200)), facts(at, Some(500)));
    store
        .finish_webhook_attempts(&[
            FinishedAttempt { message: &claimed[0], facts: &delivered, outcome: &ok },
            FinishedAttempt { message: &claimed[1], facts: &failed, outcome: &exhausted },
            FinishedAttempt { message: &claimed[2], facts: &failed, outcome: &retry },
        ])
        .await
        .expect("finish");
    let cutoff = at + Duration::seconds(1);
    let micros = i64::try_from(cutoff.unix_timestamp_nanos() / 1_000).expect("fits");
    // Two settled messages and all three attempts.
    assert_eq!(store.purge_webhook_log(micros).await.expect("purge"), 5);
    let left = store.webhook_messages_of(&Scope::Installation, messages[2].ticket_id).await.expect("log");
    assert_eq!(left.iter().map(|message| message.state).collect::<Vec<_>>(), [DeliveryState::Pending]);
    assert!(store.webhook_messages_of(&Scope::Installation, messages[0].ticket_id).await.expect("log").is_empty());
    assert_eq!(store.purge_webhook_log(micros).await.expect("purge"), 0);
}

switchboard_store::test_both_backends!(
    the_schedule_follows_the_clock_and_each_tickets_order,
    a_failing_streak_restarts_after_a_quiet_day,
    retention_trims_the_settled_log,
);
