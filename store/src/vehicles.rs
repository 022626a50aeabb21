//! The company's vehicles.

use switchboard_core::{CompanyId, VehicleId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Store;
use crate::db::{BeginWrite, from_micros, now_micros, on_pool};
use crate::equipment::Coordinates;
use crate::error::{Error, Result};

/// A vehicle as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct VehicleRecord {
    pub id: VehicleId,
    pub company: CompanyId,
    pub name: String,
    pub plate: Option<String>,
    pub kind: Option<String>,
    /// Whether it can be assigned now.
    pub available: bool,
    /// Where it starts its day: an address and its coordinates.
    pub home_base_address: Option<String>,
    pub home_base: Option<Coordinates>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// What an admin sets on a vehicle.
#[derive(Clone, Debug, PartialEq)]
pub struct VehicleFields {
    pub name: String,
    pub plate: Option<String>,
    pub kind: Option<String>,
    pub available: bool,
    pub home_base_address: Option<String>,
    pub home_base: Option<Coordinates>,
}

const COLUMNS: &str = "id, company, name, plate, kind, available, created_at, updated_at, home_base_address, \
     home_base_latitude, home_base_longitude";

type Row =
    (Uuid, String, String, Option<String>, Option<String>, bool, i64, i64, Option<String>, Option<f64>, Option<f64>);

fn record(
    (id, company, name, plate, kind, available, created_at, updated_at, home_base_address, latitude, longitude): Row,
) -> Result<VehicleRecord> {
    Ok(VehicleRecord {
        id: VehicleId(id),
        company: CompanyId::parse(&company).map_err(|_| Error::Corrupt(format!("vehicle {id}: bad company")))?,
        name,
        plate,
        kind,
        available,
        home_base_address,
        home_base: match (latitude, longitude) {
            (Some(latitude), Some(longitude)) => Some(Coordinates { latitude, longitude }),
            _ => None,
        },
        created_at: from_micros(created_at)?,
        updated_at: from_micros(updated_at)?,
    })
}

impl Store {
    pub async fn create_vehicle(&self, company: &CompanyId, fields: &VehicleFields) -> Result<VehicleRecord> {
        let (id, now) = (VehicleId::new(), now_micros());
        on_pool!(&self.writer, |pool| sqlx::query(
            "INSERT INTO vehicles (id, company, name, plate, kind, available, created_at, updated_at, \
             home_base_address, home_base_latitude, home_base_longitude) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, $10)"
        )
        .bind(id.0)
        .bind(company.as_str())
        .bind(&fields.name)
        .bind(&fields.plate)
        .bind(&fields.kind)
        .bind(fields.available)
        .bind(now)
        .bind(&fields.home_base_address)
        .bind(fields.home_base.map(|point| point.latitude))
        .bind(fields.home_base.map(|point| point.longitude))
        .execute(pool)
        .await
        .map(|_| ()))?;
        let at = from_micros(now)?;
        Ok(VehicleRecord {
            id,
            company: company.clone(),
            name: fields.name.clone(),
            plate: fields.plate.clone(),
            kind: fields.kind.clone(),
            available: fields.available,
            home_base_address: fields.home_base_address.clone(),
            home_base: fields.home_base,
            created_at: at,
            updated_at: at,
        })
    }

    pub async fn vehicle(&self, company: &CompanyId, id: VehicleId) -> Result<Option<VehicleRecord>> {
        let row: Option<Row> = on_pool!(&self.db, |pool| sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM vehicles WHERE id = $1 AND company = $2"
        ))
        .bind(id.0)
        .bind(company.as_str())
        .fetch_optional(pool)
        .await)?;
        row.map(record).transpose()
    }

    /// The company's vehicles, oldest first.
    pub async fn list_vehicles(&self, company: &CompanyId) -> Result<Vec<VehicleRecord>> {
        let rows: Vec<Row> = on_pool!(&self.db, |pool| sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM vehicles WHERE company = $1 ORDER BY id"
        ))
        .bind(company.as_str())
        .fetch_all(pool)
        .await)?;
        rows.into_iter().map(record).collect()
    }

    /// Replaces a vehicle's fields; `None` if the company has no such vehicle.
    pub async fn update_vehicle(
        &self,
        company: &CompanyId,
        id: VehicleId,
        fields: &VehicleFields,
    ) -> Result<Option<VehicleRecord>> {
        let updated = on_pool!(&self.writer, |pool| sqlx::query(
            "UPDATE vehicles SET name = $1, plate = $2, kind = $3, available = $4, updated_at = $5, \
             home_base_address = $8, home_base_latitude = $9, home_base_longitude = $10 \
             WHERE id = $6 AND company = $7"
        )
        .bind(&fields.name)
        .bind(&fields.plate)
        .bind(&fields.kind)
        .bind(fields.available)
        .bind(now_micros())
        .bind(id.0)
        .bind(company.as_str())
        .bind(&fields.home_base_address)
        .bind(fields.home_base.map(|point| point.latitude))
        .bind(fields.home_base.map(|point| point.longitude))
        .execute(pool)
        .await
        .map(|result| result.rows_affected() == 1))?;
        if !updated {
            return Ok(None);
        }
        self.vehicle(company, id).await
    }

    /// Deletes a vehicle that no open ticket uses, and its photos' rows
    /// (their bytes are the caller's to delete): `Ok(false)` if the
    /// company has no such vehicle, [`Error::InUse`] if a ticket that is not
    /// resolved or closed has it.
    pub async fn delete_vehicle(&self, company: &CompanyId, id: VehicleId) -> Result<bool> {
        on_pool!(&self.writer, |pool| {
            let mut transaction = pool.begin_write().await?;
            let in_use: Option<Uuid> = sqlx::query_scalar(
                "SELECT id FROM tickets WHERE vehicle_id = $1 AND company = $2 \
                 AND status NOT IN ('resolved', 'closed') LIMIT 1",
            )
            .bind(id.0)
            .bind(company.as_str())
            .fetch_optional(&mut *transaction)
            .await?;
            if in_use.is_some() {
                return Err(Error::InUse("vehicle"));
            }
            sqlx::query("DELETE FROM photos WHERE subject_id = $1 AND company = $2")
                .bind(id.0)
                .bind(company.as_str())
                .execute(&mut *transaction)
                .await?;
            let deleted = sqlx::query("DELETE FROM vehicles WHERE id = $1 AND company = $2")
                .bind(id.0)
                .bind(company.as_str())
                .execute(&mut *transaction)
                .await?
                .rows_affected()
                == 1;
            transaction.commit().await?;
            Ok(deleted)
        })
    }
}
