//! Capture at scale (pipeline step 0): hidden states of every text at every
//! requested layer, streamed to disk in chunks and cached.
//!
//! The cache key is the model's content hash, the layers, the pooling, the
//! chat flag, a hash of the texts and the decode packing (tokens and
//! sequences per decode: a different packing changes the floats slightly);
//! a re-run with the same key reuses the states, an interrupted run resumes
//! at the first missing chunk, and every chunk is written atomically (temp
//! file, then rename). Memory holds one chunk of states while capturing and
//! one layer while reading. `fit` and `capture` both capture through here,
//! so both resume, and a resumed run is byte-identical to an uninterrupted
//! one.
//!
//! Layout of a cache folder: `meta.json`, and `chunk-NNNNN.f32` files, each
//! `[n_layers][chunk_texts][n_embd]` little-endian f32.

use crate::atomic_file::{write_atomic, write_atomic_with};
use crate::hash::{content_sha256, hex, texts_sha256};
use crate::llama::Context;
use crate::pipeline::capture::{capture_states, write_sidecar, Pooling, SidecarInfo};
use crate::{npy, Error, Result};
use ndarray::Array2;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Version 2 added the decode packing to the key.
const FORMAT: u32 = 2;
/// Texts per chunk file (one decode packs up to `n_seq_max` of them).
pub const CHUNK_TEXTS: usize = 64;

/// What a cache folder holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreMeta {
    /// Layout version of the folder (bumped when chunks change).
    pub format: u32,
    /// sha256 of the model file the states came from.
    pub model_sha256: String,
    /// Path of that model file when captured (for people; the hash is the key).
    pub model_file: String,
    /// The model's architecture name (`llama`, `qwen2`, ...).
    pub arch: String,
    /// Number of blocks of the model.
    pub n_layer: usize,
    /// Floats per state (the model's hidden size).
    pub n_embd: usize,
    /// Captured layers (0-based blocks, `l_out-N`), in chunk order.
    pub layers: Vec<usize>,
    /// How each text's token states became one vector.
    pub pooling: Pooling,
    /// Whether texts were wrapped in the chat template.
    pub chat: bool,
    /// Number of texts.
    pub n_texts: usize,
    /// Texts per chunk file (the last chunk may hold fewer).
    pub chunk_texts: usize,
    /// Hash of the texts ([`crate::hash::texts_sha256`]).
    pub data_sha256: String,
    /// Most tokens per decode (the context's `n_ubatch`/`n_batch`, the
    /// smaller) when captured.
    pub decode_tokens: u32,
    /// Most texts per decode (the context's `n_seq_max`) when captured.
    pub decode_texts: u32,
}

/// A finished capture on disk.
#[derive(Debug, Clone)]
pub struct CaptureStore {
    /// The cache folder holding `meta.json` and the chunks.
    pub dir: PathBuf,
    /// What the folder holds.
    pub meta: StoreMeta,
}

