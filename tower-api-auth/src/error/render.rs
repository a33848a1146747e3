//! Turning an [`AuthError`] into a response body.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderValue, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::AuthError;

/// Renders an [`AuthError`] as a response.
///
/// The built-in [`ErrorFormat`]s implement it, and so does any
/// `Fn(&AuthError) -> Response<Bytes> + Send + Sync + 'static` closure. The layer adds the
/// `WWW-Authenticate` challenge (unless the renderer set one) and the error itself as a response
/// extension, so a renderer only decides status, headers and body.
///
/// ```
/// use bytes::Bytes;
/// use http::Response;
/// use tower_api_auth::{AuthError, error::ErrorRenderer};
///
/// let plain_text = |error: &AuthError| {
///     Response::builder()
///         .status(error.status())
///         .header("content-type", "text/plain")
///         .body(Bytes::from(error.code()))
///         .unwrap()
/// };
/// let response = plain_text.render(&AuthError::new(tower_api_auth::AuthErrorKind::TokenExpired));
/// assert_eq!(response.body(), "token_expired");
/// ```
pub trait ErrorRenderer: Send + Sync + 'static {
    /// Builds the response for `error`.
    fn render(&self, error: &AuthError) -> Response<Bytes>;
}

impl<F> ErrorRenderer for F
where
    F: Fn(&AuthError) -> Response<Bytes> + Send + Sync + 'static,
{
    fn render(&self, error: &AuthError) -> Response<Bytes> {
        self(error)
    }
}

/// The built-in error body styles.
///
/// | format | content type | body |
/// | --- | --- | --- |
/// | `Nested` (default) | `application/json` | `{"error":{"code":"token_expired","message":"…","details":{…}}}` |
/// | `UpperCase` | `application/json` | the same with `"code":"TOKEN_EXPIRED"` |
/// | `Flat` | `application/json` | `{"error":"token_expired","message":"…"}` (OAuth style) |
/// | `Problem` | `application/problem+json` | RFC 9457: `type`, `title`, `status`, `detail`, `code`, details |
/// | `OAuth` | `application/json` | RFC 6749 §5.2: `{"error":"invalid_grant","error_description":"…"}` |
///
/// ```
/// use tower_api_auth::{AuthError, AuthErrorKind, error::ErrorFormat, error::ErrorRenderer};
///
/// let response = ErrorFormat::Flat.render(&AuthError::new(AuthErrorKind::InvalidApiKey));
/// assert_eq!(response.status(), 401);
/// assert_eq!(response.body(), r#"{"error":"invalid_api_key","message":"The API key is invalid"}"#);
///
/// let invalid_grant = AuthError::custom(
///     "invalid_grant",
///     http::StatusCode::BAD_REQUEST,
///     "The grant is invalid, expired or revoked",
/// );
/// let response = ErrorFormat::OAuth.render(&invalid_grant);
/// assert_eq!(
///     response.body(),
///     r#"{"error":"invalid_grant","error_description":"The grant is invalid, expired or revoked"}"#
/// );
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorFormat {
    /// `{"error":{"code":…,"message":…,"details":{…}}}`.
    #[default]
    Nested,
    /// Like `Nested`, with upper-case codes (`TOKEN_EXPIRED`).
    UpperCase,
    /// `{"error":…,"message":…}` with the details flattened beside them.
    Flat,
    /// RFC 9457 `application/problem+json`.
    Problem,
    /// RFC 6749 §5.2: `{"error":…,"error_description":…}`, what OAuth client libraries parse; a
    /// good choice for the token endpoints.
    #[serde(rename = "oauth")]
    OAuth,
}

