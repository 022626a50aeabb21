//! Statistics for the manufacturer: one equipment model of one company,
//! over the tickets created in a period, computed in SQL on both databases
//! (aggregates over the `tickets_equipment_model` index and each ticket's
//! events and report by primary key).
//!
//! What the figures mean (the tickets are those of the company whose
//! `equipment_model` is the model, created in `[from, until)`):
//!
//! - **failure**: one such ticket. Tickets per month count them by the
//!   month (UTC) they were created in.
//! - **intervention**: a `start` transition of such a ticket (an assignee
//!   begins work on site); interventions per month count them by the month
//!   of the transition.
//! - **resolved at**: the time of the ticket's last `resolve` transition
//!   (a ticket reopened and resolved again is repaired at the second).
//!   Tickets without a `resolve` (open ones, dismissed ones, ones answered
//!   from an FAQ) have none and count in no time figure.
//! - **MTTR** (mean time to repair): the mean of `resolved at − created at`
//!   over the resolved tickets: elapsed time, not labour. Labour is
//!   reported beside it as the mean `time_spent_minutes` of the resolved
//!   (approved) reports that state it.
//! - **MTBF per unit** (mean time between failures): for a serial with at
//!   least two tickets, `(last created at − first created at) / (tickets −
//!   1)`, the mean gap between its consecutive failures; the fleet figure
//!   pools every unit's gaps (their sum over their count).
//! - **repeat failure**: a ticket of a serial created within 30 days (at
//!   most 30 × 24 h) after the previous ticket of that serial (by creation
//!   time, then id; both in the period) was resolved.
//! - **first-time fix**: a resolved ticket with exactly one intervention
//!   and no `reopen`; the rate is first-time fixes over resolved tickets.
//! - **malfunctions and solutions**: the texts of resolved (approved)
//!   reports, normalised (trimmed, runs of white space made one space,
//!   lower case), counted; for each of the most frequent malfunctions, the
//!   solutions recorded with it, most frequent first. Ties go by text.
//! - **parts**: each entry of the resolved reports' `parts` lists (exact
//!   text), counted.

pub mod seed;

use std::collections::BTreeMap;

use serde::Serialize;
use switchboard_core::CompanyId;

use crate::Store;
use crate::db::on_pool;
use crate::error::Result;

/// How many malfunctions, solutions per malfunction, and parts are listed.
pub const TOP_MALFUNCTIONS: usize = 10;
pub const TOP_SOLUTIONS: usize = 3;
pub const TOP_PARTS: usize = 10;

/// A repeat failure is within this many microseconds of the previous
/// failure's resolution.
pub const REPEAT_WINDOW_MICROS: i64 = 30 * 24 * 3_600 * 1_000_000;

const MICROS_PER_HOUR: f64 = 3_600_000_000.0;

/// The question: one model of one company, tickets created in
/// `[from_micros, until_micros)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatsQuery {
    pub model: String,
    pub from_micros: i64,
    pub until_micros: i64,
}

/// A text and how often it occurs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Counted {
    pub text: String,
    pub count: i64,
}

/// A malfunction and the solutions that resolved it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Malfunction {
    pub text: String,
    pub count: i64,
    pub solutions: Vec<Counted>,
}

/// One month (UTC, `YYYY-MM`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Month {
    pub month: String,
    pub tickets: i64,
    pub interventions: i64,
}

/// One unit's failures and the mean time between them.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Unit {
    pub serial: String,
    pub failures: i64,
    /// `None` with a single failure.
    pub mean_time_between_failures_hours: Option<f64>,
}

