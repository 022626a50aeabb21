//! How sensible an urgency decision is on everyday support tickets: the
//! three shares `switchboard triage score-urgency` reports for the shipped
//! defaults (the urgency model, the urgency policy, and both, as the triage
//! stage decides) on a labelled set such as `triage/eval/urgency-everyday.csv`.

use serde::Serialize;
use switchboard_core::Urgency;

/// The shares for one way of deciding.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UrgencyScore {
    pub n: usize,
    /// Of the tickets labelled high or critical, the share rated high or
    /// critical.
    pub urgent_rated_urgent: f64,
    /// Of the tickets labelled low or normal, the share rated low or normal.
    pub calm_rated_calm: f64,
    /// Of the tickets labelled critical, the share rated critical.
    pub critical_recall: f64,
}

/// Scores `decided` against `truth`, pair by pair.
pub fn score(pairs: impl IntoIterator<Item = (Urgency, Urgency)>) -> UrgencyScore {
    let urgent = |urgency: Urgency| urgency >= Urgency::High;
    let (
        mut n,
        mut urgent_total,
        mut urgent_hits,
        mut calm_total,
        mut calm_hits,
        mut critical_total,
        mut critical_hits,
    ) = (0, 0, 0, 0, 0, 0, 0);
    for (truth, decided) in pairs {
        n += 1;
        if urgent(truth) {
            urgent_total += 1;
            urgent_hits += usize::from(urgent(decided));
        } else {
            calm_total += 1;
            calm_hits += usize::from(!urgent(decided));
        }
        if truth == Urgency::Critical {
            critical_total += 1;
            critical_hits += usize::from(decided == Urgency::Critical);
        }
    }
    let share = |hits: usize, total: usize| if total == 0 { 0.0 } else { hits as f64 / total as f64 };
    UrgencyScore {
        n,
        urgent_rated_urgent: share(urgent_hits, urgent_total),
        calm_rated_calm: share(calm_hits, calm_total),
        critical_recall: share(critical_hits, critical_total),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Urgency::*;

    #[test]
    fn the_shares_count_what_their_names_say() {
        let scored = score([
            (Critical, Critical),
            (Critical, High),
            (High, Normal),
            (High, Critical),
            (Normal, Normal),
            (Low, High),
            (Low, Low),
            (Normal, Low),
        ]);
        assert_eq!(scored.n, 8);
        assert_eq!(scored.urgent_rated_urgent, 0.75);
        assert_eq!(scored.calm_rated_calm, 0.75);
        assert_eq!(scored.critical_recall, 0.5);
    }
}
