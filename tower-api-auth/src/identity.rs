//! The authenticated caller, as handlers see it.
//!
//! ```
//! use tower_api_auth::{AuthMethod, Identity, scope::Scopes};
//!
//! let identity = Identity::builder("user_42", AuthMethod::Jwt)
//!     .scopes(Scopes::parse("conversations:read").unwrap())
//!     .expires_at(1_900_000_000)
//!     .build();
//! assert_eq!(identity.principal(), "user_42");
//! assert!(identity.has_scope("conversations:read"));
//! assert_eq!(
//!     serde_json::to_value(&identity).unwrap()["method"],
//!     "jwt"
//! );
//! ```

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde::ser::SerializeStruct;

use crate::api_key::KeyRecord;
use crate::error::{AuthError, AuthErrorKind};
use crate::scope::Scopes;
use crate::tenant::Tenant;

/// How the caller authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuthMethod {
    /// A JWT Bearer token.
    Jwt,
    /// An API key (in `X-API-Key`, as a Bearer token, or from a cookie).
    ApiKey,
    /// An opaque Bearer token, judged by its issuer (RFC 7662 introspection).
    OpaqueToken,
}

impl AuthMethod {
    /// The method's name, as it serializes: `jwt`, `api_key` or `opaque_token`.
    ///
    /// ```
    /// use tower_api_auth::AuthMethod;
    ///
    /// assert_eq!(AuthMethod::ApiKey.as_str(), "api_key");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jwt => "jwt",
            Self::ApiKey => "api_key",
            Self::OpaqueToken => "opaque_token",
        }
    }
}

/// The authenticated caller: principal, method, tenant, scopes, expiry, key id and claims.
///
/// Cheap to clone (one `Arc`). The auth layer puts it in the request's extensions; with the `axum`
/// feature it is also an extractor (and `Option<Identity>` one for optional authentication).
///
/// ```
/// # #[cfg(feature = "axum")]
/// # fn main() {
/// use axum::{Json, Router, routing::get};
/// use tower_api_auth::Identity;
///
/// // Serializes as {"principal":…,"method":"jwt","tenant":…,"scopes":[…],"expires_at":…}.
/// async fn me(identity: Identity) -> Json<Identity> {
///     Json(identity)
/// }
///
/// async fn greeting(identity: Option<Identity>) -> String {
///     match identity {
///         Some(identity) if identity.has_scope("admin") => "hello, admin".into(),
///         Some(identity) => format!("hello, {}", identity.principal()),
///         None => "hello, stranger".into(),
///     }
/// }
///
/// let app: Router = Router::new().route("/me", get(me)).route("/hello", get(greeting));
/// # let _ = app;
/// # }
/// # #[cfg(not(feature = "axum"))]
/// # fn main() {}
/// ```
///
/// Without axum, read it from the request: `request.extensions().get::<Identity>()`. Tests and
/// custom authenticators build one with [`Identity::builder`].
#[derive(Clone)]
pub struct Identity {
    holder: Holder,
    tenant: Option<Tenant>,
}

/// Where an identity's fields are read from.
#[derive(Clone)]
enum Holder {
    /// What a token said (or what was built by hand), and the record of the API key behind it
    /// (the one a JWT was exchanged for): one reference count, read for its metadata (a
    /// rate-limit plan) without copying it. Beside the parts, which a cached token shares,
    /// because the key is looked up on every request.
    Parts {
        parts: Arc<Parts>,
        key_record: Option<Arc<KeyRecord>>,
    },
    /// An API key presented: every field is read from its record, which the key store shares,
    /// so a key's identity costs one reference count and no allocation per request.
    Key(Arc<KeyRecord>),
}

/// What a credential says about its holder: every field of an [`Identity`] but the tenant the
/// request selected. A verified token keeps its `Parts` in the token cache, so a cache hit hands
/// them to its identity with one reference count.
pub(crate) struct Parts {
    pub(crate) principal: Arc<str>,
    pub(crate) method: AuthMethod,
    pub(crate) scopes: Scopes,
    pub(crate) expires_at: Option<u64>,
    pub(crate) key_id: Option<Arc<str>>,
    pub(crate) session_id: Option<Arc<str>>,
    pub(crate) token_id: Option<Arc<str>>,
    pub(crate) client_id: Option<Arc<str>>,
    pub(crate) api_key_id: Option<Arc<str>>,
    /// A JWT's `iss`.
    pub(crate) issuer: Option<Arc<str>>,
    pub(crate) claims: Option<Arc<dyn Any + Send + Sync>>,
    /// A verified JWT's payload (its claims as JSON), read into an app's claims type on demand
    /// ([`Identity::decode_claims`]). The buffer the validator decoded the payload into, moved
    /// here: keeping it costs no copy.
    pub(crate) payload: Option<String>,
}

