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
