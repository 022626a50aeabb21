//! The retry schedule: when a message's next attempt is, as a pure function
//! of the configured delays, the attempts made and the time, so it is
//! tested with any clock.

use std::time::Duration;

use time::OffsetDateTime;

/// When attempt `attempts + 1` is due, after attempt `attempts` failed at
/// `now`: the schedule's delay for it, with `jitter` (0 to 1) taking up to
/// a tenth off or adding it; `Retry-After` when later. `None` once the
/// schedule ran out.
pub fn next_attempt(
    schedule_ms: &[u64],
    attempts: u32,
    now: OffsetDateTime,
    retry_after: Option<Duration>,
    jitter: f64,
) -> Option<OffsetDateTime> {
    let delay_ms = *schedule_ms.get(usize::try_from(attempts).ok()?)?;
    // Spread over [0.9, 1.1] of the delay, so a receiver that was down
    // does not get every message back at the same instant.
    let factor = 0.9 + 0.2 * jitter.clamp(0.0, 1.0);
    let jittered = Duration::from_millis((delay_ms as f64 * factor).round() as u64);
    let delay = jittered.max(retry_after.unwrap_or(Duration::ZERO));
    Some(now + delay)
}

#[cfg(test)]
mod tests {
    use switchboard_core::config::NotifierConfig;

    use super::*;

    #[test]
    fn the_default_schedule_spans_a_day_and_a_half_then_gives_up() {
        let schedule = NotifierConfig::default().schedule_ms;
        let start = OffsetDateTime::UNIX_EPOCH;
        let mut now = start;
        let mut attempts = 0;
        // The first attempt is at once; each failure waits the next delay.
        while let Some(next) = next_attempt(&schedule, attempts + 1, now, None, 0.5) {
            now = next;
            attempts += 1;
        }
        assert_eq!(attempts + 1, 8, "eight attempts in all");
        let total = now - start;
        assert_eq!(total, time::Duration::seconds(5 + 5 * 60 + 30 * 60 + 2 * 3600 + 5 * 3600 + 20 * 3600));
    }

    #[test]
    fn jitter_stays_within_a_tenth_and_retry_after_wins_when_later() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let schedule = [0, 10_000];
        let early = next_attempt(&schedule, 1, now, None, 0.0).expect("due");
        let late = next_attempt(&schedule, 1, now, None, 1.0).expect("due");
        assert_eq!((early - now, late - now), (time::Duration::seconds(9), time::Duration::seconds(11)));
        let told = next_attempt(&schedule, 1, now, Some(Duration::from_secs(60)), 0.5).expect("due");
        assert_eq!(told - now, time::Duration::seconds(60));
        let sooner = next_attempt(&schedule, 1, now, Some(Duration::from_secs(1)), 0.5).expect("due");
        assert_eq!(sooner - now, time::Duration::seconds(10));
        assert_eq!(next_attempt(&schedule, 2, now, None, 0.5), None);
    }
}
