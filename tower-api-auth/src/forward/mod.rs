//! Forwarding the verified identity to an upstream service, as a reverse proxy or an API gateway
//! does: the upstream trusts a few headers instead of checking credentials itself.
//!
//! [`ForwardIdentityLayer`] goes inside the [`AuthLayer`](crate::AuthLayer), in front of the
//! client that calls the upstream. On every request it
//!
//! 1. removes the hop-by-hop headers (RFC 9110 §7.6.1: `Connection` and every header it names,
//!    `Keep-Alive`, `TE`, `Transfer-Encoding`, `Upgrade`, and every `Proxy-*` header such as
//!    `Proxy-Authorization`), from the request and from the upstream's response;
//! 2. removes the credential headers (`Authorization`, `X-API-Key`, `X-Tenant-ID`, or those of the
//!    layer's [`CredentialSources`](crate::credential::CredentialSources), and its credential
//!    cookie), so the upstream never sees a secret;
//! 3. removes **every** incoming copy of the identity headers, so a client can never make the
//!    upstream believe a value it sent itself;
//! 4. sets the identity headers from the verified [`Identity`](crate::Identity) the auth layer put
//!    in the request's extensions (see [`IdentityHeaders`] for the names and the value format).
//!
//! The bodies are not touched: both stream through.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::convert::Infallible;
//!
//! use http::{Request, Response};
//! use tower::{ServiceBuilder, ServiceExt as _, service_fn};
//! use tower_api_auth::forward::{ForwardIdentityLayer, IdentityHeaders};
//! use tower_api_auth::{AuthLayer, MemoryKeyStore, Tenant, api_key::ApiKeyFormat, api_key::ApiKeyHasher};
//!
//! let (api_key, record) = ApiKeyHasher::default()
//!     .generate(&ApiKeyFormat::default())
//!     .with_record(|r| r.with_tenants([Tenant::new("tn_demo").unwrap()]))
//!     .into_parts();
//! let key_id = record.key_id.to_string();
//!
//! // The upstream: here a function that answers with the principal it was told.
//! let upstream = service_fn(|request: Request<String>| async move {
//!     assert!(request.headers().get("x-api-key").is_none(), "the secret never reaches it");
//!     let principal = request.headers()["x-auth-principal"].to_str().unwrap().to_owned();
//!     Ok::<_, Infallible>(Response::new(principal))
//! });
//! let proxy = ServiceBuilder::new()
//!     .layer(AuthLayer::builder().api_keys(MemoryKeyStore::from(vec![record])).build()?)
//!     .layer(ForwardIdentityLayer::new(IdentityHeaders::new()))
//!     .service(upstream);
//!
//! // A client that claims to be someone else is told apart from what its key says.
//! let request = Request::get("/")
//!     .header("x-api-key", &api_key)
//!     .header("x-tenant-id", "tn_demo")
//!     .header("x-auth-principal", "admin")
//!     .body(String::new())?;
//! let response = proxy.oneshot(request).await?;
//! let body = http_body_util::BodyExt::collect(response.into_body()).await?.to_bytes();
//! assert_eq!(body, key_id.as_bytes());
//! # Ok(()) }
//! ```

mod cookie;
mod headers;
mod hop_by_hop;
mod service;

pub use headers::{IdentityHeaders, encode_value};
pub use hop_by_hop::remove_hop_by_hop;
pub use service::{ForwardIdentity, ForwardIdentityLayer, ResponseFuture};
