//! Files that come with tickets (and photos of equipment and vehicles,
//! `photos`): their bytes in an object store (a
//! directory on this machine by default, any S3-compatible bucket by
//! configuration) and what is known of them in the database.
//!
//! The order of writes is what keeps an accepted ticket from naming a
//! missing file: ingest stores the bytes and a `pending_attachments` row
//! first, produces the ticket only then, and the projector records the file
//! (and drops the pending row) when the ticket arrives. A pending row whose
//! ticket never came (the produce failed, or the process died in between)
//! outlives `attachments.orphan_grace_hours`, and retention deletes its file.

use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use switchboard_core::config::{AttachmentBackend, Config};
use switchboard_core::{Attachment, AttachmentId, CompanyId, Scope, TicketId};
use uuid::Uuid;

use crate::Store;
use crate::db::{now_micros, on_pool};
use crate::error::{Error, Result};
use crate::photos::PhotoSubject;

/// Whose files: a ticket's attachments, or the photos of a piece of
/// equipment or a vehicle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Folder {
    Ticket(TicketId),
    Photos(PhotoSubject),
}

impl From<TicketId> for Folder {
    fn from(ticket: TicketId) -> Self {
        Folder::Ticket(ticket)
    }
}

impl From<PhotoSubject> for Folder {
    fn from(subject: PhotoSubject) -> Self {
        Folder::Photos(subject)
    }
}

/// Where attachment bytes live. Cheap to clone.
#[derive(Clone)]
pub struct FileStore {
    objects: Arc<dyn ObjectStore>,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("FileStore").field("objects", &self.objects.to_string()).finish()
    }
}

impl FileStore {
    /// The store `config.attachments` names; the `file` backend creates its
    /// directory.
    pub fn open(config: &Config) -> Result<Self> {
        let attachments = &config.attachments;
        let objects: Arc<dyn ObjectStore> = match attachments.backend {
            AttachmentBackend::File => {
                let dir = config.attachments_dir();
                std::fs::create_dir_all(&dir).map_err(|source| Error::Files(Box::new(source)))?;
                Arc::new(
                    object_store::local::LocalFileSystem::new_with_prefix(&dir)
                        .map_err(|source| Error::Files(Box::new(source)))?,
                )
            }
            AttachmentBackend::S3 => {
                let s3 = &attachments.s3;
                let mut builder = object_store::aws::AmazonS3Builder::from_env()
                    .with_bucket_name(&s3.bucket)
                    .with_region(if s3.region.is_empty() { "us-east-1" } else { &s3.region })
                    .with_allow_http(s3.allow_http);
                if let Some(endpoint) = &s3.endpoint {
                    builder = builder.with_endpoint(endpoint).with_virtual_hosted_style_request(false);
                }
                if let Some(key) = &s3.access_key_id {
                    builder = builder.with_access_key_id(key.expose());
                }
                if let Some(secret) = &s3.secret_access_key {
                    builder = builder.with_secret_access_key(secret.expose());
                }
                Arc::new(builder.build().map_err(|source| Error::Files(Box::new(source)))?)
            }
        };
        Ok(Self { objects })
    }

    fn path(company: &CompanyId, folder: Folder, id: AttachmentId) -> ObjectPath {
        let folder = match folder {
            Folder::Ticket(ticket) => ticket.0.simple().to_string(),
            Folder::Photos(subject) => subject.folder(),
        };
        ObjectPath::from(format!("{company}/{folder}/{}", id.0.simple()))
    }

    pub async fn put(
        &self,
        company: &CompanyId,
        folder: impl Into<Folder>,
        id: AttachmentId,
        content: Bytes,
    ) -> Result<()> {
        let path = Self::path(company, folder.into(), id);
        self.objects.put(&path, PutPayload::from(content)).await.map_err(files)?;
        Ok(())
    }

