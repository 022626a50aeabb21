use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use switchboard_core::config::StoreConfig;
use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::error::{Error, Result};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
pub(crate) enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool, once per backend, so
/// one piece of query code compiles for both databases.
macro_rules! on_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// Opens a write transaction on a `writer` pool.
///
/// On SQLite it begins `IMMEDIATE`: the write lock is taken (waiting in the
/// busy handler) before the first statement. A default (deferred)
/// transaction that reads first and then writes cannot wait for a lock
/// another process holds: SQLite fails it at once with "database is
/// locked", which is what a CLI command running beside `switchboard up`
/// would see. PostgreSQL's plain `BEGIN` already behaves.
pub(crate) trait BeginWrite {
    type Database: sqlx::Database;

    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, Self::Database>>;
}

impl BeginWrite for SqlitePool {
    type Database = sqlx::Sqlite;

    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        use sqlx::TransactionManager as _;
        use sqlx::sqlite::SqliteTransactionManager;
        let mut connection = self.acquire().await?;
        // A write whose future was dropped at the wrong moment (a stage
        // stopping mid-commit) can hand its connection back inside a
        // transaction nobody holds any more. Roll that back here: otherwise
        // every later `BEGIN IMMEDIATE` on the connection fails, and a plain
        // `BEGIN` would silently nest every later write inside it.
        if SqliteTransactionManager::get_transaction_depth(&connection) > 0 {
            tracing::warn!("a store connection came back inside an abandoned transaction; rolling it back");
            SqliteTransactionManager::rollback(&mut connection).await?;
        }
        sqlx::Transaction::begin(connection, Some("BEGIN IMMEDIATE".into())).await
    }
}

impl BeginWrite for PgPool {
    type Database = sqlx::Postgres;

    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        self.begin().await
    }
}

/// Makes the writers of one table take turns for the rest of a write
/// transaction, for a rule across rows that no unique index can hold.
/// Readers are not held up.
pub(crate) trait LockTable {
    async fn lock_table(&mut self, table: &'static str) -> sqlx::Result<()>;
}

impl LockTable for sqlx::Transaction<'static, sqlx::Sqlite> {
    async fn lock_table(&mut self, _table: &'static str) -> sqlx::Result<()> {
        // `BEGIN IMMEDIATE` (BeginWrite) already holds the database's one
        // write lock.
        Ok(())
    }
}

impl LockTable for sqlx::Transaction<'static, sqlx::Postgres> {
    async fn lock_table(&mut self, table: &'static str) -> sqlx::Result<()> {
        // SHARE ROW EXCLUSIVE conflicts with itself and with row writes,
        // not with reads.
        sqlx::query(&format!("LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")).execute(&mut **self).await.map(|_| ())
    }
}

/// The store: connection pools and the repositories on them. Cheap to clone.
///
/// Reads use `db`; writes (the bus log's appends among them) use `writer`.
/// On PostgreSQL they are separate pools, so reads (an API list, say) can
/// never take the connections ingest needs to append, and reads run under a
/// `statement_timeout`: a slow one is cancelled (a transient error, 503 at
/// the API) instead of holding its connection. On SQLite, which has one
/// writer at a time anyway, `writer` is a pool of a single connection:
/// writers of this process queue for it in order instead of colliding on the
/// database lock and sleeping in SQLite's busy handler, which would add up to
/// 100 ms per collision.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) db: Db,
    pub(crate) writer: Db,
    /// Pulsed after a transition commits an outbox row, to wake the relay.
    pub(crate) outbox_written: Arc<Notify>,
    /// Woken when a delivery to a team server is due at once.
    pub(crate) deliveries_due: Arc<Notify>,
    /// Woken when a webhook message is due at once.
    pub(crate) webhooks_due: Arc<Notify>,
    /// Pulsed after notifications are recorded on the live feed.
    pub(crate) live_written: Arc<Notify>,
    /// Woken when a mail is due at once.
    pub(crate) mails_due: Arc<Notify>,
}

/// Pool sizes and limits ([`Store::connect_with`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolOptions {
    /// Connections for reads.
    pub read_connections: u32,
    /// Connections for writes on PostgreSQL (SQLite has one).
    pub write_connections: u32,
    /// The longest a read may run on PostgreSQL before it is cancelled.
    pub read_statement_timeout: Duration,
}

impl From<&StoreConfig> for PoolOptions {
    fn from(config: &StoreConfig) -> Self {
        Self {
            read_connections: config.max_connections,
            write_connections: config.write_connections,
            read_statement_timeout: Duration::from_millis(config.read_statement_timeout_ms),
        }
    }
}

