//! Hostile and broken input: `parse`, `html_to_text` and `strip_reply`
//! never panic, never overflow the stack, and refuse what no real mail is.

use proptest::prelude::*;
use switchboard_ingest::email::{MAX_MESSAGE_BYTES, MAX_MESSAGE_PARTS, ParseError, html_to_text, parse, strip_reply};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/email");

fn fixtures() -> Vec<Vec<u8>> {
    let mut paths: Vec<_> = std::fs::read_dir(FIXTURES)
        .expect("fixture directory")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "eml"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 16, "fixtures missing: {paths:?}");
    paths.iter().map(|path| std::fs::read(path).expect("readable fixture")).collect()
}

/// Runs `work` on a thread with the 2 MiB stack of a Tokio worker, where a
/// deep recursion would abort the process.
fn on_small_stack<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(work)
        .expect("thread starts")
        .join()
        .expect("no panic")
}

/// `depth` messages, each the only part of the one around it.
fn nested_forwards(depth: usize) -> Vec<u8> {
    let mut raw = Vec::new();
    for level in 0..depth {
        raw.extend_from_slice(
            format!(
                "From: level{level}@customer.example\nContent-Type: multipart/mixed; boundary=b{level}\n\n\
                 --b{level}\nContent-Type: message/rfc822\n\n"
            )
            .as_bytes(),
        );
    }
    raw.extend_from_slice(b"From: innermost@customer.example\n\nhello\n");
    raw
}

/// `inner` as a base64 encoded forwarded message, which `mail-parser`
/// decodes and parses on its own.
fn encoded_forward(inner: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(inner);
    let mut raw = b"From: bob@customer.example\nContent-Type: multipart/mixed; boundary=outer\n\n\
                    --outer\nContent-Type: text/plain\n\nsee attached\n\
                    --outer\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n"
        .to_vec();
    for line in encoded.as_bytes().chunks(76) {
        raw.extend_from_slice(line);
        raw.push(b'\n');
    }
    raw.extend_from_slice(b"--outer--\n");
    raw
}

#[test]
fn deeply_nested_forwards_are_refused_not_a_stack_overflow() {
    let result = on_small_stack(|| parse(&nested_forwards(100_000)));
    assert_eq!(result, Err(ParseError::TooComplex("too many forwarded (message/rfc822) parts")));
}

#[test]
fn deeply_nested_forwards_inside_an_encoded_forward_are_refused() {
    let result = on_small_stack(|| parse(&encoded_forward(&nested_forwards(50_000))));
    assert_eq!(result, Err(ParseError::TooComplex("too many forwarded (message/rfc822) parts")));
}

#[test]
fn nested_forwards_up_to_the_limit_parse_on_a_small_stack() {
    // The encoded outer forward counts as one.
    let mail =
        on_small_stack(|| parse(&encoded_forward(&nested_forwards(MAX_MESSAGE_PARTS - 1)))).expect("within the limit");
    assert_eq!(mail.body, "see attached");
    assert_eq!(mail.attachments.len(), 1);
    assert!(mail.attachments[0].content.starts_with(b"From: level0@customer.example"));
}

#[test]
fn damage_that_trips_the_mime_parser_is_an_error_not_a_panic() {
    // Found by `mutated_fixtures_never_panic`: an attached message whose body
    // is cut short by the next part reaches a `debug_assert!` in mail-parser.
    let fixture = std::fs::read(format!("{FIXTURES}/forward-attached.eml")).expect("fixture");
    let fixture = String::from_utf8(fixture).expect("UTF-8 fixture");
    let part_start = "Content-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n";
    let damaged = fixture.replacen(
        part_start,
        &format!("{part_start}F\r\n--------------9D1F2E3A4B5C6D7E8F901A2B\r\n{part_start}"),
        1,
    );
    let result = parse(damaged.as_bytes());
    assert!(matches!(result, Ok(_) | Err(ParseError::Malformed)), "{result:?}");
}

#[test]
fn thousands_of_parts_are_refused() {
    let mut raw = b"From: bob@customer.example\nContent-Type: multipart/mixed; boundary=b\n\n".to_vec();
    for _ in 0..20_000 {
        raw.extend_from_slice(b"--b\nContent-Type: application/octet-stream\n\nx\n");
    }
    raw.extend_from_slice(b"--b--\n");
    assert_eq!(parse(&raw), Err(ParseError::TooComplex("too many MIME parts")));
}

