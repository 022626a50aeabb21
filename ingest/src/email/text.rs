//! Text out of mail bodies: HTML to plain text ([`html_to_text`]) and the
//! sender's own words out of a reply ([`strip_reply`]).
//!
//! Both work on untrusted input and are written to be linear in its length:
//! every scan either consumes what it looked at or ends the input, so a
//! document of ten thousand unclosed `<a` tags costs no more than its size.
//! Neither panics on malformed input.

use std::borrow::Cow;

/// Plain text from an HTML mail body.
///
/// What it does, and why:
/// - `<head>`, `<style>`, `<script>`, `<title>`, `<template>`, `<noscript>`
///   and Outlook's `<xml>` islands are dropped with their content, and so
///   are comments (Outlook's `<!--[if mso]>` blocks among them): none of it
///   is text the sender wrote.
/// - Block elements (`<p>`, `<div>`, headings, lists, table rows, …) end a
///   line; `<p>` and headings leave a blank line; `<br>` is a line break;
///   table cells are separated by a space.
/// - `<li>` starts a line with `- `.
/// - `<blockquote>` content is prefixed with `> ` per level, as a plain-text
///   client would quote it, so [`strip_reply`] recognises the quoted part of
///   an HTML-only reply (Gmail and Apple Mail quote in `<blockquote>`).
/// - `<a href>` keeps its text, followed by ` (URL)` when the URL says
///   something the text does not (not for `#…`, `cid:` or `javascript:`
///   links, nor when the text is the URL or the `mailto:` address).
/// - Named (HTML 4 set) and numeric entities are decoded; zero-width
///   characters and soft hyphens, which marketing templates pad with, are
///   dropped.
/// - Whitespace collapses as a browser collapses it, except inside `<pre>`;
///   lines lose trailing blanks and at most one blank line separates
///   paragraphs.
///
/// An unterminated tag, comment or raw-text element ends the document, as
/// in a browser.
pub fn html_to_text(html: &str) -> String {
    let bytes = html.as_bytes();
    let mut writer = TextWriter::default();
    let mut in_head = false;
    let mut anchor: Option<Anchor> = None;
    let mut position = 0;

    while position < bytes.len() {
        let text_end = find_byte(bytes, position, b'<').unwrap_or(bytes.len());
        if !in_head && text_end > position {
            writer.text(&decode_entities(&html[position..text_end]));
        }
        if text_end == bytes.len() {
            break;
        }
        position = text_end;
        let rest = &bytes[position..];

        if rest.starts_with(b"<!--") {
            position = find_subslice(bytes, position + 4, b"-->").map_or(bytes.len(), |end| end + 3);
            continue;
        }
        if rest.starts_with(b"<!") || rest.starts_with(b"<?") {
            // Doctype, CDATA, processing instructions: nothing to show.
            position = find_byte(bytes, position, b'>').map_or(bytes.len(), |end| end + 1);
            continue;
        }

        let tag = match read_tag(html, position) {
            TagRead::NotATag => {
                // "a < b": the `<` is text.
                if !in_head {
                    writer.text("<");
                }
                position += 1;
                continue;
            }
            TagRead::Unterminated => break,
            TagRead::Tag(tag) => tag,
        };
        position = tag.end;

        if !tag.closing && is_raw_text_element(&tag.name) {
            position = skip_raw_text(bytes, position, &tag.name);
            continue;
        }

        match (tag.name.as_str(), tag.closing) {
            ("head", false) => in_head = true,
            ("head", true) | ("body", false) => in_head = false,
            _ if in_head => {}
            ("br", _) => writer.line_break(),
            ("p" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6", _) => writer.paragraph_break(),
            ("blockquote", false) => {
                writer.paragraph_break();
                writer.quote_depth += 1;
            }
            ("blockquote", true) => {
                writer.paragraph_break();
                writer.quote_depth = writer.quote_depth.saturating_sub(1);
            }
            ("pre", false) => {
                writer.block_break();
                writer.pre_depth += 1;
            }
            ("pre", true) => {
                writer.block_break();
                writer.pre_depth = writer.pre_depth.saturating_sub(1);
            }
            ("li", false) => {
                writer.block_break();
                writer.literal("- ");
            }
            ("td" | "th", _) => writer.space(),
            ("a", false) => {
                if let Some(open) = anchor.take() {
                    writer.finish_link(open);
                }
                anchor = Some(Anchor { href: tag.href, text_start: writer.out.len() });
            }
            ("a", true) => {
                if let Some(open) = anchor.take() {
                    writer.finish_link(open);
                }
            }
            (name, _) if is_block_element(name) => writer.block_break(),
            _ => {}
        }
    }
    if let Some(open) = anchor.take() {
        writer.finish_link(open);
    }
    tidy_lines(&writer.out)
}

/// The sender's own text of a reply: the quoted message, the attribution
/// above it, the signature and a mobile client's footer removed.
///
/// Cut at the first of these, with everything after it:
/// - an attribution line: "On Mon, 7 Dec 2026 at 10:00, Ann <ann@example.com>
///   wrote:", also folded over up to three lines (Gmail wraps it), and the
///   German ("Am … schrieb …:"), French ("Le … a écrit :"), Spanish ("El …
///   escribió:"), Dutch ("Op … schreef …:"), Italian ("Il … ha scritto:") and
///   Portuguese ("Em … escreveu:") forms. It must contain a digit (a date or
///   a time), so "On Monday my manager wrote:" is left alone;
/// - an Outlook "-----Original Message-----" rule (and its German, French,
///   Spanish and Dutch forms);
/// - an Outlook header block: a "From:" line followed within six lines by a
///   "Sent:" or "Date:" line and a "Subject:" line (also localised, also
///   with `*bold*` labels), together with a `_____` rule right above it.
///
/// Before that cut, lines starting with `>` (quotes, also interleaved ones)
/// are removed, the signature is cut at a `-- ` (or `--`) line, and trailing
/// "Sent from my iPhone" / "Get Outlook for iOS" style lines are dropped.
///
/// A forwarded message is kept: a "---------- Forwarded message ---------"
/// (Gmail, and its translations), "-------- Forwarded Message --------"
/// (Thunderbird) or "Begin forwarded message:" (Apple Mail) line that comes
/// before any reply marker starts a part that is returned as it is, after
/// the forwarder's cleaned note.
///
/// If stripping would leave nothing, the whole text is kept: a mail that is
/// only a quote is not empty. Line endings become `\n`, lines lose trailing
/// blanks, and leading and trailing blank lines go.
pub fn strip_reply(text: &str) -> String {
    own_text(text, MessageKind::Reply)
}

/// Whether the text is a reply (quoted history is cut) or a forward (the
/// first header block starts the forwarded message, which is kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MessageKind {
    Reply,
    Forward,
}

