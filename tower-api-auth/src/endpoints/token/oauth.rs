//! The OAuth 2.0 authorization server's own routes: the authorization endpoint (RFC 6749 §3.1),
//! introspection (RFC 7662) and the authorization server metadata (RFC 8414).

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, LOCATION, REFERRER_POLICY, X_FRAME_OPTIONS,
};
use http::{HeaderValue, Method, StatusCode};
use serde_json::{Value, json};

use super::body::invalid_request;
use super::consent::DynConsent;
use super::{
    ClientAuth, Refusal, RequestField, Route, TokenEndpoints, TokenRoute, json_body, no_store,
};
use crate::endpoints::protected_resource::document;
use crate::issuer::{AuthorizationParams, AuthorizeError, GrantError, GrantErrorKind};
use crate::resource_metadata::split_url;

/// The most parameters an authorization request may have.
const MAX_PARAMETERS: usize = 64;

/// The authorization request's parameters, each at most once (RFC 6749 §3.1): from the query of
/// a GET, from the form body of a POST.
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(raw: &[u8]) -> Result<Self, GrantError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(raw)
            .map_err(|_| invalid_request("The authorization request is not valid URL encoding"))?;
        // A request has seven parameters of ours and a few of the client's: many more is abuse.
        if pairs.len() > MAX_PARAMETERS {
            return Err(invalid_request(
                "The authorization request has too many parameters",
            ));
        }
        let mut seen = std::collections::HashSet::with_capacity(pairs.len());
        if !pairs.iter().all(|(name, _)| seen.insert(name.as_str())) {
            return Err(invalid_request(
                "A parameter of the authorization request is repeated",
            ));
        }
        Ok(Self(pairs))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    fn params(&self) -> AuthorizationParams<'_> {
        AuthorizationParams {
            response_type: self.get("response_type"),
            client_id: self.get("client_id"),
            redirect_uri: self.get("redirect_uri"),
            scope: self.get("scope"),
            state: self.get("state"),
            code_challenge: self.get("code_challenge"),
            code_challenge_method: self.get("code_challenge_method"),
        }
    }
}

/// A redirect back to the client: 302 for a GET (RFC 6749 §4.1.2), 303 after a POST so that the
/// browser does not post the form again. Never cached, never leaking the code in a `Referer`.
fn redirect(method: &Method, location: &str) -> Response {
    let status = if method == Method::POST {
        StatusCode::SEE_OTHER
    } else {
        StatusCode::FOUND
    };
    let Ok(location) = HeaderValue::try_from(location) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut response = status.into_response();
    let headers = response.headers_mut();
    headers.insert(LOCATION, location);
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    no_store(headers);
    response
}

pub(super) async fn authorize(route: Route, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let raw = if parts.method == Method::POST {
        match route.fields_bytes(&parts.headers, body).await {
            Ok(bytes) => bytes,
            Err(error) => return route.reject(error),
        }
    } else {
        drop(body);
        parts.uri.query().unwrap_or_default().as_bytes().to_vec()
    };
    let query = match Query::parse(&raw) {
        Ok(query) => query,
        Err(error) => return route.reject(error),
    };
    let service = &route.shared.service;
    let request = match service.authorization_request(&query.params()).await {
        Ok(request) => request,
        Err(AuthorizeError::Invalid(error)) => return route.reject(error),
        Err(AuthorizeError::Redirect(location)) => return redirect(&parts.method, &location),
    };
    let Some(consent) = route.shared.consent.as_ref() else {
        return route.reject(GrantError::new(GrantErrorKind::Misconfigured));
    };
    let decision = DynConsent::decide(&**consent, &request, &parts).await;
    match decision {
        super::ConsentDecision::Approve(account) => {
            match service.approve(&request, account).await {
                Ok(location) | Err(AuthorizeError::Redirect(location)) => {
                    redirect(&parts.method, &location)
                }
                Err(AuthorizeError::Invalid(error)) => route.reject(error),
            }
        }
        super::ConsentDecision::Deny => redirect(&parts.method, &service.deny(&request)),
        super::ConsentDecision::Respond(mut response) => {
            let headers = response.headers_mut();
            // A login or consent page is about this user: never cached; and never framed by
            // another site, which could trick the user into approving (RFC 9700 §4.7, §4.9).
            headers
                .entry(CACHE_CONTROL)
                .or_insert(HeaderValue::from_static("no-store"));
            headers
                .entry(X_FRAME_OPTIONS)
                .or_insert(HeaderValue::from_static("DENY"));
            headers
                .entry(CONTENT_SECURITY_POLICY)
                .or_insert(HeaderValue::from_static("frame-ancestors 'none'"));
            response
        }
    }
}

