//! Flags shared by several commands, and their parsing.

use clap::Args;
use expertsteer::llama::{Context, ContextParams, Model, ModelParams};
use expertsteer::{models, Error, Result};

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

/// Parses a layer list: `all`, `steerable` (1..n_layer-1), or `1,4,8-10`.
pub fn parse_layers(spec: &str, n_layer: usize) -> Result<Vec<usize>> {
    let spec = spec.trim();
    let mut out: Vec<usize> = match spec {
        "all" => (0..n_layer).collect(),
        "steerable" => (1..n_layer).collect(),
        _ => {
            let mut v = Vec::new();
            for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let num = |s: &str| {
                    s.trim().parse::<usize>().map_err(|_| {
                        Error::Input(format!("'{s}' in --layers is not a layer number"))
                    })
                };
                match part.split_once('-') {
                    Some((a, b)) => {
                        let (a, b) = (num(a)?, num(b)?);
                        if a > b {
                            return Err(Error::Input(format!("layer range {part} is reversed")));
                        }
                        v.extend(a..=b);
                    }
                    None => v.push(num(part)?),
                }
            }
            v
        }
    };
    out.sort_unstable();
    out.dedup();
    if out.is_empty() {
        return Err(Error::Input("no layers given".into()));
    }
    if let Some(&bad) = out.iter().find(|&&l| l >= n_layer) {
        return Err(Error::Input(format!(
            "layer {bad} is out of range: the model has blocks 0..{}",
            n_layer - 1
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::parse_layers;

    #[test]
    fn layer_lists_parse_and_reject_bad_input() {
        assert_eq!(parse_layers("1,4,8-10", 30).unwrap(), vec![1, 4, 8, 9, 10]);
        assert_eq!(parse_layers("steerable", 3).unwrap(), vec![1, 2]);
        assert_eq!(parse_layers("all", 2).unwrap(), vec![0, 1]);
        assert!(parse_layers("30", 30).is_err());
        assert!(parse_layers("x", 30).is_err());
        assert!(parse_layers("5-2", 30).is_err());
    }
}
