//! The client's IP address: the socket's peer, or — only behind proxies the app trusts — the
//! address those proxies say they forwarded for.
//!
//! ```
//! use std::net::{IpAddr, SocketAddr};
//! use tower_api_auth::client_ip::{ClientAddr, TrustedProxies};
//!
//! let proxies = TrustedProxies::parse(["10.0.0.0/8", "fd00::/8"])?;
//! let mut request = http::Request::new(());
//! // What the server knows: the connection came from the load balancer at 10.1.2.3 ...
//! request.extensions_mut().insert(ClientAddr("10.1.2.3:50000".parse::<SocketAddr>()?));
//! // ... which says it forwarded for 203.0.113.7 (the first entry is the client's own claim).
//! request.headers_mut().insert("x-forwarded-for", "198.51.100.1, 203.0.113.7".parse()?);
//!
//! let client = proxies.client_ip(request.extensions(), request.headers());
//! assert_eq!(client, Some("203.0.113.7".parse::<IpAddr>()?));
//! // Without trusted proxies the header is the client's say-so, and is ignored.
//! let direct = TrustedProxies::none().client_ip(request.extensions(), request.headers());
//! assert_eq!(direct, Some("10.1.2.3".parse::<IpAddr>()?));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Where the peer address comes from
//!
//! The server puts the connection's remote address in each request's extensions; this module
//! reads, in this order:
//!
//! - [`ClientAddr`], this crate's own extension: insert it yourself on a hyper or plain tower
//!   server (`request.extensions_mut().insert(ClientAddr(remote_addr))` in the function that
//!   accepts the connection, see `examples/tower_hyper.rs`);
//! - axum's `ConnectInfo<SocketAddr>` (feature `axum`), which axum inserts when the app is served
//!   with `app.into_make_service_with_connect_info::<SocketAddr>()`;
//! - a bare [`SocketAddr`].
//!
//! With none of them the client's address is unknown ([`peer_ip`] is `None`), and callers decide
//! what that means (the failed-authentication throttle counts all such requests as one client,
//! so that a server set up without its peer address fails closed).
//!
//! # Trusted proxies
//!
//! Behind a load balancer the peer is the load balancer. Only when the peer is one of the
//! [`TrustedProxies`] does the client's address come from the headers the proxies add: RFC 7239
//! `Forwarded` (its `for=` parameters) if the request has one, else `X-Forwarded-For`. The list is
//! read right to left — each proxy appends the address it received the request from, so the
//! right end is the most trustworthy — skipping addresses of trusted proxies; the first address
//! that is not a trusted proxy is the client. Entries further left were written by the client or
//! by proxies nobody vouches for and are never read. A header that cannot be read where it
//! matters (an entry that is no IP address, `unknown`, an obfuscated node, a broken quote) makes
//! the peer the client: a malformed header never panics, and never lets the client pick its
//! address.
//!
//! Make sure your proxies overwrite or append to the header they are trusted for. A proxy that
//! appends to `X-Forwarded-For` but passes a client's `Forwarded` through untouched lets that
//! client choose its address, since `Forwarded` is read first; strip `Forwarded` at such a proxy.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use http::header::FORWARDED;
use http::{Extensions, HeaderMap, HeaderName};

/// The connection's remote address, inserted into a request's extensions by a server that is not
/// axum (a hyper `service_fn`, a tower stack of the app's own), so that [`peer_ip`] finds it.
///
/// ```
/// use std::net::SocketAddr;
/// use tower_api_auth::client_ip::{ClientAddr, peer_ip};
///
/// let remote: SocketAddr = "192.0.2.10:41000".parse()?;
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(ClientAddr(remote));
/// assert_eq!(peer_ip(request.extensions()), Some(remote.ip()));
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientAddr(pub SocketAddr);

/// The IP address of the connection's peer, as the server recorded it in `extensions` (see the
/// [module](self) for the extension types it reads). IPv4 addresses that a dual-stack socket
/// reports as IPv6 (`::ffff:192.0.2.1`) come back as IPv4.
pub fn peer_ip(extensions: &Extensions) -> Option<IpAddr> {
    peer_addr(extensions).map(|addr| addr.ip().to_canonical())
}