/// Captures (or reuses) the states of `texts` on `ctx`'s model under `root`.
/// `progress(done, total)` counts texts, including ones found in the cache.
pub fn capture_cached(
    ctx: &mut Context<'_>,
    texts: &[String],
    layers: &[usize],
    pooling: Pooling,
    chat: bool,
    root: &Path,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<CaptureStore> {
    let model = ctx.model();
    let model_sha256 = content_sha256(model.path())?;
    let cp = ctx.params();
    let meta = StoreMeta {
        format: FORMAT,
        model_sha256,
        model_file: model.path().display().to_string(),
        arch: model.arch().to_string(),
        n_layer: model.n_layer(),
        n_embd: model.n_embd(),
        layers: layers.to_vec(),
        pooling,
        chat,
        n_texts: texts.len(),
        chunk_texts: CHUNK_TEXTS,
        data_sha256: texts_sha256(texts),
        decode_tokens: cp.n_ubatch.min(cp.n_batch),
        decode_texts: cp.n_seq_max.max(1),
    };
    let key = {
        let mut h = Sha256::new();
        h.update(
            serde_json::to_vec(&(
                &meta.model_sha256,
                &meta.layers,
                pooling,
                chat,
                &meta.data_sha256,
                FORMAT,
                (meta.decode_tokens, meta.decode_texts),
            ))
            .expect("json"),
        );
        hex(&h.finalize())[..24].to_string()
    };
    let dir = root.join(key);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let meta_path = dir.join("meta.json");
    write_atomic(
        &meta_path,
        serde_json::to_string_pretty(&meta)
            .expect("json")
            .as_bytes(),
    )?;
    let n_chunks = texts.len().div_ceil(CHUNK_TEXTS);
    for c in 0..n_chunks {
        let lo = c * CHUNK_TEXTS;
        let hi = (lo + CHUNK_TEXTS).min(texts.len());
        let path = chunk_path(&dir, c);
        let want_bytes = (layers.len() * (hi - lo) * meta.n_embd * 4) as u64;
        if std::fs::metadata(&path)
            .map(|m| m.len() == want_bytes)
            .unwrap_or(false)
        {
            progress(hi, texts.len());
            continue;
        }
        let cap = capture_states(
            ctx,
            &texts[lo..hi],
            layers,
            pooling,
            chat,
            &mut |done, _| progress(lo + done, texts.len()),
        )?;
        // Re-order [text][layer][d] into [layer][text][d] so one layer reads contiguously.
        let mut bytes = Vec::with_capacity(want_bytes as usize);
        for k in 0..layers.len() {
            for t in 0..(hi - lo) {
                for x in cap.row(t, k) {
                    bytes.extend_from_slice(&x.to_le_bytes());
                }
            }
        }
        write_atomic(&path, &bytes)?;
    }
    Ok(CaptureStore { dir, meta })
}

fn chunk_path(dir: &Path, c: usize) -> PathBuf {
    dir.join(format!("chunk-{c:05}.f32"))
}

impl CaptureStore {
    /// Writes every state as `out` (.npy, float32, shape `[n_texts,
    /// n_layers, n_embd]`, as [`crate::pipeline::capture::Captured::write_npy`]) and
    /// its side-car `out.json`, both atomically, one chunk in memory at a
    /// time. Returns the side-car's path.
    pub fn write_npy(&self, out: &Path) -> Result<PathBuf> {
        let m = &self.meta;
        let n_k = m.layers.len();
        write_atomic_with(out, |w| {
            npy::write_f32_header(w, &[m.n_texts, n_k, m.n_embd]).map_err(|e| Error::io(out, e))?;
            let n_chunks = m.n_texts.div_ceil(m.chunk_texts);
            let mut chunk = Vec::new();
            let mut row = Vec::with_capacity(n_k * m.n_embd * 4);
            for c in 0..n_chunks {
                let rows = (m.n_texts - c * m.chunk_texts).min(m.chunk_texts);
                let path = chunk_path(&self.dir, c);
                chunk.clear();
                std::fs::File::open(&path)
                    .and_then(|mut f| f.read_to_end(&mut chunk))
                    .map_err(|e| Error::io(&path, e))?;
                if chunk.len() != n_k * rows * m.n_embd * 4 {
                    return Err(Error::Input(format!(
                        "{}: {} bytes, expected {} (capture again)",
                        path.display(),
                        chunk.len(),
                        n_k * rows * m.n_embd * 4
                    )));
                }
                // Chunk [layer][text][d] to file [text][layer][d].
                let d_bytes = m.n_embd * 4;
                for t in 0..rows {
                    row.clear();
                    for k in 0..n_k {
                        let off = (k * rows + t) * d_bytes;
                        row.extend_from_slice(&chunk[off..off + d_bytes]);
                    }
                    w.write_all(&row).map_err(|e| Error::io(out, e))?;
                }
            }
            Ok(())
        })?;
        write_sidecar(
            out,
            &SidecarInfo {
                model_file: &m.model_file,
                arch: &m.arch,
                n_layer: m.n_layer,
                n_embd: m.n_embd,
                layers: &m.layers,
                n_texts: m.n_texts,
                pooling: m.pooling,
            },
        )
    }

    /// States of every text at `layer`: `[n_texts, n_embd]`.
    pub fn layer(&self, layer: usize) -> Result<Array2<f32>> {
        let m = &self.meta;
        let k = m.layers.iter().position(|&l| l == layer).ok_or_else(|| {
            Error::Input(format!(
                "layer {layer} was not captured (have {:?})",
                m.layers
            ))
        })?;
        let mut out = Array2::<f32>::zeros((m.n_texts, m.n_embd));
        let n_chunks = m.n_texts.div_ceil(m.chunk_texts);
        let mut buf = Vec::new();
        for c in 0..n_chunks {
            let lo = c * m.chunk_texts;
            let hi = (lo + m.chunk_texts).min(m.n_texts);
            let rows = hi - lo;
            let path = chunk_path(&self.dir, c);
            let mut f = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
            f.seek(SeekFrom::Start((k * rows * m.n_embd * 4) as u64))
                .map_err(|e| Error::io(&path, e))?;
            buf.resize(rows * m.n_embd * 4, 0);
            f.read_exact(&mut buf).map_err(|e| Error::io(&path, e))?;
            for (i, x) in buf.chunks_exact(4).enumerate() {
                out[[lo + i / m.n_embd, i % m.n_embd]] =
                    f32::from_le_bytes([x[0], x[1], x[2], x[3]]);
            }
        }
        Ok(out)
    }
}
