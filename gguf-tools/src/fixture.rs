//! A tiny random-weight llama model that llama.cpp can load and run, for
//! tests that need a real model file without downloading one.
//!
//! # What is written
//!
//! * `general.architecture = "llama"`, `general.name`, `general.file_type =
//!   0` (all F32).
//! * The `llama.*` hyper-parameters read by `llama_model_base::load_hparams`
//!   and `llama_model_llama::load_arch_hparams` (all `u32` except the `f32`
//!   epsilon and rope base, because llama.cpp's `get_key` demands the exact
//!   GGUF type): `context_length`, `embedding_length`, `block_count`,
//!   `feed_forward_length`, `attention.head_count`,
//!   `attention.head_count_kv`, `attention.layer_norm_rms_epsilon`,
//!   `rope.dimension_count` (must equal `n_embd / n_head` for llama),
//!   `rope.freq_base`, `vocab_size`.
//! * A SentencePiece-style ("llama") byte vocabulary of 260 tokens: `<unk>`
//!   (0, type UNKNOWN), `<s>` (1, CONTROL), `</s>` (2, CONTROL),
//!   `<0x00>` ..= `<0xFF>` (3..=258, type BYTE) and `▁` (259, NORMAL).
//!   llama.cpp's SPM tokenizer replaces spaces with `▁` (token 259) and
//!   falls back to the byte tokens for every other character, so any text
//!   tokenizes (one token per UTF-8 byte) and detokenizes back exactly.
//! * Tensors, shapes in ggml order (`ne[0]` first), all F32:
//!   `token_embd.weight [n_embd, n_vocab]`, `output_norm.weight [n_embd]`,
//!   `output.weight [n_embd, n_vocab]`, and per block `N`:
//!   `blk.N.attn_norm.weight [n_embd]`, `blk.N.attn_q.weight [n_embd,
//!   n_embd]`, `blk.N.attn_k.weight [n_embd, n_embd_kv]`,
//!   `blk.N.attn_v.weight [n_embd, n_embd_kv]`, `blk.N.attn_output.weight
//!   [n_embd, n_embd]`, `blk.N.ffn_norm.weight [n_embd]`,
//!   `blk.N.ffn_gate.weight [n_embd, n_ff]`, `blk.N.ffn_up.weight [n_embd,
//!   n_ff]`, `blk.N.ffn_down.weight [n_ff, n_embd]`, where `n_embd_kv =
//!   n_embd / n_head * n_head_kv`.
//!
//! Norm weights are 1.0; every other weight is uniform in
//! `[-WEIGHT_SCALE, WEIGHT_SCALE)` from a SplitMix64 stream seeded with
//! `seed`, so the file is a pure function of the parameters.

use std::path::Path;

use crate::error::{GgufError, Result};
use crate::value::{Array, Value};
use crate::writer::GgufWriter;

/// Number of tokens in the fixture vocabulary (3 specials, 256 bytes, `▁`).
pub const FIXTURE_N_VOCAB: u32 = 260;
/// Half-width of the uniform distribution of the random weights.
pub const WEIGHT_SCALE: f32 = 0.08;
/// `llama.attention.layer_norm_rms_epsilon` of the fixture.
pub const RMS_EPS: f32 = 1e-5;

/// llama.cpp token types (`enum llama_token_type` in `llama.h`).
const TOKEN_TYPE_NORMAL: i32 = 1;
const TOKEN_TYPE_UNKNOWN: i32 = 2;
const TOKEN_TYPE_CONTROL: i32 = 3;
const TOKEN_TYPE_BYTE: i32 = 6;

/// SplitMix64, a small deterministic generator (Steele, Lea & Flood 2014).
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform `f32` in `[-scale, scale)`.
    pub fn next_symmetric(&mut self, scale: f32) -> f32 {
        // 24 random bits give every representable step of [0, 1).
        let unit = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        (unit * 2.0 - 1.0) * scale
    }
}

