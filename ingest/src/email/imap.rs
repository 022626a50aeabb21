//! The `imap` stage: support mailboxes read over IMAP, each mail filed
//! through [`receive`] as a ticket of the mailbox's company (or a reply on
//! the ticket it answers), exactly as `POST /v1/inbound/email` takes it.
//!
//! One task per mailbox of `ingest.imap.mailboxes`. Each connects (TLS,
//! STARTTLS, or plain text to this machine only), logs in, selects the
//! folder and reads its UIDVALIDITY; it keeps `(uidvalidity, last_uid)` in
//! the store under the mailbox's key (`company/host/username/mailbox`).
//! Then, until shutdown:
//!
//! 1. `UID SEARCH UID {last_uid + 1}:*` (a range ending in `*` always names
//!    the highest UID, even one at or below `last_uid`: those are dropped);
//! 2. the new messages in UID order, `batch` at a time, fetched with
//!    `BODY.PEEK[]` (fetching never sets `\Seen`); a message larger than
//!    `ingest.email.max_message_bytes` is refused without being fetched;
//! 3. each handed to [`receive`], which returns once the ticket is durable
//!    on the bus (or the reply committed in the store). Taken, or refused
//!    for good (a 4xx-like error: logged with its UID, never retried, so it
//!    cannot block the mailbox), the message is marked `\Seen` (and moved
//!    when `after = "move:<Folder>"`) and only then is `last_uid` stored.
//!    A transient refusal (the bus or store unavailable) stops the batch;
//!    it is tried again after a pause that doubles up to five minutes. A
//!    mail whose sender is over `ingest.email.per_sender_per_hour` is left
//!    unmarked while the other senders' mail goes on; `last_uid` stays
//!    below it, so it is tried again at the next pass (and the mail after
//!    it, read again, is a duplicate). An internal error counts as transient for
//!    [`INTERNAL_ATTEMPTS`] attempts of one message, then as permanent;
//! 4. IDLE when the server has it (woken by new mail, at most
//!    `poll_seconds` and never more than 29 minutes, or by shutdown), else a
//!    pause of `poll_seconds`.
//!
//! Any connection or protocol error drops the connection; the next one is
//! made after a pause that doubles up to five minutes.
//!
//! **Once.** A message is marked on the server only after its ticket is
//! durable, and `last_uid` stored only after the mark: a crash anywhere
//! makes the poller read the message again, and [`receive`] takes a mail
//! once per Message-ID (the `inbound_mails` table and the ticket's
//! idempotency key), so it is a duplicate, marked and passed. The same
//! holds when the server renumbers the mailbox (a new UIDVALIDITY): it is
//! read again from UID 1.
//!
//! Metrics: `switchboard_ingest_imap_messages_total{outcome}` (`ticket`,
//! `message`, `duplicate`, `ignored`, `kept`, `refused`, `retry`, `deferred`) and
//! `switchboard_ingest_imap_connection_failures_total`. Logs carry the
//! mailbox's key in their span, never the password.

use std::collections::HashMap;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_imap::imap_proto::{Response, Status};
use async_imap::{Client, Session};
use axum::http::StatusCode;
use bytes::Bytes;
use futures::TryStreamExt;
use switchboard_bus::StageContext;
use switchboard_core::CompanyId;
use switchboard_core::config::{ImapAfter, ImapMailboxConfig, ImapTls};
use switchboard_core::topics::stages;
use switchboard_store::{FileStore, ImapPosition};
use switchboard_web::{ApiError, Auth};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{Destination, receive};
use crate::IngestState;

pub const STAGE_NAME: &str = stages::IMAP;

