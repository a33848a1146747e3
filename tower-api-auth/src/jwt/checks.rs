//! The full verification of a token: header, key, signature, then the claims.

use std::sync::Arc;

use crate::error::{AuthError, AuthErrorKind, rfc3339};
use crate::identity::{AuthMethod, Parts};
use crate::jwt::b64;
use crate::jwt::claims::{ClaimsSeed, OneOrMany, Registered};
use crate::jwt::header;
use crate::jwt::invalid;
use crate::jwt::keys::{JwtKey, JwtKeySet};
use crate::jwt::known_headers::KnownHeaders;
use crate::jwt::options::{AnyClaims, JwtOptions};
use crate::jwt::verified_token::VerifiedJwt;
use crate::scope::Scopes;
use crate::tenant::Tenant;

/// Why a token was not verified.
pub(crate) enum Failure {
    /// Refused, for this reason.
    Rejected(AuthError),
    /// The header names a `kid` the key set does not have: a source that fetches its keys may
    /// have a newer set.
    UnknownKid,
}

impl From<AuthError> for Failure {
    fn from(error: AuthError) -> Self {
        Self::Rejected(error)
    }
}

impl Failure {
    /// The error to answer with when no newer key set is coming.
    pub(crate) fn into_error(self) -> AuthError {
        match self {
            Self::Rejected(error) => error,
            Self::UnknownKid => no_key(),
        }
    }
}

fn no_key() -> AuthError {
    invalid("No trusted key matches the token's key id and algorithm")
}

/// The principal, scopes and tenants as a claim mapping reads them from the payload's JSON.
struct Mapped {
    subject: Option<Arc<str>>,
    scopes: Scopes,
    tenants: Vec<Tenant>,
}

/// The value at `path` in `claims`: the member named `path` if there is one, else a nested
/// member, the path split at a dot (`realm_access.roles`).
fn lookup<'v>(claims: &'v serde_json::Value, path: &str) -> Option<&'v serde_json::Value> {
    if let Some(found) = claims.get(path) {
        return Some(found);
    }
    path.match_indices('.').find_map(|(i, _)| {
        let inner = claims.get(&path[..i]).filter(|inner| inner.is_object())?;
        lookup(inner, &path[i + 1..])
    })
}

/// The strings of a claim that is a string (split at spaces when `split`) or an array of them.
fn strings_of(value: &serde_json::Value, split: bool) -> Option<Vec<&str>> {
    match value {
        serde_json::Value::String(s) if split => {
            Some(s.split(' ').filter(|t| !t.is_empty()).collect())
        }
        serde_json::Value::String(s) => Some(vec![s.as_str()]),
        serde_json::Value::Array(items) => items.iter().map(serde_json::Value::as_str).collect(),
        _ => None,
    }
}

/// The options, with the durations read as the whole seconds JWT times count in.
pub(crate) struct Verifier {
    options: JwtOptions,
    leeway: u64,
    max_lifetime: Option<u64>,
    mapped: bool,
    /// The headers of this issuer's tokens that verified.
    known_headers: KnownHeaders,
    /// The accepted `iss` values, shared: a verified token's identity holds the one it names
    /// rather than a copy of its own (an allocation per verification).
    issuers: Vec<Arc<str>>,
}

/// What the claim checks found: the expiry, and the accepted issuer the token names.
struct Checked {
    expires_at: u64,
    issuer: Option<Arc<str>>,
}

impl Verifier {
    pub(crate) fn new(options: JwtOptions) -> Self {
        Self {
            leeway: options.leeway.as_secs(),
            max_lifetime: options.max_lifetime.map(|lifetime| lifetime.as_secs()),
            mapped: options.mapped(),
            known_headers: KnownHeaders::new(),
            issuers: options
                .issuers
                .iter()
                .map(|iss| Arc::from(iss.as_str()))
                .collect(),
            options,
        }
    }

    pub(crate) fn options(&self) -> &JwtOptions {
        &self.options
    }

    /// The clock-skew tolerance in seconds.
    pub(crate) fn leeway(&self) -> u64 {
        self.leeway
    }

