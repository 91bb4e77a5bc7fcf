//! Flags shared by several commands, and their parsing.

use clap::Args;
use expertsteer::llama::{Context, ContextParams, Model, ModelParams, Positions};
use expertsteer::steering::steerfile::SteerFile;
use expertsteer::{models, Error, Result};
use expertsteer_eval::code::run::LabelledSteer;
use expertsteer_eval::data::Part;
use std::path::PathBuf;

/// Remote llama.cpp workers to run the model's blocks on.
#[derive(Args, Debug, Clone, Default)]
pub struct RpcOpts {
    /// Run the model's blocks on llama.cpp RPC workers (`expertsteer
    /// rpc-worker`), HOST:PORT, comma separated. Blocks are offloaded to
    /// them as to a GPU (see --gpu-layers). RPC is unauthenticated: use it
    /// on loopback or a trusted network only.
    #[arg(long, value_delimiter = ',')]
    pub rpc: Vec<String>,
}

impl RpcOpts {
    /// Registers the workers (before any model is loaded).
    pub fn register(&self) -> Result<()> {
        if !self.rpc.is_empty() {
            expertsteer::llama::rpc::add_rpc_servers(&self.rpc)?;
        }
        Ok(())
    }
}

/// The context length when `--ctx` is not given (or the model's training
/// context, if shorter).
pub const DEFAULT_CTX: u32 = 2048;

/// Which model and how to run it.
#[derive(Args, Debug, Clone)]
pub struct ModelOpts {
    /// Registry name (see `expertsteer models list`) or path to a GGUF file.
    #[arg(long, short, default_value = models::DEFAULT_MODEL)]
    pub model: String,
    /// CPU threads (default: one fewer than the machine's cores, 1 to 8;
    /// llama.cpp's threads spin, so a thread that shares its core with
    /// another busy process slows all of them down).
    #[arg(long)]
    pub threads: Option<i32>,
    /// Context length in tokens (per request for `serve`): at most the
    /// model's training context. Default 2048, or the training context if
    /// it is shorter.
    #[arg(long)]
    pub ctx: Option<u32>,
    /// Blocks to offload to a GPU in cuda/metal builds (-1 = all).
    #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
    pub gpu_layers: i32,
    #[command(flatten)]
    pub rpc: RpcOpts,
}

impl ModelOpts {
    /// [`Self::load`], saying on stderr how long it took under `label`.
    pub fn load_timed(&self, label: &str) -> Result<Model> {
        let t = std::time::Instant::now();
        let model = self.load()?;
        errln!(
            "model: {label} loaded in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        Ok(model)
    }

    /// Resolves (fetching if needed) and loads the model.
    pub fn load(&self) -> Result<Model> {
        self.rpc.register()?;
        let path = models::resolve(&self.model)?;
        Ok(Model::load(
            &path,
            &ModelParams {
                gpu_layers: self.gpu_layers,
            },
        )?)
    }

    /// `--ctx` checked against `model`'s training context (positions
    /// beyond it are outside what the model learned), or the default.
    pub fn ctx(&self, model: &Model) -> Result<u32> {
        let train = u32::try_from(model.n_ctx_train()).unwrap_or(u32::MAX);
        match self.ctx {
            None if train > 0 => Ok(DEFAULT_CTX.min(train)),
            None => Ok(DEFAULT_CTX),
            Some(0) => Err(Error::Input(
                "--ctx 0: give the context length in tokens".into(),
            )),
            Some(n) if train > 0 && n > train => Err(Error::Input(format!(
                "--ctx {n}: {} was trained on contexts of {train} tokens, and positions beyond \
                 that are outside what it learned; use --ctx {train} or less",
                self.model
            ))),
            Some(n) => Ok(n),
        }
    }

    /// CPU threads: `--threads`, or the default.
    pub fn threads(&self) -> i32 {
        self.threads
            .unwrap_or_else(expertsteer::llama::default_threads)
    }

    /// Context parameters from the flags (hook installed), checked
    /// against `model`.
    pub fn context_params(&self, model: &Model) -> Result<ContextParams> {
        Ok(ContextParams {
            n_ctx: self.ctx(model)?,
            threads: self.threads(),
            ..ContextParams::default()
        })
    }

    /// A context with the eval hook installed.
    pub fn context<'m>(&self, model: &'m Model) -> Result<Context<'m>> {
        Ok(Context::new(model, self.context_params(model)?)?)
    }
}

