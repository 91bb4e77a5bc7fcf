//! A tiny random-weight BERT model: an architecture whose llama.cpp graph
//! never names the per-block output `l_out-N`, for tests that check that
//! hidden-state steering refuses such models instead of silently doing
//! nothing.
//!
//! llama.cpp's BERT graph (`src/models/bert.cpp`) names `ffn_inp-N`,
//! `ffn_out-N` and the norms of each block, but never calls
//! `cb(cur, "l_out", il)`. The model is an encoder: it has no KV cache, so
//! `llama_decode` runs it through `llama_encode`, with non-causal attention
//! and no logits (there is no `output.weight`).
//!
//! # What is written
//!
//! * `general.architecture = "bert"`, `general.name`, `general.file_type =
//!   0` (all F32).
//! * The `bert.*` keys read by `llama_model_base::load_hparams` and
//!   `llama_model_bert::load_arch_hparams` (all `u32` except the `f32`
//!   epsilon and the `bool` causal flag): `context_length`,
//!   `embedding_length`, `block_count`, `feed_forward_length`,
//!   `attention.head_count`, `attention.layer_norm_epsilon` (required),
//!   `attention.causal = false` (real BERT files set it; llama.cpp's
//!   default is causal), `vocab_size`. No pooling type, so llama.cpp uses
//!   none.
//! * The same byte-level SentencePiece vocabulary as
//!   [`LlamaFixture`](crate::LlamaFixture) (llama.cpp accepts any tokenizer
//!   model for BERT), plus `tokenizer.ggml.token_type_count = 2`: BERT's
//!   tensor loader refuses a model whose token type count is 0.
//! * Tensors, shapes in ggml order (`ne[0]` first), all F32:
//!   `token_embd.weight [n_embd, n_vocab]`, `token_types.weight [n_embd,
//!   2]`, `position_embd.weight [n_embd, n_ctx_train]`,
//!   `token_embd_norm.weight [n_embd]`, `token_embd_norm.bias [n_embd]`, and
//!   per block `N`: `blk.N.attn_q.weight`, `blk.N.attn_k.weight`,
//!   `blk.N.attn_v.weight`, `blk.N.attn_output.weight` (each `[n_embd,
//!   n_embd]`) with `.bias [n_embd]`, `blk.N.attn_output_norm.weight/.bias
//!   [n_embd]`, `blk.N.ffn_up.weight [n_embd, n_ff]`, `blk.N.ffn_up.bias
//!   [n_ff]`, `blk.N.ffn_down.weight [n_ff, n_embd]`, `blk.N.ffn_down.bias
//!   [n_embd]`, `blk.N.layer_output_norm.weight/.bias [n_embd]`.
//!
//! Norm weights are 1.0 and biases 0.0; every other weight is uniform in
//! `[-WEIGHT_SCALE, WEIGHT_SCALE)` from the same SplitMix64 stream as the
//! llama fixture, seeded with `seed`.

use std::path::Path;

use crate::error::Result;
use crate::fixture::{
    add_fixture_vocab, add_general, check_common_sizes, TensorFiller, FIXTURE_N_VOCAB,
};
use crate::value::Value;
use crate::writer::GgufWriter;

/// `bert.attention.layer_norm_epsilon` of the fixture.
pub const LAYER_NORM_EPS: f32 = 1e-12;
/// Number of token types (`tokenizer.ggml.token_type_count`); llama.cpp
/// always uses type 0.
pub const BERT_N_TOKEN_TYPES: u32 = 2;

/// Parameters of a tiny BERT encoder. [`Default`] gives `n_embd 64,
/// n_layer 2, n_head 4, n_ff 128, n_ctx_train 256, seed 1` (about 410 KB).
///
/// ```
/// use gguf_tools::{BertFixture, GgufFile};
///
/// let fx = BertFixture { n_embd: 32, n_head: 2, ..BertFixture::default() };
/// let file = GgufFile::parse(&fx.to_bytes()?)?;
/// assert_eq!(file.architecture(), Some("bert"));
/// assert_eq!(file.tensor("position_embd.weight").unwrap().dims, vec![32, 256]);
/// assert!(file.tensor("output.weight").is_none());
/// # Ok::<(), gguf_tools::GgufError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BertFixture {
    /// Embedding size; must be a multiple of `n_head`.
    pub n_embd: u32,
    /// Number of encoder blocks (1..=512).
    pub n_layer: u32,
    /// Number of attention heads (BERT has no grouped-query attention).
    pub n_head: u32,
    /// Feed-forward hidden size.
    pub n_ff: u32,
    /// Training context length: the number of learned positions.
    pub n_ctx_train: u32,
    /// Seed of the weight generator.
    pub seed: u64,
}

impl Default for BertFixture {
    fn default() -> Self {
        BertFixture {
            n_embd: 64,
            n_layer: 2,
            n_head: 4,
            n_ff: 128,
            n_ctx_train: 256,
            seed: 1,
        }
    }
}

impl BertFixture {
    /// Checks that llama.cpp would accept these parameters.
    pub fn validate(&self) -> Result<()> {
        check_common_sizes(
            self,
            self.n_embd,
            self.n_layer,
            self.n_head,
            self.n_ff,
            self.n_ctx_train,
        )
    }