/// [`strip_reply`], or for a forward (told by the caller, usually from the
/// subject) the forwarder's note cleaned and the forwarded message kept.
pub(crate) fn own_text(text: &str, kind: MessageKind) -> String {
    let normalised = normalise_newlines(text);
    let lines: Vec<&str> = normalised.split('\n').collect();

    let forward_at = lines.iter().position(|line| is_forward_marker(line));
    let header_at = (0..lines.len()).find(|&index| starts_reply_header(&lines, index));

    // `own_end`: where the sender's own part ends; `kept_from`: where a
    // forwarded part starts that is kept as it is.
    let (own_end, kept_from) = match kind {
        MessageKind::Reply => match (header_at, forward_at) {
            (Some(header), Some(forward)) if forward < header => (forward, Some(forward)),
            (Some(header), _) => (header, None),
            (None, Some(forward)) => (forward, Some(forward)),
            (None, None) => (lines.len(), None),
        },
        MessageKind::Forward => match header_at.into_iter().chain(forward_at).min() {
            Some(boundary) => (boundary, Some(boundary)),
            None => (lines.len(), None),
        },
    };

    let mut result = clean_own_part(&lines[..own_end]);
    if let Some(start) = kept_from {
        let forwarded = tidy_block(&lines[start..]);
        if !forwarded.is_empty() {
            if !result.is_empty() {
                result.push_str("\n\n");
            }
            result.push_str(&forwarded);
        }
    }
    if result.is_empty() {
        return tidy_block(&lines);
    }
    result
}

