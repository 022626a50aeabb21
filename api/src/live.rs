//! Live updates: `GET /v1/live` (Server-Sent Events) and `GET /v1/live/ws`
//! (WebSocket) stream the events of the catalogue the caller may see —
//! staff and integrations their company's, a customer only the tickets they
//! filed and nothing marked staff-only — as the notifier records them.
//!
//! Both transports share one path ([`follow`]): it catches up from the
//! store after the event id the client resumes from (SSE's
//! `Last-Event-ID`, or `?after=`), then takes what this process's
//! [`LiveHub`] reads from the feed. The hub is one reader per process
//! whatever the number of streams: it follows the feed while a stream is
//! open, woken at once by a notifier in the same process and every
//! `live.poll_ms` otherwise, and hands each batch to every stream. A batch
//! says which stretch of the feed it covers, so a stream that missed one
//! (it was slow, or joined between two) reads the gap from the store
//! instead of losing it.

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use serde::Deserialize;
use switchboard_core::config::LiveConfig;
use switchboard_core::notifications::Notification;
use switchboard_core::{Caller, Credential};
use switchboard_store::{Audience, LiveEventRecord, Store};
use switchboard_web::auth::BearerToken;
use switchboard_web::{ApiError, Auth, Authenticated, Query, parse_number};
use tokio::sync::{Notify, broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::ApiState;

/// Feed entries read per query.
const PAGE: u32 = 500;
/// Batches a slow stream may fall behind before it reads from the store.
const BATCHES_BUFFERED: usize = 256;
/// Events queued for one client's socket.
const EVENTS_BUFFERED: usize = 64;
/// The largest message a WebSocket client may send (it is ignored).
const CLIENT_MESSAGE_MAX_BYTES: usize = 4 * 1024;

/// A stretch of the feed: every entry after `after` up to `upto`.
#[derive(Clone, Debug)]
struct Batch {
    after: i64,
    upto: i64,
    events: Arc<[LiveEventRecord]>,
}

/// This process's reader of the live feed. Cheap to clone.
#[derive(Clone)]
pub(crate) struct LiveHub {
    inner: Arc<HubInner>,
}

struct HubInner {
    store: Store,
    batches: broadcast::Sender<Batch>,
    /// Streams open per account or key, against `live.max_streams_per_caller`.
    open: std::sync::Mutex<std::collections::HashMap<Uuid, usize>>,
    max_per_caller: usize,
    /// Pulsed when a stream opens, to wake an idle reader.
    opened: Notify,
    started: OnceLock<()>,
    poll: Duration,
    shutdown: CancellationToken,
}

impl LiveHub {
    pub(crate) fn new(store: Store, config: &LiveConfig, shutdown: CancellationToken) -> Self {
        let (batches, _) = broadcast::channel(BATCHES_BUFFERED);
        Self {
            inner: Arc::new(HubInner {
                store,
                batches,
                open: Default::default(),
                max_per_caller: config.max_streams_per_caller,
                opened: Notify::new(),
                started: OnceLock::new(),
                poll: config.poll(),
                shutdown,
            }),
        }
    }

    /// Counts a stream of `caller` open until the slot is dropped; `None`
    /// when the caller has `live.max_streams_per_caller` open already.
    fn open_slot(&self, caller: &Caller) -> Option<StreamSlot> {
        let who = match &caller.credential {
            Credential::Session { account, .. } => account.0,
            Credential::ApiKey { key, .. } => key.0,
        };
        let mut open = self.inner.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = open.entry(who).or_default();
        if *count >= self.inner.max_per_caller {
            return None;
        }
        *count += 1;
        Some(StreamSlot { hub: self.inner.clone(), who })
    }

    /// A receiver of every batch read from now on (the reader starts with
    /// the first stream).
    fn subscribe(&self) -> broadcast::Receiver<Batch> {
        let receiver = self.inner.batches.subscribe();
        self.inner.started.get_or_init(|| {
            tokio::spawn(read_feed(self.inner.clone()));
        });
        self.inner.opened.notify_one();
        receiver
    }
}

/// One open stream of one caller; dropping it frees the slot.
struct StreamSlot {
    hub: Arc<HubInner>,
    who: Uuid,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.hub.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.who) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.who);
            }
        }
    }
}

