//! The Switchboard knowledge base: FAQ articles and past solutions (the
//! reports of resolved tickets) in a tantivy index, matched against a
//! ticket's text with a calibrated confidence.
//!
//! # Using it
//! - Open with [`KnowledgeBase::open_or_create`]; when it returns a
//!   [`RebuildReason`], call [`KnowledgeBase::rebuild`] with every document
//!   from the store. A missing, damaged or outdated index is never an error.
//! - Keep it in step with [`KnowledgeBase::upsert`] / [`KnowledgeBase::delete`]
//!   and one [`KnowledgeBase::commit`] per batch (or [`KnowledgeBase::apply`]).
//! - Match with [`KnowledgeBase::search`] or [`KnowledgeBase::search_ticket`]
//!   from a blocking thread pool; [`auto_answer`] picks the FAQ match whose
//!   [`Match::confidence`] reaches an auto-answer threshold.
//! - Mount [`KbToolCommand`] under `switchboard kb` and call [`run_tool`]
//!   (the binary has the store-backed `kb import`, `search` and `rebuild`).
//!
//! # How matching works
//! BM25 over question, answer, tags and learned phrasings with their own
//! boosts (English stemming; bigram phrase and one-edit fuzzy bonuses), then
//! a blend with a character n-gram TF-IDF cosine to the centroid of each
//! candidate's question and phrasings (and optionally to its closest single
//! phrasing), then a logistic confidence over scale-free features. The
//! defaults in [`SearchConfig`] were tuned with `kb tune` on a tuning split
//! of StackFAQ's `queries_dev.csv` only; `scripts/kb/eval.sh` reproduces the
//! held-out figures, and `kb-index/README.md` records them.

pub mod analysis;
mod cache;
mod candidates;
pub mod cli;
pub mod confidence;
pub mod document;
pub mod error;
pub mod eval;
pub mod import;
pub mod index;
mod ngram;
pub mod search;
pub mod stage;
pub mod tune;

pub use analysis::{AnalysisOptions, StopWords};
pub use cli::{KbToolCommand, run_tool};
pub use confidence::{Calibration, MatchFeatures};
pub use document::{DocKey, DocKind, Faq, KbDocument, PastSolution};
pub use error::{Error, Result};
pub use eval::EvalReport;
pub use import::{LabelledQuery, parse_faqs_jsonl, read_faqs_jsonl};
pub use index::{Change, KbOptions, KnowledgeBase, NeedsRebuild, RebuildReason, SCHEMA_VERSION};
pub use search::{Match, SearchConfig, SearchFilter, auto_answer, auto_answer_withheld, ticket_query_text};

#[cfg(test)]
mod thread_safety {
    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn the_knowledge_base_can_be_shared_between_threads() {
        assert_send_sync::<super::KnowledgeBase>();
    }
}
