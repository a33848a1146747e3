//! Reading credentials from request headers (and, when enabled, a cookie or the query string).
//!
//! Strict RFC 7235 / RFC 6750 syntax: `Authorization: Bearer <b64token>` with a case-insensitive
//! scheme and one or more spaces; at most one `Authorization` header; never a Bearer token and an
//! `X-API-Key` together. Nothing is allocated, and nothing from a rejected header is echoed.
//!
//! ```
//! use http::Request;
//! use tower_api_auth::{credential::Credential, credential::CredentialSources};
//!
//! let sources = CredentialSources::default();
//! let request = Request::get("/")
//!     .header("authorization", "bearer   abc.def.ghi")
//!     .body(())
//!     .unwrap();
//! let presented = sources.extract(request.headers(), request.uri()).unwrap().unwrap();
//! assert_eq!(presented.credential, Credential::Bearer("abc.def.ghi"));
//! ```

use std::fmt;

use http::header::{AUTHORIZATION, COOKIE};
use http::{HeaderMap, HeaderName, HeaderValue, Uri};

use crate::error::{AuthError, AuthErrorKind};

/// A credential as presented, borrowed from the request.
///
/// `Debug` shows its kind and length, never the token or key: `Bearer(<redacted, 123 bytes>)`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Credential<'a> {
    /// A Bearer token (from `Authorization`, the cookie or the query): a JWT or an API key.
    Bearer(&'a str),
    /// The value of the API-key header.
    ApiKey(&'a str),
}

/// Stands for a secret in `Debug` output: its length, never its bytes.
struct Redacted(usize);

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<redacted, {} bytes>", self.0)
    }
}

impl fmt::Debug for Credential<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, secret) = match self {
            Self::Bearer(token) => ("Bearer", token),
            Self::ApiKey(key) => ("ApiKey", key),
        };
        f.debug_tuple(kind).field(&Redacted(secret.len())).finish()
    }
}

/// A credential with the tenant the request names, if any.
///
/// `Debug` shows the tenant and, through [`Credential`]'s, no secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presented<'a> {
    /// The credential.
    pub credential: Credential<'a>,
    /// The raw tenant header, not yet validated.
    pub tenant: Option<&'a str>,
}

/// Where credentials are read from.
///
/// The defaults: `Authorization: Bearer`, `X-API-Key`, `X-Tenant-ID`, tokens up to 8 KiB, no cookie,
/// no query parameter.
///
/// ```
/// use http::{HeaderName, Request};
/// use tower_api_auth::credential::{Credential, CredentialSources};
///
/// let sources = CredentialSources::new()
///     .api_key_header(HeaderName::from_static("x-service-key"))
///     .max_token_len(4096);
/// let request = Request::get("/").header("x-service-key", "sk_live_k1").body(()).unwrap();
/// let presented = sources.extract(request.headers(), request.uri()).unwrap().unwrap();
/// assert_eq!(presented.credential, Credential::ApiKey("sk_live_k1"));
/// // AuthLayer::builder().credentials(sources) …
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CredentialSources {
    /// The API-key header. Default: `x-api-key`.
    pub api_key_header: HeaderName,
    /// The tenant header. Default: `x-tenant-id`.
    pub tenant_header: HeaderName,
    /// The longest token or key accepted, in bytes. Default: 8192.
    pub max_token_len: usize,
    /// A cookie to read a Bearer token from, for browser apps. Default: none.
    ///
    /// A cookie is sent by the browser on its own, so routes that change state need CSRF protection.
    /// A header credential, when present, wins over the cookie.
    ///
    /// An empty cookie (`access_token=` or `access_token=""`, what clearing a cookie often leaves
    /// behind) is no credential: a required layer answers 401 `missing_credentials`, an optional
    /// one lets the request through anonymously. Any other value is a credential like a header's:
    /// a stale one (expired, badly signed, revoked) is rejected with 401 even on an
    /// [`optional`](crate::layer::AuthLayerBuilder::optional) layer, never quietly treated as
    /// anonymous. A browser does not drop such a cookie by itself, so the app must clear it (e.g.
    /// `Set-Cookie: access_token=; Max-Age=0` at logout, and when its client sees a 401).
    pub cookie: Option<String>,
    /// A query parameter to read a Bearer token from (RFC 6750 §2.3). Default: none, and best left so:
    /// URLs end up in logs and browser history.
    pub query_param: Option<String>,
}