impl Identity {
    /// Starts an identity by hand (for tests, or for a custom authenticator).
    pub fn builder(principal: impl Into<Arc<str>>, method: AuthMethod) -> IdentityBuilder {
        IdentityBuilder(
            Parts {
                principal: principal.into(),
                method,
                scopes: Scopes::empty(),
                expires_at: None,
                key_id: None,
                session_id: None,
                token_id: None,
                client_id: None,
                api_key_id: None,
                issuer: None,
                claims: None,
                payload: None,
            },
            None,
            None,
        )
    }

    /// An identity of new `parts`, acting for `tenant`.
    pub(crate) fn from_parts(parts: Parts, tenant: Option<Tenant>) -> Self {
        Self::shared(Arc::new(parts), tenant)
    }

    /// An identity of `parts` shared with a cache entry, acting for `tenant`.
    pub(crate) fn shared(parts: Arc<Parts>, tenant: Option<Tenant>) -> Self {
        Self {
            holder: Holder::Parts {
                parts,
                key_record: None,
            },
            tenant,
        }
    }

    /// The identity of the API key `record`, presented to an auth layer, acting for `tenant`:
    /// its owner (or its id) as principal, its scopes and expiry.
    pub(crate) fn of_key(record: Arc<KeyRecord>, tenant: Option<Tenant>) -> Self {
        Self {
            holder: Holder::Key(record),
            tenant,
        }
    }

    /// This identity, acting with the API key `record` (the one its JWT was exchanged for, or
    /// one set on an identity built by hand). The identity of a presented key has its record
    /// already: it is left as it is, since its record says who the caller is.
    pub(crate) fn with_key_record(mut self, record: Arc<KeyRecord>) -> Self {
        match &mut self.holder {
            Holder::Parts { key_record, .. } => *key_record = Some(record),
            Holder::Key(_) => debug_assert!(false, "a presented key's identity has its record"),
        }
        self
    }

    /// The parts of a token's identity (or one built by hand); `None` for a presented API key.
    fn parts(&self) -> Option<&Parts> {
        match &self.holder {
            Holder::Parts { parts, .. } => Some(parts),
            Holder::Key(_) => None,
        }
    }

    /// The record of the API key behind the identity, presented or exchanged for its JWT.
    fn key_record(&self) -> Option<&KeyRecord> {
        match &self.holder {
            Holder::Parts { key_record, .. } => key_record.as_deref(),
            Holder::Key(record) => Some(record),
        }
    }

    /// Who the caller is: the JWT `sub`, or the API key's owner (its key id when it names none).
    pub fn principal(&self) -> &str {
        self.shared_strings().principal
    }

    /// How the caller authenticated.
    pub fn method(&self) -> AuthMethod {
        match &self.holder {
            Holder::Parts { parts, .. } => parts.method,
            Holder::Key(_) => AuthMethod::ApiKey,
        }
    }

    /// The tenant this request acts for, if any.
    pub fn tenant(&self) -> Option<&Tenant> {
        self.tenant.as_ref()
    }

    /// The granted scopes.
    pub fn scopes(&self) -> &Scopes {
        match &self.holder {
            Holder::Parts { parts, .. } => &parts.scopes,
            Holder::Key(record) => &record.scopes,
        }
    }