/// The statistics of one model (see the module documentation for what each
/// figure means). The sums behind the means are kept, so two computations
/// compare exactly.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EquipmentStats {
    pub model: String,
    pub tickets: i64,
    pub resolved: i64,
    pub interventions: i64,
    /// Sum of `resolved at − created at` over resolved tickets, µs.
    pub repair_micros_total: i64,
    pub mean_time_to_repair_hours: Option<f64>,
    /// Resolved reports stating their labour, and its sum in minutes.
    pub labour_reports: i64,
    pub labour_minutes_total: i64,
    pub mean_labour_minutes: Option<f64>,
    pub first_time_fixes: i64,
    pub first_time_fix_rate: Option<f64>,
    pub repeat_failures: i64,
    /// Units with at least one failure in the period.
    pub units: i64,
    pub mean_time_between_failures_hours: Option<f64>,
    pub monthly: Vec<Month>,
    pub malfunctions: Vec<Malfunction>,
    pub parts: Vec<Counted>,
    /// Every unit with a failure, by serial.
    pub per_unit: Vec<Unit>,
}

/// A text as malfunctions and solutions are compared: trimmed, white space
/// runs made one space, lower case.
pub fn normalise(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// The `n` most frequent, ties by text.
fn top(counts: BTreeMap<String, i64>, n: usize) -> Vec<Counted> {
    let mut counted: Vec<Counted> = counts.into_iter().map(|(text, count)| Counted { text, count }).collect();
    counted.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.text.cmp(&b.text)));
    counted.truncate(n);
    counted
}

fn ratio(numerator: i64, denominator: i64) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

/// The figures derived from sums and counts, the same way for the SQL
/// results and for any independent computation.
pub struct Tallies {
    pub model: String,
    pub tickets: i64,
    pub resolved: i64,
    pub interventions: i64,
    pub repair_micros_total: i64,
    pub labour_reports: i64,
    pub labour_minutes_total: i64,
    pub first_time_fixes: i64,
    pub repeat_failures: i64,
    /// Month → (tickets, interventions).
    pub monthly: BTreeMap<String, (i64, i64)>,
    /// (malfunction, solution) as recorded → reports.
    pub fixes: Vec<(String, String, i64)>,
    /// Part → uses.
    pub parts: BTreeMap<String, i64>,
    /// Serial → (failures, first created at, last created at).
    pub units: BTreeMap<String, (i64, i64, i64)>,
}

impl Tallies {
    pub fn into_stats(self) -> EquipmentStats {
        let mut malfunctions: BTreeMap<String, (i64, BTreeMap<String, i64>)> = BTreeMap::new();
        for (malfunction, solution, count) in self.fixes {
            let entry = malfunctions.entry(normalise(&malfunction)).or_default();
            entry.0 += count;
            *entry.1.entry(normalise(&solution)).or_default() += count;
        }
        let mut malfunctions: Vec<Malfunction> = malfunctions
            .into_iter()
            .map(|(text, (count, solutions))| Malfunction { text, count, solutions: top(solutions, TOP_SOLUTIONS) })
            .collect();
        malfunctions.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.text.cmp(&b.text)));
        malfunctions.truncate(TOP_MALFUNCTIONS);

        let (mut gaps_micros, mut gaps) = (0_i64, 0_i64);
        let per_unit = self
            .units
            .into_iter()
            .map(|(serial, (failures, first, last))| {
                if failures >= 2 {
                    gaps_micros += last - first;
                    gaps += failures - 1;
                }
                let mean = (failures >= 2).then(|| (last - first) as f64 / (failures - 1) as f64 / MICROS_PER_HOUR);
                Unit { serial, failures, mean_time_between_failures_hours: mean }
            })
            .collect::<Vec<_>>();

        EquipmentStats {
            model: self.model,
            tickets: self.tickets,
            resolved: self.resolved,
            interventions: self.interventions,
            repair_micros_total: self.repair_micros_total,
            mean_time_to_repair_hours: ratio(self.repair_micros_total, self.resolved).map(|m| m / MICROS_PER_HOUR),
            labour_reports: self.labour_reports,
            labour_minutes_total: self.labour_minutes_total,
            mean_labour_minutes: ratio(self.labour_minutes_total, self.labour_reports),
            first_time_fixes: self.first_time_fixes,
            first_time_fix_rate: ratio(self.first_time_fixes, self.resolved),
            repeat_failures: self.repeat_failures,
            units: per_unit.len() as i64,
            mean_time_between_failures_hours: ratio(gaps_micros, gaps).map(|m| m / MICROS_PER_HOUR),
            monthly: self
                .monthly
                .into_iter()
                .map(|(month, (tickets, interventions))| Month { month, tickets, interventions })
                .collect(),
            malfunctions,
            parts: top(self.parts, TOP_PARTS),
            per_unit,
        }
    }
}

