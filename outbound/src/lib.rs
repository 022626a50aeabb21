//! Signed outbound HTTP, shared by the router's deliveries to team servers
//! and the notifier's webhooks: one [`Sender`] (timeouts, the certificate
//! authorities, no proxy, no redirects, destinations checked against
//! server-side request forgery) that POSTs a body signed as Standard
//! Webhooks and reports what came back as an [`Attempt`]. What an answer
//! means (retry, give up, disable) is each caller's.
//!
//! [`worker::run`] is the loop both stages work their schedules with.
//!
//! Destinations: unless private destinations are allowed, a URL that is or
//! resolves to a loopback, private, link-local or otherwise non-public
//! address is refused, when it is set ([`check_destination`]) and again at
//! connection time, in the resolver, so a name cannot resolve differently
//! later (DNS rebinding).

mod destination;
pub mod worker;

use std::time::{Duration, Instant};

use switchboard_core::config::OutboundConfig;
use switchboard_core::signing::SigningSecret;
use time::OffsetDateTime;

pub use destination::{check_destination, is_public, parse_url};

/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3_600);

/// How one client behaves.
#[derive(Clone, Debug)]
pub struct SenderOptions {
    pub connect_timeout: Duration,
    /// The whole request, from connecting to the last byte of the answer.
    pub request_timeout: Duration,
    /// The most of an answer's body kept (the rest is not read).
    pub max_response_bytes: usize,
}

/// One signed POST.
pub struct SignedPost<'a> {
    pub url: &'a str,
    /// `webhook-id`, also sent as `Idempotency-Key`: the same on every
    /// attempt of one message.
    pub webhook_id: &'a str,
    /// Each signs; more than one while a secret is being rotated.
    pub secrets: &'a [&'a SigningSecret],
    pub body: &'a [u8],
}

/// What one attempt came to.
#[derive(Clone, Debug, PartialEq)]
pub struct Attempt {
    /// The answer's status, when there was one.
    pub status: Option<u16>,
    /// Why it did not deliver: the answer's status, or the failure to get
    /// one (with its causes).
    pub error: Option<String>,
    /// Never worth retrying: the destination is refused or not a URL.
    pub refused: bool,
    /// The server's `Retry-After`, at most an hour.
    pub retry_after: Option<Duration>,
    /// The start of the answer's body (lossy UTF-8).
    pub excerpt: Option<String>,
    pub duration: Duration,
}

impl Attempt {
    /// A 2xx answer.
    pub fn delivered(&self) -> bool {
        self.status.is_some_and(|status| (200..300).contains(&status))
    }

    /// An attempt that got no answer.
    fn unanswered(error: String, refused: bool, started: Instant) -> Self {
        Self {
            status: None,
            error: Some(error),
            refused,
            retry_after: None,
            excerpt: None,
            duration: started.elapsed(),
        }
    }
}

/// The HTTP client of signed deliveries.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    allow_private: bool,
    max_response_bytes: usize,
}

impl Sender {
    /// A client under `config`'s destination policy and authorities.
    pub fn new(config: &OutboundConfig, options: SenderOptions) -> Result<Self, String> {
        let mut builder = reqwest::Client::builder();
        if let Some(path) = &config.ca_file {
            let unreadable = |why: String| format!("outbound.ca_file `{}`: {why}", path.display());
            let pem = std::fs::read(path).map_err(|error| unreadable(error.to_string()))?;
            let authorities = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|error| unreadable(format!("not PEM certificates: {error}")))?;
            if authorities.is_empty() {
                return Err(unreadable("holds no certificate".into()));
            }
            for authority in authorities {
                builder = builder.add_root_certificate(authority);
            }
        }
        let client = builder
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout)
            // A proxy would resolve names itself, past the check below.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(destination::PublicOnly { allow_private: config.allow_private_destinations })
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| format!("cannot build the outbound HTTP client: {error}"))?;
        Ok(Self {
            client,
            allow_private: config.allow_private_destinations,
            max_response_bytes: options.max_response_bytes,
        })
    }

    /// POSTs `post.body` as JSON with the Standard Webhooks headers.
    pub async fn post(&self, post: SignedPost<'_>) -> Attempt {
        let started = Instant::now();
        let url = match parse_url(post.url) {
            Ok(url) => url,
            Err(why) => return Attempt::unanswered(why, true, started),
        };
        if let Some(address) = destination::literal_address(&url)
            && !self.allow_private
            && !is_public(address)
        {
            return Attempt::unanswered(format!("{address} is not a public address"), true, started);
        }
        let timestamp = OffsetDateTime::now_utc().unix_timestamp();
        let signature = post
            .secrets
            .iter()
            .map(|secret| secret.sign(post.webhook_id, timestamp, post.body))
            .collect::<Vec<_>>()
            .join(" ");
        let sent = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", post.webhook_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .header("idempotency-key", post.webhook_id)
            .body(post.body.to_vec())
            .send()
            .await;
        let mut response = match sent {
            Ok(response) => response,
            Err(error) => {
                let what = if error.is_timeout() { "timed out" } else { "could not connect" };
                // Without the URL: it may hold a token, and the log is read
                // by more people than the endpoint's owner.
                let error = format!("{what}: {}", switchboard_core::error::describe_chain(&error.without_url()));
                return Attempt::unanswered(error, false, started);
            }
        };
        let status = response.status().as_u16();
        let retry_after =
            response.headers().get("retry-after").and_then(|value| value.to_str().ok()).and_then(parse_retry_after);
        let mut body = Vec::new();
        // The answer is read only up to the limit; a body that fails half
        // way keeps what came.
        while body.len() < self.max_response_bytes {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
        body.truncate(self.max_response_bytes);
        let excerpt = (!body.is_empty()).then(|| String::from_utf8_lossy(&body).into_owned());
        let delivered = (200..300).contains(&status);
        Attempt {
            status: Some(status),
            error: (!delivered).then(|| format!("the server answered {status}")),
            refused: false,
            retry_after,
            excerpt,
            duration: started.elapsed(),
        }
    }
}

/// `Retry-After` as seconds or an HTTP date, at most an hour.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER));
    }
    let date = OffsetDateTime::parse(value.trim(), &time::format_description::well_known::Rfc2822).ok()?;
    Some((date - OffsetDateTime::now_utc()).try_into().unwrap_or(Duration::ZERO).min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("86400"), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO), "a date in the past");
        assert_eq!(parse_retry_after("soon"), None);
    }
}
