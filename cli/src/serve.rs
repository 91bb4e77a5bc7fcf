//! `expertsteer serve`: flags → [`expertsteer::serve::Server`].

use super::options::{EngineOpts, ModelOpts};
use clap::Args;
use expertsteer::serve::{
    ApiKeys, Catalog, ConnLimits, EngineConfig, Keys, ServeConfig, Server, Signals, SteerAdmin,
};
use expertsteer::{Error, Result};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub model: ModelOpts,
    /// A steering file requests may name: NAME=FILE, or FILE (named after
    /// the file's stem). Repeatable. Files are read at start only; no path
    /// ever comes from a request.
    #[arg(long = "steer", value_name = "NAME=FILE")]
    pub steer: Vec<String>,
    /// Steering for requests that carry no `steering` field:
    /// NAME or NAME:STRENGTH (default: none).
    #[arg(long, value_name = "NAME[:STRENGTH]")]
    pub default_steer: Option<String>,
    /// Address to listen on. Beyond loopback the server needs an API key
    /// (--api-key / --api-key-file) or an explicit --no-auth.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// A key clients must send as `Authorization: Bearer KEY` (the OpenAI
    /// clients' api_key) on every endpoint but /health and the page; 401
    /// otherwise. Repeatable: any of the keys is accepted.
    #[arg(long = "api-key", value_name = "KEY")]
    pub api_key: Vec<String>,
    /// A file of API keys, one per line (blank lines and lines starting
    /// with # are skipped); keeps keys out of the process list.
    #[arg(long, value_name = "FILE")]
    pub api_key_file: Option<PathBuf>,
    /// A key for loading and removing steering files at run time
    /// (`POST`/`DELETE /v1/steering`); repeatable. Without one, the API
    /// keys (if any) open those endpoints too.
    #[arg(long = "admin-key", value_name = "KEY")]
    pub admin_key: Vec<String>,
    /// A folder `POST /v1/steering {"name": N, "file": F}` may load files
    /// from, by plain file name (no path from a request leaves it).
    /// Uploads of a file's bytes work without it.
    #[arg(long, value_name = "DIR")]
    pub steer_dir: Option<PathBuf>,
    /// Largest steering file a request may upload or load, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    pub max_upload_mb: usize,
    #[command(flatten)]
    pub engine: EngineOpts,
    /// Listen beyond loopback without any key: anyone who can reach the
    /// port can use it. Only on a trusted network.
    #[arg(long)]
    pub no_auth: bool,
    /// Port (0 = any free port; the line `listening on …` says which).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Requests decoded together, each with its own steering (slots). The
    /// context holds --parallel × --ctx tokens.
    #[arg(long, default_value_t = 4)]
    pub parallel: usize,
    /// Requests that may wait for a free slot; beyond them, 503.
    #[arg(long, default_value_t = 16)]
    pub queue: usize,
    /// Most tokens in one decode (prompt chunks of waiting requests share
    /// it with the running ones).
    #[arg(long, default_value_t = 512)]
    pub batch: u32,
    /// No log line per finished request.
    #[arg(long)]
    pub quiet: bool,
    /// On SIGINT (Ctrl-C) or SIGTERM the server stops accepting and gives
    /// the requests in flight this many seconds to finish before it quits
    /// without them; a second signal quits at once.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub grace: f64,
    /// Seconds a connection has to send a whole request head, from opening
    /// or from the end of its previous answer (so idle keep-alive
    /// connections close after it too); then it is closed.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub header_timeout: f64,
    /// Seconds a client has to send a whole request body once its head is
    /// in; then the answer is 408 and the connection is closed.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub body_timeout: f64,
    /// Connections open at once; more wait to be accepted until one closes.
    #[arg(long, default_value_t = 256)]
    pub max_connections: usize,
}

/// `NAME=FILE` or `FILE` → (name, path).
pub fn parse_steer_arg(arg: &str) -> Result<(String, PathBuf)> {
    if let Some((name, path)) = arg.split_once('=') {
        return Ok((name.to_string(), PathBuf::from(path)));
    }
    let path = PathBuf::from(arg);
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .ok_or_else(|| Error::Input(format!("--steer {arg}: expected NAME=FILE or FILE")))?;
    Ok((name, path))
}

/// `NAME` or `NAME:STRENGTH`.
fn parse_default(arg: &str) -> Result<(&str, Option<f32>)> {
    match arg.rsplit_once(':') {
        None => Ok((arg, None)),
        Some((name, c)) => {
            let c: f32 = c.parse().map_err(|_| {
                Error::Input(format!(
                    "--default-steer {arg}: STRENGTH must be a number (NAME:0.5)"
                ))
            })?;
            Ok((name, Some(c)))
        }
    }
}