impl ErrorRenderer for ErrorFormat {
    fn render(&self, error: &AuthError) -> Response<Bytes> {
        let (content_type, body) = match self {
            Self::Nested => ("application/json", nested(error, error.code().to_owned())),
            Self::UpperCase => (
                "application/json",
                nested(error, error.code().to_ascii_uppercase()),
            ),
            Self::Flat => ("application/json", flat(error, "message")),
            Self::OAuth => ("application/json", flat(error, "error_description")),
            Self::Problem => {
                let mut body = serde_json::Map::with_capacity(5 + error.details().len());
                body.insert(
                    "type".into(),
                    format!("urn:tower-api-auth:error:{}", error.code()).into(),
                );
                body.insert("title".into(), error.default_message().into());
                body.insert("status".into(), error.status().as_u16().into());
                body.insert("detail".into(), error.message().into());
                body.insert("code".into(), error.code().into());
                for (key, value) in error.details() {
                    body.entry(key.clone()).or_insert_with(|| value.clone());
                }
                ("application/problem+json", Value::Object(body))
            }
        };
        json_response(error, content_type, &body)
    }
}

/// `{"error":<code>, <message_key>:<message>}` with the details beside them.
fn flat(error: &AuthError, message_key: &str) -> Value {
    let mut body = serde_json::Map::with_capacity(2 + error.details().len());
    body.insert("error".into(), error.code().into());
    body.insert(message_key.into(), error.message().into());
    for (key, value) in error.details() {
        body.entry(key.clone()).or_insert_with(|| value.clone());
    }
    Value::Object(body)
}

fn nested(error: &AuthError, code: String) -> Value {
    let mut inner = json!({ "code": code, "message": error.message() });
    if !error.details().is_empty() {
        inner["details"] = Value::Object(error.details().clone());
    }
    json!({ "error": inner })
}

fn json_response(error: &AuthError, content_type: &'static str, body: &Value) -> Response<Bytes> {
    // Serialising a `Value` cannot fail: its keys are strings and its numbers finite.
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = Response::new(Bytes::from(bytes));
    *response.status_mut() = error.status();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A shared renderer, as the layers and extractors hold it: one reference count, because every
/// request the layer lets through carries a clone.
#[derive(Clone)]
pub(crate) struct SharedRenderer(Arc<RendererParts>);

struct RendererParts {
    renderer: Arc<dyn ErrorRenderer>,
    realm: Option<Arc<str>>,
    /// The RFC 9728 metadata URL of every `Bearer` challenge.
    resource_metadata: Option<Arc<str>>,
}

impl Default for SharedRenderer {
    fn default() -> Self {
        Self::new(Arc::new(ErrorFormat::Nested), None, None)
    }
}

impl fmt::Debug for SharedRenderer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ErrorRenderer")
    }
}

impl SharedRenderer {
    /// `renderer` with `realm` and, when given, the RFC 9728 metadata URL of every `Bearer`
    /// challenge.
    pub(crate) fn new(
        renderer: Arc<dyn ErrorRenderer>,
        realm: Option<Arc<str>>,
        resource_metadata: Option<Arc<str>>,
    ) -> Self {
        Self(Arc::new(RendererParts {
            renderer,
            realm,
            resource_metadata,
        }))
    }

    /// The renderer.
    pub(crate) fn renderer(&self) -> &Arc<dyn ErrorRenderer> {
        &self.0.renderer
    }

    /// The realm of every challenge, if set.
    pub(crate) fn realm(&self) -> Option<&str> {
        self.0.realm.as_deref()
    }

    /// The complete rejection: rendered body, challenge and the error as an extension.
    pub(crate) fn respond(&self, mut error: AuthError) -> Response<Bytes> {
        let parts = &*self.0;
        if let Some(realm) = &parts.realm {
            error = error.with_realm(&**realm);
        }
        if let Some(url) = &parts.resource_metadata {
            error = error.with_resource_metadata(url.clone());
        }
        let mut response = parts.renderer.render(&error);
        if !response.headers().contains_key(WWW_AUTHENTICATE)
            && let Some(challenge) = error.challenge()
        {
            response.headers_mut().insert(WWW_AUTHENTICATE, challenge);
        }
        response.extensions_mut().insert(error);
        response
    }
}