fn peer_addr(extensions: &Extensions) -> Option<SocketAddr> {
    if let Some(ClientAddr(addr)) = extensions.get::<ClientAddr>() {
        return Some(*addr);
    }
    #[cfg(feature = "axum")]
    if let Some(axum::extract::ConnectInfo(addr)) =
        extensions.get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(*addr);
    }
    extensions.get::<SocketAddr>().copied()
}

/// The proxies (load balancers, CDNs, ingress controllers) whose forwarding headers the app
/// believes: IP addresses and CIDR ranges, IPv4 or IPv6. Empty by default: then the client is
/// the socket's peer and forwarding headers are ignored.
///
/// Written in configuration files as a list of strings:
///
/// ```
/// use tower_api_auth::client_ip::TrustedProxies;
///
/// #[derive(Debug, serde::Deserialize)]
/// struct Config {
///     trusted_proxies: TrustedProxies,
/// }
/// let config: Config = serde_json::from_str(r#"{"trusted_proxies": ["10.0.0.0/8", "192.0.2.1", "2001:db8::/32"]}"#)?;
/// assert!(config.trusted_proxies.is_trusted("10.200.0.1".parse()?));
/// assert!(!config.trusted_proxies.is_trusted("192.0.2.2".parse()?));
///
/// let error = serde_json::from_str::<Config>(r#"{"trusted_proxies": ["10.0.0.0/33"]}"#).unwrap_err();
/// assert!(error.to_string().contains("`10.0.0.0/33`"), "{error}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// See the [module](self) for how the client's address is found.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    ranges: Arc<[IpRange]>,
}

impl TrustedProxies {
    /// No trusted proxies: the client is always the socket's peer.
    pub fn none() -> Self {
        Self::default()
    }

    /// Parses each of `entries`: an IP address (`192.0.2.1`, `2001:db8::1`) or a CIDR range
    /// (`10.0.0.0/8`, `2001:db8::/32`). The first entry that is neither is the error.
    pub fn parse<I>(entries: I) -> Result<Self, TrustedProxyError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let ranges = entries
            .into_iter()
            .map(|entry| entry.as_ref().parse::<IpRange>())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            ranges: ranges.into(),
        })
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.ranges.iter().any(|range| range.contains(ip))
    }

    /// The client's IP address: the peer recorded in `extensions` ([`peer_ip`]), or, when that
    /// peer is a trusted proxy, the first untrusted address of `Forwarded` (else
    /// `X-Forwarded-For`) read from the right. `None` when the server recorded no peer.
    pub fn client_ip(&self, extensions: &Extensions, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer_ip(extensions)?;
        Some(self.client_behind(peer, headers))
    }

    /// The client's IP address for a request that came from `peer` with `headers`.
    pub fn client_behind(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.is_trusted(peer) {
            return peer;
        }
        let forwarded = if headers.contains_key(FORWARDED) {
            self.walk(forwarded_hops(headers).into_iter().rev())
        } else {
            self.walk(x_forwarded_for_hops(headers).into_iter().rev())
        };
        forwarded.unwrap_or(peer)
    }

    /// The first hop, read from the proxy end, that is no trusted proxy; if every hop is one,
    /// the farthest of them (the request came from inside). `None` when the list is empty or
    /// unreadable before such a hop: the caller keeps the peer.
    fn walk(&self, hops_from_the_right: impl Iterator<Item = Hop>) -> Option<IpAddr> {
        let mut farthest_trusted = None;
        for hop in hops_from_the_right {
            match hop {
                Hop::Ip(ip) if self.is_trusted(ip) => farthest_trusted = Some(ip),
                Hop::Ip(ip) => return Some(ip),
                Hop::Unreadable => return None,
            }
        }
        farthest_trusted
    }
}

impl fmt::Debug for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.ranges.iter()).finish()
    }
}