/// The keys of --api-key and --api-key-file, and the loopback rule.
fn api_keys(a: &ServeArgs) -> Result<ApiKeys> {
    let mut keys = a.api_key.clone();
    if let Some(f) = &a.api_key_file {
        let text = std::fs::read_to_string(f)
            .map_err(|e| Error::Input(format!("--api-key-file {}: {e}", f.display())))?;
        keys.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from),
        );
        if keys.is_empty() {
            return Err(Error::Input(format!(
                "--api-key-file {}: no key in it",
                f.display()
            )));
        }
    }
    let keys = ApiKeys::new(keys).map_err(|e| Error::Input(format!("--api-key: {e}")))?;
    if !a.host.is_loopback() && !keys.enabled() && !a.no_auth {
        return Err(Error::Input(format!(
            "--host {}: listening beyond loopback needs --api-key KEY (or --api-key-file);              pass --no-auth to serve anyone who can reach the port",
            a.host
        )));
    }
    if keys.enabled() && a.no_auth {
        return Err(Error::Input(
            "--no-auth contradicts --api-key/--api-key-file".into(),
        ));
    }
    Ok(keys)
}

pub fn run(a: ServeArgs) -> Result<()> {
    let keys = Keys {
        api: api_keys(&a)?,
        admin: ApiKeys::new(a.admin_key.clone())
            .map_err(|e| Error::Input(format!("--admin-key: {e}")))?,
    };
    if let Some(d) = &a.steer_dir {
        if !d.is_dir() {
            return Err(Error::Input(format!(
                "--steer-dir {}: not a folder",
                d.display()
            )));
        }
    }
    if a.max_upload_mb == 0 || a.max_upload_mb > 4096 {
        return Err(Error::Input(format!(
            "--max-upload-mb {}: use 1 to 4096",
            a.max_upload_mb
        )));
    }
    let admin = SteerAdmin {
        dir: a.steer_dir.clone(),
        max_bytes: a.max_upload_mb << 20,
    };
    let steers = a
        .steer
        .iter()
        .map(|s| parse_steer_arg(s))
        .collect::<Result<Vec<_>>>()?;
    let default = a.default_steer.as_deref().map(parse_default).transpose()?;
    let grace = secs("--grace", a.grace)?;
    let limits = ConnLimits {
        header_timeout: secs("--header-timeout", a.header_timeout)?,
        body_timeout: secs("--body-timeout", a.body_timeout)?,
        max_connections: a.max_connections,
    };
    let model = Arc::new(a.model.load()?);
    let catalog = Catalog::load(&model, &steers, default)?;
    let params = a.model.context_params(&model)?;
    let server = Server::start(ServeConfig {
        model_id: model_id(&a.model.model),
        model,
        catalog,
        addr: SocketAddr::new(a.host, a.port),
        engine: EngineConfig {
            parallel: a.parallel,
            ctx_per_slot: params.n_ctx,
            threads: params.threads,
            n_batch: a.batch,
            log: !a.quiet,
            prompt_cache: !a.engine.no_prompt_cache,
            poll: Some(a.engine.poll),
        },
        queue: a.queue,
        limits,
        signals: Signals {
            enabled: true,
            grace,
        },
        keys,
        admin,
    })?;
    if !a.host.is_loopback() && a.no_auth {
        errln!(
            "serve: listening beyond loopback ({}) with no authentication: anyone who can reach it can use it",
            a.host
        );
    }
    outln!("listening on http://{}", server.addr());
    errln!(
        "serve: {} slots × {} tokens, {} steering file(s); the comparison page is at http://{}/",
        a.parallel,
        params.n_ctx,
        steers.len(),
        server.addr()
    );
    server.wait()
}

/// A duration flag in seconds: finite, not negative, at most a day.
pub fn secs(flag: &str, v: f64) -> Result<Duration> {
    if !(0.0..=86_400.0).contains(&v) {
        return Err(Error::Input(format!(
            "{flag} {v}: give seconds between 0 and 86400"
        )));
    }
    Ok(Duration::from_secs_f64(v))
}

/// The name clients see: the registry name, or a path's file stem.
pub fn model_id(arg: &str) -> String {
    if arg.ends_with(".gguf") {
        std::path::Path::new(arg)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| arg.to_string())
    } else {
        arg.to_string()
    }
}
