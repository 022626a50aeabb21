//! Topic names, and which stage reads which topic. Deployments may prefix
//! every name (to share a broker, or to give each test its own topics);
//! [`Topics`] applies the prefix once.

pub const SUBMITTED: &str = "tickets.submitted";
pub const TRIAGED: &str = "tickets.triaged";
pub const MATCHED: &str = "tickets.matched";
pub const ROUTED: &str = "tickets.routed";
pub const EVENTS: &str = "tickets.events";
/// Changes to knowledge-base articles, for every index to follow.
pub const KB_CHANGES: &str = "kb.changes";
/// What happens to accounts (`events::AccountMessage`), keyed by account id,
/// for the notifier to tell people (a password-reset link, say).
pub const ACCOUNT_EVENTS: &str = "accounts.events";

/// Every topic, in flow order.
pub const ALL: [&str; 7] = [SUBMITTED, TRIAGED, MATCHED, ROUTED, EVENTS, KB_CHANGES, ACCOUNT_EVENTS];

/// The stages that consume topics, by name (their consumer groups, metrics
/// labels and dead-letter topics are named after them).
pub mod stages {
    pub const TRIAGE: &str = "triage";
    pub const KB_MATCH: &str = "kb";
    pub const KB_SYNC: &str = "kb-sync";
    pub const PROJECTOR: &str = "projector";
    pub const ROUTER: &str = "router";
    /// Delivers routed tickets to team servers (reads the store's delivery
    /// schedule, not a topic).
    pub const DELIVERY: &str = "delivery";
    /// Turns events into webhook messages.
    pub const NOTIFIER: &str = "notifier";
    /// Sends webhook messages (reads the store's schedule, not a topic).
    pub const WEBHOOKS: &str = "webhooks";
    /// Sends mails over SMTP (reads the store's outbox of mails, not a
    /// topic).
    pub const MAIL: &str = "mail";
    /// Reads support mailboxes over IMAP (`ingest.imap.mailboxes`) and
    /// files their mail as tickets (reads no topic).
    pub const IMAP: &str = "imap";
}

/// What each stage reads: stages subscribe to exactly these, and start-up
/// creates a dead-letter topic for each pair. A new stage is one line here.
pub const STAGE_INPUTS: &[(&str, &[&str])] = &[
    (stages::TRIAGE, &[SUBMITTED]),
    (stages::KB_MATCH, &[TRIAGED]),
    (stages::KB_SYNC, &[KB_CHANGES, EVENTS]),
    (stages::PROJECTOR, &[SUBMITTED, TRIAGED, MATCHED]),
    (stages::ROUTER, &[MATCHED]),
    (stages::NOTIFIER, &[EVENTS, TRIAGED, ROUTED, ACCOUNT_EVENTS]),
];

/// Suffix of every dead-letter topic.
pub const DLQ_SUFFIX: &str = ".dlq";

/// The dead-letter topic of `stage` for messages it could not handle from
/// `topic`: `<topic>.<stage>.dlq`. Per stage, because two stages read one
/// topic: a message that only one of them fails is that stage's problem,
/// and replaying it must not re-deliver it to the other.
pub fn dead_letter(topic: &str, stage: &str) -> String {
    format!("{topic}.{stage}{DLQ_SUFFIX}")
}

/// The topics `stage` reads (unprefixed), or `None` for an unknown stage.
pub fn inputs_of(stage: &str) -> Option<&'static [&'static str]> {
    STAGE_INPUTS.iter().find(|(name, _)| *name == stage).map(|(_, inputs)| *inputs)
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

    pub fn routed(&self) -> String {
        self.name(ROUTED)
    }

    pub fn events(&self) -> String {
        self.name(EVENTS)
    }

    pub fn account_events(&self) -> String {
        self.name(ACCOUNT_EVENTS)
    }

    pub fn kb_changes(&self) -> String {
        self.name(KB_CHANGES)
    }

    /// The topics `stage` reads, prefixed; empty for an unknown stage.
    pub fn inputs(&self, stage: &str) -> Vec<String> {
        inputs_of(stage).unwrap_or_default().iter().map(|base| self.name(base)).collect()
    }

    /// `stage`'s dead-letter topics, one per topic it reads.
    pub fn dead_letters(&self, stage: &str) -> Vec<String> {
        self.inputs(stage).iter().map(|topic| dead_letter(topic, stage)).collect()
    }

    /// Every pipeline topic and every stage's dead-letter topics: what
    /// start-up creates.
    pub fn all_with_dead_letters(&self) -> Vec<String> {
        let mut all: Vec<String> = ALL.iter().map(|base| self.name(base)).collect();
        for (stage, _) in STAGE_INPUTS {
            all.extend(self.dead_letters(stage));
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_has_one_dead_letter_topic_per_input_with_the_prefix() {
        let topics = Topics::new("t1-");
        assert_eq!(topics.submitted(), "t1-tickets.submitted");
        assert_eq!(
            topics.dead_letters(stages::PROJECTOR),
            [
                "t1-tickets.submitted.projector.dlq",
                "t1-tickets.triaged.projector.dlq",
                "t1-tickets.matched.projector.dlq"
            ]
        );
        assert_eq!(topics.dead_letters(stages::TRIAGE), ["t1-tickets.submitted.triage.dlq"]);
        let all = topics.all_with_dead_letters();
        assert_eq!(all.len(), ALL.len() + 12);
        assert!(all.contains(&"t1-tickets.events.kb-sync.dlq".to_owned()));
        assert!(all.contains(&"t1-tickets.routed.notifier.dlq".to_owned()));
        assert!(all.contains(&"t1-accounts.events.notifier.dlq".to_owned()));
        assert!(all.contains(&"t1-tickets.matched.router.dlq".to_owned()));
        assert!(topics.inputs("no-such-stage").is_empty());
    }
}
