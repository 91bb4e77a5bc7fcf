//! Model files that made llama.cpp abort the whole process (GGML_ASSERT,
//! huge allocations) are refused by our own GGUF check with an error that
//! names the problem. Each class is a mutated tiny fixture; each is first
//! loaded in a child process (`expertsteer inspect`), so a regression shows
//! as a failed assertion on its exit status, not as a dead test harness,
//! and only then in this process.
//!
//! The corpus, one test per class: repeated tokens (also through a NUL
//! byte, which ends a token for llama.cpp, and a real SmolLM2 file with one
//! vocabulary byte zeroed), an all-empty vocabulary, block counts outside
//! llama.cpp's limits, negative or NaN normalisation epsilons, unknown or
//! vocabulary-less tokenizers, integer matrices, NaN weights.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::*;
use expertsteer::llama::{Model, ModelParams};
use gguf_tools::{Array, GgmlType, GgufFile, GgufWriter, Value};
use std::path::PathBuf;
use std::process::Command;

/// A copy of the tiny 64 x 2 fixture with metadata `key` set to `value`
/// (added when absent, dropped when `None`) and, optionally, one tensor
/// replaced by one of the given type whose every byte is `fill`.
fn mutated(
    name: &str,
    meta: &[(&str, Option<Value>)],
    retype: Option<(&str, GgmlType, u8)>,
) -> PathBuf {
    let src = GgufFile::open(fixture(64, 2)).unwrap();
    let mut w = GgufWriter::new();
    for (k, v) in src.metadata() {
        match meta.iter().find(|(mk, _)| mk == k) {
            Some((_, Some(new))) => w.add_metadata(k.clone(), new.clone()).unwrap(),
            Some((_, None)) => {}
            None => w.add_metadata(k.clone(), v.clone()).unwrap(),
        }
    }
    for (k, v) in meta {
        if src.get(k).is_none() {
            if let Some(v) = v {
                w.add_metadata(k.to_string(), v.clone()).unwrap();
            }
        }
    }
    for t in src.tensors() {
        match retype {
            Some((n, ty, fill)) if n == t.name => {
                let bytes = ty.tensor_bytes(&t.dims).unwrap() as usize;
                w.add_tensor_raw(&t.name, &t.dims, ty, vec![fill; bytes])
                    .unwrap();
            }
            _ => {
                let data = src.read_tensor_bytes(&t.name).unwrap();
                w.add_tensor_raw(&t.name, &t.dims, t.ggml_type, data)
                    .unwrap();
            }
        }
    }
    let p = scratch("hostile").join(format!("{name}.gguf"));
    w.write_file(&p).unwrap();
    p
}

fn tokens() -> Vec<String> {
    gguf_tools::fixture::fixture_vocab().0
}

/// Loads `path` in a child process, then here; both must fail cleanly with
/// an error containing `want`.
fn refused(path: &std::path::Path, want: &str) {
    let o = Command::new(env!("CARGO_BIN_EXE_expertsteer"))
        .args(["inspect", "--model", path.to_str().unwrap()])
        .output()
        .expect("run expertsteer");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}: the process did not survive with a clean error: {err}",
        path.display()
    );
    assert!(err.contains(want), "{}: {err}", path.display());
    let e = match Model::load(path, &ModelParams::default()) {
        Ok(_) => panic!("{} loaded", path.display()),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("not a loadable GGUF model"), "{e}");
    assert!(e.contains(want), "{e}");
}

#[test]
fn a_nul_byte_that_makes_a_token_repeat_another_is_refused() {
    // llama.cpp reads a token up to its first NUL byte.
    let mut t = tokens();
    t[10] = format!("{}\0zz", t[11]);
    let p = mutated(
        "nul-in-token",
        &[("tokenizer.ggml.tokens", Some(Array::String(t).into()))],
        None,
    );
    refused(&p, "tokens 10 and 11");
}