    /// Verifies `token` against `keys` at `now`. Only after the signature verifies is anything in
    /// the token believed: a forged expired token is `invalid_token`, not `token_expired`.
    pub(crate) fn verify(
        &self,
        token: &[u8],
        now: u64,
        keys: &JwtKeySet,
    ) -> Result<VerifiedJwt, Failure> {
        let not_a_jwt = || invalid("The token is not a JWT");
        let Some((header_b64, payload_b64, signature)) = jws_segments(token) else {
            return Err(not_a_jwt().into());
        };
        let message = &token[..header_b64.len() + 1 + payload_b64.len()];
        let known = self.known_headers.get(header_b64);
        let header_was_known = known.is_some();
        let header = match known {
            Some(header) => header,
            None => header::parse(header_b64, self.options.required_typ.as_deref())?,
        };
        let Some(key) = keys.select(header.kid.as_deref(), header.alg) else {
            return Err(match header.kid.as_deref() {
                Some(kid) if !keys.knows_kid(kid) => Failure::UnknownKid,
                _ => no_key().into(),
            });
        };
        if !key
            .prepared
            .verify(key.algorithm, &key.key, message, signature)
        {
            return Err(invalid("The token's signature is invalid").into());
        }
        if !header_was_known {
            self.known_headers.remember(header_b64, &header);
        }
        if !header.typ_ok {
            return Err(invalid("The token's type (typ) is not accepted").into());
        }
        let malformed = || invalid("The token's claims are malformed");
        let payload = b64::decode_vec(payload_b64)
            .ok_or_else(|| invalid("The token payload is not valid base64url"))?;
        // Owned: the identity keeps it, for claims types the validator was not told of.
        let payload = String::from_utf8(payload).map_err(|_| malformed())?;
        let seed = ClaimsSeed {
            scope_claim: self.options.scope_claims.first().map(String::as_str),
            tenant_claim: &self.options.tenant_claim,
            mapped: self.mapped,
        };
        let claims = seed.parse(&payload).map_err(|_| malformed())?;
        let checked = self.check_claims(&claims, now)?;
        let mapped = if self.mapped {
            Some(self.map_claims(&payload)?)
        } else {
            None
        };
        // The application's claims type reads the same payload in a pass of its own; the
        // registered claims above never depend on what it makes of the JSON.
        let custom = match self.options.claims {
            None => None,
            Some(claims_type) => Some(
                (claims_type.decode)(&payload)
                    .map_err(|_| invalid("The token's claims do not have the expected shape"))?,
            ),
        };
        let verified = self.verified(claims, checked, key, mapped, custom)?;
        Ok(verified.with_payload(payload))
    }

    /// Reads the principal, scopes and tenants where the options' claim mapping says.
    fn map_claims(&self, payload: &str) -> Result<Mapped, AuthError> {
        let json: serde_json::Value = serde_json::from_str(payload)
            .map_err(|_| invalid("The token's claims are malformed"))?;
        let principal = self.options.principal_claim.as_deref().unwrap_or("sub");
        let subject = match lookup(&json, principal) {
            Some(serde_json::Value::String(s)) if !s.is_empty() => Some(Arc::from(s.as_str())),
            _ => None,
        };
        let mut scopes = Vec::new();
        let default_scopes = ["scope".to_owned(), "scp".to_owned()];
        let scope_claims = if self.options.scope_claims.is_empty() {
            &default_scopes[..]
        } else {
            &self.options.scope_claims[..]
        };
        let malformed_scope = || invalid("The token's scope claim is malformed");
        for path in scope_claims {
            if let Some(value) = lookup(&json, path) {
                scopes.extend(strings_of(value, true).ok_or_else(malformed_scope)?);
                if self.options.scope_claims.is_empty() {
                    break; // the default: `scope`, else `scp`
                }
            }
        }
        let scopes = Scopes::from_tokens(scopes).map_err(|_| malformed_scope())?;
        let tenants = match lookup(&json, &self.options.tenant_claim) {
            None => Vec::new(),
            Some(value) => strings_of(value, false)
                .and_then(|names| names.into_iter().map(|t| Tenant::new(t).ok()).collect())
                .ok_or_else(|| invalid("The token's tenant claim is malformed"))?,
        };
        Ok(Mapped {
            subject,
            scopes,
            tenants,
        })
    }

