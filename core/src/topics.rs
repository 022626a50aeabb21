//! Topic names. Deployments may prefix every name (to share a broker, or to
//! give each test its own topics); [`Topics`] applies the prefix once.

pub const SUBMITTED: &str = "tickets.submitted";
pub const TRIAGED: &str = "tickets.triaged";
pub const MATCHED: &str = "tickets.matched";
pub const ROUTED: &str = "tickets.routed";
pub const EVENTS: &str = "tickets.events";
/// Changes to knowledge-base articles, for every index to follow.
pub const KB_CHANGES: &str = "kb.changes";

/// Every topic, in flow order.
pub const ALL: [&str; 6] = [SUBMITTED, TRIAGED, MATCHED, ROUTED, EVENTS, KB_CHANGES];

/// Suffix of the dead-letter topic that belongs to each topic.
pub const DLQ_SUFFIX: &str = ".dlq";

/// The dead-letter topic of `topic`.
pub fn dlq(topic: &str) -> String {
    format!("{topic}{DLQ_SUFFIX}")
}

/// Topic names as one deployment sees them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Topics {
    prefix: String,
}

impl Topics {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self { prefix: prefix.into() }
    }

    pub fn name(&self, base: &str) -> String {
        format!("{}{base}", self.prefix)
    }

    pub fn submitted(&self) -> String {
        self.name(SUBMITTED)
    }

    pub fn triaged(&self) -> String {
        self.name(TRIAGED)
    }

    pub fn matched(&self) -> String {
        self.name(MATCHED)
    }

    pub fn events(&self) -> String {
        self.name(EVENTS)
    }

    pub fn kb_changes(&self) -> String {
        self.name(KB_CHANGES)
    }

    /// Every pipeline topic and its dead-letter topic: what start-up creates.
    pub fn all_with_dead_letters(&self) -> Vec<String> {
        ALL.iter().flat_map(|base| [self.name(base), dlq(&self.name(base))]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_apply_to_dead_letter_topics_too() {
        let topics = Topics::new("t1-");
        assert_eq!(topics.submitted(), "t1-tickets.submitted");
        let all = topics.all_with_dead_letters();
        assert_eq!(all.len(), 12);
        assert!(all.contains(&"t1-tickets.events.dlq".to_owned()));
    }
}
