//! The outbox of mails on both databases, with a clock the test sets: a
//! mail queued twice is stored once, due when the schedule says, after the
//! earlier mails of its ticket to its address, leased while claimed; a
//! stale claim records nothing, a sent or failed mail keeps no body;
//! deleting the account deletes its mails; templates and preferences
//! round-trip.

use switchboard_core::auth::AccountKind;
use switchboard_core::mail::{MailKind, MailPreferences, MailTemplate};
use switchboard_core::{CompanyId, EventId, Role, Scope, TicketId};
use switchboard_store::testing::TestStore;
use switchboard_store::{DeliveryState, MailAttempt, MailOutcome, NewAccount, NewMail};
use time::{Duration, OffsetDateTime};

fn mail(company: &CompanyId, ticket: TicketId, recipient: &str) -> NewMail {
    NewMail {
        id: EventId::new().0,
        company: company.clone(),
        kind: MailKind::TicketReceived,
        ticket_id: Some(ticket),
        account_id: None,
        recipient: recipient.into(),
        subject: "We received your request".into(),
        text: "text".into(),
        html: "<p>html</p>".into(),
        occurred_at: OffsetDateTime::now_utc(),
    }
}

fn answer(at: OffsetDateTime, code: u16) -> MailAttempt {
    MailAttempt { attempted_at: at, code: Some(code), error: (code >= 400).then(|| format!("{code} try later")) }
}

async fn the_outbox_follows_the_clock_and_forgets_bodies_once_done(test: TestStore) {
    let store = test.store;
    let acme = CompanyId::parse("acme").expect("valid");
    let ticket = TicketId::new();
    let (first, second) = (mail(&acme, ticket, "ana@example.com"), mail(&acme, ticket, "bo@example.com"));
    let later =
        NewMail { occurred_at: first.occurred_at + Duration::seconds(1), ..mail(&acme, ticket, "ana@example.com") };
    store.add_mails(&[later.clone(), first.clone(), second.clone()]).await.expect("add");
    store.add_mails(std::slice::from_ref(&first)).await.expect("add again");
    let now = OffsetDateTime::now_utc();
    let lease = Duration::seconds(30);
    let claimed = store.claim_due_mails(now, lease, 10).await.expect("claim");
    let mut ids: Vec<_> = claimed.iter().map(|claimed| claimed.id).collect();
    ids.sort();
    let mut expected = vec![first.id, second.id];
    expected.sort();
    assert_eq!(ids, expected, "queued twice, stored once; Ana's later mail waits for her first");
    assert!(store.claim_due_mails(now, lease, 10).await.expect("claim").is_empty(), "both are leased");
    assert_eq!(store.next_mail_due().await.expect("next"), Some(claimed[0].next_attempt_at));

    // The second fails for good.
    let second_claimed = claimed.iter().find(|claimed| claimed.id == second.id).expect("claimed");
    let refused = MailAttempt { attempted_at: now, code: Some(550), error: Some("550 no such user".into()) };
    assert!(store.finish_mail_attempt(second_claimed, &refused, &MailOutcome::Failed).await.expect("finish"));

    // The first is refused for now: due again in a minute, on the test's
    // clock; a stale claim records nothing.
    let first_claimed = claimed.iter().find(|claimed| claimed.id == first.id).expect("claimed").clone();
    let retry_at = now + Duration::minutes(1);
    let mut stale = first_claimed.clone();
    stale.next_attempt_at -= Duration::seconds(1);
    let retry = MailOutcome::Retry(retry_at);
    assert!(!store.finish_mail_attempt(&stale, &answer(now, 451), &retry).await.expect("finish"));
    assert!(store.finish_mail_attempt(&first_claimed, &answer(now, 451), &retry).await.expect("finish"));
    assert!(store.claim_due_mails(now + Duration::seconds(59), lease, 10).await.expect("claim").is_empty());
    let again = store.claim_due_mails(retry_at, lease, 10).await.expect("claim");
    assert_eq!((again.len(), again[0].attempts, again[0].last_code), (1, 1, Some(451)));
    assert_eq!(again[0].text, "text", "a pending mail keeps its body");
    assert!(store.finish_mail_attempt(&again[0], &answer(retry_at, 250), &MailOutcome::Sent).await.expect("finish"));
    let next = store.claim_due_mails(retry_at, lease, 10).await.expect("claim");
    assert_eq!(next.iter().map(|claimed| claimed.id).collect::<Vec<_>>(), [later.id], "then her later one");
    assert!(store.finish_mail_attempt(&next[0], &answer(retry_at, 250), &MailOutcome::Sent).await.expect("finish"));

    let log = store.mails_of(&Scope::Company(acme.clone()), ticket).await.expect("log");
    let states: Vec<_> =
        log.iter().map(|mail| (mail.recipient.as_str(), mail.state, mail.attempts, mail.last_code)).collect();
    assert_eq!(
        states,
        [
            ("ana@example.com", DeliveryState::Delivered, 2, Some(250)),
            ("bo@example.com", DeliveryState::Failed, 1, Some(550)),
            ("ana@example.com", DeliveryState::Delivered, 1, Some(250)),
        ]
    );
    assert!(log.iter().all(|mail| mail.text.is_empty() && mail.html.is_empty()), "done mails keep no body");
    let other = CompanyId::parse("globex").expect("valid");
    assert!(store.mails_of(&Scope::Company(other), ticket).await.expect("log").is_empty());
    assert_eq!(store.next_mail_due().await.expect("next"), None);

    // Retention: settled mails before the cutoff go (the failed one, at
    // `now`), those after stay.
    let cutoff = i64::try_from((now + Duration::seconds(1)).unix_timestamp_nanos() / 1_000).expect("fits");
    assert_eq!(store.purge_settled_mails(cutoff).await.expect("purge"), 1);
    let kept = store.mails_of(&Scope::Company(acme.clone()), ticket).await.expect("log");
    assert_eq!(kept.iter().map(|mail| mail.state).collect::<Vec<_>>(), [DeliveryState::Delivered; 2]);
}

