//! Authorization codes (RFC 6749 §4.1, with PKCE): what a code grants ([`AuthorizationCode`]),
//! its stored form ([`CodeHash`]), and the [`CodeStore`] trait that redeems each code once.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::scope::Scopes;
use crate::store::StoreError;
use crate::tenant::Tenant;

/// The hash a code is stored under: a code itself is never stored, so that whoever reads the
/// store cannot redeem one. The issuer makes it (`CodeHash::of`); stores keep its 32 bytes.
///
/// ```
/// use tower_api_auth::store::CodeHash;
///
/// let hash = CodeHash::from_bytes([7; 32]);
/// assert_eq!(CodeHash::from_hex(&hash.to_hex()), Some(hash));
/// assert!(!format!("{hash:?}").contains(&hash.to_hex()));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CodeHash([u8; 32]);

impl CodeHash {
    /// A hash read back from a store.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Its bytes, for a store to keep.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex, for stores that key by strings (Redis).
    pub fn to_hex(&self) -> String {
        use std::fmt::Write;
        self.0.iter().fold(String::with_capacity(64), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
    }

    /// Parses [`to_hex`](Self::to_hex)'s form.
    pub fn from_hex(hex: &str) -> Option<Self> {
        if hex.len() != 64 || !hex.is_ascii() {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(hex.as_bytes().chunks(2)) {
            *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
        }
        Some(Self(bytes))
    }
}

impl fmt::Debug for CodeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeHash(<redacted>)")
    }
}

/// What an authorization code grants, and what it is bound to: the client, the redirect URI the
/// authorization request named, the PKCE challenge and the scopes the user consented to. Kept
/// under the code's [`CodeHash`] until it is redeemed or expires.
///
/// Stores outside the crate rebuild it with [`AuthorizationCode::new`] and the `with_*` methods,
/// or keep it whole with serde.
///
/// ```
/// use tower_api_auth::{store::AuthorizationCode, scope::Scopes};
///
/// let code = AuthorizationCode::new("spa", "user_1", Scopes::parse("read").unwrap(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", 1_000, 1_060)
///     .with_redirect_uri(Some("https://app.example.com/cb".into()));
/// assert!(code.expired(1_060));
/// assert!(!code.expired(1_059));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuthorizationCode {
    /// The client the code was issued to: only it may redeem the code.
    pub client_id: Arc<str>,
    /// The `redirect_uri` of the authorization request, if it had one: the token request must
    /// send the same (RFC 6749 §4.1.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<Arc<str>>,
    /// The user who consented (`sub` of the tokens).
    pub subject: Arc<str>,
    /// The scopes consented to.
    pub scopes: Scopes,
    /// The tenants of the tokens.
    #[serde(default)]
    pub tenants: Vec<Tenant>,
    /// The app's claims for the tokens.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub claims: Map<String, Value>,
    /// The PKCE `code_challenge` (S256: base64url of the verifier's SHA-256).
    pub code_challenge: Arc<str>,
    /// When the code was issued (unix seconds).
    pub issued_at: u64,
    /// When it stops being redeemable (unix seconds, exclusive).
    pub expires_at: u64,
}

impl AuthorizationCode {
    /// A code for `client_id` granting `scopes` of `subject`, bound to `code_challenge`, valid
    /// from `issued_at` until `expires_at`, with no redirect URI, tenant or claim.
    pub fn new(
        client_id: impl Into<Arc<str>>,
        subject: impl Into<Arc<str>>,
        scopes: Scopes,
        code_challenge: impl Into<Arc<str>>,
        issued_at: u64,
        expires_at: u64,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            redirect_uri: None,
            subject: subject.into(),
            scopes,
            tenants: Vec::new(),
            claims: Map::new(),
            code_challenge: code_challenge.into(),
            issued_at,
            expires_at,
        }
    }

    /// Sets the redirect URI of the authorization request.
    #[must_use]
    pub fn with_redirect_uri(mut self, redirect_uri: Option<Arc<str>>) -> Self {
        self.redirect_uri = redirect_uri;
        self
    }

    /// Sets the tenants.
    #[must_use]
    pub fn with_tenants(mut self, tenants: impl IntoIterator<Item = Tenant>) -> Self {
        self.tenants = tenants.into_iter().collect();
        self
    }

    /// Sets the claims.
    #[must_use]
    pub fn with_claims(mut self, claims: Map<String, Value>) -> Self {
        self.claims = claims;
        self
    }

    /// Whether the code can no longer be redeemed at `now`.
    pub fn expired(&self, now: u64) -> bool {
        now >= self.expires_at
    }
}

