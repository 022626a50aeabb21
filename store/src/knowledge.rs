//! FAQ articles and engineers' reports: what the knowledge base indexes.

use switchboard_core::events::Report;
use switchboard_core::kb::Faq;
use switchboard_core::{CompanyId, Scope, Ticket, TicketId};
use uuid::Uuid;

use crate::Store;
use crate::db::{BeginWrite, LockTable, from_micros, now_micros, on_pool, to_micros};
use crate::error::{Error, Result};

#[derive(sqlx::FromRow)]
struct FaqRow {
    id: String,
    company: Option<String>,
    question: String,
    answers: String,
    tags: String,
    equipment_model: Option<String>,
    language: String,
    published: bool,
    phrasings: String,
    created_at: i64,
    updated_at: i64,
}

const FAQ_COLUMNS: &str =
    "id, company, question, answers, tags, equipment_model, language, published, phrasings, created_at, updated_at";

fn list_from_json(id: &str, what: &str, text: &str) -> Result<Vec<String>> {
    serde_json::from_str(text).map_err(|error| Error::Corrupt(format!("FAQ {id}: bad {what}: {error}")))
}

fn to_json(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".to_owned())
}

impl TryFrom<FaqRow> for Faq {
    type Error = Error;

    fn try_from(row: FaqRow) -> Result<Self> {
        Ok(Faq {
            answers: list_from_json(&row.id, "answers", &row.answers)?,
            tags: list_from_json(&row.id, "tags", &row.tags)?,
            phrasings: list_from_json(&row.id, "phrasings", &row.phrasings)?,
            created_at: from_micros(row.created_at)?,
            updated_at: from_micros(row.updated_at)?,
            id: row.id,
            company: row.company,
            question: row.question,
            equipment_model: row.equipment_model,
            language: row.language,
            published: row.published,
        })
    }
}

/// Adds the scope's company condition to a query that has a `WHERE`, for
/// rows that may also be shared (no company): a company scope sees its own
/// and the shared ones.
pub(crate) fn push_scope_or_shared<'args, DB>(query: &mut sqlx::QueryBuilder<'args, DB>, scope: &Scope)
where
    DB: sqlx::Database,
    String: sqlx::Encode<'args, DB> + sqlx::Type<DB>,
{
    if let Some(company) = scope.company() {
        query.push(" AND (company IS NULL OR company = ").push_bind(company.as_str().to_owned()).push(")");
    }
}

/// A past solution: a report with the ticket it resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredReport {
    pub ticket_id: TicketId,
    pub company: CompanyId,
    pub title: String,
    pub report: Report,
}

#[derive(sqlx::FromRow)]
pub(crate) struct ReportRow {
    pub(crate) ticket_id: Uuid,
    pub(crate) company: String,
    pub(crate) title: String,
    pub(crate) malfunction: String,
    pub(crate) solution: String,
    pub(crate) parts: String,
    pub(crate) time_spent_minutes: Option<i32>,
    pub(crate) travel_minutes: Option<i32>,
    pub(crate) travel_distance_m: Option<i32>,
    pub(crate) travel_source: Option<String>,
    pub(crate) equipment_model: Option<String>,
    pub(crate) equipment_serial: Option<String>,
    pub(crate) notes: Option<String>,
}

/// The columns of a [`ReportRow`].
pub(crate) const REPORT_COLUMNS: &str = "ticket_id, company, title, malfunction, solution, parts, time_spent_minutes, \
     travel_minutes, travel_distance_m, travel_source, equipment_model, equipment_serial, notes";

impl ReportRow {
    pub(crate) fn report(&self) -> Result<Report> {
        let minutes = |value: Option<i32>| value.and_then(|minutes| u32::try_from(minutes).ok());
        Ok(Report {
            malfunction: self.malfunction.clone(),
            solution: self.solution.clone(),
            parts: list_from_json(&self.ticket_id.to_string(), "parts", &self.parts)?,
            time_spent_minutes: minutes(self.time_spent_minutes),
            travel_minutes: minutes(self.travel_minutes),
            travel_distance_m: self.travel_distance_m.and_then(|metres| u32::try_from(metres).ok()),
            travel_source: self.travel_source.clone(),
            equipment_model: self.equipment_model.clone(),
            equipment_serial: self.equipment_serial.clone(),
            notes: self.notes.clone(),
        })
    }
}

