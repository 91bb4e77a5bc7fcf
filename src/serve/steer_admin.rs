//! Steering files loaded, replaced and removed while the server runs:
//! `POST /v1/steering` (an uploaded file, or one named from `--steer-dir`)
//! and `DELETE /v1/steering/{name}`. Every file is validated as at start
//! (format, checksum, finite content, the served model's shape) before it
//! replaces anything. Requests already running keep the vectors they
//! started with: a plan copies its scaled vectors when it is made.

use super::error::ApiError;
use super::routes::{read_body_max, AppState};
use crate::steering::steerfile::SteerFile;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where `POST /v1/steering` may load files by name, and the upload bound.
#[derive(Debug, Clone)]
pub struct SteerAdmin {
    /// `--steer-dir`: the only folder a request may name files in.
    pub dir: Option<PathBuf>,
    /// Largest uploaded or loaded file, in bytes.
    pub max_bytes: usize,
}

impl Default for SteerAdmin {
    fn default() -> Self {
        SteerAdmin {
            dir: None,
            max_bytes: 64 * 1024 * 1024,
        }
    }
}

/// A steering name: letters, digits, '-', '_' or '.'.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(format!(
            "steering name {name:?}: use 1-64 letters, digits, '-', '_' or '.'"
        ));
    }
    Ok(())
}

/// `?name=NAME` of an upload.
#[derive(Debug, Deserialize)]
pub struct UploadQuery {
    name: Option<String>,
}

/// `{"name": NAME, "file": FILE}`: FILE in `--steer-dir`.
#[derive(Debug, Deserialize)]
struct FromDir {
    name: String,
    file: String,
}

fn bad(param: &str, msg: impl Into<String>) -> ApiError {
    ApiError::invalid(Some(param), msg)
}

/// The file `name` inside `dir`, refusing anything that would leave it
/// (separators, `..`, absolute paths, symbolic links pointing out).
fn inside(dir: &Path, name: &str) -> Result<PathBuf, ApiError> {
    if name.is_empty()
        || name.contains('/')
        || name.contains('\\')
        || name.contains('\0')
        || name == "."
        || name == ".."
    {
        return Err(bad(
            "file",
            format!("{name:?} is not a plain file name inside the server's --steer-dir"),
        ));
    }
    let root = dir
        .canonicalize()
        .map_err(|e| ApiError::internal(format!("--steer-dir: {e}")))?;
    let path = root.join(name);
    let real = path.canonicalize().map_err(|_| {
        bad(
            "file",
            format!("no file {name:?} in the server's --steer-dir"),
        )
    })?;
    if !real.starts_with(&root) || !real.is_file() {
        return Err(bad(
            "file",
            format!("{name:?} is not a file inside the server's --steer-dir"),
        ));
    }
    Ok(real)
}

/// `POST /v1/steering`.
pub async fn add(
    State(s): State<Arc<AppState>>,
    Query(q): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let limit = if json_body {
        64 * 1024
    } else {
        s.admin.max_bytes
    };
    let bytes = match read_body_max(body, s.body_timeout, limit).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    match add_inner(&s, q, json_body, &bytes) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn add_inner(
    s: &AppState,
    q: UploadQuery,
    json_body: bool,
    bytes: &[u8],
) -> Result<Response, ApiError> {
    let (name, file) = if json_body {
        let req: FromDir = serde_json::from_slice(bytes).map_err(|e| {
            ApiError::invalid(
                None,
                format!("expected {{\"name\": NAME, \"file\": FILE}}: {e}"),
            )
        })?;
        check_name(&req.name).map_err(|m| bad("name", m))?;
        let dir = s.admin.dir.as_ref().ok_or_else(|| {
            bad(
                "file",
                "this server has no --steer-dir: upload the file's bytes instead \
                 (Content-Type: application/octet-stream, ?name=NAME)",
            )
        })?;
        let path = inside(dir, &req.file)?;
        let len = std::fs::metadata(&path)
            .map(|m| m.len())
            .unwrap_or(u64::MAX);
        if len > s.admin.max_bytes as u64 {
            return Err(too_large(s.admin.max_bytes));
        }
        let data = std::fs::read(&path)
            .map_err(|e| ApiError::internal(format!("reading {:?}: {e}", req.file)))?;
        (req.name, parse(&data, &req.file)?)
    } else {
        let name = q.name.ok_or_else(|| {
            bad(
                "name",
                "an upload names its steering file: POST /v1/steering?name=NAME",
            )
        })?;
        check_name(&name).map_err(|m| bad("name", m))?;
        let f = parse(bytes, &name)?;
        (name, f)
    };
    s.model
        .check_steer_file(&file)
        .map_err(|e| ApiError::invalid(Some("file"), format!("{e}")).with_code("model_mismatch"))?;
    let entry = super::routes::listing(&name, &file, false);
    let replaced = {
        let mut cat = s.catalog.write().unwrap_or_else(|e| e.into_inner());
        cat.files.insert(name.clone(), file).is_some()
    };
    let status = if replaced {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(json!({"replaced": replaced, "steering": entry})),
    )
        .into_response())
}

fn parse(bytes: &[u8], what: &str) -> Result<SteerFile, ApiError> {
    SteerFile::from_bytes(bytes, what).map_err(|e| {
        ApiError::invalid(Some("file"), format!("not a valid steering file: {e}"))
            .with_code("invalid_steering_file")
    })
}

fn too_large(max: usize) -> ApiError {
    let mut e = ApiError::invalid(
        None,
        format!("the steering file is larger than {max} bytes (serve --max-upload-mb)"),
    );
    e.status = StatusCode::PAYLOAD_TOO_LARGE;
    e
}

/// `DELETE /v1/steering/{name}`.
pub async fn delete(State(s): State<Arc<AppState>>, UrlPath(name): UrlPath<String>) -> Response {
    let mut cat = s.catalog.write().unwrap_or_else(|e| e.into_inner());
    if cat.default.as_ref().is_some_and(|(d, _)| *d == name) {
        let mut e = ApiError::invalid(
            Some("name"),
            format!("{name:?} is the server's --default-steer; it cannot be removed while serving"),
        )
        .with_code("is_default");
        e.status = StatusCode::CONFLICT;
        return e.into_response();
    }
    if cat.files.remove(&name).is_none() {
        let mut e = ApiError::invalid(
            Some("name"),
            format!("no steering file named {name:?} is loaded"),
        )
        .with_code("unknown_steering");
        e.status = StatusCode::NOT_FOUND;
        return e.into_response();
    }
    Json(json!({"deleted": name})).into_response()
}
