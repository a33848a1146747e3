//! [`KeyAdmin`]: key management over HTTP, for an app to mount behind its own auth.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::bounded_body::{BodyError, read_bounded};
use crate::api_key::KeyManager;
use crate::error::{AuthError, AuthErrorKind, ErrorFormat, ErrorRenderer};
use crate::store::{KeyFilter, KeyUpdate, StoreError};

/// How long a rolled key keeps working when the request names no grace: one day.
pub const DEFAULT_ROLL_GRACE: Duration = Duration::from_secs(24 * 60 * 60);

/// The admin API of API keys, over a [`KeyManager`]:
///
/// | method and path | body | answer |
/// | --- | --- | --- |
/// | `POST /keys` | a [`KeySpec`](crate::api_key::KeySpec) | 201, the [`CreatedKey`](crate::api_key::CreatedKey): `key` (shown once) and the key's fields |
/// | `GET /keys?tenant=…&owner=…` | | 200, `{"keys": [KeyInfo…]}` (never a hash) |
/// | `GET /keys/{id}` | | 200 [`KeyInfo`](crate::store::KeyInfo), or 404 |
/// | `PATCH /keys/{id}` | a [`KeyUpdate`] | 200 `KeyInfo`, or 404 |
/// | `POST /keys/{id}/roll` | `{"grace_seconds": 3600}` (optional; default one day) | 201 `CreatedKey`, or 404 |
/// | `POST /keys/{id}/revoke` | | 204, or 404 |
///
/// It does no authentication of its own: mount it behind the app's auth layer and a scope
/// check, e.g. `keys:admin`. Bad input is 400 `invalid_request`, a body over 64 KiB 413
/// `request_too_large` (at once, unread, when its `Content-Length` says so), one not received
/// within its [timeout](KeyAdmin::body_timeout) 408 `request_timeout`, a store that is down 503
/// `auth_unavailable`; every answer is `Cache-Control: no-store`.
///
/// ```
/// # #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use axum::Router;
/// use tower_api_auth::api_key::{ApiKeys, KeyManager, KeySpec};
/// use tower_api_auth::endpoints::KeyAdmin;
/// use tower_api_auth::{AuthLayer, MemoryKeyStore, RequireScopesLayer, scope::Scopes};
///
/// let store = MemoryKeyStore::new();
/// let keys = KeyManager::new(store.clone());
/// // An operator's key that may manage keys.
/// let admin = keys.create(KeySpec::default().scopes(Scopes::parse("keys:admin").unwrap())).await.unwrap();
///
/// let app: Router = Router::new()
///     .merge(KeyAdmin::new(keys).router())
///     .layer(RequireScopesLayer::all(["keys:admin"]))
///     .layer(AuthLayer::builder().api_keys(ApiKeys::new(store)).build().unwrap());
/// # let _ = (app, admin);
/// # }
/// # #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
/// # fn main() {}
/// ```
#[derive(Debug, Clone)]
pub struct KeyAdmin {
    manager: KeyManager,
    format: ErrorFormat,
    body_timeout: Duration,
}

struct Admin {
    manager: KeyManager,
    format: ErrorFormat,
    body_timeout: Duration,
}

type Shared = State<Arc<Admin>>;

/// The largest request body read.
const BODY_LIMIT: usize = 64 * 1024;

/// The longest a request body may take to arrive, by default.
const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);

impl KeyAdmin {
    /// The admin API over `manager`, with errors in the default format.
    pub fn new(manager: KeyManager) -> Self {
        Self {
            manager,
            format: ErrorFormat::default(),
            body_timeout: DEFAULT_BODY_TIMEOUT,
        }
    }

    /// The longest a request body may take to arrive: 408 `request_timeout` after. Default
    /// 10 s, as the token endpoints'.
    ///
    /// # Panics
    ///
    /// [`router`](Self::router) panics on a zero timeout, which would refuse every body.
    #[must_use]
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.body_timeout = timeout;
        self
    }

    /// The error body format.
    #[must_use]
    pub fn error_format(mut self, format: ErrorFormat) -> Self {
        self.format = format;
        self
    }

    /// The routes, to `merge` or `nest` into the app's router.
    pub fn router<S>(self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        assert!(
            !self.body_timeout.is_zero(),
            "key admin: a body timeout of zero would answer every request body 408"
        );
        let state = Arc::new(Admin {
            manager: self.manager,
            format: self.format,
            body_timeout: self.body_timeout,
        });
        Router::new()
            .route("/keys", post(create).get(list))
            .route("/keys/{id}", get(show).patch(update))
            .route("/keys/{id}/roll", post(roll))
            .route("/keys/{id}/revoke", post(revoke))
            .with_state(state)
    }
}

