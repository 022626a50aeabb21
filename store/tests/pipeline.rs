//! Projections of pipeline events, the knowledge base's tables, settings and
//! triage models, on SQLite and PostgreSQL.

use switchboard_core::events::{AutoAnswer, Classification, Report, Suggestion, SuggestionKind, Triage, UrgencySource};
use switchboard_core::kb::Faq;
use switchboard_core::ticket::NewRequester;
use switchboard_core::{Channel, NewTicket, Status, Ticket, TicketId, Urgency};
use switchboard_core::{CompanyId, Scope};
use switchboard_store::testing::TestStore;
use switchboard_store::{LabelField, Projection, ProjectionKind, Store, TicketFilter};
use time::OffsetDateTime;

fn ticket(title: &str) -> Ticket {
    NewTicket {
        title: Some(title.into()),
        description: Some("details".into()),
        requester: Some(NewRequester { email: Some("ana@example.com".into()), name: None }),
        company: Some("acme".into()),
        tags: Some(vec!["printer".into()]),
        ..NewTicket::default()
    }
    .validate(TicketId::new(), Channel::Api, OffsetDateTime::now_utc())
    .expect("valid")
}

fn triaged(mut ticket: Ticket, category: &str, urgency: Urgency, unsure: bool) -> Ticket {
    ticket.category = Some(category.into());
    ticket.urgency = Some(urgency);
    ticket.triage = Some(Triage {
        category: Classification {
            label: Some(category.into()),
            confidence: 0.9,
            out_of_scope: false,
            model_version: "cat-1".into(),
        },
        urgency_model: Classification {
            label: Some(urgency.as_str().into()),
            confidence: 0.7,
            out_of_scope: false,
            model_version: "urg-1".into(),
        },
        urgency,
        urgency_source: UrgencySource::Model,
        needs_human: unsure,
        triaged_at: OffsetDateTime::now_utc(),
    });
    ticket
}

fn project(kind: ProjectionKind, ticket: &Ticket) -> Projection<'_> {
    Projection::of(kind, ticket)
}

async fn stage_events_apply_in_any_order(test: TestStore) {
    let store = test.store;
    let submitted = ticket("jammed");
    let with_triage = triaged(submitted.clone(), "hardware", Urgency::High, false);
    // The triage event is projected before the submission.
    store.project(&Scope::Installation, &[project(ProjectionKind::Triaged, &with_triage)]).await.expect("triaged");
    store.project(&Scope::Installation, &[project(ProjectionKind::Submitted, &submitted)]).await.expect("submitted");
    let read = store.get_ticket(&Scope::Installation, submitted.id).await.expect("get").expect("present");
    assert_eq!(read.category.as_deref(), Some("hardware"));
    assert_eq!(read.urgency, Some(Urgency::High));
    assert_eq!(read.triage, with_triage.triage);

    let mut matched = with_triage.clone();
    matched.suggestions = Some(vec![Suggestion {
        kind: SuggestionKind::Faq,
        id: "faq-1".into(),
        title: "How to clear a jam".into(),
        snippet: "Open tray 2".into(),
        score: 12.5,
        confidence: 0.93,
    }]);
    matched.answered_by_faq = Some(AutoAnswer {
        faq_id: "faq-1".into(),
        question: "How to clear a jam".into(),
        answer: "Open tray 2".into(),
        confidence: 0.93,
        answered_at: OffsetDateTime::now_utc(),
    });
    matched.status = Status::Resolved;
    store.project(&Scope::Installation, &[project(ProjectionKind::Matched, &matched)]).await.expect("matched");
    // A redelivered triage event changes nothing the match set.
    store.project(&Scope::Installation, &[project(ProjectionKind::Triaged, &with_triage)]).await.expect("again");
    let read = store.get_ticket(&Scope::Installation, submitted.id).await.expect("get").expect("present");
    assert_eq!(read.suggestions, matched.suggestions);
    // Status and answer are `transition`'s alone: a stage's snapshot that
    // claims otherwise changes neither.
    assert_eq!(read.answered_by_faq, None);
    assert_eq!(read.status, Status::New);
}

