//! One repository suite, run against SQLite and PostgreSQL.

use std::collections::HashSet;

use switchboard_core::ticket::{NewEquipment, NewRequester};
use switchboard_core::{
    Action, Actor, Channel, CompanyId, EventId, NewTicket, Role, Scope, Status, Ticket, TicketId, Urgency,
};
use switchboard_store::testing::TestStore;
use switchboard_store::{
    AppendRecord, Error, IdempotencyOutcome, IdempotencyRecord, ImapPosition, InsertOutcome, TicketFilter,
    TransitionRequest,
};
use time::{Duration, OffsetDateTime};

fn ticket(title: &str, company: &str, tags: &[&str], created_at: OffsetDateTime) -> Ticket {
    NewTicket {
        title: Some(title.into()),
        description: Some(format!("about {title}")),
        requester: Some(NewRequester { email: Some("ana@example.com".into()), name: Some("Ana".into()) }),
        company: Some(company.into()),
        tags: Some(tags.iter().map(|tag| (*tag).to_owned()).collect()),
        equipment: Some(NewEquipment { model: Some("X-100".into()), serial: None }),
    }
    .validate(TicketId::new(), Channel::Api, created_at)
    .expect("a valid ticket")
}

async fn tickets_round_trip_exactly(test: TestStore) {
    let store = test.store;
    let original = ticket("Printer jams", "acme", &["printer", "paper"], OffsetDateTime::now_utc());
    assert_eq!(store.insert_ticket(&Scope::Installation, &original).await.expect("insert"), InsertOutcome::Inserted);
    let read = store.get_ticket(&Scope::Installation, original.id).await.expect("get").expect("present");
    // Timestamps keep microseconds.
    assert_eq!(read.created_at.unix_timestamp_nanos() / 1000, original.created_at.unix_timestamp_nanos() / 1000);
    assert_eq!(Ticket { created_at: original.created_at, ..read }, original);
    assert!(store.get_ticket(&Scope::Installation, TicketId::new()).await.expect("get").is_none());
}

async fn inserting_twice_changes_nothing(test: TestStore) {
    let store = test.store;
    let original = ticket("Once", "acme", &["a"], OffsetDateTime::now_utc());
    assert_eq!(store.insert_ticket(&Scope::Installation, &original).await.expect("insert"), InsertOutcome::Inserted);
    let mut changed = original.clone();
    changed.title = "Twice".into();
    assert_eq!(
        store.insert_ticket(&Scope::Installation, &changed).await.expect("insert"),
        InsertOutcome::AlreadyExisted
    );
    assert_eq!(
        store.get_ticket(&Scope::Installation, original.id).await.expect("get").map(|t| t.title),
        Some("Once".into())
    );
    assert_eq!(store.count_tickets().await.expect("count"), 1);
}

async fn a_batch_insert_reports_each_ticket(test: TestStore) {
    let store = test.store;
    let existing = ticket("old", "acme", &["x"], OffsetDateTime::now_utc());
    store.insert_ticket(&Scope::Installation, &existing).await.expect("insert");
    let fresh = ticket("new", "acme", &["x", "y"], OffsetDateTime::now_utc());
    let outcomes = store
        .insert_tickets(&Scope::Installation, &[fresh.clone(), existing.clone(), fresh.clone()])
        .await
        .expect("batch");
    assert_eq!(outcomes, vec![InsertOutcome::Inserted, InsertOutcome::AlreadyExisted, InsertOutcome::AlreadyExisted]);
    assert_eq!(store.count_tickets().await.expect("count"), 2);
    let tagged = store
        .list_tickets(&Scope::Installation, &TicketFilter { tag: Some("y".into()), ..Default::default() }, 10, None)
        .await
        .expect("list");
    assert_eq!(tagged.items.len(), 1);
}

