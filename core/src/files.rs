//! Files people send (a ticket's attachments, photos of equipment and
//! vehicles): checked against the limits by their content, not their name,
//! and described as they will be stored.

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::config::AttachmentsConfig;
use crate::{Attachment, AttachmentId};

/// Image types a photo may have, by content.
const PHOTO_TYPES: &[&str] =
    &["image/jpeg", "image/png", "image/gif", "image/webp", "image/heif", "image/avif", "image/bmp", "image/tiff"];

/// What a channel takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accept {
    /// Pictures only (the web form's photos).
    Photos,
    /// Any file; what is not recognised is kept as `text/plain` (valid
    /// UTF-8) or `application/octet-stream`.
    Anything,
}

/// A file as it arrived: the name its sender gave and its bytes.
#[derive(Clone, Debug)]
pub struct Upload {
    pub filename: String,
    pub content: Bytes,
}

/// Why a file was refused: each is the submitter's to fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("`{filename}` is larger than {}", human_size(*limit))]
    FileTooLarge { filename: String, limit: u64 },
    #[error("the files add up to more than {}", human_size(*limit))]
    TooLargeInAll { limit: u64 },
    #[error("at most {limit} files can be attached")]
    TooMany { limit: usize },
    #[error("`{filename}` is not a picture (JPEG, PNG, GIF, WebP, HEIF, AVIF, BMP or TIFF)")]
    NotAPhoto { filename: String },
    #[error("`{filename}` is empty")]
    Empty { filename: String },
}

/// `bytes` for people: "10 MB", "512 KB", "300 bytes" (powers of 1024).
pub fn human_size(bytes: u64) -> String {
    const KB: u64 = 1024;
    match bytes {
        bytes if bytes >= KB * KB && bytes % (KB * KB) == 0 => format!("{} MB", bytes / (KB * KB)),
        bytes if bytes >= KB * KB => format!("{:.1} MB", bytes as f64 / (KB * KB) as f64),
        bytes if bytes >= KB && bytes % KB == 0 => format!("{} KB", bytes / KB),
        bytes if bytes >= KB => format!("{:.1} KB", bytes as f64 / KB as f64),
        bytes => format!("{bytes} bytes"),
    }
}

/// The type `content` shows by its first bytes.
pub fn content_type(content: &[u8]) -> &'static str {
    match infer::get(content) {
        Some(kind) => kind.mime_type(),
        None if std::str::from_utf8(content).is_ok() => "text/plain",
        None => "application/octet-stream",
    }
}

/// A file name safe to show and to put in `Content-Disposition`: the last
/// path segment, without control characters, quotes or backslashes, at most
/// 200 characters; `fallback` when nothing is left.
pub fn clean_filename(name: &str, fallback: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|character| !character.is_control() && !matches!(character, '"' | '\\' | '/'))
        .take(200)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim();
    if cleaned.is_empty() { fallback.to_owned() } else { cleaned.to_owned() }
}

/// Checks every file against the limits and what the channel accepts, and
/// describes each as it will be stored.
pub fn check(
    uploads: &[Upload],
    accept: Accept,
    max_files: usize,
    limits: &AttachmentsConfig,
) -> Result<Vec<Attachment>, Refused> {
    if uploads.len() > max_files.min(limits.max_files) {
        return Err(Refused::TooMany { limit: max_files.min(limits.max_files) });
    }
    let mut total = 0_u64;
    let mut described = Vec::with_capacity(uploads.len());
    for (index, upload) in uploads.iter().enumerate() {
        total += upload.content.len() as u64;
        let file = describe(upload, &format!("attachment-{}", index + 1), accept, limits)?;
        if total > limits.max_ticket_bytes {
            return Err(Refused::TooLargeInAll { limit: limits.max_ticket_bytes });
        }
        described.push(file);
    }
    Ok(described)
}