/// Reads the feed while anyone listens, until shutdown.
async fn read_feed(hub: Arc<HubInner>) {
    // Where the last batch ended; `None` while nobody listens.
    let mut cursor: Option<i64> = None;
    loop {
        if hub.batches.receiver_count() == 0 {
            cursor = None;
            tokio::select! {
                () = hub.shutdown.cancelled() => return,
                () = hub.opened.notified() => continue,
            }
        }
        let read = async {
            let after = match cursor {
                Some(after) => after,
                None => hub.store.last_live_seq().await?,
            };
            Ok::<_, switchboard_store::Error>((
                after,
                hub.store.live_events_after(after, &Audience::Everyone, PAGE).await?,
            ))
        };
        let full = match read.await {
            Ok((after, events)) => {
                let full = events.len() == PAGE as usize;
                if let Some(last) = events.last() {
                    let upto = last.seq;
                    // Nobody listening any more is no error.
                    let _ = hub.batches.send(Batch { after, upto, events: events.into() });
                    cursor = Some(upto);
                } else {
                    cursor = Some(after);
                }
                full
            }
            Err(error) => {
                tracing::warn!(%error, "cannot read the live feed; will retry");
                false
            }
        };
        if full {
            continue;
        }
        tokio::select! {
            () = hub.shutdown.cancelled() => return,
            () = hub.store.live_event_recorded() => {}
            () = tokio::time::sleep(hub.poll) => {}
        }
    }
}

/// One event for one client.
#[derive(Debug)]
struct LiveEvent {
    seq: i64,
    event_type: String,
    /// `{"type", "timestamp", "data"}`.
    payload: String,
}

/// Where a stream starts.
#[derive(Clone, Copy, Debug)]
enum Start {
    /// After this event id: what the feed holds since is read first.
    After(i64),
    /// With the next event (the feed's newest id when the stream opened).
    Now(i64),
}