/// The default maximum token length, 8 KiB.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;

impl Default for CredentialSources {
    fn default() -> Self {
        Self {
            api_key_header: HeaderName::from_static("x-api-key"),
            tenant_header: HeaderName::from_static("x-tenant-id"),
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            cookie: None,
            query_param: None,
        }
    }
}

impl CredentialSources {
    /// The defaults: `Authorization: Bearer`, `X-API-Key`, `X-Tenant-ID`, tokens up to 8 KiB.
    pub fn new() -> Self {
        Self::default()
    }

    /// The API-key header. Default `X-API-Key`.
    #[must_use]
    pub fn api_key_header(mut self, name: HeaderName) -> Self {
        self.api_key_header = name;
        self
    }

    /// The tenant header. Default `X-Tenant-ID`.
    #[must_use]
    pub fn tenant_header(mut self, name: HeaderName) -> Self {
        self.tenant_header = name;
        self
    }

    /// The longest token or key accepted, in bytes. Default 8 KiB.
    #[must_use]
    pub fn max_token_len(mut self, bytes: usize) -> Self {
        self.max_token_len = bytes;
        self
    }

    /// Also reads a Bearer token from this cookie (a header credential wins). Needs CSRF
    /// protection on routes that change state.
    #[must_use]
    pub fn cookie(mut self, name: impl Into<String>) -> Self {
        self.cookie = Some(name.into());
        self
    }

    /// Also reads a Bearer token from this query parameter (RFC 6750 §2.3). Avoid if you can.
    #[must_use]
    pub fn query_param(mut self, name: impl Into<String>) -> Self {
        self.query_param = Some(name.into());
        self
    }
}

fn invalid_request(message: &'static str) -> AuthError {
    AuthError::new(AuthErrorKind::InvalidRequest).with_message(message)
}

/// Whether `b` may appear in a b64token body, written as comparisons (no table lookup) so that the
/// compiler can check many bytes per instruction.
#[inline(always)]
fn is_b64token_byte(b: u8) -> bool {
    let digit = b.wrapping_sub(b'0') < 10;
    let letter = (b | 0x20).wrapping_sub(b'a') < 26;
    digit
        | letter
        | (b == b'-')
        | (b == b'.')
        | (b == b'_')
        | (b == b'~')
        | (b == b'+')
        | (b == b'/')
}

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
///
/// Every request pays for this scan, so it ORs a flag per byte with no branch, which the compiler
/// turns into SIMD: about 0.3 instructions a byte where a short-circuiting `all` took 3 (callgrind,
/// an RS256 token's 550 bytes: some 1,500 instructions, a tenth of a microsecond, per request).
fn is_b64token(token: &[u8]) -> bool {
    let padding = token.iter().rev().take_while(|&&b| b == b'=').count();
    let body = &token[..token.len() - padding];
    let invalid = body
        .iter()
        .fold(0u8, |acc, &b| acc | u8::from(!is_b64token_byte(b)));
    !body.is_empty() && invalid == 0
}

/// The headers a credential can come in, found in one pass over the request's headers.
///
/// One pass, not a lookup per name: a lookup hashes its name and probes the map (some 150
/// instructions with the duplicate check), and the layer needs three of them, where comparing
/// the names of a typical request's 5–10 headers costs a third of that. A request with many
/// dozens of headers pays more; it stays linear and allocation-free.
struct CredentialHeaders<'a> {
    authorization: Slot<'a>,
    api_key: Slot<'a>,
    tenant: Slot<'a>,
}

/// One header's values: none, the only one, or more than one.
#[derive(Clone, Copy)]
enum Slot<'a> {
    Absent,
    Once(&'a HeaderValue),
    Repeated,
}

impl<'a> Slot<'a> {
    fn add(&mut self, value: &'a HeaderValue) {
        *self = match self {
            Slot::Absent => Slot::Once(value),
            Slot::Once(_) | Slot::Repeated => Slot::Repeated,
        };
    }

