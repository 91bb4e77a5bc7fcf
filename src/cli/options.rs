//! Flags shared by several commands, and their parsing.

use clap::Args;
use expertsteer::llama::{Context, ContextParams, Model, ModelParams};
use expertsteer::{models, Result};

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

/// Which model and how to run it.
#[derive(Args, Debug, Clone)]
pub struct ModelOpts {
    /// Registry name (see `expertsteer models list`) or path to a GGUF file.
    #[arg(long, short, default_value = models::DEFAULT_MODEL)]
    pub model: String,
    /// CPU threads (default: the machine's cores, at most 8).
    #[arg(long)]
    pub threads: Option<i32>,
    /// Context length in tokens.
    #[arg(long, default_value_t = 2048)]
    pub ctx: u32,
    /// Blocks to offload to a GPU in cuda/metal builds (-1 = all).
    #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
    pub gpu_layers: i32,
    #[command(flatten)]
    pub rpc: RpcOpts,
}

impl ModelOpts {
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

    /// Context parameters from the flags (hook installed).
    pub fn context_params(&self) -> ContextParams {
        let mut p = ContextParams {
            n_ctx: self.ctx,
            ..ContextParams::default()
        };
        if let Some(t) = self.threads {
            p.threads = t;
        }
        p
    }

    /// A context with the eval hook installed.
    pub fn context<'m>(&self, model: &'m Model) -> Result<Context<'m>> {
        Ok(Context::new(model, self.context_params())?)
    }
}
