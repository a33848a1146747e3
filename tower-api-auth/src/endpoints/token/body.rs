//! Reading a token request: its body (JSON or form, bounded in size and in time) into named
//! fields, and HTTP Basic client credentials.

use std::time::Duration;

use axum::body::Body;
use base64::Engine;
use bytes::Bytes;
use http::HeaderMap;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Map, Value};

use crate::endpoints::bounded_body::{BodyError, read_bounded};
use crate::issuer::{GrantError, GrantErrorKind};

pub(super) fn invalid_request(message: impl Into<std::borrow::Cow<'static, str>>) -> GrantError {
    GrantError::new(GrantErrorKind::InvalidRequest).with_message(message)
}

/// How much of a request body the endpoints read, and for how long.
#[derive(Debug, Clone, Copy)]
pub(super) struct BodyLimits {
    /// The largest body, in bytes.
    pub(super) bytes: usize,
    /// The longest the whole body may take to arrive, from the moment the endpoint starts reading.
    pub(super) timeout: Duration,
}

/// A request's fields by the names the client sent. No `Debug`: it holds passwords, client
/// secrets, API keys and tokens.
pub(super) struct Fields(Map<String, Value>);

impl Fields {
    /// The bytes of a form-encoded `body` (within `limits`), for a reader of its own.
    pub(super) async fn read_bytes(
        headers: &HeaderMap,
        body: Body,
        limits: BodyLimits,
    ) -> Result<Vec<u8>, GrantError> {
        let bytes = collect(headers, body, limits).await?;
        match media_type(headers).as_deref() {
            Some("application/x-www-form-urlencoded") => Ok(bytes.to_vec()),
            None if bytes.is_empty() => Ok(Vec::new()),
            _ => Err(invalid_request(
                "The Content-Type must be application/x-www-form-urlencoded",
            )),
        }
    }

    /// Reads `body` within `limits`, as its `Content-Type` says.
    pub(super) async fn read(
        headers: &HeaderMap,
        body: Body,
        limits: BodyLimits,
    ) -> Result<Self, GrantError> {
        let bytes = collect(headers, body, limits).await?;
        match media_type(headers).as_deref() {
            Some("application/json") => match serde_json::from_slice(&bytes) {
                Ok(Value::Object(fields)) => Ok(Self(fields)),
                _ => Err(invalid_request("The request body is not a JSON object")),
            },
            Some("application/x-www-form-urlencoded") => {
                let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
                    .map_err(|_| invalid_request("The request body is not valid form data"))?;
                let mut fields = Map::new();
                for (name, value) in pairs {
                    // RFC 6749 §3.2: parameters must not be repeated; a repeated one is kept as an
                    // array, which reading it refuses.
                    match fields.get_mut(&name) {
                        Some(Value::Array(values)) => values.push(Value::from(value)),
                        Some(first) => {
                            *first = Value::Array(vec![first.take(), Value::from(value)])
                        }
                        None => {
                            fields.insert(name, Value::from(value));
                        }
                    }
                }
                Ok(Self(fields))
            }
            None if bytes.is_empty() => Ok(Self(Map::new())),
            _ => Err(invalid_request(
                "The Content-Type must be application/json or application/x-www-form-urlencoded",
            )),
        }
    }

    /// The field `name`, if sent with a value: RFC 6749 §3.2 treats an empty value as omitted. A
    /// field that is not a string, or is repeated, is `invalid_request`.
    pub(super) fn get(&self, name: &str) -> Result<Option<&str>, GrantError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(value)) => Ok(Some(value.as_str()).filter(|v| !v.is_empty())),
            Some(Value::Array(_)) => Err(invalid_request(format!(
                "The field `{}` must be given once, as a string",
                printable(name)
            ))),
            Some(_) => Err(invalid_request(format!(
                "The field `{}` must be a string",
                printable(name)
            ))),
        }
    }

    /// The field `name`, which the request must have.
    pub(super) fn require(&self, name: &str) -> Result<&str, GrantError> {
        self.get(name)?
            .ok_or_else(|| invalid_request(format!("The field `{}` is missing", printable(name))))
    }
}

/// The whole of `body` within `limits` (see [`read_bounded`]).
async fn collect(headers: &HeaderMap, body: Body, limits: BodyLimits) -> Result<Bytes, GrantError> {
    read_bounded(headers, body, limits.bytes, limits.timeout)
        .await
        .map_err(|error| match error {
            BodyError::TooLarge => GrantError::new(GrantErrorKind::RequestTooLarge),
            BodyError::TimedOut => GrantError::new(GrantErrorKind::RequestTimeout),
            BodyError::Unreadable => invalid_request("The request body could not be read"),
        })
}

/// The request's media type, lowercase, without parameters.
fn media_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
}

/// A field name for a message: the configured names are the app's, but bound their length anyway.
fn printable(name: &str) -> &str {
    name.get(..64).unwrap_or(name)
}

/// HTTP Basic client credentials (RFC 6749 §2.3.1), if sent.
pub(super) fn basic_credentials(
    headers: &HeaderMap,
) -> Result<Option<(String, String)>, GrantError> {
    let invalid_client = || GrantError::new(GrantErrorKind::InvalidClient);
    let Some((id, secret)) = basic_raw(headers).map_err(|()| invalid_client())? else {
        return Ok(None);
    };
    // RFC 6749 §2.3.1: both parts are form-urlencoded before they are joined and encoded. A part
    // with a raw `&` or `=` was not encoded so: refused, never read as something else.
    let unescape = |part: &str| {
        if part.contains(['&', '=']) {
            return Err(invalid_client());
        }
        serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={part}"))
            .ok()
            .and_then(|mut pairs| pairs.pop())
            .map(|(_, value)| value)
            .ok_or_else(invalid_client)
    };
    Ok(Some((unescape(&id)?, unescape(&secret)?)))
}

/// HTTP Basic credentials as RFC 7617 sends them (a user's, as browsers and `curl -u` send them:
/// not form-encoded), if sent; `Err` for a malformed `Basic` header.
pub(super) fn basic_raw(headers: &HeaderMap) -> Result<Option<(String, String)>, ()> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(drop)?;
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or(())?;
    let (id, secret) = decoded.split_once(':').ok_or(())?;
    Ok(Some((id.to_owned(), secret.to_owned())))
}
