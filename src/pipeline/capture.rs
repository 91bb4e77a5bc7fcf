//! Capturing hidden states (METHOD.md "hidden state of a prompt"): the row
//! of `l_out-i` for each text's last token, at chosen layers, many texts
//! per decode.

use crate::atomic_file::{write_atomic, write_atomic_with};
use crate::generate::prompt_tokens;
use crate::llama::{Batch, CaptureRows, Context, HookPlan, LlamaError, Model, Result};
use crate::npy;
use std::path::{Path, PathBuf};

/// Hidden states of many texts: `data[text][layer][n_embd]`, C order.
#[derive(Debug, Clone)]
pub struct Captured {
    /// The captured layers (0-based blocks, `l_out-N`), in `data`'s order.
    pub layers: Vec<usize>,
    /// Floats per state (the model's hidden size).
    pub n_embd: usize,
    /// Number of texts (rows of the outer dimension).
    pub n_texts: usize,
    /// `[n_texts][layers.len()][n_embd]` floats, C order.
    pub data: Vec<f32>,
}

impl Captured {
    /// The state of text `t` at the `k`-th captured layer.
    pub fn row(&self, t: usize, k: usize) -> &[f32] {
        let off = (t * self.layers.len() + k) * self.n_embd;
        &self.data[off..off + self.n_embd]
    }

    /// Writes the states as `out` (.npy, float32, shape
    /// `[n_texts, n_layers, n_embd]`; in Python `numpy.load(out)`) and a
    /// side-car `out.json` naming the model, layers, pooling and shape. Both
    /// are written atomically; returns the side-car's path.
    pub fn write_npy(&self, out: &Path, model: &Model, pooling: Pooling) -> crate::Result<PathBuf> {
        let shape = [self.n_texts, self.layers.len(), self.n_embd];
        write_atomic_with(out, |w| {
            npy::write_f32(w, &shape, &self.data).map_err(|e| crate::Error::io(out, e))
        })?;
        write_sidecar(
            out,
            &SidecarInfo {
                model_file: &model.path().display().to_string(),
                arch: model.arch(),
                n_layer: model.n_layer(),
                n_embd: self.n_embd,
                layers: &self.layers,
                n_texts: self.n_texts,
                pooling,
            },
        )
    }
}

/// What the side-car `OUT.json` of a capture says.
pub(crate) struct SidecarInfo<'a> {
    pub(crate) model_file: &'a str,
    pub(crate) arch: &'a str,
    pub(crate) n_layer: usize,
    pub(crate) n_embd: usize,
    pub(crate) layers: &'a [usize],
    pub(crate) n_texts: usize,
    pub(crate) pooling: Pooling,
}

/// Writes `out.json` next to a capture's `.npy`, atomically; returns its path.
pub(crate) fn write_sidecar(out: &Path, s: &SidecarInfo<'_>) -> crate::Result<PathBuf> {
    let meta = serde_json::json!({
        "model": s.model_file,
        "architecture": s.arch,
        "n_layer": s.n_layer,
        "n_embd": s.n_embd,
        "layers": s.layers,
        "n_texts": s.n_texts,
        "pooling": match s.pooling {
            Pooling::Last => "last",
            Pooling::Mean => "mean",
        },
        "shape": [s.n_texts, s.layers.len(), s.n_embd],
    });
    let side = PathBuf::from(format!("{}.json", out.display()));
    write_atomic(
        &side,
        serde_json::to_string_pretty(&meta)
            .expect("json")
            .as_bytes(),
    )?;
    Ok(side)
}

/// How a text's token states become one vector per layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Pooling {
    /// The last token's row (METHOD.md's default).
    #[default]
    Last,
    /// The mean over the text's tokens.
    Mean,
}

/// Tokens of the longest text as it will be decoded: each text must fit in
/// one decode, so a capture context needs at least this many tokens of
/// batch (long MMLU medical passages run to ~1,000 tokens).
pub fn longest_text_tokens(model: &Model, texts: &[String], chat: bool) -> Result<usize> {
    texts
        .iter()
        .try_fold(0, |m, t| Ok(m.max(prompt_tokens(model, t, chat)?.len())))
}

/// Captures the last-token state of every text at `layers` (see
/// [`capture_states`]).
pub fn capture_last_token(
    ctx: &mut Context<'_>,
    texts: &[String],
    layers: &[usize],
    chat: bool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Captured> {
    capture_states(ctx, texts, layers, Pooling::Last, chat, progress)
}

/// Captures one pooled state per text at `layers`, packing as many texts
/// into one decode as the context allows (`n_seq_max` sequences,
/// `n_ubatch` tokens). `progress(done, total)` is called after each decode.
/// A control vector set on the context applies; the hook plan is replaced.
pub fn capture_states(
    ctx: &mut Context<'_>,
    texts: &[String],
    layers: &[usize],
    pooling: Pooling,
    chat: bool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Captured> {
    let model = ctx.model();
    let n_embd = model.n_embd();
    let cap = (ctx.params().n_ubatch.min(ctx.params().n_batch)) as usize;
    let max_seqs = ctx.params().n_seq_max.max(1) as usize;
    ctx.set_hook_plan(&HookPlan {
        capture: layers.to_vec(),
        capture_rows: match pooling {
            Pooling::Last => CaptureRows::LastOfEachSeq,
            Pooling::Mean => CaptureRows::All,
        },
        ..Default::default()
    })?;
    let tokenized: Vec<_> = texts
        .iter()
        .map(|t| prompt_tokens(model, t, chat))
        .collect::<Result<_>>()?;
    if let Some((i, t)) = tokenized.iter().enumerate().find(|(_, t)| t.len() > cap) {
        return Err(LlamaError::Invalid(format!(
            "text {} has {} tokens, more than one batch ({cap}); raise the batch size",
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
            let every = pooling == Pooling::Mean;
            for (k, &t) in tokenized[next].iter().enumerate() {
                let last = k + 1 == tokenized[next].len();
                batch.push(t, k, &[(next - first) as i32], every || last)?;
            }
            next += 1;
        }
        ctx.clear_memory();
        ctx.decode(&batch)?;
        let caps = ctx.take_captures();
        let lens: Vec<usize> = tokenized[first..next].iter().map(|t| t.len()).collect();
        let want_rows = match pooling {
            Pooling::Last => lens.len(),
            Pooling::Mean => lens.iter().sum(),
        };
        for (k, &l) in layers.iter().enumerate() {
            let rows = &caps[l];
            if rows.len() != want_rows * n_embd {
                return Err(LlamaError::Hook(format!(
                    "layer {l}: captured {} rows, expected {want_rows}",
                    rows.len() / n_embd
                )));
            }
            let mut row_start = 0;
            for (s, &len) in lens.iter().enumerate() {
                let off = ((first + s) * layers.len() + k) * n_embd;
                let out = &mut data[off..off + n_embd];
                match pooling {
                    Pooling::Last => out.copy_from_slice(&rows[s * n_embd..(s + 1) * n_embd]),
                    Pooling::Mean => {
                        let seq_rows = &rows[row_start * n_embd..(row_start + len) * n_embd];
                        for r in seq_rows.chunks_exact(n_embd) {
                            out.iter_mut().zip(r).for_each(|(o, x)| *o += x);
                        }
                        out.iter_mut().for_each(|o| *o /= len as f32);
                        row_start += len;
                    }
                }
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
