//! The generation check: steered and unsteered continuations side by side,
//! with the perplexity of each under the *unsteered* target, so a strength
//! that wrecks fluency shows up as a number, not just as odd text.

use expertsteer::generate::{generate, prompt_tokens, GenerateParams};
use expertsteer::llama::{Context, ContextParams, Model, Result};
use expertsteer::steering::steer::{self, Steering};

/// One prompt's two continuations.
#[derive(Debug, Clone)]
pub struct FluencyRow {
    /// The prompt both continuations follow.
    pub prompt: String,
    /// The unsteered continuation.
    pub plain: String,
    /// The steered continuation.
    pub steered: String,
    /// Perplexity under the unsteered target.
    pub plain_ppl: f64,
    /// Perplexity of the steered continuation under the unsteered target.
    pub steered_ppl: f64,
}

pub use expertsteer::perplexity::perplexity;

/// Greedy continuations of each prompt (chat template), plain and steered.
pub fn fluency_check(
    model: &Model,
    steering: &Steering,
    prompts: &[String],
    max_tokens: usize,
    threads: i32,
) -> Result<Vec<FluencyRow>> {
    let (mut gen_ctx, mut judge) = generator_and_judge(model, threads)?;
    let gp = GenerateParams {
        max_tokens,
        ..Default::default()
    };
    let mut rows = Vec::new();
    for p in prompts {
        let toks = prompt_tokens(model, p, true)?;
        steer::clear(&mut gen_ctx);
        let plain = generate(&mut gen_ctx, &toks, &gp, &mut |_| {})?;
        steer::apply(&mut gen_ctx, steering, None)?;
        let steered = generate(&mut gen_ctx, &toks, &gp, &mut |_| {})?;
        rows.push(FluencyRow {
            prompt: p.clone(),
            plain_ppl: perplexity(&mut judge, &toks, &plain.tokens)?,
            steered_ppl: perplexity(&mut judge, &toks, &steered.tokens)?,
            plain: plain.text,
            steered: steered.text,
        });
    }
    steer::clear(&mut gen_ctx);
    Ok(rows)
}

/// Two contexts over `model`: one to generate in (hook installed, for
/// steering) and one that judges text by its perplexity unsteered.
pub fn generator_and_judge(model: &Model, threads: i32) -> Result<(Context<'_>, Context<'_>)> {
    let params = ContextParams {
        n_ctx: 1024,
        n_batch: 1024,
        n_ubatch: 512,
        n_seq_max: 1,
        threads,
        hook: true,
    };
    let gen_ctx = Context::new(model, params.clone())?;
    let judge = Context::new(
        model,
        ContextParams {
            hook: false,
            ..params
        },
    )?;
    Ok((gen_ctx, judge))
}