async fn filters_select_the_right_tickets(test: TestStore) {
    let store = test.store;
    let base = OffsetDateTime::now_utc() - Duration::hours(10);
    let mut all = Vec::new();
    for index in 0..12_i64 {
        let company = if index % 2 == 0 { "acme" } else { "globex" };
        let tags: &[&str] = if index % 3 == 0 { &["vip"] } else { &[] };
        let mut item = ticket(&format!("ticket {index}"), company, tags, base + Duration::hours(index));
        if index % 4 == 0 {
            item.urgency = Some(Urgency::Critical);
        }
        store.insert_ticket(&Scope::Installation, &item).await.expect("insert");
        if index % 4 == 0 {
            let open = TransitionRequest {
                ticket_id: item.id,
                action: Action::Open,
                actor: Actor { role: Role::Admin, account: None },
                event_id: EventId::new(),
                request_id: None,
                details: Default::default(),
            };
            store.transition(&Scope::Installation, open).await.expect("open");
        }
        all.push(item);
    }
    let in_scope = |scope: Scope, filter: TicketFilter| {
        let store = store.clone();
        async move {
            let page = store.list_tickets(&scope, &filter, 100, None).await.expect("list");
            page.items.into_iter().map(|t| t.title).collect::<HashSet<_>>()
        }
    };
    let ids = |filter: TicketFilter| in_scope(Scope::Installation, filter);
    let company = |name: &str| Scope::Company(CompanyId::parse(name).expect("valid"));
    let expect = |predicate: &dyn Fn(usize) -> bool| {
        (0..12).filter(|index| predicate(*index)).map(|index| format!("ticket {index}")).collect::<HashSet<_>>()
    };
    assert_eq!(in_scope(company("acme"), TicketFilter::default()).await, expect(&|i| i % 2 == 0));
    assert_eq!(ids(TicketFilter { tag: Some("vip".into()), ..Default::default() }).await, expect(&|i| i % 3 == 0));
    assert_eq!(
        ids(TicketFilter { urgency: Some(Urgency::Critical), ..Default::default() }).await,
        expect(&|i| i % 4 == 0)
    );
    assert_eq!(ids(TicketFilter { statuses: vec![Status::New], ..Default::default() }).await, expect(&|i| i % 4 != 0));
    assert_eq!(
        ids(TicketFilter {
            created_after: Some(base + Duration::hours(3)),
            created_before: Some(base + Duration::hours(7)),
            ..Default::default()
        })
        .await,
        expect(&|i| (3..7).contains(&i))
    );
    assert_eq!(
        in_scope(company("acme"), TicketFilter { tag: Some("vip".into()), ..Default::default() }).await,
        expect(&|i| i % 6 == 0)
    );
    assert!(in_scope(company("nobody"), TicketFilter::default()).await.is_empty());
    // Another company's ticket is not there for a company scope, for reading
    // or for writing.
    let globex_ticket = &all[1];
    assert_eq!(globex_ticket.company, "globex");
    assert!(store.get_ticket(&company("acme"), globex_ticket.id).await.expect("get").is_none());
    assert!(store.get_ticket(&company("globex"), globex_ticket.id).await.expect("get").is_some());
    assert!(!store.set_staff_labels(&company("acme"), staff(globex_ticket.id), Some("x"), None).await.expect("label"));
    let foreign = store.insert_ticket(&company("acme"), &ticket("smuggled", "globex", &[], base)).await;
    assert!(matches!(foreign, Err(Error::OutOfScope)), "{foreign:?}");
}

