//! `expertsteer bench steer`: speed of steering paths measured side by side.
//!
//! For each model, the configurations run interleaved (round-robin) for
//! several rounds so drift hits all of them alike; the table gives median
//! tokens/s and the ratio to unsteered inference, for prompt processing and
//! for generation.

use super::options::ModelOpts;
use clap::Args;
use expertsteer::llama::{
    Batch, Context, ContextParams, Model, ModelParams, Sampler, SamplerParams, Token,
};
use expertsteer::steering::steer::{self, SteerPath, Steering};
use expertsteer::{models, Result};
use std::time::Instant;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Models (registry names or paths), comma separated.
    #[arg(long, default_value = "smollm2-135m-instruct,gemma3-270m")]
    pub models: String,
    /// Rounds per configuration (the median is reported); at least 1.
    #[arg(long, default_value_t = 5, value_parser = at_least_one())]
    pub rounds: usize,
    /// Prompt length in tokens.
    #[arg(long, default_value_t = 128)]
    pub prompt_tokens: usize,
    /// Generated tokens per round.
    #[arg(long, default_value_t = 64)]
    pub gen_tokens: usize,
    /// CPU threads (1 is the steadiest on a 2-core machine).
    #[arg(long, default_value_t = 1)]
    pub threads: i32,
    /// Blocks to offload to a GPU in cuda/metal builds (-1 = all).
    #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
    pub gpu_layers: i32,
}

#[derive(Clone, Copy, Debug)]
enum Config {
    Unsteered,
    CallbackOneLayer,
    CallbackAllLayers,
    ControlVectorAllLayers,
}

impl Config {
    const ALL: [Config; 4] = [
        Config::Unsteered,
        Config::CallbackOneLayer,
        Config::CallbackAllLayers,
        Config::ControlVectorAllLayers,
    ];

    fn label(self) -> &'static str {
        match self {
            Config::Unsteered => "unsteered (no hook)",
            Config::CallbackOneLayer => "callback, 1 layer",
            Config::CallbackAllLayers => "callback, all layers",
            Config::ControlVectorAllLayers => "control vector, layers 1..L-1",
        }
    }
}

pub fn run(a: BenchArgs) -> Result<()> {
    outln!(
        "threads {}, prompt {} tokens, {} generated tokens, {} rounds, median tokens/s",
        a.threads,
        a.prompt_tokens,
        a.gen_tokens,
        a.rounds
    );
    for name in a.models.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let opts = ModelOpts {
            model: name.to_string(),
            threads: Some(a.threads),
            ctx: None,
            gpu_layers: a.gpu_layers,
            rpc: Default::default(),
        };
        let path = models::resolve(&opts.model)?;
        let model = Model::load(
            &path,
            &ModelParams {
                gpu_layers: a.gpu_layers,
            },
        )?;
        bench_model(&model, &a)?;
    }
    Ok(())
}