pub(super) async fn introspect(route: Route, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let client = route.client_ip(&parts);
    let result: Result<Value, Refusal> = async {
        let fields = route.fields(&parts.headers, body).await?;
        let credentials: ClientAuth = route
            .client_credentials(&fields, &parts.headers)?
            .ok_or_else(|| GrantError::new(GrantErrorKind::InvalidClient))?;
        let token = route.require(&fields, RequestField::Token)?;
        let hint = route.get(&fields, RequestField::TokenTypeHint)?;
        // A wrong client secret is throttled as at the token endpoint.
        let introspection = route
            .shared
            .service
            .introspect(credentials.credentials(), token, hint);
        route.guarded(client, None, introspection).await
    }
    .await;
    match result {
        Ok(answer) => {
            let mut response = json_body(&answer).into_response();
            no_store(response.headers_mut());
            response
        }
        Err(Refusal::Grant(error)) => route.reject(error),
        Err(Refusal::Throttled(throttled)) => route.throttled(throttled),
    }
}

impl TokenEndpoints {
    /// The absolute URL of `route` as this router serves it, if it is enabled.
    fn route_url(&self, base: &str, route: TokenRoute) -> Option<String> {
        let endpoint = self.endpoints.get(&route).cloned().unwrap_or_default();
        if !endpoint.enabled || (route == TokenRoute::Authorize && self.consent.is_none()) {
            return None;
        }
        let path = endpoint
            .path
            .unwrap_or_else(|| route.default_path().to_owned());
        Some(format!("{base}{path}"))
    }

    /// The RFC 8414 authorization server metadata of this router: its issuer, the URLs of its
    /// endpoints (under [`public_url`](Self::public_url)), and what it supports — exactly what
    /// the router serves, no more. `jwks_uri` is added by [`well_known_router`](Self::well_known_router)
    /// when the issuer publishes keys.
    pub fn metadata(&self) -> Value {
        let service = &self.service;
        let issuer = service.issuer_url();
        let base = self
            .public_url
            .clone()
            .unwrap_or_else(|| issuer.trim_end_matches('/').to_owned());
        let mut grants = vec!["refresh_token"];
        if service.offers_client_credentials() {
            grants.push("client_credentials");
        }
        if self.consent.is_some() && service.offers_authorization_codes() {
            grants.insert(0, "authorization_code");
        }
        if self.password_grant {
            grants.push("password");
        }
        let mut metadata = json!({
            "issuer": issuer,
            "token_endpoint": self.route_url(&base, TokenRoute::Token),
            "grant_types_supported": grants,
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "revocation_endpoint": self.route_url(&base, TokenRoute::Revoke),
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "introspection_endpoint": self.route_url(&base, TokenRoute::Introspect),
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        });
        if let Some(authorize) = self.route_url(&base, TokenRoute::Authorize) {
            metadata["authorization_endpoint"] = Value::from(authorize);
            metadata["response_types_supported"] = json!(["code"]);
            metadata["response_modes_supported"] = json!(["query"]);
            metadata["code_challenge_methods_supported"] = json!(["S256"]);
            metadata["authorization_response_iss_parameter_supported"] = Value::Bool(true);
        } else {
            // RFC 8414 §2 requires the member; a server without the authorization endpoint
            // supports no response type.
            metadata["response_types_supported"] = json!([]);
        }
        if self.service.jwks_json().is_some() {
            let (origin, _) = split_url(issuer);
            metadata["jwks_uri"] = Value::from(format!("{origin}{}", self.jwks_path()));
        }
        if let Value::Object(map) = &mut metadata {
            map.retain(|_, value| !value.is_null());
        }
        metadata
    }

    /// The document's path: `/.well-known/oauth-authorization-server` with the issuer's path
    /// after it (RFC 8414 §3.1), where the crate's own discovery (`remote`) and other clients
    /// look for it.
    pub fn metadata_path(&self) -> String {
        format!(
            "/.well-known/oauth-authorization-server{}",
            split_url(self.service.issuer_url()).1
        )
    }

    /// The JWK set's path, beside the metadata: `/.well-known/jwks.json` with the issuer's path
    /// after it.
    pub fn jwks_path(&self) -> String {
        format!(
            "/.well-known/jwks.json{}",
            split_url(self.service.issuer_url()).1
        )
    }

    /// The router of the authorization server's well-known documents, to merge at the root of the
    /// issuer's host (not where the token endpoints are nested): the RFC 8414 metadata at
    /// [`metadata_path`](Self::metadata_path) and, when the issuer signs with public keys, their
    /// JWK set at [`jwks_path`](Self::jwks_path) — read anew for every request, so that a
    /// rotation is served at once. Call it before [`router`](Self::router).
    pub fn well_known_router<S>(&self) -> axum::Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let metadata: bytes::Bytes = json_body(&self.metadata()).1.into();
        let mut router = axum::Router::new().route(
            &self.metadata_path(),
            axum::routing::get(move || {
                let body = metadata.clone();
                async move {
                    document(
                        body,
                        "application/json",
                        HeaderValue::from_static("public, max-age=3600"),
                    )
                }
            }),
        );
        if self.service.jwks_json().is_some() {
            let service = self.service.clone();
            router = router.route(
                &self.jwks_path(),
                axum::routing::get(move || {
                    let jwks = service.jwks_json().unwrap_or_default();
                    // Five minutes: far below the time a new key is published before it signs
                    // (an hour by default), so that consumers see it before its first token.
                    async move {
                        document(
                            jwks.into(),
                            "application/jwk-set+json",
                            HeaderValue::from_static("public, max-age=300"),
                        )
                    }
                }),
            );
        }
        router.with_state(())
    }
}
