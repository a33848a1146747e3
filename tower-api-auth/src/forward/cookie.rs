//! Taking the credential cookie out of the `Cookie` headers, leaving the others.

use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};

/// Removes every `name=…` pair from the `Cookie` headers (HTTP/2 clients may send several), and a
/// `Cookie` header left empty.
pub(super) fn remove_cookie(headers: &mut HeaderMap, name: &str) {
    let values: Vec<HeaderValue> = headers.get_all(COOKIE).iter().cloned().collect();
    if values.is_empty() {
        return;
    }
    headers.remove(COOKIE);
    for value in values {
        let kept: Vec<&[u8]> = value
            .as_bytes()
            .split(|&b| b == b';')
            .map(<[u8]>::trim_ascii)
            .filter(|pair| !pair.is_empty() && !is_named(pair, name))
            .collect();
        if kept.is_empty() {
            continue;
        }
        // Pieces of a valid header value joined by `; `: a valid header value.
        if let Ok(value) = HeaderValue::from_bytes(&kept.join(&b"; "[..])) {
            headers.append(COOKIE, value);
        }
    }
}

/// Whether the cookie pair `pair` (`name=value`) is called `name`.
fn is_named(pair: &[u8], name: &str) -> bool {
    let pair_name = pair.split(|&b| b == b'=').next().unwrap_or_default();
    pair_name.trim_ascii() == name.as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookies(values: &[&str], name: &str) -> Vec<String> {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(COOKIE, HeaderValue::from_str(value).unwrap());
        }
        remove_cookie(&mut headers, name);
        headers
            .get_all(COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn only_the_named_cookie_goes() {
        assert_eq!(
            cookies(
                &["theme=dark; access_token=eyJ.x.y; lang=en"],
                "access_token"
            ),
            ["theme=dark; lang=en"]
        );
        // A cookie whose name merely starts or ends alike stays.
        assert_eq!(
            cookies(&["access_token_hint=1;access_token=s"], "access_token"),
            ["access_token_hint=1"]
        );
    }

    #[test]
    fn every_copy_goes_and_an_emptied_header_with_it() {
        assert_eq!(
            cookies(&["access_token=a", "x=1; access_token=b"], "access_token"),
            ["x=1"]
        );
        assert!(cookies(&["access_token=a"], "access_token").is_empty());
    }
}
