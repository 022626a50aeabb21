//! Any bytes as a raw e-mail: `parse` returns a mail or an error, never
//! panics, overflows its stack or runs away.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| {
    if let Ok(mail) = switchboard_ingest::email::parse(raw) {
        let _ = mail.noise_given(&["support@acme.example"]);
    }
});
