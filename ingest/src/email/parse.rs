//! Raw bytes to [`InboundMail`], through `mail-parser`.

use std::borrow::Cow;
use std::collections::HashSet;

use mail_parser::{
    Address, Encoding, HeaderName, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType,
};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use super::noise::{self, HeaderFields};
use super::text::{self, MessageKind, collapse_whitespace, html_to_text, normalise_newlines};
use super::{InboundMail, MailAttachment, Mailbox, ParseError};

/// The largest message [`parse`] accepts: 64 MiB, above what mail systems
/// deliver (25–50 MB with the base64 overhead).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// The most MIME parts a message may have, at every depth. Real mail has
/// tens.
pub const MAX_MIME_PARTS: usize = 5_000;

/// The most forwarded messages (`message/rfc822` parts, at any depth) a
/// message may carry. `mail-parser` copies and drops nested messages
/// recursively, so this bound is what keeps its stack use small on hostile
/// input (see `check_structure`).
pub const MAX_MESSAGE_PARTS: usize = 100;

/// The longest attachment file name kept, in characters.
const MAX_FILENAME_CHARS: usize = 150;

/// Parses a raw RFC 5322 message (with CRLF or LF line endings).
///
/// Never panics. Fails only when the input is not a mail at all
/// ([`ParseError::NotAMessage`]), has no From field ([`ParseError::NoFrom`]),
/// is larger or more deeply structured than any real mail
/// ([`ParseError::TooLarge`], [`ParseError::TooComplex`]), or so damaged
/// that the MIME parser gives up ([`ParseError::Malformed`]); everything else
/// (bad dates, undecodable charsets, broken MIME) degrades to what can be
/// read.
pub fn parse(raw: &[u8]) -> Result<InboundMail, ParseError> {
    if raw.len() > MAX_MESSAGE_BYTES {
        return Err(ParseError::TooLarge { size: raw.len(), limit: MAX_MESSAGE_BYTES });
    }
    check_structure(raw)?;

    let message = parse_guarded(&MessageParser::default(), raw)?.ok_or(ParseError::NotAMessage)?;
    let mail = read_message(raw, &message);
    dismantle(message);
    mail
}

fn read_message(raw: &[u8], message: &Message<'_>) -> Result<InboundMail, ParseError> {
    let root = message.parts.first().ok_or(ParseError::NotAMessage)?;
    if root.headers.is_empty() {
        return Err(ParseError::NotAMessage);
    }
    if !root.headers.iter().any(|header| header.name == HeaderName::From) {
        return Err(ParseError::NoFrom);
    }

    let header_fields = header_fields(raw, root);
    let from = first_mailbox(message.from());
    let noise = noise::classify(&header_fields, from.as_ref());
    let subject = message.subject().map(collapse_whitespace).unwrap_or_default();
    let body = body_text(message);
    let kind = if is_forward_subject(&subject) { MessageKind::Forward } else { MessageKind::Reply };
    let reply_text = text::own_text(&body, kind);

    Ok(InboundMail {
        message_id: message.message_id().and_then(bare_id),
        in_reply_to: ids(message.in_reply_to()),
        references: ids(message.references()),
        reply_to: first_mailbox(message.reply_to()),
        recipients: recipients(root, &header_fields),
        date: message.date().and_then(to_offset_date_time),
        attachments: attachments(raw, message),
        suppress_auto_reply: noise::suppresses_auto_reply(&header_fields),
        from,
        subject,
        body,
        reply_text,
        noise,
    })
}

