//! Inbound support e-mail, parsed: what a raw RFC 5322 message says, in the
//! shape a ticket needs.
//!
//! [`parse`] takes the bytes a mail provider hands over and returns an
//! [`InboundMail`]:
//! - who sent it ([`InboundMail::from`], [`InboundMail::reply_to`]) and to
//!   which of our addresses ([`InboundMail::recipients`]: To, Cc,
//!   Delivered-To and X-Original-To, so a Bcc'd or forwarded copy still
//!   names the support address it reached);
//! - how it threads: Message-ID, In-Reply-To and References without their
//!   angle brackets, to be matched against the ids of the mails we sent;
//! - the subject, decoded (RFC 2047, any charset) and on one line;
//! - the text: [`InboundMail::body`] (`text/plain` preferred, else the HTML
//!   converted by [`html_to_text`]) and [`InboundMail::reply_text`], the
//!   sender's new words without the quoted history and signature
//!   ([`strip_reply`]): what becomes the ticket message;
//! - the attachments, byte for byte, inline images and forwarded messages
//!   included, with safe file names;
//! - whether it is [`Noise`]: an automatic reply, a bounce, list traffic,
//!   which must not open a ticket nor be answered (see [`noise`]).
//!
//! Parsing is pure: no network, bus or database. [`receive`] builds on it:
//! the company, threading against stored tickets, the attachment storage
//! and the ticket or message that results, for every way mail arrives.
//! [`imap`] is the stage that reads configured mailboxes over IMAP and
//! hands each message to [`receive`].
//!
//! MIME decoding is `mail-parser`'s. What is ours: choosing the body,
//! sanitising names, the noise rules, the HTML converter, the reply
//! stripper, and the limits on hostile input ([`MAX_MESSAGE_BYTES`],
//! [`MAX_MESSAGE_PARTS`], [`MAX_MIME_PARTS`]) that keep a parse linear in
//! its input and its recursion shallow.

pub mod imap;
pub mod noise;
mod parse;
mod receive;
pub mod text;

use time::OffsetDateTime;

pub use noise::{Noise, is_own_address};
pub use parse::{MAX_MESSAGE_BYTES, MAX_MESSAGE_PARTS, MAX_MIME_PARTS, parse};
pub(crate) use receive::receive_email;
pub use receive::{Destination, Outcome, Received, bare_address, receive};
pub use text::{html_to_text, strip_reply};

/// Why raw bytes could not be read as a mail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Larger than [`MAX_MESSAGE_BYTES`].
    #[error("the message is {size} bytes, more than the {limit} bytes accepted")]
    TooLarge { size: usize, limit: usize },
    /// No header section: not an RFC 5322 message.
    #[error("not an RFC 5322 message: it has no header fields")]
    NotAMessage,
    /// No From field. RFC 5322 requires one, and a mail without a sender
    /// cannot be answered or attributed.
    #[error("the message has no From header field")]
    NoFrom,
    /// MIME structure so damaged that the parser gave up on it.
    #[error("the message's MIME structure is damaged beyond reading")]
    Malformed,
    /// More MIME structure than any real mail has: a bomb, not a request.
    #[error("the message has more MIME structure than accepted: {0}")]
    TooComplex(&'static str),
}

/// One mailbox: an address and the display name given with it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mailbox {
    /// The address, trimmed and lowercased.
    pub email: String,
    /// The display name, decoded and on one line; `None` when absent or empty.
    pub name: Option<String>,
}

/// A file that came with the mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailAttachment {
    /// A safe file name: no directories, control or reserved characters, at
    /// most 150 characters, never empty (`attachment-2.pdf` when the mail
    /// names none; a forwarded message ends in `.eml`).
    pub filename: String,
    /// The declared media type, `type/subtype` lowercased, without
    /// parameters (`application/octet-stream` when none is declared).
    /// Declared by the sender: check the content before trusting it.
    pub declared_type: String,
    /// The decoded bytes. A `text/*` attachment is given in UTF-8, converted
    /// from its declared charset; a forwarded message as its raw RFC 5322
    /// bytes.
    pub content: Vec<u8>,
    /// Shown inside the body rather than offered as a download: an image of
    /// a `multipart/related` HTML body, or any part marked
    /// `Content-Disposition: inline`.
    pub inline: bool,
    /// The Content-ID without angle brackets, what `cid:` URLs in the HTML
    /// refer to.
    pub content_id: Option<String>,
}

/// A parsed inbound mail. See the module documentation for what each part
/// is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMail {
    /// The Message-ID, without angle brackets.
    pub message_id: Option<String>,
    /// The In-Reply-To ids, without angle brackets, in order.
    pub in_reply_to: Vec<String>,
    /// The References ids, without angle brackets, oldest first as written.
    pub references: Vec<String>,
    /// The first From mailbox; `None` when the field holds no address (a
    /// bounce's bare `MAILER-DAEMON`, an empty group).
    pub from: Option<Mailbox>,
    /// The first Reply-To mailbox, where answers should go if present.
    pub reply_to: Option<Mailbox>,
    /// Lowercased addresses from To, Cc, Delivered-To and X-Original-To, in
    /// that order, each once.
    pub recipients: Vec<String>,
    /// The subject, decoded, whitespace runs as one space; empty if none.
    pub subject: String,
    /// The Date field; `None` when absent or not a valid date.
    pub date: Option<OffsetDateTime>,
    /// The text: the `text/plain` body parts, else the HTML ones as text;
    /// line endings `\n`, no trailing blank lines.
    pub body: String,
    /// The sender's new text: `body` without quoted replies and signature
    /// ([`strip_reply`]); the forwarded message is kept in a forward.
    pub reply_text: String,
    /// Every attachment, inline images and forwarded messages included, in
    /// message order.
    pub attachments: Vec<MailAttachment>,
    /// Why the message is automatic, judged from its headers alone.
    pub noise: Option<Noise>,
    /// The sender asked not to be answered automatically
    /// (`X-Auto-Response-Suppress: All`, `OOF` or `AutoReply`): a ticket may
    /// be opened, but no acknowledgement sent.
    pub suppress_auto_reply: bool,
}

impl InboundMail {
    /// Why the message must not become a ticket, given the addresses we send
    /// from: mail from one of them is a loop ([`Noise::OwnAddress`], which
    /// wins over the header rules), else [`InboundMail::noise`].
    pub fn noise_given(&self, own_addresses: &[&str]) -> Option<Noise> {
        let from_us = self.from.as_ref().is_some_and(|from| is_own_address(&from.email, own_addresses));
        if from_us { Some(Noise::OwnAddress) } else { self.noise }
    }
}
