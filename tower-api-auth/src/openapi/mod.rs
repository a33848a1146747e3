//! OpenAPI 3.1 (feature `utoipa`): an app's [utoipa](https://docs.rs/utoipa) document describes
//! its authentication as the [`AuthLayer`] really behaves.
//!
//! [`AuthDoc`] is built from the layer — which credentials it accepts, from which headers, cookie
//! or query parameter, its tenant header and error format — and, with `issuer` and `axum`, from
//! the token endpoints as they are configured (paths and field names as shaped, the OAuth flows
//! the issuer offers, under its public URL). As a [`utoipa::Modify`] it adds to the app's
//! document:
//!
//! | component | what |
//! | --- | --- |
//! | `securitySchemes` | [`BEARER_JWT`] (http bearer, JWT), [`API_KEY`] (apiKey in the API-key header), [`API_KEY_BEARER`] (http bearer: an API key), [`OPAQUE_BEARER`], [`COOKIE`], [`QUERY`], [`OAUTH2`]: only those the layer accepts |
//! | `schemas` | the layer's error body (`AuthErrorNested`, `AuthErrorFlat`, `AuthErrorProblem`, `AuthErrorOAuth`), the token endpoints' request and answer bodies |
//! | `responses` | `AuthUnauthorized` (401), `AuthForbidden` (403), `AuthTooManyRequests` (429), `AuthUnavailable` (503), in the layer's error body |
//! | `paths` | the token endpoints, at their configured paths |
//!
//! and marks the app's own operations with the security requirement of their route
//! ([`AuthDoc::require`], [`AuthDoc::authenticated`]).
//!
//! The tenant header (`X-Tenant-ID`) is no security scheme: OpenAPI ANDs the schemes of one
//! requirement, so a second scheme would tell clients the header is always needed, when a
//! credential bound to a single tenant (or to none) goes without it. It is a header parameter of
//! every operation the document marks, described with the layer's tenant rule, which Swagger UI
//! and other tools render as an input beside the authorization.
//!
//! Each scheme stands for one way a request may authenticate, so a route's requirement lists
//! them as alternatives (OpenAPI ORs the entries of `security`). The scopes a route requires
//! are the scopes of each alternative; OpenAPI 3.1 allows them (as "roles") on every kind of
//! scheme, not only OAuth 2.0, and API keys carry scopes just as tokens do. All of
//! [`ScopeRequirement::all`] are one list; one of [`ScopeRequirement::any`] becomes one entry
//! per scope.

mod errors;

use std::collections::BTreeMap;
use std::fmt;

use http::Method;
use serde_json::{Map, Value, json};
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{
    AuthorizationCode, ClientCredentials, Flow, OAuth2, Password, Scopes, SecurityRequirement,
    SecurityScheme,
};
use utoipa::openapi::{OpenApi, PathItem, Ref, RefOr};

use crate::layer::AuthLayer;
use crate::require_scopes::RequireScopesLayer;
use crate::scope::{ScopeMatch, ScopeRequirement};
use crate::tenant::{MAX_TENANT_LEN, TenantHeader};
pub(crate) use errors::{ErrorBody, error_body};

/// The security scheme of JWT Bearer tokens: `http`, `bearer`, `bearerFormat: JWT`.
pub const BEARER_JWT: &str = "bearerJwt";
/// The security scheme of API keys in the API-key header (`X-API-Key` by default).
pub const API_KEY: &str = "apiKey";
/// The security scheme of API keys sent as Bearer tokens.
pub const API_KEY_BEARER: &str = "apiKeyBearer";
/// The security scheme of opaque Bearer tokens (introspected).
pub const OPAQUE_BEARER: &str = "opaqueBearer";
/// The security scheme of a Bearer token in the configured cookie.
pub const COOKIE: &str = "bearerCookie";
/// The security scheme of a Bearer token in the configured query parameter.
pub const QUERY: &str = "bearerQuery";
/// The security scheme of the OAuth 2.0 flows the token endpoints offer.
pub const OAUTH2: &str = "oauth2";

/// The part of the document the token endpoints add (built in `endpoints::token`, which sees
/// their configuration).
#[derive(Debug, Default, Clone)]
pub(crate) struct TokenDoc {
    /// Path → PathItem.
    pub(crate) paths: BTreeMap<String, Value>,
    /// Component schemas.
    pub(crate) schemas: BTreeMap<String, Value>,
    /// The OAuth 2.0 flows offered, with their URLs; empty when none is.
    pub(crate) flows: Vec<FlowUrls>,
    /// The operations the auth layer protects (logout, verify).
    pub(crate) authenticated: Vec<(String, Method)>,
}

