//! Signed tokens of the public form: the anti-forgery token of each form
//! page, and the private status link of each ticket filed through it.
//!
//! Both are `{fields}.{HMAC-SHA256}` with the installation's intake key
//! ([`switchboard_core::settings::INTAKE_SIGNING_KEY`]); each MAC covers a
//! purpose tag and the company, so a token of one kind or one company is
//! worthless for another.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use switchboard_core::{CompanyId, TicketId};
use uuid::Uuid;

/// The intake signing key.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("SigningKey([redacted])")
    }
}

/// A form page's anti-forgery token, checked against the cookie that came
/// with the page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormToken {
    /// Goes into the page's hidden field.
    pub token: String,
    /// Goes into the cookie.
    pub nonce: String,
}

impl SigningKey {
    /// A key from its stored hex form.
    pub fn from_hex(text: &str) -> Option<Self> {
        let bytes: Option<Vec<u8>> = (0..text.len())
            .step_by(2)
            .map(|at| text.get(at..at + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok()))
            .collect();
        bytes.filter(|bytes| bytes.len() >= 32).map(Self)
    }

    /// A new random key, as hex.
    pub fn random_hex() -> String {
        let bytes: [u8; 32] = rand::random();
        bytes.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    fn mac(&self, purpose: &str, company: &CompanyId, fields: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        for part in [purpose, company.as_str(), fields] {
            mac.update(part.as_bytes());
            mac.update(b"\n");
        }
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    fn verify(&self, purpose: &str, company: &CompanyId, fields: &str, signature: &str) -> bool {
        let Ok(given) = URL_SAFE_NO_PAD.decode(signature) else {
            return false;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        for part in [purpose, company.as_str(), fields] {
            mac.update(part.as_bytes());
            mac.update(b"\n");
        }
        mac.verify_slice(&given).is_ok()
    }

    /// A form token issued at `now` (Unix seconds), for the browser whose
    /// cookie holds `nonce` (a new one when it has none, or a malformed one):
    /// two tabs of one browser share the cookie, so either page may be sent.
    pub fn form_token(&self, company: &CompanyId, now: i64, nonce: Option<&str>) -> FormToken {
        let valid = |nonce: &&str| nonce.len() == 24 && URL_SAFE_NO_PAD.decode(nonce).is_ok();
        let nonce = match nonce.filter(valid) {
            Some(nonce) => nonce.to_owned(),
            None => URL_SAFE_NO_PAD.encode(rand::random::<[u8; 18]>()),
        };
        let fields = format!("{now}.{nonce}");
        let token = format!("{fields}.{}", self.mac("form", company, &fields));
        FormToken { token, nonce }
    }

    /// Whether `token` is this company's, no older than `max_age_seconds`,
    /// and came with the cookie holding its nonce.
    pub fn check_form_token(
        &self,
        company: &CompanyId,
        token: &str,
        cookie_nonce: Option<&str>,
        now: i64,
        max_age_seconds: i64,
    ) -> bool {
        let mut parts = token.splitn(3, '.');
        let (Some(issued), Some(nonce), Some(signature)) = (parts.next(), parts.next(), parts.next()) else {
            return false;
        };
        let Ok(issued_at) = issued.parse::<i64>() else {
            return false;
        };
        let fresh = (0..=max_age_seconds).contains(&(now - issued_at));
        let cookie_matches = cookie_nonce.is_some_and(|cookie| constant_time_eq(cookie.as_bytes(), nonce.as_bytes()));
        fresh && cookie_matches && self.verify("form", company, &format!("{issued}.{nonce}"), signature)
    }

    /// The status link token of `ticket`, valid until `expires` (Unix
    /// seconds).
    pub fn status_token(&self, company: &CompanyId, ticket: TicketId, expires: i64) -> String {
        let fields = format!("{}.{expires}", ticket.0.simple());
        format!("{fields}.{}", self.mac("status", company, &fields))
    }

    /// The ticket a status token names, if it is this company's, genuine and
    /// not expired at `now`.
    pub fn check_status_token(&self, company: &CompanyId, token: &str, now: i64) -> Option<TicketId> {
        let mut parts = token.splitn(3, '.');
        let (ticket, expires, signature) = (parts.next()?, parts.next()?, parts.next()?);
        let expires_at = expires.parse::<i64>().ok()?;
        if now > expires_at || !self.verify("status", company, &format!("{ticket}.{expires}"), signature) {
            return None;
        }
        Uuid::try_parse(ticket).ok().map(TicketId)
    }
}

fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    left.len() == right.len() && left.iter().zip(right).fold(0_u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_key() -> SigningKey {
        SigningKey::from_hex(&SigningKey::random_hex()).expect("a random key reads back")
    }

    #[test]
    fn form_tokens_need_their_cookie_their_company_and_youth() {
        let (key, acme) = (new_key(), CompanyId::parse("acme").expect("valid"));
        let globex = CompanyId::parse("globex").expect("valid");
        let issued = key.form_token(&acme, 1_000, None);
        assert_eq!(key.form_token(&acme, 1_050, Some(&issued.nonce)).nonce, issued.nonce, "the cookie's nonce is kept");
        assert_ne!(key.form_token(&acme, 1_050, Some("short")).nonce, "short");
        let check = |company: &CompanyId, token: &str, cookie: Option<&str>, now: i64| {
            key.check_form_token(company, token, cookie, now, 3_600)
        };
        assert!(check(&acme, &issued.token, Some(&issued.nonce), 1_100));
        assert!(!check(&acme, &issued.token, None, 1_100), "no cookie");
        assert!(!check(&acme, &issued.token, Some("another"), 1_100), "another page's cookie");
        assert!(!check(&globex, &issued.token, Some(&issued.nonce), 1_100), "another company");
        assert!(!check(&acme, &issued.token, Some(&issued.nonce), 4_601), "too old");
        assert!(!check(&acme, &issued.token, Some(&issued.nonce), 999), "from the future");
        let forged = issued.token.replacen("1000", "1100", 1);
        assert!(!check(&acme, &forged, Some(&issued.nonce), 1_200), "altered");
        assert!(!new_key().check_form_token(&acme, &issued.token, Some(&issued.nonce), 1_100, 3_600), "another key");
        for junk in ["", ".", "..", "a.b.c", "1000.x.!!!"] {
            assert!(!check(&acme, junk, Some("x"), 1_100));
        }
    }

    #[test]
    fn status_tokens_name_their_ticket_until_they_expire() {
        let (key, acme) = (new_key(), CompanyId::parse("acme").expect("valid"));
        let ticket = TicketId::new();
        let token = key.status_token(&acme, ticket, 2_000);
        assert_eq!(key.check_status_token(&acme, &token, 1_999), Some(ticket));
        assert_eq!(key.check_status_token(&acme, &token, 2_001), None);
        assert_eq!(key.check_status_token(&CompanyId::parse("globex").expect("valid"), &token, 1_000), None);
        let other = key.status_token(&acme, TicketId::new(), 2_000);
        let spliced = format!("{}{}", &token[..token.rfind('.').unwrap_or(0)], &other[other.rfind('.').unwrap_or(0)..]);
        assert_eq!(key.check_status_token(&acme, &spliced, 1_000), None);
        assert!(SigningKey::from_hex("abc").is_none());
    }
}
