//! The durable log behind the embedded bus: one append-only sequence of
//! messages per topic with dense offsets, and the next offset of each
//! consumer group.
//!
//! Appends of one call happen in one transaction (the bus batches many
//! producers into one call: group commit). Offsets are taken from a counter
//! row per topic inside the transaction; the row lock serialises appenders
//! per topic on PostgreSQL (and SQLite has a single writer anyway), so
//! offsets become visible in order and a reader never skips a message that
//! commits late.

use std::collections::{BTreeMap, HashMap};

use crate::Store;
use crate::db::{BeginWrite, on_pool};
use crate::error::{Error, Result};

/// Rows per INSERT statement; keeps bind parameters well under SQLite's limit.
const INSERT_CHUNK: usize = 500;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendRecord {
    pub topic: String,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    /// Headers, already encoded by the bus.
    pub headers: String,
    pub timestamp_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct LogRecord {
    #[sqlx(rename = "msg_offset")]
    pub offset: i64,
    #[sqlx(rename = "msg_key")]
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: String,
    pub timestamp_ms: i64,
}

impl Store {
    /// Creates the topic's log if it does not exist; true if it was created.
    pub async fn log_create_topic(&self, topic: &str) -> Result<bool> {
        let result = on_pool!(&self.writer, |pool| sqlx::query(
            "INSERT INTO bus_topics (name, next_offset) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING"
        )
        .bind(topic)
        .execute(pool)
        .await
        .map(|result| result.rows_affected()))?;
        Ok(result == 1)
    }

    /// Every topic with its end offset (the offset the next message gets).
    pub async fn log_topics(&self) -> Result<BTreeMap<String, i64>> {
        let rows: Vec<(String, i64)> =
            on_pool!(&self.db, |pool| sqlx::query_as("SELECT name, next_offset FROM bus_topics")
                .fetch_all(pool)
                .await)?;
        Ok(rows.into_iter().collect())
    }

    /// Appends `records` in one transaction and returns each record's offset,
    /// in input order. All topics must exist; if one does not, nothing is
    /// written.
    pub async fn log_append(&self, records: &[AppendRecord]) -> Result<Vec<i64>> {
        // Lock topics in name order so two appenders never wait on each other
        // in a cycle.
        let mut by_topic: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (index, record) in records.iter().enumerate() {
            by_topic.entry(record.topic.as_str()).or_default().push(index);
        }
        let mut offsets = vec![0_i64; records.len()];
        let fsync_on_commit = self.is_sqlite();
        on_pool!(&self.writer, |pool| {
            let mut connection = pool.acquire().await?;
            if fsync_on_commit {
                sqlx::query("PRAGMA synchronous = FULL").execute(&mut *connection).await?;
            }
            let appended = async {
                let mut transaction = sqlx::Connection::begin(&mut *connection).await?;
                for (topic, indices) in &by_topic {
                    let count = indices.len() as i64;
                    let end: Option<i64> = sqlx::query_scalar(
                        "UPDATE bus_topics SET next_offset = next_offset + $1 WHERE name = $2 RETURNING next_offset",
                    )
                    .bind(count)
                    .bind(*topic)
                    .fetch_optional(&mut *transaction)
                    .await?;
                    let Some(end) = end else {
                        return Err(Error::UnknownTopic((*topic).to_owned()));
                    };
                    let mut next_offset = end - count;
                    for chunk in indices.chunks(INSERT_CHUNK) {
                        let mut insert = sqlx::QueryBuilder::new(
                            "INSERT INTO bus_messages (topic, msg_offset, msg_key, payload, headers, timestamp_ms) ",
                        );
                        insert.push_values(chunk, |mut row, &index| {
                            let record = &records[index];
                            offsets[index] = next_offset;
                            row.push_bind(&record.topic)
                                .push_bind(next_offset)
                                .push_bind(&record.key)
                                .push_bind(&record.payload)
                                .push_bind(&record.headers)
                                .push_bind(record.timestamp_ms);
                            next_offset += 1;
                        });
                        insert.build().execute(&mut *transaction).await?;
                    }
                    debug_assert_eq!(next_offset, end);
                }
                transaction.commit().await?;
                Ok::<_, Error>(())
            }
            .await;
            if fsync_on_commit {
                sqlx::query("PRAGMA synchronous = NORMAL").execute(&mut *connection).await?;
            }
            appended
        })?;
        Ok(offsets)
    }

    /// Up to `limit` messages of `topic` from offset `from` on, in order.
    pub async fn log_read(&self, topic: &str, from: i64, limit: u32) -> Result<Vec<LogRecord>> {
        let records = on_pool!(&self.db, |pool| sqlx::query_as(
            "SELECT msg_offset, msg_key, payload, headers, timestamp_ms FROM bus_messages \
             WHERE topic = $1 AND msg_offset >= $2 ORDER BY msg_offset LIMIT $3"
        )
        .bind(topic)
        .bind(from)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)?;
        Ok(records)
    }

    /// The committed next offset of `group` on each of `topics` that has one.
    pub async fn log_committed_offsets(&self, group: &str) -> Result<HashMap<String, i64>> {
        let rows: Vec<(String, i64)> = on_pool!(&self.db, |pool| sqlx::query_as(
            "SELECT topic, next_offset FROM bus_group_offsets WHERE group_id = $1"
        )
        .bind(group)
        .fetch_all(pool)
        .await)?;
        Ok(rows.into_iter().collect())
    }

    /// Records where `group` resumes on each topic, in one transaction. An
    /// offset only moves forward: a late commit of an older position (a
    /// member that lost the race) never rewinds the group.
    pub async fn log_commit_offsets(&self, group: &str, offsets: &[(String, i64)]) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        on_pool!(&self.writer, |pool| {
            let mut transaction = pool.begin_write().await?;
            for (topic, next_offset) in offsets {
                sqlx::query(
                    "INSERT INTO bus_group_offsets (group_id, topic, next_offset) VALUES ($1, $2, $3) \
                     ON CONFLICT (group_id, topic) DO UPDATE SET next_offset = CASE \
                     WHEN excluded.next_offset > bus_group_offsets.next_offset THEN excluded.next_offset \
                     ELSE bus_group_offsets.next_offset END",
                )
                .bind(group)
                .bind(topic)
                .bind(next_offset)
                .execute(&mut *transaction)
                .await?;
            }
            transaction.commit().await?;
            Ok::<_, Error>(())
        })
    }

    /// Deletes messages of `topic` below `before_offset` whose timestamp is
    /// older than `older_than_ms`, and returns how many went. Retention must
    /// only pass offsets that every consumer group has committed past.
    pub async fn log_truncate(&self, topic: &str, before_offset: i64, older_than_ms: i64) -> Result<u64> {
        let deleted = on_pool!(&self.writer, |pool| sqlx::query(
            "DELETE FROM bus_messages WHERE topic = $1 AND msg_offset < $2 AND timestamp_ms < $3"
        )
        .bind(topic)
        .bind(before_offset)
        .bind(older_than_ms)
        .execute(pool)
        .await
        .map(|result| result.rows_affected()))?;
        Ok(deleted)
    }

    /// The lowest committed offset on `topic` over all consumer groups that
    /// read it, or `None` when no group has committed there.
    pub async fn log_min_committed_offset(&self, topic: &str) -> Result<Option<i64>> {
        let offset: Option<i64> = on_pool!(&self.db, |pool| sqlx::query_scalar(
            "SELECT MIN(next_offset) FROM bus_group_offsets WHERE topic = $1"
        )
        .bind(topic)
        .fetch_one(pool)
        .await)?;
        Ok(offset)
    }
}