impl serde::Serialize for TrustedProxies {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.ranges.iter().map(ToString::to_string))
    }
}

impl<'de> serde::Deserialize<'de> for TrustedProxies {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let entries = Vec::<String>::deserialize(deserializer)?;
        Self::parse(&entries).map_err(serde::de::Error::custom)
    }
}

/// An entry of a trusted-proxy list that is neither an IP address nor a CIDR range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedProxyError {
    entry: String,
    reason: &'static str,
}

impl fmt::Display for TrustedProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "trusted proxy `{}`: {} (write an IP address such as `192.0.2.1` or a range such as `10.0.0.0/8`)",
            self.entry, self.reason
        )
    }
}

impl std::error::Error for TrustedProxyError {}

/// An IP address and how many of its leading bits a member shares with it.
#[derive(Clone, Copy, PartialEq, Eq)]
struct IpRange {
    /// With the bits past the prefix cleared.
    network: IpAddr,
    prefix: u8,
}

impl IpRange {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => {
                masked(u32::from(ip).into(), 32, self.prefix) == u32::from(network).into()
            }
            (IpAddr::V6(network), IpAddr::V6(ip)) => {
                masked(u128::from(ip), 128, self.prefix) == u128::from(network)
            }
            _ => false,
        }
    }
}

/// `bits` (an address of `width` bits) with all but the first `prefix` bits cleared.
fn masked(bits: u128, width: u8, prefix: u8) -> u128 {
    if prefix == 0 {
        return 0;
    }
    let keep = u128::MAX << (width - prefix);
    bits & keep & (u128::MAX >> (128 - u32::from(width)))
}

impl FromStr for IpRange {
    type Err = TrustedProxyError;

    fn from_str(entry: &str) -> Result<Self, Self::Err> {
        let error = |reason| TrustedProxyError {
            entry: entry.to_owned(),
            reason,
        };
        let text = entry.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let ip = address
            .parse::<IpAddr>()
            .map_err(|_| error("not an IP address"))?
            .to_canonical();
        let width = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= width)
                .ok_or_else(|| {
                    error(if ip.is_ipv4() {
                        "the prefix length must be 0 to 32"
                    } else {
                        "the prefix length must be 0 to 128"
                    })
                })?,
        };
        let network = match ip {
            IpAddr::V4(v4) => IpAddr::V4((masked(u32::from(v4).into(), 32, prefix) as u32).into()),
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(masked(u128::from(v6), 128, prefix))),
        };
        // `10.0.0.1/8` is most likely a typo for a host or for `10.0.0.0/8`: refuse rather than
        // guess which.
        if network != ip {
            return Err(error("host bits are set past the prefix length"));
        }
        Ok(Self { network, prefix })
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = if self.network.is_ipv4() { 32 } else { 128 };
        if self.prefix == width {
            write!(f, "{}", self.network)
        } else {
            write!(f, "{}/{}", self.network, self.prefix)
        }
    }
}