async fn a_deleted_account_loses_its_mails_templates_and_preferences_round_trip(test: TestStore) {
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
    assert_eq!(store.mail_preferences(account.id).await.expect("read"), MailPreferences::default());
    let preferences = MailPreferences { muted: vec![MailKind::TicketReceived, MailKind::Resolved] };
    store.set_mail_preferences(account.id, &preferences).await.expect("set");
    assert_eq!(store.mail_preferences(account.id).await.expect("read"), preferences);

    let ticket = TicketId::new();
    let to_ivy = NewMail { account_id: Some(account.id), ..mail(&acme, ticket, "ivy@example.com") };
    store.add_mails(&[to_ivy, mail(&acme, ticket, "staff@example.com")]).await.expect("add");
    assert!(store.delete_account(&Scope::Company(acme.clone()), account.id).await.expect("delete"));
    let left = store.mails_of(&Scope::Company(acme.clone()), ticket).await.expect("log");
    assert_eq!(left.iter().map(|mail| mail.recipient.as_str()).collect::<Vec<_>>(), ["staff@example.com"]);
    assert_eq!(store.mail_preferences(account.id).await.expect("read"), MailPreferences::default());

    let template = MailTemplate { subject: "Hi".into(), text: "t".into(), html: "h".into() };
    store.put_mail_template(&acme, MailKind::Shared, &template).await.expect("put");
    let changed = MailTemplate { subject: "Hello".into(), ..template };
    store.put_mail_template(&acme, MailKind::Shared, &changed).await.expect("put again");
    let templates = store.mail_templates(&acme).await.expect("list");
    assert_eq!(
        templates.iter().map(|record| (record.kind, &record.template)).collect::<Vec<_>>(),
        [(MailKind::Shared, &changed)]
    );
    assert!(store.delete_mail_template(&acme, MailKind::Shared).await.expect("delete"));
    assert!(!store.delete_mail_template(&acme, MailKind::Shared).await.expect("delete again"));
    assert!(store.mail_templates(&acme).await.expect("list").is_empty());
}

switchboard_store::test_both_backends!(
    the_outbox_follows_the_clock_and_forgets_bodies_once_done,
    a_deleted_account_loses_its_mails_templates_and_preferences_round_trip,
);
