//! The live-update feed: every notification of the event catalogue, numbered
//! in the order it was recorded, for the API's WebSocket and SSE streams to
//! follow and to resume from (`seq` is the stream's event id).
//!
//! The notifier writes the entries with the webhook messages and mails
//! they imply ([`Store::record_notifications`]). Numbers are handed out in
//! commit order: on PostgreSQL the writers take turns on the table, so a
//! reader that has seen `seq` n never later finds a smaller one committed
//! behind it.

use switchboard_core::notifications::Notification;
use switchboard_core::{AccountId, Caller, CompanyId, TicketId};
use uuid::Uuid;

use crate::Store;
use crate::db::on_pool;
use crate::error::{Error, Result};

/// One notification for the feed, with the body every client is sent.
#[derive(Clone, Copy, Debug)]
pub struct NewLiveEvent<'a> {
    pub notification: &'a Notification,
    pub body: &'a str,
}

/// Whose feed entries to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Audience {
    /// Every company's (the API's reader, which filters per stream).
    Everyone,
    /// A company's staff: all of the company's.
    Staff(CompanyId),
    /// A customer: what is not staff-only about the tickets they filed
    /// (nothing when the caller has no account).
    Customer(CompanyId, Option<AccountId>),
}

impl Audience {
    /// What `caller` may see: a customer's own tickets' entries that are
    /// not staff-only; for staff and integrations, the company's.
    pub fn of(caller: &Caller) -> Self {
        if caller.is_customer() {
            Audience::Customer(caller.company.clone(), caller.account())
        } else {
            Audience::Staff(caller.company.clone())
        }
    }

    /// Whether `event` is for this audience: in memory what
    /// [`Store::live_events_after`] selects in SQL.
    pub fn sees(&self, event: &LiveEventRecord) -> bool {
        match self {
            Audience::Everyone => true,
            Audience::Staff(company) => event.company == *company,
            Audience::Customer(company, account) => {
                event.company == *company && !event.staff_only && account.is_some() && event.customer == *account
            }
        }
    }
}

/// A feed entry as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveEventRecord {
    /// Its place in the feed: increasing, never reused.
    pub seq: i64,
    pub company: CompanyId,
    pub ticket_id: TicketId,
    /// The account that filed the ticket.
    pub customer: Option<AccountId>,
    /// Not for the customer's eyes.
    pub staff_only: bool,
    pub event_type: String,
    /// `{"type", "timestamp", "data"}`, as webhooks send it.
    pub payload: String,
}

#[derive(sqlx::FromRow)]
struct LiveRow {
    seq: i64,
    company: String,
    ticket_id: Uuid,
    customer: Option<Uuid>,
    staff_only: bool,
    event_type: String,
    payload: String,
}

impl TryFrom<LiveRow> for LiveEventRecord {
    type Error = Error;

    fn try_from(row: LiveRow) -> Result<Self> {
        Ok(LiveEventRecord {
            seq: row.seq,
            company: CompanyId::parse(&row.company)
                .map_err(|_| Error::Corrupt(format!("live event {}: bad company", row.seq)))?,
            ticket_id: TicketId(row.ticket_id),
            customer: row.customer.map(AccountId),
            staff_only: row.staff_only,
            event_type: row.event_type,
            payload: row.payload,
        })
    }
}

const LIVE_COLUMNS: &str = "seq, company, ticket_id, customer, staff_only, event_type, payload";

impl Store {
    /// Feed entries after `after` that `audience` may see, oldest first, at
    /// most `limit`.
    pub async fn live_events_after(&self, after: i64, audience: &Audience, limit: u32) -> Result<Vec<LiveEventRecord>> {
        let rows: Vec<LiveRow> = on_pool!(&self.db, |pool| {
            let mut query = sqlx::QueryBuilder::new(format!("SELECT {LIVE_COLUMNS} FROM live_events WHERE seq > "));
            query.push_bind(after);
            match audience {
                Audience::Everyone => {}
                Audience::Staff(company) => {
                    query.push(" AND company = ").push_bind(company.as_str());
                }
                Audience::Customer(company, account) => {
                    query.push(" AND company = ").push_bind(company.as_str());
                    query.push(" AND NOT staff_only AND customer = ").push_bind(account.map(|account| account.0));
                }
            }
            query.push(" ORDER BY seq LIMIT ").push_bind(i64::from(limit));
            query.build_query_as().fetch_all(pool).await
        })?;
        rows.into_iter().map(LiveEventRecord::try_from).collect()
    }

    /// The newest entry's number (0 for an empty feed): where a stream
    /// that resumes from nothing starts.
    pub async fn last_live_seq(&self) -> Result<i64> {
        let last: Option<i64> = on_pool!(&self.db, |pool| {
            sqlx::query_scalar("SELECT MAX(seq) FROM live_events").fetch_one(pool).await
        })?;
        Ok(last.unwrap_or(0))
    }

    /// Waits until this process records something on the feed (a permit is
    /// kept if nobody waited), so one follower in the same process sees it
    /// at once instead of at its next poll.
    pub async fn live_event_recorded(&self) {
        self.live_written.notified().await;
    }

    /// Deletes feed entries recorded before `older_than` (microseconds):
    /// the stream cannot resume from before it.
    pub async fn purge_live_events(&self, older_than_micros: i64) -> Result<u64> {
        on_pool!(&self.writer, |pool| {
            Ok(sqlx::query("DELETE FROM live_events WHERE created_at < $1")
                .bind(older_than_micros)
                .execute(pool)
                .await?
                .rows_affected())
        })
    }
}
