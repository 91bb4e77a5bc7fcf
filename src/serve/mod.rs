//! `expertsteer serve`: an OpenAI-compatible HTTP server whose requests
//! each choose their own steering, decoded together in one context.
//!
//! Upstream llama-server can scale LoRA adapters per request but cannot
//! choose control vectors per request, and never batches requests whose
//! adapters differ. Here every request names steering files and strengths
//! (`"steering": [{"name": "code", "strength": 0.1}]`), and up to
//! `parallel` of them decode in the same batch, each sequence steered by
//! its own vectors through the per-sequence eval-callback hook
//! ([`crate::llama::SteerHook`]).
//!
//! Pieces: [`request`] checks bodies into plans, [`engine`] batches and
//! generates on its own thread, [`response`] shapes OpenAI answers,
//! [`routes`] is the axum surface, [`error`] the OpenAI error body,
//! [`stop`] the stop-string scanner, [`load`] the bounded load test,
//! [`shutdown`] signals and the grace period, [`listen`] the bounded
//! accept loop, [`bare_errors`] JSON bodies for the HTTP parser's own
//! error answers.
//!
//! ```no_run
//! use expertsteer::serve::{ApiKeys, Catalog, ConnLimits, EngineConfig, Keys, ServeConfig, Server, Signals, SteerAdmin};
//! use expertsteer::{models, Model, ModelParams};
//! use std::sync::Arc;
//!
//! let path = models::resolve("smollm2-135m-instruct")?;
//! let model = Arc::new(Model::load(&path, &ModelParams::default())?);
//! let catalog = Catalog::load(&model, &[("code".into(), "code.steer".into())], None)?;
//! let server = Server::start(ServeConfig {
//!     model,
//!     model_id: "smollm2-135m-instruct".into(),
//!     catalog,
//!     addr: "127.0.0.1:8080".parse()?,
//!     engine: EngineConfig::default(),
//!     queue: 16,
//!     limits: ConnLimits::default(),
//!     signals: Signals::default(),
//!     keys: Keys { api: ApiKeys::new(vec!["sk-local-1".into()])?, ..Keys::default() },
//!     admin: SteerAdmin::default(),
//! })?;
//! println!("listening on http://{}", server.addr());
//! server.wait()?; // until SIGINT or SIGTERM; in-flight requests finish first
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod auth;
pub mod bare_errors;
pub mod engine;
pub mod error;
pub mod listen;
pub mod load;
pub mod peer;
pub mod prompt_cache;
pub mod request;
pub mod response;
pub mod routes;
pub mod shutdown;
pub mod steer_admin;
// Stop strings are shared with the evaluation harness; their old path.
pub use crate::stop;

pub use auth::{ApiKeys, Keys};
pub use engine::EngineConfig;
pub use listen::ConnLimits;
pub use request::{Catalog, MAX_REQUEST_STRENGTH};
pub use shutdown::Signals;
pub use steer_admin::SteerAdmin;

use crate::llama::Model;
use crate::steering::steerfile::SteerFile;
use crate::{Error, Result};
use engine::Engine;
use routes::{router, AppState};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use tokio::sync::oneshot;

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            parallel: 4,
            ctx_per_slot: 2048,
            threads: crate::llama::default_threads(),
            n_batch: 512,
            log: true,
            prompt_cache: true,
            poll: Some(DEFAULT_POLL),
        }
    }
}

/// The server's poll level for its kept CPU threads: llama-server's own
/// default, so the two engines wait for work alike (BENCHMARKS.md, "Again on
/// a quiet machine").
pub const DEFAULT_POLL: u32 = 50;

impl Catalog {
    /// Reads the steering files `(name, path)`, checks each against
    /// `model`, and sets the default (`name`, strength or the file's).
    pub fn load(
        model: &Model,
        files: &[(String, PathBuf)],
        default: Option<(&str, Option<f32>)>,
    ) -> Result<Catalog> {
        let mut catalog = Catalog::default();
        for (name, path) in files {
            steer_admin::check_name(name).map_err(Error::Input)?;
            let f = SteerFile::read(path)?;
            model.check_steer_file(&f)?;
            if catalog.files.insert(name.clone(), f).is_some() {
                return Err(Error::Input(format!(
                    "two steering files are named {name:?}"
                )));
            }
        }
        if let Some((name, strength)) = default {
            let f = catalog.files.get(name).ok_or_else(|| {
                Error::Input(format!(
                    "--default-steer {name}: no file of that name was given with --steer"
                ))
            })?;
            let c = strength.unwrap_or(f.default_strength);
            if !c.is_finite() || c.abs() as f64 > MAX_REQUEST_STRENGTH {
                return Err(Error::Input(format!(
                    "--default-steer strength {c}: must be finite and within ±{MAX_REQUEST_STRENGTH}"
                )));
            }
            catalog.default = Some((name.to_string(), c));
        }
        Ok(catalog)
    }
}

