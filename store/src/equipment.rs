//! The company's equipment registry: the machines it services at its
//! customers' sites. Every call names the company; a customer's view is
//! narrowed to their own equipment by [`EquipmentFilter::customer`].

use switchboard_core::{AccountId, CompanyId, EquipmentId};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::Store;
use crate::db::{BeginWrite, from_micros, now_micros, on_pool};
use crate::error::{Error, Result};

/// How `installed_on` is stored: an ISO calendar date, which sorts as text.
const DATE_FORMAT: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// A point on the earth, in degrees (WGS 84). The API checks the ranges;
/// the tables check them again.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Coordinates {
    pub latitude: f64,
    pub longitude: f64,
}

/// A piece of equipment as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct EquipmentRecord {
    pub id: EquipmentId,
    pub company: CompanyId,
    /// The customer who owns it, if the company recorded one.
    pub customer: Option<AccountId>,
    pub model: String,
    pub serial: String,
    pub manufacturer: Option<String>,
    pub site_address: Option<String>,
    pub site_coordinates: Option<Coordinates>,
    pub installed_on: Option<Date>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// What staff set on a piece of equipment.
#[derive(Clone, Debug, PartialEq)]
pub struct EquipmentFields {
    pub customer: Option<AccountId>,
    pub model: String,
    pub serial: String,
    pub manufacturer: Option<String>,
    pub site_address: Option<String>,
    pub site_coordinates: Option<Coordinates>,
    pub installed_on: Option<Date>,
}

/// Which equipment a listing returns; every condition given must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EquipmentFilter {
    /// Exactly this model.
    pub model: Option<String>,
    /// Exactly this serial.
    pub serial: Option<String>,
    /// Owned by this customer.
    pub customer: Option<AccountId>,
}

const COLUMNS: &str = "id, company, customer_account, model, serial, manufacturer, site_address, latitude, longitude, \
     installed_on, created_at, updated_at";

type Row = (
    Uuid,
    String,
    Option<Uuid>,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<f64>,
    Option<f64>,
    Option<String>,
    i64,
    i64,
);

fn record(row: Row) -> Result<EquipmentRecord> {
    let (id, company, customer, model, serial, manufacturer, site_address, latitude, longitude, installed_on) =
        (row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8, row.9);
    let corrupt = |what: &str| Error::Corrupt(format!("equipment {id}: bad {what}"));
    Ok(EquipmentRecord {
        id: EquipmentId(id),
        company: CompanyId::parse(&company).map_err(|_| corrupt("company"))?,
        customer: customer.map(AccountId),
        model,
        serial,
        manufacturer,
        site_address,
        site_coordinates: match (latitude, longitude) {
            (Some(latitude), Some(longitude)) => Some(Coordinates { latitude, longitude }),
            _ => None,
        },
        installed_on: installed_on
            .map(|text| Date::parse(&text, DATE_FORMAT).map_err(|_| corrupt("installation date")))
            .transpose()?,
        created_at: from_micros(row.10)?,
        updated_at: from_micros(row.11)?,
    })
}

fn date_text(date: Option<Date>) -> Result<Option<String>> {
    date.map(|date| date.format(DATE_FORMAT).map_err(|error| Error::Corrupt(error.to_string()))).transpose()
}

/// 409 `serial_taken` for a unique violation on the company's serials.
fn serial_taken(error: sqlx::Error, serial: &str) -> Error {
    match error.as_database_error() {
        Some(database) if database.is_unique_violation() => Error::Refused {
            code: "serial_taken",
            message: format!("the company already has equipment with serial `{serial}`"),
        },
        _ => Error::Database(error),
    }
}

impl Store {
    /// Adds equipment; `Error::Refused { code: "serial_taken" }` when the
    /// company already has its serial.
    pub async fn create_equipment(&self, company: &CompanyId, fields: &EquipmentFields) -> Result<EquipmentRecord> {
        let (id, now) = (EquipmentId::new(), now_micros());
        let installed_on = date_text(fields.installed_on)?;
        on_pool!(&self.writer, |pool| sqlx::query(
            "INSERT INTO equipment (id, company, customer_account, model, serial, manufacturer, site_address, \
             latitude, longitude, installed_on, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)"
        )
        .bind(id.0)
        .bind(company.as_str())
        .bind(fields.customer.map(|account| account.0))
        .bind(&fields.model)
        .bind(&fields.serial)
        .bind(&fields.manufacturer)
        .bind(&fields.site_address)
        .bind(fields.site_coordinates.map(|point| point.latitude))
        .bind(fields.site_coordinates.map(|point| point.longitude))
        .bind(&installed_on)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(|error| serial_taken(error, &fields.serial)))?;
        let at = from_micros(now)?;
        Ok(EquipmentRecord {
            id,
            company: company.clone(),
            customer: fields.customer,
            model: fields.model.clone(),
            serial: fields.serial.clone(),
            manufacturer: fields.manufacturer.clone(),
            site_address: fields.site_address.clone(),
            site_coordinates: fields.site_coordinates,
            installed_on: fields.installed_on,
            created_at: at,
            updated_at: at,
        })
    }