impl fmt::Debug for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// One proxy hop of a forwarding header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hop {
    Ip(IpAddr),
    /// `unknown`, an obfuscated node, or text that is no address.
    Unreadable,
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The hops of every `X-Forwarded-For` header, left to right (repeated headers are one
/// comma-separated list, RFC 9110 §5.3).
fn x_forwarded_for_hops(headers: &HeaderMap) -> Vec<Hop> {
    let mut hops = Vec::new();
    for value in headers.get_all(X_FORWARDED_FOR) {
        match value.to_str() {
            Ok(text) => hops.extend(text.split(',').map(node)),
            Err(_) => hops.push(Hop::Unreadable),
        }
    }
    hops
}

/// The `for=` of every element of every `Forwarded` header, left to right. An element without
/// `for=`, or a header that does not parse, is an unreadable hop at its place (so that a walk
/// from the right stops there).
fn forwarded_hops(headers: &HeaderMap) -> Vec<Hop> {
    let mut hops = Vec::new();
    for value in headers.get_all(FORWARDED) {
        match value
            .to_str()
            .ok()
            .and_then(|text| forwarded_for(text, &mut hops))
        {
            Some(()) => {}
            None => hops.push(Hop::Unreadable),
        }
    }
    hops
}

/// Appends the `for=` hop of each element of one `Forwarded` value (RFC 7239 §4:
/// `element *( "," element )`, `element = [pair] *( ";" [pair] )`, `pair = token "=" value`,
/// `value = token / quoted-string`). `None` when the value does not parse past the hops already
/// appended.
fn forwarded_for(text: &str, hops: &mut Vec<Hop>) -> Option<()> {
    let mut rest = text;
    let mut element_for: Option<Hop> = None;
    // Whether the current element has any pair: empty list elements (`a, , b`) are no hops
    // (RFC 9110 §5.6.1).
    let mut element_has_pairs = false;
    let mut end_element = |element_for: &mut Option<Hop>, has_pairs: &mut bool| {
        if std::mem::take(has_pairs) {
            hops.push(element_for.take().unwrap_or(Hop::Unreadable));
        }
    };
    loop {
        rest = rest.trim_start_matches([' ', '\t']);
        // An empty pair or element (`;;`, `,,`) is allowed by the grammar's optional pairs.
        if let Some(after) = rest.strip_prefix(';') {
            rest = after;
            continue;
        }
        if let Some(after) = rest.strip_prefix(',') {
            end_element(&mut element_for, &mut element_has_pairs);
            rest = after;
            continue;
        }
        if rest.is_empty() {
            end_element(&mut element_for, &mut element_has_pairs);
            return Some(());
        }
        element_has_pairs = true;
        let name_end = rest.find(|c: char| !is_tchar(c)).unwrap_or(rest.len());
        let (name, after) = rest.split_at(name_end);
        let after = after.strip_prefix('=')?;
        if name.is_empty() {
            return None;
        }
        let (value, after) = match after.strip_prefix('"') {
            Some(quoted) => quoted_string(quoted)?,
            None => {
                let end = after.find(|c: char| !is_tchar(c)).unwrap_or(after.len());
                (std::borrow::Cow::Borrowed(&after[..end]), &after[end..])
            }
        };
        if name.eq_ignore_ascii_case("for") {
            // A second `for` in one element is malformed: which one is the client?
            if element_for.is_some() {
                return None;
            }
            element_for = Some(node(&value));
        }
        rest = after.trim_start_matches([' ', '\t']);
        if !(rest.is_empty() || rest.starts_with([';', ','])) {
            return None;
        }
    }
}

/// The content of a quoted string whose opening quote is already consumed, and the text after
/// its closing quote. `None` if it never closes.
fn quoted_string(text: &str) -> Option<(std::borrow::Cow<'_, str>, &str)> {
    let mut unescaped: Option<String> = None;
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => {
                let value = match unescaped {
                    Some(value) => std::borrow::Cow::Owned(value),
                    None => std::borrow::Cow::Borrowed(&text[..at]),
                };
                return Some((value, &text[at + 1..]));
            }
            '\\' => {
                let (_, escaped) = chars.next()?;
                unescaped
                    .get_or_insert_with(|| text[..at].to_owned())
                    .push(escaped);
            }
            c => {
                if let Some(value) = &mut unescaped {
                    value.push(c);
                }
            }
        }
    }
    None
}

/// RFC 9110 `tchar`.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// A node as proxies write it: `192.0.2.1`, `192.0.2.1:8080`, `2001:db8::1`, `[2001:db8::1]`,
/// `[2001:db8::1]:8080`. Anything else (`unknown`, `_hidden`, garbage) is unreadable.
fn node(text: &str) -> Hop {
    let text = text.trim();
    let ip = if let Some(bracketed) = text.strip_prefix('[') {
        bracketed.split_once(']').and_then(|(ip, port)| {
            let port_ok = port.is_empty() || port.strip_prefix(':').is_some_and(is_port);
            port_ok.then(|| ip.parse::<Ipv6Addr>().ok().map(IpAddr::V6))?
        })
    } else if let Ok(ip) = text.parse::<IpAddr>() {
        Some(ip)
    } else {
        // `192.0.2.1:8080`; a bare IPv6 address parsed above, and one with a port must be
        // bracketed.
        text.rsplit_once(':')
            .filter(|(_, port)| is_port(port))
            .and_then(|(ip, _)| ip.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4))
    };
    match ip {
        Some(ip) => Hop::Ip(ip.to_canonical()),
        None => Hop::Unreadable,
    }
}

