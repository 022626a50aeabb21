//! Support mail read over IMAP from a real server (Dovecot, started by the
//! test): every message becomes one ticket of the mailbox's company and is
//! marked `\Seen` on the server only after; mail arriving while the poller
//! waits in IDLE is taken at once; and a `switchboard` process killed with
//! SIGKILL in the middle of a batch, then started again, still makes each
//! message exactly one ticket.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::imap::{Dovecot, append, customer_mail};
use common::{WAIT, cli_api_key, client_with_token, spawn_app_with, spawn_process};
use serde_json::Value;

/// How many tickets the company has per title.
async fn titles(client: &reqwest::Client, base: &str) -> BTreeMap<String, usize> {
    let response = client.get(format!("{base}/v1/tickets?limit=500")).send().await.expect("send");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let body: Value = response.json().await.expect("JSON");
    assert!(body["next_cursor"].is_null(), "one page holds them all");
    let mut titles = BTreeMap::new();
    for ticket in body["items"].as_array().expect("items") {
        *titles.entry(ticket["title"].as_str().expect("title").to_owned()).or_insert(0) += 1;
    }
    titles
}

/// Waits until the company has a ticket of each of `expected` titles.
async fn wait_for_titles(client: &reqwest::Client, base: &str, expected: &[String]) -> BTreeMap<String, usize> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let found = titles(client, base).await;
        if expected.iter().all(|title| found.contains_key(title)) {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "tickets missing: {:?}",
            expected.iter().filter(|title| !found.contains_key(*title)).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until every message of the mailbox is `\Seen`.
async fn wait_until_all_seen(dovecot: &Dovecot, count: usize) {
    let mut session = dovecot.client().await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let seen = Dovecot::seen(&mut session).await;
        if seen.len() == count && seen.values().all(|seen| *seen) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "not all seen: {seen:?}\n{}", dovecot.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn subjects(numbers: impl IntoIterator<Item = usize>) -> Vec<String> {
    numbers.into_iter().map(|number| format!("Mail {number}")).collect()
}

/// Each expected title exactly once, and nothing else.
fn assert_once_each(found: &BTreeMap<String, usize>, expected: &[String]) {
    let want: BTreeMap<String, usize> = expected.iter().map(|title| (title.clone(), 1)).collect();
    assert_eq!(found, &want, "each mail is exactly one ticket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailbox_messages_become_tickets_once_and_are_marked_seen_and_idle_wakes_the_poller() {
    let Some(binary) = common::imap::installed() else { return };
    let dovecot = Dovecot::start(binary).await;
    const MAILS: usize = 40;
    // Polling every ten minutes: within the test's deadline only IDLE can
    // bring the poller mail that arrives while it waits.
    let app = spawn_app_with(|config| {
        config.ingest.imap.mailboxes = vec![dovecot.mailbox("acme", 600)];
    })
    .await;
    let run = uuid::Uuid::new_v4().simple().to_string();

    let mut session = dovecot.client().await;
    for number in 1..=MAILS {
        append(&mut session, &customer_mail(number, &run)).await;
    }
    let expected = subjects(1..=MAILS);
    wait_for_titles(&app.client, &app.url(""), &expected).await;
    wait_until_all_seen(&dovecot, MAILS).await;

    // Once it has taken everything the poller waits in IDLE; a mail that
    // arrives then is taken at once.
    let deadline = tokio::time::Instant::now() + WAIT;
    while !dovecot.poller_idles() {
        assert!(tokio::time::Instant::now() < deadline, "the poller never went into IDLE\n{}", dovecot.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    append(&mut session, &customer_mail(MAILS + 1, &run)).await;
    let expected = subjects(1..=MAILS + 1);
    let found = wait_for_titles(&app.client, &app.url(""), &expected).await;
    wait_until_all_seen(&dovecot, MAILS + 1).await;
    assert_once_each(&found, &expected);

    let list: Value = common::get_json(&app.client, &app.url("/v1/tickets?limit=1")).await;
    let ticket = &list["items"][0];
    assert_eq!(ticket["title"], "Mail 41");
    assert_eq!(ticket["requester"]["email"], "ann@customer.example");
    assert_eq!(ticket["company"], "acme");
    assert_eq!(ticket["channel"], "email");
    app.running.stop().await.expect("a clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn messages_become_tickets_once_across_a_sigkill_of_the_poller_mid_batch() {
    let Some(binary) = common::imap::installed() else { return };
    let dovecot = Dovecot::start(binary).await;
    const MAILS: usize = 60;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut session = dovecot.client().await;
    for number in 1..=MAILS {
        append(&mut session, &customer_mail(number, &run)).await;
    }

    let directory = tempfile::tempdir().expect("temporary directory");
    let config_file = directory.path().join("switchboard.toml");
    // One partition: the last ticket projected means all before it were.
    let config = format!(
        "[bus]\npartitions = 1\n[ingest.email]\nper_sender_per_hour = 1000\n{}",
        dovecot.mailbox_toml("acme", 600, 25)
    );
    std::fs::write(&config_file, config).expect("config file");
    let data = directory.path().join("data").display().to_string();
    let envs = vec![("SWITCHBOARD_CONFIG".to_owned(), config_file.display().to_string())];
    let args = ["up", "--data-dir", data.as_str(), "--listen", "127.0.0.1:0"];
    // The company (and a key to read its tickets) before the poller runs.
    let key = cli_api_key(&["--data-dir", data.as_str()], &envs).await;
    let reader = client_with_token(&key);

    let mut first = spawn_process(&args, &envs, directory.path(), "first.log").await;
    // Killed once it has marked a few messages, well before the last.
    let deadline = tokio::time::Instant::now() + WAIT;
    let seen_at_kill = loop {
        let seen = Dovecot::seen(&mut session).await.values().filter(|seen| **seen).count();
        if seen >= 3 {
            first.kill9().await;
            break Dovecot::seen(&mut session).await.values().filter(|seen| **seen).count();
        }
        assert!(tokio::time::Instant::now() < deadline, "nothing taken; log:\n{}", first.log_text());
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert!(seen_at_kill < MAILS, "the poller was killed before it finished the mailbox ({seen_at_kill} seen)");
    eprintln!("killed with {seen_at_kill} of {MAILS} messages marked seen");

    let second = spawn_process(&args, &envs, directory.path(), "second.log").await;
    let expected = subjects(1..=MAILS);
    wait_until_all_seen(&dovecot, MAILS).await;
    wait_for_titles(&reader, &second.url(""), &expected).await;
    // A last mail as a barrier: once its ticket is projected, so is every
    // ticket produced before it (one partition).
    append(&mut session, &customer_mail(MAILS + 1, &run)).await;
    let expected = subjects(1..=MAILS + 1);
    let found = wait_for_titles(&reader, &second.url(""), &expected).await;
    wait_until_all_seen(&dovecot, MAILS + 1).await;
    assert_once_each(&found, &expected);
    let log = second.log_text();
    assert!(log.contains("imap mailbox selected"), "the second process read the mailbox; log:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_over_the_hourly_limit_does_not_hold_up_the_others() {
    let Some(binary) = common::imap::installed() else { return };
    let dovecot = Dovecot::start(binary).await;
    let app = spawn_app_with(|config| {
        config.ingest.imap.mailboxes = vec![dovecot.mailbox("acme", 1)];
        config.ingest.email.per_sender_per_hour = 2;
    })
    .await;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut session = dovecot.client().await;
    // Ann sends three (one over her limit), then Bob one.
    for number in 1..=3 {
        append(&mut session, &customer_mail(number, &run)).await;
    }
    let bob = customer_mail(4, &run).replace("Ann Customer <ann@customer.example>", "Bob <bob@customer.example>");
    append(&mut session, &bob).await;

    let found = wait_for_titles(&app.client, &app.url(""), &subjects([1, 2, 4])).await;
    assert_once_each(&found, &subjects([1, 2, 4]));
    // Bob's mail is taken and marked; Ann's third waits, unmarked, and
    // becomes no ticket while her limit lasts, however often it is read.
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut check = dovecot.client().await;
    loop {
        let seen = Dovecot::seen(&mut check).await;
        let marked: Vec<bool> = seen.values().copied().collect();
        if marked == [true, true, false, true] {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{seen:?}\n{}", dovecot.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_once_each(&titles(&app.client, &app.url("")).await, &subjects([1, 2, 4]));
    let seen = Dovecot::seen(&mut check).await;
    assert_eq!(
        seen.values().copied().collect::<Vec<_>>(),
        [true, true, false, true],
        "still waiting, and still once each"
    );
}