/// Refuses, before the real parse, a message with more than
/// [`MAX_MIME_PARTS`] parts or [`MAX_MESSAGE_PARTS`] forwarded messages.
///
/// `mail-parser` parses an encoded (base64, quoted-printable) forwarded
/// message on its own and then copies its tree recursively, so a few
/// hundred kilobytes of nested forwards would overflow the stack: an abort,
/// not a panic. This pass parses the structure with the transfer encoding
/// ignored (which `mail-parser` handles without recursing), counts the
/// parts and messages at every depth, and decodes each encoded message
/// (leniently: at least what the real parse will decode) to count what is
/// inside it too. The count of messages bounds the nesting depth whatever
/// the shape.
fn check_structure(raw: &[u8]) -> Result<(), ParseError> {
    let structure_parser = MessageParser::new()
        .header_content_type(HeaderName::ContentType)
        .ignore_header(HeaderName::ContentTransferEncoding);
    let mut pending: Vec<(Cow<'_, [u8]>, usize)> = vec![(Cow::Borrowed(raw), 0)];
    let mut part_count = 0usize;
    let mut message_count = 0usize;
    // Decoding is bounded too, so the pass stays linear in the input.
    let mut decode_budget = raw.len().saturating_mul(4).saturating_add(64 * 1024);
    while let Some((bytes, encoded_level)) = pending.pop() {
        let Some(message) = parse_guarded(&structure_parser, bytes.as_ref())? else { continue };
        let mut decoded_messages = Vec::new();
        let mut levels: Vec<&Message<'_>> = vec![&message];
        while let Some(current) = levels.pop() {
            part_count += current.parts.len();
            for part in &current.parts {
                let declared_message = part.content_type().is_some_and(|content_type| {
                    content_type.ctype().eq_ignore_ascii_case("message")
                        && content_type.subtype().is_some_and(|subtype| {
                            subtype.eq_ignore_ascii_case("rfc822") || subtype.eq_ignore_ascii_case("global")
                        })
                });
                if let PartType::Message(nested) = &part.body {
                    levels.push(nested);
                    message_count += 1;
                } else if declared_message {
                    message_count += 1;
                }
                if declared_message
                    && encoded_level < MAX_ENCODED_LEVELS
                    && let Some(decoded) = decode_transfer_encoding(&bytes, part)
                {
                    decoded_messages.push(decoded);
                }
            }
            if part_count > MAX_MIME_PARTS || message_count > MAX_MESSAGE_PARTS {
                break;
            }
        }
        drop(levels);
        dismantle(message);
        if part_count > MAX_MIME_PARTS {
            return Err(ParseError::TooComplex("too many MIME parts"));
        }
        if message_count > MAX_MESSAGE_PARTS {
            return Err(ParseError::TooComplex("too many forwarded (message/rfc822) parts"));
        }
        for decoded in decoded_messages {
            decode_budget =
                decode_budget.checked_sub(decoded.len()).ok_or(ParseError::TooComplex("too much encoded nesting"))?;
            pending.push((Cow::Owned(decoded), encoded_level + 1));
        }
    }
    Ok(())
}

/// `mail-parser` parses encoded messages three levels deep; one more here
/// for safety.
const MAX_ENCODED_LEVELS: usize = 4;

/// The body of a base64 or quoted-printable part, decoded leniently: the
/// decoders below never fail and stream (a longer input only adds to the
/// output), so what they give contains what `mail-parser`'s stricter
/// decoders give. When the structure pass could not tell where the part
/// ends (it read the encoded text as a message and met the end of input),
/// the rest of the input is decoded.
fn decode_transfer_encoding(bytes: &[u8], part: &MessagePart<'_>) -> Option<Vec<u8>> {
    let header = part.headers.iter().find(|header| header.name == HeaderName::ContentTransferEncoding)?;
    let encoding = bytes.get(header.offset_start as usize..header.offset_end as usize)?;
    let encoding = String::from_utf8_lossy(encoding).trim().to_ascii_lowercase();
    let start = part.offset_body as usize;
    let end = if (part.offset_end as usize) > start { part.offset_end as usize } else { bytes.len() };
    let body = bytes.get(start..end.min(bytes.len()))?;
    if encoding.starts_with("base64") {
        Some(decode_base64_leniently(body))
    } else if encoding.starts_with("quoted-printable") {
        Some(decode_quoted_printable_leniently(body))
    } else {
        None
    }
}

/// Base64 that skips bytes outside the alphabet; `=` ends a quantum, as in
/// `mail-parser`, and decoding goes on after it.
fn decode_base64_leniently(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() / 4 * 3);
    let mut accumulator: u32 = 0;
    let mut sextets = 0;
    for &byte in body {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => {
                // Flush a partial quantum: 2 sextets are 1 byte, 3 are 2.
                match sextets {
                    2 => out.push(((accumulator >> 4) & 0xFF) as u8),
                    3 => out.extend_from_slice(&((accumulator >> 2) as u16).to_be_bytes()),
                    _ => {}
                }
                accumulator = 0;
                sextets = 0;
                continue;
            }
            _ => continue,
        };
        accumulator = (accumulator << 6) | u32::from(value);
        sextets += 1;
        if sextets == 4 {
            out.extend_from_slice(&accumulator.to_be_bytes()[1..]);
            accumulator = 0;
            sextets = 0;
        }
    }
    out
}

