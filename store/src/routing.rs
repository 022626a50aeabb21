//! Routing rulesets: immutable versions per company, one of them active.

use switchboard_core::routing::Ruleset;
use switchboard_core::{AccountId, CompanyId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Store;
use crate::db::{BeginWrite, from_micros, now_micros, on_pool};
use crate::error::{Error, Result};

/// One version of a company's ruleset.
#[derive(Clone, Debug, PartialEq)]
pub struct RulesetRecord {
    pub company: CompanyId,
    /// 1 for the company's first ruleset, then one more per change.
    pub version: u32,
    pub ruleset: Ruleset,
    pub active: bool,
    pub created_by: Option<AccountId>,
    pub created_at: OffsetDateTime,
}

type Row = (String, i64, String, bool, Option<Uuid>, i64);

const COLUMNS: &str = "company, version, rules, active, created_by, created_at";

fn record((company, version, rules, active, created_by, created_at): Row) -> Result<RulesetRecord> {
    let corrupt = |what: String| Error::Corrupt(format!("ruleset {company} v{version}: {what}"));
    Ok(RulesetRecord {
        company: CompanyId::parse(&company).map_err(|_| corrupt("bad company".into()))?,
        version: u32::try_from(version).map_err(|_| corrupt("bad version".into()))?,
        ruleset: serde_json::from_str(&rules).map_err(|error| corrupt(format!("bad rules: {error}")))?,
        active,
        created_by: created_by.map(AccountId),
        created_at: from_micros(created_at)?,
    })
}

impl Store {
    /// Stores `ruleset` as the company's next version and makes it the
    /// active one, in one transaction.
    pub async fn create_ruleset(
        &self,
        company: &CompanyId,
        ruleset: &Ruleset,
        created_by: Option<AccountId>,
    ) -> Result<RulesetRecord> {
        let rules = serde_json::to_string(ruleset).map_err(|error| Error::Corrupt(error.to_string()))?;
        let now = now_micros();
        let version = on_pool!(&self.writer, |pool| {
            let mut transaction = pool.begin_write().await?;
            let latest: Option<i64> =
                sqlx::query_scalar("SELECT MAX(version) FROM routing_rulesets WHERE company = $1")
                    .bind(company.as_str())
                    .fetch_one(&mut *transaction)
                    .await?;
            let version = latest.unwrap_or(0) + 1;
            sqlx::query("UPDATE routing_rulesets SET active = FALSE WHERE company = $1 AND active")
                .bind(company.as_str())
                .execute(&mut *transaction)
                .await?;
            let inserted = sqlx::query(
                "INSERT INTO routing_rulesets (company, version, rules, active, created_by, created_at) \
                 VALUES ($1, $2, $3, TRUE, $4, $5)",
            )
            .bind(company.as_str())
            .bind(version)
            .bind(&rules)
            .bind(created_by.map(|id| id.0))
            .bind(now)
            .execute(&mut *transaction)
            .await;
            match inserted {
                Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
                    // Another admin's change took this version number first.
                    return Err(Error::Refused {
                        code: "concurrent_change",
                        message: "another change to the ruleset was saved at the same moment; send yours again".into(),
                    });
                }
                other => other?,
            };
            transaction.commit().await?;
            Ok::<_, Error>(version)
        })?;
        Ok(RulesetRecord {
            company: company.clone(),
            version: u32::try_from(version).map_err(|_| Error::Corrupt("ruleset version overflow".into()))?,
            ruleset: ruleset.clone(),
            active: true,
            created_by,
            created_at: from_micros(now)?,
        })
    }

    /// Every version of the company's ruleset, newest first.
    pub async fn rulesets(&self, company: &CompanyId) -> Result<Vec<RulesetRecord>> {
        let rows: Vec<Row> = on_pool!(&self.db, |pool| sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM routing_rulesets WHERE company = $1 ORDER BY version DESC"
        ))
        .bind(company.as_str())
        .fetch_all(pool)
        .await)?;
        rows.into_iter().map(record).collect()
    }

    /// One version; `None` if the company has no such version.
    pub async fn ruleset(&self, company: &CompanyId, version: u32) -> Result<Option<RulesetRecord>> {
        let row: Option<Row> = on_pool!(&self.db, |pool| sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM routing_rulesets WHERE company = $1 AND version = $2"
        ))
        .bind(company.as_str())
        .bind(i64::from(version))
        .fetch_optional(pool)
        .await)?;
        row.map(record).transpose()
    }

    /// The version the router applies; `None` before the company's first.
    pub async fn active_ruleset(&self, company: &CompanyId) -> Result<Option<RulesetRecord>> {
        let row: Option<Row> = on_pool!(&self.db, |pool| sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM routing_rulesets WHERE company = $1 AND active"
        ))
        .bind(company.as_str())
        .fetch_optional(pool)
        .await)?;
        row.map(record).transpose()
    }

    /// Makes `version` the active one (a roll-back or forward); `false` if
    /// the company has no such version.
    pub async fn activate_ruleset(&self, company: &CompanyId, version: u32) -> Result<bool> {
        on_pool!(&self.writer, |pool| {
            let mut transaction = pool.begin_write().await?;
            let exists: Option<i64> =
                sqlx::query_scalar("SELECT version FROM routing_rulesets WHERE company = $1 AND version = $2")
                    .bind(company.as_str())
                    .bind(i64::from(version))
                    .fetch_optional(&mut *transaction)
                    .await?;
            if exists.is_none() {
                return Ok(false);
            }
            sqlx::query("UPDATE routing_rulesets SET active = FALSE WHERE company = $1 AND active")
                .bind(company.as_str())
                .execute(&mut *transaction)
                .await?;
            sqlx::query("UPDATE routing_rulesets SET active = TRUE WHERE company = $1 AND version = $2")
                .bind(company.as_str())
                .bind(i64::from(version))
                .execute(&mut *transaction)
                .await?;
            transaction.commit().await?;
            Ok::<_, Error>(true)
        })
    }
}
