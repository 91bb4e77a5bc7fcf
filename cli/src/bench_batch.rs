//! `expertsteer bench batch`: batched decoding of several sequences, each
//! steered differently through the per-sequence hook, against the same
//! batch unsteered — measured side by side, interleaved round by round.

use super::bench::print_speed_table;
use clap::Args;
use expertsteer::llama::{Batch, Context, ContextParams, Model, ModelParams, Positions, Token};
use expertsteer::steering::steer::{self, SteerPath, Steering};
use expertsteer::{models, Result};
use std::collections::BTreeMap;
use std::time::Instant;

#[derive(Args, Debug)]
pub struct BenchBatchArgs {
    /// Model (registry name or path).
    #[arg(long, default_value = models::DEFAULT_MODEL)]
    pub model: String,
    /// Sequences decoded together in one batch.
    #[arg(long, default_value_t = 4)]
    pub sequences: usize,
    /// Steered layers per sequence (spread over the model's blocks).
    #[arg(long, default_value_t = 4)]
    pub layers: usize,
    /// Rounds per configuration (the median is reported).
    #[arg(long, default_value_t = 7)]
    pub rounds: usize,
    /// Prompt tokens per sequence.
    #[arg(long, default_value_t = 32)]
    pub prompt_tokens: usize,
    /// Generated tokens per sequence and round.
    #[arg(long, default_value_t = 64)]
    pub gen_tokens: usize,
    /// CPU threads (1 is the steadiest on a 2-core machine).
    #[arg(long, default_value_t = 1)]
    pub threads: i32,
}

#[derive(Clone, Copy)]
enum Config {
    Unsteered,
    HookIdle,
    PerSequence,
    SharedCallback,
    SharedControlVector,
}

impl Config {
    const ALL: [Config; 5] = [
        Config::Unsteered,
        Config::HookIdle,
        Config::PerSequence,
        Config::SharedCallback,
        Config::SharedControlVector,
    ];

    fn label(self) -> &'static str {
        match self {
            Config::Unsteered => "unsteered (no hook)",
            Config::HookIdle => "hook installed, nothing steered",
            Config::PerSequence => "per-sequence: a different vector set per sequence",
            Config::SharedCallback => "one vector set for all, callback",
            Config::SharedControlVector => "one vector set for all, control vector",
        }
    }
}

pub fn run(a: BenchBatchArgs) -> Result<()> {
    if a.rounds == 0 || a.sequences == 0 || a.gen_tokens == 0 || a.prompt_tokens == 0 {
        return Err(expertsteer::Error::Input(
            "--rounds, --sequences, --prompt-tokens and --gen-tokens must be at least 1".into(),
        ));
    }
    let path = models::resolve(&a.model)?;
    let model = Model::load(&path, &ModelParams::default())?;
    let n_seq = a.sequences;
    let n_ctx = (n_seq * (a.prompt_tokens + a.gen_tokens) + 16) as u32;
    let p = |hook| ContextParams {
        n_ctx,
        n_batch: (n_seq * a.prompt_tokens) as u32,
        n_ubatch: (n_seq * a.prompt_tokens) as u32,
        n_seq_max: n_seq as u32,
        threads: a.threads,
        hook,
    };
    let mut plain = Context::new(&model, p(false))?;
    let mut hooked = Context::new(&model, p(true))?;
    let layers: Vec<usize> = (1..=a.layers.min(model.n_layer() - 1))
        .map(|k| k * (model.n_layer() - 1) / a.layers.min(model.n_layer() - 1).max(1))
        .collect();
    let vectors = |seed: usize| -> BTreeMap<usize, Vec<f32>> {
        layers
            .iter()
            .map(|&l| {
                let v = (0..model.n_embd())
                    .map(|i| (((i * 31 + seed * 17 + l) % 97) as f32 / 97.0 - 0.5) * 0.01)
                    .collect();
                (l, v)
            })
            .collect()
    };
    let text = "The history of the river valley is long and full of surprises. ".repeat(16);
    let prompts: Vec<Vec<Token>> = (0..n_seq)
        .map(|s| {
            let mut t = model.tokenize(&format!("{s}. {text}"), true, false)?;
            t.truncate(a.prompt_tokens);
            Ok(t)
        })
        .collect::<Result<_>>()?;

    outln!(
        "{}: {} sequences per batch, {} steered layers {:?}, {} prompt + {} generated tokens each, threads {}, {} rounds, median tokens/s",
        model.description(), n_seq, layers.len(), layers, a.prompt_tokens, a.gen_tokens, a.threads, a.rounds
    );
    let mut pp: Vec<Vec<f64>> = vec![Vec::new(); Config::ALL.len()];
    let mut tg: Vec<Vec<f64>> = vec![Vec::new(); Config::ALL.len()];
    for _round in 0..a.rounds {
        for (k, c) in Config::ALL.iter().enumerate() {
            let ctx = match c {
                Config::Unsteered => &mut plain,
                _ => &mut hooked,
            };
            steer::clear(ctx);
            match c {
                Config::Unsteered | Config::HookIdle => {}
                Config::PerSequence => {
                    for s in 0..n_seq {
                        ctx.set_seq_steering(s as i32, &vectors(s + 1), Positions::All)?;
                    }
                }
                Config::SharedCallback | Config::SharedControlVector => {
                    let path = match c {
                        Config::SharedCallback => SteerPath::Callback,
                        _ => SteerPath::ControlVector,
                    };
                    let shared = Steering {
                        vectors: vectors(1),
                        ..Default::default()
                    };
                    steer::apply(ctx, &shared, Some(path))?;
                }
            }
            let (pps, tgs) = time_batched(ctx, &prompts, a.gen_tokens)?;
            pp[k].push(pps);
            tg[k].push(tgs);
        }
    }
    let labels: Vec<&str> = Config::ALL.iter().map(|c| c.label()).collect();
    print_speed_table(&labels, &pp, &tg);
    Ok(())
}

/// All prompts in one batch, then `gen` lockstep steps of one token per
/// sequence (greedy by argmax, end-of-generation ignored). Aggregate
/// tokens/s of the prompt decode and of the generation steps.
fn time_batched(ctx: &mut Context<'_>, prompts: &[Vec<Token>], gen: usize) -> Result<(f64, f64)> {
    ctx.clear_memory();
    let total: usize = prompts.iter().map(Vec::len).sum();
    let mut batch = Batch::new(total.max(prompts.len()), 1);
    let mut last = Vec::new();
    for (s, p) in prompts.iter().enumerate() {
        batch.push_sequence(p, 0, s as i32, true)?;
        last.push(batch.len() - 1);
    }
    let t0 = Instant::now();
    ctx.decode(&batch)?;
    let pp = total as f64 / t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    for k in 0..gen {
        let next: Vec<Token> = last
            .iter()
            .map(|&i| ctx.logits(i).map(argmax))
            .collect::<std::result::Result<_, _>>()?;
        batch.clear();
        for (s, (&t, p)) in next.iter().zip(prompts).enumerate() {
            batch.push(t, p.len() + k, &[s as i32], true)?;
        }
        ctx.decode(&batch)?;
        last = (0..prompts.len()).collect();
    }
    let tg = (gen * prompts.len()) as f64 / t1.elapsed().as_secs_f64();
    Ok((pp, tg))
}

fn argmax(v: &[f32]) -> Token {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best as Token
}
