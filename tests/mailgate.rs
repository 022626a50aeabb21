//! `switchboard mailgate` as an MTA runs it: the mail on standard input,
//! the answer in its exit code, with Switchboard up, down, and refusing the
//! mail.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::spawn_app;

const MAIL: &str = "From: Ann Lee <ann@customer.example>\r\nTo: support@acme.example\r\nSubject: Boiler pressure drops\r\n\
Message-ID: <gate.1@customer.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
The pressure falls below 1 bar every night.\r\n";

/// Runs the gate with `mail` on stdin: (exit code, stderr).
fn gate(url: &str, key_file: &std::path::Path, mail: &str) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["mailgate", "--url", url, "--key-file"])
        .arg(key_file)
        .args(["--timeout", "20"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the gate");
    child.stdin.take().expect("stdin").write_all(mail.as_bytes()).expect("write the mail");
    let output = child.wait_with_output().expect("wait");
    (output.status.code().expect("an exit code"), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_answers_its_mta_in_exit_codes() {
    let app = spawn_app().await;
    let key = common::inbound_mail_key(&app, &["support@acme.example"]).await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let key_file = dir.path().join("mailgate.key");
    std::fs::write(&key_file, format!("{key}\n")).expect("write the key");
    let url = app.url("");

    // Up: taken (0), and a ticket.
    let (code, stderr) = tokio::task::spawn_blocking({
        let (url, key_file) = (url.clone(), key_file.clone());
        move || gate(&url, &key_file, MAIL)
    })
    .await
    .expect("join");
    assert_eq!(code, 0, "{stderr}");
    let tickets = common::wait_for_json(&app.client, &app.url("/v1/tickets"), "the mail's ticket", |body| {
        body["items"].as_array().is_some_and(|items| !items.is_empty())
    })
    .await;
    assert_eq!(tickets["items"][0]["title"], "Boiler pressure drops");
    assert_eq!(tickets["items"][0]["channel"], "email");

    // Refused for good (no recipient of acme's): 65, with the reason.
    let stray = MAIL.replace("support@acme.example", "sales@else.example").replace("gate.1@", "gate.2@");
    let (code, stderr) = tokio::task::spawn_blocking({
        let (url, key_file) = (url.clone(), key_file.clone());
        move || gate(&url, &key_file, &stray)
    })
    .await
    .expect("join");
    assert_eq!(code, 65, "{stderr}");
    assert!(stderr.contains("422") && stderr.contains("inbound address"), "{stderr}");

    // A wrong key (a configuration mistake): the MTA keeps the mail and
    // retries (75) rather than bouncing it.
    std::fs::write(&key_file, "sbk_not-a-key").expect("write");
    let (code, stderr) = tokio::task::spawn_blocking({
        let (url, key_file) = (url.clone(), key_file.clone());
        move || gate(&url, &key_file, MAIL)
    })
    .await
    .expect("join");
    assert_eq!(code, 75, "{stderr}");

    // Down: nothing listens there any more; 75.
    std::fs::write(&key_file, &key).expect("write");
    app.running.stop().await.expect("stop");
    let (code, stderr) = tokio::task::spawn_blocking(move || gate(&url, &key_file, MAIL)).await.expect("join");
    assert_eq!(code, 75, "{stderr}");
    assert!(stderr.contains("cannot be reached"), "{stderr}");
}

#[test]
fn a_missing_key_file_or_empty_input_is_said_plainly() {
    let (code, stderr) = gate("http://127.0.0.1:9", std::path::Path::new("/nonexistent/key"), MAIL);
    assert_eq!(code, 78, "{stderr}");
    assert!(stderr.contains("cannot read the key file"), "{stderr}");
    let dir = tempfile::tempdir().expect("temporary directory");
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, "sbk_x").expect("write");
    let (code, stderr) = gate("http://127.0.0.1:9", &key_file, "");
    assert_eq!(code, 66, "{stderr}");
}
