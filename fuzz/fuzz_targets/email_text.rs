//! Any text through the HTML converter and the reply stripper.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let plain = switchboard_ingest::email::html_to_text(text);
    let _ = switchboard_ingest::email::strip_reply(&plain);
    let _ = switchboard_ingest::email::strip_reply(text);
});