/// Parameters of a tiny llama model. [`Default`] gives the standard fixture:
/// `n_embd 64, n_layer 2, n_head 4, n_head_kv 4, n_ff 128, n_ctx_train 256,
/// seed 1` (about 470 KB).
///
/// ```
/// use gguf_tools::{GgufFile, LlamaFixture};
///
/// let fx = LlamaFixture { n_embd: 32, n_head: 2, n_head_kv: 2, ..LlamaFixture::default() };
/// let file = GgufFile::parse(&fx.to_bytes()?)?;
/// assert_eq!(file.architecture(), Some("llama"));
/// assert_eq!(file.tensor("token_embd.weight").unwrap().dims, vec![32, 260]);
/// # Ok::<(), gguf_tools::GgufError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LlamaFixture {
    /// Embedding size; must be a multiple of `n_head` with an even head size.
    pub n_embd: u32,
    /// Number of transformer blocks (1..=512). Use at least 2 to test
    /// control vectors: llama.cpp cannot steer block 0, so a 1-block model
    /// has no steerable layer.
    pub n_layer: u32,
    /// Number of attention heads.
    pub n_head: u32,
    /// Number of key/value heads; must divide `n_head`.
    pub n_head_kv: u32,
    /// Feed-forward hidden size.
    pub n_ff: u32,
    /// Training context length (`llama.context_length`).
    pub n_ctx_train: u32,
    /// Seed of the weight generator.
    pub seed: u64,
}

impl Default for LlamaFixture {
    fn default() -> Self {
        LlamaFixture {
            n_embd: 64,
            n_layer: 2,
            n_head: 4,
            n_head_kv: 4,
            n_ff: 128,
            n_ctx_train: 256,
            seed: 1,
        }
    }
}

/// The fixture's vocabulary: token texts, token types and scores.
pub fn fixture_vocab() -> (Vec<String>, Vec<i32>, Vec<f32>) {
    let mut tokens = vec!["<unk>".to_owned(), "<s>".to_owned(), "</s>".to_owned()];
    let mut types = vec![TOKEN_TYPE_UNKNOWN, TOKEN_TYPE_CONTROL, TOKEN_TYPE_CONTROL];
    for byte in 0..=255u8 {
        // Upper-case hex, exactly as llama_vocab::byte_to_token looks it up.
        tokens.push(format!("<0x{byte:02X}>"));
        types.push(TOKEN_TYPE_BYTE);
    }
    // SentencePiece's escaped space: without it a space would become the
    // three byte tokens of U+2581 and detokenize as "▁" instead of " ".
    tokens.push("\u{2581}".to_owned());
    types.push(TOKEN_TYPE_NORMAL);
    let scores = vec![0.0; tokens.len()];
    (tokens, types, scores)
}

/// The `InvalidInput` error for fixture parameters llama.cpp would refuse.
pub(crate) fn invalid_params(reason: String) -> GgufError {
    GgufError::InvalidInput {
        file: "<fixture>".to_owned(),
        reason,
    }
}

/// Checks the sizes every fixture architecture shares: all positive,
/// `n_layer` within llama.cpp's `LLAMA_MAX_LAYERS`, `n_embd` a multiple of
/// `n_head`, and small enough for a test. `whole` is printed in the error
/// about non-positive sizes.
pub(crate) fn check_common_sizes(
    whole: &dyn std::fmt::Debug,
    n_embd: u32,
    n_layer: u32,
    n_head: u32,
    n_ff: u32,
    n_ctx_train: u32,
) -> Result<()> {
    if n_embd == 0 || n_head == 0 || n_ff == 0 {
        return Err(invalid_params(format!(
            "all sizes must be positive: {whole:?}"
        )));
    }
    if n_layer == 0 || n_layer > 512 {
        return Err(invalid_params(format!(
            "n_layer {n_layer} must be in 1..=512 (llama.cpp's LLAMA_MAX_LAYERS)"
        )));
    }
    if n_ctx_train == 0 {
        return Err(invalid_params("n_ctx_train must be positive".to_owned()));
    }
    if !n_embd.is_multiple_of(n_head) {
        return Err(invalid_params(format!(
            "n_embd {n_embd} is not a multiple of n_head {n_head}"
        )));
    }
    if n_embd > 8192 || n_ff > 32768 {
        return Err(invalid_params(format!(
            "n_embd {n_embd} (max 8192) or n_ff {n_ff} (max 32768) is too large for a test fixture"
        )));
    }
    Ok(())
}