/// An OAuth 2.0 flow the token endpoints offer, and where.
// Only the token endpoints (`issuer` with `axum`) offer flows; without them, none is built.
#[cfg_attr(not(all(feature = "issuer", feature = "axum")), allow(dead_code))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FlowUrls {
    /// The authorization-code grant (with PKCE).
    AuthorizationCode { authorize: String, token: String },
    /// The client-credentials grant.
    ClientCredentials { token: String },
    /// The password grant.
    Password { token: String },
}

/// One of the app's operations and what it requires.
#[derive(Debug, Clone)]
struct RouteSecurity {
    path: String,
    method: Method,
    scopes: Option<ScopeRequirement>,
}

/// The authentication part of an app's OpenAPI document, derived from its [`AuthLayer`] (and its
/// token endpoints): apply it to a `utoipa::openapi::OpenApi` with [`utoipa::Modify::modify`].
/// See the [module](self) for what it adds.
///
/// ```
/// # #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use http::Method;
/// use tower_api_auth::openapi::{API_KEY, AuthDoc, BEARER_JWT};
/// use tower_api_auth::scope::ScopeRequirement;
/// use tower_api_auth::{AuthLayer, JwtValidator, MemoryKeyStore, jwt::JwtOptions};
/// use utoipa::Modify;
/// use utoipa::openapi::{HttpMethod, OpenApiBuilder, PathItem, PathsBuilder, path::OperationBuilder};
///
/// let layer = AuthLayer::builder()
///     .jwt(JwtValidator::hs256(b"a-secret-of-at-least-thirty-two-bytes!!", JwtOptions::new())?)
///     .api_keys(MemoryKeyStore::new())
///     .build()?;
///
/// // The app's own document (usually `#[derive(OpenApi)]`), with its route:
/// let list = PathItem::new(HttpMethod::Get, OperationBuilder::new().operation_id(Some("list")));
/// let mut openapi = OpenApiBuilder::new()
///     .paths(PathsBuilder::new().path("/v1/conversations", list))
///     .build();
///
/// AuthDoc::new(&layer)
///     .require("/v1/conversations", Method::GET, ScopeRequirement::all(["conversations:read"]))
///     .modify(&mut openapi);
///
/// let document = serde_json::to_value(&openapi)?;
/// let schemes = &document["components"]["securitySchemes"];
/// assert_eq!(schemes[BEARER_JWT]["bearerFormat"], "JWT");
/// assert_eq!(schemes[API_KEY]["name"], "x-api-key");
/// let security = &document["paths"]["/v1/conversations"]["get"]["security"];
/// assert!(security.as_array().unwrap().contains(&serde_json::json!({ "bearerJwt": ["conversations:read"] })));
/// # Ok(()) }
/// # #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
/// # fn main() {}
/// ```
#[derive(Clone)]
#[must_use]
pub struct AuthDoc {
    /// Scheme name → Security Scheme Object, all but OAuth 2.0's.
    schemes: BTreeMap<&'static str, Value>,
    tenant_header: String,
    tenant_always: bool,
    tenant_max_len: usize,
    optional: bool,
    error: ErrorBody,
    tokens: TokenDoc,
    scopes: BTreeMap<String, String>,
    routes: Vec<RouteSecurity>,
}

impl fmt::Debug for AuthDoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthDoc")
            .field("schemes", &self.schemes.keys().collect::<Vec<_>>())
            .field("paths", &self.tokens.paths.keys().collect::<Vec<_>>())
            .field("routes", &self.routes)
            .finish_non_exhaustive()
    }
}

/// An HTTP Bearer security scheme, of `format` when it has one.
fn bearer_scheme(format: Option<&str>, description: String) -> Value {
    let mut scheme = json!({ "type": "http", "scheme": "bearer", "description": description });
    if let Some(format) = format {
        scheme["bearerFormat"] = json!(format);
    }
    scheme
}

