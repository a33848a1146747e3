//! [`Login`]: what a login presents — a password, an API key, or an account the app verified
//! itself — and the choices it makes (tenant, scope, session), each named.

use std::fmt;

use crate::issuer::accounts::Account;

/// A login, for [`TokenService::login`](crate::issuer::TokenService::login): the credential, and
/// the optional choices every kind of login shares.
///
/// * [`Login::password`] checks a username and password with the service's
///   [`PasswordVerifier`](crate::issuer::PasswordVerifier);
/// * [`Login::api_key`] exchanges an API key of the service's key store;
/// * [`Login::account`] starts a session for a user the app authenticated itself — a magic link,
///   an SSO callback, a device code. Its refresh tokens rotate, are stored, revoked and bounded
///   exactly like a password login's.
///
/// ```
/// use tower_api_auth::issuer::{Account, Login};
/// use tower_api_auth::scope::Scopes;
///
/// let login = Login::password("ada@example.test", "correct horse").tenant("tn_a").scope("read");
/// assert!(!format!("{login:?}").contains("correct horse"), "Debug hides the password");
///
/// // After the app checked a magic link itself:
/// let account = Account::new("user_42", Scopes::parse("read write").unwrap());
/// let login = Login::account(account).session_id("laptop");
/// # let _ = login;
/// ```
#[derive(Clone)]
#[must_use]
pub struct Login<'a> {
    pub(super) credential: LoginCredential<'a>,
    pub(super) tenant: Option<&'a str>,
    pub(super) scope: Option<&'a str>,
    pub(super) session_id: Option<&'a str>,
}

#[derive(Clone)]
pub(super) enum LoginCredential<'a> {
    Password {
        username: &'a str,
        password: &'a str,
    },
    ApiKey(&'a str),
    Account(Account),
}

impl<'a> Login<'a> {
    fn of(credential: LoginCredential<'a>) -> Self {
        Self {
            credential,
            tenant: None,
            scope: None,
            session_id: None,
        }
    }

    /// A password login (the password grant): the service's
    /// [`PasswordVerifier`](crate::issuer::PasswordVerifier) checks it.
    pub fn password(username: &'a str, password: &'a str) -> Self {
        Self::of(LoginCredential::Password { username, password })
    }

    /// An API-key exchange: the key's scopes and tenants carry into the tokens, which name the key
    /// (`api_key_id`); the session lives only as long as the key does.
    pub fn api_key(api_key: &'a str) -> Self {
        Self::of(LoginCredential::ApiKey(api_key))
    }

    /// A session for `account`, whom the app authenticated by its own means. The service trusts
    /// the app: call it only after the app's own check succeeded.
    pub fn account(account: Account) -> Self {
        Self::of(LoginCredential::Account(account))
    }

    /// Picks one of the account's or key's tenants: the tokens then name it alone. A tenant not
    /// held is `invalid_grant`.
    pub fn tenant(mut self, tenant: &'a str) -> Self {
        self.tenant = Some(tenant);
        self
    }

    /// Narrows the granted scopes (space-delimited); asking for more is `invalid_scope`.
    pub fn scope(mut self, scope: &'a str) -> Self {
        self.scope = Some(scope);
        self
    }

    /// A client-chosen session name, scoped to the subject: a new login with the same name ends
    /// the session it started before, and with
    /// [`reuse_access_tokens`](crate::issuer::TokenService::reuse_access_tokens) a login names the
    /// session whose token it wants back. 1 to 128 visible ASCII characters.
    pub fn session_id(mut self, session_id: &'a str) -> Self {
        self.session_id = Some(session_id);
        self
    }
}

impl fmt::Debug for Login<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let credential = match &self.credential {
            LoginCredential::Password { username, .. } => format!("password of {username:?}"),
            LoginCredential::ApiKey(_) => "api key".to_owned(),
            LoginCredential::Account(account) => format!("account {:?}", account.subject),
        };
        f.debug_struct("Login")
            .field("credential", &credential)
            .field("tenant", &self.tenant)
            .field("scope", &self.scope)
            .field("session_id", &self.session_id)
            .finish()
    }
}
