//! A generated service history for the statistics: equipment units of many
//! models, their tickets with lifecycle events and reports, deterministic
//! by seed. [`generate`] makes the data (tests fold over it independently);
//! [`Store::insert_history`] writes it in batches.
//!
//! The default sizes ([`Sizes::ACCEPTANCE`]) are 50 models, 5,000 units and
//! 100,000 tickets over two years from 2025-01-01. Each ticket names its
//! unit's model and (19 in 20) its serial; 1 in 12 stays open, 1 in 25 is
//! dismissed, the rest are opened, started and resolved with a report, and
//! 1 in 8 of those is reopened, started and resolved again (its report is
//! the second visit's). Report texts vary in case and spacing, so the
//! statistics' normalisation matters.

use switchboard_core::CompanyId;
use switchboard_core::random::SplitMix64;
use uuid::Uuid;

use crate::Store;
use crate::db::{BeginWrite, now_micros, on_pool};
use crate::error::Result;
use crate::tickets::FilterColumns;

/// How much history to make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizes {
    pub models: usize,
    pub units: usize,
    pub tickets: usize,
}

impl Sizes {
    /// What the acceptance figures are measured on.
    pub const ACCEPTANCE: Sizes = Sizes { models: 50, units: 5_000, tickets: 100_000 };
}

/// 2025-01-01T00:00:00Z in microseconds.
pub const START_MICROS: i64 = 1_735_689_600_000_000;
/// The history spans two years (730 days).
pub const SPAN_MICROS: i64 = 730 * DAY;
const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;

/// A unit of equipment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedUnit {
    pub id: Uuid,
    pub model: String,
    pub serial: String,
}

/// One lifecycle transition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedEvent {
    pub id: Uuid,
    pub action: &'static str,
    pub from: &'static str,
    pub to: &'static str,
    pub at: i64,
}

/// A ticket's report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedReport {
    pub malfunction: String,
    pub solution: String,
    pub parts: Vec<String>,
    pub time_spent_minutes: Option<i64>,
    /// `resolved` for an approved report, `draft` for one in progress.
    pub state: &'static str,
}

/// A ticket about a unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedTicket {
    pub id: Uuid,
    pub model: String,
    /// `None` when the requester named only the model.
    pub serial: Option<String>,
    pub created_at: i64,
    /// In order; the last one's `to` is the ticket's status.
    pub events: Vec<SeedEvent>,
    pub report: Option<SeedReport>,
}

impl SeedTicket {
    pub fn status(&self) -> &'static str {
        self.events.last().map_or("new", |event| event.to)
    }
}

/// The whole generated history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct History {
    pub units: Vec<SeedUnit>,
    pub tickets: Vec<SeedTicket>,
}

/// The history's random choices, from [`SplitMix64`]: the same everywhere,
/// which is all a generator of test data needs.
struct Random(SplitMix64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `0..bound` (bound > 0).
    fn below(&mut self, bound: u64) -> u64 {
        self.0.below(bound as usize) as u64
    }

    fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    fn between(&mut self, low: i64, high: i64) -> i64 {
        low + self.below((high - low) as u64 + 1) as i64
    }

    fn uuid(&mut self) -> Uuid {
        let bits = (u128::from(self.next()) << 64) | u128::from(self.next());
        // Version 4, RFC 4122 variant: a valid UUID of random bits.
        uuid::Builder::from_random_bytes(bits.to_be_bytes()).into_uuid()
    }
}

const MALFUNCTIONS: [(&str, &str); 8] = [
    ("Worn pickup roller", "Replaced the pickup roller"),
    ("Paper jam in tray 2", "Cleared the jam and realigned the tray"),
    ("Fuser overheating", "Replaced the fuser unit"),
    ("Error E-42 at start", "Updated the firmware"),
    ("Leaking water pump", "Replaced the pump seal"),
    ("No ignition", "Cleaned the ignition electrode"),
    ("Display stays dark", "Replaced the display cable"),
    ("Loud rattling noise", "Tightened the fan mount"),
];
const OTHER_SOLUTIONS: [&str; 3] = ["Reset the controller", "Cleaned the sensors", "Replaced the main board"];
const PARTS: [&str; 6] = ["roller", "fuser", "seal kit", "electrode", "cable", "main board"];

/// Varies a text's case and spacing as people write it.
fn as_written(random: &mut Random, text: &str) -> String {
    match random.below(4) {
        0 => text.to_lowercase(),
        1 => format!("  {}  ", text.replace(' ', "  ")),
        2 => text.to_uppercase(),
        _ => text.to_owned(),
    }
}