/// Everything a server needs.
pub struct ServeConfig {
    /// The model to serve.
    pub model: Arc<Model>,
    /// Its name in `/v1/models` and in answers.
    pub model_id: String,
    /// Steering files by name, and the default.
    pub catalog: Catalog,
    /// Where to listen (port 0 = any free port).
    pub addr: SocketAddr,
    /// Slots, context per slot, threads, batch size.
    pub engine: EngineConfig,
    /// Requests that may wait for a slot; beyond them the answer is 503.
    pub queue: usize,
    /// Timeouts for slow clients and the bound on open connections.
    pub limits: ConnLimits,
    /// Stop on SIGINT and SIGTERM (draining in-flight requests within a
    /// grace period; a second signal quits at once).
    pub signals: Signals,
    /// Keys every endpoint but `/health` and the page asks for, and the
    /// admin endpoints' own (none: open).
    pub keys: Keys,
    /// Run-time steering files: `--steer-dir` and the upload bound.
    pub admin: SteerAdmin,
}

/// A running server.
pub struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

impl Server {
    /// Binds, starts the engine and serves on a background thread.
    pub fn start(cfg: ServeConfig) -> Result<Server> {
        if cfg.engine.parallel == 0 || cfg.engine.parallel > 64 {
            return Err(Error::Input(format!(
                "--parallel {}: use 1 to 64 slots",
                cfg.engine.parallel
            )));
        }
        if cfg.engine.ctx_per_slot < 16 {
            return Err(Error::Input(format!(
                "--ctx {}: a request needs at least 16 tokens of context",
                cfg.engine.ctx_per_slot
            )));
        }
        if cfg
            .engine
            .ctx_per_slot
            .checked_mul(cfg.engine.parallel as u32)
            .is_none()
        {
            return Err(Error::Input(format!(
                "--ctx {} × --parallel {} tokens is more than a context can hold",
                cfg.engine.ctx_per_slot, cfg.engine.parallel
            )));
        }
        if (cfg.engine.n_batch as usize) < cfg.engine.parallel {
            return Err(Error::Input(format!(
                "--batch {} is smaller than --parallel {}",
                cfg.engine.n_batch, cfg.engine.parallel
            )));
        }
        cfg.limits.check()?;
        let listener = std::net::TcpListener::bind(cfg.addr)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| Error::Input(format!("cannot listen on {}: {e}", cfg.addr)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Input(format!("listening socket: {e}")))?;
        let parallel = cfg.engine.parallel;
        let ctx_per_slot = cfg.engine.ctx_per_slot as usize;
        let engine = Engine::start(cfg.model.clone(), cfg.engine, cfg.queue)?;
        let state = Arc::new(AppState {
            model: cfg.model,
            model_id: cfg.model_id,
            catalog: std::sync::RwLock::new(cfg.catalog),
            admin: cfg.admin,
            jobs: engine.jobs.clone(),
            stats: engine.stats.clone(),
            ctx_per_slot,
            parallel,
            queue: cfg.queue.max(1),
            serial: AtomicU64::new(0),
            body_timeout: cfg.limits.body_timeout,
            keys: Arc::new(cfg.keys),
        });
        let (stop_tx, stop_rx) = oneshot::channel();
        let (signals, limits) = (cfg.signals, cfg.limits);
        let thread = std::thread::Builder::new()
            .name("expertsteer-http".into())
            .spawn(move || serve(listener, state, engine, stop_rx, signals, limits))
            .map_err(|e| Error::Input(format!("server thread: {e}")))?;
        Ok(Server {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Blocks until the server stops (SIGINT or SIGTERM when enabled).
    pub fn wait(mut self) -> Result<()> {
        let t = self.thread.take().expect("thread taken once");
        let r = t
            .join()
            .unwrap_or_else(|_| Err(Error::Input("the server thread panicked".into())));
        self.stop = None;
        r
    }

    /// Stops accepting, lets in-flight requests finish, then returns.
    pub fn stop(mut self) -> Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.wait()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The server thread: a tokio runtime serving until stopped and the
/// requests in flight have finished (or the grace period is over), then
/// the engine is drained and joined.
fn serve(
    listener: std::net::TcpListener,
    state: Arc<AppState>,
    engine: Engine,
    stop: oneshot::Receiver<()>,
    signals: Signals,
    limits: ConnLimits,
) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Input(format!("tokio runtime: {e}")))?;
    let stats = state.stats.clone();
    let served = rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let (stopping_tx, stopping_rx) = oneshot::channel();
        let serving = listen::serve_bounded(
            listener,
            router(state),
            limits,
            shutdown::stop_requested(stop, signals, stats.clone(), stopping_tx),
        );
        tokio::select! {
            _ = serving => {}
            _ = shutdown::grace_over(stopping_rx, signals.grace, stats) => {}
        }
        Ok::<(), std::io::Error>(())
    });
    // Every connection has finished (or is dropped here, its requests
    // cancelled); dropping the runtime drops the last holder of the
    // queue's sender, so the engine ends after its jobs.
    drop(rt);
    engine.join();
    served.map_err(|e| Error::Input(format!("server: {e}")))
}