    /// Whether `scope` is granted (exact, case-sensitive).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().contains(scope)
    }

    /// When the credential expires (unix seconds): the JWT `exp` or the API key's expiry.
    pub fn expires_at(&self) -> Option<u64> {
        match &self.holder {
            Holder::Parts { parts, .. } => parts.expires_at,
            Holder::Key(record) => record.expires_at,
        }
    }

    /// The `kid` of the key that verified the JWT, or the public id of the API key. An identifier,
    /// not a secret: it appears in debug logs and in `Debug` output.
    pub fn key_id(&self) -> Option<&str> {
        match &self.holder {
            Holder::Parts { parts, .. } => parts.key_id.as_deref(),
            Holder::Key(record) => Some(&record.key_id),
        }
    }

    /// The JWT's session id (`sid`), if it has one.
    pub fn session_id(&self) -> Option<&str> {
        self.parts()?.session_id.as_deref()
    }

    /// The JWT's `jti`, if it has one.
    pub fn token_id(&self) -> Option<&str> {
        self.parts()?.token_id.as_deref()
    }

    /// The OAuth client the credential was issued to: a JWT's `client_id` claim (RFC 9068).
    pub fn client_id(&self) -> Option<&str> {
        self.parts()?.client_id.as_deref()
    }

    /// The API key behind the request: the key's public id for an API-key request, or the
    /// `api_key_id` claim of a JWT that was exchanged for a key. Per-key rules (rate limits,
    /// audit) read this, so exchanging a key for a token does not escape them.
    pub fn api_key_id(&self) -> Option<&str> {
        self.shared_strings().api_key_id.map(|id| &**id)
    }

    /// The principal, API key id and client id as the identity holds them, shared: the rate
    /// limiter keys its buckets by them without copying a string on the request path.
    pub(crate) fn shared_strings(&self) -> SharedStrings<'_> {
        match &self.holder {
            Holder::Parts { parts, .. } => SharedStrings {
                principal: &parts.principal,
                api_key_id: parts.api_key_id.as_ref(),
                client_id: parts.client_id.as_ref(),
            },
            Holder::Key(record) => SharedStrings {
                principal: record.owner.as_ref().unwrap_or(&record.key_id),
                api_key_id: Some(&record.key_id),
                client_id: None,
            },
        }
    }

    /// The issuer of a JWT: its `iss` claim (rate limits tell the app's own tokens from an outside
    /// identity provider's by it).
    pub fn issuer(&self) -> Option<&str> {
        self.parts()?.issuer.as_deref()
    }

    /// A metadata label of the API key behind the request
    /// ([`KeyRecord::metadata`](crate::api_key::KeyRecord::metadata)), such as the `plan` that
    /// per-key rate limits read: the key presented, or the key a JWT was exchanged for (when the
    /// layer has the API keys to look it up). `None` for other credentials.
    pub fn key_metadata(&self, name: &str) -> Option<&str> {
        let record = self.key_record()?;
        record.metadata.get(name).map(String::as_str)
    }

    /// The typed custom claims decoded when the token was verified: those of a validator built
    /// with [`JwtOptions::claims::<C>()`](crate::jwt::JwtOptions::claims), or set by hand with
    /// [`IdentityBuilder::claims`]. For any other type, [`decode_claims`](Self::decode_claims).
    pub fn claims<C: Send + Sync + 'static>(&self) -> Option<&C> {
        self.parts()?.claims.as_deref()?.downcast_ref::<C>()
    }

    /// The JWT's claims as the app's type `C`, whatever the validator was built with (what the
    /// [`Claims<C>`](crate::Claims) extractor answers). The claims decoded at verification are
    /// handed out when they are of type `C`; otherwise `C` is read from the verified token's
    /// payload, at each call.
    ///
    /// `None` when the identity holds no JWT (an API key, an opaque token, an identity built by
    /// hand without claims of type `C`). A token that verified but whose claims do not fit `C`
    /// (a required claim missing, one of another type) is the token's fault: `invalid_token`.
    ///
    /// ```
    /// # #[cfg(all(feature = "issuer", any(feature = "aws-lc-rs", feature = "rust-crypto")))]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tower_api_auth::issuer::{AccessGrant, SigningKey, TokenIssuer};
    /// use tower_api_auth::{Algorithm, JwtValidator, jwt::JwtOptions, scope::Scopes};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Plan { plan: String }
    ///
    /// let secret = b"a-secret-of-at-least-thirty-two-bytes!!";
    /// let issuer = TokenIssuer::new(SigningKey::hmac(Algorithm::HS256, secret)?, "https://auth.example.test");
    /// let grant = AccessGrant::new("user_42", Scopes::empty()).with_claim("plan", "pro");
    /// let token = issuer.issue(&grant, 1_800_000_000)?;
    /// // A validator built without `.claims::<Plan>()`.
    /// let validator = JwtValidator::hs256(secret, JwtOptions::new())?;
    /// let identity = validator.validate(&token.token, 1_800_000_000)?;
    /// assert_eq!(identity.decode_claims::<Plan>().unwrap()?.plan, "pro");
    /// // A type the claims do not fit: the token's fault.
    /// #[derive(Debug, serde::Deserialize)]
    /// struct Org { org: String }
    /// assert_eq!(identity.decode_claims::<Org>().unwrap().unwrap_err().code(), "invalid_token");
    /// # Ok(()) }
    /// # #[cfg(not(all(feature = "issuer", any(feature = "aws-lc-rs", feature = "rust-crypto"))))]
    /// # fn main() {}
    /// ```
    pub fn decode_claims<C>(&self) -> Option<Result<Arc<C>, AuthError>>
    where
        C: DeserializeOwned + Send + Sync + 'static,
    {
        let parts = self.parts()?;
        if let Some(decoded) = parts.claims.as_ref()
            && let Ok(claims) = Arc::clone(decoded).downcast::<C>()
        {
            return Some(Ok(claims));
        }
        let payload = parts.payload.as_deref()?;
        Some(
            serde_json::from_str::<C>(payload)
                .map(Arc::new)
                .map_err(|error| {
                    // The type and where reading stopped; never the claims themselves.
                    tracing::debug!(
                        claims = std::any::type_name::<C>(),
                        category = ?error.classify(),
                        column = error.column(),
                        "a verified token's claims do not fit the app's claims type"
                    );
                    AuthError::new(AuthErrorKind::InvalidToken)
                        .with_message("The token's claims do not have the expected shape")
                }),
        )
    }
}