#[test]
fn deep_multipart_nesting_within_the_part_limit_parses() {
    let mut raw = b"From: bob@customer.example\n".to_vec();
    for level in 0..2_000 {
        raw.extend_from_slice(format!("Content-Type: multipart/mixed; boundary=b{level}\n\n--b{level}\n").as_bytes());
    }
    raw.extend_from_slice(b"Content-Type: text/plain\n\ndeep inside\n");
    for level in (0..2_000).rev() {
        raw.extend_from_slice(format!("--b{level}--\n").as_bytes());
    }
    let mail = on_small_stack(move || parse(&raw)).expect("parses");
    assert_eq!(mail.body, "deep inside");
}

#[test]
fn giant_headers_parse() {
    let mut raw = b"From: bob@customer.example\nSubject: ".to_vec();
    for _ in 0..100_000 {
        raw.extend_from_slice(b"=?utf-8?q?caf=C3=A9?= ");
    }
    raw.extend_from_slice(b"\nReferences:");
    for index in 0..50_000 {
        raw.extend_from_slice(format!(" <{index}@mail.customer.example>").as_bytes());
    }
    raw.extend_from_slice(b"\n\nhello\n");
    let mail = parse(&raw).expect("parses");
    assert!(mail.subject.starts_with("café"));
    assert_eq!(mail.references.len(), 50_000);
    assert_eq!(mail.body, "hello");
}

#[test]
fn oversized_input_is_refused_before_parsing() {
    let raw = vec![b'a'; MAX_MESSAGE_BYTES + 1];
    assert_eq!(parse(&raw), Err(ParseError::TooLarge { size: MAX_MESSAGE_BYTES + 1, limit: MAX_MESSAGE_BYTES }));
}

#[test]
fn nested_blockquotes_do_not_blow_up_the_text() {
    let html = "<blockquote><div>x".repeat(20_000);
    let text = html_to_text(&html);
    // Each line carries at most eight `> ` prefixes.
    assert!(text.len() < 20 * 20_000, "{} bytes", text.len());
    assert!(text.lines().all(|line| line.matches("> ").count() <= 8));
}

/// A fixture with random damage: bytes overwritten, inserted, removed, a
/// slice repeated, the end cut.
fn mutated_fixture() -> impl Strategy<Value = Vec<u8>> {
    let fixtures = fixtures();
    let count = fixtures.len();
    (0..count, prop::collection::vec((any::<u8>(), any::<prop::sample::Index>(), any::<u8>()), 1..24)).prop_map(
        move |(which, edits)| {
            let mut raw = fixtures[which].clone();
            for (kind, at, byte) in edits {
                if raw.is_empty() {
                    break;
                }
                let position = at.index(raw.len());
                match kind % 5 {
                    0 => raw[position] = byte,
                    1 => raw.insert(position, byte),
                    2 => {
                        raw.remove(position);
                    }
                    3 => {
                        let end = (position + usize::from(byte)).min(raw.len());
                        let slice = raw[position..end].to_vec();
                        raw.splice(position..position, slice);
                    }
                    _ => raw.truncate(position),
                }
            }
            raw
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(raw in prop::collection::vec(any::<u8>(), 0..4096)) {
        let _ = parse(&raw);
    }

    #[test]
    fn mail_shaped_noise_never_panics(raw in "(From: [a-z@.<> ]{0,30}\n|Content-Type: (multipart/(mixed|related|alternative|report|digest); boundary=[ab]|message/rfc822|text/(plain|html)|image/png)\n|Content-Transfer-Encoding: (base64|quoted-printable)\n|--[ab](--)?\n|\n|[A-Za-z0-9+/=<>&;#]{0,40}\n){0,60}") {
        let _ = parse(raw.as_bytes());
    }

    #[test]
    fn mutated_fixtures_never_panic(raw in mutated_fixture()) {
        if let Ok(mail) = parse(&raw) {
            prop_assert!(mail.attachments.iter().all(|file| !file.filename.is_empty()));
            prop_assert!(!mail.subject.contains('\n'));
        }
    }

    #[test]
    fn html_to_text_never_panics(html in "([<>/=\"'&;# a-z!-]|<a href=|<blockquote>|</blockquote>|<pre>|&#x[0-9a-f]{1,9};|&[a-z]{1,8};|é|\n){0,200}") {
        let text = html_to_text(&html);
        prop_assert!(!text.starts_with('\n') && !text.ends_with('\n'));
    }

    #[test]
    fn strip_reply_never_panics_and_never_empties_text(text in "(> [a-z]{0,10}\n|On 1 Jan 2026, a wrote:\n|-- \n|Sent from my iPhone\n|From: a\nSent: b\nSubject: c\n|[a-zé ]{0,20}\n|\r\n){0,30}") {
        let stripped = strip_reply(&text);
        prop_assert_eq!(stripped.is_empty(), text.trim().is_empty());
    }
}
