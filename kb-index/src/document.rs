//! What the knowledge base holds: FAQ articles and past solutions taken from
//! resolved tickets. Plain serde structs, so the store can persist them as
//! rows or JSON and hand them back to [`crate::KnowledgeBase::upsert`].

use serde::{Deserialize, Serialize};
use switchboard_core::TicketId;

/// An FAQ article: the store's [`Faq`], indexed as it is stored.
pub use switchboard_core::kb::Faq;

/// What an engineer's report on a resolved ticket teaches: the symptom and
/// the fix. Indexed so the next similar ticket finds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PastSolution {
    pub ticket_id: TicketId,
    pub title: String,
    pub malfunction: String,
    pub solution: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equipment_model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
}

/// Which kind of document a match is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocKind {
    Faq,
    PastSolution,
}

impl DocKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Faq => "faq",
            DocKind::PastSolution => "past_solution",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "faq" => Some(DocKind::Faq),
            "past_solution" => Some(DocKind::PastSolution),
            _ => None,
        }
    }
}

/// Identifies one indexed document: its kind, its owner (a company, for an
/// FAQ article of a company's own; `None` for a shared article and for past
/// solutions, whose ticket ids are unique anyway) and its id within them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DocKey {
    pub kind: DocKind,
    pub company: Option<String>,
    pub id: String,
}

impl DocKey {
    /// A shared FAQ article.
    pub fn faq(id: impl Into<String>) -> Self {
        Self::faq_of(None, id)
    }

    /// The FAQ article `owner` (`None`: a shared one) has with this id.
    pub fn faq_of(owner: Option<&str>, id: impl Into<String>) -> Self {
        Self { kind: DocKind::Faq, company: owner.map(str::to_owned), id: id.into() }
    }

    pub fn past_solution(ticket_id: TicketId) -> Self {
        Self { kind: DocKind::PastSolution, company: None, id: ticket_id.to_string() }
    }

    /// The single indexed term that identifies the document, used for
    /// upserts and deletes: `faq:<id>` (shared), `faq:<company>/<id>` or
    /// `past_solution:<ticket id>`. FAQ ids never contain `/`.
    pub(crate) fn index_term(&self) -> String {
        match &self.company {
            Some(company) => format!("{}:{company}/{}", self.kind.as_str(), self.id),
            None => format!("{}:{}", self.kind.as_str(), self.id),
        }
    }
}

/// Anything the knowledge base can index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum KbDocument {
    Faq(Faq),
    PastSolution(PastSolution),
}

impl From<Faq> for KbDocument {
    fn from(article: Faq) -> Self {
        KbDocument::Faq(article)
    }
}

impl From<PastSolution> for KbDocument {
    fn from(solution: PastSolution) -> Self {
        KbDocument::PastSolution(solution)
    }
}

impl KbDocument {
    pub fn key(&self) -> DocKey {
        match self {
            KbDocument::Faq(article) => DocKey::faq_of(article.company.as_deref(), article.id.clone()),
            KbDocument::PastSolution(solution) => DocKey::past_solution(solution.ticket_id),
        }
    }

    /// The text shown as a match's title.
    pub fn title(&self) -> &str {
        match self {
            KbDocument::Faq(article) => &article.question,
            KbDocument::PastSolution(solution) => &solution.title,
        }
    }

    /// The text shown under the title: the first answer, or the solution.
    pub fn answer_text(&self) -> &str {
        match self {
            KbDocument::Faq(article) => article.answers.first().map(String::as_str).unwrap_or(""),
            KbDocument::PastSolution(solution) => &solution.solution,
        }
    }

    /// The "question side" texts: what a customer's ticket should resemble.
    pub(crate) fn question_texts(&self) -> Vec<&str> {
        match self {
            KbDocument::Faq(article) => vec![article.question.as_str()],
            KbDocument::PastSolution(solution) => vec![solution.title.as_str(), solution.malfunction.as_str()],
        }
    }

    pub(crate) fn answer_texts(&self) -> Vec<&str> {
        match self {
            KbDocument::Faq(article) => article.answers.iter().map(String::as_str).collect(),
            KbDocument::PastSolution(solution) => vec![solution.solution.as_str()],
        }
    }

    pub(crate) fn phrasings(&self) -> &[String] {
        match self {
            KbDocument::Faq(article) => &article.phrasings,
            KbDocument::PastSolution(_) => &[],
        }
    }

    pub(crate) fn tags(&self) -> &[String] {
        match self {
            KbDocument::Faq(article) => &article.tags,
            KbDocument::PastSolution(_) => &[],
        }
    }

    pub(crate) fn equipment_model(&self) -> Option<&str> {
        match self {
            KbDocument::Faq(article) => article.equipment_model.as_deref(),
            KbDocument::PastSolution(solution) => solution.equipment_model.as_deref(),
        }
    }

    pub(crate) fn company(&self) -> Option<&str> {
        match self {
            KbDocument::Faq(article) => article.company.as_deref(),
            KbDocument::PastSolution(solution) => solution.company.as_deref(),
        }
    }

    pub(crate) fn language(&self) -> &str {
        match self {
            KbDocument::Faq(article) => &article.language,
            KbDocument::PastSolution(_) => "en",
        }
    }

    pub(crate) fn published(&self) -> bool {
        match self {
            KbDocument::Faq(article) => article.published,
            KbDocument::PastSolution(_) => true,
        }
    }

    /// Refuses documents that cannot be found or identified.
    pub(crate) fn validate(&self) -> crate::Result<()> {
        let key = self.key();
        if key.id.trim().is_empty() {
            return Err(crate::Error::InvalidDocument { id: key.id, message: "the id is empty".into() });
        }
        let has_text = self
            .question_texts()
            .into_iter()
            .chain(self.phrasings().iter().map(String::as_str))
            .chain(self.answer_texts())
            .any(|text| !text.trim().is_empty());
        if !has_text {
            return Err(crate::Error::InvalidDocument { id: key.id, message: "no searchable text".into() });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_terms_name_the_owner_and_differ() {
        let keys = [
            DocKey::faq("reset-password"),
            DocKey::faq_of(Some("acme"), "reset-password"),
            DocKey::faq_of(Some("globex"), "faq-12.v2:en"),
            DocKey::faq_of(Some("a/b"), "c"),
            DocKey::past_solution("00000000-0000-0000-0000-000000000000".parse().expect("a ticket id")),
        ];
        let terms: Vec<String> = keys.iter().map(DocKey::index_term).collect();
        assert_eq!(
            terms,
            [
                "faq:reset-password",
                "faq:acme/reset-password",
                "faq:globex/faq-12.v2:en",
                "faq:a/b/c",
                "past_solution:00000000-0000-0000-0000-000000000000"
            ]
        );
    }
}
