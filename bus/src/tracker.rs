//! Which offset is safe to store, per partition, when messages of one
//! partition finish out of order.
//!
//! A partition's stored offset may only pass a message once that message and
//! every earlier one are done. Messages of a partition arrive in offset
//! order and each is registered before it is handled, so the safe offset is
//! the smallest offset still in flight, or one past the highest done when
//! nothing is in flight.

use std::collections::{BTreeSet, HashMap};

#[derive(Debug)]
struct PartitionState {
    generation: u64,
    in_flight: BTreeSet<i64>,
    highest_done: Option<i64>,
    /// The last offset handed out for storing (initially where reading
    /// resumed, which is already committed).
    stored: i64,
}

impl PartitionState {
    fn starting_at(offset: i64, generation: u64) -> Self {
        Self { generation, in_flight: BTreeSet::new(), highest_done: None, stored: offset }
    }
}

#[derive(Debug, Default)]
pub(crate) struct OffsetTracker {
    partitions: HashMap<(String, i32), PartitionState>,
}

impl OffsetTracker {
    /// A message was received and is about to be handled. True when it is
    /// the first of its partition in this assignment (where reading began).
    pub(crate) fn begin(&mut self, topic: &str, partition: i32, offset: i64, generation: u64) -> bool {
        let key = (topic.to_owned(), partition);
        let mut first = !self.partitions.contains_key(&key);
        let state = self.partitions.entry(key).or_insert_with(|| PartitionState::starting_at(offset, generation));
        if state.generation != generation {
            // The assignment changed and reading restarts from the committed
            // offset: what the old generation had in flight no longer counts.
            *state = PartitionState::starting_at(offset, generation);
            first = true;
        }
        debug_assert!(state.in_flight.last().is_none_or(|&last| last < offset), "offsets arrive in order");
        state.in_flight.insert(offset);
        first
    }

    /// A message is done (handled and its outputs durable). Returns the next
    /// offset to store when it moved forward.
    pub(crate) fn complete(&mut self, topic: &str, partition: i32, offset: i64, generation: u64) -> Option<i64> {
        let state = self.partitions.get_mut(&(topic.to_owned(), partition))?;
        if state.generation != generation || !state.in_flight.remove(&offset) {
            return None;
        }
        let highest_done = state.highest_done.map_or(offset, |highest| highest.max(offset));
        state.highest_done = Some(highest_done);
        let safe = state.in_flight.first().copied().unwrap_or(highest_done + 1);
        if safe <= state.stored {
            return None;
        }
        state.stored = safe;
        Some(safe)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn waits_for_the_earliest_message() {
        let mut tracker = OffsetTracker::default();
        for offset in 10..14 {
            tracker.begin("t", 0, offset, 0);
        }
        assert_eq!(tracker.complete("t", 0, 11, 0), None);
        assert_eq!(tracker.complete("t", 0, 12, 0), None);
        assert_eq!(tracker.complete("t", 0, 10, 0), Some(13));
        assert_eq!(tracker.complete("t", 0, 13, 0), Some(14));
        assert_eq!(tracker.complete("t", 0, 13, 0), None, "a second completion changes nothing");
    }

    #[test]
    fn a_new_generation_forgets_the_old_one() {
        let mut tracker = OffsetTracker::default();
        assert!(tracker.begin("t", 0, 5, 0), "where reading began");
        assert!(!tracker.begin("t", 0, 6, 0));
        assert!(tracker.begin("t", 0, 5, 1), "a new assignment begins again");
        assert_eq!(tracker.complete("t", 0, 6, 0), None, "stale completion");
        assert_eq!(tracker.complete("t", 0, 5, 1), Some(6));
    }

    proptest! {
        #[test]
        fn stored_offsets_never_pass_an_unfinished_message(
            count in 1_usize..60,
            order in proptest::collection::vec(any::<proptest::sample::Index>(), 60),
        ) {
            let mut tracker = OffsetTracker::default();
            let start = 100_i64;
            for offset in start..start + count as i64 {
                tracker.begin("t", 0, offset, 7);
            }
            let mut pending: Vec<i64> = (start..start + count as i64).collect();
            let mut done = BTreeSet::new();
            let mut last_stored = start;
            for index in order.iter().take(count) {
                let offset = pending.remove(index.index(pending.len()));
                done.insert(offset);
                if let Some(stored) = tracker.complete("t", 0, offset, 7) {
                    prop_assert!(stored > last_stored);
                    prop_assert!((start..stored).all(|o| done.contains(&o)), "stored {} past an unfinished message", stored);
                    last_stored = stored;
                }
            }
            prop_assert_eq!(last_stored, start + count as i64, "everything done: everything stored");
        }
    }
}
