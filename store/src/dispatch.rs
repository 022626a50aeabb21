//! What the dispatch assistant reads about people: each engineer's and
//! technician's field profile (skills and home base, on their account) and
//! how many open tickets they hold.

use switchboard_core::{AccountId, CompanyId, Role, TicketId};
use uuid::Uuid;

use crate::Store;
use crate::db::{now_micros, on_pool};
use crate::equipment::Coordinates;
use crate::error::{Error, Result};

/// An engineer's or technician's field profile.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FieldProfile {
    /// Equipment models and ticket categories they repair, as written.
    pub skills: Vec<String>,
    pub home_base_address: Option<String>,
    pub home_base: Option<Coordinates>,
}

/// A person the assistant may send.
#[derive(Clone, Debug, PartialEq)]
pub struct DispatchPerson {
    pub id: AccountId,
    pub name: String,
    pub role: Role,
    pub profile: FieldProfile,
    /// Tickets assigned to them that are opened or in progress.
    pub open_assignments: u32,
    /// Where they are working now: the registered site of the equipment of
    /// their most recently updated ticket in progress.
    pub current_site: Option<Coordinates>,
}

/// The travel of a ticket's assignment, estimated when it was assigned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketTravel {
    pub distance_m: u32,
    pub duration_s: u32,
    /// Who estimated it: `offline`, `osrm`, `google`.
    pub source: String,
}

pub(crate) type TravelRow = (i64, i64, String);

impl TicketTravel {
    /// The travel time in whole minutes, rounded up.
    pub fn minutes(&self) -> u32 {
        self.duration_s.div_ceil(60)
    }

    pub(crate) fn from_row((distance_m, duration_s, source): TravelRow) -> Self {
        let clamp = |value: i64| u32::try_from(value.max(0)).unwrap_or(u32::MAX);
        Self { distance_m: clamp(distance_m), duration_s: clamp(duration_s), source }
    }
}

type ProfileRow = (Option<String>, Option<String>, Option<f64>, Option<f64>);

fn profile((skills, home_base_address, latitude, longitude): ProfileRow) -> Result<FieldProfile> {
    let skills = match skills {
        Some(json) => serde_json::from_str(&json).map_err(|error| Error::Corrupt(format!("skills: {error}")))?,
        None => Vec::new(),
    };
    let home_base = match (latitude, longitude) {
        (Some(latitude), Some(longitude)) => Some(Coordinates { latitude, longitude }),
        _ => None,
    };
    Ok(FieldProfile { skills, home_base_address, home_base })
}

impl Store {
    /// The field profile of the company's live account `account`; `None`
    /// when there is no such account.
    pub async fn field_profile(&self, company: &CompanyId, account: AccountId) -> Result<Option<FieldProfile>> {
        let row: Option<ProfileRow> = on_pool!(&self.db, |pool| sqlx::query_as(
            "SELECT skills, home_base_address, home_base_latitude, home_base_longitude FROM accounts \
             WHERE id = $1 AND company = $2 AND deleted_at IS NULL"
        )
        .bind(account.0)
        .bind(company.as_str())
        .fetch_optional(pool)
        .await)?;
        row.map(profile).transpose()
    }

