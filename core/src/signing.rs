//! Standard Webhooks signatures (<https://www.standardwebhooks.com>), the
//! one signing scheme of every outbound delivery: team-server deliveries
//! (router) and webhooks (notifier) sign with it, and the reference team
//! server verifies with it.
//!
//! A secret is `whsec_` followed by the base64 of 24 to 64 random bytes. A
//! message is signed as HMAC-SHA256 over `{id}.{timestamp}.{body}`; the
//! `webhook-signature` header holds `v1,` and the base64 of the MAC (several
//! space-separated signatures while a secret is being rotated).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::config::Secret;

const PREFIX: &str = "whsec_";
const MIN_KEY_BYTES: usize = 24;
const MAX_KEY_BYTES: usize = 64;
/// How far a signed timestamp may be from the receiver's clock.
pub const TIMESTAMP_TOLERANCE_SECONDS: i64 = 5 * 60;

/// A signing secret; its text never appears in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret {
    key: Secret<Vec<u8>>,
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("SigningSecret(***)")
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    #[error("a signing secret is `whsec_` followed by the base64 of {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes")]
    MalformedSecret,
    #[error("the message has no `webhook-id`, `webhook-timestamp` or `webhook-signature`")]
    MissingHeader,
    #[error("`webhook-timestamp` is not a number of seconds")]
    MalformedTimestamp,
    #[error("the message was signed more than {TIMESTAMP_TOLERANCE_SECONDS} s from now")]
    StaleTimestamp,
    #[error("no signature matches")]
    BadSignature,
}

impl SigningSecret {
    /// A new random secret of 32 bytes.
    pub fn generate() -> Self {
        let mut key = vec![0u8; 32];
        rand::rng().fill_bytes(&mut key);
        Self { key: Secret::new(key) }
    }

    pub fn parse(text: &str) -> Result<Self, SigningError> {
        let encoded = text.strip_prefix(PREFIX).ok_or(SigningError::MalformedSecret)?;
        let key = STANDARD.decode(encoded).map_err(|_| SigningError::MalformedSecret)?;
        if !(MIN_KEY_BYTES..=MAX_KEY_BYTES).contains(&key.len()) {
            return Err(SigningError::MalformedSecret);
        }
        Ok(Self { key: Secret::new(key) })
    }

    /// The secret's text (`whsec_…`): to store it or show it to its admin,
    /// never to log it.
    pub fn expose(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(self.key.expose()))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.expose()).expect("HMAC takes keys of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The `webhook-signature` value of a message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        format!("v1,{}", STANDARD.encode(self.mac(id, timestamp, body).finalize().into_bytes()))
    }

    /// Checks a received message: the timestamp within the tolerance of
    /// `now` (seconds since the epoch), and one of the `v1` signatures
    /// matching (compared in constant time).
    pub fn verify(
        &self,
        id: &str,
        timestamp: &str,
        signatures: &str,
        body: &[u8],
        now: i64,
    ) -> Result<(), SigningError> {
        let timestamp: i64 = timestamp.trim().parse().map_err(|_| SigningError::MalformedTimestamp)?;
        if now.abs_diff(timestamp) > TIMESTAMP_TOLERANCE_SECONDS.unsigned_abs() {
            return Err(SigningError::StaleTimestamp);
        }
        let matches =
            signatures.split_whitespace().filter_map(|signature| signature.strip_prefix("v1,")).any(|encoded| {
                STANDARD
                    .decode(encoded)
                    .is_ok_and(|expected| self.mac(id, timestamp, body).verify_slice(&expected).is_ok())
            });
        if matches { Ok(()) } else { Err(SigningError::BadSignature) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification's reference
    /// libraries (secret, id, timestamp and body from their test suites).
    #[test]
    fn signs_as_the_reference_libraries_do() {
        let secret = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("valid");
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn verification_checks_signature_and_time() {
        let secret = SigningSecret::generate();
        let body = b"{\"ticket\": 1}";
        let signature = secret.sign("msg_1", 1_000, body);
        assert_eq!(secret.verify("msg_1", "1000", &signature, body, 1_100), Ok(()));
        let rotated = format!("v1,bm90IGl0 {signature}");
        assert_eq!(secret.verify("msg_1", "1000", &rotated, body, 1_000), Ok(()), "any listed signature");
        assert_eq!(
            secret.verify("msg_1", "1000", &signature, b"{\"ticket\": 2}", 1_000),
            Err(SigningError::BadSignature)
        );
        assert_eq!(secret.verify("msg_2", "1000", &signature, body, 1_000), Err(SigningError::BadSignature));
        assert_eq!(secret.verify("msg_1", "1000", &signature, body, 1_000 + 301), Err(SigningError::StaleTimestamp));
        assert_eq!(secret.verify("msg_1", "soon", &signature, body, 1_000), Err(SigningError::MalformedTimestamp));
        assert_eq!(
            secret.verify("msg_1", &i64::MIN.to_string(), &signature, body, 1_000),
            Err(SigningError::StaleTimestamp)
        );
        let other = SigningSecret::generate();
        assert_eq!(other.verify("msg_1", "1000", &signature, body, 1_000), Err(SigningError::BadSignature));
        assert_eq!(SigningSecret::parse(&secret.expose()), Ok(secret));
        for bad in ["", "whsec_", "whsec_!!!!", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_c2hvcnQ="] {
            assert_eq!(SigningSecret::parse(bad), Err(SigningError::MalformedSecret), "{bad}");
        }
    }
}
