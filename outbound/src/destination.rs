//! Where Switchboard may connect: URLs, and addresses that are public.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// How long a destination's name may take to resolve when it is set.
const LOOKUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The longest destination URL, in bytes.
pub const URL_MAX_BYTES: usize = 2_048;

/// An absolute `http` or `https` URL with a host, no credentials and no
/// fragment; the error says what is wrong, after "`url` ".
pub fn parse_url(text: &str) -> Result<url::Url, String> {
    if text.len() > URL_MAX_BYTES {
        return Err(format!("must be at most {URL_MAX_BYTES} bytes"));
    }
    let url = url::Url::parse(text.trim()).map_err(|error| format!("is not a URL: {error}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http or https URL".into());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("needs a host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not hold a user name or password; deliveries are signed instead".into());
    }
    if url.fragment().is_some() {
        return Err("must not have a fragment".into());
    }
    Ok(url)
}

/// Checks a destination when it is set: [`parse_url`], then, unless
/// private destinations are allowed, that its host is not, and does not
/// resolve to, a non-public address. A name that does not resolve now is
/// accepted (it may tomorrow); connection time checks again, in the
/// resolver below.
pub async fn check_destination(text: &str, allow_private: bool) -> Result<url::Url, String> {
    let url = parse_url(text)?;
    if allow_private {
        return Ok(url);
    }
    if let Some(address) = literal_address(&url) {
        return if is_public(address) { Ok(url) } else { Err(format!("is {address}, which is not a public address")) };
    }
    let host = url.host_str().unwrap_or_default().to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    // A name that does not resolve now (or not within a few seconds) may
    // tomorrow: accepted.
    let lookup = tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((host.as_str(), port))).await;
    let Ok(Ok(addresses)) = lookup else { return Ok(url) };
    if let Some(private) = addresses.into_iter().find(|address| !is_public(address.ip())) {
        return Err(format!("names {host}, which resolves to {}, not a public address", private.ip()));
    }
    Ok(url)
}

/// The URL's host when it is an address rather than a name.
pub(crate) fn literal_address(url: &url::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(_) => None,
    }
}

/// Whether Switchboard may connect to `address` when private destinations
/// are not allowed.
pub fn is_public(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space (RFC 6598)
                || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
                || (a == 198 && (18..20).contains(&b)) // benchmarking (RFC 2544)
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let segments = v6.segments();
            let embedded = |high: u16, low: u16| Ipv4Addr::from((u32::from(high) << 16) | u32::from(low));
            // IPv4 inside IPv6: NAT64 (64:ff9b::/96), 6to4 (2002::/16) and
            // the deprecated IPv4-compatible form (::/96) reach IPv4 hosts.
            if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || segments[..6] == [0, 0, 0, 0, 0, 0] {
                return !v6.is_loopback()
                    && !v6.is_unspecified()
                    && is_public(IpAddr::V4(embedded(segments[6], segments[7])));
            }
            if segments[0] == 0x2002 {
                return is_public(IpAddr::V4(embedded(segments[1], segments[2])));
            }
            let first = segments[0];
            !(v6.is_multicast()
                || (first == 0x2001 && segments[1] == 0) // Teredo (reaches IPv4 hosts)
                || segments[..3] == [0x64, 0xff9b, 1] // local-use NAT64 (RFC 8215)
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link local
                || (first & 0xffc0) == 0xfec0 // site local (deprecated)
                || first == 0x2001 && segments[1] == 0x0db8) // documentation
        }
    }
}

/// Resolves names as the system does, then keeps only public addresses
/// (all of them when private destinations are allowed).
pub(crate) struct PublicOnly {
    pub allow_private: bool,
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> =
                addresses.into_iter().filter(|address| allow_private || is_public(address.ip())).collect();
            if allowed.is_empty() {
                return Err(format!("`{host}` resolves to no public address").into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(private.parse().expect("an address")), "{private}");
        }
        for private in ["2001:0:4136:e378::1", "64:ff9b:1::a00:1"] {
            assert!(!is_public(private.parse().expect("an address")), "{private}");
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "64:ff9b::808:808", "2002:808:808::"] {
            assert!(is_public(public.parse().expect("an address")), "{public}");
        }
    }

    #[tokio::test]
    async fn destinations_are_checked_when_set() {
        for refused in [
            "http://127.0.0.1/hook",
            "http://10.0.0.1/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/hook",
            "http://localhost:9000/hook",
            "ftp://example.com/",
            "http://user:pw@example.com/",
            "http://example.com/#part",
        ] {
            assert!(check_destination(refused, false).await.is_err(), "{refused}");
        }
        assert!(check_destination("http://127.0.0.1:9000/hook", true).await.is_ok(), "allowed by configuration");
        assert!(check_destination("https://93.184.216.34/hook", false).await.is_ok());
    }
}