/// `fit`, `validation`, `test` (a part of the fixed 60/20/20 split) or
/// `all` (`None`).
pub fn parse_split(s: &str) -> Result<Option<Part>> {
    match s.trim() {
        "fit" => Ok(Some(Part::Fit)),
        "validation" => Ok(Some(Part::Validation)),
        "test" => Ok(Some(Part::Test)),
        "all" => Ok(None),
        other => Err(Error::Input(format!(
            "split '{other}': use fit, validation, test or all"
        ))),
    }
}

/// `all` or `generated` token positions to steer.
fn parse_positions(s: &str) -> Result<Positions> {
    match s.trim() {
        "all" => Ok(Positions::All),
        "generated" => Ok(Positions::GeneratedOnly),
        other => Err(Error::Input(format!(
            "positions '{other}': use all or generated"
        ))),
    }
}

/// Every strength must be a finite number.
fn check_strengths(strengths: &[f32]) -> Result<()> {
    match strengths.iter().find(|s| !s.is_finite()) {
        Some(bad) => Err(Error::Input(format!("strength {bad} is not a number"))),
        None => Ok(()),
    }
}

/// A model's label in logs: a GGUF path's file stem, else the registry name.
pub fn model_label(model: &str) -> String {
    let p = std::path::Path::new(model);
    match p.extension() {
        Some(e) if e == "gguf" => p
            .file_stem()
            .map_or(model.to_string(), |s| s.to_string_lossy().into_owned()),
        _ => model.to_string(),
    }
}

/// Reads `--steer FILE` or `--steer LABEL=FILE` (the label defaults to the
/// file stem; `none` is reserved for no steering).
fn read_labelled_steer(s: &str) -> Result<LabelledSteer> {
    let (label, path) = match s.split_once('=') {
        Some((l, p)) => (l.to_string(), PathBuf::from(p)),
        None => {
            let p = PathBuf::from(s);
            let label = p
                .file_stem()
                .map_or("steer".into(), |x| x.to_string_lossy().into_owned());
            (label, p)
        }
    };
    if label == "none" {
        return Err(Error::Input(
            "the steering label 'none' is taken by no steering".into(),
        ));
    }
    Ok(LabelledSteer {
        label,
        file: SteerFile::read(&path)?,
    })
}

/// A steering file and the conditions to run it under (eval code,
/// eval gen): no steering always runs too.
#[derive(Args, Debug, Clone)]
pub struct SteerGrid {
    /// Steering file, as FILE or LABEL=FILE (no steering is always run too).
    #[arg(long)]
    pub steer: Option<String>,
    /// Strengths c for the steering file (0 = no steering).
    #[arg(
        long,
        default_value = "0.1",
        value_delimiter = ',',
        allow_hyphen_values = true
    )]
    pub strengths: Vec<f32>,
    /// Token positions to steer: all, or generated (prompt left unsteered).
    #[arg(long, default_value = "all")]
    pub positions: String,
}

impl SteerGrid {
    /// The file, read and labelled.
    pub fn steer(&self) -> Result<Option<LabelledSteer>> {
        self.steer.as_deref().map(read_labelled_steer).transpose()
    }

    /// The strengths, checked to be numbers.
    pub fn strengths(&self) -> Result<Vec<f32>> {
        check_strengths(&self.strengths)?;
        Ok(self.strengths.clone())
    }

    /// The positions.
    pub fn positions(&self) -> Result<Positions> {
        parse_positions(&self.positions)
    }
}

/// How the server's engine runs: `serve`, `bench serve` and `bench peer`.
#[derive(Args, Debug, Clone)]
pub struct EngineOpts {
    /// No prompt cache: a finished request's KV cache is dropped instead of
    /// kept for the next request that starts the same way.
    #[arg(long)]
    pub no_prompt_cache: bool,
    /// How long idle CPU threads keep polling for the next decode before
    /// they sleep, 0-100 (llama-server's `--poll` and default): lower gives
    /// CPU back to other work sooner, higher answers sooner.
    #[arg(long, default_value_t = expertsteer::serve::DEFAULT_POLL, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub poll: u32,
}