/// A port as RFC 7239 writes one: digits, or an obfuscated `_port` (no use to us, but no error
/// either).
fn is_port(text: &str) -> bool {
    let obfuscated = |rest: &str| {
        !rest.is_empty()
            && rest
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    };
    match text.strip_prefix('_') {
        Some(rest) => obfuscated(rest),
        None => !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, value.parse().unwrap());
        }
        headers
    }

    fn proxies() -> TrustedProxies {
        TrustedProxies::parse(["10.0.0.0/8", "192.0.2.1", "2001:db8:cafe::/48"]).unwrap()
    }

    const PROXY: &str = "10.0.0.1";

    fn client(pairs: &[(&'static str, &str)]) -> IpAddr {
        proxies().client_behind(ip(PROXY), &headers(pairs))
    }

    #[test]
    fn ranges_parse_and_contain() {
        let proxies = proxies();
        for inside in [
            "10.0.0.0",
            "10.255.255.255",
            "192.0.2.1",
            "2001:db8:cafe:1::9",
            "::ffff:10.1.1.1",
        ] {
            assert!(proxies.is_trusted(ip(inside)), "{inside}");
        }
        for outside in [
            "11.0.0.0",
            "9.255.255.255",
            "192.0.2.2",
            "2001:db8:caff::1",
            "::1",
        ] {
            assert!(!proxies.is_trusted(ip(outside)), "{outside}");
        }
        let everything = TrustedProxies::parse(["0.0.0.0/0", "::/0"]).unwrap();
        assert!(everything.is_trusted(ip("203.0.113.1")));
        assert!(everything.is_trusted(ip("2001:db8::1")));
        assert_eq!(
            format!("{proxies:?}"),
            "[10.0.0.0/8, 192.0.2.1, 2001:db8:cafe::/48]"
        );
        assert!(TrustedProxies::none().is_empty() && !proxies.is_empty());
    }

    #[test]
    fn bad_entries_are_refused_with_a_reason() {
        for (entry, reason) in [
            ("10.0.0.0/33", "0 to 32"),
            ("2001:db8::/129", "0 to 128"),
            ("10.0.0.1/8", "host bits"),
            ("10.0.0.0/x", "0 to 32"),
            ("example.com", "not an IP address"),
            ("", "not an IP address"),
            ("10.0.0.0/", "0 to 32"),
        ] {
            let error = TrustedProxies::parse([entry]).unwrap_err().to_string();
            assert!(error.contains(&format!("`{entry}`")), "{error}");
            assert!(error.contains(reason), "{entry}: {error}");
        }
    }

    #[test]
    fn serde_round_trips_the_list() {
        let proxies: TrustedProxies =
            serde_json::from_str(r#"["10.0.0.0/8", " 192.0.2.1 ", "2001:db8:cafe::/48"]"#).unwrap();
        assert_eq!(proxies, self::proxies());
        assert_eq!(
            serde_json::to_string(&proxies).unwrap(),
            r#"["10.0.0.0/8","192.0.2.1","2001:db8:cafe::/48"]"#
        );
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_sends() {
        let headers = headers(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=1.2.3.4")]);
        assert_eq!(
            proxies().client_behind(ip("203.0.113.9"), &headers),
            ip("203.0.113.9")
        );
        assert_eq!(
            TrustedProxies::none().client_behind(ip(PROXY), &headers),
            ip(PROXY)
        );
    }

    #[test]
    fn x_forwarded_for_is_read_from_the_right_skipping_trusted_hops() {
        // The client claims 1.1.1.1; the edge proxy 192.0.2.1 saw 203.0.113.5; the inner proxy
        // 10.0.0.1 (the peer) saw the edge proxy.
        assert_eq!(
            client(&[("x-forwarded-for", "1.1.1.1, 203.0.113.5, 192.0.2.1")]),
            ip("203.0.113.5")
        );
        // Repeated headers are one list, in order.
        assert_eq!(
            client(&[
                ("x-forwarded-for", "1.1.1.1, 203.0.113.5"),
                ("x-forwarded-for", "10.9.9.9")
            ]),
            ip("203.0.113.5")
        );
        // Ports and brackets, as some proxies write them.
        assert_eq!(
            client(&[("x-forwarded-for", "203.0.113.5:4711")]),
            ip("203.0.113.5")
        );
        assert_eq!(
            client(&[("x-forwarded-for", "[2001:db8::7]:4711")]),
            ip("2001:db8::7")
        );
        assert_eq!(
            client(&[("x-forwarded-for", "2001:db8::7")]),
            ip("2001:db8::7")
        );
        // Only proxies in the chain: the farthest is the client (a call from inside).
        assert_eq!(
            client(&[("x-forwarded-for", "10.1.1.1, 10.2.2.2")]),
            ip("10.1.1.1")
        );
    }

    #[test]
    fn garbage_falls_back_to_the_peer_where_it_matters_only() {
        for garbage in [
            "",
            "unknown",
            "not-an-ip",
            "1.2.3.4.5",
            "203.0.113.5:port",
            ",,,",
            "[::1",
        ] {
            assert_eq!(
                client(&[("x-forwarded-for", garbage)]),
                ip(PROXY),
                "{garbage:?}"
            );
        }
        // Left of the client's address the header is the client's own text: never read.
        assert_eq!(
            client(&[("x-forwarded-for", "garbage, unknown, 203.0.113.5")]),
            ip("203.0.113.5")
        );
        // A trusted hop followed (to its left) by garbage: the peer, not the proxy's guess.
        assert_eq!(
            client(&[("x-forwarded-for", "garbage, 10.3.3.3")]),
            ip(PROXY)
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            X_FORWARDED_FOR,
            http::HeaderValue::from_bytes(b"\xff\xfe").unwrap(),
        );
        assert_eq!(proxies().client_behind(ip(PROXY), &headers), ip(PROXY));
    }

    #[test]
    fn forwarded_is_read_before_x_forwarded_for() {
        assert_eq!(
            client(&[
                ("forwarded", "for=203.0.113.60;proto=https;by=10.0.0.1"),
                ("x-forwarded-for", "198.51.100.1")
            ]),
            ip("203.0.113.60")
        );
        // RFC 7239's own examples.
        assert_eq!(client(&[("forwarded", r#"for="_gazonk""#)]), ip(PROXY));
        assert_eq!(
            client(&[("forwarded", r#"For="[2001:db8::17]:4711""#)]),
            ip("2001:db8::17")
        );
        assert_eq!(
            client(&[("forwarded", r#"for=192.0.2.60;proto=http;by=203.0.113.43"#)]),
            ip("192.0.2.60")
        );
        assert_eq!(
            client(&[("forwarded", r#"for="_gazonk:_port", for=203.0.113.9"#)]),
            ip("203.0.113.9")
        );
        // Empty list elements are no hops.
        assert_eq!(
            client(&[("forwarded", "for=203.0.113.9, ,")]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn forwarded_elements_are_hops_from_the_right() {
        assert_eq!(
            client(&[(
                "forwarded",
                "for=192.0.2.43, for=198.51.100.17;by=203.0.113.60;proto=http;host=example.com"
            )]),
            ip("198.51.100.17")
        );
        assert_eq!(
            client(&[("forwarded", r#"for="[2001:db8::17]:4711", for=10.0.0.2"#)]),
            ip("2001:db8::17")
        );
        assert_eq!(
            client(&[
                ("forwarded", "for=198.51.100.1"),
                ("forwarded", "for=203.0.113.9, for=192.0.2.1")
            ]),
            ip("203.0.113.9")
        );
        // Quoted IPv4 with a port, a quoted pair inside, names in any case, spaces around.
        assert_eq!(
            client(&[("forwarded", r#"  FOR = "203.0.113.9:80""#)]),
            ip(PROXY),
            "no spaces around ="
        );
        assert_eq!(
            client(&[("forwarded", r#"proto=https;FOR="203.0.113.9:80""#)]),
            ip("203.0.113.9")
        );
        assert_eq!(
            client(&[("forwarded", r#"for="203.0.113.\9""#)]),
            ip("203.0.113.9")
        );
        // A comma inside a quoted string does not end the element.
        assert_eq!(
            client(&[("forwarded", r#"for=203.0.113.9;host="a,b", for=10.0.0.2"#)]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn malformed_forwarded_falls_back_to_the_peer() {
        for garbage in [
            "for",
            "for=",
            "for=unknown",
            r#"for="203.0.113.9"#,
            "for=203.0.113.9 junk",
            "for=203.0.113.9;for=198.51.100.1",
            "=203.0.113.9",
            "proto=https",
            "for=[2001:db8::1]",
            r#"for="[2001:db8::1"]"#,
            "for=203.0.113.9, proto=http",
        ] {
            assert_eq!(
                client(&[("forwarded", garbage), ("x-forwarded-for", "198.51.100.1")]),
                ip(PROXY),
                "{garbage:?}"
            );
        }
    }

    /// Every header of up to four characters of the grammar's punctuation and a few address
    /// characters: none panics, and the answer is the peer or an address the text contains.
    #[test]
    fn no_header_text_panics() {
        let alphabet: Vec<char> = "=;,\"\\[]:_ f1.".chars().collect();
        let mut text = String::new();
        let mut counter = vec![0usize; 0];
        for length in 0..=4 {
            counter.clear();
            counter.resize(length, 0);
            loop {
                text.clear();
                text.extend(counter.iter().map(|&i| alphabet[i]));
                for name in ["forwarded", "x-forwarded-for"] {
                    let value = format!("for={text}");
                    for value in [text.as_str(), value.as_str()] {
                        if let Ok(value) = http::HeaderValue::from_str(value) {
                            let mut headers = HeaderMap::new();
                            headers.insert(name, value);
                            let found = proxies().client_behind(ip(PROXY), &headers);
                            // Four characters make no IPv4 address; `::`, `1::` are IPv6.
                            assert!(found == ip(PROXY) || found.is_ipv6(), "{name}: {text:?}");
                        }
                    }
                }
                // The next combination, like an odometer.
                let Some(position) = counter.iter().rposition(|&i| i + 1 < alphabet.len()) else {
                    break;
                };
                counter[position] += 1;
                counter[position + 1..].iter_mut().for_each(|i| *i = 0);
            }
        }
    }

    #[test]
    fn the_peer_comes_from_the_extensions() {
        let addr: SocketAddr = "192.0.2.10:41000".parse().unwrap();
        let mut extensions = Extensions::new();
        assert_eq!(peer_ip(&extensions), None);
        assert_eq!(proxies().client_ip(&extensions, &HeaderMap::new()), None);
        extensions.insert(addr);
        assert_eq!(peer_ip(&extensions), Some(addr.ip()));
        #[cfg(feature = "axum")]
        {
            let connect: SocketAddr = "192.0.2.11:41000".parse().unwrap();
            extensions.insert(axum::extract::ConnectInfo(connect));
            assert_eq!(peer_ip(&extensions), Some(connect.ip()));
        }
        let own: SocketAddr = "[::ffff:192.0.2.12]:41000".parse().unwrap();
        extensions.insert(ClientAddr(own));
        assert_eq!(
            peer_ip(&extensions),
            Some(ip("192.0.2.12")),
            "ours first, IPv4 as IPv4"
        );
    }
}
