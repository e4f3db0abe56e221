//! Capability cookies for one bundle's files, so a browser can open `report.html` (and the
//! files it links to by relative URL) as a normal page while the server has tokens: a
//! navigation cannot carry an `Authorization` header, and the bearer token never goes into a
//! URL.
//!
//! `GET …/collections/{collection}/files` with a valid bearer token answers with a cookie
//! `benchmon_bundle=EXPIRES.MAC`, `Path=/api/v1/sessions/{id}/collections/{collection}/files/`,
//! `HttpOnly; SameSite=Strict; Max-Age=900`. The MAC is HMAC-SHA256 over the session, the
//! collection and the expiry, under a key drawn at start (a restart revokes every cookie).
//! The cookie admits GET/HEAD of that bundle's files only, for [`LIFETIME`].

use axum::http::{header, HeaderMap, HeaderValue};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The cookie's name.
pub const COOKIE: &str = "benchmon_bundle";

/// How long a cookie admits its bundle's files.
pub const LIFETIME: Duration = Duration::from_secs(15 * 60);

/// The key cookies are signed with.
pub struct GrantKey([u8; 32]);

impl GrantKey {
    /// A key from the kernel's random source.
    pub fn random() -> std::io::Result<Self> {
        let mut key = [0u8; 32];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut key)?;
        Ok(GrantKey(key))
    }

    fn mac(&self, session: &str, collection: &str, expires: u64) -> String {
        let msg = format!("{session}/{collection}/{expires}");
        hex(&hmac_sha256(&self.0, msg.as_bytes()))
    }

    /// The `Set-Cookie` value admitting the files of bundle `collection` of `session` (both
    /// validated names) until [`LIFETIME`] from now.
    pub fn cookie(&self, session: &str, collection: &str) -> Option<HeaderValue> {
        let expires = unix_now() + LIFETIME.as_secs();
        let value = format!(
            "{COOKIE}={expires}.{mac}; Path={path}; Max-Age={age}; HttpOnly; SameSite=Strict",
            mac = self.mac(session, collection, expires),
            path = files_prefix(session, collection),
            age = LIFETIME.as_secs(),
        );
        HeaderValue::from_str(&value).ok()
    }

    /// True when the request for `path` (a raw request path) is a bundle file and one of
    /// its `benchmon_bundle` cookies was signed for that bundle and has not expired.
    pub fn admits(&self, headers: &HeaderMap, path: &str) -> bool {
        let Some((session, collection)) = bundle_of_file(path) else {
            return false;
        };
        let now = unix_now();
        cookies(headers, COOKIE).any(|value| {
            let Some((expires, mac)) = value.split_once('.') else {
                return false;
            };
            let Ok(expires) = expires.parse::<u64>() else {
                return false;
            };
            expires >= now
                && expires <= now + LIFETIME.as_secs()
                && constant_time_eq(
                    self.mac(session, collection, expires).as_bytes(),
                    mac.as_bytes(),
                )
        })
    }
}

/// The path prefix of one bundle's files; the cookie is scoped to it.
fn files_prefix(session: &str, collection: &str) -> String {
    format!("/api/v1/sessions/{session}/collections/{collection}/files/")
}

/// `(session, collection)` of a raw path `/api/v1/sessions/S/collections/C/files/NAME`.
fn bundle_of_file(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/api/v1/sessions/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [session, "collections", collection, "files", name]
            if !session.is_empty() && !collection.is_empty() && !name.is_empty() =>
        {
            Some((session, collection))
        }
        _ => None,
    }
}

/// The values of every cookie called `name` in the request's `Cookie` headers.
fn cookies<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(move |pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// HMAC-SHA256 (RFC 2104) for keys of at most one block (64 bytes).
fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    block[..key.len().min(64)].copy_from_slice(&key[..key.len().min(64)]);
    let ipad: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&ipad)
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(&opad)
        .chain_update(inner)
        .finalize()
        .into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    fn request_with(cookie: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(cookie).unwrap());
        h
    }

    #[test]
    fn a_cookie_admits_only_its_own_bundles_files_until_it_expires() {
        let key = GrantKey::random().unwrap();
        let set = key.cookie("s1", "run-001").unwrap();
        let set = set.to_str().unwrap();
        assert!(set.contains("Path=/api/v1/sessions/s1/collections/run-001/files/;"));
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"));
        let pair = set.split(';').next().unwrap();
        let h = request_with(&format!("other=1; {pair}"));
        assert!(key.admits(
            &h,
            "/api/v1/sessions/s1/collections/run-001/files/report.html"
        ));
        for path in [
            "/api/v1/sessions/s1/collections/run-002/files/report.html",
            "/api/v1/sessions/s2/collections/run-001/files/report.html",
            "/api/v1/sessions/s1/collections/run-001/files",
            "/api/v1/sessions/s1/collections/run-001/files/",
            "/api/v1/sessions/s1/collections",
            "/api/v1/sessions/s1",
        ] {
            assert!(!key.admits(&h, path), "{path}");
        }
        // Another key (a restarted server), a forged expiry, an expired cookie.
        let other = GrantKey::random().unwrap();
        let file = "/api/v1/sessions/s1/collections/run-001/files/x.csv";
        assert!(!other.admits(&h, file));
        let (_, mac) = pair.split_once('.').unwrap();
        let forged = format!("{COOKIE}={}.{mac}", unix_now() + 600);
        assert!(!key.admits(&request_with(&forged), file));
        let past = unix_now() - 1;
        let expired = format!("{COOKIE}={past}.{}", key.mac("s1", "run-001", past));
        assert!(!key.admits(&request_with(&expired), file));
        let far = unix_now() + 10 * LIFETIME.as_secs();
        let too_long = format!("{COOKIE}={far}.{}", key.mac("s1", "run-001", far));
        assert!(!key.admits(&request_with(&too_long), file));
    }
}
