//! `openapi::AuthDoc` (feature `utoipa`): the document an app generates describes its
//! authentication as its layer and token endpoints really behave — exactly the schemes the layer
//! accepts, the token endpoints at the paths and with the fields they are shaped to, the OAuth
//! flows the issuer offers, per-route scopes as security requirements — and it is valid OpenAPI
//! 3.1 by the official JSON Schema (testdata/openapi), checked by a validator.
#![cfg(all(
    feature = "utoipa",
    feature = "axum",
    feature = "issuer",
    any(feature = "aws-lc-rs", feature = "rust-crypto")
))]

use std::collections::BTreeSet;
use std::sync::Arc;

use http::Method;
use http::request::Parts;
use serde_json::{Value, json};
use tower_api_auth::api_key::ApiKeyHasher;
use tower_api_auth::credential::CredentialSources;
use tower_api_auth::endpoints::{
    Consent, ConsentDecision, Endpoint, RequestField, ResponseShape, TokenEndpoints, TokenField,
    TokenRoute,
};
use tower_api_auth::error::ErrorFormat;
use tower_api_auth::issuer::{
    AuthorizationRequest, MemoryClientStore, MemoryCodeStore, MemoryRefreshStore, SigningKey,
    TokenIssuer, TokenService,
};
use tower_api_auth::openapi::AuthDoc;
use tower_api_auth::scope::ScopeRequirement;
use tower_api_auth::{Algorithm, AuthLayer, MemoryKeyStore, RequireScopesLayer};
use utoipa::Modify;
use utoipa::openapi::path::OperationBuilder;
use utoipa::openapi::{HttpMethod, OpenApi, OpenApiBuilder, PathItem, PathsBuilder, Response};

const PUBLIC_URL: &str = "https://api.example.test/v1";

/// Denies every request: the authorization endpoint is served, nobody is signed in.
struct NobodyConsent;

impl Consent for NobodyConsent {
    async fn decide(&self, _request: &AuthorizationRequest, _parts: &Parts) -> ConsentDecision {
        ConsentDecision::Deny
    }
}

fn token_service(clients: bool, codes: bool) -> Arc<TokenService> {
    let signing =
        SigningKey::hmac(Algorithm::HS256, b"a-secret-of-at-least-thirty-two-bytes!!").unwrap();
    let mut service = TokenService::new(
        TokenIssuer::new(signing, "https://auth.example.test"),
        MemoryRefreshStore::new(),
    );
    if clients {
        service = service.clients(MemoryClientStore::new(ApiKeyHasher::default()));
    }
    if codes {
        service = service.authorization_codes(MemoryCodeStore::new());
    }
    Arc::new(service)
}

/// The app's own document: two operations on one path, as its `#[derive(OpenApi)]` would give.
fn app_document() -> OpenApi {
    let ok = || Response::new("OK");
    let item = PathItem::new(
        HttpMethod::Get,
        OperationBuilder::new()
            .operation_id(Some("list_conversations"))
            .response("200", ok()),
    );
    let mut item_post = PathItem::new(
        HttpMethod::Post,
        OperationBuilder::new()
            .operation_id(Some("create_conversation"))
            .response("201", ok()),
    );
    item_post.get = item.get;
    OpenApiBuilder::new()
        .paths(PathsBuilder::new().path("/v1/conversations", item_post))
        .build()
}

fn generate(doc: AuthDoc) -> Value {
    let mut openapi = app_document();
    doc.modify(&mut openapi);
    serde_json::to_value(&openapi).unwrap()
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("an object: {value}"))
        .keys()
        .cloned()
        .collect()
}

fn set<const N: usize>(items: [&str; N]) -> BTreeSet<String> {
    items.into_iter().map(str::to_owned).collect()
}