fn bench_model(model: &Model, a: &BenchArgs) -> Result<()> {
    let n_ctx = (a.prompt_tokens + a.gen_tokens + 16) as u32;
    let p = |hook| ContextParams {
        n_ctx,
        n_batch: a.prompt_tokens as u32,
        n_ubatch: a.prompt_tokens as u32,
        n_seq_max: 1,
        threads: a.threads,
        hook,
    };
    let mut plain = Context::new(model, p(false))?;
    let mut hooked = Context::new(model, p(true))?;
    let n = model.n_embd();
    let small = |seed: usize| -> Vec<f32> {
        (0..n)
            .map(|i| (((i * 31 + seed * 17) % 97) as f32 / 97.0 - 0.5) * 0.01)
            .collect()
    };
    let mid = model.n_layer() / 2;
    let one = Steering {
        vectors: [(mid, small(mid))].into_iter().collect(),
        ..Default::default()
    };
    let all_cb = Steering {
        vectors: (0..model.n_layer()).map(|l| (l, small(l))).collect(),
        ..Default::default()
    };
    let all_cvec = Steering {
        vectors: (1..model.n_layer()).map(|l| (l, small(l))).collect(),
        ..Default::default()
    };
    let text = "The history of the river valley is long and full of surprises. ".repeat(64);
    let mut prompt: Vec<Token> = model.tokenize(&text, true, false)?;
    prompt.truncate(a.prompt_tokens);
    let mut pp: Vec<Vec<f64>> = vec![Vec::new(); Config::ALL.len()];
    let mut tg: Vec<Vec<f64>> = vec![Vec::new(); Config::ALL.len()];
    for _round in 0..a.rounds {
        for (k, c) in Config::ALL.iter().enumerate() {
            let ctx = match c {
                Config::Unsteered => &mut plain,
                _ => &mut hooked,
            };
            match c {
                Config::Unsteered => {}
                Config::CallbackOneLayer => {
                    steer::apply(ctx, &one, Some(SteerPath::Callback))?;
                }
                Config::CallbackAllLayers => {
                    steer::apply(ctx, &all_cb, Some(SteerPath::Callback))?;
                }
                Config::ControlVectorAllLayers => {
                    steer::apply(ctx, &all_cvec, Some(SteerPath::ControlVector))?;
                }
            }
            let (pps, tgs) = time_run(ctx, &prompt, a.gen_tokens)?;
            pp[k].push(pps);
            tg[k].push(tgs);
        }
    }
    outln!(
        "\n{} ({} blocks x {})",
        model.description(),
        model.n_layer(),
        n
    );
    let labels: Vec<&str> = Config::ALL.iter().map(|c| c.label()).collect();
    print_speed_table(&labels, &pp, &tg);
    Ok(())
}

/// The speed table: per configuration, median prompt and generation
/// tokens/s and their ratio to the first configuration (the baseline).
pub(super) fn print_speed_table(labels: &[&str], pp: &[Vec<f64>], tg: &[Vec<f64>]) {
    outln!("| configuration | prompt tok/s | ratio | generation tok/s | ratio |");
    outln!("|---|---|---|---|---|");
    let (pp0, tg0) = (median(&pp[0]), median(&tg[0]));
    for (k, label) in labels.iter().enumerate() {
        let (a_pp, a_tg) = (median(&pp[k]), median(&tg[k]));
        outln!(
            "| {label} | {a_pp:.1} | {:.3} | {a_tg:.1} | {:.3} |",
            a_pp / pp0,
            a_tg / tg0
        );
    }
}

/// One prompt decode and `gen` greedy steps (EOG ignored); tokens/s of each.
fn time_run(ctx: &mut Context<'_>, prompt: &[Token], gen: usize) -> Result<(f64, f64)> {
    ctx.clear_memory();
    let mut batch = Batch::new(prompt.len(), 1);
    batch.push_sequence(prompt, 0, 0, true)?;
    let t0 = Instant::now();
    ctx.decode(&batch)?;
    let pp = prompt.len() as f64 / t0.elapsed().as_secs_f64();
    let mut sampler = Sampler::new(&SamplerParams::default());
    let mut idx = prompt.len() - 1;
    let t1 = Instant::now();
    for k in 0..gen {
        let t = sampler.sample(ctx, idx)?;
        batch.clear();
        batch.push(t, prompt.len() + k, &[0], true)?;
        ctx.decode(&batch)?;
        idx = 0;
    }
    let tg = gen as f64 / t1.elapsed().as_secs_f64();
    Ok((pp, tg))
}

/// A flag parser for counts that must be at least 1 (`--rounds`): clap
/// then names the flag and the allowed range in its error.
pub(super) fn at_least_one() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
}

/// Median (mean of the middle two for even counts); NaN for no values, so
/// a caller that forgot to refuse zero rounds prints NaN instead of panicking.
/// The median over rounds of `a[k] / b[k]` (ratios taken within a round).
pub(super) fn median_ratio(a: &[f64], b: &[f64]) -> f64 {
    median(&a.iter().zip(b).map(|(x, y)| x / y).collect::<Vec<_>>())
}

pub(super) fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}
