//! Seed 003, RAG Chats' authentication, with tower-api-auth doing the work.
//!
//! ```text
//! cargo run -p tower-api-auth-examples --example ragchats        # PORT, DATABASE_URL, REDIS_URL
//! ```
//!
//! * `POST /api/auth/login/` `{"email","password"}` → `{"access","refresh","user":{…}}`.
//! * `POST /api/auth/token/refresh/` `{"refresh"}` → `{"access"}`: the refresh token is not
//!   rotated; it works until it expires (7 days) or the user logs out.
//! * `POST /api/auth/logout/` with `Authorization: Bearer <access>`: both tokens stop working.
//! * `GET /api/agents/` with the access token (1 hour); `POST /api/agents/{id}/query/` with
//!   `Authorization: Bearer <API key>`.
//! * `GET /api/openapi.json`: the OpenAPI 3.1 document, its authentication derived from the
//!   layer and the endpoints (`tower_api_auth::openapi::AuthDoc`).
//! * Errors: 401 for an invalid or expired token, 403 for a valid one without permission, as
//!   `{"error":"token_expired","message":"Access token has expired","details":{"expired_at":…}}`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Path;
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method, Response, StatusCode};
use serde_json::{Value, json};
use tower_api_auth::api_key::KeySpec;
use tower_api_auth::endpoints::{
    Endpoint, Failure, RequestField, ResponseShape, TokenEndpoints, TokenField, TokenRoute,
};
use tower_api_auth::issuer::{Account, GrantErrorKind, RefreshPolicy, SigningKey, TokenIssuer};
use tower_api_auth::openapi::AuthDoc;
use tower_api_auth::{
    Algorithm, AuthError, AuthLayer, Identity, RequireScopesLayer, crypto, scope::Scopes,
};