impl Store {
    /// [`Store::connect_with`] `max_connections` readers and the default
    /// writers and read timeout.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        let pools = PoolOptions { read_connections: max_connections, ..PoolOptions::from(&StoreConfig::default()) };
        Self::connect_with(url, pools).await
    }

    /// Opens the pools. `sqlite://path` creates the file (and nothing else;
    /// the directory must exist) in WAL mode.
    ///
    /// Durability on SQLite: connections run with `synchronous=NORMAL`, under
    /// which a commit survives a crash of the process but not necessarily of
    /// the machine. Appends to the bus log, which back every "accepted"
    /// answer, switch to `synchronous=FULL` and fsync the WAL; that also makes
    /// every earlier commit durable, because the WAL is written in order. What
    /// a power loss can take is therefore only a tail of derived state
    /// (projections, consumer offsets), which the log replays.
    pub async fn connect_with(url: &str, pools: PoolOptions) -> Result<Self> {
        let connect_error = |source| Error::Connect { url: redact(url), source };
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(connect_error)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                .pragma("temp_store", "memory");
            // The writer first: it creates the file and switches it to WAL.
            let writer = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(options.clone())
                .await
                .map_err(connect_error)?;
            let readers = SqlitePoolOptions::new()
                .max_connections(pools.read_connections)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .map_err(connect_error)?;
            Ok(Self {
                db: Db::Sqlite(readers),
                writer: Db::Sqlite(writer),
                outbox_written: Arc::default(),
                deliveries_due: Arc::default(),
                webhooks_due: Arc::default(),
                live_written: Arc::default(),
                mails_due: Arc::default(),
            })
        } else {
            let options = PgConnectOptions::from_str(url).map_err(connect_error)?;
            let writer = PgPoolOptions::new()
                .max_connections(pools.write_connections)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options.clone())
                .await
                .map_err(connect_error)?;
            let timeout_ms = pools.read_statement_timeout.as_millis().max(1).to_string();
            let readers = PgPoolOptions::new()
                .max_connections(pools.read_connections)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options.options([("statement_timeout", timeout_ms.as_str())]))
                .await
                .map_err(connect_error)?;
            Ok(Self {
                db: Db::Postgres(readers),
                writer: Db::Postgres(writer),
                outbox_written: Arc::default(),
                deliveries_due: Arc::default(),
                webhooks_due: Arc::default(),
                live_written: Arc::default(),
                mails_due: Arc::default(),
            })
        }
    }

    pub(crate) fn is_sqlite(&self) -> bool {
        matches!(self.writer, Db::Sqlite(_))
    }

    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies pending migrations of this backend.
    pub async fn migrate(&self) -> Result<()> {
        match &self.writer {
            Db::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
            Db::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        let filled = self.backfill_filter_columns().await?;
        if filled > 0 {
            tracing::info!(tickets = filled, "filled in the search columns of tickets stored before them");
        }
        Ok(())
    }

    /// A round trip to the database, for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        on_pool!(&self.db, |pool| sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    pub async fn close(&self) {
        on_pool!(&self.db, |pool| pool.close().await);
        on_pool!(&self.writer, |pool| pool.close().await);
    }
}

/// The URL without its password, for error messages and logs.
pub(crate) fn redact(url: &str) -> String {
    let (url, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let base = redact_userinfo(url);
    match query {
        // `?password=…` (and `sslpassword`) carry secrets too.
        Some(query) => {
            let parameters: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) if name.to_ascii_lowercase().contains("password") => format!("{name}=***"),
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{base}?{}", parameters.join("&"))
        }
        None => base,
    }
}

fn redact_userinfo(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _password)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Microseconds since the Unix epoch, as every table stores times (the
/// filter language's in-memory comparisons use the same function).
pub(crate) use switchboard_core::filter::micros as to_micros;

pub(crate) fn from_micros(micros: i64) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .map_err(|_| Error::Corrupt(format!("timestamp {micros} is out of range")))
}

pub(crate) fn now_micros() -> i64 {
    to_micros(OffsetDateTime::now_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://./x.db"), "sqlite://./x.db");
        assert_eq!(
            redact("postgres://u@h/db?password=hunter2&sslmode=require"),
            "postgres://u@h/db?password=***&sslmode=require"
        );
        assert_eq!(redact("postgres://u:p@h/db?sslpassword=x"), "postgres://u:***@h/db?sslpassword=***");
    }

    #[test]
    fn micros_round_trip() {
        let now = OffsetDateTime::now_utc();
        let back = from_micros(to_micros(now)).expect("in range");
        assert_eq!(to_micros(back), to_micros(now));
    }
}