/// See [`Identity::shared_strings`].
pub(crate) struct SharedStrings<'a> {
    pub(crate) principal: &'a Arc<str>,
    pub(crate) api_key_id: Option<&'a Arc<str>>,
    #[cfg_attr(not(feature = "rate-limit"), allow(dead_code))]
    pub(crate) client_id: Option<&'a Arc<str>>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("principal", &self.principal())
            .field("method", &self.method())
            .field("tenant", &self.tenant())
            .field("scopes", self.scopes())
            .field("expires_at", &self.expires_at())
            .field("key_id", &self.key_id())
            .field("session_id", &self.session_id())
            .field("client_id", &self.client_id())
            .field("api_key_id", &self.api_key_id())
            .field("issuer", &self.issuer())
            .finish_non_exhaustive()
    }
}

impl Serialize for Identity {
    /// `{"principal":…,"method":"jwt","tenant":…,"scopes":[…],"expires_at":…}` — what `/me`
    /// endpoints usually return. Claims and ids are left out on purpose.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Identity", 5)?;
        s.serialize_field("principal", self.principal())?;
        s.serialize_field("method", &self.method())?;
        s.serialize_field("tenant", &self.tenant().map(Tenant::as_str))?;
        s.serialize_field("scopes", self.scopes())?;
        s.serialize_field("expires_at", &self.expires_at())?;
        s.end()
    }
}

/// Builds an [`Identity`]; see [`Identity::builder`].
#[must_use]
pub struct IdentityBuilder(Parts, Option<Tenant>, Option<Arc<KeyRecord>>);

impl fmt::Debug for IdentityBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityBuilder")
            .field("principal", &self.0.principal)
            .finish_non_exhaustive()
    }
}

impl IdentityBuilder {
    /// Sets the tenant.
    pub fn tenant(mut self, tenant: Tenant) -> Self {
        self.1 = Some(tenant);
        self
    }

    /// Sets the scopes.
    pub fn scopes(mut self, scopes: Scopes) -> Self {
        self.0.scopes = scopes;
        self
    }

    /// Sets the expiry (unix seconds).
    pub fn expires_at(mut self, unix: u64) -> Self {
        self.0.expires_at = Some(unix);
        self
    }

    /// Sets the key id.
    pub fn key_id(mut self, key_id: impl Into<Arc<str>>) -> Self {
        self.0.key_id = Some(key_id.into());
        self
    }

    /// Sets the session id.
    pub fn session_id(mut self, sid: impl Into<Arc<str>>) -> Self {
        self.0.session_id = Some(sid.into());
        self
    }

    /// Sets the token id.
    pub fn token_id(mut self, jti: impl Into<Arc<str>>) -> Self {
        self.0.token_id = Some(jti.into());
        self
    }

    /// Sets the OAuth client id.
    pub fn client_id(mut self, client_id: impl Into<Arc<str>>) -> Self {
        self.0.client_id = Some(client_id.into());
        self
    }

    /// Sets the API key id.
    pub fn api_key_id(mut self, api_key_id: impl Into<Arc<str>>) -> Self {
        self.0.api_key_id = Some(api_key_id.into());
        self
    }

    /// Sets the JWT issuer ([`Identity::issuer`]).
    pub fn issuer(mut self, issuer: impl Into<Arc<str>>) -> Self {
        self.0.issuer = Some(issuer.into());
        self
    }

    /// Sets the API key record whose metadata [`Identity::key_metadata`] reads.
    pub fn key_record(mut self, record: impl Into<Arc<KeyRecord>>) -> Self {
        self.2 = Some(record.into());
        self
    }

    /// Attaches typed claims, readable through [`Identity::claims`].
    pub fn claims<C: Send + Sync + 'static>(mut self, claims: C) -> Self {
        self.0.claims = Some(Arc::new(claims));
        self
    }

    /// Finishes the identity.
    pub fn build(self) -> Identity {
        let identity = Identity::from_parts(self.0, self.1);
        match self.2 {
            Some(record) => identity.with_key_record(record),
            None => identity,
        }
    }
}