/// The longest pause between attempts, after a failed connection or a
/// transient refusal.
const BACKOFF_MAX: Duration = Duration::from_secs(5 * 60);
/// The first pause after a failed connection.
const RECONNECT_FIRST: Duration = Duration::from_secs(1);
/// The first pause after a transient refusal.
const RETRY_FIRST: Duration = Duration::from_secs(1);
/// Connecting, TLS and the greeting.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// One command other than a fetch of bodies.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// One fetch of message bodies (up to `max_message_bytes` of them).
const FETCH_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// How often one message may fail with an internal error before it is
/// refused for good: such an error may be passing (a full disk) or belong
/// to the message (one that trips a bug), and the latter must not block
/// its mailbox.
pub const INTERNAL_ATTEMPTS: u32 = 5;

/// Why the stage could not start or a poller ended badly.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("opening the attachment store: {0}")]
    Files(#[from] switchboard_store::Error),
    #[error("the IMAP poller of a mailbox panicked: {0}")]
    Panicked(String),
}

/// The imap stage, until `ctx.shutdown` fires. With no mailboxes it says
/// so once and waits.
pub async fn stage(ctx: StageContext) -> Result<(), StageError> {
    let mailboxes = ctx.config.ingest.imap.mailboxes.clone();
    if mailboxes.is_empty() {
        tracing::info!(stage = STAGE_NAME, "no IMAP mailboxes to read (ingest.imap.mailboxes)");
        ctx.shutdown.cancelled().await;
        return Ok(());
    }
    let files = FileStore::open(&ctx.config)?;
    let auth = Auth::new(ctx.store.clone(), &ctx.config.auth);
    let state = IngestState::new(ctx.bus.clone(), ctx.store.clone(), files, &ctx.config, auth);
    let mut pollers = JoinSet::new();
    for config in mailboxes {
        // Validation made sure the company parses.
        let Ok(company) = CompanyId::parse(&config.company) else { continue };
        let key = config.key();
        let poller = Poller { state: state.clone(), company, config, shutdown: ctx.shutdown.clone() };
        pollers.spawn(poller.run().instrument(tracing::info_span!("imap", mailbox = %key)));
    }
    tracing::info!(stage = STAGE_NAME, mailboxes = pollers.len(), "reading IMAP mailboxes");
    let mut failure = None;
    while let Some(joined) = pollers.join_next().await {
        if let Err(error) = joined {
            // One mailbox no longer read must not go unnoticed: the stage
            // fails, and the process with it.
            ctx.shutdown.cancel();
            failure.get_or_insert(StageError::Panicked(error.to_string()));
        }
    }
    match failure {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// Why a connection to a mailbox ended.
#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("{0}")]
    Imap(#[from] async_imap::error::Error),
    #[error("connecting: {0}")]
    Io(#[from] std::io::Error),
    #[error("TLS: {0}")]
    Tls(#[from] native_tls::Error),
    #[error("the store: {0}")]
    Store(#[from] switchboard_store::Error),
    #[error("{0}")]
    Protocol(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// Shutdown began during a command.
    #[error("shutting down")]
    ShuttingDown,
}

/// What became of the mailbox's new mail.
enum Taken {
    /// All of it was taken (or refused for good) and marked.
    All,
    /// A message could not be taken yet: try again after at least this.
    Later(Duration),
    /// Shutdown began.
    Stopped,
}

/// What to do with one message after [`receive`].
enum Verdict {
    /// Taken or refused for good: mark it and move past it.
    Done,
    /// Not now: stop the batch and try it again later.
    Later(Duration),
    /// Its sender is over their hourly limit: leave it unmarked, go on
    /// with the other senders' mail, and try it again at the next pass.
    Deferred,
}

/// A pause that doubles after each failure up to [`BACKOFF_MAX`].
struct Backoff {
    first: Duration,
    next: Duration,
}

impl Backoff {
    fn new(first: Duration) -> Self {
        Self { first, next: first }
    }

    fn next(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        wait
    }

    fn reset(&mut self) {
        self.next = self.first;
    }
}

/// The server's capabilities the poller uses.
#[derive(Clone, Copy, Debug)]
struct Capabilities {
    idle: bool,
    moves: bool,
    uid_expunge: bool,
}

/// One mailbox's reader.
struct Poller {
    state: IngestState,
    company: CompanyId,
    config: ImapMailboxConfig,
    shutdown: CancellationToken,
}

impl Poller {
    async fn run(self) {
        let mut reconnect = Backoff::new(RECONNECT_FIRST);
        // An internal error of one message: (its UID, how often).
        let mut internal_failures = (0, 0);
        while !self.shutdown.is_cancelled() {
            match self.session(&mut reconnect, &mut internal_failures).await {
                Ok(()) | Err(SessionError::ShuttingDown) => break,
                Err(error) => {
                    metrics::counter!("switchboard_ingest_imap_connection_failures_total").increment(1);
                    let wait = reconnect.next();
                    tracing::warn!(%error, retry_in_ms = wait.as_millis(), "imap connection failed; reconnecting");
                    if !self.pause(wait).await {
                        break;
                    }
                }
            }
        }
        tracing::info!("imap mailbox reader stopped");
    }

    /// Waits `wait`; false when shutdown began meanwhile.
    async fn pause(&self, wait: Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(wait) => true,
            () = self.shutdown.cancelled() => false,
        }
    }

    /// `command`, unless it takes longer than `limit` or shutdown begins.
    async fn within<T, E>(
        &self,
        limit: Duration,
        command: impl Future<Output = Result<T, E>>,
    ) -> Result<T, SessionError>
    where
        SessionError: From<E>,
    {
        tokio::select! {
            answered = tokio::time::timeout(limit, command) => match answered {
                Ok(result) => result.map_err(SessionError::from),
                Err(_) => Err(SessionError::Timeout(limit)),
            },
            () = self.shutdown.cancelled() => Err(SessionError::ShuttingDown),
        }
    }

    /// One connection: connect, log in, select, then take mail and wait for
    /// more until shutdown (`Ok`) or an error.
    async fn session(&self, reconnect: &mut Backoff, internal_failures: &mut (u32, u32)) -> Result<(), SessionError> {
        let mut session = self.connect().await?;
        let capabilities = self.within(COMMAND_TIMEOUT, session.capabilities()).await?;
        let capabilities = Capabilities {
            idle: capabilities.has_str("IDLE"),
            moves: capabilities.has_str("MOVE"),
            uid_expunge: capabilities.has_str("UIDPLUS"),
        };
        if let ImapAfter::Move(folder) = &self.config.after {
            // A folder that exists already is a NO: nothing to do.
            if let Err(error) = self.within(COMMAND_TIMEOUT, session.create(folder)).await {
                match error {
                    SessionError::Imap(async_imap::error::Error::No(_)) => {}
                    error => return Err(error),
                }
            }
        }
        let selected = self.within(COMMAND_TIMEOUT, session.select(&self.config.mailbox)).await?;
        let Some(uid_validity) = selected.uid_validity else {
            return Err(SessionError::Protocol("the server gave no UIDVALIDITY for the mailbox".into()));
        };
        let key = self.config.key();
        let mut position = match self.state.store.imap_position(&key).await? {
            Some(stored) if stored.uid_validity == uid_validity => stored,
            Some(stored) => {
                tracing::warn!(
                    old = stored.uid_validity,
                    new = uid_validity,
                    "the mailbox's UIDVALIDITY changed: reading it again from UID 1 (mail taken before is a duplicate)"
                );
                ImapPosition { uid_validity, last_uid: 0 }
            }
            None => ImapPosition { uid_validity, last_uid: 0 },
        };
        if position.last_uid == 0 {
            self.state.store.set_imap_position(&key, position).await?;
        }
        tracing::info!(uid_validity, last_uid = position.last_uid, idle = capabilities.idle, "imap mailbox selected");

        let mut retry = Backoff::new(RETRY_FIRST);
        loop {
            match self.take_new_mail(&mut session, &mut position, capabilities, internal_failures).await? {
                Taken::All => {
                    // A whole round worked: a failure after this is news.
                    reconnect.reset();
                    retry.reset();
                }
                Taken::Stopped => break,
                Taken::Later(at_least) => {
                    let wait = retry.next().max(at_least).min(BACKOFF_MAX);
                    tracing::info!(wait_ms = wait.as_millis(), "trying the mailbox's next message again later");
                    if !self.pause(wait).await {
                        break;
                    }
                    continue;
                }
            }
            if capabilities.idle {
                match self.idle(session).await? {
                    Some(idled) => session = idled,
                    None => return Ok(()),
                }
            } else if !self.pause(self.config.poll_interval()).await {
                break;
            }
        }
        // Polite, not needed: the server drops the connection anyway.
        let _ = tokio::time::timeout(Duration::from_secs(2), session.logout()).await;
        Ok(())
    }

    /// Connects, protects the connection as configured and logs in.
    async fn connect(&self) -> Result<Session<Stream>, SessionError> {
        let host = self.config.host.as_str();
        let tcp = self.within(CONNECT_TIMEOUT, TcpStream::connect((host, self.config.port))).await?;
        let client = match self.config.tls {
            ImapTls::None => self.greeted(Client::new(Stream::Plain(tcp))).await?,
            ImapTls::Tls => {
                let tls = self.within(CONNECT_TIMEOUT, tls_connector()?.connect(host, tcp)).await?;
                self.greeted(Client::new(Stream::Tls(Box::new(tls)))).await?
            }
            ImapTls::Starttls => {
                let mut client = self.greeted(Client::new(Stream::Plain(tcp))).await?;
                self.within(COMMAND_TIMEOUT, client.run_command_and_check_ok("STARTTLS", None)).await?;
                // Whatever the server sent after its OK is dropped with the
                // plain stream: nothing said before TLS is trusted.
                let Stream::Plain(tcp) = client.into_inner() else {
                    return Err(SessionError::Protocol("STARTTLS on a TLS connection".into()));
                };
                let tls = self.within(CONNECT_TIMEOUT, tls_connector()?.connect(host, tcp)).await?;
                // No greeting after STARTTLS.
                Client::new(Stream::Tls(Box::new(tls)))
            }
        };
        let login = client.login(&self.config.username, self.config.password.expose());
        self.within(COMMAND_TIMEOUT, async { login.await.map_err(|(error, _client)| error) }).await
    }

    /// The client once the server's greeting was read (and was not BYE).
    async fn greeted(&self, mut client: Client<Stream>) -> Result<Client<Stream>, SessionError> {
        let greeting = self.within(CONNECT_TIMEOUT, client.read_response()).await?;
        match greeting.as_ref().map(|response| response.parsed()) {
            None => Err(SessionError::Protocol("the server closed the connection before its greeting".into())),
            Some(Response::Data { status: Status::Bye, .. }) => {
                Err(SessionError::Protocol("the server refused the connection (BYE)".into()))
            }
            Some(_) => Ok(client),
        }
    }

    /// Takes every message above `position.last_uid`, in UID order, until
    /// none is left, one cannot be taken yet, or shutdown begins.
    async fn take_new_mail(
        &self,
        session: &mut Session<Stream>,
        position: &mut ImapPosition,
        capabilities: Capabilities,
        internal_failures: &mut (u32, u32),
    ) -> Result<Taken, SessionError> {
        let key = self.config.key();
        loop {
            // A deferred message holds `last_uid` below it: the messages
            // after it are marked as they are taken, read again at the next
            // pass and found to be duplicates.
            let mut deferred = false;
            let search = format!("UID {}:*", position.last_uid.saturating_add(1));
            let found = self.within(COMMAND_TIMEOUT, session.uid_search(&search)).await?;
            let mut uids: Vec<u32> = found.into_iter().filter(|uid| *uid > position.last_uid).collect();
            if uids.is_empty() {
                return Ok(Taken::All);
            }
            uids.sort_unstable();
            tracing::debug!(count = uids.len(), first = uids[0], "new messages in the mailbox");
            for chunk in uids.chunks(self.config.batch as usize) {
                let sizes = self.sizes(session, chunk).await?;
                for group in fetch_groups(chunk, &sizes, self.state.config.email.max_message_bytes) {
                    let mut bodies = self.bodies(session, &group, &sizes).await?;
                    for uid in group {
                        if self.shutdown.is_cancelled() {
                            return Ok(Taken::Stopped);
                        }
                        let verdict = match (sizes.get(&uid), bodies.remove(&uid)) {
                            (Some(_), Some(raw)) => self.take(uid, raw, internal_failures).await,
                            (Some(&size), None) if !self.fits(size) => self.refuse_too_large(uid, size),
                            _ => {
                                // Expunged since the search: nothing to
                                // take or mark.
                                tracing::info!(uid, "a message went away before it was fetched");
                                continue;
                            }
                        };
                        match verdict {
                            Verdict::Later(at_least) => return Ok(Taken::Later(at_least)),
                            Verdict::Deferred => {
                                deferred = true;
                                continue;
                            }
                            Verdict::Done => {}
                        }
                        self.mark_taken(session, uid, capabilities).await?;
                        if !deferred {
                            position.last_uid = uid;
                            self.state.store.set_imap_position(&key, *position).await?;
                        }
                    }
                }
            }
            if deferred {
                // Searching again now would find the deferred mail again:
                // it waits for the next pass (new mail, or the re-check).
                return Ok(Taken::All);
            }
        }
    }

    /// Whether a message of `size` bytes may be taken.
    fn fits(&self, size: u32) -> bool {
        usize::try_from(size).is_ok_and(|size| size <= self.state.config.email.max_message_bytes)
    }

    /// The sizes of the messages `uids` that are still there.
    async fn sizes(&self, session: &mut Session<Stream>, uids: &[u32]) -> Result<HashMap<u32, u32>, SessionError> {
        let set = uid_set(uids);
        let fetches = self
            .within(COMMAND_TIMEOUT, async {
                let stream = session.uid_fetch(&set, "(UID RFC822.SIZE)").await?;
                stream.try_collect::<Vec<_>>().await
            })
            .await?;
        // Unsolicited FETCH responses (flag changes of other messages) may
        // come along: only the ones asked for count.
        Ok(fetches
            .iter()
            .filter_map(|fetch| Some((fetch.uid?, fetch.size?)))
            .filter(|(uid, _)| uids.contains(uid))
            .collect())
    }

    /// The raw bytes of those of `uids` that are there and fit the size
    /// limit, fetched without setting `\Seen`.
    async fn bodies(
        &self,
        session: &mut Session<Stream>,
        uids: &[u32],
        sizes: &HashMap<u32, u32>,
    ) -> Result<HashMap<u32, Bytes>, SessionError> {
        let wanted: Vec<u32> =
            uids.iter().copied().filter(|uid| sizes.get(uid).is_some_and(|size| self.fits(*size))).collect();
        if wanted.is_empty() {
            return Ok(HashMap::new());
        }
        let set = uid_set(&wanted);
        let fetches = self
            .within(FETCH_TIMEOUT, async {
                let stream = session.uid_fetch(&set, "(UID BODY.PEEK[])").await?;
                stream.try_collect::<Vec<_>>().await
            })
            .await?;
        Ok(fetches
            .iter()
            .filter_map(|fetch| Some((fetch.uid?, fetch.body()?)))
            .filter(|(uid, _)| wanted.contains(uid))
            .map(|(uid, body)| (uid, Bytes::copy_from_slice(body)))
            .collect())
    }

    /// A message too large to take: refused for good, without fetching it.
    fn refuse_too_large(&self, uid: u32, size: u32) -> Verdict {
        metrics::counter!("switchboard_ingest_imap_messages_total", "outcome" => "refused").increment(1);
        tracing::warn!(
            uid,
            size,
            limit = self.state.config.email.max_message_bytes,
            "a message is larger than ingest.email.max_message_bytes; marked and passed without a ticket"
        );
        Verdict::Done
    }

    /// Hands one message to [`receive`] and says what to do next.
    async fn take(&self, uid: u32, raw: Bytes, internal_failures: &mut (u32, u32)) -> Verdict {
        let error = match receive(&self.state, Destination::Of(self.company.clone()), raw).await {
            Ok(received) => {
                let outcome = received.outcome.as_str();
                metrics::counter!("switchboard_ingest_imap_messages_total", "outcome" => outcome).increment(1);
                let ticket_id = received.ticket_id.map(|id| id.to_string());
                tracing::info!(uid, outcome, ticket_id, reason = received.reason, "mail taken");
                return Verdict::Done;
            }
            Err(error) => error,
        };
        let (status, code) = error.status_and_code();
        let internal = matches!(error, ApiError::Internal(_));
        if internal {
            *internal_failures = match *internal_failures {
                (failed_uid, count) if failed_uid == uid => (uid, count + 1),
                _ => (uid, 1),
            };
        }
        let transient = if internal {
            internal_failures.1 < INTERNAL_ATTEMPTS
        } else {
            status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS
        };
        let cause = switchboard_core::error::describe_chain(&error);
        if let ApiError::RateLimited { .. } = error {
            metrics::counter!("switchboard_ingest_imap_messages_total", "outcome" => "deferred").increment(1);
            tracing::info!(uid, "the sender is over ingest.email.per_sender_per_hour; the mail waits for a later pass");
            return Verdict::Deferred;
        }
        if transient {
            metrics::counter!("switchboard_ingest_imap_messages_total", "outcome" => "retry").increment(1);
            tracing::warn!(uid, code, error = %cause, "a mail cannot be taken now; the batch stops here for now");
            return Verdict::Later(Duration::ZERO);
        }
        metrics::counter!("switchboard_ingest_imap_messages_total", "outcome" => "refused").increment(1);
        tracing::warn!(uid, code, error = %cause, "a mail was refused for good; marked and passed without a ticket");
        Verdict::Done
    }

    /// Marks a message taken on the server: `\Seen`, then moved when so
    /// configured.
    async fn mark_taken(
        &self,
        session: &mut Session<Stream>,
        uid: u32,
        capabilities: Capabilities,
    ) -> Result<(), SessionError> {
        let uid = uid.to_string();
        self.store_flags(session, &uid, "+FLAGS.SILENT (\\Seen)").await?;
        let ImapAfter::Move(folder) = &self.config.after else { return Ok(()) };
        if capabilities.moves {
            return self.within(COMMAND_TIMEOUT, session.uid_mv(&uid, folder)).await;
        }
        self.within(COMMAND_TIMEOUT, session.uid_copy(&uid, folder)).await?;
        self.store_flags(session, &uid, "+FLAGS.SILENT (\\Deleted)").await?;
        self.within(COMMAND_TIMEOUT, async {
            if capabilities.uid_expunge {
                session.uid_expunge(&uid).await?.try_collect::<Vec<_>>().await.map(|_| ())
            } else {
                // Without UIDPLUS only a plain EXPUNGE exists: it also
                // removes whatever else was marked \Deleted.
                session.expunge().await?.try_collect::<Vec<_>>().await.map(|_| ())
            }
        })
        .await
    }

    async fn store_flags(&self, session: &mut Session<Stream>, uid: &str, change: &str) -> Result<(), SessionError> {
        self.within(COMMAND_TIMEOUT, async {
            session.uid_store(uid, change).await?.try_collect::<Vec<_>>().await.map(|_| ())
        })
        .await
    }

    /// One IDLE: until the server reports a change or the re-check
    /// interval passes (the session back), or shutdown begins (`None`).
    async fn idle(&self, session: Session<Stream>) -> Result<Option<Session<Stream>>, SessionError> {
        let mut handle = session.idle();
        self.within(COMMAND_TIMEOUT, handle.init()).await?;
        let limit = self.config.idle_timeout();
        let stopped = {
            let (wait, _interrupt) = handle.wait_with_timeout(limit);
            // The server's keep-alive lines restart IDLE's own timeout, so
            // the re-check interval is kept here.
            tokio::select! {
                woken = wait => {
                    woken?;
                    false
                }
                () = tokio::time::sleep(limit) => false,
                () = self.shutdown.cancelled() => true,
            }
        };
        if stopped {
            // Polite, not needed: the server drops the connection anyway.
            if let Ok(Ok(mut session)) = tokio::time::timeout(Duration::from_secs(2), handle.done()).await {
                let _ = tokio::time::timeout(Duration::from_secs(2), session.logout()).await;
            }
            return Ok(None);
        }
        let session = tokio::time::timeout(COMMAND_TIMEOUT, handle.done())
            .await
            .map_err(|_| SessionError::Timeout(COMMAND_TIMEOUT))??;
        Ok(Some(session))
    }
}

/// The messages of `chunk` cut into fetches of at most `limit` bytes
/// together (a message too large to take counts for nothing: it is not
/// fetched; a group holds at least one message).
fn fetch_groups(chunk: &[u32], sizes: &HashMap<u32, u32>, limit: usize) -> Vec<Vec<u32>> {
    let limit = limit as u64;
    let mut groups: Vec<Vec<u32>> = Vec::new();
    let mut group_bytes = 0_u64;
    for &uid in chunk {
        let size = sizes.get(&uid).map(|size| u64::from(*size)).filter(|size| *size <= limit).unwrap_or(0);
        match groups.last_mut() {
            Some(group) if group_bytes + size <= limit => group.push(uid),
            _ => {
                groups.push(vec![uid]);
                group_bytes = 0;
            }
        }
        group_bytes += size;
    }
    groups
}

/// `1,2,5` for a `UID FETCH`.
fn uid_set(uids: &[u32]) -> String {
    uids.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

fn tls_connector() -> Result<tokio_native_tls::TlsConnector, native_tls::Error> {
    Ok(tokio_native_tls::TlsConnector::from(native_tls::TlsConnector::new()?))
}

/// The connection to the server: plain TCP (before STARTTLS, or to this
/// machine) or TLS over it.
enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_native_tls::TlsStream<TcpStream>>),
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            Stream::Plain(_) => "Stream::Plain",
            Stream::Tls(_) => "Stream::Tls",
        })
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(stream) => Pin::new(stream).poll_read(context, buffer),
            Stream::Tls(stream) => Pin::new(stream.as_mut()).poll_read(context, buffer),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, context: &mut Context<'_>, bytes: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(stream) => Pin::new(stream).poll_write(context, bytes),
            Stream::Tls(stream) => Pin::new(stream.as_mut()).poll_write(context, bytes),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(stream) => Pin::new(stream).poll_flush(context),
            Stream::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(context),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(stream) => Pin::new(stream).poll_shutdown(context),
            Stream::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(context),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_five_minutes_and_resets() {
        let mut backoff = Backoff::new(Duration::from_secs(1));
        let waits: Vec<u64> = (0..11).map(|_| backoff.next().as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        backoff.reset();
        assert_eq!(backoff.next(), Duration::from_secs(1));
    }

    #[test]
    fn fetches_hold_at_most_the_size_limit_and_skip_what_is_too_large() {
        let sizes: HashMap<u32, u32> = [(1, 40), (2, 50), (3, 30), (4, 500), (5, 100), (6, 10)].into();
        // 7 is gone: it stays in its place, with nothing to fetch.
        let groups = fetch_groups(&[1, 2, 3, 4, 5, 6, 7], &sizes, 100);
        assert_eq!(groups, vec![vec![1, 2], vec![3, 4], vec![5], vec![6, 7]]);
        assert_eq!(fetch_groups(&[4], &sizes, 100), vec![vec![4]]);
        assert!(fetch_groups(&[], &sizes, 100).is_empty());
    }

    #[test]
    fn uid_sets_list_each_uid() {
        assert_eq!(uid_set(&[3, 4, 9]), "3,4,9");
        assert_eq!(uid_set(&[1]), "1");
    }
}
