//! A ticket's files: `GET /v1/tickets/{id}/attachments` lists them,
//! `GET /v1/tickets/{id}/attachments/{attachment_id}` serves one, to whoever
//! may read the ticket.
//!
//! A file is served as a download (`Content-Disposition: attachment`,
//! `application/octet-stream`) unless it is a picture of a type browsers
//! only display; with `nosniff` and a sandboxing content security policy
//! either way, so a file cannot run as a page of this origin.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Serialize;
use switchboard_core::{Attachment, AttachmentId};
use switchboard_web::{ApiError, Authenticated, Path};

use crate::ApiState;
use crate::tickets::visible_ticket;

/// Types shown inline: pictures that cannot carry script.
const INLINE_TYPES: &[&str] = &["image/jpeg", "image/png", "image/gif", "image/webp", "image/avif", "image/bmp"];

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct AttachmentList {
    items: Vec<Attachment>,
}

pub(crate) async fn list_attachments(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<AttachmentList>, ApiError> {
    let ticket = visible_ticket(&state, &caller, &id).await?;
    let items = state.store.attachments(&caller.scope(), ticket.id).await?;
    Ok(Json(AttachmentList { items }))
}

pub(crate) async fn get_attachment(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path((id, attachment_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let ticket = visible_ticket(&state, &caller, &id).await?;
    let not_found = || ApiError::NotFound { what: "attachment" };
    let attachment_id: AttachmentId = attachment_id.parse().map_err(|_| not_found())?;
    let file = state.store.attachment(&caller.scope(), ticket.id, attachment_id).await?.ok_or_else(not_found)?;
    let Some(content) = state.files.get(&ticket.company, ticket.id, file.id).await? else {
        tracing::error!(ticket_id = %ticket.id, attachment_id = %file.id, "a recorded attachment's file is missing");
        return Err(not_found());
    };
    Ok(serve_file(&file, content))
}

/// A stored file as a response: pictures browsers only display inline,
/// anything else as a download; never sniffed, sandboxed, cacheable by
/// the one client.
pub(crate) fn serve_file(file: &Attachment, content: Bytes) -> Response {
    let inline = INLINE_TYPES.contains(&file.content_type.as_str());
    let content_type = if inline { file.content_type.as_str() } else { "application/octet-stream" };
    let disposition = content_disposition(if inline { "inline" } else { "attachment" }, &file.filename);
    let mut response = (StatusCode::OK, Body::from(content)).into_response();
    let headers = response.headers_mut();
    let content_type =
        HeaderValue::from_str(content_type).unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, content_type);
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=3600"));
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", file.sha256)) {
        headers.insert(header::ETAG, etag);
    }
    response
}

/// `inline` or `attachment` with the name twice: plain ASCII for old
/// clients, and RFC 8187's UTF-8 form.
fn content_disposition(kind: &str, filename: &str) -> String {
    let ascii: String = filename
        .chars()
        .map(|character| if character.is_ascii_graphic() || character == ' ' { character } else { '_' })
        .collect();
    let ascii = ascii.replace(['"', '\\'], "_");
    let encoded: String = filename
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'~' => (byte as char).to_string(),
            _ => format!("%{byte:02X}"),
        })
        .collect();
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_quoted_safely_in_both_forms() {
        assert_eq!(
            content_disposition("attachment", "pump \"P-200\" é.pdf"),
            "attachment; filename=\"pump _P-200_ _.pdf\"; filename*=UTF-8''pump%20%22P-200%22%20%C3%A9.pdf"
        );
        assert_eq!(content_disposition("inline", "a.png"), "inline; filename=\"a.png\"; filename*=UTF-8''a.png");
    }
}
