//! The filter language's SQL selects exactly the tickets its in-memory
//! evaluation selects, on both databases: random tickets are stored (some
//! dismissed, some answered from an FAQ, so that statuses differ), then
//! random queries list them through `list_tickets` and are evaluated on the
//! tickets as the store gives them back.

use std::collections::BTreeSet;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use switchboard_core::events::{AutoAnswer, TransitionDetails};
use switchboard_core::filter::testing::{arbitrary_query, arbitrary_ticket};
use switchboard_core::filter::{Query, Subject};
use switchboard_core::{Action, Actor, EventId, Role, Scope, Ticket, TicketId};
use switchboard_store::testing::TestStore;
use switchboard_store::{MAX_PAGE_SIZE, Store, TicketFilter, TransitionRequest};
use time::OffsetDateTime;

const TICKETS: usize = 120;

async fn stored_tickets(store: &Store) -> Vec<Ticket> {
    let mut runner = TestRunner::deterministic();
    let strategy = arbitrary_ticket();
    let mut tickets = Vec::with_capacity(TICKETS);
    for _ in 0..TICKETS {
        tickets.push(strategy.new_tree(&mut runner).expect("a ticket").current());
    }
    store.insert_tickets(&Scope::Installation, &tickets).await.expect("insert");
    for (index, ticket) in tickets.iter().enumerate() {
        let (action, role, details) = match index % 4 {
            1 => (Action::Dismiss, Role::Admin, TransitionDetails::None),
            2 => (
                Action::AnswerFromFaq,
                Role::System,
                TransitionDetails::FaqAnswer(AutoAnswer {
                    faq_id: "paper-jam".into(),
                    question: "How do I clear a paper jam?".into(),
                    answer: "Open tray 2.".into(),
                    confidence: 0.95,
                    answered_at: OffsetDateTime::now_utc(),
                }),
            ),
            _ => continue,
        };
        let request = TransitionRequest {
            ticket_id: ticket.id,
            action,
            actor: Actor { role, account: None },
            event_id: EventId::new(),
            request_id: None,
            details,
        };
        store.transition(&Scope::Installation, request).await.expect("transition");
    }
    let mut stored = Vec::with_capacity(TICKETS);
    for ticket in &tickets {
        stored.push(store.get_ticket(&Scope::Installation, ticket.id).await.expect("get").expect("stored"));
    }
    stored
}

async fn listed(store: &Store, query: &Query) -> BTreeSet<TicketId> {
    let filter = TicketFilter { query: query.clone(), ..TicketFilter::default() };
    let page = store.list_tickets(&Scope::Installation, &filter, MAX_PAGE_SIZE, None).await.expect("list");
    assert!(page.next_cursor.is_none(), "one page holds them all");
    page.items.into_iter().map(|ticket| ticket.id).collect()
}

async fn sql_and_memory_select_the_same_tickets(test: TestStore) {
    let store = test.store;
    let tickets = stored_tickets(&store).await;
    let subjects: Vec<Subject<'_>> = tickets.iter().map(Subject::new).collect();
    let handle = tokio::runtime::Handle::current();
    let mut runner = TestRunner::new(Config { cases: 400, failure_persistence: None, ..Config::default() });
    let selective = std::cell::Cell::new(0usize);
    let outcome = runner.run(&arbitrary_query(), |query| {
        let in_memory: BTreeSet<TicketId> =
            subjects.iter().filter(|subject| query.matches(subject)).map(|subject| subject.ticket().id).collect();
        let in_sql = tokio::task::block_in_place(|| handle.block_on(listed(&store, &query)));
        if !in_memory.is_empty() && in_memory.len() < tickets.len() {
            selective.set(selective.get() + 1);
        }
        if in_memory != in_sql {
            let only_memory: Vec<_> = in_memory.difference(&in_sql).collect();
            let only_sql: Vec<_> = in_sql.difference(&in_memory).collect();
            return Err(TestCaseError::fail(format!(
                "`{query}`: only in memory {only_memory:?}, only in SQL {only_sql:?}"
            )));
        }
        Ok(())
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
    // The comparison means something only if queries split the tickets.
    let selective = selective.get();
    assert!(selective > 100, "only {selective} of 400 queries selected some but not all tickets");
}

/// Conditions the random queries reach only by chance, checked by name.
async fn chosen_queries_select_what_they_say(test: TestStore) {
    let store = test.store;
    let tickets = stored_tickets(&store).await;
    for text in [
        "status:closed",
        "status>=resolved answered:false",
        "answered:true",
        "\"paper jam\"",
        "100%",
        "café",
        "requester.domain:example.com",
        "-has:tag",
        "tag:\"étage 3\"",
        "equipment.model:\"HP M404\" OR has:equipment.serial",
        "confidence.category<=0.6 -unsure:true",
        "created>=2026-01-02 created<2026-01-03",
    ] {
        let query = Query::parse(text).expect("parses");
        let expected: BTreeSet<TicketId> =
            tickets.iter().filter(|ticket| query.matches(&Subject::new(ticket))).map(|ticket| ticket.id).collect();
        assert!(!expected.is_empty() && expected.len() < tickets.len(), "`{text}` selects {}", expected.len());
        assert_eq!(listed(&store, &query).await, expected, "`{text}`");
    }
}

switchboard_store::test_both_backends!(sql_and_memory_select_the_same_tickets, chosen_queries_select_what_they_say);