/// The model's tickets in the period with what their events say: serial,
/// created at, resolved at (last `resolve`), interventions (`start`s) and
/// reopens. Binds $1 company, $2 model, $3 from, $4 until.
const FACTS: &str = "facts AS (\
     SELECT t.id, t.equipment_serial AS serial, t.created_at, \
     (SELECT MAX(e.created_at) FROM ticket_events e WHERE e.ticket_id = t.id AND e.action = 'resolve') AS resolved_at, \
     (SELECT COUNT(*) FROM ticket_events e WHERE e.ticket_id = t.id AND e.action = 'start') AS starts, \
     (SELECT COUNT(*) FROM ticket_events e WHERE e.ticket_id = t.id AND e.action = 'reopen') AS reopens \
     FROM tickets t WHERE t.company = $1 AND t.equipment_model = $2 AND t.created_at >= $3 AND t.created_at < $4)";

/// The model's resolved (approved) reports in the period.
const REPORTS: &str = "ticket_reports r JOIN tickets t ON t.id = r.ticket_id \
     WHERE t.company = $1 AND t.equipment_model = $2 AND t.created_at >= $3 AND t.created_at < $4 \
     AND r.state = 'resolved'";

impl Store {
    /// The statistics of one model of `company` (see the module
    /// documentation).
    pub async fn equipment_stats(&self, company: &CompanyId, query: &StatsQuery) -> Result<EquipmentStats> {
        let binds = (company.as_str(), query.model.as_str(), query.from_micros, query.until_micros);
        let sqlite = matches!(self.backend(), crate::Backend::Sqlite);
        let month_of = |column: &str| {
            if sqlite {
                format!("strftime('%Y-%m', {column} / 1000000, 'unixepoch')")
            } else {
                format!("to_char(to_timestamp({column} / 1000000) AT TIME ZONE 'UTC', 'YYYY-MM')")
            }
        };

        // One pass over the facts: the summary, and repeat failures by
        // comparing each ticket with the previous one of its serial.
        let summary_sql = format!(
            "WITH {FACTS}, ordered AS (SELECT serial, created_at, resolved_at, starts, reopens, \
             LAG(resolved_at) OVER (PARTITION BY serial ORDER BY created_at, id) AS previous_resolved_at FROM facts) \
             SELECT COUNT(*), COUNT(resolved_at), \
             CAST(COALESCE(SUM(resolved_at - created_at), 0) AS BIGINT), CAST(COALESCE(SUM(starts), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN resolved_at IS NOT NULL AND starts = 1 AND reopens = 0 THEN 1 ELSE 0 END), 0) \
             AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN serial IS NOT NULL AND previous_resolved_at IS NOT NULL \
             AND created_at >= previous_resolved_at \
             AND created_at - previous_resolved_at <= {REPEAT_WINDOW_MICROS} THEN 1 ELSE 0 END), 0) AS BIGINT) \
             FROM ordered"
        );
        let tickets_monthly_sql = format!(
            "SELECT {month}, COUNT(*) FROM tickets t WHERE t.company = $1 AND t.equipment_model = $2 \
             AND t.created_at >= $3 AND t.created_at < $4 GROUP BY 1",
            month = month_of("t.created_at")
        );
        let interventions_monthly_sql = format!(
            "SELECT {month}, COUNT(*) FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id \
             WHERE t.company = $1 AND t.equipment_model = $2 AND t.created_at >= $3 AND t.created_at < $4 \
             AND e.action = 'start' GROUP BY 1",
            month = month_of("e.created_at")
        );
        let units_sql = "SELECT equipment_serial, COUNT(*), MIN(created_at), MAX(created_at) FROM tickets \
             WHERE company = $1 AND equipment_model = $2 AND created_at >= $3 AND created_at < $4 \
             AND equipment_serial IS NOT NULL GROUP BY equipment_serial";
        let labour_sql = format!(
            "SELECT COUNT(r.time_spent_minutes), CAST(COALESCE(SUM(r.time_spent_minutes), 0) AS BIGINT) FROM {REPORTS}"
        );
        let fixes_sql = format!("SELECT r.malfunction, r.solution, COUNT(*) FROM {REPORTS} GROUP BY 1, 2");
        let parts_sql = if sqlite {
            format!(
                "SELECT part.value, COUNT(*) FROM {}",
                REPORTS.replacen(" JOIN", ", json_each(r.parts) part JOIN", 1)
            ) + " GROUP BY 1"
        } else {
            format!(
                "SELECT part, COUNT(*) FROM {} GROUP BY 1",
                REPORTS.replacen(" JOIN", " CROSS JOIN LATERAL jsonb_array_elements_text(r.parts::jsonb) part JOIN", 1)
            )
        };

        macro_rules! bound {
            ($query:expr) => {
                $query.bind(binds.0).bind(binds.1).bind(binds.2).bind(binds.3)
            };
        }
        on_pool!(&self.db, |pool| {
            let (tickets, resolved, repair_micros_total, interventions, first_time_fixes, repeat_failures): (
                i64,
                i64,
                i64,
                i64,
                i64,
                i64,
            ) = bound!(sqlx::query_as(&summary_sql)).fetch_one(pool).await?;
            let mut monthly: BTreeMap<String, (i64, i64)> = BTreeMap::new();
            let rows: Vec<(String, i64)> = bound!(sqlx::query_as(&tickets_monthly_sql)).fetch_all(pool).await?;
            for (month, count) in rows {
                monthly.entry(month).or_default().0 += count;
            }
            let rows: Vec<(String, i64)> = bound!(sqlx::query_as(&interventions_monthly_sql)).fetch_all(pool).await?;
            for (month, count) in rows {
                monthly.entry(month).or_default().1 += count;
            }
            let rows: Vec<(String, i64, i64, i64)> = bound!(sqlx::query_as(units_sql)).fetch_all(pool).await?;
            let units = rows.into_iter().map(|(serial, count, first, last)| (serial, (count, first, last))).collect();
            let (labour_reports, labour_minutes_total): (i64, i64) =
                bound!(sqlx::query_as(&labour_sql)).fetch_one(pool).await?;
            let fixes: Vec<(String, String, i64)> = bound!(sqlx::query_as(&fixes_sql)).fetch_all(pool).await?;
            let rows: Vec<(String, i64)> = bound!(sqlx::query_as(&parts_sql)).fetch_all(pool).await?;
            let parts = rows.into_iter().collect();
            Ok(Tallies {
                model: query.model.clone(),
                tickets,
                resolved,
                interventions,
                repair_micros_total,
                labour_reports,
                labour_minutes_total,
                first_time_fixes,
                repeat_failures,
                monthly,
                fixes,
                parts,
                units,
            }
            .into_stats())
        })
    }
}

