//! The password grant's users: [`Account`] and the app's [`PasswordVerifier`].

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use serde_json::{Map, Value};

#[cfg(doc)]
use crate::issuer::TokenResponse;
use crate::issuer::dyn_stores::BoxFuture;
use crate::issuer::signing::is_registered_claim;
use crate::scope::Scopes;
use crate::store::StoreError;
use crate::tenant::Tenant;

/// A verified user, as a [`PasswordVerifier`] reports it.
///
/// ```
/// use serde_json::json;
/// use tower_api_auth::{issuer::Account, scope::Scopes, Tenant};
///
/// let account = Account::new("user_42", Scopes::parse("conversations:read").unwrap())
///     .with_tenants([Tenant::new("tn_a").unwrap()])
///     .with_claim("plan", json!("pro"))
///     .with_claim("sub", json!("someone else")); // a registered claim: ignored
/// assert_eq!(account.claims["plan"], "pro");
/// assert!(!account.claims.contains_key("sub"));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Account {
    /// The `sub` of the user's tokens.
    pub subject: Arc<str>,
    /// What the user may do.
    pub scopes: Scopes,
    /// The user's tenants.
    pub tenants: Vec<Tenant>,
    /// The app's claims for every access token of the user's sessions (never a
    /// [registered claim](crate::issuer::REGISTERED_CLAIMS)).
    pub claims: Map<String, Value>,
    /// What the login answer shows of the user (the `user` field of a shaped answer, e.g.
    /// `{"id":…,"email":…}`); never put in a token.
    pub user: Option<Value>,
}

impl Account {
    /// An account with `scopes`, no tenants and no claims of the app's.
    pub fn new(subject: impl Into<Arc<str>>, scopes: Scopes) -> Self {
        Self {
            subject: subject.into(),
            scopes,
            tenants: Vec::new(),
            claims: Map::new(),
            user: None,
        }
    }

    /// Sets what the login answer shows of the user: [`TokenResponse::user`], which the token
    /// endpoints show as the `user` field of an answer shaped to have one.
    /// It is the app's object, shown as given, and only in the answer of the login that verified
    /// the account (refreshes have no account to show).
    #[must_use]
    pub fn with_user(mut self, user: impl Into<Value>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Sets the tenants.
    #[must_use]
    pub fn with_tenants(mut self, tenants: impl IntoIterator<Item = Tenant>) -> Self {
        self.tenants = tenants.into_iter().collect();
        self
    }

    /// Adds a claim to the user's access tokens; a handler reads it with `Claims<C>`. The
    /// [registered claims](crate::issuer::REGISTERED_CLAIMS) are the issuer's alone: a `name`
    /// among them is ignored.
    #[must_use]
    pub fn with_claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        let name = name.into();
        if is_registered_claim(&name) {
            tracing::debug!(claim = %name, "a registered claim cannot be set by the app: ignored");
        } else {
            self.claims.insert(name, value.into());
        }
        self
    }
}

/// Checks a username and password. The app implements it against its own user store (and its own
/// password hashing: this crate never stores passwords), with `async fn`.
///
/// Return `Ok(None)` for an unknown user or a wrong password alike, so that the answer (400
/// `invalid_grant`) does not tell which; `Err` when the user store cannot answer (503).
///
/// ```
/// use tower_api_auth::{issuer::Account, issuer::PasswordVerifier, scope::Scopes, store::StoreError};
///
/// struct Users;
///
/// impl PasswordVerifier for Users {
///     async fn verify(&self, username: &str, password: &str) -> Result<Option<Account>, StoreError> {
///         // let row = sqlx::query!(…).fetch_optional(&self.pool).await.map_err(StoreError::new)?;
///         // verify `password` against the row's argon2 hash …
///         let ok = username == "demo" && password == "demo-password";
///         Ok(ok.then(|| Account::new("user_demo", Scopes::parse("read").unwrap())))
///     }
/// }
/// ```
pub trait PasswordVerifier: Send + Sync + 'static {
    /// The account, if the password is right.
    fn verify(
        &self,
        username: &str,
        password: &str,
    ) -> impl Future<Output = Result<Option<Account>, StoreError>> + Send;
}

impl<P: PasswordVerifier> PasswordVerifier for Arc<P> {
    fn verify(
        &self,
        username: &str,
        password: &str,
    ) -> impl Future<Output = Result<Option<Account>, StoreError>> + Send {
        (**self).verify(username, password)
    }
}

/// [`PasswordVerifier`] made object safe.
pub(crate) trait DynPasswordVerifier: Send + Sync + 'static {
    fn verify<'a>(&'a self, username: &'a str, password: &'a str)
    -> BoxFuture<'a, Option<Account>>;
}

impl<P: PasswordVerifier> DynPasswordVerifier for P {
    fn verify<'a>(
        &'a self,
        username: &'a str,
        password: &'a str,
    ) -> BoxFuture<'a, Option<Account>> {
        Box::pin(PasswordVerifier::verify(self, username, password))
    }
}

impl fmt::Debug for dyn DynPasswordVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("dyn PasswordVerifier")
    }
}