/// Writes `general.architecture`, `general.name` and `general.file_type =
/// 0` (all F32).
pub(crate) fn add_general(w: &mut GgufWriter, arch: &str, name: &str) -> Result<()> {
    w.add_metadata("general.architecture", Value::from(arch))?;
    w.add_metadata("general.name", Value::from(name))?;
    w.add_metadata("general.file_type", Value::U32(0))
}

/// Writes the `tokenizer.ggml.*` keys of the byte-level SentencePiece
/// vocabulary from [`fixture_vocab`] (BOS added, EOS not).
pub(crate) fn add_fixture_vocab(w: &mut GgufWriter) -> Result<()> {
    let (tokens, types, scores) = fixture_vocab();
    w.add_metadata("tokenizer.ggml.model", Value::from("llama"))?;
    w.add_metadata("tokenizer.ggml.tokens", Array::String(tokens))?;
    w.add_metadata("tokenizer.ggml.scores", Array::F32(scores))?;
    w.add_metadata("tokenizer.ggml.token_type", Array::I32(types))?;
    w.add_metadata("tokenizer.ggml.unknown_token_id", Value::U32(0))?;
    w.add_metadata("tokenizer.ggml.bos_token_id", Value::U32(1))?;
    w.add_metadata("tokenizer.ggml.eos_token_id", Value::U32(2))?;
    w.add_metadata("tokenizer.ggml.add_bos_token", Value::Bool(true))?;
    w.add_metadata("tokenizer.ggml.add_eos_token", Value::Bool(false))
}

/// Adds a fixture's F32 tensors to a writer: random weights drawn in call
/// order from one SplitMix64 stream (so a file is a pure function of its
/// seed and the order of calls), and constant norms and biases.
pub(crate) struct TensorFiller<'w> {
    w: &'w mut GgufWriter,
    rng: SplitMix64,
}

impl<'w> TensorFiller<'w> {
    /// A filler writing into `w`, its stream seeded with `seed`.
    pub(crate) fn new(w: &'w mut GgufWriter, seed: u64) -> Self {
        TensorFiller {
            w,
            rng: SplitMix64::new(seed),
        }
    }

    /// A tensor of uniform values in `[-WEIGHT_SCALE, WEIGHT_SCALE)`.
    pub(crate) fn random(&mut self, name: &str, dims: &[u64]) -> Result<()> {
        let n = dims.iter().product::<u64>() as usize;
        let data: Vec<f32> = (0..n)
            .map(|_| self.rng.next_symmetric(WEIGHT_SCALE))
            .collect();
        self.w.add_tensor_f32(name, dims, &data)
    }

    /// A tensor with every element `value`; draws nothing from the stream.
    pub(crate) fn constant(&mut self, name: &str, dims: &[u64], value: f32) -> Result<()> {
        let n = dims.iter().product::<u64>() as usize;
        self.w.add_tensor_f32(name, dims, &vec![value; n])
    }
}

impl LlamaFixture {
    /// Head size (`n_embd / n_head`).
    pub fn head_dim(&self) -> u32 {
        self.n_embd / self.n_head.max(1)
    }

    /// Checks that llama.cpp would accept these parameters.
    pub fn validate(&self) -> Result<()> {
        if self.n_head_kv == 0 {
            return Err(invalid_params(format!(
                "all sizes must be positive: {self:?}"
            )));
        }
        check_common_sizes(
            self,
            self.n_embd,
            self.n_layer,
            self.n_head,
            self.n_ff,
            self.n_ctx_train,
        )?;
        if !self.head_dim().is_multiple_of(2) {
            return Err(invalid_params(format!(
                "head size n_embd/n_head = {} must be even for RoPE",
                self.head_dim()
            )));
        }
        if !self.n_head.is_multiple_of(self.n_head_kv) {
            return Err(invalid_params(format!(
                "n_head {} is not a multiple of n_head_kv {}",
                self.n_head, self.n_head_kv
            )));
        }
        Ok(())
    }

