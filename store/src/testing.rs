//! Test helpers: a fresh, migrated store per test on either backend.
//!
//! PostgreSQL tests connect to `SWITCHBOARD_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) and create a database of
//! their own. When the server is unreachable they are skipped with a note,
//! except under `CI=true`, where a missing service is a failure.

use uuid::Uuid;

use crate::Store;

pub const POSTGRES_URL_VARIABLE: &str = "SWITCHBOARD_TEST_POSTGRES_URL";
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A migrated store that lives as long as this value.
pub struct TestStore {
    pub store: Store,
    /// The URL a child process can use to reach the same database.
    pub url: String,
    _directory: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for TestStore {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("TestStore").field("backend", &self.store.backend()).finish()
    }
}

/// True when tests must fail rather than skip for a missing service.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true" || value == "1")
}

pub async fn sqlite() -> TestStore {
    let directory = tempfile::tempdir().expect("create a temporary directory");
    let url = format!("sqlite://{}", directory.path().join("test.db").display());
    let store = Store::connect(&url, 8).await.expect("open SQLite");
    store.migrate().await.expect("migrate SQLite");
    TestStore { store, url, _directory: Some(directory) }
}

pub fn postgres_admin_url() -> String {
    std::env::var(POSTGRES_URL_VARIABLE).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

/// A new empty database on the test PostgreSQL server, migrated; `None` when
/// the server is unreachable outside CI.
pub async fn postgres() -> Option<TestStore> {
    let url = fresh_postgres_database().await?;
    let store = Store::connect(&url, 8).await.expect("connect to the new test database");
    store.migrate().await.expect("migrate PostgreSQL");
    Some(TestStore { store, url, _directory: None })
}

/// Creates an empty database and returns its URL (no migrations); `None`
/// when the server is unreachable outside CI.
pub async fn fresh_postgres_database() -> Option<String> {
    let admin_url = postgres_admin_url();
    let admin = match Store::connect(&admin_url, 1).await {
        Ok(store) => store,
        Err(error) if !in_ci() => {
            eprintln!("skipping a PostgreSQL test: {error} (set CI=true to make this a failure)");
            return None;
        }
        Err(error) => panic!("PostgreSQL is required under CI=true but unreachable at {admin_url}: {error:?}"),
    };
    let name = format!("sb_test_{}", Uuid::new_v4().simple());
    let crate::db::Db::Postgres(pool) = &admin.db else {
        panic!("{POSTGRES_URL_VARIABLE} must be a postgres:// URL");
    };
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(pool).await.expect("create a test database");
    admin.close().await;
    let (base, _) = admin_url.rsplit_once('/').expect("a database name in the URL");
    Some(format!("{base}/{name}"))
}

/// Runs each named async test function (taking a [`TestStore`]) once on
/// SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! test_both_backends {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test($crate::testing::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    if let Some(store) = $crate::testing::postgres().await {
                        super::$test(store).await;
                    }
                }
            )*
        }
    };
}

/// Holds SQLite's write lock until dropped, like another process in the
/// middle of a long write. Only for SQLite stores.
pub struct WriteLock {
    _connection: sqlx::SqliteConnection,
}

impl std::fmt::Debug for WriteLock {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("WriteLock")
    }
}

impl Store {
    /// Takes the database's write lock on a connection of its own; dropping
    /// the guard closes that connection, which releases the lock.
    pub async fn hold_write_lock_for_tests(&self) -> crate::Result<WriteLock> {
        let crate::db::Db::Sqlite(pool) = &self.db else {
            panic!("only SQLite has a database-wide write lock");
        };
        let mut connection = pool.acquire().await?.detach();
        sqlx::query("BEGIN IMMEDIATE").execute(&mut connection).await?;
        Ok(WriteLock { _connection: connection })
    }
}