/// Quoted-printable: `=XX` decoded, `=` at a line end joins the lines, any
/// other byte kept.
fn decode_quoted_printable_leniently(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut position = 0;
    while position < body.len() {
        let byte = body[position];
        if byte != b'=' {
            out.push(byte);
            position += 1;
            continue;
        }
        let rest = &body[position + 1..];
        if rest.starts_with(b"\r\n") {
            position += 3;
        } else if rest.starts_with(b"\n") {
            position += 2;
        } else if let Some(decoded) = rest.get(..2).and_then(|pair| {
            let text = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(text, 16).ok()
        }) {
            out.push(decoded);
            position += 3;
        } else {
            out.push(byte);
            position += 1;
        }
    }
    out
}

/// `mail-parser`'s parse, with a panic turned into [`ParseError::Malformed`].
///
/// It is written not to panic, but it has `debug_assert!`s that damaged
/// MIME structure reaches (the property tests found one), and a panic in a
/// request handler must not be how a hostile mail is answered.
fn parse_guarded<'x>(parser: &MessageParser, raw: &'x [u8]) -> Result<Option<Message<'x>>, ParseError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parser.parse(raw))).map_err(|_| ParseError::Malformed)
}

/// Drops a parsed message level by level: `mail-parser`'s own drop of
/// nested messages recurses once per level.
fn dismantle(message: Message<'_>) {
    let mut stack = vec![message];
    while let Some(mut message) = stack.pop() {
        for part in &mut message.parts {
            if let PartType::Message(nested) = &mut part.body {
                stack.push(std::mem::take(nested));
            }
        }
    }
}

/// The top-level fields as written (unfolded, not decoded), for the noise
/// rules, which must see `<>` and keywords exactly.
fn header_fields(raw: &[u8], root: &MessagePart<'_>) -> HeaderFields {
    let mut fields = HeaderFields::default();
    for header in &root.headers {
        let start = header.offset_start as usize;
        let end = header.offset_end as usize;
        let value = raw.get(start..end).map(|bytes| collapse_whitespace(&String::from_utf8_lossy(bytes)));
        fields.push(header.name(), value.unwrap_or_default());
    }
    fields
}

fn first_mailbox(address: Option<&Address<'_>>) -> Option<Mailbox> {
    address?.iter().find_map(|addr| {
        let email = addr.address.as_deref().and_then(clean_address)?;
        let name = addr
            .name
            .as_deref()
            .map(|name| collapse_whitespace(name.trim_matches(|character: char| character == '"' || character == '\'')))
            .filter(|name| !name.is_empty());
        Some(Mailbox { email, name })
    })
}

/// Trimmed, brackets removed, lowercased; `None` unless it looks like an
/// address (`local@domain`).
fn clean_address(address: &str) -> Option<String> {
    let bare = address.trim().trim_start_matches('<').trim_end_matches('>').trim().to_lowercase();
    let (local, domain) = bare.split_once('@')?;
    if local.is_empty() || domain.is_empty() || bare.chars().any(char::is_whitespace) {
        return None;
    }
    Some(bare)
}

fn recipients(root: &MessagePart<'_>, fields: &HeaderFields) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut recipients = Vec::new();
    let mut add = |address: Option<String>| {
        if let Some(address) = address
            && seen.insert(address.clone())
        {
            recipients.push(address);
        }
    };
    for wanted in [HeaderName::To, HeaderName::Cc] {
        for header in root.headers.iter().filter(|header| header.name == wanted) {
            if let HeaderValue::Address(address) = &header.value {
                for addr in address.iter() {
                    add(addr.address.as_deref().and_then(clean_address));
                }
            }
        }
    }
    for name in ["delivered-to", "x-original-to"] {
        for value in fields.values(name) {
            for item in value.split(',') {
                add(clean_address(item));
            }
        }
    }
    recipients
}