    /// Builds the complete model in a [`GgufWriter`].
    pub fn build(&self) -> Result<GgufWriter> {
        self.validate()?;
        let n_embd = u64::from(self.n_embd);
        let n_ff = u64::from(self.n_ff);
        let n_vocab = u64::from(FIXTURE_N_VOCAB);
        let n_embd_kv = u64::from(self.head_dim() * self.n_head_kv);

        let mut w = GgufWriter::new();
        add_general(&mut w, "llama", "gguf-tools tiny llama fixture")?;
        w.add_metadata("llama.vocab_size", Value::U32(FIXTURE_N_VOCAB))?;
        w.add_metadata("llama.context_length", Value::U32(self.n_ctx_train))?;
        w.add_metadata("llama.embedding_length", Value::U32(self.n_embd))?;
        w.add_metadata("llama.block_count", Value::U32(self.n_layer))?;
        w.add_metadata("llama.feed_forward_length", Value::U32(self.n_ff))?;
        w.add_metadata("llama.attention.head_count", Value::U32(self.n_head))?;
        w.add_metadata("llama.attention.head_count_kv", Value::U32(self.n_head_kv))?;
        w.add_metadata(
            "llama.attention.layer_norm_rms_epsilon",
            Value::F32(RMS_EPS),
        )?;
        w.add_metadata("llama.rope.dimension_count", Value::U32(self.head_dim()))?;
        w.add_metadata("llama.rope.freq_base", Value::F32(10000.0))?;
        add_fixture_vocab(&mut w)?;

        let mut t = TensorFiller::new(&mut w, self.seed);
        t.random("token_embd.weight", &[n_embd, n_vocab])?;
        t.constant("output_norm.weight", &[n_embd], 1.0)?;
        t.random("output.weight", &[n_embd, n_vocab])?;
        for b in 0..self.n_layer {
            t.constant(&format!("blk.{b}.attn_norm.weight"), &[n_embd], 1.0)?;
            t.random(&format!("blk.{b}.attn_q.weight"), &[n_embd, n_embd])?;
            t.random(&format!("blk.{b}.attn_k.weight"), &[n_embd, n_embd_kv])?;
            t.random(&format!("blk.{b}.attn_v.weight"), &[n_embd, n_embd_kv])?;
            t.random(&format!("blk.{b}.attn_output.weight"), &[n_embd, n_embd])?;
            t.constant(&format!("blk.{b}.ffn_norm.weight"), &[n_embd], 1.0)?;
            t.random(&format!("blk.{b}.ffn_gate.weight"), &[n_embd, n_ff])?;
            t.random(&format!("blk.{b}.ffn_up.weight"), &[n_embd, n_ff])?;
            t.random(&format!("blk.{b}.ffn_down.weight"), &[n_ff, n_embd])?;
        }
        Ok(w)
    }

    /// The model file in memory.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        self.build()?.to_bytes()
    }

    /// Writes the model file to `path`.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<()> {
        self.build()?.write_file(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_is_deterministic_and_in_range() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        for _ in 0..1000 {
            let x = a.next_symmetric(0.5);
            assert_eq!(x.to_bits(), b.next_symmetric(0.5).to_bits());
            assert!((-0.5..0.5).contains(&x));
        }
        assert_ne!(SplitMix64::new(1).next_u64(), SplitMix64::new(2).next_u64());
    }

    #[test]
    fn bad_parameters_are_rejected() {
        let base = LlamaFixture::default();
        for bad in [
            LlamaFixture { n_embd: 0, ..base },
            LlamaFixture { n_embd: 66, ..base }, // not a multiple of 4 heads
            LlamaFixture { n_embd: 60, ..base }, // head size 15 is odd
            LlamaFixture {
                n_head_kv: 3,
                ..base
            }, // 4 % 3 != 0
            LlamaFixture { n_layer: 0, ..base },
            LlamaFixture {
                n_layer: 513,
                ..base
            },
            LlamaFixture {
                n_ctx_train: 0,
                ..base
            },
        ] {
            assert!(
                matches!(bad.validate(), Err(GgufError::InvalidInput { .. })),
                "{bad:?}"
            );
        }
        base.validate().expect("default is valid");
    }

    #[test]
    fn vocab_has_every_byte() {
        let (tokens, types, scores) = fixture_vocab();
        assert_eq!(tokens.len(), FIXTURE_N_VOCAB as usize);
        assert_eq!(types.len(), tokens.len());
        assert_eq!(scores.len(), tokens.len());
        assert_eq!(tokens[3 + 0x0A], "<0x0A>");
        assert_eq!(tokens[258], "<0xFF>");
        assert_eq!(tokens[259], "\u{2581}");
        let unique: std::collections::HashSet<_> = tokens.iter().collect();
        assert_eq!(unique.len(), tokens.len());
    }
}