    /// The time, issuer and audience checks.
    fn check_claims(&self, c: &Registered<'_>, now: u64) -> Result<Checked, AuthError> {
        let now = i64::try_from(now).unwrap_or(i64::MAX);
        let leeway = i64::try_from(self.leeway).unwrap_or(i64::MAX);
        let exp = c
            .exp
            .ok_or_else(|| invalid("The token has no expiry (exp)"))?;
        if now >= exp.saturating_add(leeway) {
            let expired_at = u64::try_from(exp).unwrap_or(0);
            return Err(AuthError::new(AuthErrorKind::TokenExpired)
                .with_detail("expired_at", rfc3339(expired_at)));
        }
        if let Some(nbf) = c.nbf
            && now.saturating_add(leeway) < nbf
        {
            return Err(AuthError::new(AuthErrorKind::TokenNotYetValid)
                .with_detail("not_before", rfc3339(u64::try_from(nbf).unwrap_or(0))));
        }
        if let Some(iat) = c.iat
            && now.saturating_add(leeway) < iat
        {
            return Err(AuthError::new(AuthErrorKind::TokenNotYetValid)
                .with_message("The access token was issued in the future"));
        }
        if let Some(max) = self.max_lifetime {
            let iat = c
                .iat
                .ok_or_else(|| invalid("The token has no issue time (iat)"))?;
            if exp.saturating_sub(iat) > i64::try_from(max).unwrap_or(i64::MAX) {
                return Err(invalid(
                    "The token's lifetime exceeds the maximum this service accepts",
                ));
            }
        }
        let mut issuer = None;
        if !self.issuers.is_empty() {
            let iss = c
                .iss
                .as_deref()
                .ok_or_else(|| invalid("The token has no issuer (iss)"))?;
            let accepted = self.issuers.iter().find(|accepted| ***accepted == *iss);
            issuer =
                Some(Arc::clone(accepted.ok_or_else(|| {
                    invalid("The token's issuer is not accepted")
                })?));
        }
        let audiences = &self.options.audiences;
        match (&c.aud, audiences.is_empty()) {
            (None, true) => {}
            (None, false) => return Err(invalid("The token has no audience (aud)")),
            // RFC 7519 §4.1.3: a token meant for named audiences is refused by a service that is none of them.
            (Some(_), true) => {
                return Err(invalid(
                    "The token names an audience and this service is configured with none",
                ));
            }
            (Some(aud), false) => {
                if !aud.iter().any(|a| audiences.iter().any(|ok| ok == a)) {
                    return Err(invalid("The token's audience is not accepted"));
                }
            }
        }
        let expires_at =
            u64::try_from(exp).map_err(|_| invalid("The token has no expiry (exp)"))?;
        Ok(Checked { expires_at, issuer })
    }

    fn verified(
        &self,
        c: Registered<'_>,
        checked: Checked,
        key: &JwtKey,
        mapped: Option<Mapped>,
        custom: Option<AnyClaims>,
    ) -> Result<VerifiedJwt, AuthError> {
        if let Some(mapped) = mapped {
            let subject = mapped
                .subject
                .ok_or_else(|| invalid("The token has no subject (sub)"))?;
            return Ok(finish(
                &c,
                key,
                subject,
                mapped.scopes,
                mapped.tenants,
                checked,
                custom,
            ));
        }
        let subject = match c.sub.as_deref() {
            Some(sub) if !sub.is_empty() => Arc::from(sub),
            _ => return Err(invalid("The token has no subject (sub)")),
        };
        let scopes = match (&c.scope, &c.scp) {
            (Some(OneOrMany::One(list)), _) => Scopes::parse(list),
            (Some(many), _) | (None, Some(many)) => Scopes::from_tokens(many.iter()),
            (None, None) => Ok(Scopes::empty()),
        }
        .map_err(|_| invalid("The token's scope claim is malformed"))?;
        let tenants = match &c.tenants {
            None => Vec::new(),
            Some(tenants) => tenants
                .iter()
                .map(Tenant::new)
                .collect::<Result<_, _>>()
                .map_err(|_| invalid("The token's tenant claim is malformed"))?,
        };
        Ok(finish(&c, key, subject, scopes, tenants, checked, custom))
    }
}

