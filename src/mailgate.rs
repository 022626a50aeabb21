//! `switchboard mailgate`: hands one mail from standard input to a running
//! Switchboard (`POST /v1/inbound/email`), for an MTA's pipe transport
//! (Postfix `pipe`, Exim `pipe`, a `.forward`/aliases `|command`).
//!
//! It answers the MTA in its own language, sysexits(3) codes:
//! - 0 (`EX_OK`): taken (a ticket, a message, a duplicate or automatic
//!   mail dropped);
//! - 75 (`EX_TEMPFAIL`): try again later: Switchboard is down or
//!   unreachable, answered 503 or 429, timed out, or refused the key (a
//!   configuration mistake should queue mail, not bounce it);
//! - 65 (`EX_DATAERR`): the mail itself cannot be taken (422, 413): the
//!   MTA bounces it with the reason printed on standard error;
//! - 66 (`EX_NOINPUT`): standard input held nothing;
//! - 74 (`EX_IOERR`): standard input could not be read;
//! - 78 (`EX_CONFIG`): the key file or URL is unusable;
//! - 70 (`EX_SOFTWARE`): any other answer.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

pub const EX_OK: u8 = 0;
pub const EX_USAGE: u8 = 64;
pub const EX_DATAERR: u8 = 65;
pub const EX_NOINPUT: u8 = 66;
pub const EX_SOFTWARE: u8 = 70;
pub const EX_IOERR: u8 = 74;
pub const EX_TEMPFAIL: u8 = 75;
pub const EX_CONFIG: u8 = 78;

/// The exit code for Switchboard's answer `status`.
pub fn exit_code_of(status: u16) -> u8 {
    match status {
        200..=299 => EX_OK,
        401 | 403 | 408 | 429 | 500..=599 => EX_TEMPFAIL,
        400 | 413 | 422 => EX_DATAERR,
        _ => EX_SOFTWARE,
    }
}

/// The endpoint for `url`: a Switchboard base URL, or the endpoint itself.
pub fn endpoint(url: &str) -> Result<String, String> {
    let url = url.trim().trim_end_matches('/');
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!("--url must be an http(s) URL of Switchboard, e.g. http://127.0.0.1:8080, got `{url}`"));
    }
    Ok(if url.ends_with("/v1/inbound/email") { url.to_owned() } else { format!("{url}/v1/inbound/email") })
}

/// Sends standard input; prints one line on standard error when the mail
/// was not taken; returns the exit code.
pub async fn run(url: &str, key_file: &Path, timeout: Duration) -> ExitCode {
    let fail = |code: u8, message: String| {
        eprintln!("switchboard mailgate: {message}");
        ExitCode::from(code)
    };
    let endpoint = match endpoint(url) {
        Ok(endpoint) => endpoint,
        Err(message) => return fail(EX_USAGE, message),
    };
    let key = match std::fs::read_to_string(key_file) {
        Ok(key) if !key.trim().is_empty() => key.trim().to_owned(),
        Ok(_) => return fail(EX_CONFIG, format!("the key file {} is empty", key_file.display())),
        Err(error) => return fail(EX_CONFIG, format!("cannot read the key file {}: {error}", key_file.display())),
    };
    let mut raw = Vec::new();
    if let Err(error) = std::io::stdin().lock().read_to_end(&mut raw) {
        return fail(EX_IOERR, format!("cannot read the mail from standard input: {error}"));
    }
    if raw.is_empty() {
        return fail(EX_NOINPUT, "standard input held no mail".into());
    }
    let client = match reqwest::Client::builder().timeout(timeout).connect_timeout(Duration::from_secs(10)).build() {
        Ok(client) => client,
        Err(error) => return fail(EX_SOFTWARE, format!("cannot make an HTTP client: {error}")),
    };
    let sent = client.post(&endpoint).bearer_auth(key).header("content-type", "message/rfc822").body(raw).send().await;
    let response = match sent {
        Ok(response) => response,
        Err(error) => {
            return fail(
                EX_TEMPFAIL,
                format!("Switchboard at {endpoint} cannot be reached ({error}); try again later"),
            );
        }
    };
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    let code = exit_code_of(status);
    if code == EX_OK {
        return ExitCode::SUCCESS;
    }
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|value| value["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.chars().take(200).collect());
    fail(code, format!("Switchboard answered {status}: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_map_to_what_an_mta_does_with_them() {
        assert_eq!(exit_code_of(202), EX_OK);
        for retry in [503, 500, 429, 401, 403] {
            assert_eq!(exit_code_of(retry), EX_TEMPFAIL, "{retry}");
        }
        for bounce in [422, 413, 400] {
            assert_eq!(exit_code_of(bounce), EX_DATAERR, "{bounce}");
        }
        assert_eq!(exit_code_of(415), EX_SOFTWARE);
        assert_eq!(endpoint("http://127.0.0.1:8080/").as_deref(), Ok("http://127.0.0.1:8080/v1/inbound/email"));
        assert_eq!(
            endpoint("https://sb.example/v1/inbound/email").as_deref(),
            Ok("https://sb.example/v1/inbound/email")
        );
        assert!(endpoint("127.0.0.1:8080").is_err());
    }
}
