//! The live-update feed on both databases: notifications are numbered in
//! the order they are recorded, once each however often they are recorded,
//! read per company or for all, and purged by age. Writers running at once
//! never commit a smaller number behind a larger one a reader has seen.

use serde_json::json;
use switchboard_core::notifications::{EventType, Notification};
use switchboard_core::{AccountId, CompanyId, EventId, TicketId};
use switchboard_store::testing::TestStore;
use switchboard_store::{Audience, NewLiveEvent};
use time::OffsetDateTime;

fn notification(company: &str, kind: EventType) -> Notification {
    Notification {
        id: EventId::new(),
        kind,
        company: CompanyId::parse(company).expect("valid"),
        ticket_id: TicketId::new(),
        ticket: None,
        occurred_at: OffsetDateTime::now_utc(),
        data: json!({}),
    }
}

/// A ticket filed by `customer`.
fn ticket_of(customer: AccountId) -> switchboard_core::Ticket {
    let new = switchboard_core::NewTicket {
        title: Some("Printer on fire".into()),
        requester: Some(switchboard_core::ticket::NewRequester { email: Some("ana@example.com".into()), name: None }),
        company: Some("acme".into()),
        ..switchboard_core::NewTicket::default()
    };
    let mut ticket =
        new.validate(TicketId::new(), switchboard_core::Channel::Api, OffsetDateTime::now_utc()).expect("valid");
    ticket.requester.account = Some(customer);
    ticket
}

async fn record(store: &switchboard_store::Store, notifications: &[Notification]) {
    let bodies: Vec<String> = notifications.iter().map(Notification::body).collect();
    let live: Vec<NewLiveEvent<'_>> =
        notifications.iter().zip(&bodies).map(|(notification, body)| NewLiveEvent { notification, body }).collect();
    store.record_notifications(&live, &[], &[]).await.expect("record");
}

async fn the_feed_numbers_each_notification_once_in_order(test: TestStore) {
    let store = test.store;
    assert_eq!(store.last_live_seq().await.expect("last"), 0, "an empty feed");
    let acme = [notification("acme", EventType::TicketCreated), notification("acme", EventType::TicketRouted)];
    let globex = notification("globex", EventType::TicketCreated);
    record(&store, &acme).await;
    record(&store, std::slice::from_ref(&globex)).await;
    // The same notifications again (a redelivered bus message): no new rows.
    record(&store, &acme).await;

    let all = store.live_events_after(0, &Audience::Everyone, 10).await.expect("read");
    assert_eq!(all.len(), 3);
    assert!(all.windows(2).all(|pair| pair[0].seq < pair[1].seq));
    assert_eq!(store.last_live_seq().await.expect("last"), all[2].seq);
    assert_eq!(all[1].event_type, "ticket.routed");
    assert!(all[1].staff_only && !all[0].staff_only, "routing is for staff");
    assert_eq!(all[0].payload, acme[0].body());

    let acme_company = CompanyId::parse("acme").expect("valid");
    let acme_only = store.live_events_after(0, &Audience::Staff(acme_company.clone()), 10).await.expect("read");
    assert_eq!(acme_only.iter().map(|event| event.seq).collect::<Vec<_>>(), [all[0].seq, all[1].seq]);
    // A customer: their own tickets' entries that are not staff-only.
    let customer = AccountId::new();
    let mut theirs = notification("acme", EventType::TicketCreated);
    theirs.ticket = Some(ticket_of(customer));
    let mut routed = notification("acme", EventType::TicketRouted);
    routed.ticket = Some(ticket_of(customer));
    record(&store, &[theirs.clone(), routed, notification("acme", EventType::TicketCreated)]).await;
    let audience = Audience::Customer(acme_company.clone(), Some(customer));
    let seen = store.live_events_after(0, &audience, 10).await.expect("read");
    assert_eq!(seen.iter().map(|event| event.payload.as_str()).collect::<Vec<_>>(), [theirs.body()]);
    let nobody = Audience::Customer(acme_company.clone(), None);
    assert!(store.live_events_after(0, &nobody, 10).await.expect("read").is_empty());
    // In memory, each audience sees what the store selects for it.
    let everything = store.live_events_after(0, &Audience::Everyone, 100).await.expect("read");
    let globex = Audience::Staff(CompanyId::parse("globex").expect("valid"));
    for audience in [Audience::Everyone, Audience::Staff(acme_company.clone()), globex, audience, nobody] {
        let selected = store.live_events_after(0, &audience, 100).await.expect("read");
        let filtered: Vec<_> = everything.iter().filter(|event| audience.sees(event)).cloned().collect();
        assert_eq!(selected, filtered, "{audience:?}");
    }
    let after_first = store.live_events_after(all[0].seq, &Audience::Everyone, 1).await.expect("read");
    assert_eq!(after_first, [all[1].clone()], "after a number, at most `limit`");

    // Purged by age; numbers are never handed out again.
    let last = store.last_live_seq().await.expect("last");
    let future = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000 + 1_000_000;
    assert_eq!(store.purge_live_events(i64::try_from(future).expect("fits")).await.expect("purge"), 6);
    record(&store, &[notification("acme", EventType::TicketCreated)]).await;
    let after_purge = store.live_events_after(0, &Audience::Everyone, 10).await.expect("read");
    assert_eq!(after_purge.len(), 1);
    assert!(after_purge[0].seq > last, "{} after {last}", after_purge[0].seq);
}

async fn concurrent_writers_commit_in_number_order(test: TestStore) {
    let store = test.store;
    let writers: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in 0..25 {
                    record(&store, &[notification("acme", EventType::TicketCreated)]).await;
                }
            })
        })
        .collect();
    // A reader following the feed as a live stream does: whatever it has
    // seen up to, nothing smaller appears later.
    let mut seen: Vec<i64> = Vec::new();
    let mut cursor = 0;
    let mut writing = true;
    while writing {
        writing = writers.iter().any(|writer| !writer.is_finished());
        for event in store.live_events_after(cursor, &Audience::Everyone, 500).await.expect("read") {
            seen.push(event.seq);
            cursor = event.seq;
        }
        tokio::task::yield_now().await;
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    let all: Vec<i64> =
        store.live_events_after(0, &Audience::Everyone, 500).await.expect("read").iter().map(|e| e.seq).collect();
    assert_eq!(seen, all, "the follower missed nothing");
}

switchboard_store::test_both_backends!(
    the_feed_numbers_each_notification_once_in_order,
    concurrent_writers_commit_in_number_order,
);