impl AuthDoc {
    /// The security schemes `layer` accepts, its tenant header and its error body.
    pub fn new(layer: &AuthLayer) -> Self {
        let sources = layer.credential_sources();
        let mut schemes = BTreeMap::new();
        let tenant = sources.tenant_header.as_str();
        let tenant_note = format!(" The tenant is chosen with the `{tenant}` header.");
        if layer.accepts_jwt() {
            schemes.insert(
                BEARER_JWT,
                bearer_scheme(
                    Some("JWT"),
                    format!("A JWT access token: `Authorization: Bearer <jwt>`.{tenant_note}"),
                ),
            );
        }
        if layer.accepts_api_keys() {
            schemes.insert(
                API_KEY,
                json!({
                    "type": "apiKey", "in": "header", "name": sources.api_key_header.as_str(),
                    "description": format!("An API key in the `{}` header.{tenant_note}", sources.api_key_header),
                }),
            );
            schemes.insert(
                API_KEY_BEARER,
                bearer_scheme(
                    Some("API key"),
                    format!(
                        "An API key as a Bearer token: `Authorization: Bearer <key>`.{tenant_note}"
                    ),
                ),
            );
        }
        if layer.accepts_opaque_tokens() {
            schemes.insert(
                OPAQUE_BEARER,
                bearer_scheme(
                    None,
                    format!("An opaque access token, checked by introspection.{tenant_note}"),
                ),
            );
        }
        if let Some(cookie) = &sources.cookie {
            schemes.insert(
                COOKIE,
                json!({
                    "type": "apiKey", "in": "cookie", "name": cookie,
                    "description": "A Bearer token in a cookie (a header credential wins over it).",
                }),
            );
        }
        if let Some(param) = &sources.query_param {
            schemes.insert(
                QUERY,
                json!({
                    "type": "apiKey", "in": "query", "name": param,
                    "description": "A Bearer token in the query string (RFC 6750 section 2.3).",
                }),
            );
        }
        Self {
            schemes,
            tenant_header: tenant.to_owned(),
            tenant_always: layer.tenant_rules().header == TenantHeader::Always,
            tenant_max_len: layer.tenant_rules().max_len.min(MAX_TENANT_LEN),
            optional: layer.is_optional(),
            error: error_body(layer.error_format()),
            tokens: TokenDoc::default(),
            scopes: BTreeMap::new(),
            routes: Vec::new(),
        }
    }

    /// Adds the token endpoints' paths, at the paths `endpoints` serves them under `prefix`
    /// (where their router is nested: `"/v1"`, or `""` at the root), with their request and
    /// answer bodies as shaped and their failures in their error formats; marks logout and
    /// verify as behind the layer; and, when the layer accepts JWTs, the OAuth 2.0 flows the
    /// issuer offers (authorization code with a [consent](crate::endpoints::TokenEndpoints::consent),
    /// client credentials with registered clients, password when offered) at the endpoints' URLs
    /// under their [public URL](crate::endpoints::TokenEndpoints::public_url).
    #[cfg(all(feature = "issuer", feature = "axum"))]
    pub fn token_endpoints(
        mut self,
        prefix: &str,
        endpoints: &crate::endpoints::TokenEndpoints,
    ) -> Self {
        self.tokens = endpoints.openapi(prefix.trim_end_matches('/'), &self.error);
        self
    }

    /// Describes a scope in the OAuth 2.0 scheme (every scope a route requires is listed, with
    /// its name as description unless given one here).
    pub fn scope(mut self, scope: impl Into<String>, description: impl Into<String>) -> Self {
        self.scopes.insert(scope.into(), description.into());
        self
    }

    /// Marks the operation `method` of `path` (a path of the app's document, as it is written
    /// there) as requiring `scopes` of the caller, whichever scheme it authenticates with: what
    /// a [`RequireScopesLayer`] on that route checks. Anonymous callers are refused even behind
    /// an optional layer.
    ///
    /// # Panics
    ///
    /// [`modify`](utoipa::Modify::modify) panics if the document has no such operation: a
    /// mistake in the app's setup, caught when it starts.
    pub fn require(
        mut self,
        path: impl Into<String>,
        method: Method,
        scopes: ScopeRequirement,
    ) -> Self {
        self.routes.push(RouteSecurity {
            path: path.into(),
            method,
            scopes: Some(scopes),
        });
        self
    }

    /// As [`require`](Self::require), with the requirement of `layer`.
    pub fn require_layer(
        self,
        path: impl Into<String>,
        method: Method,
        layer: &RequireScopesLayer,
    ) -> Self {
        self.require(path, method, layer.requirement().clone())
    }

    /// Marks the operation `method` of `path` as behind the auth layer, with no scope required
    /// (behind an optional layer, anonymous callers pass too).
    ///
    /// # Panics
    ///
    /// As [`require`](Self::require).
    pub fn authenticated(mut self, path: impl Into<String>, method: Method) -> Self {
        self.routes.push(RouteSecurity {
            path: path.into(),
            method,
            scopes: None,
        });
        self
    }