    /// Replaces the field profile of the company's live account `account`;
    /// `false` when there is no such account.
    pub async fn set_field_profile(
        &self,
        company: &CompanyId,
        account: AccountId,
        fields: &FieldProfile,
    ) -> Result<bool> {
        let skills = serde_json::to_string(&fields.skills).map_err(|error| Error::Corrupt(error.to_string()))?;
        let updated = on_pool!(&self.writer, |pool| sqlx::query(
            "UPDATE accounts SET skills = $1, home_base_address = $2, home_base_latitude = $3, \
             home_base_longitude = $4 WHERE id = $5 AND company = $6 AND deleted_at IS NULL"
        )
        .bind(skills)
        .bind(&fields.home_base_address)
        .bind(fields.home_base.map(|point| point.latitude))
        .bind(fields.home_base.map(|point| point.longitude))
        .bind(account.0)
        .bind(company.as_str())
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
        Ok(updated > 0)
    }

    /// The company's live engineers and technicians with their profiles,
    /// open assignments and current site, oldest account first.
    pub async fn dispatch_people(&self, company: &CompanyId) -> Result<Vec<DispatchPerson>> {
        type Row = (
            Uuid,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<f64>,
            Option<f64>,
            i64,
            Option<f64>,
            Option<f64>,
        );
        // The site of the registered equipment of the ticket they most
        // recently worked on, among those in progress.
        let current_site = |column: &str| {
            format!(
                "(SELECT e.{column} FROM tickets t JOIN equipment e ON e.company = t.company \
                 AND e.serial = t.equipment_serial WHERE t.assignee_id = a.id AND t.company = a.company \
                 AND t.status = 'in_progress' AND e.latitude IS NOT NULL ORDER BY t.updated_at DESC LIMIT 1)"
            )
        };
        let query = format!(
            "SELECT a.id, a.role, a.name, a.skills, a.home_base_address, a.home_base_latitude, \
             a.home_base_longitude, \
             (SELECT COUNT(*) FROM tickets t WHERE t.assignee_id = a.id AND t.company = a.company \
              AND t.status IN ('opened', 'in_progress')), {}, {} \
             FROM accounts a WHERE a.company = $1 AND a.deleted_at IS NULL \
             AND a.role IN ('engineer', 'technician') ORDER BY a.id",
            current_site("latitude"),
            current_site("longitude"),
        );
        let rows: Vec<Row> =
            on_pool!(&self.db, |pool| sqlx::query_as(&query).bind(company.as_str()).fetch_all(pool).await)?;
        rows.into_iter()
            .map(|(id, role, name, skills, address, latitude, longitude, open, site_latitude, site_longitude)| {
                let current_site = match (site_latitude, site_longitude) {
                    (Some(latitude), Some(longitude)) => Some(Coordinates { latitude, longitude }),
                    _ => None,
                };
                Ok(DispatchPerson {
                    current_site,
                    id: AccountId(id),
                    name: name.unwrap_or_default(),
                    role: Role::parse(&role).ok_or_else(|| Error::Corrupt(format!("account {id}: role {role}")))?,
                    profile: profile((skills, address, latitude, longitude))?,
                    open_assignments: u32::try_from(open).unwrap_or(u32::MAX),
                })
            })
            .collect()
    }

    /// Records the travel estimated for the ticket's assignment, replacing
    /// any earlier one; `None` forgets it (the new assignment has no
    /// estimate).
    pub async fn set_ticket_travel(
        &self,
        company: &CompanyId,
        ticket: TicketId,
        travel: Option<&TicketTravel>,
    ) -> Result<()> {
        let Some(travel) = travel else {
            on_pool!(&self.writer, |pool| sqlx::query(
                "DELETE FROM ticket_travel WHERE ticket_id = $1 AND company = $2"
            )
            .bind(ticket.0)
            .bind(company.as_str())
            .execute(pool)
            .await
            .map(drop))?;
            return Ok(());
        };
        on_pool!(&self.writer, |pool| sqlx::query(
            "INSERT INTO ticket_travel (ticket_id, company, distance_m, duration_s, source, estimated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (ticket_id) DO UPDATE SET \
             distance_m = excluded.distance_m, duration_s = excluded.duration_s, source = excluded.source, \
             estimated_at = excluded.estimated_at"
        )
        .bind(ticket.0)
        .bind(company.as_str())
        .bind(i64::from(travel.distance_m))
        .bind(i64::from(travel.duration_s))
        .bind(&travel.source)
        .bind(now_micros())
        .execute(pool)
        .await
        .map(drop))?;
        Ok(())
    }
}