/// JWT and API keys, every token endpoint with the OAuth flows, two scoped routes.
fn full_document() -> Value {
    let tokens = token_service(true, true);
    let layer = AuthLayer::builder()
        .jwt(tokens.validator())
        .api_keys(MemoryKeyStore::new())
        .build()
        .unwrap();
    let endpoints = TokenEndpoints::new(tokens)
        .consent(NobodyConsent)
        .public_url(PUBLIC_URL);
    generate(
        AuthDoc::new(&layer)
            .token_endpoints("/v1", &endpoints)
            .scope("conversations:read", "Read conversations")
            .require_layer(
                "/v1/conversations",
                Method::GET,
                &RequireScopesLayer::any(["conversations:read", "admin"]),
            )
            .require(
                "/v1/conversations",
                Method::POST,
                ScopeRequirement::all(["conversations:write", "conversations:read"]),
            ),
    )
}

#[test]
fn jwt_api_keys_and_token_endpoints_give_exactly_their_schemes_paths_and_scopes() {
    let doc = full_document();
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(
        keys(schemes),
        set(["apiKey", "apiKeyBearer", "bearerJwt", "oauth2"])
    );
    assert_eq!(
        schemes["bearerJwt"],
        json!({ "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": schemes["bearerJwt"]["description"] })
    );
    assert_eq!(schemes["apiKey"]["type"], "apiKey");
    assert_eq!(schemes["apiKey"]["in"], "header");
    assert_eq!(schemes["apiKey"]["name"], "x-api-key");
    assert!(
        schemes["apiKey"]["description"]
            .as_str()
            .unwrap()
            .contains("x-tenant-id")
    );
    assert_eq!(schemes["apiKeyBearer"]["scheme"], "bearer");

    // The flows the issuer offers (codes with a consent, client credentials with clients; no
    // password grant), at the URLs its metadata publishes.
    let flows = &schemes["oauth2"]["flows"];
    assert_eq!(keys(flows), set(["authorizationCode", "clientCredentials"]));
    assert_eq!(
        flows["authorizationCode"]["authorizationUrl"],
        format!("{PUBLIC_URL}/oauth/authorize")
    );
    assert_eq!(
        flows["authorizationCode"]["tokenUrl"],
        format!("{PUBLIC_URL}/auth/token")
    );
    assert_eq!(
        flows["clientCredentials"]["tokenUrl"],
        format!("{PUBLIC_URL}/auth/token")
    );
    assert_eq!(
        flows["clientCredentials"]["scopes"],
        json!({
            "admin": "admin",
            "conversations:read": "Read conversations",
            "conversations:write": "conversations:write",
        })
    );

    // Every token endpoint, under the prefix, beside the app's own path.
    let paths = &doc["paths"];
    assert_eq!(
        keys(paths),
        set([
            "/v1/auth/login",
            "/v1/auth/logout",
            "/v1/auth/refresh",
            "/v1/auth/revoke",
            "/v1/auth/token",
            "/v1/auth/verify",
            "/v1/conversations",
            "/v1/oauth/authorize",
            "/v1/oauth/introspect",
        ])
    );
    let token = &paths["/v1/auth/token"]["post"];
    let grant_types = &token["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
        ["properties"]["grant_type"]["enum"];
    assert_eq!(
        grant_types,
        &json!([
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "api_key"
        ])
    );
    // The OAuth token endpoint answers RFC 6749 errors; login the layer's nested body.
    assert_eq!(
        token["responses"]["400"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/AuthErrorOAuth"
    );
    assert_eq!(
        paths["/v1/auth/login"]["post"]["responses"]["400"]["content"]["application/json"]["schema"]
            ["$ref"],
        "#/components/schemas/AuthErrorNested"
    );
    assert_eq!(
        doc["components"]["schemas"]["TokenResponse"]["required"],
        json!(["access_token", "token_type", "expires_in", "scope"])
    );

    // Verify is behind the layer: any of its schemes, no scope, 401 in the layer's body.
    let verify = &paths["/v1/auth/verify"]["get"];
    assert_eq!(
        verify["security"],
        json!([{ "apiKey": [] }, { "apiKeyBearer": [] }, { "bearerJwt": [] }, { "oauth2": [] }])
    );
    assert_eq!(
        verify["responses"]["401"]["$ref"],
        "#/components/responses/AuthUnauthorized"
    );
    assert!(paths["/v1/auth/login"]["post"].get("security").is_none());
}

#[test]
fn per_route_scopes_are_the_security_requirements_of_the_operations() {
    let doc = full_document();
    let conversations = &doc["paths"]["/v1/conversations"];
    // Any of two scopes: one alternative per scope and scheme (OpenAPI ORs the entries), in
    // the order the layer lists them.
    let mut expected = Vec::new();
    for scope in ["conversations:read", "admin"] {
        for scheme in ["apiKey", "apiKeyBearer", "bearerJwt", "oauth2"] {
            expected.push(json!({ scheme: [scope] }));
        }
    }
    assert_eq!(conversations["get"]["security"], Value::Array(expected));
    // All of two scopes: one list per scheme.
    assert_eq!(
        conversations["post"]["security"],
        json!([
            { "apiKey": ["conversations:write", "conversations:read"] },
            { "apiKeyBearer": ["conversations:write", "conversations:read"] },
            { "bearerJwt": ["conversations:write", "conversations:read"] },
            { "oauth2": ["conversations:write", "conversations:read"] },
        ])
    );
    let get = &conversations["get"];
    assert_eq!(get["operationId"], "list_conversations");
    assert_eq!(
        get["responses"]["403"]["$ref"],
        "#/components/responses/AuthForbidden"
    );
    let parameters = get["parameters"].as_array().unwrap();
    assert_eq!(parameters.len(), 1);
    assert_eq!(parameters[0]["name"], "x-tenant-id");
    assert_eq!(parameters[0]["in"], "header");
    assert_eq!(parameters[0]["required"], false);
    // The layer's tenant rules: 1 to 64 of the characters a tenant id may have, by default.
    assert_eq!(
        parameters[0]["schema"]["pattern"],
        "^[A-Za-z0-9_.:-]{1,64}$"
    );
}

#[test]
fn a_layer_with_only_api_keys_advertises_no_jwt_and_no_oauth2() {
    let layer = AuthLayer::builder()
        .api_keys(MemoryKeyStore::new())
        .credentials(
            CredentialSources::new().api_key_header(http::HeaderName::from_static("x-service-key")),
        )
        .build()
        .unwrap();
    // Token endpoints offering flows, but this layer would refuse their JWTs.
    let endpoints = TokenEndpoints::new(token_service(true, false)).public_url(PUBLIC_URL);
    let doc = generate(
        AuthDoc::new(&layer)
            .token_endpoints("", &endpoints)
            .require(
                "/v1/conversations",
                Method::GET,
                ScopeRequirement::all(["conversations:read"]),
            ),
    );
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(keys(schemes), set(["apiKey", "apiKeyBearer"]));
    assert_eq!(schemes["apiKey"]["name"], "x-service-key");
    assert_eq!(
        doc["paths"]["/v1/conversations"]["get"]["security"],
        json!([{ "apiKey": ["conversations:read"] }, { "apiKeyBearer": ["conversations:read"] }])
    );
}

#[test]
fn a_route_requiring_any_of_no_scope_still_requires_a_credential() {
    let layer = AuthLayer::builder()
        .api_keys(MemoryKeyStore::new())
        .build()
        .unwrap();
    let doc = generate(AuthDoc::new(&layer).require(
        "/v1/conversations",
        Method::GET,
        ScopeRequirement::any(Vec::<&str>::new()),
    ));
    // `security: []` would tell clients no credential is needed; the layer needs one.
    assert_eq!(
        doc["paths"]["/v1/conversations"]["get"]["security"],
        json!([{ "apiKey": [] }, { "apiKeyBearer": [] }])
    );
}

#[test]
fn a_jwt_only_layer_with_a_cookie_has_no_api_key_schemes() {
    let tokens = token_service(false, false);
    let layer = AuthLayer::builder()
        .jwt(tokens.validator())
        .credentials(CredentialSources::new().cookie("access_token"))
        .error_format(ErrorFormat::Problem)
        .optional()
        .build()
        .unwrap();
    let doc = generate(AuthDoc::new(&layer).authenticated("/v1/conversations", Method::GET));
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(keys(schemes), set(["bearerCookie", "bearerJwt"]));
    assert_eq!(schemes["bearerCookie"]["in"], "cookie");
    assert_eq!(schemes["bearerCookie"]["name"], "access_token");
    // An optional layer lets anonymous callers through: the empty requirement says so.
    assert_eq!(
        doc["paths"]["/v1/conversations"]["get"]["security"],
        json!([{ "bearerCookie": [] }, { "bearerJwt": [] }, {}])
    );
    assert_eq!(
        doc["components"]["responses"]["AuthUnauthorized"]["content"]["application/problem+json"]["schema"]
            ["$ref"],
        "#/components/schemas/AuthErrorProblem"
    );
}

/// The README's RAG Chats shape: renamed paths and fields, its own answer, no token endpoint.
fn shaped_endpoints(tokens: Arc<TokenService>) -> TokenEndpoints {
    TokenEndpoints::new(tokens)
        .endpoint(
            TokenRoute::Login,
            Endpoint::at("/auth/login/")
                .request_field(RequestField::Username, "email")
                .response(ResponseShape::fields([
                    (TokenField::AccessToken, "access"),
                    (TokenField::RefreshToken, "refresh"),
                    (TokenField::User, "user"),
                ])),
        )
        .endpoint(
            TokenRoute::Refresh,
            Endpoint::at("/auth/token/refresh/")
                .request_field(RequestField::RefreshToken, "refresh")
                .response(
                    ResponseShape::fields([
                        (TokenField::AccessToken, "access"),
                        (TokenField::RefreshToken, "refresh"),
                    ])
                    .envelope("data"),
                ),
        )
        .disable(TokenRoute::Token)
        .disable(TokenRoute::Introspect)
}

#[test]
fn shaped_endpoints_are_documented_at_their_paths_with_their_fields() {
    let tokens = token_service(true, false);
    let layer = AuthLayer::builder()
        .jwt(tokens.validator())
        .build()
        .unwrap();
    let doc = generate(AuthDoc::new(&layer).token_endpoints("", &shaped_endpoints(tokens)));
    assert_eq!(
        keys(&doc["paths"]),
        set([
            "/auth/login/",
            "/auth/logout",
            "/auth/revoke",
            "/auth/token/refresh/",
            "/auth/verify",
            "/v1/conversations",
        ])
    );
    // No token endpoint: no OAuth flow to advertise, whatever the issuer offers.
    assert_eq!(
        keys(&doc["components"]["securitySchemes"]),
        set(["bearerJwt"])
    );
    let login = &doc["paths"]["/auth/login/"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"]["properties"];
    assert_eq!(
        keys(login),
        set([
            "api_key",
            "email",
            "password",
            "scope",
            "session_id",
            "tenant"
        ])
    );
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        keys(&schemas["LoginResponse"]["properties"]),
        set(["access", "refresh", "user"])
    );
    assert_eq!(schemas["LoginResponse"]["required"], json!(["access"]));
    let refresh = &doc["paths"]["/auth/token/refresh/"]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]
        ["schema"];
    assert_eq!(refresh["required"], json!(["refresh"]));
    assert_eq!(schemas["RefreshResponse"]["required"], json!(["data"]));
    assert_eq!(
        keys(&schemas["RefreshResponse"]["properties"]["data"]["properties"]),
        set(["access", "refresh"])
    );
}

/// The documented token paths are the routes the router serves: none answers 404 or 405.
#[tokio::test]
async fn every_documented_token_operation_is_served_by_the_router() {
    let tokens = token_service(true, true);
    let layer = AuthLayer::builder()
        .jwt(tokens.validator())
        .build()
        .unwrap();
    for endpoints in [
        TokenEndpoints::new(tokens.clone()).consent(NobodyConsent),
        shaped_endpoints(tokens.clone()),
    ] {
        let doc = generate(AuthDoc::new(&layer).token_endpoints("/v1", &endpoints));
        let app = axum::Router::new().nest("/v1", endpoints.router(layer.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut checked = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            if path == "/v1/conversations" {
                continue;
            }
            for method in keys(item) {
                let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let reply = client
                    .request(method.clone(), format!("{base}{path}"))
                    .header("content-type", "application/json")
                    .body("{}")
                    .send()
                    .await
                    .unwrap();
                let status = reply.status().as_u16();
                assert!(
                    status != 404 && status != 405,
                    "{method} {path} is documented but answers {status}"
                );
                checked += 1;
            }
        }
        assert!(checked >= 5, "only {checked} operations checked");
        server.abort();
    }
}

/// The official OpenAPI 3.1 schema (testdata/openapi/README.md says where it comes from).
fn openapi_31_validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(include_str!(
        "../../testdata/openapi/schema-3.1-2022-10-07.json"
    ))
    .unwrap();
    jsonschema::validator_for(&schema).expect("the OpenAPI 3.1 schema compiles")
}

fn errors_of(validator: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    validator
        .iter_errors(doc)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect()
}

#[test]
fn the_generated_documents_are_valid_openapi_3_1() {
    let validator = openapi_31_validator();
    let tokens = token_service(true, true);
    let jwt_layer = AuthLayer::builder()
        .jwt(tokens.validator())
        .credentials(
            CredentialSources::new()
                .cookie("access_token")
                .query_param("access_token"),
        )
        .error_format(ErrorFormat::Flat)
        .build()
        .unwrap();
    let api_key_layer = AuthLayer::builder()
        .api_keys(MemoryKeyStore::new())
        .build()
        .unwrap();
    let documents = [
        full_document(),
        generate(
            AuthDoc::new(&jwt_layer)
                .token_endpoints(
                    "",
                    &shaped_endpoints(tokens.clone()).error_format(ErrorFormat::Problem),
                )
                .authenticated("/v1/conversations", Method::POST),
        ),
        generate(AuthDoc::new(&api_key_layer).require(
            "/v1/conversations",
            Method::GET,
            ScopeRequirement::any(["a", "b"]),
        )),
    ];
    for doc in &documents {
        assert_eq!(doc["openapi"], "3.1.0");
        let errors = errors_of(&validator, doc);
        assert!(
            errors.is_empty(),
            "invalid OpenAPI 3.1: {errors:#?}\n{doc:#}"
        );
    }

    // The validator is not vacuous: the same documents, broken as a careless generator would,
    // are refused.
    let mut no_flows = documents[0].clone();
    no_flows["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]
        .as_object_mut()
        .unwrap()
        .remove("tokenUrl");
    let mut bad_scheme = documents[2].clone();
    bad_scheme["components"]["securitySchemes"]["apiKey"]["in"] = json!("body");
    let mut bad_path = documents[1].clone();
    let item = bad_path["paths"]["/auth/verify"].take();
    bad_path["paths"]["auth/verify"] = item;
    let mut no_info = documents[2].clone();
    no_info.as_object_mut().unwrap().remove("info");
    for broken in [no_flows, bad_scheme, bad_path, no_info] {
        assert!(
            !errors_of(&validator, &broken).is_empty(),
            "a broken document passed: {broken:#}"
        );
    }
}

#[test]
#[should_panic(expected = "no operation `DELETE /v1/conversations`")]
fn marking_an_operation_the_document_lacks_is_a_setup_mistake() {
    let layer = AuthLayer::builder()
        .api_keys(MemoryKeyStore::new())
        .build()
        .unwrap();
    generate(AuthDoc::new(&layer).authenticated("/v1/conversations", Method::DELETE));
}
