//! OpenID Connect Discovery 1.0 and RFC 8414 authorization server metadata.

use reqwest::Url;
use serde::Deserialize;

use crate::remote::fetch::{Fetched, Fetcher, RemoteError, parse_url};

/// What this crate reads from a discovery document.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Metadata {
    pub(crate) issuer: String,
    #[serde(default)]
    pub(crate) jwks_uri: Option<String>,
}

/// The metadata of `issuer`: `{issuer}/.well-known/openid-configuration` (OIDC), else the RFC 8414
/// location `https://host/.well-known/oauth-authorization-server{path}`. A document that names
/// another issuer is refused (RFC 8414 §3.3, OIDC Discovery §4.3: the mix-up defence).
pub(crate) async fn discover(fetcher: &Fetcher, issuer: &str) -> Result<Metadata, RemoteError> {
    let issuer_url = parse_url(issuer, fetcher.allow_http())?;
    let base = issuer.trim_end_matches('/');
    let oidc = parse_url(
        &format!("{base}/.well-known/openid-configuration"),
        fetcher.allow_http(),
    )?;
    let metadata = match fetch(fetcher, &oidc).await {
        Ok(metadata) => metadata,
        Err(first) => {
            let mut rfc8414 = issuer_url.clone();
            let path = issuer_url.path().trim_end_matches('/').to_owned();
            rfc8414.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
            rfc8414.set_query(None);
            fetch(fetcher, &rfc8414)
                .await
                .map_err(|second| RemoteError::new(format!("discovery: {first}; {second}")))?
        }
    };
    if metadata.issuer != issuer {
        return Err(RemoteError::new(format!(
            "discovery: the document names the issuer {:?}, not the configured {issuer:?}",
            metadata.issuer
        )));
    }
    Ok(metadata)
}

async fn fetch(fetcher: &Fetcher, url: &Url) -> Result<Metadata, RemoteError> {
    let Fetched::Body { bytes, .. } = fetcher.get(url, None).await? else {
        return Err(RemoteError::new(format!("{url}: unexpected 304")));
    };
    serde_json::from_slice(&bytes)
        .map_err(|e| RemoteError::new(format!("{url}: not a metadata document: {e}")))
}

/// `url`, checked against the fetcher's URL policy.
pub(crate) fn endpoint(
    fetcher: &Fetcher,
    url: Option<&str>,
    what: &str,
) -> Result<Url, RemoteError> {
    let url =
        url.ok_or_else(|| RemoteError::new(format!("discovery: the document has no {what}")))?;
    parse_url(url, fetcher.allow_http())
}