/// What [`CodeStore::redeem`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Redemption {
    /// The code's first redemption: it is spent from now on, and the session it starts is the one
    /// `redeem` was given.
    First(AuthorizationCode),
    /// The code was redeemed before, and this redemption's session is the one the first
    /// redemption started: the server revokes it (RFC 6749 §4.1.2, RFC 9700 §4.2.4).
    Replayed {
        /// The code.
        code: AuthorizationCode,
        /// The session the first redemption started.
        session_id: Arc<str>,
    },
    /// No such code (never issued, or purged).
    Unknown,
}

/// Where authorization codes wait to be redeemed: in memory
/// ([`MemoryCodeStore`](crate::issuer::MemoryCodeStore)) or in a database shared by a fleet.
///
/// Implement it with `async fn`. [`redeem`](Self::redeem) must be atomic: of many concurrent
/// redemptions of one code, exactly one answers [`Redemption::First`] (SQL: `UPDATE … SET
/// session_id = $1 WHERE hash = $2 AND session_id IS NULL RETURNING …`; Redis: a Lua script).
/// Every error is answered with 503 and changes nothing that was not already changed.
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::{Arc, Mutex};
/// use tower_api_auth::store::{AuthorizationCode, CodeHash, CodeStore, Redemption, StoreError};
///
/// #[derive(Default)]
/// struct MyCodes(Mutex<HashMap<CodeHash, (AuthorizationCode, Option<Arc<str>>)>>);
///
/// impl CodeStore for MyCodes {
///     async fn save(&self, hash: CodeHash, code: AuthorizationCode) -> Result<(), StoreError> {
///         let mut codes = self.0.lock().unwrap();
///         if codes.contains_key(&hash) {
///             return Err(StoreError::new("taken")); // never un-spend a code
///         }
///         codes.insert(hash, (code, None));
///         Ok(())
///     }
///
///     async fn redeem(&self, hash: &CodeHash, session_id: &str) -> Result<Redemption, StoreError> {
///         let mut codes = self.0.lock().unwrap();
///         Ok(match codes.get_mut(hash) {
///             None => Redemption::Unknown,
///             Some((code, Some(first))) => Redemption::Replayed { code: code.clone(), session_id: first.clone() },
///             Some((code, spent)) => {
///                 *spent = Some(Arc::from(session_id));
///                 Redemption::First(code.clone())
///             }
///         })
///     }
///
///     async fn purge(&self, now: u64, keep_spent_for: u64) -> Result<usize, StoreError> {
///         let mut codes = self.0.lock().unwrap();
///         let before = codes.len();
///         codes.retain(|_, (code, _)| now < code.expires_at.saturating_add(keep_spent_for));
///         Ok(before - codes.len())
///     }
/// }
/// ```
pub trait CodeStore: Send + Sync + 'static {
    /// Keeps a new code under its hash. A hash already stored is an error and changes nothing:
    /// overwriting a spent code would make it redeemable again.
    fn save(
        &self,
        hash: CodeHash,
        code: AuthorizationCode,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Spends the code of `hash`, atomically: the first call answers [`Redemption::First`] and
    /// records `session_id` as the session it starts; every later call answers
    /// [`Redemption::Replayed`] with that session, until the code is purged. The store answers
    /// whether or not the code has expired: the service checks that.
    fn redeem(
        &self,
        hash: &CodeHash,
        session_id: &str,
    ) -> impl Future<Output = Result<Redemption, StoreError>> + Send;

    /// Removes the codes that expired more than `keep_spent_for` seconds before `now`, spent or
    /// not, and answers how many. (A spent code is kept past its expiry so that a replay still
    /// finds the session to revoke.) Stores whose rows expire by themselves (Redis TTLs) answer
    /// `Ok(0)`. The service calls it at most once a minute.
    fn purge(
        &self,
        now: u64,
        keep_spent_for: u64,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;
}

impl<C: CodeStore> CodeStore for Arc<C> {
    fn save(
        &self,
        hash: CodeHash,
        code: AuthorizationCode,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).save(hash, code)
    }

    fn redeem(
        &self,
        hash: &CodeHash,
        session_id: &str,
    ) -> impl Future<Output = Result<Redemption, StoreError>> + Send {
        (**self).redeem(hash, session_id)
    }

    fn purge(
        &self,
        now: u64,
        keep_spent_for: u64,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        (**self).purge(now, keep_spent_for)
    }
}