    /// The schemes the document declares, in order (OAuth 2.0's when the token endpoints offer a
    /// flow and the layer accepts their JWTs).
    fn scheme_names(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.schemes.keys().copied().collect();
        if self.offers_oauth2() {
            names.push(OAUTH2);
        }
        names
    }

    /// The token endpoints' access tokens are JWTs: a layer that takes no JWT takes none of them.
    fn offers_oauth2(&self) -> bool {
        !self.tokens.flows.is_empty() && self.schemes.contains_key(BEARER_JWT)
    }

    /// The Security Requirement Objects of a route.
    fn security(&self, scopes: Option<&ScopeRequirement>) -> Vec<SecurityRequirement> {
        let names = self.scheme_names();
        let none: [&str; 0] = [];
        let mut alternatives = Vec::new();
        match scopes {
            None => {
                alternatives.extend(
                    names
                        .iter()
                        .map(|name| SecurityRequirement::new(*name, none)),
                );
                if self.optional {
                    // The empty requirement: no credential at all.
                    alternatives.push(SecurityRequirement::default());
                }
            }
            Some(requirement) => {
                let scopes: Vec<&str> = requirement.scopes().iter().collect();
                match requirement.mode() {
                    ScopeMatch::All => alternatives.extend(
                        names
                            .iter()
                            .map(|name| SecurityRequirement::new(*name, scopes.iter().copied())),
                    ),
                    // No scope to offer: a credential is still required, with none.
                    ScopeMatch::Any if scopes.is_empty() => alternatives.extend(
                        names
                            .iter()
                            .map(|name| SecurityRequirement::new(*name, none)),
                    ),
                    ScopeMatch::Any => {
                        for scope in &scopes {
                            alternatives.extend(
                                names
                                    .iter()
                                    .map(|name| SecurityRequirement::new(*name, [*scope])),
                            );
                        }
                    }
                }
            }
        }
        alternatives
    }

    /// Every scope the document names: those described, and those routes require.
    fn all_scopes(&self) -> BTreeMap<String, String> {
        let mut scopes = self.scopes.clone();
        for route in &self.routes {
            for scope in route.scopes.iter().flat_map(|r| r.scopes().iter()) {
                scopes
                    .entry(scope.to_owned())
                    .or_insert_with(|| scope.to_owned());
            }
        }
        scopes
    }

    /// The OAuth 2.0 scheme, built with utoipa's types: its `Flow` is an untagged enum, which
    /// could not tell an authorization-code flow from an implicit one read back from JSON.
    fn oauth2_scheme(&self) -> SecurityScheme {
        let scopes = || Scopes::from_iter(self.all_scopes());
        let flows = self.tokens.flows.iter().map(|flow| match flow {
            FlowUrls::AuthorizationCode { authorize, token } => Flow::AuthorizationCode(
                AuthorizationCode::with_refresh_url(authorize, token, scopes(), token),
            ),
            FlowUrls::ClientCredentials { token } => {
                Flow::ClientCredentials(ClientCredentials::with_refresh_url(token, scopes(), token))
            }
            FlowUrls::Password { token } => {
                Flow::Password(Password::with_refresh_url(token, scopes(), token))
            }
        });
        SecurityScheme::OAuth2(OAuth2::with_description(
            flows,
            "The OAuth 2.0 flows of the token endpoints; their access tokens are JWTs.",
        ))
    }

    fn tenant_parameter(&self) -> Value {
        let rule = if self.tenant_always {
            "Required with every credential bound to a tenant."
        } else {
            "Required when the credential is bound to several tenants, to choose one; a credential bound to one acts for it without the header."
        };
        json!({
            "name": self.tenant_header,
            "in": "header",
            "required": false,
            "description": format!("The tenant the request acts for. {rule}"),
            "schema": {
                "type": "string",
                "pattern": format!("^[A-Za-z0-9_.:-]{{1,{}}}$", self.tenant_max_len),
            },
        })
    }

    fn responses(&self) -> Map<String, Value> {
        let content = json!({
            self.error.content_type: {
                "schema": { "$ref": format!("#/components/schemas/{}", self.error.name) },
            },
        });
        let challenge = json!({
            "WWW-Authenticate": {
                "description": "The RFC 6750 Bearer challenge (its `error`, and `scope` for insufficient_scope).",
                "schema": { "type": "string" },
            },
        });
        let retry = json!({
            "Retry-After": { "description": "Seconds to wait.", "schema": { "type": "integer" } },
        });
        let response = |description: &str, headers: Option<&Value>| {
            let mut response = json!({ "description": description, "content": content });
            if let Some(headers) = headers {
                response["headers"] = headers.clone();
            }
            response
        };
        Map::from_iter([
            (
                "AuthUnauthorized".to_owned(),
                response(
                    "No credential, or an invalid, expired or revoked one.",
                    Some(&challenge),
                ),
            ),
            (
                "AuthForbidden".to_owned(),
                response(
                    "The credential lacks a required scope or the tenant.",
                    Some(&challenge),
                ),
            ),
            (
                "AuthTooManyRequests".to_owned(),
                response("Too many requests or failed attempts.", Some(&retry)),
            ),
            (
                "AuthUnavailable".to_owned(),
                response(
                    "Credentials cannot be judged now (a key store or key set is unreachable).",
                    Some(&retry),
                ),
            ),
        ])
    }