#[test]
fn smollm2_with_one_vocabulary_byte_zeroed_is_refused() {
    // The report's file: byte 38,950 of SmolLM2-135M-Instruct zeroed turns
    // token 2898 "Ġmental" into "Ġme\0tal", which llama.cpp reads as "Ġme",
    // a token it already has: GGML_ASSERT in llama-vocab.cpp, exit 134.
    let mut bytes = std::fs::read(smollm2_path()).unwrap();
    assert_eq!(&bytes[38_946..38_954], "Ġmental".as_bytes());
    bytes[38_950] = 0;
    let p = scratch("hostile").join("smollm2-zeroed-38950.gguf");
    std::fs::write(&p, bytes).unwrap();
    refused(&p, "2898");
    let _ = std::fs::remove_file(&p);
}

#[test]
fn duplicate_tokens_are_refused() {
    let mut t = tokens();
    t[10] = t[11].clone();
    let p = mutated(
        "duplicate-tokens",
        &[("tokenizer.ggml.tokens", Some(Array::String(t).into()))],
        None,
    );
    refused(&p, "tokens 10 and 11");
}

#[test]
fn all_empty_tokens_are_refused() {
    let t = vec![String::new(); tokens().len()];
    let p = mutated(
        "empty-tokens",
        &[("tokenizer.ggml.tokens", Some(Array::String(t).into()))],
        None,
    );
    refused(&p, "are empty");
}

#[test]
fn block_counts_outside_llama_cpp_limits_are_refused() {
    for (name, n) in [("blocks-0", 0u32), ("blocks-2e31", 1 << 31)] {
        let p = mutated(name, &[("llama.block_count", Some(Value::U32(n)))], None);
        refused(&p, "llama.block_count");
    }
}

#[test]
fn negative_or_nan_rms_epsilons_are_refused() {
    for (name, eps) in [("eps-negative", -1e-5f32), ("eps-nan", f32::NAN)] {
        let p = mutated(
            name,
            &[(
                "llama.attention.layer_norm_rms_epsilon",
                Some(Value::F32(eps)),
            )],
            None,
        );
        refused(&p, "layer_norm_rms_epsilon");
    }
}

#[test]
fn unknown_or_vocabulary_less_tokenizers_are_refused() {
    for (name, model) in [("tok-unknown", "sentencepiece-9000"), ("tok-none", "none")] {
        let p = mutated(
            name,
            &[("tokenizer.ggml.model", Some(Value::from(model)))],
            None,
        );
        refused(&p, "tokenizer.ggml.model");
    }
}

#[test]
fn integer_matmul_weights_are_refused() {
    let p = mutated(
        "i8-weight",
        &[],
        Some(("blk.0.attn_q.weight", GgmlType::I8, 0)),
    );
    refused(&p, "blk.0.attn_q.weight");
}

#[test]
fn the_unmutated_copy_still_loads() {
    // The mutation helper itself changes nothing else.
    let p = mutated("copy", &[], None);
    let m = Model::load(&p, &ModelParams::default()).unwrap();
    assert_eq!((m.n_layer(), m.n_embd()), (2, 64));
}

#[test]
fn nan_logits_make_generate_fail_instead_of_printing_nothing() {
    // Not refused at load (weights are not scanned), but a model whose
    // hidden states overflow or hold NaN must not "generate" empty text.
    let p = mutated(
        "nan-norm",
        &[],
        Some(("output_norm.weight", GgmlType::F32, 0xff)), // every float NaN
    );
    let model = Model::load(&p, &ModelParams::default()).unwrap();
    let mut ctx = expertsteer::Context::new(&model, params(false)).unwrap();
    let prompt = model.tokenize("hello", true, false).unwrap();
    let e = expertsteer::generate(
        &mut ctx,
        &prompt,
        &expertsteer::GenerateParams::default(),
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("NaN logits"), "{e}");
}
