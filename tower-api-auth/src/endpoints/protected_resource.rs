//! [`ProtectedResource`]: serves a resource's RFC 9728 metadata document.

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use http::HeaderValue;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};

use crate::resource_metadata::ProtectedResourceMetadata;

/// The router of a protected resource's metadata (RFC 9728 §3): the document at its
/// well-known path, as `application/json`, cacheable for an hour (or
/// [`max_age`](Self::max_age)). Merge it at the root of the resource's host.
///
/// ```
/// use axum::Router;
/// use tower_api_auth::endpoints::ProtectedResource;
/// use tower_api_auth::resource_metadata::ProtectedResourceMetadata;
///
/// let metadata = ProtectedResourceMetadata::new("https://api.example.com")
///     .authorization_server("https://auth.example.com");
/// // The layer names the document in its challenges:
/// // AuthLayer::builder()….resource_metadata(metadata.url())
/// let app: Router = Router::new().merge(ProtectedResource::new(metadata).router());
/// # let _ = app;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ProtectedResource {
    metadata: ProtectedResourceMetadata,
    max_age: u64,
}

impl ProtectedResource {
    /// Serves `metadata`.
    pub fn new(metadata: ProtectedResourceMetadata) -> Self {
        Self {
            metadata,
            max_age: 3600,
        }
    }

    /// How long clients may cache the document, in seconds. Default an hour.
    pub fn max_age(mut self, seconds: u64) -> Self {
        self.max_age = seconds;
        self
    }

    /// The router (GET and HEAD; other methods are 405).
    pub fn router<S>(self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let body = Bytes::from(serde_json::to_vec(&self.metadata).unwrap_or_default());
        let cache = HeaderValue::try_from(format!("public, max-age={}", self.max_age))
            .unwrap_or(HeaderValue::from_static("no-cache"));
        let path = self.metadata.path();
        Router::new()
            .route(
                &path,
                get(move || {
                    let (body, cache) = (body.clone(), cache.clone());
                    async move { document(body, "application/json", cache) }
                }),
            )
            .with_state(())
    }
}

/// A well-known document: `body` as `content_type`, cacheable as `cache` says (the resource's
/// metadata here, the authorization server's metadata and JWK set in `token`).
pub(super) fn document(body: Bytes, content_type: &'static str, cache: HeaderValue) -> Response {
    let mut response = Body::from(body).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, cache);
    response
}
