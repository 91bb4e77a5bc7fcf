//! `expertsteer demo`: the README's main job. Flags → [`expertsteer::demo`].

use super::options::ModelOpts;
use clap::Args;
use expertsteer::demo::{model_name, steered_samples, PROMPTS, SENTIMENT_PAIRS};
use expertsteer::layer_list::parse_layers;
use expertsteer::steering::contrast::Contrast;
use expertsteer::steering::steer::SteerPath;
use expertsteer::steering::steering_io::{control_vector_of, write_control_vector};
use expertsteer::{Context, Error, Result};
use expertsteer_core::dataset::parse_dataset;
use expertsteer_eval::data::LabelledText;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args, Debug)]
pub struct DemoArgs {
    #[command(flatten)]
    pub model: ModelOpts,
    /// Contrast pairs the direction is built from (JSON Lines with
    /// "positive" and "negative"); default: the shipped sentiment set
    /// (data/concepts/sentiment.jsonl).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// How many of the pairs to use (the first N).
    #[arg(long, default_value_t = 32)]
    pub pairs: usize,
    /// A prompt to continue (repeatable; default: three open prompts).
    #[arg(long = "prompt")]
    pub prompts: Vec<String>,
    /// Layers that receive the vector (default: a band in the middle).
    #[arg(long)]
    pub layers: Option<String>,
    /// Multiplier of the mean-difference vector (the demo also runs its
    /// negative). Much higher and the text breaks: watch the perplexity.
    #[arg(long, default_value_t = 4.0, allow_hyphen_values = true)]
    pub strength: f32,
    /// Most new tokens per sample.
    #[arg(long, short = 'n', default_value_t = 40)]
    pub max_tokens: usize,
    /// Also save the vector (times --strength) as a llama.cpp
    /// control-vector GGUF here (usable with `llama-cli --control-vector FILE`).
    #[arg(long)]
    pub save_cvec: Option<PathBuf>,
}

/// The first `n` (positive, negative) pairs of a pairs file.
fn contrast_texts(a: &DemoArgs) -> Result<(Vec<String>, Vec<String>, String)> {
    let (body, name) = match &a.data {
        Some(p) => (
            std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?,
            p.display().to_string(),
        ),
        None => (
            SENTIMENT_PAIRS.to_string(),
            "data/concepts/sentiment.jsonl".to_string(),
        ),
    };
    let items: Vec<LabelledText> = parse_dataset(&body, &name)?;
    let mut groups: Vec<&str> = Vec::new();
    for t in &items {
        if !groups.contains(&t.group.as_str()) {
            groups.push(&t.group);
        }
    }
    groups.truncate(a.pairs);
    let pick = |label: u8| -> Vec<String> {
        items
            .iter()
            .filter(|t| t.label == label && groups.contains(&t.group.as_str()))
            .map(|t| t.text.clone())
            .collect()
    };
    let (pos, neg) = (pick(1), pick(0));
    if a.pairs == 0 || pos.is_empty() || neg.is_empty() {
        return Err(Error::Input(format!(
            "{name}: no contrast pairs to build a direction from (--pairs {})",
            a.pairs
        )));
    }
    Ok((pos, neg, name))
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
    let (pos, neg, source) = contrast_texts(&a)?;
    let prompts: Vec<String> = if a.prompts.is_empty() {
        PROMPTS.iter().map(|p| p.to_string()).collect()
    } else {
        a.prompts.clone()
    };
    // Several contrast texts per decode while the direction is built.
    let mut params = a.model.context_params(&model)?;
    params.n_seq_max = 16;
    let mut ctx = Context::new(&model, params)?;
    outln!(
        "model: {} (\"{}\" in the GGUF; {}, {} blocks x {}, {:.0} MB)",
        a.model.model,
        model_name(&model),
        model.arch(),
        n_layer,
        model.n_embd(),
        model.size_bytes() as f64 / 1e6
    );
    let t = Instant::now();
    let contrast = Contrast::measure(&mut ctx, &pos, &neg, &layers, true)?;
    let steering = contrast.steering();
    outln!(
        "direction: mean h(positive) - mean h(negative) of {} pairs of {source}, layers \
         {layers:?} ({:.1} s); strength ±{}",
        pos.len().min(neg.len()),
        t.elapsed().as_secs_f64(),
        a.strength
    );
    outln!(
        "each sample, as the unsteered model reads it: ppl = perplexity (lower reads more like \
         its own text; steering too hard breaks the text and ppl climbs), axis = place between \
         the average negative (-1) and positive (+1) example\n"
    );
    let results = steered_samples(&mut ctx, &contrast, &prompts, a.strength, a.max_tokens)?;
    let mut totals = [(0.0f64, 0.0f64); 3];
    for r in &results {
        outln!("prompt: {}", r.prompt);
        for (k, s) in r.samples.iter().enumerate() {
            let how = match s.path {
                None => String::new(),
                Some(SteerPath::ControlVector) => {
                    format!(
                        ", control vector; first {} tokens as unsteered",
                        s.same_prefix
                    )
                }
                Some(SteerPath::Callback) => {
                    format!(
                        ", eval callback; first {} tokens as unsteered",
                        s.same_prefix
                    )
                }
            };
            outln!(
                "  --- {} (ppl {:.1}, axis {:+.2}{how}) ---\n  {}\n",
                s.label,
                s.perplexity,
                s.score,
                s.text.trim().replace('\n', "\n  ")
            );
            totals[k].0 += s.perplexity.ln();
            totals[k].1 += s.score;
        }
    }
    outln!("over {} prompts:", results.len());
    for (k, s) in results[0].samples.iter().enumerate() {
        let (ln_ppl, score) = totals[k];
        let n = results.len() as f64;
        outln!(
            "  {:<16} geometric-mean ppl {:>5.1}, mean axis {:+.2}",
            s.label,
            (ln_ppl / n).exp(),
            score / n
        );
    }
    if let Some(path) = a.save_cvec {
        let cv = control_vector_of(
            &steering.scaled(a.strength),
            model.n_embd(),
            Some(model.arch()),
        )?;
        write_control_vector(&cv, &path)?;
        outln!("saved control vector to {}", path.display());
    }
    Ok(())
}