/// Runs of whitespace (folding included) as one space, control characters
/// dropped, trimmed: for subjects and display names.
pub(crate) fn collapse_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split(|character: char| character.is_whitespace() || character.is_control()) {
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// `\r\n` and lone `\r` as `\n`.
pub(crate) fn normalise_newlines(text: &str) -> Cow<'_, str> {
    if !text.contains('\r') {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
}

// ---------------------------------------------------------------------------
// HTML

/// The most `> ` a line gets, however deep the `<blockquote>`s nest.
const MAX_QUOTE_PREFIXES: usize = 8;

/// The output of [`html_to_text`] as it is written: pending line breaks and
/// spaces are only written when text follows, so markup never leaves runs
/// of blank lines or leading blanks.
#[derive(Default)]
struct TextWriter {
    out: String,
    /// Line breaks owed before the next character (at most 2: one blank line).
    pending_newlines: usize,
    pending_space: bool,
    /// The current line still needs its `> ` prefixes.
    needs_prefix: bool,
    quote_depth: usize,
    pre_depth: usize,
}

impl TextWriter {
    fn text(&mut self, text: &str) {
        for character in text.chars() {
            if is_invisible(character) {
                continue;
            }
            if self.pre_depth > 0 {
                match character {
                    '\n' => self.pending_newlines = (self.pending_newlines + 1).min(2),
                    '\r' => {}
                    _ => self.put(character),
                }
            } else if character.is_whitespace() {
                self.pending_space = true;
            } else {
                self.put(character);
            }
        }
    }

    /// Text written as it is (with pending breaks), such as a list bullet.
    fn literal(&mut self, text: &str) {
        for character in text.chars() {
            self.put(character);
        }
    }

    fn put(&mut self, character: char) {
        if self.pending_newlines > 0 {
            if !self.out.is_empty() {
                // Blank lines carry no `>`: a quote's paragraphs stay quoted
                // line by line, which is all `strip_reply` needs.
                for _ in 0..self.pending_newlines {
                    self.out.push('\n');
                }
            }
            self.needs_prefix = true;
            self.pending_newlines = 0;
            self.pending_space = false;
        }
        if self.out.is_empty() {
            self.needs_prefix = true;
            self.pending_space = false;
        }
        if self.needs_prefix {
            self.push_prefix();
            self.needs_prefix = false;
            self.pending_space = false;
        } else if self.pending_space {
            if !self.out.ends_with(' ') {
                self.out.push(' ');
            }
            self.pending_space = false;
        }
        self.out.push(character);
    }

    fn push_prefix(&mut self) {
        // Deeper quotes are still quoted; more prefixes would make the output
        // grow with the square of the input on nested `<blockquote>`s.
        for _ in 0..self.quote_depth.min(MAX_QUOTE_PREFIXES) {
            self.out.push_str("> ");
        }
    }

    fn space(&mut self) {
        self.pending_space = true;
    }

    fn line_break(&mut self) {
        self.pending_newlines = (self.pending_newlines + 1).min(2);
    }

    fn block_break(&mut self) {
        self.pending_newlines = self.pending_newlines.max(1);
    }

    fn paragraph_break(&mut self) {
        self.pending_newlines = 2;
    }

    /// Appends ` (URL)` after a link's text when the URL adds something.
    fn finish_link(&mut self, anchor: Anchor) {
        let Some(href) = anchor.href else { return };
        let link_text = self.out.get(anchor.text_start..).unwrap_or_default().trim();
        if link_text.is_empty() || !link_adds_information(link_text, &href) {
            return;
        }
        self.pending_space = true;
        self.literal("(");
        self.literal(&href);
        self.literal(")");
    }
}

struct Anchor {
    href: Option<String>,
    text_start: usize,
}

/// Zero-width characters and soft hyphens: invisible in a browser, noise in
/// text (newsletters pad their preheader with `&zwnj;&nbsp;` runs).
fn is_invisible(character: char) -> bool {
    matches!(character, '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}' | '\u{034F}')
}

fn link_adds_information(text: &str, href: &str) -> bool {
    let href = href.trim();
    let lower = href.to_ascii_lowercase();
    if href.is_empty()
        || href.starts_with('#')
        || lower.starts_with("javascript:")
        || lower.starts_with("cid:")
        || lower.starts_with("data:")
    {
        return false;
    }
    let bare = |value: &str| -> String {
        let value = value.trim().to_lowercase();
        let value = ["mailto:", "tel:", "https://", "http://"]
            .iter()
            .find_map(|scheme| value.strip_prefix(scheme).map(str::to_owned))
            .unwrap_or(value);
        let value = value.strip_prefix("www.").map(str::to_owned).unwrap_or(value);
        value.trim_end_matches('/').to_owned()
    };
    bare(text) != bare(href)
}

fn is_raw_text_element(name: &str) -> bool {
    matches!(name, "script" | "style" | "title" | "template" | "noscript" | "xml" | "textarea")
}

fn is_block_element(name: &str) -> bool {
    matches!(
        name,
        "div"
            | "ul"
            | "ol"
            | "dl"
            | "dt"
            | "dd"
            | "li"
            | "tr"
            | "table"
            | "thead"
            | "tbody"
            | "tfoot"
            | "caption"
            | "section"
            | "article"
            | "header"
            | "footer"
            | "nav"
            | "aside"
            | "main"
            | "address"
            | "figure"
            | "figcaption"
            | "center"
            | "form"
            | "fieldset"
            | "hr"
            | "body"
            | "html"
    )
}

struct Tag {
    /// Lowercased.
    name: String,
    closing: bool,
    /// The decoded `href` of an `<a>`.
    href: Option<String>,
    /// The byte after the closing `>`.
    end: usize,
}

enum TagRead {
    /// A `<` that starts no tag ("a < b", "<3").
    NotATag,
    /// A tag (or a quoted attribute value) that runs to the end of input.
    Unterminated,
    Tag(Tag),
}

/// Reads the tag starting at `start` (a `<`).
fn read_tag(html: &str, start: usize) -> TagRead {
    let bytes = html.as_bytes();
    let mut position = start + 1;
    let closing = bytes.get(position) == Some(&b'/');
    if closing {
        position += 1;
    }
    let name_start = position;
    while bytes.get(position).is_some_and(|byte| byte.is_ascii_alphanumeric()) {
        position += 1;
    }
    if position == name_start || !bytes[name_start].is_ascii_alphabetic() {
        return TagRead::NotATag;
    }
    let name = html[name_start..position].to_ascii_lowercase();
    let wants_href = name == "a" && !closing;
    let mut href = None;

    loop {
        while bytes.get(position).is_some_and(|byte| byte.is_ascii_whitespace() || *byte == b'/') {
            position += 1;
        }
        match bytes.get(position) {
            None => return TagRead::Unterminated,
            Some(b'>') => {
                return TagRead::Tag(Tag { name, closing, href, end: position + 1 });
            }
            Some(_) => {}
        }
        let attribute_start = position;
        while bytes.get(position).is_some_and(|byte| !byte.is_ascii_whitespace() && !matches!(byte, b'=' | b'>' | b'/'))
        {
            position += 1;
        }
        let attribute_name = &html[attribute_start..position];
        while bytes.get(position).is_some_and(u8::is_ascii_whitespace) {
            position += 1;
        }
        if bytes.get(position) != Some(&b'=') {
            if position == attribute_start {
                // A lone `=` or similar: step over it.
                position += 1;
            }
            continue;
        }
        position += 1;
        while bytes.get(position).is_some_and(u8::is_ascii_whitespace) {
            position += 1;
        }
        let value = match bytes.get(position) {
            None => return TagRead::Unterminated,
            Some(&quote @ (b'"' | b'\'')) => {
                let Some(close) = find_byte(bytes, position + 1, quote) else {
                    return TagRead::Unterminated;
                };
                let value = &html[position + 1..close];
                position = close + 1;
                value
            }
            Some(_) => {
                let value_start = position;
                while bytes.get(position).is_some_and(|byte| !byte.is_ascii_whitespace() && *byte != b'>') {
                    position += 1;
                }
                &html[value_start..position]
            }
        };
        if wants_href && href.is_none() && attribute_name.eq_ignore_ascii_case("href") {
            href = Some(decode_entities(value).trim().to_owned());
        }
    }
}

/// The position after the `</name …>` that ends a raw-text element, or the
/// end of input.
fn skip_raw_text(bytes: &[u8], from: usize, name: &str) -> usize {
    let mut closing = Vec::with_capacity(name.len() + 2);
    closing.extend_from_slice(b"</");
    closing.extend_from_slice(name.as_bytes());
    let mut search_from = from;
    while let Some(found) = find_subslice_ignore_case(bytes, search_from, &closing) {
        let after_name = found + closing.len();
        // `</styles>` is not `</style>`.
        match bytes.get(after_name) {
            Some(byte) if byte.is_ascii_alphanumeric() => search_from = after_name,
            _ => return find_byte(bytes, after_name, b'>').map_or(bytes.len(), |end| end + 1),
        }
    }
    bytes.len()
}

fn find_byte(bytes: &[u8], from: usize, needle: u8) -> Option<usize> {
    bytes.get(from..)?.iter().position(|&byte| byte == needle).map(|offset| from + offset)
}

fn find_subslice(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes.get(from..)?.windows(needle.len()).position(|window| window == needle).map(|offset| from + offset)
}

/// `needle` must be lowercase ASCII.
fn find_subslice_ignore_case(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|window| window.eq_ignore_ascii_case(needle))
        .map(|offset| from + offset)
}

