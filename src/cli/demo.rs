//! `expertsteer demo`: the README's main job.

use super::options::ModelOpts;
use clap::Args;
use expertsteer::contrast::contrast_steering;
use expertsteer::generate::{generate, prompt_tokens, GenerateParams};
use expertsteer::layer_list::parse_layers;
use expertsteer::steer::{self, SteerPath};
use expertsteer::steering_io::{control_vector_of, write_control_vector};
use expertsteer::{Error, Result};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct DemoArgs {
    #[command(flatten)]
    pub model: ModelOpts,
    /// Text that has the concept to steer toward.
    #[arg(
        long,
        default_value = "Everything is wonderful! I am so happy, joyful and full of love."
    )]
    pub positive: String,
    /// Text without it.
    #[arg(
        long,
        default_value = "Everything is terrible. I am so sad, miserable and full of despair."
    )]
    pub negative: String,
    /// The prompt both runs continue.
    #[arg(long, default_value = "Tell me about your weekend.")]
    pub prompt: String,
    /// Layers that receive the vector (default: a band in the middle).
    #[arg(long)]
    pub layers: Option<String>,
    /// Multiplier of the contrast vector (the demo also runs its negative).
    #[arg(long, default_value_t = 0.8, allow_hyphen_values = true)]
    pub strength: f32,
    /// Most new tokens per run.
    #[arg(long, short = 'n', default_value_t = 60)]
    pub max_tokens: usize,
    /// Also save the vector as a llama.cpp control-vector GGUF here
    /// (usable with `llama-cli --control-vector FILE`).
    #[arg(long)]
    pub save_cvec: Option<PathBuf>,
}

pub fn run(a: DemoArgs) -> Result<()> {
    let model = a.model.load()?;
    let n_layer = model.n_layer();
    let layers = match &a.layers {
        Some(s) => parse_layers(s, n_layer)?,
        None => (n_layer * 4 / 15..=n_layer * 2 / 5).collect(),
    };
    if layers.contains(&0) && a.save_cvec.is_some() {
        return Err(Error::Input("control vectors cannot hold block 0".into()));
    }
    let mut ctx = a.model.context(&model)?;
    outln!(
        "model: {} ({} blocks x {})",
        model.description(),
        n_layer,
        model.n_embd()
    );
    outln!(
        "vector: h(positive) - h(negative) at layers {layers:?}, strength {}",
        a.strength
    );
    outln!("  positive: {}", a.positive);
    outln!("  negative: {}", a.negative);
    let steering =
        contrast_steering(&mut ctx, &a.positive, &a.negative, &layers, true)?.scaled(a.strength);
    let prompt = prompt_tokens(&model, &a.prompt, true)?;
    let params = GenerateParams {
        max_tokens: a.max_tokens,
        ..Default::default()
    };
    outln!("prompt: {}\n", a.prompt);
    steer::clear(&mut ctx);
    let plain = generate(&mut ctx, &prompt, &params, &mut |_| {})?;
    outln!("--- unsteered ---\n{}\n", plain.text.trim());
    for (label, sign) in [("toward positive", 1.0f32), ("toward negative", -1.0)] {
        let used = steer::apply(&mut ctx, &steering.scaled(sign), None)?;
        let steered = generate(&mut ctx, &prompt, &params, &mut |_| {})?;
        let same = plain
            .tokens
            .iter()
            .zip(&steered.tokens)
            .take_while(|(a, b)| a == b)
            .count();
        let how = match used {
            SteerPath::ControlVector => "llama.cpp control vector",
            SteerPath::Callback => "eval callback",
        };
        outln!(
            "--- steered {label} ({how}; first {same} tokens as unsteered) ---\n{}\n",
            steered.text.trim()
        );
    }
    if let Some(path) = a.save_cvec {
        let cv = control_vector_of(&steering, model.n_embd(), Some(model.arch()))?;
        write_control_vector(&cv, &path)?;
        outln!("saved control vector to {}", path.display());
    }
    Ok(())
}