/// Message ids of In-Reply-To or References, without brackets, in order,
/// each once.
fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    let items: Vec<&str> = match value {
        HeaderValue::Text(text) => vec![text.as_ref()],
        HeaderValue::TextList(list) => list.iter().map(AsRef::as_ref).collect(),
        _ => Vec::new(),
    };
    let mut seen = HashSet::new();
    items.into_iter().filter_map(bare_id).filter(|id| seen.insert(id.clone())).collect()
}

fn bare_id(id: &str) -> Option<String> {
    let bare = id.trim().trim_start_matches('<').trim_end_matches('>').trim();
    (!bare.is_empty()).then(|| bare.to_owned())
}

fn to_offset_date_time(date: &mail_parser::DateTime) -> Option<OffsetDateTime> {
    let month = Month::try_from(date.month).ok()?;
    let day = Date::from_calendar_date(i32::from(date.year), month, date.day).ok()?;
    // A leap second (`:60`) is read as the second before it.
    let clock = Time::from_hms(date.hour, date.minute, date.second.min(59)).ok()?;
    let sign: i8 = if date.tz_before_gmt { -1 } else { 1 };
    let hours = i8::try_from(date.tz_hour).ok()?;
    let minutes = i8::try_from(date.tz_minute).ok()?;
    let offset = UtcOffset::from_hms(sign * hours, sign * minutes, 0).ok()?;
    Some(PrimitiveDateTime::new(day, clock).assume_offset(offset))
}

/// The text/plain body parts, else (also when they are blank) the HTML
/// ones converted; joined by a blank line.
fn body_text(message: &Message<'_>) -> String {
    let collect = |ids: &[u32]| -> String {
        let mut texts: Vec<String> = Vec::new();
        for part in ids.iter().filter_map(|&id| message.parts.get(id as usize)) {
            let text = match &part.body {
                PartType::Text(text) => tidy_text(text),
                PartType::Html(html) => html_to_text(html),
                _ => continue,
            };
            if !text.trim().is_empty() {
                texts.push(text);
            }
        }
        texts.join("\n\n")
    };
    let plain = collect(&message.text_body);
    if !plain.is_empty() {
        return plain;
    }
    collect(&message.html_body)
}

/// `\n` line endings, no trailing blanks at the end, no leading blank lines.
fn tidy_text(text: &str) -> String {
    let normalised = normalise_newlines(text);
    let trimmed = normalised.trim_end();
    let start = trimmed.len() - trimmed.trim_start_matches(['\n', ' ', '\t']).len();
    // Keep the first line's indentation: step back to its start.
    let line_start = trimmed[..start].rfind('\n').map_or(0, |newline| newline + 1);
    trimmed[line_start..].to_owned()
}

/// `Fwd:`, `FW:` and their translations (German `WG:`, French `TR:`,
/// Spanish `RV:`, Dutch `Doorst:`, Portuguese `ENC:`).
fn is_forward_subject(subject: &str) -> bool {
    let Some((prefix, _)) = subject.split_once(':') else { return false };
    let prefix = prefix.trim().to_ascii_lowercase();
    matches!(prefix.as_str(), "fwd" | "fw" | "wg" | "tr" | "rv" | "doorst" | "enc")
}

