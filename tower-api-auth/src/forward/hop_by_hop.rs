//! The headers that belong to one connection and must not be forwarded (RFC 9110 §7.6.1).

use http::HeaderMap;
use http::HeaderName;
use http::header::{CONNECTION, TE, TRANSFER_ENCODING, UPGRADE};

/// Removes the hop-by-hop headers of RFC 9110 §7.6.1 from `headers`: `Connection` and every header
/// it names, `Keep-Alive`, `TE` (but for `TE: trailers`, which gRPC needs end to end),
/// `Transfer-Encoding`, `Upgrade`, and every header whose name starts
/// with `proxy-` (`Proxy-Connection`, `Proxy-Authorization`: the credential meant for this proxy,
/// never for the upstream).
///
/// A proxy removes them in both directions; the connections on each side set their own framing.
/// Removing `Upgrade` means this proxy does not tunnel WebSockets.
///
/// ```
/// use http::HeaderMap;
/// use tower_api_auth::forward::remove_hop_by_hop;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("connection", "close, x-trace".parse().unwrap());
/// headers.insert("x-trace", "on".parse().unwrap());
/// headers.insert("proxy-authorization", "Basic cHJveHk6c2VjcmV0".parse().unwrap());
/// headers.insert("accept", "*/*".parse().unwrap());
/// remove_hop_by_hop(&mut headers);
/// assert_eq!(headers.keys().collect::<Vec<_>>(), ["accept"]);
/// ```
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    // The names `Connection` lists (each of its values is a comma-separated list); one that is
    // no header name (bad bytes) names nothing to remove.
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b','))
        .filter_map(|name| HeaderName::from_bytes(name.trim_ascii()).ok())
        .collect();
    for name in &named {
        headers.remove(name);
    }
    // `TE: trailers` alone is kept: gRPC requires it end to end, and it asks nothing of the
    // connection (RFC 9110 §10.1.4).
    let only_trailers = !headers.get_all(TE).iter().any(|value| {
        !value
            .as_bytes()
            .trim_ascii()
            .eq_ignore_ascii_case(b"trailers")
    });
    if !only_trailers {
        headers.remove(TE);
    }
    for name in [CONNECTION, TRANSFER_ENCODING, UPGRADE] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    let proxy: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with("proxy-"))
        .cloned()
        .collect();
    for name in &proxy {
        headers.remove(name);
    }
}
