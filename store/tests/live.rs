//! The live-update feed on both databases: notifications are numbered in
//! the order they are recorded, once each however often they are recorded,
//! read per company or for all, and purged by age. Writers running at once
//! never commit a smaller number behind a larger one a reader has seen.

use serde_json::json;
use switchboard_core::notifications::{EventType, Notification};
use switchboard_core::{CompanyId, EventId, TicketId};
use switchboard_store::NewLiveEvent;
use switchboard_store::testing::TestStore;
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

async fn record(store: &switchboard_store::Store, notifications: &[Notification]) {
    let bodies: Vec<String> = notifications.iter().map(Notification::body).collect();
    let live: Vec<NewLiveEvent<'_>> =
        notifications.iter().zip(&bodies).map(|(notification, body)| NewLiveEvent { notification, body }).collect();
    store.record_notifications(&live, &[]).await.expect("record");
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

    let all = store.live_events_after(0, None, 10).await.expect("read");
    assert_eq!(all.len(), 3);
    assert!(all.windows(2).all(|pair| pair[0].seq < pair[1].seq));
    assert_eq!(store.last_live_seq().await.expect("last"), all[2].seq);
    assert_eq!(all[1].event_type, "ticket.routed");
    assert!(all[1].staff_only && !all[0].staff_only, "routing is for staff");
    assert_eq!(all[0].payload, acme[0].body());

    let acme_company = CompanyId::parse("acme").expect("valid");
    let acme_only = store.live_events_after(0, Some(&acme_company), 10).await.expect("read");
    assert_eq!(acme_only.iter().map(|event| event.seq).collect::<Vec<_>>(), [all[0].seq, all[1].seq]);
    let after_first = store.live_events_after(all[0].seq, None, 1).await.expect("read");
    assert_eq!(after_first, [all[1].clone()], "after a number, at most `limit`");

    // Purged by age; numbers are never handed out again.
    let future = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000 + 1_000_000;
    assert_eq!(store.purge_live_events(i64::try_from(future).expect("fits")).await.expect("purge"), 3);
    record(&store, &[notification("acme", EventType::TicketCreated)]).await;
    let after_purge = store.live_events_after(0, None, 10).await.expect("read");
    assert_eq!(after_purge.len(), 1);
    assert!(after_purge[0].seq > all[2].seq, "{} after {}", after_purge[0].seq, all[2].seq);
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
        for event in store.live_events_after(cursor, None, 500).await.expect("read") {
            seen.push(event.seq);
            cursor = event.seq;
        }
        tokio::task::yield_now().await;
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    let all: Vec<i64> = store.live_events_after(0, None, 500).await.expect("read").iter().map(|e| e.seq).collect();
    assert_eq!(seen, all, "the follower missed nothing");
}

switchboard_store::test_both_backends!(
    the_feed_numbers_each_notification_once_in_order,
    concurrent_writers_commit_in_number_order,
);