fn attachments(raw: &[u8], message: &Message<'_>) -> Vec<MailAttachment> {
    // Which multipart each part sits in: an image in multipart/related is
    // part of the HTML body.
    let mut parent_of: Vec<Option<usize>> = vec![None; message.parts.len()];
    for (index, part) in message.parts.iter().enumerate() {
        if let PartType::Multipart(children) = &part.body {
            for &child in children {
                if let Some(slot) = parent_of.get_mut(child as usize) {
                    *slot = Some(index);
                }
            }
        }
    }
    let in_related = |index: usize| {
        parent_of
            .get(index)
            .copied()
            .flatten()
            .and_then(|parent| message.parts.get(parent))
            .and_then(|parent| parent.content_type())
            .is_some_and(|content_type| {
                content_type.ctype().eq_ignore_ascii_case("multipart")
                    && content_type.subtype().is_some_and(|subtype| subtype.eq_ignore_ascii_case("related"))
            })
    };

    let mut attachments = Vec::new();
    for &id in &message.attachments {
        let index = id as usize;
        let Some(part) = message.parts.get(index) else { continue };
        let number = attachments.len() + 1;
        let declared_type = declared_type(part);
        let content = match &part.body {
            PartType::Text(text) | PartType::Html(text) => text.as_bytes().to_vec(),
            PartType::Binary(bytes) | PartType::InlineBinary(bytes) => bytes.to_vec(),
            PartType::Message(nested) => nested_message_bytes(raw, part, nested),
            PartType::Multipart(_) => continue,
        };
        let inline = match part.content_disposition().map(|disposition| disposition.ctype().to_ascii_lowercase()) {
            Some(disposition) => disposition == "inline",
            None => in_related(index) || matches!(part.body, PartType::InlineBinary(_)),
        };
        let content_id = part.content_id().and_then(bare_id);
        let filename = attachment_filename(part, &declared_type, number);
        attachments.push(MailAttachment { filename, declared_type, content, inline, content_id });
    }
    attachments
}

fn declared_type(part: &MessagePart<'_>) -> String {
    match part.content_type() {
        Some(content_type) => {
            let subtype = content_type.subtype().unwrap_or("octet-stream");
            format!("{}/{}", content_type.ctype().trim(), subtype.trim()).to_ascii_lowercase()
        }
        None => match part.body {
            PartType::Text(_) => "text/plain".to_owned(),
            PartType::Html(_) => "text/html".to_owned(),
            PartType::Message(_) => "message/rfc822".to_owned(),
            _ => "application/octet-stream".to_owned(),
        },
    }
}

/// A forwarded message's bytes as they were sent. An unencoded part is
/// cut from the input (`mail-parser` keeps the whole input as the nested
/// message's source); an encoded one was decoded into its own buffer.
fn nested_message_bytes(raw: &[u8], part: &MessagePart<'_>, nested: &Message<'_>) -> Vec<u8> {
    if part.encoding == Encoding::None
        && let Some(bytes) = raw.get(part.offset_body as usize..part.offset_end as usize)
        && !bytes.is_empty()
    {
        return bytes.to_vec();
    }
    nested.raw_message.to_vec()
}

fn attachment_filename(part: &MessagePart<'_>, declared_type: &str, number: usize) -> String {
    let is_message = matches!(part.body, PartType::Message(_)) || declared_type.starts_with("message/rfc822");
    let declared = part.attachment_name().map(sanitise_filename).filter(|name| !name.is_empty());
    if is_message {
        let named = declared.or_else(|| {
            part.message().and_then(|nested| nested.subject()).map(sanitise_filename).filter(|name| !name.is_empty())
        });
        return match named {
            Some(name) if name.to_ascii_lowercase().ends_with(".eml") => name,
            Some(name) => truncate_chars(&name, MAX_FILENAME_CHARS - 4) + ".eml",
            None => format!("attachment-{number}.eml"),
        };
    }
    declared.unwrap_or_else(|| format!("attachment-{number}.{}", extension_for(declared_type)))
}

