//! `expertsteer generate`.

use super::options::ModelOpts;
use clap::{Args, ValueEnum};
use expertsteer::generate::{generate, prompt_tokens, GenerateParams};
use expertsteer::llama::{Model, Positions, SamplerParams};
use expertsteer::steering::steer::{self, SteerPath, Steering};
use expertsteer::steering::steering_io::{steering_from_sources, ModelShape, SteeringSource};
use expertsteer::{Error, Result};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub model: ModelOpts,
    /// The prompt text.
    #[arg(long, short)]
    pub prompt: String,
    /// Wrap the prompt in the model's chat template as a user turn.
    #[arg(long)]
    pub chat: bool,
    /// Most new tokens.
    #[arg(long, short = 'n', default_value_t = 96)]
    pub max_tokens: usize,
    /// Sampling temperature; 0 = greedy (deterministic).
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    /// Top-k cut-off when sampling (0 = off).
    #[arg(long, default_value_t = 40)]
    pub top_k: i32,
    /// Top-p (nucleus) cut-off when sampling (1 = off).
    #[arg(long, default_value_t = 0.95)]
    pub top_p: f32,
    /// Seed of the sampler; the same seed repeats the same text.
    #[arg(long, default_value_t = 42)]
    pub seed: u32,
    /// A steering file from `expertsteer fit` (.steer), or a llama.cpp
    /// control-vector GGUF (tensors `direction.N`, added to layer N).
    #[arg(long)]
    pub steer: Option<PathBuf>,
    /// Layer (0-based block) for a --vector; repeat in pairs with --vector.
    #[arg(long = "layer")]
    pub layers: Vec<usize>,
    /// A vector (.npy or raw little-endian .f32, n_embd floats) added at the
    /// matching --layer.
    #[arg(long = "vector")]
    pub vectors: Vec<PathBuf>,
    /// Strength. For a .steer file: c in s_j = c · r_j, relative to each
    /// layer's mean hidden-state norm (default: the file's). For control
    /// vectors and --vector: a multiplier (default 1).
    #[arg(long, allow_hyphen_values = true)]
    pub strength: Option<f32>,
    /// Steer only generated tokens; the prompt is read unsteered (callback path).
    #[arg(long)]
    pub generated_only: bool,
    /// Mechanism: auto picks llama.cpp's control vector when it can.
    #[arg(long, value_enum, default_value_t = PathChoice::Auto)]
    pub path: PathChoice,
    /// Also print the unsteered continuation first, for comparison.
    #[arg(long)]
    pub compare: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum PathChoice {
    Auto,
    Cvec,
    Callback,
}

/// The steering the flags ask for (empty when none).
fn steering_from_args(a: &GenerateArgs, model: &Model) -> Result<Steering> {
    if a.layers.len() != a.vectors.len() {
        return Err(Error::Input(format!(
            "give --layer and --vector in pairs ({} layers, {} vectors)",
            a.layers.len(),
            a.vectors.len()
        )));
    }
    let mut sources: Vec<SteeringSource> =
        a.steer.iter().map(|p| SteeringSource::detect(p)).collect();
    sources.extend(
        a.layers
            .iter()
            .zip(&a.vectors)
            .map(|(&layer, path)| SteeringSource::Vector {
                path: path.clone(),
                layer,
            }),
    );
    let positions = if a.generated_only {
        Positions::GeneratedOnly
    } else {
        Positions::All
    };
    steering_from_sources(&sources, ModelShape::of(model), a.strength, positions)
}

pub fn run(a: GenerateArgs) -> Result<()> {
    let model = a.model.load()?;
    let steering = steering_from_args(&a, &model)?;
    let mut ctx = a.model.context(&model)?;
    let prompt = prompt_tokens(&model, &a.prompt, a.chat)?;
    let params = GenerateParams {
        max_tokens: a.max_tokens,
        sampler: SamplerParams {
            temperature: a.temperature,
            top_k: a.top_k,
            top_p: a.top_p,
            seed: a.seed,
        },
    };
    // Tokens stream as they come; a closed reader (`| head -1`) ends the
    // process here rather than after the whole generation.
    let mut echo = |t: &str| out!("{t}");
    if a.compare || steering.vectors.is_empty() {
        if a.compare {
            outln!("--- unsteered ---");
        }
        generate(&mut ctx, &prompt, &params, &mut echo)?;
        outln!();
    }
    if steering.vectors.is_empty() {
        return Ok(());
    }
    let path = match a.path {
        PathChoice::Auto => None,
        PathChoice::Cvec => Some(SteerPath::ControlVector),
        PathChoice::Callback => Some(SteerPath::Callback),
    };
    let used = steer::apply(&mut ctx, &steering, path)?;
    if a.compare {
        let layers: Vec<String> = steering.vectors.keys().map(|l| l.to_string()).collect();
        outln!("--- steered (layers {}, {used:?}) ---", layers.join(","));
    }
    generate(&mut ctx, &prompt, &params, &mut echo)?;
    outln!();
    Ok(())
}