/// Lines without trailing blanks, at most one blank line in a row, no blank
/// lines at either end.
fn tidy_lines(text: &str) -> String {
    let lines: Vec<&str> = text.split('\n').collect();
    tidy_block(&lines)
}

fn tidy_block(lines: &[&str]) -> String {
    let mut out = String::new();
    let mut blank_run = false;
    for line in lines {
        let line = line.trim_end();
        if line.is_empty() {
            blank_run = !out.is_empty();
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
            if blank_run {
                out.push('\n');
            }
        }
        blank_run = false;
        out.push_str(line);
    }
    out
}

// ---------------------------------------------------------------------------
// Entities

/// The HTML 4 Latin-1 entities, in code point order from U+00A0.
const LATIN1_ENTITIES: [&str; 96] = [
    "nbsp", "iexcl", "cent", "pound", "curren", "yen", "brvbar", "sect", "uml", "copy", "ordf", "laquo", "not", "shy",
    "reg", "macr", "deg", "plusmn", "sup2", "sup3", "acute", "micro", "para", "middot", "cedil", "sup1", "ordm",
    "raquo", "frac14", "frac12", "frac34", "iquest", "Agrave", "Aacute", "Acirc", "Atilde", "Auml", "Aring", "AElig",
    "Ccedil", "Egrave", "Eacute", "Ecirc", "Euml", "Igrave", "Iacute", "Icirc", "Iuml", "ETH", "Ntilde", "Ograve",
    "Oacute", "Ocirc", "Otilde", "Ouml", "times", "Oslash", "Ugrave", "Uacute", "Ucirc", "Uuml", "Yacute", "THORN",
    "szlig", "agrave", "aacute", "acirc", "atilde", "auml", "aring", "aelig", "ccedil", "egrave", "eacute", "ecirc",
    "euml", "igrave", "iacute", "icirc", "iuml", "eth", "ntilde", "ograve", "oacute", "ocirc", "otilde", "ouml",
    "divide", "oslash", "ugrave", "uacute", "ucirc", "uuml", "yacute", "thorn", "yuml",
];

