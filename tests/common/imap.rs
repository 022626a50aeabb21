//! A Dovecot IMAP server of the test's own: Debian's `dovecot` started in
//! the foreground on a free 127.0.0.1 port, with a generated configuration
//! in a temporary directory (a passwd-file user with a plain password,
//! maildir, no TLS, logs, sockets and state in that directory). No systemd
//! and no path outside the directory. And an IMAP client (async-imap) to
//! put mail in and look at flags.
//!
//! As root (CI), Dovecot will neither run its login process as root
//! (`dovenull`, which the package creates, does that) nor give mail to
//! UID 0 (the mailbox belongs to `nobody`); as anyone else, everything
//! runs as that user.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use async_imap::types::Flag;
use async_imap::{Client, Session};
use futures::TryStreamExt;
use switchboard_core::config::{ImapMailboxConfig, ImapTls, Secret};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use super::WAIT;

/// Where Debian's package puts the server; `None` outside CI when it is
/// not installed (`scripts/services build-deps` installs it).
pub fn installed() -> Option<&'static str> {
    const DOVECOT: &str = "/usr/sbin/dovecot";
    if Path::new(DOVECOT).exists() {
        return Some(DOVECOT);
    }
    assert!(!switchboard_store::testing::in_ci(), "dovecot must be installed in CI (scripts/services build-deps)");
    eprintln!("skipping: dovecot is not installed (scripts/services build-deps installs dovecot-imapd)");
    None
}

/// A running Dovecot with one user and its INBOX.
pub struct Dovecot {
    child: Child,
    pub port: u16,
    pub username: String,
    pub password: String,
    directory: tempfile::TempDir,
}