/// Which FAQ articles a query is about.
#[derive(Clone, Copy)]
enum Articles<'a> {
    /// Those `scope` sees: a company its own and the shared ones (no
    /// company); the installation scope, the shared ones, the operator's
    /// own. Ids never repeat within one company's view (see
    /// [`Store::upsert_faqs`]).
    SeenBy(&'a Scope),
    /// Those a company owns, or (`None`) the shared ones.
    OwnedBy(Option<&'a str>),
}

/// Adds `articles`' condition to a query that has a `WHERE`.
fn push_articles<'args, DB>(query: &mut sqlx::QueryBuilder<'args, DB>, articles: Articles<'_>)
where
    DB: sqlx::Database,
    String: sqlx::Encode<'args, DB> + sqlx::Type<DB>,
{
    match articles {
        Articles::SeenBy(scope) => match scope.company() {
            Some(company) => {
                query.push(" AND (company IS NULL OR company = ").push_bind(company.as_str().to_owned()).push(")");
            }
            None => {
                query.push(" AND company IS NULL");
            }
        },
        Articles::OwnedBy(Some(company)) => {
            query.push(" AND company = ").push_bind(company.to_owned());
        }
        Articles::OwnedBy(None) => {
            query.push(" AND company IS NULL");
        }
    }
}

/// Why an article cannot take its id: the id names another owner's article
/// in some company's view. A company's article may not take a shared
/// article's id (the company sees that one anyway, so saying so reveals
/// nothing); a shared article may not take an id a company uses (only the
/// operator writes shared articles, and may learn which companies).
fn faq_id_clash(faq: &Faq, others: &[Option<String>]) -> Option<Error> {
    match &faq.company {
        Some(_) if others.iter().any(Option::is_none) => Some(Error::Refused {
            code: "faq_id_taken",
            message: format!("`{}` is the id of a shared article; give this article another id", faq.id),
        }),
        Some(_) => None,
        None => {
            let companies: Vec<&str> = others.iter().flatten().map(String::as_str).collect();
            (!companies.is_empty()).then(|| Error::Refused {
                code: "faq_id_taken",
                message: format!(
                    "{} {} an article `{}` of {} own; give the shared article another id",
                    companies.join(", "),
                    if companies.len() == 1 { "has" } else { "have" },
                    faq.id,
                    if companies.len() == 1 { "its" } else { "their" },
                ),
            })
        }
    }
}

impl Store {
    /// Creates or replaces FAQs in one transaction, each within its owner
    /// (`faq.company`, or none for a shared article): two companies may use
    /// the same id. `created_at` of an existing article is kept. Returns,
    /// per FAQ, whether it was new. A company scope writes only its own
    /// articles ([`Error::OutOfScope`], nothing written). An id that would
    /// name two articles in one company's view, a company's and a shared
    /// one, is refused ([`Error::Refused`] `faq_id_taken`, nothing written).
    pub async fn upsert_faqs(&self, scope: &Scope, faqs: &[Faq]) -> Result<Vec<bool>> {
        if faqs.iter().any(|faq| scope.company().is_some() && !faq.company.as_deref().is_some_and(|c| scope.allows(c)))
        {
            return Err(Error::OutOfScope);
        }
        let now = now_micros();
        on_pool!(&self.writer, |pool| {
            let mut transaction = pool.begin_write().await?;
            // The id rule spans owners, which no unique index can hold:
            // writers of articles take turns.
            transaction.lock_table("faqs").await?;
            let mut created = Vec::with_capacity(faqs.len());
            for faq in faqs {
                let same_id: Vec<(Option<String>, i64)> =
                    sqlx::query_as("SELECT company, created_at FROM faqs WHERE id = $1 ORDER BY company")
                        .bind(&faq.id)
                        .fetch_all(&mut *transaction)
                        .await?;
                let (own, others): (Vec<_>, Vec<_>) =
                    same_id.into_iter().partition(|(company, _)| *company == faq.company);
                let others: Vec<Option<String>> = others.into_iter().map(|(company, _)| company).collect();
                if let Some(clash) = faq_id_clash(faq, &others) {
                    return Err(clash);
                }
                let existed = own.first().map(|(_, created_at)| *created_at);
                // The conflict target is the unique index of migration 0006.
                sqlx::query(
                    "INSERT INTO faqs (id, company, question, answers, tags, equipment_model, language, published, \
                     phrasings, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                     ON CONFLICT ((COALESCE(company, '')), id) DO UPDATE SET question = excluded.question, \
                     answers = excluded.answers, tags = excluded.tags, equipment_model = excluded.equipment_model, \
                     language = excluded.language, published = excluded.published, phrasings = excluded.phrasings, \
                     updated_at = excluded.updated_at",
                )
                .bind(&faq.id)
                .bind(&faq.company)
                .bind(&faq.question)
                .bind(to_json(&faq.answers))
                .bind(to_json(&faq.tags))
                .bind(&faq.equipment_model)
                .bind(&faq.language)
                .bind(faq.published)
                .bind(to_json(&faq.phrasings))
                .bind(existed.unwrap_or_else(|| to_micros(faq.created_at)))
                .bind(now)
                .execute(&mut *transaction)
                .await?;
                created.push(existed.is_none());
            }
            transaction.commit().await?;
            Ok(created)
        })
    }

    /// The FAQ with this id in `scope`'s view: a company's own article or a
    /// shared one (never both: see [`Store::upsert_faqs`]); for the
    /// installation scope, the shared article.
    pub async fn get_faq(&self, scope: &Scope, id: &str) -> Result<Option<Faq>> {
        self.find_faq(id, Articles::SeenBy(scope)).await
    }

    /// The FAQ `owner` (a company, or `None` for the shared ones) has with
    /// this id: what an index of every company's articles follows.
    pub async fn get_faq_of(&self, owner: Option<&str>, id: &str) -> Result<Option<Faq>> {
        self.find_faq(id, Articles::OwnedBy(owner)).await
    }

    async fn find_faq(&self, id: &str, articles: Articles<'_>) -> Result<Option<Faq>> {
        let rows: Vec<FaqRow> = on_pool!(&self.db, |pool| {
            let mut query = sqlx::QueryBuilder::new(format!("SELECT {FAQ_COLUMNS} FROM faqs WHERE id = "));
            query.push_bind(id.to_owned());
            push_articles(&mut query, articles);
            query.build_query_as().fetch_all(pool).await
        })?;
        rows.into_iter().next().map(Faq::try_from).transpose()
    }

    /// The FAQs of `scope`'s view (as [`Store::get_faq`]) in id order after
    /// `after_id`, at most `limit`.
    pub async fn list_faqs(&self, scope: &Scope, after_id: Option<&str>, limit: u32) -> Result<Vec<Faq>> {
        let rows: Vec<FaqRow> = on_pool!(&self.db, |pool| {
            let mut query = sqlx::QueryBuilder::new(format!("SELECT {FAQ_COLUMNS} FROM faqs WHERE id > "));
            query.push_bind(after_id.unwrap_or("").to_owned());
            push_articles(&mut query, Articles::SeenBy(scope));
            query.push(" ORDER BY id LIMIT ").push_bind(i64::from(limit));
            query.build_query_as().fetch_all(pool).await
        })?;
        rows.into_iter().map(Faq::try_from).collect()
    }

    /// Every FAQ of every owner, for rebuilding an index.
    pub async fn all_faqs(&self) -> Result<Vec<Faq>> {
        let rows: Vec<FaqRow> = on_pool!(&self.db, |pool| {
            sqlx::query_as(&format!("SELECT {FAQ_COLUMNS} FROM faqs ORDER BY company, id")).fetch_all(pool).await
        })?;
        rows.into_iter().map(Faq::try_from).collect()
    }

    /// Deletes an FAQ of the scope's own (a company's article, or for the
    /// installation scope a shared one); true if it existed.
    pub async fn delete_faq(&self, scope: &Scope, id: &str) -> Result<bool> {
        let deleted = on_pool!(&self.writer, |pool| {
            let mut query = sqlx::QueryBuilder::new("DELETE FROM faqs WHERE id = ");
            query.push_bind(id.to_owned());
            push_articles(&mut query, Articles::OwnedBy(scope.company().map(CompanyId::as_str)));
            query.build().execute(pool).await.map(|result| result.rows_affected())
        })?;
        Ok(deleted == 1)
    }

    /// Records (or replaces) the report on a resolved ticket (an import of
    /// past solutions; the lifecycle writes reports through
    /// `Store::save_report` and the `resolve` transition).
    pub async fn upsert_report(&self, ticket: &Ticket, report: &Report) -> Result<()> {
        on_pool!(&self.writer, |pool| sqlx::query(
            "INSERT INTO ticket_reports (ticket_id, company, title, malfunction, solution, parts, time_spent_minutes, \
             equipment_model, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (ticket_id) DO UPDATE SET malfunction = excluded.malfunction, solution = excluded.solution, \
             parts = excluded.parts, time_spent_minutes = excluded.time_spent_minutes, \
             equipment_model = excluded.equipment_model, state = 'resolved'"
        )
        .bind(ticket.id.0)
        .bind(ticket.company.as_str())
        .bind(&ticket.title)
        .bind(&report.malfunction)
        .bind(&report.solution)
        .bind(to_json(&report.parts))
        .bind(report.time_spent_minutes.map(|minutes| i32::try_from(minutes).unwrap_or(i32::MAX)))
        .bind(report.equipment_model.as_ref().or(ticket.equipment.as_ref().map(|equipment| &equipment.model)))
        .bind(now_micros())
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Every report of a resolved ticket `scope` sees (the past
    /// solutions), for rebuilding an index.
    pub async fn all_reports(&self, scope: &Scope) -> Result<Vec<StoredReport>> {
        let rows: Vec<ReportRow> = on_pool!(&self.db, |pool| {
            let mut query = sqlx::QueryBuilder::new(format!(
                "SELECT {REPORT_COLUMNS} FROM ticket_reports WHERE state = 'resolved'"
            ));
            crate::tickets::push_scope(&mut query, scope);
            query.push(" ORDER BY ticket_id");
            query.build_query_as().fetch_all(pool).await
        })?;
        rows.into_iter()
            .map(|row| {
                let id = row.ticket_id.to_string();
                Ok(StoredReport {
                    ticket_id: TicketId(row.ticket_id),
                    company: CompanyId::parse(&row.company)
                        .map_err(|_| Error::Corrupt(format!("report {id}: bad company `{}`", row.company)))?,
                    report: row.report()?,
                    title: row.title,
                })
            })
            .collect()
    }
}
