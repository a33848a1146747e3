//! RFC 9728 protected resource metadata: what a resource server tells clients about itself — its
//! identifier, the authorization servers whose tokens it accepts, the scopes it knows and how it
//! takes a Bearer token — at `/.well-known/oauth-protected-resource`.

use serde::Serialize;

/// The metadata document of a protected resource (RFC 9728 §2). Build it, serve it with
/// `endpoints::ProtectedResource` (feature `axum`), and name its URL in the layer's challenges
/// with `AuthLayerBuilder::resource_metadata(metadata.url())`, so that a client told 401 finds
/// the authorization server by itself (§5).
///
/// ```
/// use tower_api_auth::resource_metadata::ProtectedResourceMetadata;
///
/// let metadata = ProtectedResourceMetadata::new("https://api.example.com/v1")
///     .authorization_server("https://auth.example.com")
///     .scopes(["conversations:read", "conversations:write"])
///     .resource_name("SilentChat API");
/// // §3.1: the well-known path, with the resource's path after it.
/// assert_eq!(metadata.path(), "/.well-known/oauth-protected-resource/v1");
/// assert_eq!(metadata.url(), "https://api.example.com/.well-known/oauth-protected-resource/v1");
/// let document = serde_json::to_value(&metadata).unwrap();
/// assert_eq!(document["resource"], "https://api.example.com/v1");
/// assert_eq!(document["bearer_methods_supported"][0], "header");
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct ProtectedResourceMetadata {
    resource: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    authorization_servers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jwks_uri: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    scopes_supported: Vec<String>,
    bearer_methods_supported: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_documentation: Option<String>,
}

impl ProtectedResourceMetadata {
    /// The metadata of the resource identified by `resource`: an `https` URL (or `http` for a
    /// local test) with no query or fragment (§2), which clients compare with the URL they
    /// called (§3.3). Bearer tokens are taken in the `Authorization` header, as the layer takes
    /// them by default.
    pub fn new(resource: impl Into<String>) -> Self {
        Self {
            resource: resource.into().trim_end_matches('/').to_owned(),
            authorization_servers: Vec::new(),
            jwks_uri: None,
            scopes_supported: Vec::new(),
            bearer_methods_supported: vec!["header"],
            resource_name: None,
            resource_documentation: None,
        }
    }

    /// Adds an authorization server by its issuer URL: clients read its RFC 8414 metadata.
    #[must_use]
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        self.authorization_servers.push(issuer.into());
        self
    }

    /// The scopes the resource knows (`scopes_supported`).
    #[must_use]
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes_supported = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The resource's own JWK set, if it signs anything (`jwks_uri`).
    #[must_use]
    pub fn jwks_uri(mut self, url: impl Into<String>) -> Self {
        self.jwks_uri = Some(url.into());
        self
    }

    /// How clients may send a Bearer token (RFC 6750 §2): `header`, and `body` or `query` if the
    /// layer reads them too. Default: `header`.
    #[must_use]
    pub fn bearer_methods(mut self, methods: impl IntoIterator<Item = BearerMethod>) -> Self {
        self.bearer_methods_supported = methods.into_iter().map(BearerMethod::name).collect();
        self
    }

    /// A name for people (`resource_name`).
    #[must_use]
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// A page for developers (`resource_documentation`).
    #[must_use]
    pub fn resource_documentation(mut self, url: impl Into<String>) -> Self {
        self.resource_documentation = Some(url.into());
        self
    }

    /// The resource identifier.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// Where the document is served, on the resource's host: `/.well-known/oauth-protected-resource`
    /// with the resource identifier's path after it (RFC 9728 §3.1).
    pub fn path(&self) -> String {
        let (_, path) = split_url(&self.resource);
        format!("/.well-known/oauth-protected-resource{path}")
    }

    /// The document's absolute URL, for the challenges' `resource_metadata` parameter.
    pub fn url(&self) -> String {
        let (origin, _) = split_url(&self.resource);
        format!("{origin}{}", self.path())
    }
}

/// A way of sending a Bearer token (RFC 6750 §2), as `bearer_methods_supported` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BearerMethod {
    /// `Authorization: Bearer` (RFC 6750 §2.1).
    Header,
    /// A form-encoded body parameter (§2.2).
    Body,
    /// A URI query parameter (§2.3).
    Query,
}

impl BearerMethod {
    const fn name(self) -> &'static str {
        match self {
            Self::Header => "header",
            Self::Body => "body",
            Self::Query => "query",
        }
    }
}

/// A URL's origin (`https://host:port`) and path (no trailing `/`, no query or fragment); the
/// authorization server's well-known paths are made the same way.
pub(crate) fn split_url(url: &str) -> (&str, &str) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url, "");
    };
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    let at = rest[..end].find('/').unwrap_or(end);
    let origin = &url[..scheme.len() + 3 + at];
    (origin, rest[at..end].trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_well_known_url_inserts_the_resource_path() {
        let at_root = ProtectedResourceMetadata::new("https://api.example.com");
        assert_eq!(
            at_root.url(),
            "https://api.example.com/.well-known/oauth-protected-resource"
        );
        let with_port = ProtectedResourceMetadata::new("http://127.0.0.1:8080/v1/");
        assert_eq!(with_port.resource(), "http://127.0.0.1:8080/v1");
        assert_eq!(
            with_port.url(),
            "http://127.0.0.1:8080/.well-known/oauth-protected-resource/v1"
        );
    }
}