/// The output of `id ARGS`.
fn id(args: &[&str]) -> String {
    let output = std::process::Command::new("id").args(args).output().expect("run id");
    assert!(output.status.success(), "id {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

impl Dovecot {
    pub async fn start(binary: &str) -> Dovecot {
        let directory = tempfile::tempdir().expect("temporary directory");
        let dir = directory.path();
        let port = TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("address").port();
        let username = format!("support{port}");
        let password = format!("pw-{}", uuid::Uuid::new_v4().simple());

        let (user, group) = (id(&["-un"]), id(&["-gn"]));
        let root = id(&["-u"]) == "0";
        let (login_user, mail_uid, mail_gid) = if root {
            // The mail processes run as `nobody`: they must reach the
            // directory, and own the mailbox.
            std::process::Command::new("chmod").arg("755").arg(dir).status().expect("chmod");
            ("dovenull".to_owned(), id(&["-u", "nobody"]), id(&["-g", "nobody"]))
        } else {
            (user.clone(), id(&["-u"]), id(&["-g"]))
        };
        let home = dir.join("home");
        std::fs::create_dir_all(&home).expect("home");
        if root {
            let owner = format!("{mail_uid}:{mail_gid}");
            let status = std::process::Command::new("chown").arg(owner).arg(&home).status().expect("chown");
            assert!(status.success(), "chown the mail home");
        }
        std::fs::write(dir.join("users"), format!("{username}:{{PLAIN}}{password}\n")).expect("users file");
        let d = dir.display();
        let config = format!(
            "base_dir = {d}/run\n\
             state_dir = {d}/state\n\
             log_path = {d}/dovecot.log\n\
             protocols = imap\n\
             listen = 127.0.0.1\n\
             ssl = no\n\
             disable_plaintext_auth = no\n\
             auth_mechanisms = plain login\n\
             default_internal_user = {user}\n\
             default_internal_group = {group}\n\
             default_login_user = {login_user}\n\
             first_valid_uid = 1\n\
             verbose_proctitle = yes\n\
             mail_location = maildir:~/Maildir\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN {d}/users\n}}\n\
             userdb {{\n  driver = static\n  args = uid={mail_uid} gid={mail_gid} home={d}/home/%u\n}}\n\
             service imap-login {{\n  chroot =\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n  inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
             service anvil {{\n  chroot =\n}}\n\
             service stats {{\n  chroot =\n}}\n"
        );
        let config_file = dir.join("dovecot.conf");
        std::fs::write(&config_file, config).expect("dovecot.conf");
        let child = Command::new(binary)
            .arg("-F")
            .arg("-c")
            .arg(&config_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(dir.join("stderr.log")).expect("stderr log")))
            .kill_on_drop(true)
            .spawn()
            .expect("start dovecot");
        let dovecot = Dovecot { child, port, username, password, directory };
        dovecot.wait_until_greeting().await;
        dovecot
    }

    async fn wait_until_greeting(&self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Ok(stream) = TcpStream::connect(("127.0.0.1", self.port)).await {
                let mut client = Client::new(stream);
                if let Ok(Ok(Some(_))) = tokio::time::timeout(Duration::from_secs(5), client.read_response()).await {
                    return;
                }
            }
            assert!(tokio::time::Instant::now() < deadline, "dovecot never greeted; log:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What Dovecot logged.
    pub fn log(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.directory.path().join(name)).unwrap_or_default();
        format!("{}{}", read("stderr.log"), read("dovecot.log"))
    }

    /// The poller's configuration for this server's INBOX, for `company`.
    pub fn mailbox(&self, company: &str, poll_seconds: u64) -> ImapMailboxConfig {
        ImapMailboxConfig {
            company: company.into(),
            host: "127.0.0.1".into(),
            port: self.port,
            tls: ImapTls::None,
            username: self.username.clone(),
            password: Secret::new(self.password.clone()),
            poll_seconds,
            ..ImapMailboxConfig::default()
        }
    }

    /// The same as TOML, for a `switchboard` child process.
    pub fn mailbox_toml(&self, company: &str, poll_seconds: u64, batch: u32) -> String {
        format!(
            "[[ingest.imap.mailboxes]]\ncompany = \"{company}\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\n\
             username = \"{}\"\npassword = \"{}\"\npoll_seconds = {poll_seconds}\nbatch = {batch}\n",
            self.port, self.username, self.password
        )
    }

    /// A session of the test's own, logged in, with INBOX selected.
    pub async fn client(&self) -> Session<TcpStream> {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).await.expect("connect to dovecot");
        let mut client = Client::new(stream);
        client.read_response().await.expect("greeting").expect("a greeting");
        let mut session =
            client.login(&self.username, &self.password).await.map_err(|(error, _)| error).expect("log in");
        session.select("INBOX").await.expect("select INBOX");
        session
    }

    /// Whether each message of INBOX is `\Seen`, by UID.
    pub async fn seen(session: &mut Session<TcpStream>) -> BTreeMap<u32, bool> {
        let fetches: Vec<_> = session
            .uid_fetch("1:*", "(UID FLAGS)")
            .await
            .expect("fetch flags")
            .try_collect()
            .await
            .expect("fetch flags");
        fetches.iter().filter_map(|fetch| Some((fetch.uid?, fetch.flags().any(|flag| flag == Flag::Seen)))).collect()
    }

    /// Whether the poller's connection is in IDLE now (Dovecot's process
    /// titles say what each session does).
    pub fn poller_idles(&self) -> bool {
        let Ok(entries) = std::fs::read_dir("/proc") else { return false };
        entries.filter_map(Result::ok).any(|entry| {
            std::fs::read(entry.path().join("cmdline")).is_ok_and(|line| {
                let line = String::from_utf8_lossy(&line);
                line.starts_with("dovecot/imap [")
                    && line.contains(&format!("[{} ", self.username))
                    && line.contains("IDLE")
            })
        })
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // SIGTERM: the master stops its children (a SIGKILL would leave
        // them running).
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
            for _ in 0..50 {
                if matches!(self.child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.start_kill();
    }
}

/// A customer's mail to acme's support address, numbered: subject
/// `Mail {number}`, a Message-ID of its own (`run` keeps ids apart between
/// runs).
pub fn customer_mail(number: usize, run: &str) -> String {
    format!(
        "From: Ann Customer <ann@customer.example>\r\n\
         To: support@acme.example\r\n\
         Subject: Mail {number}\r\n\
         Message-ID: <mail-{number}.{run}@customer.example>\r\n\
         Date: Mon, 02 Jun 2025 09:{minute:02}:00 +0000\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         The pump in hall {number} leaks again since this morning.\r\n",
        minute = number % 60
    )
}

/// Puts `raw` into INBOX (unseen).
pub async fn append(session: &mut Session<TcpStream>, raw: &str) {
    session.append("INBOX", None, None, raw.as_bytes()).await.expect("APPEND");
}