    /// Sets the security of one operation, its tenant parameter and its auth responses. Typed,
    /// so that the app's own content of the operation is left exactly as it was.
    fn mark(&self, operation: &mut Operation, scopes: Option<&ScopeRequirement>) {
        operation.security = Some(self.security(scopes));
        let parameters = operation.parameters.get_or_insert_with(Vec::new);
        let has_tenant = parameters.iter().any(|parameter| {
            parameter.parameter_in == ParameterIn::Header
                && parameter.name.eq_ignore_ascii_case(&self.tenant_header)
        });
        if !has_tenant {
            parameters.push(typed(self.tenant_parameter(), "parameter"));
        }
        let mut statuses = vec![("401", "AuthUnauthorized"), ("503", "AuthUnavailable")];
        if scopes.is_some() {
            statuses.push(("403", "AuthForbidden"));
        }
        for (status, name) in statuses {
            operation
                .responses
                .responses
                .entry(status.to_owned())
                .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
        }
    }
}

/// Converts a JSON fragment this module wrote into utoipa's type for it. Debug builds check
/// that nothing was lost on the way (a member utoipa's type has no field for).
fn typed<T: serde::de::DeserializeOwned + serde::Serialize>(value: Value, what: &str) -> T {
    let converted: T = serde_json::from_value(value.clone()).unwrap_or_else(|error| {
        panic!("openapi: the {what} built is not utoipa's: {error}: {value}")
    });
    debug_assert_eq!(
        serde_json::to_value(&converted).ok().as_ref(),
        Some(&value),
        "openapi: utoipa's {what} lost part of the one built"
    );
    converted
}

/// The operation of `method` in `item`.
fn operation_mut<'a>(item: &'a mut PathItem, method: &Method) -> Option<&'a mut Operation> {
    let operation = match *method {
        Method::GET => &mut item.get,
        Method::POST => &mut item.post,
        Method::PUT => &mut item.put,
        Method::DELETE => &mut item.delete,
        Method::PATCH => &mut item.patch,
        Method::HEAD => &mut item.head,
        Method::OPTIONS => &mut item.options,
        Method::TRACE => &mut item.trace,
        _ => return None,
    };
    operation.as_mut()
}

impl utoipa::Modify for AuthDoc {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, scheme) in &self.schemes {
            components
                .security_schemes
                .insert((*name).to_owned(), typed(scheme.clone(), "security scheme"));
        }
        if self.offers_oauth2() {
            components
                .security_schemes
                .insert(OAUTH2.to_owned(), self.oauth2_scheme());
        }
        components.schemas.insert(
            self.error.name.to_owned(),
            typed(self.error.schema.clone(), "schema"),
        );
        for (name, schema) in &self.tokens.schemas {
            components
                .schemas
                .insert(name.clone(), typed(schema.clone(), "schema"));
        }
        for (name, response) in self.responses() {
            components
                .responses
                .insert(name, typed(response, "response"));
        }

        // The app's own operations on a token endpoint's path stay.
        for (path, item) in &self.tokens.paths {
            let item: PathItem = typed(item.clone(), "path item");
            match openapi.paths.paths.get_mut(path) {
                Some(existing) => existing.merge_operations(item),
                None => {
                    openapi.paths.paths.insert(path.clone(), item);
                }
            }
        }

        let routes = (self.tokens.authenticated.iter()).map(|(path, method)| (path, method, None));
        let routes = routes.chain(
            self.routes
                .iter()
                .map(|route| (&route.path, &route.method, route.scopes.as_ref())),
        );
        for (path, method, scopes) in routes {
            let operation = (openapi.paths.paths.get_mut(path))
                .and_then(|item| operation_mut(item, method))
                .unwrap_or_else(|| {
                    panic!("openapi: the document has no operation `{method} {path}` to mark")
                });
            self.mark(operation, scopes);
        }
    }
}
