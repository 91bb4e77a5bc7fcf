//! Shared helpers for the end-to-end tests (real llama.cpp, real models).
#![allow(dead_code)]

use expertsteer::llama::{Batch, Context, ContextParams, Model, ModelParams, Token};
use std::path::PathBuf;
use std::sync::OnceLock;

/// The real default model (fetched into the cache on first use).
pub fn smollm2_path() -> PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        expertsteer::models::resolve("smollm2-135m-instruct").expect("fetch SmolLM2-135M-Instruct")
    })
    .clone()
}

pub fn smollm2() -> Model {
    Model::load(smollm2_path(), &ModelParams::default()).expect("load SmolLM2")
}

/// The repository's root (the workspace folder holding `Cargo.lock`), from
/// whichever member's tests include this file.
pub fn repo_root() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|d| d.join("Cargo.lock").exists())
        .expect("the workspace root holds Cargo.lock")
        .to_path_buf()
}

/// A scratch directory unique to this test process and name.
pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("expertsteer-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A tiny random-weight llama GGUF written by gguf-tools.
pub fn fixture(n_embd: usize, n_layer: usize) -> PathBuf {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let p = scratch("fixtures").join(format!("tiny-{n_embd}x{n_layer}.gguf"));
    if !p.exists() {
        let f = gguf_tools::LlamaFixture {
            n_embd: n_embd as u32,
            n_layer: n_layer as u32,
            ..Default::default()
        };
        f.write(&p).expect("write fixture");
    }
    p
}

/// One thread per context (tests run in parallel on 2 cores), fixed
/// batch split so logits are reproducible.
pub fn params(hook: bool) -> ContextParams {
    ContextParams {
        n_ctx: 256,
        n_batch: 64,
        n_ubatch: 64,
        n_seq_max: 4,
        threads: 1,
        hook,
    }
}

pub fn prompt(model: &Model) -> Vec<Token> {
    model
        .tokenize("The capital of France is a city where", true, false)
        .unwrap()
}

/// Decodes `prompt` then `n_gen` greedy tokens on a fresh sequence;
/// returns the logits row after every decode and the chosen tokens.
pub fn greedy_run(
    ctx: &mut Context<'_>,
    prompt: &[Token],
    n_gen: usize,
) -> (Vec<Vec<f32>>, Vec<Token>) {
    ctx.clear_memory();
    let mut batch = Batch::new(64, 1);
    batch.push_sequence(prompt, 0, 0, true).unwrap();
    ctx.decode(&batch).unwrap();
    let mut rows = vec![ctx.logits(prompt.len() - 1).unwrap().to_vec()];
    let mut toks = Vec::new();
    for k in 0..n_gen {
        let t = argmax(rows.last().unwrap());
        toks.push(t);
        batch.clear();
        batch.push(t, prompt.len() + k, &[0], true).unwrap();
        ctx.decode(&batch).unwrap();
        rows.push(ctx.logits(0).unwrap().to_vec());
    }
    (rows, toks)
}

pub fn argmax(v: &[f32]) -> Token {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best as Token
}

/// Bit-exact equality of two logits histories.
pub fn bit_identical(a: &[Vec<f32>], b: &[Vec<f32>]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits())
        })
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A deterministic pseudo-random vector of `n` values in [-scale, scale].
pub fn pseudo_vector(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32 * scale
        })
        .collect()
}

/// A steering file for SmolLM2 (written by the library's writer) on layers
/// 5, 12 and 20 with pseudo-random unit directions (seeded by `seed`) and
/// r_j = 30, the size of SmolLM2's states: what it steers towards does not
/// matter, only that it is a real file of the right shape.
pub fn random_steer_file(model: &Model, seed: u64, default_strength: f32, path: &std::path::Path) {
    use expertsteer::steerfile::{Method, ModelIdentity, SteerFile, SteerLayer};
    let layers = [5usize, 12, 20]
        .iter()
        .map(|&l| {
            let v = pseudo_vector(model.n_embd(), seed + l as u64, 1.0);
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            SteerLayer {
                target_layer: l,
                expert_layer: None,
                direction: v.iter().map(|x| x / norm).collect(),
                mean_norm: 30.0,
                val_auc: None,
                mi: None,
            }
        })
        .collect();
    let f = SteerFile {
        target: ModelIdentity {
            arch: model.arch().to_string(),
            n_embd: model.n_embd(),
            n_layer: model.n_layer(),
            file_name: "SmolLM2-135M-Instruct.Q4_1.gguf".into(),
            sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53".into(),
        },
        expert: None,
        method: Method::Caa,
        layers,
        default_strength,
        params: Default::default(),
        mi: None,
        data_sha256: "00".repeat(32),
        n_texts: 0,
    };
    f.write(path).unwrap();
}
