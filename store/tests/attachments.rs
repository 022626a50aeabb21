//! Attachments on both databases: a ticket's files are recorded once when
//! the projector sees the ticket, read only inside the caller's company,
//! and a pending file whose ticket never came is an orphan, while one whose
//! ticket came is not. The file store keeps bytes as they were given.

use bytes::Bytes;
use switchboard_core::config::Config;
use switchboard_core::{Attachment, AttachmentId, CompanyId, Scope, TicketId};
use switchboard_store::testing::TestStore;
use switchboard_store::{FileStore, PendingAttachment};
use time::OffsetDateTime;

fn ticket_with(files: Vec<Attachment>) -> switchboard_core::Ticket {
    let new = switchboard_core::NewTicket {
        title: Some("Pump leaks".into()),
        requester: Some(switchboard_core::ticket::NewRequester { email: Some("rita@example.com".into()), name: None }),
        company: Some("acme".into()),
        ..switchboard_core::NewTicket::default()
    };
    let mut ticket =
        new.validate(TicketId::new(), switchboard_core::Channel::WebForm, OffsetDateTime::now_utc()).expect("valid");
    ticket.attachments = files;
    ticket
}

fn file(name: &str) -> Attachment {
    Attachment {
        id: AttachmentId::new(),
        filename: name.into(),
        content_type: "image/png".into(),
        size_bytes: 3,
        sha256: "ab".repeat(32),
    }
}

fn pending(ticket: &switchboard_core::Ticket) -> Vec<PendingAttachment> {
    ticket.attachments.iter().map(|file| PendingAttachment { id: file.id, ticket: ticket.id }).collect()
}

async fn files_are_recorded_with_their_ticket_and_orphans_are_found(test: TestStore) {
    let store = test.store;
    let acme = CompanyId::parse("acme").expect("valid");
    let filed = ticket_with(vec![file("leak.png"), file("gauge.png")]);
    let lost = ticket_with(vec![file("never.png")]);
    store.add_pending_attachments(&acme, &pending(&filed)).await.expect("pending");
    store.add_pending_attachments(&acme, &pending(&lost)).await.expect("pending");

    // Every stage's projection carries the files; they are recorded once.
    store.insert_ticket(&Scope::Installation, &filed).await.expect("project");
    store.insert_ticket(&Scope::Installation, &filed).await.expect("project again");
    let listed = store.attachments(&Scope::Company(acme.clone()), filed.id).await.expect("list");
    assert_eq!(listed, filed.attachments);
    let one = store.attachment(&Scope::Company(acme.clone()), filed.id, filed.attachments[1].id).await.expect("one");
    assert_eq!(one.as_ref(), Some(&filed.attachments[1]));

    // Another company sees nothing.
    let globex = Scope::Company(CompanyId::parse("globex").expect("valid"));
    assert!(store.attachments(&globex, filed.id).await.expect("list").is_empty());
    assert_eq!(store.attachment(&globex, filed.id, filed.attachments[0].id).await.expect("one"), None);

    // Only the file whose ticket never came is an orphan, and only once it
    // is old enough.
    let later = (OffsetDateTime::now_utc().unix_timestamp() + 60) * 1_000_000;
    let earlier = (OffsetDateTime::now_utc().unix_timestamp() - 60) * 1_000_000;
    assert!(store.orphaned_attachments(earlier, 10).await.expect("orphans").is_empty());
    let orphans = store.orphaned_attachments(later, 10).await.expect("orphans");
    assert_eq!(orphans, vec![(acme.clone(), pending(&lost)[0])]);
    store.remove_pending_attachments(&[lost.attachments[0].id]).await.expect("forget");
    assert!(store.orphaned_attachments(later, 10).await.expect("orphans").is_empty());
}

switchboard_store::test_both_backends!(files_are_recorded_with_their_ticket_and_orphans_are_found);

#[tokio::test]
async fn the_file_store_keeps_bytes_as_given_and_deletes_quietly() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let config = Config { data_dir: directory.path().to_path_buf(), ..Config::default() };
    let files = FileStore::open(&config).expect("open");
    let (acme, ticket, id) = (CompanyId::parse("acme").expect("valid"), TicketId::new(), AttachmentId::new());
    let content = Bytes::from_static(b"\x89PNG\r\n\x1a\n\0binary\xff");
    files.put(&acme, ticket, id, content.clone()).await.expect("put");
    assert_eq!(files.get(&acme, ticket, id).await.expect("get"), Some(content));
    assert!(directory.path().join("attachments/acme").is_dir(), "files live under the data directory by default");
    files.delete(&acme, ticket, id).await.expect("delete");
    assert_eq!(files.get(&acme, ticket, id).await.expect("get"), None);
    files.delete(&acme, ticket, id).await.expect("deleting a missing file is no error");
}

/// The `s3s-fs` binary (an S3 server over a directory, installed by
/// `scripts/services install`), or `None` outside CI when it is missing.
fn s3_server_binary() -> Option<std::path::PathBuf> {
    let candidates = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).map(|dir| dir.join("s3s-fs")).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(std::env::var_os("HOME").map(|home| std::path::Path::new(&home).join(".cargo/bin/s3s-fs")));
    let found = candidates.into_iter().find(|candidate| candidate.is_file());
    if found.is_none() {
        assert!(!switchboard_store::testing::in_ci(), "s3s-fs must be installed in CI (scripts/services install)");
        eprintln!("skipping: s3s-fs is not installed (scripts/services install installs it)");
    }
    found
}

#[tokio::test]
async fn the_s3_backend_keeps_bytes_in_a_real_s3_server() {
    let Some(server) = s3_server_binary() else { return };
    let root = tempfile::tempdir().expect("temporary directory");
    std::fs::create_dir(root.path().join("tickets")).expect("the bucket");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a port").local_addr().expect("address").port();
    let mut child = tokio::process::Command::new(server)
        .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--access-key", "AKTEST", "--secret-key", "SKTEST"])
        .arg(root.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start s3s-fs");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let mut config = Config::default();
    config.attachments.backend = switchboard_core::config::AttachmentBackend::S3;
    config.attachments.s3 = switchboard_core::config::S3Config {
        bucket: "tickets".into(),
        region: "us-east-1".into(),
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        access_key_id: Some(switchboard_core::config::Secret::new("AKTEST".into())),
        secret_access_key: Some(switchboard_core::config::Secret::new("SKTEST".into())),
        allow_http: true,
    };
    config.validate().expect("a valid configuration");
    let files = FileStore::open(&config).expect("open");
    let (acme, ticket, id) = (CompanyId::parse("acme").expect("valid"), TicketId::new(), AttachmentId::new());
    let content = Bytes::from((0..300_000_u32).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
    files.put(&acme, ticket, id, content.clone()).await.expect("put");
    assert_eq!(files.get(&acme, ticket, id).await.expect("get"), Some(content.clone()));
    let on_disk = root.path().join("tickets/acme").join(ticket.0.simple().to_string()).join(id.0.simple().to_string());
    assert_eq!(std::fs::read(&on_disk).expect("the server's file"), content.to_vec(), "it went through the server");
    files.delete(&acme, ticket, id).await.expect("delete");
    assert_eq!(files.get(&acme, ticket, id).await.expect("get"), None);

    // Wrong credentials are an error, not a silent miss.
    config.attachments.s3.secret_access_key = Some(switchboard_core::config::Secret::new("wrong".into()));
    let refused = FileStore::open(&config).expect("open");
    assert!(refused.put(&acme, ticket, id, content).await.is_err());
    child.kill().await.ok();
}
