//! Which headers carry the identity to the upstream, and how their values are written.

use std::borrow::Cow;

use http::{HeaderMap, HeaderName, HeaderValue, header::AUTHORIZATION};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use super::{cookie, hop_by_hop};
use crate::credential::CredentialSources;
use crate::identity::Identity;

/// The default identity header names: always removed from incoming requests.
const DEFAULT_NAMES: [&str; 5] = [
    "x-auth-principal",
    "x-auth-tenant",
    "x-auth-scopes",
    "x-auth-method",
    "x-auth-key-id",
];

/// The bytes [`encode_value`] writes as `%XX`: controls, space and `%` itself (and, always, every
/// byte of a non-ASCII character). Space because a header value's leading and trailing spaces are
/// dropped by every parser, so `" admin"` would arrive as `"admin"`; `%` so that decoding gives
/// back exactly the original.
const ENCODED: &AsciiSet = &CONTROLS.add(b' ').add(b'%');

/// `text` as a header value: unchanged when it is visible ASCII without `%`, otherwise with each
/// other byte percent-encoded (RFC 3986 §2.1, uppercase hex) — `Zoë 50%` is `Zo%C3%AB%2050%25`.
///
/// Always a valid header value, never a panic, and lossless: any percent-decoder gives back
/// `text`. A principal can be any string (a JWT's `sub`, a remote issuer's subject), and one
/// holding `\r\n` must neither break the request nor pass for a second header.
///
/// ```
/// use tower_api_auth::forward::encode_value;
///
/// assert_eq!(encode_value("user_42"), "user_42");
/// assert_eq!(encode_value("Zoë 50%"), "Zo%C3%AB%2050%25");
/// assert_eq!(encode_value("bob\r\nx-auth-tenant: evil"), "bob%0D%0Ax-auth-tenant:%20evil");
/// ```
pub fn encode_value(text: &str) -> HeaderValue {
    let encoded: Cow<'_, str> = utf8_percent_encode(text, ENCODED).into();
    let value = match encoded {
        Cow::Borrowed(text) => HeaderValue::from_str(text),
        Cow::Owned(text) => HeaderValue::try_from(text),
    };
    // What is left after encoding is visible ASCII (0x21–0x7E), which every header value may hold.
    value.expect("percent-encoded text is visible ASCII")
}

/// The names of the headers that carry the identity to the upstream, and the incoming headers
/// that never reach it.
///
/// | header (default) | value | when absent |
/// | --- | --- | --- |
/// | `x-auth-principal` | [`Identity::principal`] | never, for an authenticated request |
/// | `x-auth-tenant` | [`Identity::tenant`] | the request acts for no tenant |
/// | `x-auth-scopes` | [`Identity::scopes`], space-separated | no scope is granted |
/// | `x-auth-method` | [`AuthMethod::as_str`](crate::AuthMethod::as_str): `jwt`, `api_key`, `opaque_token` | never, for an authenticated request |
/// | `x-auth-key-id` | [`Identity::key_id`]: the API key's public id, or the `kid` of the key that verified the JWT | the credential names no key |
///
/// Values are written by [`encode_value`]: as they are when they are visible ASCII without `%`
/// (tenants, methods and the crate's key ids always are), percent-encoded otherwise, so an
/// upstream that may see other principals percent-decodes the principal (each scope, and the key
/// id of an outside issuer, likewise). A header is absent, never empty, when the identity has no
/// such value. Each incoming copy of the names set, and of the five defaults even when renamed
/// or not forwarded, is removed first, whatever the request carries, and so is any spelling
/// with `_` for `-` (`x_auth_principal`, which many upstream stacks read as the same header), so
/// the upstream can trust both a header and its absence. A request that reaches the
/// layer without an identity (an [`optional`](crate::AuthLayer::optional) auth layer let it
/// through anonymously) gets none of them.
///
/// The credential headers removed are `Authorization`, `X-API-Key` and `X-Tenant-ID`;
/// [`credentials`](Self::credentials) adds the names (and the cookie) the auth layer reads. A
/// credential in a query parameter stays in the URI: do not enable
/// [`query_param`](crate::credential::CredentialSources::query_param) on a proxy.
///
/// ```
/// use http::HeaderName;
/// use tower_api_auth::forward::IdentityHeaders;
///
/// let headers = IdentityHeaders::new()
///     .principal(HeaderName::from_static("x-user"))
///     .key_id(None) // not forwarded (an incoming `x-auth-key-id` is still removed)
///     .remove(HeaderName::from_static("x-forwarded-user")); // one more the upstream trusts
/// # let _ = headers;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct IdentityHeaders {
    principal: Option<HeaderName>,
    tenant: Option<HeaderName>,
    scopes: Option<HeaderName>,
    method: Option<HeaderName>,
    key_id: Option<HeaderName>,
    /// The credential headers: the defaults and those of [`IdentityHeaders::credentials`].
    credentials: Vec<HeaderName>,
    /// Other incoming headers the upstream must not see ([`IdentityHeaders::remove`]).
    removed: Vec<HeaderName>,
    /// The cookie a Bearer token is read from, taken out of `Cookie`.
    cookie: Option<String>,
}