impl StatsQuery {
    /// Tickets created from the start of `from` to the end of `to` (UTC
    /// calendar days, both included); an open end is unbounded.
    pub fn for_dates(model: impl Into<String>, from: Option<time::Date>, to: Option<time::Date>) -> Self {
        let day_start = |date: time::Date| date.midnight().assume_utc().unix_timestamp() * 1_000_000;
        Self {
            model: model.into(),
            from_micros: from.map_or(i64::MIN, day_start),
            until_micros: to.map_or(i64::MAX, |date| day_start(date) + 24 * 3_600 * 1_000_000),
        }
    }
}

/// The header of [`EquipmentStats::to_csv`].
pub const CSV_HEADER: &str = "section,key,detail,value";

impl EquipmentStats {
    /// The statistics as one flat CSV table in long form, one figure a row
    /// (`section,key,detail,value`):
    ///
    /// - `summary,<figure>,,<value>` for each summary figure (an undefined
    ///   mean is an empty value);
    /// - `month,<YYYY-MM>,tickets|interventions,<count>`;
    /// - `malfunction,<text>,,<count>` and
    ///   `solution,<malfunction>,<solution>,<count>`;
    /// - `part,<part>,,<count>`;
    /// - `unit,<serial>,failures,<count>` and
    ///   `unit,<serial>,mean_time_between_failures_hours,<hours>`.
    pub fn to_csv(&self) -> String {
        let mut csv = String::from(CSV_HEADER);
        csv.push_str("\r\n");
        let mut row = |section: &str, key: &str, detail: &str, value: String| {
            let fields = [section, key, detail, value.as_str()].map(csv_field);
            csv.push_str(&fields.join(","));
            csv.push_str("\r\n");
        };
        let number = |value: Option<f64>| value.map(|value| value.to_string()).unwrap_or_default();
        row("summary", "model", "", self.model.clone());
        for (key, value) in [
            ("tickets", self.tickets),
            ("resolved", self.resolved),
            ("interventions", self.interventions),
            ("first_time_fixes", self.first_time_fixes),
            ("repeat_failures", self.repeat_failures),
            ("units", self.units),
        ] {
            row("summary", key, "", value.to_string());
        }
        for (key, value) in [
            ("mean_time_to_repair_hours", self.mean_time_to_repair_hours),
            ("mean_labour_minutes", self.mean_labour_minutes),
            ("first_time_fix_rate", self.first_time_fix_rate),
            ("mean_time_between_failures_hours", self.mean_time_between_failures_hours),
        ] {
            row("summary", key, "", number(value));
        }
        for month in &self.monthly {
            row("month", &month.month, "tickets", month.tickets.to_string());
            row("month", &month.month, "interventions", month.interventions.to_string());
        }
        for malfunction in &self.malfunctions {
            row("malfunction", &malfunction.text, "", malfunction.count.to_string());
            for solution in &malfunction.solutions {
                row("solution", &malfunction.text, &solution.text, solution.count.to_string());
            }
        }
        for part in &self.parts {
            row("part", &part.text, "", part.count.to_string());
        }
        for unit in &self.per_unit {
            row("unit", &unit.serial, "failures", unit.failures.to_string());
            row(
                "unit",
                &unit.serial,
                "mean_time_between_failures_hours",
                number(unit.mean_time_between_failures_hours),
            );
        }
        csv
    }
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
/// Text that a spreadsheet would run as a formula (it starts with `=`, `+`,
/// `-`, `@`, a tab or a carriage return, and is not a number) gets a
/// leading `'`, so a malfunction typed as `=HYPERLINK(…)` stays text.
fn csv_field(text: &str) -> String {
    let formula = text.starts_with(['=', '+', '-', '@', '\t', '\r']) && text.parse::<f64>().is_err();
    let text = if formula { format!("'{text}") } else { text.to_owned() };
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text }
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_never_run_as_formulas() {
        assert_eq!(csv_field("pump, seized"), "\"pump, seized\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"http://x\")"), "\"'=HYPERLINK(\"\"http://x\"\")\"");
        assert_eq!(csv_field("+1 seal"), "'+1 seal");
        assert_eq!(csv_field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_field("-12.5"), "-12.5");
        assert_eq!(csv_field("42"), "42");
        assert_eq!(csv_field("plain"), "plain");
    }
}
