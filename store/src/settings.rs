//! Settings admins tune: installation-wide values (JSON) and per-company
//! settings.

use switchboard_core::CompanyId;

use crate::Store;
use crate::db::{now_micros, on_pool};
use crate::error::Result;

impl Store {
    /// The JSON value of an installation-wide setting.
    pub async fn get_setting(&self, key: &str) -> Result<Option<String>> {
        let value: Option<String> =
            on_pool!(&self.db, |pool| sqlx::query_scalar("SELECT value FROM settings WHERE setting_key = $1")
                .bind(key)
                .fetch_optional(pool)
                .await)?;
        Ok(value)
    }

    /// Every setting whose key starts with `prefix`, by key.
    pub async fn settings_with_prefix(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        let pattern = format!("{}%", prefix.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        let rows: Vec<(String, String)> = on_pool!(&self.db, |pool| sqlx::query_as(
            "SELECT setting_key, value FROM settings WHERE setting_key LIKE $1 ESCAPE '\\' ORDER BY setting_key"
        )
        .bind(pattern)
        .fetch_all(pool)
        .await)?;
        Ok(rows)
    }

    /// The setting's value; when there is none yet, `value` is stored and
    /// returned. Concurrent callers all get the one value that won.
    pub async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String> {
        on_pool!(&self.writer, |pool| {
            sqlx::query(
            "INSERT INTO settings (setting_key, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (setting_key) DO NOTHING"
        )
        .bind(key)
        .bind(value)
        .bind(now_micros())
        .execute(pool)
        .await
        .map(|_| ())
        })?;
        let stored: String =
            on_pool!(&self.writer, |pool| sqlx::query_scalar("SELECT value FROM settings WHERE setting_key = $1")
                .bind(key)
                .fetch_one(pool)
                .await)?;
        Ok(stored)
    }

    pub async fn put_setting(&self, key: &str, value: &str) -> Result<()> {
        on_pool!(&self.writer, |pool| sqlx::query(
            "INSERT INTO settings (setting_key, value, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (setting_key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
        )
        .bind(key)
        .bind(value)
        .bind(now_micros())
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// The confidence at or above which the knowledge base answers this
    /// company's customers directly; `None` (the default) means never.
    pub async fn auto_answer_threshold(&self, company: &CompanyId) -> Result<Option<f64>> {
        let threshold: Option<Option<f64>> = on_pool!(&self.db, |pool| sqlx::query_scalar(
            "SELECT auto_answer_threshold FROM company_settings WHERE company = $1"
        )
        .bind(company.as_str())
        .fetch_optional(pool)
        .await)?;
        Ok(threshold.flatten())
    }

    pub async fn set_auto_answer_threshold(&self, company: &CompanyId, threshold: Option<f64>) -> Result<()> {
        on_pool!(&self.writer, |pool| sqlx::query(
            "INSERT INTO company_settings (company, auto_answer_threshold, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (company) DO UPDATE SET auto_answer_threshold = excluded.auto_answer_threshold, \
             updated_at = excluded.updated_at"
        )
        .bind(company.as_str())
        .bind(threshold)
        .bind(now_micros())
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }
}
