//! Leases on the rows of a durable schedule (`deliveries`,
//! `webhook_messages`): how a worker claims due rows so that no other
//! worker takes them meanwhile, and how a dead worker's claim runs out.

use std::collections::HashSet;

use uuid::Uuid;

use crate::Store;
use crate::db::on_pool;
use crate::error::Result;

/// The end of a lease of `lease` from `now` (microseconds).
pub(crate) fn leased_until(now: i64, lease: time::Duration) -> i64 {
    now.saturating_add(i64::try_from(lease.whole_microseconds()).unwrap_or(i64::MAX / 2))
}

/// A row of a schedule as read for a claim.
pub(crate) trait LeasedRow {
    fn id(&self) -> Uuid;
    /// Its `next_attempt_at` becomes the lease's end (microseconds).
    fn set_next_attempt_at(&mut self, until: i64);
}

impl Store {
    /// Leases those of `rows` (read from the schedule `table`) that are
    /// still pending and due at `now`, until `until`, in one statement: a
    /// row another worker leased meanwhile is no longer due, so two workers
    /// never both take one. Returns the rows taken, their `next_attempt_at`
    /// the lease's end: the claim's token, an outcome being recorded only
    /// while the row carries it.
    pub(crate) async fn lease_rows<R: LeasedRow>(
        &self,
        table: &'static str,
        rows: Vec<R>,
        now: i64,
        until: i64,
    ) -> Result<Vec<R>> {
        if rows.is_empty() {
            return Ok(rows);
        }
        let taken: Vec<Uuid> = on_pool!(&self.writer, |pool| {
            let mut query = sqlx::QueryBuilder::new(format!("UPDATE {table} SET next_attempt_at = "));
            query.push_bind(until);
            query.push(" WHERE state = 'pending' AND next_attempt_at <= ");
            query.push_bind(now);
            query.push(" AND id IN (");
            let mut separated = query.separated(", ");
            for row in &rows {
                separated.push_bind(row.id());
            }
            query.push(") RETURNING id");
            query.build_query_scalar().fetch_all(pool).await
        })?;
        let taken: HashSet<Uuid> = taken.into_iter().collect();
        let mut leased: Vec<R> = rows.into_iter().filter(|row| taken.contains(&row.id())).collect();
        for row in &mut leased {
            row.set_next_attempt_at(until);
        }
        Ok(leased)
    }
}
