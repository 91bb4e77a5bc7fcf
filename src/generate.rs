//! Text generation with optional steering, streaming tokens as they come.

use crate::llama::{Batch, Context, LlamaError, Model, Result, Sampler, SamplerParams, Token};

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateParams {
    /// Most new tokens.
    pub max_tokens: usize,
    /// Temperature, top-k/top-p and seed (temperature 0 = greedy).
    pub sampler: SamplerParams,
}

impl Default for GenerateParams {
    fn default() -> Self {
        GenerateParams {
            max_tokens: 64,
            sampler: SamplerParams::default(),
        }
    }
}

/// A finished generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// The generated tokens, without the prompt.
    pub tokens: Vec<Token>,
    /// Their text.
    pub text: String,
}

/// Tokens for `prompt`: wrapped in the model's chat template as a user turn
/// when `chat` is set, else plain text with the model's BOS.
pub fn prompt_tokens(model: &Model, prompt: &str, chat: bool) -> Result<Vec<Token>> {
    if chat {
        let text = model.apply_chat_template(&[("user", prompt)], true)?;
        model.tokenize(&text, true, true)
    } else {
        model.tokenize(prompt, true, false)
    }
}

/// Generates after `prompt` on a fresh sequence 0 of `ctx`. Steering
/// installed on `ctx` applies; with generated-only positions, the prompt is
/// decoded unsteered and steering switches on for the generated tokens.
/// `on_text` receives each complete UTF-8 piece as it is produced.
pub fn generate(
    ctx: &mut Context<'_>,
    prompt: &[Token],
    params: &GenerateParams,
    on_text: &mut dyn FnMut(&str),
) -> Result<Generation> {
    generate_until(ctx, prompt, params, &mut |piece| {
        on_text(piece);
        true
    })
}

/// [`generate`], stopping as soon as `on_text` returns false (the piece it
/// was given is kept): stop sequences are checked there, so no token is
/// decoded after one appears.
pub fn generate_until(
    ctx: &mut Context<'_>,
    prompt: &[Token],
    params: &GenerateParams,
    on_text: &mut dyn FnMut(&str) -> bool,
) -> Result<Generation> {
    let model = ctx.model();
    if prompt.is_empty() {
        return Err(LlamaError::Invalid("empty prompt".into()));
    }
    let n_ctx = ctx.params().n_ctx as usize;
    if prompt.len() + params.max_tokens > n_ctx {
        return Err(LlamaError::Invalid(format!(
            "prompt ({} tokens) + max tokens ({}) exceed the context ({n_ctx})",
            prompt.len(),
            params.max_tokens
        )));
    }
    ctx.clear_memory();
    ctx.set_generation_phase(false);
    let n_batch = ctx.params().n_batch as usize;
    let mut batch = Batch::new(n_batch.max(1), 1);
    for (c, chunk) in prompt.chunks(n_batch).enumerate() {
        batch.clear();
        let last_chunk = (c + 1) * n_batch >= prompt.len();
        batch.push_sequence(chunk, c * n_batch, 0, last_chunk)?;
        ctx.decode(&batch)?;
    }
    let mut sampler = Sampler::new(&params.sampler);
    let mut out = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut text = String::new();
    let mut idx = batch.len() - 1;
    ctx.set_generation_phase(true);
    for k in 0..params.max_tokens {
        // NaN logits (hidden states that overflowed, e.g. under a huge
        // steering vector) would make every sample meaningless: say so
        // instead of returning empty or arbitrary text.
        if ctx.logits(idx)?.iter().any(|x| x.is_nan()) {
            return Err(LlamaError::Decode(format!(
                "the model produced NaN logits at generated token {k}: its hidden states \
                 overflowed (is the steering too strong?)"
            )));
        }
        let t = sampler.sample(ctx, idx)?;
        if model.is_eog(t) {
            break;
        }
        out.push(t);
        pending.extend(model.token_bytes(t));
        let go_on = flush_utf8(&mut pending, &mut text, on_text);
        if !go_on || k + 1 == params.max_tokens {
            break;
        }
        batch.clear();
        batch.push(t, prompt.len() + k, &[0], true)?;
        ctx.decode(&batch)?;
        idx = 0;
    }
    if !pending.is_empty() {
        let rest = String::from_utf8_lossy(&pending).into_owned();
        on_text(&rest);
        text.push_str(&rest);
    }
    ctx.set_generation_phase(false);
    Ok(Generation { tokens: out, text })
}

/// Moves the longest valid UTF-8 prefix of `pending` into `text`; returns
/// what `on_text` said (true when there was nothing to pass on).
pub(crate) fn flush_utf8(
    pending: &mut Vec<u8>,
    text: &mut String,
    on_text: &mut dyn FnMut(&str) -> bool,
) -> bool {
    let valid = match std::str::from_utf8(pending) {
        Ok(s) => s.len(),
        Err(e) if e.error_len().is_some() => pending.len(),
        Err(e) => e.valid_up_to(),
    };
    if valid == 0 {
        return true;
    }
    let piece = String::from_utf8_lossy(&pending[..valid]).into_owned();
    let go_on = on_text(&piece);
    text.push_str(&piece);
    pending.drain(..valid);
    go_on
}

#[cfg(test)]
mod tests {
    use super::flush_utf8;

    #[test]
    fn split_utf8_characters_wait_for_their_last_byte() {
        let mut pending = vec![b'a', 0xC3];
        let mut text = String::new();
        let mut seen = Vec::new();
        let mut record = |s: &str| {
            seen.push(s.to_string());
            true
        };
        assert!(flush_utf8(&mut pending, &mut text, &mut record));
        assert_eq!(text, "a");
        pending.push(0xA9);
        assert!(flush_utf8(&mut pending, &mut text, &mut record));
        assert_eq!(text, "aé");
        assert_eq!(seen, vec!["a", "é"]);
    }

    #[test]
    fn a_false_from_the_callback_is_passed_back() {
        let mut pending = b"def".to_vec();
        let mut text = String::new();
        assert!(!flush_utf8(&mut pending, &mut text, &mut |_| false));
        assert_eq!(text, "def", "the piece that stopped it is kept");
    }
}