    /// One piece of the company's equipment.
    pub async fn equipment(&self, company: &CompanyId, id: EquipmentId) -> Result<Option<EquipmentRecord>> {
        let row: Option<Row> = on_pool!(&self.db, |pool| sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM equipment WHERE id = $1 AND company = $2"
        ))
        .bind(id.0)
        .bind(company.as_str())
        .fetch_optional(pool)
        .await)?;
        row.map(record).transpose()
    }

    /// The company's equipment with this serial, if it is registered.
    pub async fn equipment_by_serial(&self, company: &CompanyId, serial: &str) -> Result<Option<EquipmentRecord>> {
        // No stored serial holds a control character (every writer refuses
        // them), and PostgreSQL cannot compare text holding NUL: the serial
        // of a submission not yet validated may.
        if switchboard_core::text::forbidden_control(serial).is_some() {
            return Ok(None);
        }
        let row: Option<Row> = on_pool!(&self.db, |pool| sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM equipment WHERE company = $1 AND serial = $2"
        ))
        .bind(company.as_str())
        .bind(serial)
        .fetch_optional(pool)
        .await)?;
        row.map(record).transpose()
    }

    /// The company's equipment that `filter` selects, oldest first.
    pub async fn list_equipment(&self, company: &CompanyId, filter: &EquipmentFilter) -> Result<Vec<EquipmentRecord>> {
        // An absent condition binds NULL and holds for every row.
        let rows: Vec<Row> = on_pool!(&self.db, |pool| sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM equipment WHERE company = $1 \
             AND ($2 IS NULL OR model = $2) AND ($3 IS NULL OR serial = $3) \
             AND ($4 IS NULL OR customer_account = $4) ORDER BY created_at, id"
        ))
        .bind(company.as_str())
        .bind(&filter.model)
        .bind(&filter.serial)
        .bind(filter.customer.map(|account| account.0))
        .fetch_all(pool)
        .await)?;
        rows.into_iter().map(record).collect()
    }

    /// Replaces a piece of equipment's fields; `None` if the company has no
    /// such equipment, `serial_taken` as for [`Store::create_equipment`].
    pub async fn update_equipment(
        &self,
        company: &CompanyId,
        id: EquipmentId,
        fields: &EquipmentFields,
    ) -> Result<Option<EquipmentRecord>> {
        let installed_on = date_text(fields.installed_on)?;
        let updated = on_pool!(&self.writer, |pool| sqlx::query(
            "UPDATE equipment SET customer_account = $1, model = $2, serial = $3, manufacturer = $4, \
             site_address = $5, latitude = $6, longitude = $7, installed_on = $8, updated_at = $9 \
             WHERE id = $10 AND company = $11"
        )
        .bind(fields.customer.map(|account| account.0))
        .bind(&fields.model)
        .bind(&fields.serial)
        .bind(&fields.manufacturer)
        .bind(&fields.site_address)
        .bind(fields.site_coordinates.map(|point| point.latitude))
        .bind(fields.site_coordinates.map(|point| point.longitude))
        .bind(&installed_on)
        .bind(now_micros())
        .bind(id.0)
        .bind(company.as_str())
        .execute(pool)
        .await
        .map(|result| result.rows_affected() == 1)
        .map_err(|error| serial_taken(error, &fields.serial)))?;
        if !updated {
            return Ok(None);
        }
        self.equipment(company, id).await
    }

    /// Removes a piece of equipment and its photos' rows (their bytes are
    /// the caller's to delete, listed before); `false`
    /// if the company has no such equipment. Tickets keep the model and
    /// serial they were filed with.
    pub async fn delete_equipment(&self, company: &CompanyId, id: EquipmentId) -> Result<bool> {
        on_pool!(&self.writer, |pool| {
            let mut transaction = pool.begin_write().await?;
            sqlx::query("DELETE FROM photos WHERE subject_id = $1 AND company = $2")
                .bind(id.0)
                .bind(company.as_str())
                .execute(&mut *transaction)
                .await?;
            let deleted = sqlx::query("DELETE FROM equipment WHERE id = $1 AND company = $2")
                .bind(id.0)
                .bind(company.as_str())
                .execute(&mut *transaction)
                .await?;
            transaction.commit().await?;
            Ok::<_, Error>(deleted.rows_affected() == 1)
        })
    }
}
