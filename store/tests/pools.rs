//! On PostgreSQL, reads cannot starve the bus log's appends: they have
//! separate pools, and a read that runs too long is cancelled.

use std::time::Duration;

use switchboard_core::Scope;
use switchboard_store::testing::{fresh_postgres_database, in_ci};
use switchboard_store::{AppendRecord, PoolOptions, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_read_neither_blocks_appends_nor_holds_its_connection() {
    let Some(url) = fresh_postgres_database().await else {
        assert!(!in_ci(), "PostgreSQL is required under CI");
        return;
    };
    let pools =
        PoolOptions { read_connections: 1, write_connections: 1, read_statement_timeout: Duration::from_millis(500) };
    let store = Store::connect_with(&url, pools).await.expect("connect");
    store.migrate().await.expect("migrate");
    store.log_create_topic("tickets.submitted").await.expect("topic");

    // Another session holds the FAQ table exclusively: every read of it waits.
    let locker_pool = sqlx::PgPool::connect(&url).await.expect("raw connection");
    let mut transaction = locker_pool.begin().await.expect("begin");
    sqlx::query("LOCK TABLE faqs IN ACCESS EXCLUSIVE MODE").execute(&mut *transaction).await.expect("lock");

    // The one read connection is stuck in a list...
    let stuck = tokio::spawn({
        let store = store.clone();
        async move { store.list_faqs(&Scope::Installation, None, 10).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    // ...while ingest still appends, on its own pool.
    let record = AppendRecord {
        topic: "tickets.submitted".into(),
        key: None,
        payload: b"{}".to_vec(),
        headers: "[]".into(),
        timestamp_ms: 0,
    };
    tokio::time::timeout(Duration::from_secs(20), store.log_append(std::slice::from_ref(&record)))
        .await
        .expect("an append does not wait for the stuck read")
        .expect("append");

    // The statement timeout ends the read (a transient error: retry later).
    let read = tokio::time::timeout(Duration::from_secs(20), stuck)
        .await
        .expect("cancelled by the statement timeout, not left waiting for the lock")
        .expect("join");
    let error = read.expect_err("the read was cancelled");
    assert!(error.is_transient(), "{error:?}");
    transaction.rollback().await.expect("unlock");
    // Its connection is free again.
    store.list_faqs(&Scope::Installation, None, 10).await.expect("reads work again");
}

/// On SQLite, another process (`switchboard company create` beside a
/// running `switchboard up`) may hold the write lock. A write transaction
/// that reads first must wait for it, not fail with "database is locked".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_write_transaction_waits_for_another_process_holding_the_lock() {
    use switchboard_core::auth::AccountKind;
    use switchboard_core::{CompanyId, Role};
    use switchboard_store::NewAccount;

    let directory = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", directory.path().join("switchboard.db").display());
    let store = Store::connect(&url, 2).await.expect("connect");
    store.migrate().await.expect("migrate");
    let company = CompanyId::parse("acme").expect("company id");
    assert!(store.create_company(&company, "Acme").await.expect("company"));

    // The other process: its own connection, inside a write transaction.
    let other = sqlx::SqlitePool::connect(&url).await.expect("second connection");
    let mut locker = other.acquire().await.expect("acquire");
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *locker).await.expect("take the write lock");
    sqlx::query("UPDATE companies SET name = 'Acme Inc.' WHERE id = 'acme'")
        .execute(&mut *locker)
        .await
        .expect("write under the lock");
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        sqlx::query("COMMIT").execute(&mut *locker).await.expect("commit");
    });

    // Reads the accounts table for a clash, then inserts: one transaction.
    let account = NewAccount {
        company: &company,
        role: Role::Admin,
        kind: AccountKind::Work,
        name: "Ada",
        username: "ada",
        email: "ada@acme.example",
        password_hash: None,
    };
    let created = store.create_account(&account).await.expect("waits for the lock, then writes");
    release.await.expect("release");
    let stored = store.account(&Scope::Installation, created.id).await.expect("read");
    assert_eq!(stored.and_then(|account| account.username).as_deref(), Some("ada"));
}