/// Other named entities seen in mail.
const OTHER_ENTITIES: &[(&str, char)] = &[
    ("amp", '&'),
    ("lt", '<'),
    ("gt", '>'),
    ("quot", '"'),
    ("apos", '\''),
    ("OElig", '\u{152}'),
    ("oelig", '\u{153}'),
    ("Scaron", '\u{160}'),
    ("scaron", '\u{161}'),
    ("Yuml", '\u{178}'),
    ("fnof", '\u{192}'),
    ("circ", '\u{2C6}'),
    ("tilde", '\u{2DC}'),
    ("ensp", '\u{2002}'),
    ("emsp", '\u{2003}'),
    ("thinsp", '\u{2009}'),
    ("zwnj", '\u{200C}'),
    ("zwj", '\u{200D}'),
    ("lrm", '\u{200E}'),
    ("rlm", '\u{200F}'),
    ("ndash", '\u{2013}'),
    ("mdash", '\u{2014}'),
    ("lsquo", '\u{2018}'),
    ("rsquo", '\u{2019}'),
    ("sbquo", '\u{201A}'),
    ("ldquo", '\u{201C}'),
    ("rdquo", '\u{201D}'),
    ("bdquo", '\u{201E}'),
    ("dagger", '\u{2020}'),
    ("Dagger", '\u{2021}'),
    ("bull", '\u{2022}'),
    ("hellip", '\u{2026}'),
    ("permil", '\u{2030}'),
    ("prime", '\u{2032}'),
    ("lsaquo", '\u{2039}'),
    ("rsaquo", '\u{203A}'),
    ("euro", '\u{20AC}'),
    ("trade", '\u{2122}'),
    ("larr", '\u{2190}'),
    ("uarr", '\u{2191}'),
    ("rarr", '\u{2192}'),
    ("darr", '\u{2193}'),
    ("harr", '\u{2194}'),
    ("minus", '\u{2212}'),
    ("le", '\u{2264}'),
    ("ge", '\u{2265}'),
    ("ne", '\u{2260}'),
];