use utoipa::Modify;
use utoipa::openapi::path::{OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{
    HttpMethod, Info, OpenApi, OpenApiBuilder, PathItem, PathsBuilder, Required,
};

#[path = "seeds_support/mod.rs"]
pub(crate) mod support;

use support::{Demo, DemoUsers, Error, Stores};
use tower_api_auth::clock::SharedClock;

async fn agents(identity: Identity) -> Json<Value> {
    Json(json!({ "results": [{ "id": "bot_1", "owner": identity.principal() }] }))
}

async fn query(Path(bot): Path<String>) -> Json<Value> {
    Json(json!({ "agent": bot, "answer": "Hello!" }))
}

/// `{"error": code, "message", "details": {…}}`, as the API documents its errors.
fn ragchats_errors(error: &AuthError) -> Response<Bytes> {
    let mut body = json!({ "error": error.code(), "message": error.message() });
    if !error.details().is_empty() {
        body["details"] = Value::Object(error.details().clone());
    }
    let mut response = Response::new(Bytes::from(body.to_string()));
    *response.status_mut() = error.status();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The app and its demo credentials; `clock` tells the time (the system's, or a test's).
pub(crate) async fn demo(stores: Stores, clock: SharedClock) -> Result<Demo, Error> {
    let password = crypto::random_secret(16);
    let user = json!({
        "id": "123e4567-e89b-12d3-a456-426614174000",
        "email": "user@example.com",
        "firstName": "John",
        "lastName": "Doe",
    });
    let account = Account::new(
        "123e4567-e89b-12d3-a456-426614174000",
        Scopes::parse("agents:manage")?,
    )
    .with_user(user);
    let users = DemoUsers::new([("user@example.com", password.as_str(), account)]);
    let (api_keys, keys) = support::api_keys(&stores, "rag_live").await?;
    let api_key = keys
        .create(
            KeySpec::default()
                .owner("bot_1")
                .scopes(Scopes::parse("agents:query")?),
        )
        .await?
        .key;

    // Access 1 hour; one refresh token for 7 days, not rotated (django-rest-framework-simplejwt's way).
    let signing = SigningKey::hmac(Algorithm::HS256, crypto::random_secret(43).as_bytes())?;
    let issuer = TokenIssuer::new(signing, "https://api.ragchats.test")
        .access_token_ttl(Duration::from_secs(3600));
    let tokens = stores
        .token_service(issuer)
        .clock(clock.clone())
        .passwords(users)
        .refresh_policy(RefreshPolicy::Reuse)
        .session_ttl(Duration::from_secs(7 * 24 * 3600));
    let tokens = Arc::new(tokens);
    let auth = AuthLayer::builder()
        .clock(clock)
        .jwt(tokens.validator())
        .revocation(tokens.revocations())
        .api_keys(api_keys)
        .error_renderer(ragchats_errors)
        .build()?;

    let login = Endpoint::at("/api/auth/login/")
        .request_field(RequestField::Username, "email")
        .response(ResponseShape::fields([
            (TokenField::AccessToken, "access"),
            (TokenField::RefreshToken, "refresh"),
            (TokenField::User, "user"),
        ]));
    let refresh = Endpoint::at("/api/auth/token/refresh/")
        .request_field(RequestField::RefreshToken, "refresh")
        .response(ResponseShape::fields([(TokenField::AccessToken, "access")]))
        // 401 for an invalid or expired token, as django-rest-framework-simplejwt answers it.
        .on(
            GrantErrorKind::InvalidGrant,
            Failure::new(StatusCode::UNAUTHORIZED, "token_not_valid")
                .message("Token is invalid or expired"),
        );
    let endpoints = TokenEndpoints::new(tokens)
        .endpoint(TokenRoute::Login, login)
        .endpoint(TokenRoute::Refresh, refresh)
        .endpoint(TokenRoute::Logout, Endpoint::at("/api/auth/logout/"))
        .disable(TokenRoute::Token)
        .disable(TokenRoute::Revoke)
        .disable(TokenRoute::Verify);
    let manage = RequireScopesLayer::all(["agents:manage"]);
    let ask = RequireScopesLayer::all(["agents:query"]);
    // The same layers the routes check document their requirements.
    let mut openapi = api_document();
    AuthDoc::new(&auth)
        .token_endpoints("", &endpoints)
        .scope("agents:manage", "List and manage the user's agents")
        .scope("agents:query", "Query an agent (API keys)")
        .require_layer("/api/agents/", Method::GET, &manage)
        .require_layer("/api/agents/{id}/query/", Method::POST, &ask)
        .modify(&mut openapi);
    let openapi = Json(serde_json::to_value(&openapi)?);
    let router = Router::new()
        .route("/api/agents/", get(agents).route_layer(manage))
        .route("/api/agents/{id}/query/", post(query).route_layer(ask))
        .route_layer(auth.clone())
        .merge(endpoints.router(auth))
        .route("/api/openapi.json", get(move || async move { openapi }));
    let credentials =
        json!({ "email": "user@example.com", "password": password, "api_key": api_key });
    Ok(Demo {
        router,
        credentials,
    })
}

/// The API's own operations, as a `#[derive(OpenApi)]` would list them; `AuthDoc` adds the rest.
fn api_document() -> OpenApi {
    let agents = OperationBuilder::new()
        .operation_id(Some("list_agents"))
        .response("200", utoipa::openapi::Response::new("The user's agents"));
    let id = ParameterBuilder::new()
        .name("id")
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)));
    let query = OperationBuilder::new()
        .operation_id(Some("query_agent"))
        .parameter(id)
        .response("200", utoipa::openapi::Response::new("The agent's answer"));
    OpenApiBuilder::new()
        .info(Info::new("RAG Chats", "1.0.0"))
        .paths(
            PathsBuilder::new()
                .path("/api/agents/", PathItem::new(HttpMethod::Get, agents))
                .path(
                    "/api/agents/{id}/query/",
                    PathItem::new(HttpMethod::Post, query),
                ),
        )
        .build()
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    support::run(demo).await
}
