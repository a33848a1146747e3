//! The authorization endpoint's logic (RFC 6749 §4.1.1–§4.1.2, RFC 7636, RFC 9207), apart from
//! HTTP: checking an authorization request, and answering it with a code or an error, both as
//! the redirect back to the client.
//!
//! Which errors go back by redirect follows RFC 6749 §4.1.2.1: while the client or its redirect
//! URI is in doubt, nothing is redirected (the user agent is shown the error instead, so that an
//! attacker cannot use the server as an open redirector); once both are known good, every other
//! error goes back to the client.

use std::fmt;
use std::sync::Arc;

use crate::crypto::random_secret;
use crate::issuer::accounts::Account;
use crate::issuer::error::{GrantError, GrantErrorKind, grant_error};
use crate::issuer::pkce;
use crate::issuer::service::TokenService;
use crate::scope::Scopes;
use crate::store::{AuthorizationCode, ClientRecord, CodeHash};

const CODE_CONTEXT: &str = "tower-api-auth 2026-12 authorization code hash v1";

/// Codes are `ac_` and 43 base62 characters (about 256 bits).
const CODE_PREFIX: &str = "ac_";
const CODE_SECRET_LEN: usize = 43;

/// The longest `state` kept: it travels back in a URL.
const MAX_STATE_LEN: usize = 1024;

/// The hash a code is stored under; `None` when the code is not shaped like one of ours (no store
/// lookup).
pub(super) fn code_hash(code: &str) -> Option<CodeHash> {
    let secret = code.strip_prefix(CODE_PREFIX)?;
    if secret.len() != CODE_SECRET_LEN || !secret.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    Some(CodeHash::from_bytes(
        *blake3::Hasher::new_derive_key(CODE_CONTEXT)
            .update(code.as_bytes())
            .finalize()
            .as_bytes(),
    ))
}

/// The parameters of an authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3) as the client
/// sent them, each at most once. The HTTP endpoint reads them from the query; an app serving its
/// own endpoint fills them itself.
///
/// ```
/// use tower_api_auth::issuer::AuthorizationParams;
///
/// let params = AuthorizationParams {
///     response_type: Some("code"),
///     client_id: Some("spa"),
///     redirect_uri: Some("https://app.example.com/cb"),
///     scope: Some("read"),
///     state: Some("xyz"),
///     code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
///     code_challenge_method: Some("S256"),
/// };
/// # let _ = params;
/// ```
#[derive(Debug, Clone, Copy, Default)]
#[allow(missing_docs)]
pub struct AuthorizationParams<'a> {
    pub response_type: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub redirect_uri: Option<&'a str>,
    pub scope: Option<&'a str>,
    pub state: Option<&'a str>,
    pub code_challenge: Option<&'a str>,
    pub code_challenge_method: Option<&'a str>,
}

/// An authorization request whose client and redirect URI are known good: what the app shows on
/// its consent screen, and what [`TokenService::approve`] or [`TokenService::deny`] answer.
#[derive(Clone)]
pub struct AuthorizationRequest {
    client: ClientRecord,
    redirect_uri: Arc<str>,
    /// Whether the request named the redirect URI (then the token request must name it too).
    redirect_given: bool,
    scopes: Scopes,
    state: Option<String>,
    code_challenge: String,
    issuer: Arc<str>,
}