impl Default for IdentityHeaders {
    fn default() -> Self {
        Self::from_sources(&CredentialSources::default())
    }
}

impl IdentityHeaders {
    /// The default names: `x-auth-principal`, `x-auth-tenant`, `x-auth-scopes`, `x-auth-method`,
    /// `x-auth-key-id`; removes `Authorization`, `X-API-Key` and `X-Tenant-ID`.
    pub fn new() -> Self {
        Self::default()
    }

    fn from_sources(sources: &CredentialSources) -> Self {
        Self {
            principal: Some(HeaderName::from_static("x-auth-principal")),
            tenant: Some(HeaderName::from_static("x-auth-tenant")),
            scopes: Some(HeaderName::from_static("x-auth-scopes")),
            method: Some(HeaderName::from_static("x-auth-method")),
            key_id: Some(HeaderName::from_static("x-auth-key-id")),
            credentials: credential_headers(sources),
            removed: Vec::new(),
            cookie: sources.cookie.clone(),
        }
    }

    /// The principal's header, or `None` not to forward it.
    pub fn principal(mut self, name: impl Into<Option<HeaderName>>) -> Self {
        self.principal = name.into();
        self
    }

    /// The tenant's header, or `None` not to forward it.
    pub fn tenant(mut self, name: impl Into<Option<HeaderName>>) -> Self {
        self.tenant = name.into();
        self
    }

    /// The scopes' header (space-separated), or `None` not to forward them.
    pub fn scopes(mut self, name: impl Into<Option<HeaderName>>) -> Self {
        self.scopes = name.into();
        self
    }

    /// The authentication method's header, or `None` not to forward it.
    pub fn method(mut self, name: impl Into<Option<HeaderName>>) -> Self {
        self.method = name.into();
        self
    }

    /// The key id's header, or `None` not to forward it.
    pub fn key_id(mut self, name: impl Into<Option<HeaderName>>) -> Self {
        self.key_id = name.into();
        self
    }

    /// Also removes the credentials the auth layer reads with `sources`: its API-key and tenant
    /// headers, and its credential cookie (out of `Cookie`, the other cookies kept). The default
    /// credential headers are still removed.
    pub fn credentials(mut self, sources: &CredentialSources) -> Self {
        for name in credential_headers(sources) {
            if !self.credentials.contains(&name) {
                self.credentials.push(name);
            }
        }
        self.cookie = sources.cookie.clone();
        self
    }

    /// Also removes every incoming `name` header (one the upstream trusts, such as a
    /// `x-forwarded-user` of its own).
    pub fn remove(mut self, name: HeaderName) -> Self {
        self.removed.push(name);
        self
    }