/// The history for `seed` and `sizes`; the same arguments give the same
/// history.
pub fn generate(seed: u64, sizes: Sizes) -> History {
    let mut random = Random(SplitMix64::new(seed));
    let units: Vec<SeedUnit> = (0..sizes.units)
        .map(|index| {
            let model = index % sizes.models.max(1);
            SeedUnit {
                id: random.uuid(),
                model: format!("Model {model:02}"),
                serial: format!("SN-{model:02}-{index:05}"),
            }
        })
        .collect();
    let mut tickets = Vec::with_capacity(sizes.tickets);
    for _ in 0..sizes.tickets {
        let unit = &units[random.below(units.len() as u64) as usize];
        let created_at = START_MICROS + random.below(SPAN_MICROS as u64) as i64;
        let mut events = Vec::new();
        let mut at = created_at;
        let mut event = |random: &mut Random, action, from, to, after: (i64, i64)| {
            at += random.between(after.0, after.1);
            events.push(SeedEvent { id: random.uuid(), action, from, to, at });
        };
        let fate = random.below(100);
        let report;
        if fate < 8 {
            // Still open: some not yet accepted, some started with a draft.
            if random.one_in(2) {
                event(&mut random, "open", "new", "opened", (HOUR / 4, 2 * HOUR));
                event(&mut random, "start", "opened", "in_progress", (HOUR, DAY));
                report = Some(draft_report(&mut random));
            } else {
                report = None;
            }
        } else if fate < 12 {
            event(&mut random, "dismiss", "new", "closed", (HOUR / 4, HOUR));
            report = None;
        } else {
            event(&mut random, "open", "new", "opened", (HOUR / 4, 2 * HOUR));
            event(&mut random, "start", "opened", "in_progress", (HOUR, 2 * DAY));
            event(&mut random, "resolve", "in_progress", "resolved", (HOUR / 2, 3 * DAY));
            if random.one_in(8) {
                event(&mut random, "reopen", "resolved", "opened", (HOUR, 5 * DAY));
                event(&mut random, "start", "opened", "in_progress", (HOUR, DAY));
                event(&mut random, "resolve", "in_progress", "resolved", (HOUR / 2, 2 * DAY));
            }
            if random.one_in(3) {
                event(&mut random, "close", "resolved", "closed", (DAY, 7 * DAY));
            }
            report = Some(resolved_report(&mut random));
        }
        tickets.push(SeedTicket {
            id: random.uuid(),
            model: unit.model.clone(),
            serial: (!random.one_in(20)).then(|| unit.serial.clone()),
            created_at,
            events,
            report,
        });
    }
    History { units, tickets }
}

fn resolved_report(random: &mut Random) -> SeedReport {
    let (malfunction, usual_solution) = MALFUNCTIONS[random.below(MALFUNCTIONS.len() as u64) as usize];
    let solution = if random.one_in(4) {
        OTHER_SOLUTIONS[random.below(OTHER_SOLUTIONS.len() as u64) as usize]
    } else {
        usual_solution
    };
    let parts = (0..random.below(3)).map(|_| PARTS[random.below(PARTS.len() as u64) as usize].to_owned()).collect();
    SeedReport {
        malfunction: as_written(random, malfunction),
        solution: as_written(random, solution),
        parts,
        time_spent_minutes: (!random.one_in(10)).then(|| random.between(15, 240)),
        state: "resolved",
    }
}

fn draft_report(random: &mut Random) -> SeedReport {
    SeedReport { state: "draft", ..resolved_report(random) }
}

/// Tickets (with their events and reports) written per transaction.
const BATCH: usize = 250;

/// `INSERT INTO {table} ({columns}) VALUES ($1, …), (…)` for `rows` rows.
fn insert_sql(table: &str, columns: &[&str], rows: usize, suffix: &str) -> String {
    let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for column in 0..columns.len() {
            if column > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", row * columns.len() + column + 1));
        }
        sql.push(')');
    }
    sql.push_str(suffix);
    sql
}

const TICKET_COLUMNS: [&str; 14] = [
    "id",
    "company",
    "title",
    "description",
    "requester_email",
    "channel",
    "tags",
    "equipment_model",
    "equipment_serial",
    "created_at",
    "updated_at",
    "status",
    "search_text",
    "requester_domain",
];
const EVENT_COLUMNS: [&str; 10] = [
    "event_id",
    "ticket_id",
    "company",
    "action",
    "from_status",
    "to_status",
    "actor_role",
    "envelope",
    "created_at",
    "relayed_at",
];
const REPORT_COLUMNS: [&str; 12] = [
    "ticket_id",
    "company",
    "title",
    "malfunction",
    "solution",
    "parts",
    "time_spent_minutes",
    "equipment_model",
    "equipment_serial",
    "state",
    "created_at",
    "updated_at",
];
const EQUIPMENT_COLUMNS: [&str; 6] = ["id", "company", "model", "serial", "created_at", "updated_at"];