/// Feeds `caller`'s events into `out` from `start` until the client goes,
/// the server stops, or the caller's credential no longer holds.
async fn follow(
    state: ApiState,
    mut batches: broadcast::Receiver<Batch>,
    start: Start,
    token: Option<String>,
    caller: Caller,
    out: mpsc::Sender<LiveEvent>,
    _slot: StreamSlot,
) {
    let store = &state.store;
    // What the caller may see: selected by the store on a catch-up,
    // filtered here from the hub's batches (every company's).
    let audience = Audience::of(&caller);
    // A customer reads the ticket through `Ticket::for_customer`; an event
    // whose body does not read is not sent to them.
    let customer = caller.is_customer();
    let send = |event: &LiveEventRecord| {
        let payload =
            if customer { Notification::body_for_customer(&event.payload) } else { Some(event.payload.clone()) };
        let (out, seq, event_type) = (&out, event.seq, event.event_type.clone());
        async move {
            match payload {
                Some(payload) => out.send(LiveEvent { seq, event_type, payload }).await.map_err(|_| ()),
                None => Ok(()),
            }
        }
    };
    // Everything up to `last` has been sent (or was not the caller's).
    let (mut last, mut behind) = match start {
        Start::After(after) => (after, true),
        Start::Now(now) => (now, false),
    };
    let mut recheck = tokio::time::interval(state.config.live.keep_alive());
    recheck.reset();
    loop {
        if behind {
            // Catch up from the store: what the company's feed holds after
            // `last`, up to at least where the feed was when we looked.
            let caught_up = async {
                let end = store.last_live_seq().await?;
                // An id from the future resumes from now.
                last = last.min(end);
                loop {
                    let page = store.live_events_after(last, &audience, PAGE).await?;
                    for event in &page {
                        if send(event).await.is_err() {
                            return Ok(false);
                        }
                        last = event.seq;
                    }
                    if page.len() < PAGE as usize {
                        last = last.max(end);
                        return Ok::<_, switchboard_store::Error>(true);
                    }
                }
            };
            match caught_up.await {
                Ok(true) => behind = false,
                Ok(false) => return,
                Err(error) => {
                    tracing::warn!(%error, "cannot read the live feed; closing the stream");
                    return;
                }
            }
        }
        tokio::select! {
            () = state.live.inner.shutdown.cancelled() => return,
            () = out.closed() => return,
            _ = recheck.tick() => {
                if !still_signed_in(&state.auth, token.as_deref()).await {
                    return;
                }
            }
            batch = batches.recv() => match batch {
                Ok(batch) if batch.after > last => behind = true,
                Ok(batch) => {
                    for event in batch.events.iter().filter(|event| event.seq > last) {
                        if audience.sees(event) && send(event).await.is_err() {
                            return;
                        }
                    }
                    last = last.max(batch.upto);
                }
                Err(broadcast::error::RecvError::Lagged(_)) => behind = true,
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

/// Whether the stream's credential still signs someone in (a revoked
/// session or key, a deleted account end the stream).
async fn still_signed_in(auth: &Auth, token: Option<&str>) -> bool {
    let Some(token) = token else { return false };
    match auth.authenticate(token).await {
        Ok(caller) => caller.is_some(),
        // The store is briefly unreachable: keep the stream.
        Err(_) => true,
    }
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct LiveParameters {
    /// Resume after this event id (the `id` of the last event received);
    /// for SSE the `Last-Event-ID` header does the same. Without it the
    /// stream starts with the next event.
    after: Option<String>,
}

/// Where the stream resumes: `Last-Event-ID`, else `?after=`. The header
/// wins: a browser's `EventSource` reconnects to the URL it was opened
/// with (`after` and all) and sends the last id it saw.
fn resume_point(parameters: &LiveParameters, headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let header = headers.get("last-event-id").map(|value| value.to_str().unwrap_or("invalid"));
    match (header, &parameters.after) {
        (Some(header), _) => parse_number("Last-Event-ID", Some(header.trim()), 0..=i64::MAX),
        (None, after) => parse_number("after", after.as_deref().map(str::trim), 0..=i64::MAX),
    }
}

/// Starts following for the request's caller. Once this returns, no event
/// recorded afterwards can be missed: the hub's batches are subscribed to
/// and the starting point is fixed.
async fn start(
    state: &ApiState,
    caller: Caller,
    token: Option<axum::Extension<BearerToken>>,
    after: Option<i64>,
) -> Result<mpsc::Receiver<LiveEvent>, ApiError> {
    let slot = state.live.open_slot(&caller).ok_or(ApiError::RateLimited { retry_after_seconds: 1 })?;
    let batches = state.live.subscribe();
    let start = match after {
        Some(after) => Start::After(after),
        None => Start::Now(state.store.last_live_seq().await?),
    };
    let (out, events) = mpsc::channel(EVENTS_BUFFERED);
    let token = token.map(|axum::Extension(BearerToken(token))| token);
    tokio::spawn(follow(state.clone(), batches, start, token, caller, out, slot));
    Ok(events)
}

/// `GET /v1/live`: Server-Sent Events, each with `id` (resume from it),
/// `event` (the type) and `data` (`{"type", "timestamp", "data"}`).
pub(crate) async fn sse(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    token: Option<axum::Extension<BearerToken>>,
    headers: HeaderMap,
    Query(parameters): Query<LiveParameters>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let after = resume_point(&parameters, &headers)?;
    let events = start(&state, caller, token, after).await?;
    let stream = futures::stream::unfold(events, |mut events| async move {
        let event = events.recv().await?;
        let sse = Event::default().id(event.seq.to_string()).event(event.event_type).data(event.payload);
        Some((Ok(sse), events))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(state.config.live.keep_alive())))
}

/// `GET /v1/live/ws`: a WebSocket whose text messages are
/// `{"id": …, "event": {"type", "timestamp", "data"}}`; resume with
/// `?after=`. What the client sends is ignored (but a close).
pub(crate) async fn websocket(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    token: Option<axum::Extension<BearerToken>>,
    Query(parameters): Query<LiveParameters>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let upgrade = upgrade.map_err(|rejection| ApiError::InvalidHeader {
        code: "not_a_websocket_handshake",
        header: "upgrade",
        message: format!("this route takes a WebSocket handshake: {}", rejection.body_text()),
    })?;
    let after = resume_point(&parameters, &HeaderMap::new())?;
    let events = start(&state, caller, token, after).await?;
    let keep_alive = state.config.live.keep_alive();
    // What a client sends is ignored: it need not be large.
    let upgrade = upgrade.max_message_size(CLIENT_MESSAGE_MAX_BYTES).max_frame_size(CLIENT_MESSAGE_MAX_BYTES);
    Ok(upgrade.on_upgrade(move |socket| serve_socket(socket, events, keep_alive)).into_response())
}

async fn serve_socket(mut socket: WebSocket, mut events: mpsc::Receiver<LiveEvent>, keep_alive: Duration) {
    let mut ping = tokio::time::interval(keep_alive);
    ping.reset();
    loop {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { break };
                let text = format!("{{\"id\":{},\"event\":{}}}", event.seq, event.payload);
                if socket.send(WsMessage::Text(text.into())).await.is_err() {
                    return;
                }
            }
            received = socket.recv() => match received {
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if socket.send(WsMessage::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
        }
    }
    // The server stops, or the credential no longer holds.
    let _ = socket.send(WsMessage::Close(None)).await;
}