impl fmt::Debug for AuthorizationRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationRequest")
            .field("client_id", &self.client.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl AuthorizationRequest {
    /// The client asking.
    pub fn client(&self) -> &ClientRecord {
        &self.client
    }

    /// The client's id.
    pub fn client_id(&self) -> &str {
        &self.client.client_id
    }

    /// The scopes asked for: within the client's registered scopes; all of them when the request
    /// named none. The code grants those of them the account holds.
    pub fn scopes(&self) -> &Scopes {
        &self.scopes
    }

    /// Where the answer goes.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The client's `state`, returned with the answer.
    pub fn state(&self) -> Option<&str> {
        self.state.as_deref()
    }

    /// The redirect carrying `error` (RFC 6749 §4.1.2.1), with `state` and `iss`.
    pub fn error_redirect(&self, error: &str, description: Option<&str>) -> String {
        let mut params: Vec<(&str, &str)> = vec![("error", error)];
        if let Some(description) = description {
            params.push(("error_description", description));
        }
        self.redirect_with(params)
    }

    fn redirect_with<'a>(&'a self, mut params: Vec<(&'a str, &'a str)>) -> String {
        if let Some(state) = &self.state {
            params.push(("state", state));
        }
        // RFC 9207: the client checks which server answered (the mix-up defence).
        params.push(("iss", &self.issuer));
        let query = serde_urlencoded::to_string(&params).unwrap_or_default();
        let separator = if self.redirect_uri.contains('?') {
            '&'
        } else {
            '?'
        };
        format!("{}{separator}{query}", self.redirect_uri)
    }
}

/// Why an authorization request was refused.
#[derive(Debug, Clone)]
pub enum AuthorizeError {
    /// The client or its redirect URI could not be trusted: show this to the user, never
    /// redirect (400).
    Invalid(GrantError),
    /// The refusal, as the redirect back to the client (`Location`).
    Redirect(String),
}

impl AuthorizeError {
    fn invalid(message: &'static str) -> Self {
        Self::Invalid(grant_error(GrantErrorKind::InvalidRequest, message))
    }
}

impl TokenService {
    /// Checks an authorization request (RFC 6749 §4.1.1 with PKCE, OAuth 2.1 §4.1.1):
    ///
    /// 1. the client: `client_id` must name a registered client with redirect URIs;
    /// 2. `redirect_uri`: exactly one of the client's (compared as strings); it may be left out
    ///    only when the client has just one;
    /// 3. then, answered by redirect: `response_type=code`, a `scope` within the client's,
    ///    a `code_challenge` made with `S256`, a `state` of reasonable length.
    ///
    /// The authorization-code grant must be enabled ([`authorization_codes`](Self::authorization_codes)).
    pub async fn authorization_request(
        &self,
        params: &AuthorizationParams<'_>,
    ) -> Result<AuthorizationRequest, AuthorizeError> {
        if self.codes.is_none() {
            return Err(AuthorizeError::invalid(
                "The authorization-code grant is not enabled",
            ));
        }
        let clients = self
            .clients
            .as_ref()
            .ok_or_else(|| AuthorizeError::invalid("No OAuth clients are registered"))?;
        let client_id = params
            .client_id
            .ok_or_else(|| AuthorizeError::invalid("The client_id is missing"))?;
        let client = clients
            .client(client_id)
            .await
            .map_err(|e| AuthorizeError::Invalid(GrantError::unavailable(&e)))?
            .filter(|client| !client.redirect_uris.is_empty())
            .ok_or_else(|| {
                AuthorizeError::invalid("The client is unknown or has no redirect URI registered")
            })?;
        let redirect_uri = match (params.redirect_uri, client.redirect_uris.as_slice()) {
            (Some(uri), _) if client.allows_redirect(uri) => Arc::from(uri),
            (Some(_), _) => {
                return Err(AuthorizeError::invalid(
                    "The redirect_uri is not registered for this client",
                ));
            }
            (None, [only]) => only.clone(),
            (None, _) => {
                return Err(AuthorizeError::invalid(
                    "The redirect_uri is missing: the client has several",
                ));
            }
        };
        if redirect_uri.contains('#') {
            return Err(AuthorizeError::invalid(
                "A redirect_uri may not have a fragment",
            ));
        }
        let mut request = AuthorizationRequest {
            client,
            redirect_uri,
            redirect_given: params.redirect_uri.is_some(),
            scopes: Scopes::empty(),
            state: None,
            code_challenge: String::new(),
            issuer: Arc::from(self.issuer.issuer_url()),
        };
        // From here on the client and its redirect URI are trusted: errors go back to it.
        let refuse =
            |request: &AuthorizationRequest, error: &str, description: &str| -> AuthorizeError {
                AuthorizeError::Redirect(request.error_redirect(error, Some(description)))
            };
        match params.state {
            Some(state) if state.len() > MAX_STATE_LEN => {
                return Err(refuse(&request, "invalid_request", "The state is too long"));
            }
            state => request.state = state.map(str::to_owned),
        }
        match params.response_type {
            Some("code") => {}
            None => {
                return Err(refuse(
                    &request,
                    "invalid_request",
                    "The response_type is missing",
                ));
            }
            Some(_) => {
                return Err(refuse(
                    &request,
                    "unsupported_response_type",
                    "Only response_type=code is supported",
                ));
            }
        }
        request.scopes = match params.scope {
            None => request.client.scopes.clone(),
            Some(scope) => match Scopes::parse(scope) {
                Ok(asked) if asked.iter().all(|s| request.client.scopes.contains(s)) => asked,
                Ok(_) => {
                    return Err(refuse(
                        &request,
                        "invalid_scope",
                        "The scope exceeds the client's registered scopes",
                    ));
                }
                Err(_) => {
                    return Err(refuse(&request, "invalid_scope", "The scope is malformed"));
                }
            },
        };
        match (params.code_challenge, params.code_challenge_method) {
            (None, _) => {
                return Err(refuse(
                    &request,
                    "invalid_request",
                    "PKCE is required: send code_challenge and code_challenge_method=S256",
                ));
            }
            (Some(_), Some(method)) if method != pkce::S256 => {
                return Err(refuse(
                    &request,
                    "invalid_request",
                    "Only code_challenge_method=S256 is supported",
                ));
            }
            // RFC 7636 §4.3: a missing method means `plain`, which is not offered.
            (Some(_), None) => {
                return Err(refuse(
                    &request,
                    "invalid_request",
                    "Send code_challenge_method=S256: plain is not supported",
                ));
            }
            (Some(challenge), Some(_)) if !pkce::valid_challenge(challenge) => {
                return Err(refuse(
                    &request,
                    "invalid_request",
                    "The code_challenge is not a base64url SHA-256",
                ));
            }
            (Some(challenge), Some(_)) => request.code_challenge = challenge.to_owned(),
        }
        Ok(request)
    }