async fn pages_cover_everything_once_newest_first(test: TestStore) {
    let store = test.store;
    let mut inserted = Vec::new();
    for index in 0..23 {
        let item = ticket(&format!("t{index}"), "acme", &[], OffsetDateTime::now_utc());
        store.insert_ticket(&Scope::Installation, &item).await.expect("insert");
        inserted.push(item.id);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .list_tickets(&Scope::Installation, &TicketFilter::default(), 5, cursor.as_deref())
            .await
            .expect("list");
        assert!(page.items.len() <= 5);
        seen.extend(page.items.iter().map(|t| t.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    inserted.reverse();
    assert_eq!(seen, inserted);
    assert!(matches!(
        store.list_tickets(&Scope::Installation, &TicketFilter::default(), 5, Some("nonsense")).await,
        Err(Error::InvalidCursor)
    ));
}

fn record(topic: &str, payload: &str) -> AppendRecord {
    AppendRecord {
        topic: topic.into(),
        key: Some(payload.as_bytes().to_vec()),
        payload: payload.as_bytes().to_vec(),
        headers: "[]".into(),
        timestamp_ms: 1,
    }
}

async fn the_log_appends_densely_and_reads_in_order(test: TestStore) {
    let store = test.store;
    assert!(store.log_create_topic("a").await.expect("create"));
    assert!(!store.log_create_topic("a").await.expect("create again"));
    store.log_create_topic("b").await.expect("create");
    let offsets = store
        .log_append(&[record("a", "a0"), record("b", "b0"), record("a", "a1"), record("a", "a2")])
        .await
        .expect("append");
    assert_eq!(offsets, vec![0, 0, 1, 2]);
    let offsets = store.log_append(&[record("a", "a3")]).await.expect("append");
    assert_eq!(offsets, vec![3]);
    let read = store.log_read("a", 1, 2).await.expect("read");
    assert_eq!(
        read.iter().map(|r| (r.offset, r.payload.clone())).collect::<Vec<_>>(),
        vec![(1, b"a1".to_vec()), (2, b"a2".to_vec())]
    );
    assert_eq!(store.log_topics().await.expect("topics").get("a"), Some(&4));

    // An unknown topic fails the whole batch.
    assert!(matches!(
        store.log_append(&[record("a", "lost"), record("nope", "x")]).await,
        Err(Error::UnknownTopic(topic)) if topic == "nope"
    ));
    assert_eq!(store.log_read("a", 0, 100).await.expect("read").len(), 4);

    store.log_commit_offsets("g", &[("a".into(), 3), ("b".into(), 1)]).await.expect("commit");
    store.log_commit_offsets("g", &[("a".into(), 4)]).await.expect("commit");
    // A late commit of an older position does not rewind the group.
    store.log_commit_offsets("g", &[("a".into(), 2), ("b".into(), 0)]).await.expect("stale commit");
    let committed = store.log_committed_offsets("g").await.expect("offsets");
    assert_eq!((committed.get("a"), committed.get("b")), (Some(&4), Some(&1)));
    assert_eq!(store.log_min_committed_offset("a").await.expect("min"), Some(4));
    assert_eq!(store.log_truncate("a", 2, 10).await.expect("truncate"), 2);
    assert_eq!(store.log_read("a", 0, 100).await.expect("read").first().map(|r| r.offset), Some(2));
}

async fn concurrent_appends_get_unique_dense_offsets(test: TestStore) {
    let store = test.store;
    store.log_create_topic("busy").await.expect("create");
    let writers = (0..8).map(|writer| {
        let store = store.clone();
        async move {
            let mut offsets = Vec::new();
            for batch in 0..10 {
                let records: Vec<_> = (0..5).map(|i| record("busy", &format!("{writer}-{batch}-{i}"))).collect();
                offsets.extend(store.log_append(&records).await.expect("append"));
            }
            offsets
        }
    });
    let mut offsets: Vec<i64> = futures::future::join_all(writers).await.into_iter().flatten().collect();
    offsets.sort_unstable();
    assert_eq!(offsets, (0..400).collect::<Vec<i64>>());
    assert_eq!(store.log_read("busy", 0, 1000).await.expect("read").len(), 400);
}

async fn idempotency_keys_claim_once(test: TestStore) {
    let store = test.store;
    let first = IdempotencyRecord {
        request_hash: vec![1; 32],
        ticket_id: TicketId::new().0,
        message: b"message".to_vec(),
        accepted: false,
    };
    let day = 86_400_000_000;
    let (acme, globex) = (CompanyId::parse("acme").expect("valid"), CompanyId::parse("globex").expect("valid"));
    assert_eq!(
        store.claim_idempotency_key(&acme, "k1", &first, day).await.expect("claim"),
        IdempotencyOutcome::Claimed
    );
    let second = IdempotencyRecord { ticket_id: TicketId::new().0, ..first.clone() };
    assert_eq!(
        store.claim_idempotency_key(&acme, "k1", &second, day).await.expect("claim"),
        IdempotencyOutcome::Existing(first.clone())
    );
    // Keys are per company: another company's same key is its own claim.
    assert_eq!(
        store.claim_idempotency_key(&globex, "k1", &second, day).await.expect("claim"),
        IdempotencyOutcome::Claimed
    );
    store.mark_idempotency_key_accepted(&acme, "k1").await.expect("mark");
    let IdempotencyOutcome::Existing(existing) =
        store.claim_idempotency_key(&acme, "k1", &second, day).await.expect("claim")
    else {
        panic!("expected the earlier claim");
    };
    assert!(existing.accepted);
    assert_eq!(existing.ticket_id, first.ticket_id);
    // An expired claim is forgotten.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(store.claim_idempotency_key(&acme, "k1", &second, 1).await.expect("claim"), IdempotencyOutcome::Claimed);
    assert_eq!(store.purge_idempotency_keys(1_000_000_000).await.expect("purge"), 0);
}

async fn a_company_scope_writes_only_its_own_faqs(test: TestStore) {
    let store = test.store;
    let acme = Scope::Company(CompanyId::parse("acme").expect("valid"));
    let shared = switchboard_core::kb::Faq::new("shared", "For everyone?", vec!["Yes.".into()]);
    let globex = switchboard_core::kb::Faq {
        company: Some("globex".into()),
        ..switchboard_core::kb::Faq::new("theirs", "Globex?", vec!["G.".into()])
    };
    store.upsert_faqs(&Scope::Installation, &[shared.clone(), globex.clone()]).await.expect("upsert");
    let own = switchboard_core::kb::Faq {
        company: Some("acme".into()),
        ..switchboard_core::kb::Faq::new("ours", "Acme?", vec!["A.".into()])
    };
    assert_eq!(store.upsert_faqs(&acme, std::slice::from_ref(&own)).await.expect("own"), [true]);
    // Another company's article and a shared one cannot be written.
    for not_ours in [globex.clone(), shared.clone()] {
        let result = store.upsert_faqs(&acme, std::slice::from_ref(&not_ours)).await;
        assert!(matches!(result, Err(Error::OutOfScope)), "{}: {result:?}", not_ours.id);
    }
    // A shared article's id is taken in every company's view (the company
    // sees that article, so saying so reveals nothing).
    let over_shared = switchboard_core::kb::Faq { company: Some("acme".into()), ..shared.clone() };
    let refused = store.upsert_faqs(&acme, std::slice::from_ref(&over_shared)).await;
    assert!(
        matches!(&refused, Err(Error::Refused { code: "faq_id_taken", message }) if message.contains("`shared` is the id of a shared article")),
        "{refused:?}"
    );
    let seen: Vec<String> =
        store.list_faqs(&acme, None, 10).await.expect("list").into_iter().map(|faq| faq.id).collect();
    assert_eq!(seen, ["ours", "shared"], "its own and the shared ones");
    assert!(store.get_faq(&acme, "theirs").await.expect("get").is_none());
    assert!(!store.delete_faq(&acme, "theirs").await.expect("delete"));
    assert!(!store.delete_faq(&acme, "shared").await.expect("delete"));
    assert_eq!(
        store.get_faq(&Scope::Installation, "shared").await.expect("get").map(|faq| faq.question),
        Some("For everyone?".into())
    );
}

async fn two_companies_may_use_the_same_faq_id(test: TestStore) {
    let store = test.store;
    let (acme, globex) = (
        Scope::Company(CompanyId::parse("acme").expect("valid")),
        Scope::Company(CompanyId::parse("globex").expect("valid")),
    );
    let article = |company: &str, question: &str| switchboard_core::kb::Faq {
        company: Some(company.into()),
        ..switchboard_core::kb::Faq::new("reset-password", question, vec![format!("{company}'s answer.")])
    };
    assert_eq!(store.upsert_faqs(&globex, &[article("globex", "Globex reset?")]).await.expect("globex"), [true]);
    assert_eq!(store.upsert_faqs(&acme, &[article("acme", "Acme reset?")]).await.expect("acme"), [true]);
    // Replacing one company's article leaves the other's as it was.
    assert_eq!(store.upsert_faqs(&acme, &[article("acme", "Acme reset, reworded?")]).await.expect("again"), [false]);
    let question = |faq: Option<switchboard_core::kb::Faq>| faq.map(|faq| faq.question);
    assert_eq!(
        question(store.get_faq(&acme, "reset-password").await.expect("get")),
        Some("Acme reset, reworded?".into())
    );
    assert_eq!(question(store.get_faq(&globex, "reset-password").await.expect("get")), Some("Globex reset?".into()));
    assert_eq!(
        question(store.get_faq_of(Some("globex"), "reset-password").await.expect("get")),
        Some("Globex reset?".into())
    );
    assert_eq!(store.get_faq(&Scope::Installation, "reset-password").await.expect("get"), None, "no shared one");
    // A shared article cannot take an id a company uses; the operator is
    // told which companies.
    let refused = store
        .upsert_faqs(
            &Scope::Installation,
            &[switchboard_core::kb::Faq::new("reset-password", "Shared?", vec!["S.".into()])],
        )
        .await;
    assert!(
        matches!(&refused, Err(Error::Refused { code: "faq_id_taken", message }) if message.starts_with("acme, globex have an article `reset-password` of their own")),
        "{refused:?}"
    );
    // Deleting is per owner too.
    assert!(store.delete_faq(&acme, "reset-password").await.expect("delete"));
    assert_eq!(store.get_faq(&acme, "reset-password").await.expect("get"), None);
    assert_eq!(question(store.get_faq(&globex, "reset-password").await.expect("get")), Some("Globex reset?".into()));
    assert_eq!(store.all_faqs().await.expect("all").len(), 1);
}

/// An IMAP mailbox's position is kept per key, replaced as a whole (a new
/// UIDVALIDITY starts the count again) and survives a new connection.
async fn imap_positions_are_kept_per_mailbox(test: TestStore) {
    let store = &test.store;
    let key = "acme/imap.example.com/support@acme.example/INBOX";
    let other = "acme/imap.example.com/billing@acme.example/INBOX";
    assert_eq!(store.imap_position(key).await.expect("read"), None);
    store.set_imap_position(key, ImapPosition { uid_validity: 7, last_uid: 40 }).await.expect("write");
    store.set_imap_position(other, ImapPosition { uid_validity: 3, last_uid: 2 }).await.expect("write");
    store.set_imap_position(key, ImapPosition { uid_validity: 7, last_uid: 41 }).await.expect("advance");
    let reopened = switchboard_store::Store::connect(&test.url, 1).await.expect("reconnect");
    assert_eq!(reopened.imap_position(key).await.expect("read"), Some(ImapPosition { uid_validity: 7, last_uid: 41 }));
    let highest = ImapPosition { uid_validity: u32::MAX, last_uid: u32::MAX };
    store.set_imap_position(key, highest).await.expect("renumbered");
    assert_eq!(store.imap_position(key).await.expect("read"), Some(highest), "the whole u32 range round-trips");
    assert_eq!(store.imap_position(other).await.expect("read"), Some(ImapPosition { uid_validity: 3, last_uid: 2 }));
}

switchboard_store::test_both_backends!(
    imap_positions_are_kept_per_mailbox,
    a_company_scope_writes_only_its_own_faqs,
    two_companies_may_use_the_same_faq_id,
    tickets_round_trip_exactly,
    inserting_twice_changes_nothing,
    a_batch_insert_reports_each_ticket,
    filters_select_the_right_tickets,
    pages_cover_everything_once_newest_first,
    the_log_appends_densely_and_reads_in_order,
    concurrent_appends_get_unique_dense_offsets,
    idempotency_keys_claim_once,
);

/// A staff member's change of ticket `ticket_id`.
fn staff(ticket_id: switchboard_core::TicketId) -> switchboard_store::Change<'static> {
    switchboard_store::Change {
        ticket_id,
        actor: switchboard_core::Actor { role: switchboard_core::Role::Engineer, account: None },
        request_id: None,
    }
}