impl Store {
    /// Writes a generated history for `company` (which must exist): its
    /// units into the equipment registry (serials it has are left alone),
    /// its tickets with their events (marked relayed: they are history,
    /// not news) and reports. Batches of [`BATCH`] tickets, one transaction
    /// each.
    pub async fn insert_history(&self, company: &CompanyId, history: &History) -> Result<()> {
        let company = company.as_str();
        let now = now_micros();
        for units in history.units.chunks(BATCH) {
            let sql = insert_sql("equipment", &EQUIPMENT_COLUMNS, units.len(), " ON CONFLICT DO NOTHING");
            on_pool!(&self.writer, |pool| {
                let mut query = sqlx::query(&sql);
                for unit in units {
                    query = query.bind(unit.id).bind(company).bind(&unit.model).bind(&unit.serial).bind(now).bind(now);
                }
                query.execute(pool).await.map(|_| ())
            })?;
        }
        for tickets in history.tickets.chunks(BATCH) {
            let events: Vec<(&SeedTicket, &SeedEvent)> =
                tickets.iter().flat_map(|ticket| ticket.events.iter().map(move |event| (ticket, event))).collect();
            let reports: Vec<(&SeedTicket, &SeedReport)> =
                tickets.iter().filter_map(|ticket| ticket.report.as_ref().map(|report| (ticket, report))).collect();
            let tickets_sql = insert_sql("tickets", &TICKET_COLUMNS, tickets.len(), "");
            let events_sql = insert_sql("ticket_events", &EVENT_COLUMNS, events.len(), "");
            let reports_sql = insert_sql("ticket_reports", &REPORT_COLUMNS, reports.len(), "");
            on_pool!(&self.writer, |pool| {
                let mut transaction = pool.begin_write().await?;
                let mut query = sqlx::query(&tickets_sql);
                for ticket in tickets {
                    let title = format!("{} needs service", ticket.model);
                    let description = "Generated history.";
                    let email = "customer@example.com";
                    let filter = FilterColumns::new(&title, description, email, None);
                    let updated_at = ticket.events.last().map_or(ticket.created_at, |event| event.at);
                    query = query
                        .bind(ticket.id)
                        .bind(company)
                        .bind(title)
                        .bind(description)
                        .bind(email)
                        .bind("api")
                        .bind("[]")
                        .bind(&ticket.model)
                        .bind(&ticket.serial)
                        .bind(ticket.created_at)
                        .bind(updated_at)
                        .bind(ticket.status())
                        .bind(filter.search_text)
                        .bind(filter.requester_domain);
                }
                query.execute(&mut *transaction).await?;
                if !events.is_empty() {
                    let mut query = sqlx::query(&events_sql);
                    for (ticket, event) in &events {
                        let role = match event.action {
                            "open" | "dismiss" | "close" | "reopen" => "admin",
                            _ => "technician",
                        };
                        query = query
                            .bind(event.id)
                            .bind(ticket.id)
                            .bind(company)
                            .bind(event.action)
                            .bind(event.from)
                            .bind(event.to)
                            .bind(role)
                            .bind(Vec::<u8>::new())
                            .bind(event.at)
                            .bind(event.at);
                    }
                    query.execute(&mut *transaction).await?;
                }
                if !reports.is_empty() {
                    let mut query = sqlx::query(&reports_sql);
                    for (ticket, report) in &reports {
                        let parts = serde_json::to_string(&report.parts).unwrap_or_else(|_| "[]".into());
                        let at = ticket.events.last().map_or(ticket.created_at, |event| event.at);
                        query = query
                            .bind(ticket.id)
                            .bind(company)
                            .bind(format!("{} needs service", ticket.model))
                            .bind(&report.malfunction)
                            .bind(&report.solution)
                            .bind(parts)
                            .bind(report.time_spent_minutes)
                            .bind(&ticket.model)
                            .bind(&ticket.serial)
                            .bind(report.state)
                            .bind(at)
                            .bind(at);
                    }
                    query.execute(&mut *transaction).await?;
                }
                transaction.commit().await?;
                Ok::<_, sqlx::Error>(())
            })?;
        }
        Ok(())
    }
}