    /// The bytes, or `None` when the file is gone.
    pub async fn get(&self, company: &CompanyId, folder: impl Into<Folder>, id: AttachmentId) -> Result<Option<Bytes>> {
        let path = Self::path(company, folder.into(), id);
        match self.objects.get(&path).await {
            Ok(found) => Ok(Some(found.bytes().await.map_err(files)?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(files(error)),
        }
    }

    /// Deletes the file; one already gone is no error.
    pub async fn delete(&self, company: &CompanyId, folder: impl Into<Folder>, id: AttachmentId) -> Result<()> {
        match self.objects.delete(&Self::path(company, folder.into(), id)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(files(error)),
        }
    }
}

fn files(error: object_store::Error) -> Error {
    Error::Files(Box::new(error))
}

/// A file about to be stored for a ticket that is not yet on the bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingAttachment {
    pub id: AttachmentId,
    pub ticket: TicketId,
}

pub(crate) type AttachmentRow = (Uuid, String, String, i64, String);

impl Store {
    /// Notes files about to be stored for `ticket`, before their bytes are
    /// written: retention deletes them unless the ticket comes.
    pub async fn add_pending_attachments(&self, company: &CompanyId, pending: &[PendingAttachment]) -> Result<()> {
        let now = now_micros();
        on_pool!(&self.writer, |pool| {
            let mut transaction = pool.begin().await?;
            for file in pending {
                sqlx::query(
                    "INSERT INTO pending_attachments (id, ticket_id, company, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(file.id.0)
                .bind(file.ticket.0)
                .bind(company.as_str())
                .bind(now)
                .execute(&mut *transaction)
                .await?;
            }
            transaction.commit().await
        })?;
        Ok(())
    }

    /// Forgets pending files (after their bytes were deleted).
    pub async fn remove_pending_attachments(&self, ids: &[AttachmentId]) -> Result<()> {
        on_pool!(&self.writer, |pool| {
            let mut transaction = pool.begin().await?;
            for id in ids {
                sqlx::query("DELETE FROM pending_attachments WHERE id = $1")
                    .bind(id.0)
                    .execute(&mut *transaction)
                    .await?;
            }
            transaction.commit().await
        })?;
        Ok(())
    }

    /// Pending files older than `older_than_micros` whose ticket never
    /// recorded them, oldest first, at most `limit`.
    pub async fn orphaned_attachments(
        &self,
        older_than_micros: i64,
        limit: u32,
    ) -> Result<Vec<(CompanyId, PendingAttachment)>> {
        let rows: Vec<(Uuid, Uuid, String)> = on_pool!(&self.db, |pool| sqlx::query_as(
            "SELECT p.id, p.ticket_id, p.company FROM pending_attachments p \
             WHERE p.created_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM ticket_attachments a WHERE a.id = p.id) \
             ORDER BY p.created_at LIMIT $2"
        )
        .bind(older_than_micros)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)?;
        rows.into_iter()
            .map(|(id, ticket, company)| {
                let company = CompanyId::parse(&company)
                    .map_err(|_| Error::Corrupt(format!("pending attachment {id}: bad company")))?;
                Ok((company, PendingAttachment { id: AttachmentId(id), ticket: TicketId(ticket) }))
            })
            .collect()
    }

    /// The files of a ticket inside `scope`, oldest first.
    pub async fn attachments(&self, scope: &Scope, ticket: TicketId) -> Result<Vec<Attachment>> {
        let company = scope.company().map(CompanyId::as_str);
        let rows: Vec<AttachmentRow> = on_pool!(&self.db, |pool| sqlx::query_as(
            "SELECT id, filename, content_type, size_bytes, sha256 FROM ticket_attachments \
             WHERE ticket_id = $1 AND ($2 IS NULL OR company = $2) ORDER BY id"
        )
        .bind(ticket.0)
        .bind(company)
        .fetch_all(pool)
        .await)?;
        rows.into_iter().map(attachment).collect()
    }

    /// One file of a ticket inside `scope`.
    pub async fn attachment(&self, scope: &Scope, ticket: TicketId, id: AttachmentId) -> Result<Option<Attachment>> {
        let company = scope.company().map(CompanyId::as_str);
        let row: Option<AttachmentRow> = on_pool!(&self.db, |pool| sqlx::query_as(
            "SELECT id, filename, content_type, size_bytes, sha256 FROM ticket_attachments \
             WHERE ticket_id = $1 AND id = $2 AND ($3 IS NULL OR company = $3)"
        )
        .bind(ticket.0)
        .bind(id.0)
        .bind(company)
        .fetch_optional(pool)
        .await)?;
        row.map(attachment).transpose()
    }
}

pub(crate) fn attachment((id, filename, content_type, size_bytes, sha256): AttachmentRow) -> Result<Attachment> {
    Ok(Attachment {
        id: AttachmentId(id),
        filename,
        content_type,
        size_bytes: u64::try_from(size_bytes).map_err(|_| Error::Corrupt(format!("attachment {id}: bad size")))?,
        sha256,
    })
}

/// Records files in a writing transaction: each once, no longer pending;
/// `$message` is the id of the message they came with (`None` for the
/// ticket's own).
macro_rules! record_attachments {
    ($transaction:expr, $ticket:expr, $files:expr, $message:expr, $now:expr) => {
        for file in $files {
            sqlx::query(
                "INSERT INTO ticket_attachments \
                 (id, ticket_id, company, message_id, filename, content_type, size_bytes, sha256, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
            )
            .bind(file.id.0)
            .bind($ticket.id.0)
            .bind($ticket.company.as_str())
            .bind($message)
            .bind(&file.filename)
            .bind(&file.content_type)
            .bind(i64::try_from(file.size_bytes).unwrap_or(i64::MAX))
            .bind(&file.sha256)
            .bind($now)
            .execute(&mut *$transaction)
            .await?;
            sqlx::query("DELETE FROM pending_attachments WHERE id = $1")
                .bind(file.id.0)
                .execute(&mut *$transaction)
                .await?;
        }
    };
}
pub(crate) use record_attachments;
