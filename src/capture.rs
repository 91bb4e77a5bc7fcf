//! Capturing hidden states (METHOD.md "hidden state of a prompt"): the row
//! of `l_out-i` for each text's last token, at chosen layers, many texts
//! per decode.

use crate::generate::prompt_tokens;
use crate::llama::{Batch, CaptureRows, Context, HookPlan, LlamaError, Result};

/// Hidden states of many texts: `data[text][layer][n_embd]`, C order.
#[derive(Debug, Clone)]
pub struct Captured {
    pub layers: Vec<usize>,
    pub n_embd: usize,
    pub n_texts: usize,
    pub data: Vec<f32>,
}

impl Captured {
    /// The state of text `t` at the `k`-th captured layer.
    pub fn row(&self, t: usize, k: usize) -> &[f32] {
        let off = (t * self.layers.len() + k) * self.n_embd;
        &self.data[off..off + self.n_embd]
    }
}

/// Captures the last-token state of every text at `layers`, packing as
/// many texts into one decode as the context allows (`n_seq_max`
/// sequences, `n_ubatch` tokens). `progress(done, total)` is called after
/// each decode. The context's steering (if any) applies.
pub fn capture_last_token(
    ctx: &mut Context<'_>,
    texts: &[String],
    layers: &[usize],
    chat: bool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Captured> {
    let model = ctx.model();
    let n_embd = model.n_embd();
    let cap = (ctx.params().n_ubatch.min(ctx.params().n_batch)) as usize;
    let max_seqs = ctx.params().n_seq_max.max(1) as usize;
    ctx.set_hook_plan(&HookPlan {
        capture: layers.to_vec(),
        capture_rows: CaptureRows::LastOfEachSeq,
        ..Default::default()
    })?;
    let tokenized: Vec<_> = texts
        .iter()
        .map(|t| prompt_tokens(model, t, chat))
        .collect::<Result<_>>()?;
    if let Some((i, t)) = tokenized.iter().enumerate().find(|(_, t)| t.len() > cap) {
        return Err(LlamaError::Invalid(format!(
            "text {} has {} tokens, more than one batch ({cap}); raise --batch",
            i + 1,
            t.len()
        )));
    }
    let mut data = vec![0f32; texts.len() * layers.len() * n_embd];
    let mut batch = Batch::new(cap, 1);
    let mut next = 0;
    while next < tokenized.len() {
        batch.clear();
        let first = next;
        while next < tokenized.len()
            && next - first < max_seqs
            && batch.len() + tokenized[next].len() <= cap
        {
            if tokenized[next].is_empty() {
                return Err(LlamaError::Invalid(format!("text {} is empty", next + 1)));
            }
            batch.push_sequence(&tokenized[next], 0, (next - first) as i32, true)?;
            next += 1;
        }
        ctx.clear_memory();
        ctx.decode(&batch)?;
        let caps = ctx.take_captures();
        for (k, &l) in layers.iter().enumerate() {
            let rows = &caps[l];
            if rows.len() != (next - first) * n_embd {
                return Err(LlamaError::Hook(format!(
                    "layer {l}: captured {} rows for {} texts",
                    rows.len() / n_embd,
                    next - first
                )));
            }
            for (s, row) in rows.chunks_exact(n_embd).enumerate() {
                let off = ((first + s) * layers.len() + k) * n_embd;
                data[off..off + n_embd].copy_from_slice(row);
            }
        }
        progress(next, tokenized.len());
    }
    ctx.clear_memory();
    ctx.clear_hook_plan();
    Ok(Captured {
        layers: layers.to_vec(),
        n_embd,
        n_texts: texts.len(),
        data,
    })
}

/// Whether the model's graph names `l_out-N` for every block, found by
/// running one token with a capture of all layers.
pub fn supports_layer_steering(model: &crate::llama::Model) -> Result<bool> {
    let mut ctx = Context::new(
        model,
        crate::llama::ContextParams {
            n_ctx: 64,
            n_batch: 8,
            n_ubatch: 8,
            n_seq_max: 1,
            threads: 1,
            hook: true,
        },
    )?;
    ctx.set_hook_plan(&HookPlan {
        capture: (0..model.n_layer()).collect(),
        capture_rows: CaptureRows::All,
        ..Default::default()
    })?;
    let tokens = model.tokenize("a", true, false)?;
    let mut batch = Batch::new(tokens.len().max(1), 1);
    batch.push_sequence(&tokens, 0, 0, true)?;
    match ctx.decode(&batch) {
        Ok(()) => Ok(true),
        Err(LlamaError::NoLayerOutput { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}
