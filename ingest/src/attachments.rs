//! Files that come with a submission: checked by their content
//! ([`switchboard_core::files`]), stored before the ticket is produced (so
//! an accepted ticket never names a missing file), and deleted again when
//! the ticket is not accepted.

pub use switchboard_core::files::{Accept, Refused, Upload, check, human_size};
use switchboard_core::{Attachment, AttachmentId, CompanyId, TicketId};
use switchboard_store::PendingAttachment;
use switchboard_web::ApiError;

use crate::IngestState;

/// Stores checked files for `ticket`: first a pending note of each (so that
/// retention can clean up whatever happens next), then the bytes. On a
/// failure the files already written are deleted again and the answer is
/// 503: nothing was accepted.
pub async fn store(
    state: &IngestState,
    company: &CompanyId,
    ticket: TicketId,
    files: &[Attachment],
    uploads: &[Upload],
) -> Result<(), ApiError> {
    if files.is_empty() {
        return Ok(());
    }
    let pending: Vec<PendingAttachment> = files.iter().map(|file| PendingAttachment { id: file.id, ticket }).collect();
    state.store.add_pending_attachments(company, &pending).await.map_err(|error| unavailable(state, &error))?;
    for (file, upload) in files.iter().zip(uploads) {
        if let Err(error) = state.files.put(company, ticket, file.id, upload.content.clone()).await {
            discard(state, company, ticket, files).await;
            return Err(unavailable(state, &error));
        }
    }
    Ok(())
}

/// Deletes the files of a submission that was not accepted (best effort:
/// retention deletes what is left here).
pub async fn discard(state: &IngestState, company: &CompanyId, ticket: TicketId, files: &[Attachment]) {
    for file in files {
        if let Err(error) = state.files.delete(company, ticket, file.id).await {
            tracing::warn!(%error, "cannot delete the file of a submission that was not accepted");
            return;
        }
    }
    let ids: Vec<AttachmentId> = files.iter().map(|file| file.id).collect();
    if let Err(error) = state.store.remove_pending_attachments(&ids).await {
        tracing::warn!(%error, "cannot forget the files of a submission that was not accepted");
    }
}

fn unavailable(state: &IngestState, error: &switchboard_store::Error) -> ApiError {
    tracing::warn!(error = %switchboard_core::error::describe_chain(error), "cannot store a submission's files");
    ApiError::Unavailable {
        message: "attachments cannot be stored right now; retry later".into(),
        retry_after_seconds: Some(state.config.retry_after_seconds),
    }
}