    /// The only value, `Ok(None)` when absent, or `invalid_request` saying `repeated`.
    fn single(self, repeated: &'static str) -> Result<Option<&'a HeaderValue>, AuthError> {
        match self {
            Slot::Absent => Ok(None),
            Slot::Once(value) => Ok(Some(value)),
            Slot::Repeated => Err(invalid_request(repeated)),
        }
    }
}

/// A credential as found, before the character-set check of a Bearer token.
pub(crate) struct Located<'a> {
    pub(crate) credential: LocatedCredential<'a>,
    pub(crate) tenant: Option<&'a str>,
}

pub(crate) enum LocatedCredential<'a> {
    Bearer(UncheckedToken<'a>),
    ApiKey(&'a str),
}

/// A Bearer token whose length is checked and whose RFC 6750 `b64token` syntax is not yet.
#[derive(Clone, Copy)]
pub(crate) struct UncheckedToken<'a>(&'a [u8]);

impl<'a> UncheckedToken<'a> {
    pub(crate) fn as_bytes(self) -> &'a [u8] {
        self.0
    }

    /// The token, if it is a `b64token`; `invalid_request` otherwise.
    pub(crate) fn check(self) -> Result<&'a str, AuthError> {
        if !is_b64token(self.0) {
            return Err(invalid_request(
                "The token contains characters a Bearer token cannot have",
            ));
        }
        // All ASCII by now, so this cannot fail; std's check of ASCII is vectorized.
        std::str::from_utf8(self.0).map_err(|_| {
            invalid_request("The token contains characters a Bearer token cannot have")
        })
    }
}

impl<'a> Located<'a> {
    fn checked(self) -> Result<Presented<'a>, AuthError> {
        let credential = match self.credential {
            LocatedCredential::Bearer(token) => Credential::Bearer(token.check()?),
            LocatedCredential::ApiKey(key) => Credential::ApiKey(key),
        };
        Ok(Presented {
            credential,
            tenant: self.tenant,
        })
    }
}

