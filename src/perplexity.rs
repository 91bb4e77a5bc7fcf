//! How likely a model finds a text: the log-probability of a token under a
//! logits row, and the perplexity of a continuation after a prompt. The
//! demo and the evaluation harness judge steered text by it (under the
//! *unsteered* model, so a strength that wrecks fluency shows as a number).

use crate::llama::{Batch, Context, LlamaError, Result, Token};

/// log p(token) under a logits row (log-softmax in f64).
pub fn log_prob(logits: &[f32], token: Token) -> f64 {
    let max = logits.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
    let sum: f64 = logits.iter().map(|&x| (x as f64 - max).exp()).sum();
    logits[token as usize] as f64 - max - sum.ln()
}

/// exp(−mean log p) of `cont` after `prompt`, on an unsteered context.
pub fn perplexity(ctx: &mut Context<'_>, prompt: &[Token], cont: &[Token]) -> Result<f64> {
    if cont.is_empty() {
        return Ok(f64::NAN);
    }
    let all: Vec<Token> = prompt.iter().chain(cont).copied().collect();
    if all.len() > ctx.params().n_batch as usize {
        return Err(LlamaError::Invalid(
            "prompt + continuation exceed one batch".into(),
        ));
    }
    ctx.clear_memory();
    let mut batch = Batch::new(all.len(), 1);
    for (i, &t) in all.iter().enumerate() {
        batch.push(t, i, &[0], i + 1 >= prompt.len() && i + 1 < all.len())?;
    }
    ctx.decode(&batch)?;
    let mut sum = 0.0;
    for (k, &t) in cont.iter().enumerate() {
        sum += log_prob(ctx.logits(prompt.len() + k - 1)?, t);
    }
    ctx.clear_memory();
    Ok((-sum / cont.len() as f64).exp())
}