/// A name safe to show and to store: the last path component, without
/// control characters or `<>:"|?*`, without leading or trailing dots and
/// blanks, not a Windows device name, at most [`MAX_FILENAME_CHARS`]
/// characters (the extension kept). Empty when nothing is left.
fn sanitise_filename(name: &str) -> String {
    let last_component = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let replaced: String = last_component
        .chars()
        .map(|character| {
            if character.is_control() || matches!(character, '<' | '>' | ':' | '"' | '|' | '?' | '*') {
                '_'
            } else {
                character
            }
        })
        .collect();
    let collapsed = collapse_whitespace(&replaced);
    let trimmed = collapsed.trim_matches(|character: char| character == '.' || character.is_whitespace());
    if trimmed.is_empty() || trimmed.chars().all(|character| character == '_') {
        return String::new();
    }
    let (stem, extension) = match trimmed.rsplit_once('.') {
        Some((stem, extension)) if !stem.is_empty() && extension.chars().count() <= 10 => (stem, Some(extension)),
        _ => (trimmed, None),
    };
    let stem_budget = MAX_FILENAME_CHARS - extension.map_or(0, |extension| extension.chars().count() + 1);
    let mut stem = truncate_chars(stem, stem_budget).trim_end().to_owned();
    let device = stem.split('.').next().unwrap_or_default().to_ascii_uppercase();
    let is_device = matches!(device.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((device.starts_with("COM") || device.starts_with("LPT"))
            && device.len() == 4
            && device.as_bytes()[3].is_ascii_digit());
    if is_device {
        stem.insert(0, '_');
    }
    match extension {
        Some(extension) => format!("{stem}.{extension}"),
        None => stem,
    }
}

fn truncate_chars(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

fn extension_for(media_type: &str) -> &'static str {
    match media_type {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "image/svg+xml" => "svg",
        "application/pdf" => "pdf",
        "application/zip" => "zip",
        "application/json" => "json",
        "text/plain" => "txt",
        "text/html" => "html",
        "text/csv" => "csv",
        "text/calendar" => "ics",
        "message/rfc822" | "message/global" => "eml",
        "message/delivery-status" | "message/global-delivery-status" => "txt",
        text if text.starts_with("text/") => "txt",
        _ => "bin",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_decoders_agree_with_well_formed_input() {
        assert_eq!(decode_base64_leniently(b"SGVs\r\nbG8s\nIHdvcmxkIQ=="), b"Hello, world!");
        assert_eq!(decode_base64_leniently(b"YQ==YWI=YWJj"), b"aababc");
        assert_eq!(decode_base64_leniently(b"Y!Q-=\n"), b"a");
        assert_eq!(
            decode_quoted_printable_leniently(b"caf=C3=A9 =\r\nau lait ==3D =ZZ"),
            "café au lait == =ZZ".as_bytes()
        );
    }

    #[test]
    fn filenames_are_made_safe() {
        assert_eq!(sanitise_filename("report.pdf"), "report.pdf");
        assert_eq!(sanitise_filename("../../etc/passwd"), "passwd");
        assert_eq!(sanitise_filename("C:\\Users\\bob\\invoice 12.pdf"), "invoice 12.pdf");
        assert_eq!(sanitise_filename("  ..hidden.  "), "hidden");
        assert_eq!(sanitise_filename("a\u{0}b<c>d?.txt"), "a_b_c_d_.txt");
        assert_eq!(sanitise_filename("CON.txt"), "_CON.txt");
        assert_eq!(sanitise_filename("com1"), "_com1");
        assert_eq!(sanitise_filename("console.log"), "console.log");
        assert_eq!(sanitise_filename("///"), "");
        assert_eq!(sanitise_filename("???"), "");
        let long = format!("{}.pdf", "x".repeat(400));
        let cut = sanitise_filename(&long);
        assert_eq!(cut.chars().count(), MAX_FILENAME_CHARS);
        assert!(cut.ends_with("x.pdf"));
        assert_eq!(sanitise_filename(&"ü".repeat(400)).chars().count(), MAX_FILENAME_CHARS);
    }

    #[test]
    fn forward_subjects_are_recognised() {
        for subject in ["Fwd: Export", "FW: Export", "WG: Export", "TR : Export", "RV: Export", "Doorst: Export"] {
            assert!(is_forward_subject(subject), "{subject}");
        }
        for subject in ["Re: Fwd: Export", "Export: broken", "Export"] {
            assert!(!is_forward_subject(subject), "{subject}");
        }
    }

    #[test]
    fn addresses_must_have_a_local_part_and_a_domain() {
        assert_eq!(clean_address(" <Bob@Customer.Example> ").as_deref(), Some("bob@customer.example"));
        assert_eq!(clean_address("MAILER-DAEMON"), None);
        assert_eq!(clean_address("@example.com"), None);
        assert_eq!(clean_address("a b@example.com"), None);
    }

    #[test]
    fn tidy_text_keeps_indentation_and_drops_blank_edges() {
        assert_eq!(tidy_text("\r\n\r\n  indented\r\nnext  \r\n\r\n"), "  indented\nnext");
    }
}