/// Decodes `&name;`, `&#123;` and `&#x7B;`. An unknown or malformed
/// reference stays as written.
pub(crate) fn decode_entities(text: &str) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(ampersand) = rest.find('&') {
        out.push_str(&rest[..ampersand]);
        let after = &rest[ampersand + 1..];
        match read_entity(after) {
            Some((character, consumed)) => {
                out.push(character);
                rest = &after[consumed..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The character of the reference at the start of `text` (just after the
/// `&`) and the bytes it used.
fn read_entity(text: &str) -> Option<(char, usize)> {
    let bytes = text.as_bytes();
    if bytes.first() == Some(&b'#') {
        let (radix, digits_start) = match bytes.get(1) {
            Some(b'x' | b'X') => (16, 2),
            _ => (10, 1),
        };
        let digits_end = digits_start
            + bytes[digits_start.min(bytes.len())..].iter().take_while(|byte| byte.is_ascii_hexdigit()).count();
        let digits = text.get(digits_start..digits_end)?;
        if digits.is_empty() || (radix == 10 && !digits.bytes().all(|byte| byte.is_ascii_digit())) {
            return None;
        }
        // Longer than any code point: decode as U+FFFD rather than overflow.
        let value = if digits.len() > 8 { u32::MAX } else { u32::from_str_radix(digits, radix).ok()? };
        let consumed = digits_end + usize::from(bytes.get(digits_end) == Some(&b';'));
        return Some((numeric_character(value), consumed));
    }
    let name_length = bytes.iter().take(32).take_while(|byte| byte.is_ascii_alphanumeric()).count();
    if name_length == 0 || bytes.get(name_length) != Some(&b';') {
        return None;
    }
    let name = &text[..name_length];
    let character = LATIN1_ENTITIES
        .iter()
        .position(|candidate| *candidate == name)
        .and_then(|index| u32::try_from(index).ok())
        .and_then(|index| char::from_u32(0xA0 + index))
        .or_else(|| OTHER_ENTITIES.iter().find(|(candidate, _)| *candidate == name).map(|(_, character)| *character))?;
    Some((character, name_length + 1))
}

/// A numeric reference's character as HTML reads it: the C1 range as
/// Windows-1252 (what `&#146;` means in practice), invalid values as U+FFFD.
fn numeric_character(value: u32) -> char {
    let windows_1252 = match value {
        0x80 => Some('\u{20AC}'),
        0x82 => Some('\u{201A}'),
        0x84 => Some('\u{201E}'),
        0x85 => Some('\u{2026}'),
        0x8A => Some('\u{160}'),
        0x8C => Some('\u{152}'),
        0x91 => Some('\u{2018}'),
        0x92 => Some('\u{2019}'),
        0x93 => Some('\u{201C}'),
        0x94 => Some('\u{201D}'),
        0x95 => Some('\u{2022}'),
        0x96 => Some('\u{2013}'),
        0x97 => Some('\u{2014}'),
        0x99 => Some('\u{2122}'),
        0x9A => Some('\u{161}'),
        0x9C => Some('\u{153}'),
        _ => None,
    };
    if let Some(character) = windows_1252 {
        return character;
    }
    match value {
        0 | 0x80..=0x9F => char::REPLACEMENT_CHARACTER,
        _ => char::from_u32(value).unwrap_or(char::REPLACEMENT_CHARACTER),
    }
}

// ---------------------------------------------------------------------------
// Replies

/// The sender's part: signature cut, quoted lines removed, mobile footers
/// dropped, tidied.
fn clean_own_part(lines: &[&str]) -> String {
    let signature_at = lines.iter().position(|line| line.trim_end() == "--");
    let before_signature = &lines[..signature_at.unwrap_or(lines.len())];
    let mut kept: Vec<&str> =
        before_signature.iter().copied().filter(|line| !line.trim_start().starts_with('>')).collect();
    loop {
        while kept.last().is_some_and(|line| line.trim().is_empty()) {
            kept.pop();
        }
        match kept.last() {
            Some(line) if is_mobile_footer(line) => {
                kept.pop();
            }
            _ => break,
        }
    }
    tidy_block(&kept)
}

fn is_mobile_footer(line: &str) -> bool {
    const FOOTERS: &[&str] = &[
        "sent from my ",
        "sent from mail for windows",
        "sent from outlook",
        "sent from yahoo mail",
        "get outlook for ",
        "von meinem iphone gesendet",
        "von meinem ipad gesendet",
        "von meinem smartphone gesendet",
        "gesendet von meinem ",
        "envoyé de mon ",
        "envoyé depuis mon ",
        "enviado desde mi ",
        "verzonden vanaf mijn ",
        "verstuurd vanaf mijn ",
        "inviato da ",
        "enviado do meu ",
    ];
    let line = line.trim().to_lowercase();
    line.chars().count() <= 80 && FOOTERS.iter().any(|footer| line.starts_with(footer))
}

/// "---------- Forwarded message ---------" and its kin.
fn is_forward_marker(line: &str) -> bool {
    let lower = line.trim().to_lowercase();
    if lower == "begin forwarded message:" || lower == "anfang der weitergeleiteten nachricht:" {
        return true;
    }
    if !lower.starts_with("---") {
        return false;
    }
    let label = lower.trim_matches(|character: char| character == '-' || character.is_whitespace());
    matches!(
        label,
        "forwarded message"
            | "weitergeleitete nachricht"
            | "message transféré"
            | "mensaje reenviado"
            | "doorgestuurd bericht"
            | "messaggio inoltrato"
            | "mensagem encaminhada"
    )
}

/// Whether the quoted history of a reply starts at `lines[index]`.
fn starts_reply_header(lines: &[&str], index: usize) -> bool {
    let line = lines[index];
    if is_original_message_rule(line) || is_attribution(lines, index) || is_outlook_header_block(lines, index) {
        return true;
    }
    // A `____` rule whose header block follows (blank lines allowed).
    if is_underscore_rule(line) {
        let next = (index + 1..lines.len().min(index + 4)).find(|&next| !lines[next].trim().is_empty());
        return next.is_some_and(|next| is_outlook_header_block(lines, next));
    }
    false
}

fn is_underscore_rule(line: &str) -> bool {
    let trimmed = line.trim();
    trimmed.len() >= 10 && trimmed.bytes().all(|byte| byte == b'_')
}

fn is_original_message_rule(line: &str) -> bool {
    let lower = line.trim().to_lowercase();
    if !lower.starts_with("-----") {
        return false;
    }
    let label = lower.trim_matches(|character: char| character == '-' || character.is_whitespace());
    matches!(
        label,
        "original message"
            | "ursprüngliche nachricht"
            | "message d'origine"
            | "mensaje original"
            | "oorspronkelijk bericht"
            | "messaggio originale"
            | "mensagem original"
    )
}

/// An attribution line ("On …, Ann <ann@example.com> wrote:") at `index`,
/// on one line or folded over up to three.
fn is_attribution(lines: &[&str], index: usize) -> bool {
    const MAX_ATTRIBUTION_CHARS: usize = 300;
    let first = lines[index].trim();
    if first.is_empty() || first.starts_with('>') {
        return false;
    }
    let first_lower = first.to_lowercase();
    if !ATTRIBUTIONS.iter().any(|pattern| first_lower.starts_with(pattern.starts)) {
        return false;
    }
    let mut joined = String::new();
    for line in lines.iter().skip(index).take(3) {
        let line = line.trim();
        if line.is_empty() {
            return false;
        }
        if !joined.is_empty() {
            joined.push(' ');
        }
        joined.push_str(line);
        if joined.chars().count() > MAX_ATTRIBUTION_CHARS {
            return false;
        }
        if matches_attribution(&joined) {
            return true;
        }
    }
    false
}

struct AttributionPattern {
    starts: &'static str,
    contains: &'static str,
    ends: &'static [&'static str],
}

const ATTRIBUTIONS: &[AttributionPattern] = &[
    AttributionPattern { starts: "on ", contains: "", ends: &["wrote:"] },
    AttributionPattern { starts: "am ", contains: " schrieb ", ends: &[":"] },
    AttributionPattern { starts: "le ", contains: "", ends: &["a écrit :", "a écrit:"] },
    AttributionPattern { starts: "el ", contains: "", ends: &["escribió:", "escribió :"] },
    AttributionPattern { starts: "op ", contains: " schreef ", ends: &[":"] },
    AttributionPattern { starts: "il ", contains: "", ends: &["ha scritto:"] },
    AttributionPattern { starts: "em ", contains: "", ends: &["escreveu:"] },
];

fn matches_attribution(joined: &str) -> bool {
    // French puts a no-break space before the colon.
    let lower = joined.to_lowercase().replace('\u{a0}', " ");
    if !lower.chars().any(|character| character.is_ascii_digit()) {
        return false;
    }
    ATTRIBUTIONS.iter().any(|pattern| {
        lower.starts_with(pattern.starts)
            && (pattern.contains.is_empty() || lower.contains(pattern.contains))
            && pattern.ends.iter().any(|end| lower.ends_with(end))
    })
}

const FROM_LABELS: &[&str] = &["from:", "von:", "de:", "de :", "van:", "da:"];
const SENT_LABELS: &[&str] = &[
    "sent:",
    "date:",
    "gesendet:",
    "datum:",
    "envoyé :",
    "envoyé:",
    "date :",
    "enviado el:",
    "enviado:",
    "fecha:",
    "verzonden:",
    "inviato:",
    "data:",
];
const SUBJECT_LABELS: &[&str] =
    &["subject:", "betreff:", "objet :", "objet:", "asunto:", "onderwerp:", "oggetto:", "assunto:"];

/// Outlook's quoted header: "From: …" and within the next six lines
/// "Sent: …" (or "Date: …") and "Subject: …".
fn is_outlook_header_block(lines: &[&str], index: usize) -> bool {
    if !has_label(lines[index], FROM_LABELS) {
        return false;
    }
    let following = lines.iter().skip(index + 1).take(6);
    let mut has_sent = false;
    let mut has_subject = false;
    for line in following {
        has_sent |= has_label(line, SENT_LABELS);
        has_subject |= has_label(line, SUBJECT_LABELS);
    }
    has_sent && has_subject
}

/// Whether the line starts with one of the labels (ignoring case and
/// Outlook's `*bold*` markers).
fn has_label(line: &str, labels: &[&str]) -> bool {
    let cleaned = line.trim_start().trim_start_matches('*').replace('*', "").replace('\u{a0}', " ").to_lowercase();
    labels.iter().any(|label| cleaned.starts_with(label))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_drops_head_style_script_and_comments() {
        let html = "<html><head><title>Ignored</title><style>p { color: red }</style></head>\
                    <body><!-- hidden --><script>alert(1)</script><p>Hello</p></body></html>";
        assert_eq!(html_to_text(html), "Hello");
    }

    #[test]
    fn html_blocks_breaks_and_lists_become_lines() {
        let html = "<div>First line<br>second line</div><p>Paragraph</p><ul><li>one</li><li>two</li></ul>";
        assert_eq!(html_to_text(html), "First line\nsecond line\n\nParagraph\n\n- one\n- two");
    }

    #[test]
    fn html_links_keep_their_text_and_a_different_url() {
        let html = r#"See <a href="https://acme.example/status?a=1&amp;b=2">our status page</a> or
                      <a href="https://acme.example">acme.example</a>, mail <a href="mailto:help@acme.example">help@acme.example</a>"#;
        assert_eq!(
            html_to_text(html),
            "See our status page (https://acme.example/status?a=1&b=2) or acme.example, mail help@acme.example"
        );
    }

    #[test]
    fn html_decodes_named_and_numeric_entities() {
        assert_eq!(
            html_to_text("Gr&uuml;&szlig;e &amp; &#8364;5 &#x263A; &hellip; &#146;s &bogus; AT&T"),
            "Grüße & €5 ☺ … ’s &bogus; AT&T"
        );
    }

    #[test]
    fn html_collapses_whitespace_but_keeps_pre() {
        let html = "<p>  lots   of\n\n   space&nbsp;&nbsp;here </p><pre>  keep\n    this</pre>";
        assert_eq!(html_to_text(html), "lots of space here\n\n  keep\n    this");
    }

    #[test]
    fn html_blockquote_is_quoted_with_prefixes() {
        let html = "<div>My answer</div><div>On Mon, 7 Dec 2026 at 10:00, Ann wrote:<br></div>\
                    <blockquote class=\"gmail_quote\"><div>Question?</div><p>More</p></blockquote>";
        assert_eq!(html_to_text(html), "My answer\nOn Mon, 7 Dec 2026 at 10:00, Ann wrote:\n\n> Question?\n\n> More");
    }

    #[test]
    fn html_survives_malformed_markup() {
        assert_eq!(html_to_text("a < b and c > d"), "a < b and c > d");
        assert_eq!(html_to_text("before <b>bold"), "before bold");
        assert_eq!(html_to_text("before <a href=\"never closed"), "before");
        assert_eq!(html_to_text("x <!-- never closed"), "x");
        assert_eq!(html_to_text("<style>never closed"), "");
        assert_eq!(html_to_text("<p>unclosed <div>nested</p></div></span>"), "unclosed\nnested");
        assert_eq!(html_to_text("&#99999999999; &#xD800; &#0;"), "\u{FFFD} \u{FFFD} \u{FFFD}");
        assert_eq!(html_to_text("</styles>ok<style>x</styles>y</style>z"), "okz");
    }

    #[test]
    fn html_is_linear_on_adversarial_input() {
        // Each of these would be quadratic if every `<` rescanned the rest.
        let many_open_tags = "<a".repeat(200_000);
        assert_eq!(html_to_text(&many_open_tags), "");
        let many_lt = "< ".repeat(200_000);
        assert!(html_to_text(&many_lt).starts_with("< <"));
        let many_entities = "&".repeat(200_000);
        assert_eq!(html_to_text(&many_entities).len(), 200_000);
    }

    #[test]
    fn reply_drops_gmail_attribution_and_quote() {
        let text = "Thanks, that fixed it.\r\n\r\nOn Mon, 7 Dec 2026 at 10:00, Ann Example <ann@acme.example> wrote:\r\n\r\n> Did you try restarting?\r\n> \r\n";
        assert_eq!(strip_reply(text), "Thanks, that fixed it.");
    }

    #[test]
    fn reply_drops_attribution_folded_over_two_lines() {
        let text = "Still broken.\n\nOn Mon, 7 Dec 2026 at 10:00, Switchboard Support <support@acme.example>\nwrote:\n> Please try again.";
        assert_eq!(strip_reply(text), "Still broken.");
    }

    #[test]
    fn reply_drops_non_english_attributions() {
        for attribution in [
            "Am 07.12.2026 um 10:00 schrieb Ann Example <ann@acme.example>:",
            "Le lun. 7 déc. 2026 à 10:00, Ann Example <ann@acme.example> a écrit :",
            "Le 7 déc. 2026 à 10:00, Ann Example a\u{a0}écrit\u{a0}:",
            "El lun, 7 dic 2026 a las 10:00, Ann Example (<ann@acme.example>) escribió:",
            "Op ma 7 dec. 2026 om 10:00 schreef Ann Example <ann@acme.example>:",
        ] {
            let text = format!("Danke!\n\n{attribution}\n> Frage\n");
            assert_eq!(strip_reply(&text), "Danke!", "attribution: {attribution}");
        }
    }

    #[test]
    fn reply_keeps_a_sentence_that_only_looks_like_an_attribution() {
        let text = "On Monday my manager wrote:\nthe export is empty.";
        assert_eq!(strip_reply(text), text);
    }

    #[test]
    fn reply_drops_outlook_original_message_and_header_block() {
        let original =
            "Works now.\n\n-----Original Message-----\nFrom: Support\nSent: Monday\nTo: me\nSubject: Re: x\n\nOld text";
        assert_eq!(strip_reply(original), "Works now.");

        let rule = "Works now.\n\n________________________________\nFrom: Support <support@acme.example>\nSent: Monday, December 7, 2026 10:00 AM\nTo: Bob <bob@customer.example>\nSubject: RE: Export\n\nOld text";
        assert_eq!(strip_reply(rule), "Works now.");

        let bold = "Danke.\n\n*Von:* Support <support@acme.example>\n*Gesendet:* Montag, 7. Dezember 2026 10:00\n*An:* Bob\n*Betreff:* AW: Export\n\nAlt";
        assert_eq!(strip_reply(bold), "Danke.");
    }

    #[test]
    fn reply_keeps_a_from_line_that_is_not_a_header_block() {
        let text = "From: my side everything looks fine.\nSent: nothing yet.";
        assert_eq!(strip_reply(text), text);
    }

    #[test]
    fn reply_drops_signature_and_mobile_footer() {
        assert_eq!(strip_reply("Help please.\n-- \nBob Builder\nACME Ltd"), "Help please.");
        assert_eq!(strip_reply("Help please.\n\nSent from my iPhone"), "Help please.");
        assert_eq!(strip_reply("Help please.\n\nGet Outlook for iOS<https://aka.ms/o0ukef>\n"), "Help please.");
        assert_eq!(
            strip_reply("Hilfe.\n\nVon meinem iPhone gesendet\n\nAm 7.12.2026 um 10:00 schrieb A:\n> x"),
            "Hilfe."
        );
    }

    #[test]
    fn reply_removes_interleaved_quotes() {
        let text = "> Which browser?\nFirefox 140.\n> Which version of the app?\n\n3.2.1\n";
        assert_eq!(strip_reply(text), "Firefox 140.\n\n3.2.1");
    }

    #[test]
    fn reply_that_is_only_a_quote_is_kept() {
        let text = "> Did you try restarting?\n> Yes\n";
        assert_eq!(strip_reply(text), "> Did you try restarting?\n> Yes");
        assert_eq!(strip_reply("-- \nBob"), "--\nBob");
    }

    #[test]
    fn reply_keeps_an_inline_forward_but_not_the_forwarders_signature() {
        let text = "Can you look at this?\n-- \nBob\n\n---------- Forwarded message ---------\nFrom: Carol <carol@customer.example>\nDate: Mon, 7 Dec 2026 at 09:00\nSubject: Export broken\nTo: Bob <bob@customer.example>\n\nThe export is empty.\n> quoted in the forward\n";
        assert_eq!(
            strip_reply(text),
            "Can you look at this?\n\n---------- Forwarded message ---------\nFrom: Carol <carol@customer.example>\nDate: Mon, 7 Dec 2026 at 09:00\nSubject: Export broken\nTo: Bob <bob@customer.example>\n\nThe export is empty.\n> quoted in the forward"
        );
    }

    #[test]
    fn forward_keeps_an_outlook_header_block() {
        let text = "FYI\n\n________________________________\nFrom: Carol\nSent: Monday\nTo: Bob\nSubject: Export\n\nThe export is empty.";
        assert_eq!(
            own_text(text, MessageKind::Forward),
            "FYI\n\n________________________________\nFrom: Carol\nSent: Monday\nTo: Bob\nSubject: Export\n\nThe export is empty."
        );
        assert_eq!(own_text(text, MessageKind::Reply), "FYI");
    }

    #[test]
    fn collapse_whitespace_unfolds_and_trims() {
        assert_eq!(collapse_whitespace("  Re:\r\n\tExport \u{0} broken  "), "Re: Export broken");
    }
}