impl Admin {
    fn reject(&self, error: &AuthError) -> Response {
        let mut response = self.format.render(error);
        response
            .headers_mut()
            .remove(http::header::WWW_AUTHENTICATE);
        no_store(response.map(Body::from))
    }

    fn failed(&self, error: &StoreError) -> Response {
        tracing::warn!(%error, "key admin: store failed");
        self.reject(&AuthError::new(AuthErrorKind::AuthUnavailable))
    }

    fn not_found(&self) -> Response {
        self.reject(&AuthError::custom(
            "key_not_found",
            StatusCode::NOT_FOUND,
            "No API key has this id",
        ))
    }

    fn invalid(&self, message: &'static str) -> Response {
        self.reject(&AuthError::new(AuthErrorKind::InvalidRequest).with_message(message))
    }

    /// Reads a JSON body; an empty body is the type's default.
    async fn read<T: DeserializeOwned + Default>(
        &self,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<T, Response> {
        let bytes: Bytes = match read_bounded(headers, body, BODY_LIMIT, self.body_timeout).await {
            Ok(bytes) => bytes,
            Err(BodyError::TooLarge) => {
                return Err(self.reject(&AuthError::custom(
                    "request_too_large",
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "The request body is too large",
                )));
            }
            Err(BodyError::TimedOut) => {
                return Err(self.reject(&AuthError::custom(
                    "request_timeout",
                    StatusCode::REQUEST_TIMEOUT,
                    "The request body was not received in time",
                )));
            }
            Err(BodyError::Unreadable) => {
                return Err(self.invalid("The request body could not be read"));
            }
        };
        if bytes.is_empty() {
            return Ok(T::default());
        }
        let json = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            return Err(self.invalid("The Content-Type must be application/json"));
        }
        serde_json::from_slice(&bytes)
            .map_err(|_| self.invalid("The request body is not valid JSON of the expected shape"))
    }
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn json(status: StatusCode, value: &impl serde::Serialize) -> Response {
    let body = serde_json::to_vec(value).expect("admin answers always serialize");
    no_store(
        (
            status,
            [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            body,
        )
            .into_response(),
    )
}

async fn create(State(admin): Shared, headers: HeaderMap, body: Body) -> Response {
    let spec = match admin.read(&headers, body).await {
        Ok(spec) => spec,
        Err(response) => return response,
    };
    match admin.manager.create(spec).await {
        Ok(created) => json(StatusCode::CREATED, &created),
        Err(error) => admin.failed(&error),
    }
}

async fn list(
    State(admin): Shared,
    query: Result<Query<KeyFilter>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(filter)) = query else {
        return admin.invalid("The query must be tenant=<tenant id> and/or owner=<owner>");
    };
    match admin.manager.list(&filter).await {
        Ok(keys) => json(StatusCode::OK, &serde_json::json!({ "keys": keys })),
        Err(error) => admin.failed(&error),
    }
}

async fn show(State(admin): Shared, Path(id): Path<String>) -> Response {
    match admin.manager.get(&id).await {
        Ok(Some(info)) => json(StatusCode::OK, &info),
        Ok(None) => admin.not_found(),
        Err(error) => admin.failed(&error),
    }
}

async fn update(
    State(admin): Shared,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let update: KeyUpdate = match admin.read(&headers, body).await {
        Ok(update) => update,
        Err(response) => return response,
    };
    match admin.manager.update(&id, &update).await {
        Ok(Some(info)) => json(StatusCode::OK, &info),
        Ok(None) => admin.not_found(),
        Err(error) => admin.failed(&error),
    }
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RollRequest {
    grace_seconds: Option<u64>,
}

async fn roll(
    State(admin): Shared,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let request: RollRequest = match admin.read(&headers, body).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    let grace = request
        .grace_seconds
        .map_or(DEFAULT_ROLL_GRACE, Duration::from_secs);
    match admin.manager.roll(&id, grace).await {
        Ok(Some(created)) => json(StatusCode::CREATED, &created),
        Ok(None) => admin.not_found(),
        Err(error) => admin.failed(&error),
    }
}

async fn revoke(State(admin): Shared, Path(id): Path<String>) -> Response {
    match admin.manager.revoke(&id).await {
        Ok(true) => no_store(StatusCode::NO_CONTENT.into_response()),
        Ok(false) => admin.not_found(),
        Err(error) => admin.failed(&error),
    }
}