async fn staff_labels_survive_stages_and_feed_training(test: TestStore) {
    let store = test.store;
    let original = ticket("wrongly classified");
    store.insert_ticket(&Scope::Installation, &original).await.expect("insert");
    assert!(
        store
            .set_staff_labels(&Scope::Installation, staff(original.id), Some("billing"), Some(Urgency::Low))
            .await
            .expect("label")
    );
    assert!(
        !store
            .set_staff_labels(&Scope::Installation, staff(TicketId::new()), Some("billing"), None)
            .await
            .expect("label")
    );
    let model_says = triaged(original.clone(), "hardware", Urgency::Critical, true);
    store.project(&Scope::Installation, &[project(ProjectionKind::Triaged, &model_says)]).await.expect("triaged");
    let read = store.get_ticket(&Scope::Installation, original.id).await.expect("get").expect("present");
    assert_eq!((read.category.as_deref(), read.urgency), (Some("billing"), Some(Urgency::Low)));
    assert!(read.triage.is_some_and(|triage| triage.needs_human));

    let human_queue = store
        .list_tickets(
            &Scope::Installation,
            &TicketFilter { needs_human_triage: Some(true), ..Default::default() },
            10,
            None,
        )
        .await;
    assert_eq!(human_queue.expect("list").items.len(), 1);
    let labelled = store.staff_labelled_tickets(&company("acme"), LabelField::Category, 100).await.expect("examples");
    assert_eq!(labelled.iter().map(|t| t.category.clone()).collect::<Vec<_>>(), vec![Some("billing".to_owned())]);
    assert!(
        store.staff_labelled_tickets(&company("other"), LabelField::Urgency, 100).await.expect("examples").is_empty()
    );
}

fn faq(id: &str, question: &str) -> Faq {
    Faq {
        id: id.into(),
        question: question.into(),
        answers: vec!["Do this.".into()],
        tags: vec!["howto".into()],
        equipment_model: None,
        language: "en".into(),
        published: true,
        company: None,
        phrasings: vec![],
        created_at: OffsetDateTime::now_utc(),
        updated_at: OffsetDateTime::now_utc(),
    }
}

async fn faqs_and_reports(test: TestStore) {
    let store = test.store;
    let created =
        store.upsert_faqs(&Scope::Installation, &[faq("b", "Second?"), faq("a", "First?")]).await.expect("upsert");
    assert_eq!(created, vec![true, true]);
    let mut changed = faq("a", "First, reworded?");
    changed.published = false;
    assert_eq!(store.upsert_faqs(&Scope::Installation, &[changed]).await.expect("upsert"), vec![false]);
    let read = store.get_faq(&Scope::Installation, "a").await.expect("get").expect("present");
    assert_eq!((read.question.as_str(), read.published), ("First, reworded?", false));
    assert_eq!(
        store
            .list_faqs(&Scope::Installation, None, 1)
            .await
            .expect("list")
            .iter()
            .map(|f| f.id.clone())
            .collect::<Vec<_>>(),
        ["a"]
    );
    assert_eq!(store.list_faqs(&Scope::Installation, Some("a"), 10).await.expect("list").len(), 1);
    assert!(store.delete_faq(&Scope::Installation, "b").await.expect("delete"));
    assert!(!store.delete_faq(&Scope::Installation, "b").await.expect("delete"));
    assert_eq!(store.all_faqs().await.expect("all").len(), 1);

    let resolved = ticket("fixed it");
    let report = Report { malfunction: "fuser broken".into(), solution: "replaced fuser".into(), ..Report::default() };
    store.upsert_report(&resolved, &report).await.expect("report");
    store.upsert_report(&resolved, &report).await.expect("report again");
    let reports = store.all_reports(&Scope::Installation).await.expect("reports");
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].report, report);
    assert_eq!(reports[0].ticket_id, resolved.id);
}

async fn settings_and_thresholds(test: TestStore) {
    let store = test.store;
    assert_eq!(store.auto_answer_threshold(&id("acme")).await.expect("read"), None, "off by default");
    store.set_auto_answer_threshold(&id("acme"), Some(0.85)).await.expect("set");
    assert_eq!(store.auto_answer_threshold(&id("acme")).await.expect("read"), Some(0.85));
    store.set_auto_answer_threshold(&id("acme"), None).await.expect("unset");
    assert_eq!(store.auto_answer_threshold(&id("acme")).await.expect("read"), None);
    assert_eq!(store.get_setting("k").await.expect("get"), None);
    store.put_setting("k", "{\"a\":1}").await.expect("put");
    store.put_setting("k", "{\"a\":2}").await.expect("put");
    assert_eq!(store.get_setting("k").await.expect("get").as_deref(), Some("{\"a\":2}"));
}