    /// Builds the complete model in a [`GgufWriter`].
    pub fn build(&self) -> Result<GgufWriter> {
        self.validate()?;
        let n_embd = u64::from(self.n_embd);
        let n_ff = u64::from(self.n_ff);
        let n_vocab = u64::from(FIXTURE_N_VOCAB);

        let mut w = GgufWriter::new();
        add_general(&mut w, "bert", "gguf-tools tiny bert fixture")?;
        w.add_metadata("bert.vocab_size", Value::U32(FIXTURE_N_VOCAB))?;
        w.add_metadata("bert.context_length", Value::U32(self.n_ctx_train))?;
        w.add_metadata("bert.embedding_length", Value::U32(self.n_embd))?;
        w.add_metadata("bert.block_count", Value::U32(self.n_layer))?;
        w.add_metadata("bert.feed_forward_length", Value::U32(self.n_ff))?;
        w.add_metadata("bert.attention.head_count", Value::U32(self.n_head))?;
        w.add_metadata(
            "bert.attention.layer_norm_epsilon",
            Value::F32(LAYER_NORM_EPS),
        )?;
        w.add_metadata("bert.attention.causal", Value::Bool(false))?;
        add_fixture_vocab(&mut w)?;
        w.add_metadata(
            "tokenizer.ggml.token_type_count",
            Value::U32(BERT_N_TOKEN_TYPES),
        )?;

        let mut t = TensorFiller::new(&mut w, self.seed);
        t.random("token_embd.weight", &[n_embd, n_vocab])?;
        t.random(
            "token_types.weight",
            &[n_embd, u64::from(BERT_N_TOKEN_TYPES)],
        )?;
        t.random(
            "position_embd.weight",
            &[n_embd, u64::from(self.n_ctx_train)],
        )?;
        t.constant("token_embd_norm.weight", &[n_embd], 1.0)?;
        t.constant("token_embd_norm.bias", &[n_embd], 0.0)?;
        for b in 0..self.n_layer {
            for proj in ["attn_q", "attn_k", "attn_v", "attn_output"] {
                t.random(&format!("blk.{b}.{proj}.weight"), &[n_embd, n_embd])?;
                t.constant(&format!("blk.{b}.{proj}.bias"), &[n_embd], 0.0)?;
            }
            t.constant(&format!("blk.{b}.attn_output_norm.weight"), &[n_embd], 1.0)?;
            t.constant(&format!("blk.{b}.attn_output_norm.bias"), &[n_embd], 0.0)?;
            t.random(&format!("blk.{b}.ffn_up.weight"), &[n_embd, n_ff])?;
            t.constant(&format!("blk.{b}.ffn_up.bias"), &[n_ff], 0.0)?;
            t.random(&format!("blk.{b}.ffn_down.weight"), &[n_ff, n_embd])?;
            t.constant(&format!("blk.{b}.ffn_down.bias"), &[n_embd], 0.0)?;
            t.constant(&format!("blk.{b}.layer_output_norm.weight"), &[n_embd], 1.0)?;
            t.constant(&format!("blk.{b}.layer_output_norm.bias"), &[n_embd], 0.0)?;
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
    use crate::fixture::{fixture_vocab, WEIGHT_SCALE};
    use crate::{Array, GgmlType, GgufError, GgufFile};

    fn u32_key(file: &GgufFile, key: &str) -> u32 {
        match file.get(key) {
            Some(Value::U32(v)) => *v,
            other => panic!("{key} should be a u32, is {other:?}"),
        }
    }

    /// Parses the fixture back and checks every key and tensor llama.cpp
    /// reads for BERT, and that no other tensor is present.
    fn check(fx: BertFixture) -> GgufFile {
        let bytes = fx.to_bytes().unwrap();
        let file = GgufFile::parse(&bytes).unwrap();
        let e = u64::from(fx.n_embd);
        let ff = u64::from(fx.n_ff);
        let v = u64::from(FIXTURE_N_VOCAB);

        assert_eq!(file.architecture(), Some("bert"));
        assert_eq!(u32_key(&file, "general.file_type"), 0);
        assert_eq!(u32_key(&file, "bert.context_length"), fx.n_ctx_train);
        assert_eq!(u32_key(&file, "bert.embedding_length"), fx.n_embd);
        assert_eq!(u32_key(&file, "bert.block_count"), fx.n_layer);
        assert_eq!(u32_key(&file, "bert.feed_forward_length"), fx.n_ff);
        assert_eq!(u32_key(&file, "bert.attention.head_count"), fx.n_head);
        assert_eq!(u32_key(&file, "bert.vocab_size"), FIXTURE_N_VOCAB);
        assert_eq!(
            file.get("bert.attention.layer_norm_epsilon"),
            Some(&Value::F32(LAYER_NORM_EPS))
        );
        assert_eq!(file.get("bert.attention.causal"), Some(&Value::Bool(false)));
        assert_eq!(
            u32_key(&file, "tokenizer.ggml.token_type_count"),
            BERT_N_TOKEN_TYPES
        );
        assert_eq!(
            file.get("tokenizer.ggml.model").and_then(Value::as_str),
            Some("llama")
        );
        assert_eq!(
            file.get("tokenizer.ggml.tokens"),
            Some(&Value::Array(Array::String(fixture_vocab().0)))
        );

        let mut expected: Vec<(String, Vec<u64>)> = vec![
            ("token_embd.weight".into(), vec![e, v]),
            ("token_types.weight".into(), vec![e, 2]),
            (
                "position_embd.weight".into(),
                vec![e, u64::from(fx.n_ctx_train)],
            ),
            ("token_embd_norm.weight".into(), vec![e]),
            ("token_embd_norm.bias".into(), vec![e]),
        ];
        for b in 0..fx.n_layer {
            for proj in ["attn_q", "attn_k", "attn_v", "attn_output"] {
                expected.push((format!("blk.{b}.{proj}.weight"), vec![e, e]));
                expected.push((format!("blk.{b}.{proj}.bias"), vec![e]));
            }
            for (name, dims) in [
                ("attn_output_norm.weight", vec![e]),
                ("attn_output_norm.bias", vec![e]),
                ("ffn_up.weight", vec![e, ff]),
                ("ffn_up.bias", vec![ff]),
                ("ffn_down.weight", vec![ff, e]),
                ("ffn_down.bias", vec![e]),
                ("layer_output_norm.weight", vec![e]),
                ("layer_output_norm.bias", vec![e]),
            ] {
                expected.push((format!("blk.{b}.{name}"), dims));
            }
        }
        let got: Vec<(String, Vec<u64>)> = file
            .tensors()
            .iter()
            .map(|t| (t.name.clone(), t.dims.clone()))
            .collect();
        assert_eq!(got, expected);

        for t in file.tensors() {
            assert_eq!(t.ggml_type, GgmlType::F32);
            let data = file.read_tensor_f32(&t.name).unwrap();
            assert_eq!(data.len() as u64, t.n_elements());
            if t.name.ends_with("norm.weight") {
                assert!(data.iter().all(|&x| x == 1.0), "{}", t.name);
            } else if t.name.ends_with(".bias") {
                assert!(data.iter().all(|&x| x == 0.0), "{}", t.name);
            } else {
                assert!(data.iter().all(|x| x.abs() <= WEIGHT_SCALE), "{}", t.name);
                let mean_abs = data.iter().map(|x| x.abs()).sum::<f32>() / data.len() as f32;
                assert!(mean_abs > WEIGHT_SCALE / 4.0, "{} looks constant", t.name);
            }
        }
        assert_eq!(bytes.len() as u64, file.file_size());
        file
    }

    #[test]
    fn default_fixture_parses_back_with_bert_tensors() {
        let file = check(BertFixture::default());
        assert_eq!(file.tensors().len(), 5 + 16 * 2);
        for absent in [
            "output.weight",
            "output_norm.weight",
            "blk.0.attn_norm.weight",
        ] {
            assert!(file.tensor(absent).is_none(), "{absent}");
        }
        assert!(
            (380_000..440_000).contains(&file.file_size()),
            "{}",
            file.file_size()
        );
    }

    #[test]
    fn other_sizes_work() {
        check(BertFixture {
            n_embd: 48,
            n_head: 3, // odd head size 16 is fine: BERT has no RoPE
            n_ff: 96,
            n_ctx_train: 32,
            ..BertFixture::default()
        });
        check(BertFixture {
            n_embd: 60,
            n_head: 4, // head size 15
            n_layer: 3,
            ..BertFixture::default()
        });
        check(BertFixture {
            n_layer: 1,
            ..BertFixture::default()
        });
    }

    #[test]
    fn deterministic_per_seed() {
        let a = BertFixture::default().to_bytes().unwrap();
        let b = BertFixture::default().to_bytes().unwrap();
        let c = BertFixture {
            seed: 2,
            ..BertFixture::default()
        }
        .to_bytes()
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), c.len());
        assert_ne!(a, c);
    }

    #[test]
    fn bad_parameters_are_rejected() {
        let base = BertFixture::default();
        for bad in [
            BertFixture { n_embd: 0, ..base },
            BertFixture { n_head: 0, ..base },
            BertFixture { n_ff: 0, ..base },
            BertFixture { n_embd: 66, ..base }, // not a multiple of 4 heads
            BertFixture { n_layer: 0, ..base },
            BertFixture {
                n_layer: 513,
                ..base
            },
            BertFixture {
                n_ctx_train: 0,
                ..base
            },
        ] {
            assert!(
                matches!(bad.validate(), Err(GgufError::InvalidInput { .. })),
                "{bad:?}"
            );
            assert!(bad.to_bytes().is_err(), "{bad:?}");
        }
        base.validate().expect("default is valid");
    }

    #[test]
    fn writes_to_disk() {
        let path =
            std::env::temp_dir().join(format!("gguf-tools-bert-{}.gguf", std::process::id()));
        BertFixture::default().write(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(bytes, BertFixture::default().to_bytes().unwrap());
    }
}