/// Checks one file against the per-file limit and what the channel
/// accepts, and describes it as it will be stored (`fallback` names a file
/// sent without a usable name).
pub fn describe(
    upload: &Upload,
    fallback: &str,
    accept: Accept,
    limits: &AttachmentsConfig,
) -> Result<Attachment, Refused> {
    let filename = clean_filename(&upload.filename, fallback);
    let size_bytes = upload.content.len() as u64;
    if size_bytes == 0 {
        return Err(Refused::Empty { filename });
    }
    if size_bytes > limits.max_file_bytes {
        return Err(Refused::FileTooLarge { filename, limit: limits.max_file_bytes });
    }
    let content_type = content_type(&upload.content);
    if accept == Accept::Photos && !PHOTO_TYPES.contains(&content_type) {
        return Err(Refused::NotAPhoto { filename });
    }
    Ok(Attachment {
        id: AttachmentId::new(),
        filename,
        content_type: content_type.to_owned(),
        size_bytes,
        sha256: hex(&Sha256::digest(&upload.content)),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

    fn upload(name: &str, content: &[u8]) -> Upload {
        Upload { filename: name.into(), content: Bytes::copy_from_slice(content) }
    }

    #[test]
    fn types_come_from_the_content_not_the_name() {
        let limits = AttachmentsConfig::default();
        let files = check(&[upload("photo.jpg", PNG)], Accept::Photos, 5, &limits).expect("a PNG is a photo");
        assert_eq!(files[0].content_type, "image/png");
        assert_eq!(files[0].size_bytes, PNG.len() as u64);
        assert_eq!(files[0].sha256.len(), 64);
        let refused = check(&[upload("photo.png", b"<script>alert(1)</script>")], Accept::Photos, 5, &limits);
        assert!(matches!(refused, Err(Refused::NotAPhoto { .. })), "{refused:?}");
        let any = check(&[upload("notes.exe", b"plain words")], Accept::Anything, 5, &limits).expect("anything");
        assert_eq!(any[0].content_type, "text/plain");
        let binary = check(&[upload("blob", b"\xff\xfe\x00\x01")], Accept::Anything, 5, &limits).expect("anything");
        assert_eq!(binary[0].content_type, "application/octet-stream");
    }

    #[test]
    fn limits_are_per_file_per_ticket_and_by_count() {
        let limits = AttachmentsConfig { max_file_bytes: 10, max_ticket_bytes: 15, ..AttachmentsConfig::default() };
        let big = vec![b'a'; 11];
        assert!(matches!(
            check(&[upload("a", &big)], Accept::Anything, 5, &limits),
            Err(Refused::FileTooLarge { limit: 10, .. })
        ));
        let eight = vec![b'a'; 8];
        assert!(matches!(
            check(&[upload("a", &eight), upload("b", &eight)], Accept::Anything, 5, &limits),
            Err(Refused::TooLargeInAll { limit: 15 })
        ));
        let one = [upload("a", b"x"), upload("b", b"y")];
        assert!(matches!(check(&one, Accept::Anything, 1, &limits), Err(Refused::TooMany { limit: 1 })));
        assert!(matches!(check(&[upload("a", b"")], Accept::Anything, 5, &limits), Err(Refused::Empty { .. })));
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_size(10 * 1024 * 1024), "10 MB");
        assert_eq!(human_size(4096), "4 KB");
        assert_eq!(human_size(1536), "1.5 KB");
        assert_eq!(human_size(300), "300 bytes");
    }

    #[test]
    fn file_names_lose_paths_quotes_and_control_characters() {
        assert_eq!(clean_filename("C:\\Users\\ann\\pump \"A\".jpg", "x"), "pump A.jpg");
        assert_eq!(clean_filename("../../etc/passwd", "x"), "passwd");
        assert_eq!(clean_filename("..", "attachment-1"), "attachment-1");
        assert_eq!(clean_filename("a\r\nb.png", "x"), "ab.png");
        assert_eq!(clean_filename("", "attachment-2"), "attachment-2");
        assert_eq!(clean_filename(&"é".repeat(500), "x").chars().count(), 200);
    }
}