impl CredentialSources {
    /// Reads the request's credential and tenant header.
    ///
    /// `Ok(None)` means no credential at all; malformed or conflicting credentials are an
    /// `invalid_request` error.
    pub fn extract<'a>(
        &self,
        headers: &'a HeaderMap,
        uri: &'a Uri,
    ) -> Result<Option<Presented<'a>>, AuthError> {
        self.locate(headers, uri)?.map(Located::checked).transpose()
    }

    /// [`extract`](Self::extract) without the Bearer token's character-set check, which the caller
    /// owes before using the token for anything but verifying it as a JWT (a JWT that verifies is
    /// a `b64token`: its three segments decoded as base64url).
    pub(crate) fn locate<'a>(
        &self,
        headers: &'a HeaderMap,
        uri: &'a Uri,
    ) -> Result<Option<Located<'a>>, AuthError> {
        let found = self.scan(headers);
        let authorization =
            (found.authorization).single("Only one Authorization header is allowed")?;
        let bearer = match authorization {
            Some(value) => self.parse_authorization(value)?,
            None => None,
        };
        let api_key = match found.api_key.single("Only one API key header is allowed")? {
            Some(value) => Some(self.parse_api_key(value)?),
            None => None,
        };
        let token_from_query = match &self.query_param {
            Some(name) => self.token_from_query(uri, name)?,
            None => None,
        };
        let credential = match (bearer, api_key, token_from_query) {
            (Some(token), None, None) | (None, None, Some(token)) => {
                LocatedCredential::Bearer(token)
            }
            (None, Some(key), None) => LocatedCredential::ApiKey(key),
            (None, None, None) => match &self.cookie {
                Some(name) => match self.token_from_cookie(headers, name)? {
                    Some(token) => LocatedCredential::Bearer(token),
                    None => return Ok(None),
                },
                None => return Ok(None),
            },
            _ => {
                return Err(invalid_request(
                    "Send exactly one credential: a Bearer token or an API key, not both",
                ));
            }
        };
        let tenant =
            match found.tenant.single("Only one tenant header is allowed")? {
                Some(value) => Some(value.to_str().map_err(|_| {
                    invalid_request("The X-Tenant-ID header is not a valid tenant id")
                })?),
                None => None,
            };
        Ok(Some(Located { credential, tenant }))
    }

    /// The credential headers of `headers`, in one pass.
    fn scan<'a>(&self, headers: &'a HeaderMap) -> CredentialHeaders<'a> {
        let mut found = CredentialHeaders {
            authorization: Slot::Absent,
            api_key: Slot::Absent,
            tenant: Slot::Absent,
        };
        // Each name on its own, not `else if`: the names may coincide (an API key read from
        // `Authorization` as the raw value, a tenant header that is the API-key header).
        for (name, value) in headers {
            if *name == AUTHORIZATION {
                found.authorization.add(value);
            }
            if *name == self.api_key_header {
                found.api_key.add(value);
            }
            if *name == self.tenant_header {
                found.tenant.add(value);
            }
        }
        found
    }

    /// Marks every header that may carry a credential sensitive (`Authorization`, the API-key
    /// header and, when a cookie is read, `Cookie`), so that tracing and logging layers below
    /// redact them: ours, or another scheme's meant for a proxy. One pass, as [`Self::scan`].
    pub(crate) fn mark_sensitive(&self, headers: &mut HeaderMap) {
        let cookie = self.cookie.is_some();
        for (name, value) in headers.iter_mut() {
            if *name == AUTHORIZATION || *name == self.api_key_header || (cookie && *name == COOKIE)
            {
                value.set_sensitive(true);
            }
        }
    }

    fn check_len<'a>(&self, token: &'a str) -> Result<UncheckedToken<'a>, AuthError> {
        if token.len() > self.max_token_len {
            return Err(invalid_request("The token is too long"));
        }
        Ok(UncheckedToken(token.as_bytes()))
    }

    /// The Bearer token, or `None` for another scheme: RFC 7235 answers a scheme the server does
    /// not support with its own challenge (401), and an optional layer lets such a request through
    /// anonymously, as it would one without the header (e.g. Basic meant for a proxy).
    fn parse_authorization<'a>(
        &self,
        value: &'a HeaderValue,
    ) -> Result<Option<UncheckedToken<'a>>, AuthError> {
        // Checked before any parsing so that a huge header costs nothing more.
        if value.len() > self.max_token_len + 64 {
            return Err(invalid_request("The token is too long"));
        }
        // Parsed as bytes: the b64token check admits only ASCII, so the header needs no separate
        // visible-ASCII pass (every request would pay for it).
        let value = value.as_bytes();
        // The spelling every client sends first: one comparison of seven bytes, where finding the
        // space and folding the scheme's case cost some 80 instructions a request
        // (`benches/compare`).
        let rest = match value.strip_prefix(b"Bearer ") {
            Some(rest) => rest,
            None => {
                let (scheme, rest) = match value.iter().position(|&b| b == b' ') {
                    Some(space) => (&value[..space], &value[space + 1..]),
                    None => (value, &[][..]),
                };
                if !scheme.eq_ignore_ascii_case(b"bearer") {
                    return Ok(None);
                }
                rest
            }
        };
        let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
        let end = rest
            .iter()
            .rposition(|&b| b != b' ')
            .map_or(start, |last| last + 1);
        let token = &rest[start..end];
        if token.is_empty() {
            return Err(invalid_request("The Bearer token is empty"));
        }
        if token.len() > self.max_token_len {
            return Err(invalid_request("The token is too long"));
        }
        Ok(Some(UncheckedToken(token)))
    }

    fn parse_api_key<'a>(&self, value: &'a HeaderValue) -> Result<&'a str, AuthError> {
        if value.len() > self.max_token_len {
            return Err(invalid_request("The API key is too long"));
        }
        let key = value
            .to_str()
            .map_err(|_| invalid_request("The API key header is not visible ASCII"))?
            // Spaces and tabs (RFC 9110's OWS): the only whitespace `to_str` lets through.
            .trim_ascii();
        if key.is_empty() {
            return Err(invalid_request("The API key header is empty"));
        }
        Ok(key)
    }

    fn token_from_query<'a>(
        &self,
        uri: &'a Uri,
        name: &str,
    ) -> Result<Option<UncheckedToken<'a>>, AuthError> {
        let Some(query) = uri.query() else {
            return Ok(None);
        };
        let mut found = None;
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if key == name {
                if found.is_some() {
                    return Err(invalid_request(
                        "Only one access token parameter is allowed",
                    ));
                }
                found = Some(value);
            }
        }
        found.map(|token| self.check_len(token)).transpose()
    }

    fn token_from_cookie<'a>(
        &self,
        headers: &'a HeaderMap,
        name: &str,
    ) -> Result<Option<UncheckedToken<'a>>, AuthError> {
        let mut found = None;
        for header in headers.get_all(COOKIE) {
            let Ok(header) = header.to_str() else {
                continue;
            };
            for pair in header.split(';') {
                let (key, value) = pair.trim_start().split_once('=').unwrap_or((pair, ""));
                if key == name {
                    let value = value.trim_end();
                    let value = value
                        .strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .unwrap_or(value);
                    // An empty cookie is what clearing one leaves behind: no credential.
                    if value.is_empty() {
                        continue;
                    }
                    if found.is_some() {
                        return Err(invalid_request("Only one credential cookie is allowed"));
                    }
                    found = Some(value);
                }
            }
        }
        found.map(|token| self.check_len(token)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extract(
        sources: &CredentialSources,
        headers: &[(&str, &str)],
        uri: &str,
    ) -> Result<Option<Presented<'static>>, AuthErrorKind> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let map: &'static HeaderMap = Box::leak(Box::new(map));
        let uri: &'static Uri = Box::leak(Box::new(uri.parse().unwrap()));
        sources.extract(map, uri).map_err(|e| e.kind())
    }

    fn bearer(value: &str) -> Result<Option<Presented<'static>>, AuthErrorKind> {
        extract(
            &CredentialSources::default(),
            &[("authorization", value)],
            "/",
        )
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_with_space_runs() {
        for value in [
            "Bearer a.b.c",
            "bearer a.b.c",
            "BEARER   a.b.c",
            "Bearer   a.b.c  ",
            "beaRer a.b.c",
        ] {
            assert_eq!(
                bearer(value).unwrap().unwrap().credential,
                Credential::Bearer("a.b.c")
            );
        }
    }

    #[test]
    fn malformed_authorization_is_invalid_request() {
        for value in [
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer a,b",
            "Bearer ===",
        ] {
            assert_eq!(
                bearer(value).unwrap_err(),
                AuthErrorKind::InvalidRequest,
                "{value:?}"
            );
        }
    }

    #[test]
    fn other_schemes_are_no_bearer_credential() {
        for value in ["Basic dXNlcjpwYXNz", "Bearertoken", "Digest x=1"] {
            assert_eq!(bearer(value).unwrap(), None, "{value:?}");
        }
        // A Basic header beside an API key is not a second credential.
        let p = extract(
            &CredentialSources::default(),
            &[("authorization", "Basic dXNlcjpwYXNz"), ("x-api-key", "k")],
            "/",
        )
        .unwrap()
        .unwrap();
        assert_eq!(p.credential, Credential::ApiKey("k"));
    }

    #[test]
    fn an_api_key_is_read_without_surrounding_spaces_and_tabs() {
        for value in ["k", " k", "k  ", "\tk\t", " \t k \t "] {
            let presented = extract(&CredentialSources::default(), &[("x-api-key", value)], "/");
            assert_eq!(
                presented.unwrap().unwrap().credential,
                Credential::ApiKey("k"),
                "{value:?}"
            );
        }
        let blank = extract(&CredentialSources::default(), &[("x-api-key", " \t ")], "/");
        assert_eq!(blank.unwrap_err(), AuthErrorKind::InvalidRequest);
    }

    #[test]
    fn api_key_and_tenant_headers_must_be_visible_ascii() {
        let sources = CredentialSources::default();
        for (name, other, message) in [
            (
                "x-api-key",
                "x-tenant-id",
                "The API key header is not visible ASCII",
            ),
            (
                "x-tenant-id",
                "x-api-key",
                "The X-Tenant-ID header is not a valid tenant id",
            ),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(name, HeaderValue::from_bytes(b"sk_caf\xe9").unwrap());
            headers.insert(other, HeaderValue::from_static("tn_a"));
            let error = sources
                .extract(&headers, &Uri::from_static("/"))
                .unwrap_err();
            assert_eq!(error.kind(), AuthErrorKind::InvalidRequest, "{name}");
            // This header's own check, not some other refusal of the same kind.
            assert_eq!(error.message(), message, "{name}");
        }
    }

    #[test]
    fn token_length_is_limited() {
        let sources = CredentialSources {
            max_token_len: 10,
            ..CredentialSources::default()
        };
        let ok = extract(&sources, &[("authorization", "Bearer 0123456789")], "/");
        assert!(ok.unwrap().is_some());
        let long = extract(&sources, &[("authorization", "Bearer 0123456789a")], "/");
        assert_eq!(long.unwrap_err(), AuthErrorKind::InvalidRequest);
    }

    #[test]
    fn conflicting_credentials_are_rejected() {
        let s = CredentialSources::default();
        let two = extract(
            &s,
            &[("authorization", "Bearer a"), ("authorization", "Bearer b")],
            "/",
        );
        assert_eq!(two.unwrap_err(), AuthErrorKind::InvalidRequest);
        // Any credential header twice, wherever the copies are among the others.
        let keys = [
            ("x-api-key", "sk_1"),
            ("accept", "*/*"),
            ("x-api-key", "sk_2"),
        ];
        let tenants = [
            ("x-tenant-id", "tn_1"),
            ("x-api-key", "sk_1"),
            ("x-tenant-id", "tn_2"),
        ];
        for repeated in [&keys[..], &tenants[..]] {
            let error = extract(&s, repeated, "/").unwrap_err();
            assert_eq!(error, AuthErrorKind::InvalidRequest, "{repeated:?}");
        }
        let both = extract(
            &s,
            &[("authorization", "Bearer a"), ("x-api-key", "k")],
            "/",
        );
        assert_eq!(both.unwrap_err(), AuthErrorKind::InvalidRequest);
    }

    #[test]
    fn an_api_key_header_named_authorization_is_still_read() {
        let s = CredentialSources::new().api_key_header(AUTHORIZATION);
        let found = extract(&s, &[("authorization", "sk_live_k1")], "/").unwrap();
        assert_eq!(found.unwrap().credential, Credential::ApiKey("sk_live_k1"));
    }

    #[test]
    fn api_key_header_with_tenant() {
        let p = extract(
            &CredentialSources::default(),
            &[("x-api-key", "sk_1"), ("x-tenant-id", "tn_1")],
            "/",
        )
        .unwrap()
        .unwrap();
        assert_eq!(p.credential, Credential::ApiKey("sk_1"));
        assert_eq!(p.tenant, Some("tn_1"));
    }

    #[test]
    fn query_tokens_only_when_enabled() {
        let off = extract(&CredentialSources::default(), &[], "/?access_token=abc");
        assert_eq!(off.unwrap(), None);
        let on = CredentialSources {
            query_param: Some("access_token".into()),
            ..CredentialSources::default()
        };
        let p = extract(&on, &[], "/?x=1&access_token=abc")
            .unwrap()
            .unwrap();
        assert_eq!(p.credential, Credential::Bearer("abc"));
        let both = extract(
            &on,
            &[("authorization", "Bearer abc")],
            "/?access_token=abc",
        );
        assert_eq!(both.unwrap_err(), AuthErrorKind::InvalidRequest);
    }

    #[test]
    fn cookie_is_opt_in_and_header_wins() {
        let off = extract(
            &CredentialSources::default(),
            &[("cookie", "session=abc")],
            "/",
        );
        assert_eq!(off.unwrap(), None);
        let on = CredentialSources {
            cookie: Some("session".into()),
            ..CredentialSources::default()
        };
        let p = extract(&on, &[("cookie", "theme=dark; session=\"abc\"")], "/")
            .unwrap()
            .unwrap();
        assert_eq!(p.credential, Credential::Bearer("abc"));
        let p = extract(
            &on,
            &[("cookie", "session=abc"), ("authorization", "Bearer xyz")],
            "/",
        )
        .unwrap()
        .unwrap();
        assert_eq!(p.credential, Credential::Bearer("xyz"));
    }
}

#[cfg(test)]
mod b64token_tests {
    use super::*;

    #[test]
    fn the_byte_test_matches_the_grammar() {
        for b in 0..=255u8 {
            let expected = b.is_ascii_alphanumeric() || b"-._~+/".contains(&b);
            assert_eq!(is_b64token_byte(b), expected, "{b:#04x}");
        }
        assert!(is_b64token("a".repeat(100).as_bytes()));
        assert!(!is_b64token(
            format!("{}!{}", "a".repeat(40), "b".repeat(40)).as_bytes()
        ));
        assert!(is_b64token(b"abc=="));
        assert!(!is_b64token(b"=="));
        assert!(!is_b64token("ab\u{e9}".as_bytes()));
    }
}
