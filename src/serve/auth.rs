//! API keys: `Authorization: Bearer KEY` on every endpoint but `/health`
//! and the page, compared in constant time; 401 in OpenAI's error shape.

use crate::serve::error::ApiError;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Paths open without a key: liveness probes and the static page (its
/// API calls still need the key).
const OPEN_PATHS: &[&str] = &["/health", "/"];

/// The keys a server accepts (empty: no authentication).
#[derive(Debug, Default, Clone)]
pub struct ApiKeys {
    keys: Vec<Vec<u8>>,
}

impl ApiKeys {
    /// Keys as given (`--api-key`, `--api-key-file`); empty ones refused.
    pub fn new(keys: Vec<String>) -> Result<ApiKeys, String> {
        if keys.iter().any(|k| k.trim().is_empty()) {
            return Err("an API key is empty".into());
        }
        Ok(ApiKeys {
            keys: keys.into_iter().map(String::into_bytes).collect(),
        })
    }

    /// Whether any key is set.
    pub fn enabled(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Whether `presented` is one of the keys. Every key is compared in
    /// full, whatever matches, so the time taken says nothing about how
    /// much of a key was right (only the lengths of the keys, which are
    /// not secret).
    pub fn accepts(&self, presented: &[u8]) -> bool {
        let mut any = false;
        for k in &self.keys {
            any |= constant_time_eq(k, presented);
        }
        any
    }
}

/// Equality whose time depends on the lengths only.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() != b.len()) as u8;
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

/// The API's keys and the admin endpoints' own (`--admin-key`).
#[derive(Debug, Default, Clone)]
pub struct Keys {
    /// `--api-key`: every endpoint but the open ones.
    pub api: ApiKeys,
    /// `--admin-key`: loading and removing steering files. When none is
    /// set, the API keys (if any) open those too.
    pub admin: ApiKeys,
}

/// Loading or removing steering files.
fn is_admin(req: &Request) -> bool {
    req.method() != axum::http::Method::GET && req.uri().path().starts_with("/v1/steering")
}

/// The middleware: passes open paths and requests with a valid key; the
/// admin endpoints take an admin key when one is set.
pub async fn require_key(State(keys): State<Arc<Keys>>, req: Request, next: Next) -> Response {
    let admin = is_admin(&req);
    let required = if OPEN_PATHS.contains(&req.uri().path()) {
        None
    } else if admin && keys.admin.enabled() {
        Some(&keys.admin)
    } else if keys.api.enabled() {
        Some(&keys.api)
    } else {
        None
    };
    let Some(required) = required else {
        return next.run(req).await;
    };
    let presented = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(k) = presented else {
        return unauthorized(
            "You didn't provide an API key: send it as `Authorization: Bearer KEY` \
             (the OpenAI clients' api_key).",
        )
        .into_response();
    };
    // An admin key also opens the API.
    if required.accepts(k.as_bytes()) || (!admin && keys.admin.accepts(k.as_bytes())) {
        return next.run(req).await;
    }
    if admin && keys.api.accepts(k.as_bytes()) {
        let mut e = unauthorized(
            "loading and removing steering files needs an admin key (serve --admin-key)",
        );
        e.status = StatusCode::FORBIDDEN;
        e.code = Some("admin_key_required");
        return e.into_response();
    }
    unauthorized("Incorrect API key provided.").into_response()
}

fn unauthorized(message: &str) -> ApiError {
    ApiError {
        status: StatusCode::UNAUTHORIZED,
        message: message.into(),
        kind: "invalid_request_error",
        param: None,
        code: Some("invalid_api_key"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_exactly() {
        let k = ApiKeys::new(vec!["sk-one".into(), "second-key".into()]).unwrap();
        assert!(k.enabled());
        assert!(k.accepts(b"sk-one") && k.accepts(b"second-key"));
        for bad in [
            &b""[..],
            b"sk-on",
            b"sk-one ",
            b"sk-onf",
            b"second-keyx",
            b"SK-ONE",
        ] {
            assert!(!k.accepts(bad), "{:?}", String::from_utf8_lossy(bad));
        }
        assert!(!ApiKeys::default().enabled());
        assert!(ApiKeys::new(vec![" ".into()]).is_err());
    }
}