async fn one_active_model_per_task_and_owner(test: TestStore) {
    let store = test.store;
    for company in ["acme", "globex"] {
        store.create_company(&CompanyId::parse(company).expect("id"), company).await.expect("company");
    }
    let acme = CompanyId::parse("acme").expect("id");
    let meta = serde_json::json!({"accuracy": 0.9});
    let first = store.insert_triage_model(None, "category", "v1", b"one", &meta, true).await.expect("insert");
    let second = store.insert_triage_model(None, "category", "v2", b"two", &meta, false).await.expect("insert");
    store.insert_triage_model(None, "urgency", "u1", b"three", &meta, true).await.expect("insert");
    // A company's active model does not displace the installation's.
    let own = store.insert_triage_model(Some(&acme), "category", "a1", b"four", &meta, true).await.expect("insert");
    let active = |store: Store| async move {
        let active = store.active_triage_models().await.expect("active");
        active
            .into_iter()
            .map(|model| (model.company.map(|c| c.to_string()), model.task, model.version))
            .collect::<Vec<_>>()
    };
    let owned = |company: Option<&str>, task: &str, version: &str| {
        (company.map(str::to_owned), task.to_owned(), version.to_owned())
    };
    assert_eq!(
        active(store.clone()).await,
        [owned(None, "category", "v1"), owned(None, "urgency", "u1"), owned(Some("acme"), "category", "a1")]
    );
    let installation = Scope::Installation;
    assert!(store.set_triage_model_active(&installation, second, true).await.expect("activate"));
    assert!(!store.set_triage_model_active(&installation, uuid::Uuid::now_v7(), true).await.expect("activate"));
    // A company switches only its own models.
    let acme_scope = Scope::Company(acme.clone());
    let globex_scope = Scope::Company(CompanyId::parse("globex").expect("id"));
    assert!(!store.set_triage_model_active(&acme_scope, first, true).await.expect("activate"));
    assert!(!store.set_triage_model_active(&globex_scope, own, false).await.expect("deactivate"));
    assert_eq!(
        active(store.clone()).await,
        [owned(None, "category", "v2"), owned(None, "urgency", "u1"), owned(Some("acme"), "category", "a1")]
    );
    assert!(store.set_triage_model_active(&acme_scope, own, false).await.expect("deactivate"));
    assert_eq!(active(store.clone()).await, [owned(None, "category", "v2"), owned(None, "urgency", "u1")]);
    assert_eq!(store.triage_model_artefact(second).await.expect("artefact").as_deref(), Some(&b"two"[..]));
    // Each company sees its own models and the installation's.
    assert_eq!(store.list_triage_models(&installation).await.expect("list").len(), 4);
    let acme_sees = store.list_triage_models(&acme_scope).await.expect("list");
    assert_eq!(acme_sees.len(), 4);
    assert_eq!(acme_sees[0].id, own);
    assert_eq!(acme_sees[0].company.as_ref(), Some(&acme));
    assert!(acme_sees.iter().any(|model| model.id == first && !model.active));
    let globex_sees = store.list_triage_models(&globex_scope).await.expect("list");
    assert_eq!(globex_sees.len(), 3);
    assert!(globex_sees.iter().all(|model| model.company.is_none()));
}

switchboard_store::test_both_backends!(
    stage_events_apply_in_any_order,
    staff_labels_survive_stages_and_feed_training,
    faqs_and_reports,
    settings_and_thresholds,
    one_active_model_per_task_and_owner,
);

fn id(name: &str) -> CompanyId {
    CompanyId::parse(name).expect("valid")
}

fn company(name: &str) -> Scope {
    Scope::Company(id(name))
}

/// A staff member's change of ticket `ticket_id`.
fn staff(ticket_id: switchboard_core::TicketId) -> switchboard_store::Change<'static> {
    switchboard_store::Change {
        ticket_id,
        actor: switchboard_core::Actor { role: switchboard_core::Role::Engineer, account: None },
        request_id: None,
    }
}