    /// Rewrites `headers` for the upstream: removes the hop-by-hop headers, the credentials and
    /// every incoming copy of the identity headers, then sets these from `identity` (none when it
    /// is `None`). What [`ForwardIdentity`](super::ForwardIdentity) does to each request; call it
    /// directly in a proxy that is not a tower service.
    pub fn apply(&self, identity: Option<&Identity>, headers: &mut HeaderMap) {
        hop_by_hop::remove_hop_by_hop(headers);
        for name in self.credentials.iter().chain(&self.removed) {
            headers.remove(name);
        }
        if let Some(name) = &self.cookie {
            cookie::remove_cookie(headers, name);
        }
        self.remove_identity_copies(headers);
        let Some(identity) = identity else {
            return;
        };
        let mut set = |name: &Option<HeaderName>, value: Option<HeaderValue>| {
            if let (Some(name), Some(value)) = (name, value) {
                headers.insert(name, value);
            }
        };
        set(&self.principal, Some(encode_value(identity.principal())));
        set(
            &self.tenant,
            identity
                .tenant()
                .map(|tenant| encode_value(tenant.as_str())),
        );
        set(&self.scopes, scopes_value(identity));
        set(
            &self.method,
            Some(HeaderValue::from_static(identity.method().as_str())),
        );
        set(&self.key_id, identity.key_id().map(encode_value));
    }

    /// Removes every incoming copy of an identity header: of the names set, of the five default
    /// names whether or not they are forwarded (an upstream once written against them must never
    /// read a client's value), and of any spelling with `_` for `-`, which CGI, PHP-FPM, Rack and
    /// WSGI fold into the same variable (`HTTP_X_AUTH_PRINCIPAL`) as the real header.
    ///
    /// The same spellings of the credential headers and of the names given to
    /// [`remove`](Self::remove) go too: a client must reach the upstream with none of them.
    fn remove_identity_copies(&self, headers: &mut HeaderMap) {
        // Compared byte by byte, `_` as `-`: no allocation per header of every request.
        let reserved = || {
            self.names()
                .chain(&self.credentials)
                .chain(&self.removed)
                .map(HeaderName::as_str)
                .chain(DEFAULT_NAMES)
        };
        let spelled: Vec<HeaderName> = headers
            .keys()
            .filter(|name| reserved().any(|reserved| same_folded(name.as_str(), reserved)))
            .cloned()
            .collect();
        for name in spelled {
            headers.remove(name);
        }
    }

    /// The identity headers that are set.
    fn names(&self) -> impl Iterator<Item = &HeaderName> {
        [
            &self.principal,
            &self.tenant,
            &self.scopes,
            &self.method,
            &self.key_id,
        ]
        .into_iter()
        .flatten()
    }
}

/// Whether two header names (lowercase, as `HeaderName` holds them) are the same once every `_`
/// is read as `-`.
fn same_folded(a: &str, b: &str) -> bool {
    let fold = |byte: &u8| if *byte == b'_' { b'-' } else { *byte };
    a.len() == b.len()
        && a.as_bytes()
            .iter()
            .map(fold)
            .eq(b.as_bytes().iter().map(fold))
}

/// `Authorization` and the API-key and tenant headers of `sources`.
fn credential_headers(sources: &CredentialSources) -> Vec<HeaderName> {
    vec![
        AUTHORIZATION,
        sources.api_key_header.clone(),
        sources.tenant_header.clone(),
    ]
}

/// The granted scopes, each encoded, joined by spaces; `None` when there are none.
fn scopes_value(identity: &Identity) -> Option<HeaderValue> {
    let scopes = identity.scopes();
    if scopes.is_empty() {
        return None;
    }
    // One string, written in place: no string per scope and no list of them.
    let mut joined = String::new();
    for scope in scopes.iter() {
        if !joined.is_empty() {
            joined.push(' ');
        }
        joined.extend(utf8_percent_encode(scope, ENCODED));
    }
    // Encoded tokens and single spaces between them, none at either end: a valid header value.
    Some(HeaderValue::try_from(joined).expect("encoded scopes are visible ASCII and spaces"))
}