    /// The user consented: issues a code for `account` — the request's scopes that the account
    /// holds, the account's tenants and claims — and answers the redirect that carries it (with
    /// `state` and `iss`). The code is stored only as a hash, for the
    /// [code lifetime](Self::code_ttl).
    pub async fn approve(
        &self,
        request: &AuthorizationRequest,
        account: Account,
    ) -> Result<String, AuthorizeError> {
        let codes = self.codes.as_ref().ok_or_else(|| {
            AuthorizeError::invalid("The authorization-code grant is not enabled")
        })?;
        let now = self.clock.now();
        let granted = request.scopes.intersect(&account.scopes);
        let code = format!("{CODE_PREFIX}{}", random_secret(CODE_SECRET_LEN));
        let hash = code_hash(&code).expect("a generated code has the code's shape");
        let record = AuthorizationCode::new(
            request.client.client_id.clone(),
            account.subject,
            granted,
            request.code_challenge.as_str(),
            now,
            now.saturating_add(self.code_ttl),
        )
        .with_redirect_uri(request.redirect_given.then(|| request.redirect_uri.clone()))
        .with_tenants(account.tenants)
        .with_claims(account.claims);
        if let Err(error) = codes.save(hash, record).await {
            tracing::warn!(error = %error, "saving an authorization code failed");
            // RFC 6749 §4.1.2.1: the client learns the server could not answer.
            return Err(AuthorizeError::Redirect(request.error_redirect(
                "temporarily_unavailable",
                Some("The authorization server could not store the code; try again"),
            )));
        }
        Ok(request.redirect_with(vec![("code", &code)]))
    }

    /// The user refused, or the app will not ask them: the redirect carrying `access_denied`.
    pub fn deny(&self, request: &AuthorizationRequest) -> String {
        request.error_redirect(
            "access_denied",
            Some("The resource owner denied the request"),
        )
    }
}
