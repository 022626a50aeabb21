//! Photos of equipment and vehicles: what is known of each in `photos`, the
//! bytes in the attachment store ([`FileStore`](crate::FileStore)) in the
//! subject's folder, `{company}/{subject}-{id}/{photo id}`.
//!
//! The bytes are written first and the row second, so a listed photo always
//! has its file; deleting goes the other way round.

use switchboard_core::{Attachment, AttachmentId, CompanyId, EquipmentId, VehicleId};
use uuid::Uuid;

use crate::Store;
use crate::attachments::{AttachmentRow, attachment};
use crate::db::{BeginWrite, now_micros, on_pool};
use crate::error::{Error, Result};

/// What a photo shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhotoSubject {
    Equipment(EquipmentId),
    Vehicle(VehicleId),
}

impl PhotoSubject {
    fn kind(self) -> &'static str {
        match self {
            PhotoSubject::Equipment(_) => "equipment",
            PhotoSubject::Vehicle(_) => "vehicle",
        }
    }

    fn id(self) -> Uuid {
        match self {
            PhotoSubject::Equipment(id) => id.0,
            PhotoSubject::Vehicle(id) => id.0,
        }
    }

    /// The subject's folder in the attachment store, under its company.
    pub(crate) fn folder(self) -> String {
        format!("{}-{}", self.kind(), self.id().simple())
    }
}

impl Store {
    /// The subject's photos, oldest first.
    pub async fn photos(&self, company: &CompanyId, subject: PhotoSubject) -> Result<Vec<Attachment>> {
        let rows: Vec<AttachmentRow> = on_pool!(&self.db, |pool| sqlx::query_as(
            "SELECT id, filename, content_type, size_bytes, sha256 FROM photos \
             WHERE subject_id = $1 AND subject = $2 AND company = $3 ORDER BY created_at, id"
        )
        .bind(subject.id())
        .bind(subject.kind())
        .bind(company.as_str())
        .fetch_all(pool)
        .await)?;
        rows.into_iter().map(attachment).collect()
    }

    /// One photo of the subject.
    pub async fn photo(
        &self,
        company: &CompanyId,
        subject: PhotoSubject,
        id: AttachmentId,
    ) -> Result<Option<Attachment>> {
        let row: Option<AttachmentRow> = on_pool!(&self.db, |pool| sqlx::query_as(
            "SELECT id, filename, content_type, size_bytes, sha256 FROM photos \
             WHERE id = $1 AND subject_id = $2 AND subject = $3 AND company = $4"
        )
        .bind(id.0)
        .bind(subject.id())
        .bind(subject.kind())
        .bind(company.as_str())
        .fetch_optional(pool)
        .await)?;
        row.map(attachment).transpose()
    }

    /// Records a photo whose bytes are stored. A subject with `max` photos
    /// already is [`Error::Refused`] `too_many_photos`.
    pub async fn add_photo(
        &self,
        company: &CompanyId,
        subject: PhotoSubject,
        photo: &Attachment,
        max: usize,
    ) -> Result<()> {
        let now = now_micros();
        on_pool!(&self.writer, |pool| {
            let mut transaction = pool.begin_write().await?;
            let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM photos WHERE subject_id = $1 AND company = $2")
                .bind(subject.id())
                .bind(company.as_str())
                .fetch_one(&mut *transaction)
                .await?;
            if usize::try_from(count).unwrap_or(usize::MAX) >= max {
                return Err(Error::Refused {
                    code: "too_many_photos",
                    message: format!("a {} has at most {max} photos; delete one first", subject.kind()),
                });
            }
            sqlx::query(
                "INSERT INTO photos (id, company, subject, subject_id, filename, content_type, size_bytes, sha256, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(photo.id.0)
            .bind(company.as_str())
            .bind(subject.kind())
            .bind(subject.id())
            .bind(&photo.filename)
            .bind(&photo.content_type)
            .bind(i64::try_from(photo.size_bytes).unwrap_or(i64::MAX))
            .bind(&photo.sha256)
            .bind(now)
            .execute(&mut *transaction)
            .await?;
            transaction.commit().await?;
            Ok::<_, Error>(())
        })
    }

    /// Forgets a photo (its bytes are the caller's to delete); `false` when
    /// there was none.
    pub async fn delete_photo(&self, company: &CompanyId, subject: PhotoSubject, id: AttachmentId) -> Result<bool> {
        let deleted = on_pool!(&self.writer, |pool| sqlx::query(
            "DELETE FROM photos WHERE id = $1 AND subject_id = $2 AND subject = $3 AND company = $4"
        )
        .bind(id.0)
        .bind(subject.id())
        .bind(subject.kind())
        .bind(company.as_str())
        .execute(pool)
        .await
        .map(|result| result.rows_affected()))?;
        Ok(deleted == 1)
    }
}
