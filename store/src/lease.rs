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

impl Store {
    /// Leases those of the rows `ids` of the schedule `table` that are
    /// still pending and due at `now`, until `until`, in one statement: a
    /// row another worker leased meanwhile is no longer due, so two workers
    /// never both take one. The new `next_attempt_at` is the claim's token:
    /// an outcome is recorded only while the row carries it. Returns the ids
    /// taken.
    pub(crate) async fn lease_rows(
        &self,
        table: &'static str,
        ids: &[Uuid],
        now: i64,
        until: i64,
    ) -> Result<HashSet<Uuid>> {
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let taken: Vec<Uuid> = on_pool!(&self.writer, |pool| {
            let mut query = sqlx::QueryBuilder::new(format!("UPDATE {table} SET next_attempt_at = "));
            query.push_bind(until);
            query.push(" WHERE state = 'pending' AND next_attempt_at <= ");
            query.push_bind(now);
            query.push(" AND id IN (");
            let mut separated = query.separated(", ");
            for id in ids {
                separated.push_bind(*id);
            }
            query.push(") RETURNING id");
            query.build_query_scalar().fetch_all(pool).await
        })?;
        Ok(taken.into_iter().collect())
    }
}