/// The verified token of claims `c` whose signature `key` verified.
fn finish(
    c: &Registered<'_>,
    key: &JwtKey,
    subject: Arc<str>,
    scopes: Scopes,
    tenants: Vec<Tenant>,
    checked: Checked,
    claims: Option<AnyClaims>,
) -> VerifiedJwt {
    let Checked { expires_at, issuer } = checked;
    let shared = |claim: &Option<std::borrow::Cow<'_, str>>| claim.as_deref().map(Arc::from);
    VerifiedJwt {
        facts: Arc::new(Parts {
            principal: subject,
            method: AuthMethod::Jwt,
            scopes,
            expires_at: Some(expires_at),
            key_id: key.kid.clone(),
            session_id: shared(&c.sid),
            token_id: shared(&c.jti),
            client_id: shared(&c.client_id),
            api_key_id: shared(&c.api_key_id),
            issuer: issuer.or_else(|| shared(&c.iss)),
            claims,
            payload: None, // set by `with_payload` once `c`, which borrows it, is done with
        }),
        tenants,
        expires_at,
        // A cache hit must refuse what the full check refuses if the clock steps back: the
        // later of nbf and iat bounds the start.
        not_before: match (c.nbf, c.iat) {
            (Some(nbf), Some(iat)) => Some(nbf.max(iat)),
            (nbf, iat) => nbf.or(iat),
        },
        key: key.id,
    }
}

/// The header, payload and signature of a compact JWS: exactly two dots. Found with `memchr`
/// (word-at-a-time), where a byte-by-byte `split` cost some 1,400 instructions of a 230-byte
/// token's full verification.
fn jws_segments(token: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let first = memchr::memchr(b'.', token)?;
    let (header, rest) = (&token[..first], &token[first + 1..]);
    let second = memchr::memchr(b'.', rest)?;
    let (payload, signature) = (&rest[..second], &rest[second + 1..]);
    if memchr::memchr(b'.', signature).is_some() {
        return None;
    }
    Some((header, payload, signature))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compact_jws_has_exactly_three_segments() {
        let segments = |token: &str| {
            jws_segments(token.as_bytes()).map(|(h, p, s)| {
                [h, p, s].map(|part| String::from_utf8(part.to_vec()).expect("ascii"))
            })
        };
        assert_eq!(
            segments("ab.cd.ef"),
            Some(["ab", "cd", "ef"].map(String::from))
        );
        assert_eq!(segments("a..c"), Some(["a", "", "c"].map(String::from)));
        assert_eq!(segments(".."), Some(["", "", ""].map(String::from)));
        for not_three in ["", "abc", "a.b", "a.b.c.d", "a.b.c.", "...."] {
            assert_eq!(segments(not_three), None, "{not_three:?}");
        }
    }

    #[test]
    fn a_claim_path_finds_whole_names_with_dots_first_then_nested_members() {
        let claims = serde_json::json!({
            "https://example.com/org": "tn_whole",
            "realm_access": { "roles": ["a", "b"] },
            "a": { "b.c": { "d": 1 } },
        });
        assert_eq!(
            lookup(&claims, "https://example.com/org"),
            Some(&serde_json::json!("tn_whole"))
        );
        assert_eq!(
            lookup(&claims, "realm_access.roles"),
            Some(&serde_json::json!(["a", "b"]))
        );
        assert_eq!(lookup(&claims, "a.b.c.d"), Some(&serde_json::json!(1)));
        assert_eq!(lookup(&claims, "realm_access.missing"), None);
        assert_eq!(lookup(&claims, "https://example.com/org.x"), None);
    }

    #[test]
    fn scope_claims_are_strings_split_at_spaces_or_arrays_of_strings() {
        let s = serde_json::json!("read  write");
        assert_eq!(strings_of(&s, true), Some(vec!["read", "write"]));
        assert_eq!(strings_of(&s, false), Some(vec!["read  write"]));
        assert_eq!(
            strings_of(&serde_json::json!(["x", "y"]), true),
            Some(vec!["x", "y"])
        );
        assert_eq!(strings_of(&serde_json::json!(["x", 1]), true), None);
        assert_eq!(strings_of(&serde_json::json!({}), true), None);
    }
}
