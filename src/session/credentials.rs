//! A remote store's credentials: checked at create, and turned into the HTTP client benchmon
//! queries (and pushes to) that store with. The scrapers get them through their config
//! ([`crate::prometheus::StoreAuth`]).

use super::error::SessionError;
use crate::domain::{RemoteStore, StoreSpec};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};

/// Refuses credentials a view echoed back (`<redacted>`), basic auth together with a bearer
/// token (Prometheus takes one), and a token file benchmon cannot read or that is empty.
pub(super) fn check(store: &RemoteStore) -> Result<(), SessionError> {
    let invalid = |field: &'static str, message: String| SessionError::Invalid { field, message };
    for (field, secret) in store.secrets() {
        if secret.is_redacted() {
            let field = match field.starts_with("headers.") {
                true => "store.headers",
                false => "store.basic_auth.password",
            };
            return Err(invalid(
                field,
                format!(
                    "{field}: `<redacted>` is how views show a credential, not one: send the \
                     value itself"
                ),
            ));
        }
    }
    if let Some(file) = &store.bearer_token_file {
        if store.basic_auth.is_some() {
            return Err(invalid(
                "store.bearer_token_file",
                "give basic_auth or bearer_token_file, not both".into(),
            ));
        }
        token(file).map_err(|e| invalid("store.bearer_token_file", e))?;
    }
    Ok(())
}

/// The token in `file`, whitespace trimmed.
fn token(file: &crate::domain::TokenFile) -> Result<String, String> {
    let text = std::fs::read_to_string(file.path())
        .map_err(|e| format!("cannot read {}: {e}", file.as_str()))?;
    let token = text.trim();
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "{} must hold one token of printable ASCII characters",
            file.as_str()
        ));
    }
    Ok(token.to_owned())
}

/// The client for a session's store: `base` itself, or for a remote store with credentials a
/// client sending them with every request (header values marked sensitive: never in `Debug`).
/// The token file is read again each time, so a rotated token is used from the next request.
pub fn store_client(store: &StoreSpec, base: &reqwest::Client) -> Result<reqwest::Client, String> {
    let StoreSpec::Remote(remote) = store else {
        return Ok(base.clone());
    };
    let mut headers = HeaderMap::new();
    for (name, value) in remote.headers.iter() {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| e.to_string())?;
        let mut value = HeaderValue::from_str(value.expose())
            .map_err(|_| format!("store.headers.{name}: not a valid header value"))?;
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    let authorization = match (&remote.basic_auth, &remote.bearer_token_file) {
        (Some(b), _) => Some(format!(
            "Basic {}",
            base64(format!("{}:{}", b.username, b.password.expose()).as_bytes())
        )),
        (None, Some(file)) => Some(format!("Bearer {}", token(file)?)),
        (None, None) => None,
    };
    if let Some(a) = authorization {
        let mut value = HeaderValue::from_str(&a)
            .map_err(|_| "store credentials: not a valid header value".to_owned())?;
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
    }
    if headers.is_empty() {
        return Ok(base.clone());
    }
    reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .default_headers(headers)
        .build()
        .map_err(|e| e.to_string())
}

/// Standard base64 with padding (RFC 4648 §4), for basic auth.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> shift & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_rfc_4648() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
            ("bench:p@ss: é", "YmVuY2g6cEBzczogw6k="),
        ] {
            assert_eq!(base64(plain.as_bytes()), coded, "{plain:?}");
        }
    }
}
