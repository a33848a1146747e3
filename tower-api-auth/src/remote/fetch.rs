//! One HTTP client for every remote fetch: a URL policy (HTTPS, or loopback for development),
//! a timeout and a size cap on every response, `Cache-Control: max-age` and `ETag`.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use http::{HeaderMap, StatusCode, header};
use reqwest::Url;

/// A remote source that could not be reached or read. The message names the URL and what went
/// wrong, never a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteError(String);

impl RemoteError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RemoteError {}

/// Whether `url` may be fetched: HTTPS always; plain HTTP only to a loopback address
/// (`localhost`, 127.0.0.0/8, `::1`) or when explicitly allowed.
pub(crate) fn check_url(url: &Url, allow_http: bool) -> Result<(), RemoteError> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_http || is_loopback(url) => Ok(()),
        "http" => Err(RemoteError::new(format!(
            "{url}: plain HTTP is allowed only to loopback addresses (or with allow_http)"
        ))),
        other => Err(RemoteError::new(format!(
            "{url}: the scheme {other:?} is not HTTP(S)"
        ))),
    }
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Parses and checks a configured URL.
/// `text` with every occurrence of `url` cut to its scheme, host, port and path: what a public
/// answer (readiness) may say of it. A URL's user info and query can hold credentials.
#[cfg(feature = "health")]
pub(crate) fn redact(text: &str, url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    text.replace(url.as_str(), shown.as_str())
}

pub(crate) fn parse_url(url: &str, allow_http: bool) -> Result<Url, RemoteError> {
    let parsed = Url::parse(url).map_err(|e| RemoteError::new(format!("{url:?}: {e}")))?;
    check_url(&parsed, allow_http)?;
    Ok(parsed)
}

/// What a GET answered.
pub(crate) enum Fetched {
    /// 304: the document is the one whose `ETag` was sent.
    NotModified { max_age: Option<u64> },
    /// A 2xx body within the size cap.
    Body {
        bytes: Vec<u8>,
        etag: Option<String>,
        max_age: Option<u64>,
    },
}

/// The HTTP client of a remote source, with its limits.
#[derive(Clone)]
pub(crate) struct Fetcher {
    client: reqwest::Client,
    max_bytes: usize,
    allow_http: bool,
}

impl fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fetcher")
            .field("max_bytes", &self.max_bytes)
            .field("allow_http", &self.allow_http)
            .finish_non_exhaustive()
    }
}

impl Fetcher {
    /// A client whose every request, redirects included, is over within `timeout` and whose
    /// responses are read up to `max_bytes`.
    pub(crate) fn new(
        timeout: Duration,
        max_bytes: usize,
        allow_http: bool,
    ) -> Result<Self, RemoteError> {
        // A redirect must obey the same URL policy as the configured URL, and stop soon.
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 {
                attempt.error("too many redirects")
            } else if check_url(attempt.url(), allow_http).is_err() {
                attempt.error("a redirect to a URL the policy refuses")
            } else {
                attempt.follow()
            }
        });
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(policy)
            .user_agent(concat!("tower-api-auth/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RemoteError::new(format!("HTTP client: {e}")))?;
        Ok(Self {
            client,
            max_bytes,
            allow_http,
        })
    }

    pub(crate) fn allow_http(&self) -> bool {
        self.allow_http
    }

    /// `GET url`, conditional on `etag` when given.
    pub(crate) async fn get(&self, url: &Url, etag: Option<&str>) -> Result<Fetched, RemoteError> {
        let mut request = self
            .client
            .get(url.clone())
            .header(header::ACCEPT, "application/json");
        if let Some(etag) = etag {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        let response = request
            .send()
            .await
            .map_err(|e| RemoteError::new(format!("GET {url}: {}", describe(&e))))?;
        let max_age = max_age(response.headers());
        if response.status() == StatusCode::NOT_MODIFIED && etag.is_some() {
            return Ok(Fetched::NotModified { max_age });
        }
        let etag = response
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = self.body(url, response).await?;
        Ok(Fetched::Body {
            bytes,
            etag,
            max_age,
        })
    }

    /// `POST url` with a form body and extra headers; the 2xx body.
    pub(crate) async fn post_form(
        &self,
        url: &Url,
        headers: HeaderMap,
        form: String,
    ) -> Result<Vec<u8>, RemoteError> {
        let response = self
            .client
            .post(url.clone())
            .headers(headers)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json")
            .body(form)
            .send()
            .await
            .map_err(|e| RemoteError::new(format!("POST {url}: {}", describe(&e))))?;
        self.body(url, response).await
    }

    /// The body of a 2xx response, refused past the size cap (by `Content-Length` before reading
    /// anything, and while reading for bodies that do not announce their length).
    async fn body(
        &self,
        url: &Url,
        mut response: reqwest::Response,
    ) -> Result<Vec<u8>, RemoteError> {
        let status = response.status();
        if !status.is_success() {
            return Err(RemoteError::new(format!("{url}: HTTP {}", status.as_u16())));
        }
        let too_large = || {
            RemoteError::new(format!(
                "{url}: the response exceeds the size cap of {} bytes",
                self.max_bytes
            ))
        };
        if response
            .content_length()
            .is_some_and(|len| len > self.max_bytes as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| RemoteError::new(format!("{url}: {}", describe(&e))))?
        {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// reqwest's error, said briefly (a timeout says so).
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "could not connect".to_owned()
    } else if error.is_redirect() {
        "refused redirect".to_owned()
    } else {
        error.to_string()
    }
}

/// `Cache-Control: max-age` in seconds; `no-cache` and `no-store` count as 0.
pub(crate) fn max_age(headers: &HeaderMap) -> Option<u64> {
    let mut found = None;
    for value in headers.get_all(header::CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',').map(str::trim) {
            let (name, arg) = directive.split_once('=').unwrap_or((directive, ""));
            if name.eq_ignore_ascii_case("no-cache") || name.eq_ignore_ascii_case("no-store") {
                return Some(0);
            }
            if name.eq_ignore_ascii_case("max-age") {
                found = arg.trim_matches('"').parse().ok().or(found);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_from_cache_control() {
        let mut headers = HeaderMap::new();
        assert_eq!(max_age(&headers), None);
        headers.insert(
            header::CACHE_CONTROL,
            "public, max-age=3600, must-revalidate".parse().unwrap(),
        );
        assert_eq!(max_age(&headers), Some(3600));
        headers.insert(header::CACHE_CONTROL, "no-store".parse().unwrap());
        assert_eq!(max_age(&headers), Some(0));
        headers.insert(header::CACHE_CONTROL, "max-age=soon".parse().unwrap());
        assert_eq!(max_age(&headers), None);
    }

    #[test]
    fn plain_http_only_to_loopback_unless_allowed() {
        for ok in [
            "https://idp.example.test/jwks",
            "http://127.0.0.1:8080/jwks",
            "http://127.9.9.9/jwks",
            "http://[::1]:1/jwks",
            "http://localhost/jwks",
        ] {
            assert!(parse_url(ok, false).is_ok(), "{ok}");
        }
        for refused in [
            "http://idp.example.test/jwks",
            "http://10.0.0.1/jwks",
            "file:///etc/passwd",
        ] {
            assert!(parse_url(refused, false).is_err(), "{refused}");
        }
        assert!(parse_url("http://idp.example.test/jwks", true).is_ok());
        assert!(parse_url("file:///etc/passwd", true).is_err());
    }
}
