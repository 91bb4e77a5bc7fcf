//! Whether a context of `n_ctx` tokens can be made, checked before
//! llama.cpp allocates it: llama.cpp sizes the KV cache from `n_ctx` and
//! only then fails ("could not create a context"), after taking all the
//! memory it could (15.7 GB for `--ctx 4000000000` on SmolLM2-135M).

use super::{LlamaError, Model, Result};

/// Bytes per element of llama.cpp's default KV cache (f16).
const KV_BYTES_PER_ELEMENT: u64 = 2;

/// Bytes of KV cache a context of `n_ctx` tokens takes on `model`: per
/// token and block, a key and a value of `n_head_kv` heads. An upper bound
/// for sliding-window models, whose windowed blocks keep fewer tokens.
pub fn kv_cache_bytes(model: &Model, n_ctx: u64) -> u64 {
    let n_head = model.n_head().max(1) as u64;
    let head_dim = (model.n_embd() as u64 / n_head).max(1);
    let len = |key: &str| {
        model
            .meta(&format!("{}.attention.{key}", model.arch()))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(head_dim)
    };
    let per_token_block = model.n_head_kv() as u64 * (len("key_length") + len("value_length"));
    n_ctx
        .saturating_mul(model.n_layer() as u64)
        .saturating_mul(per_token_block)
        .saturating_mul(KV_BYTES_PER_ELEMENT)
}

/// Memory the kernel says can be had without swapping (Linux'
/// `MemAvailable`); None where it cannot be read.
pub fn available_memory_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}

/// Refuses a context whose KV cache alone would not fit in the available
/// memory, naming the flag that sets it.
pub fn check_fits(model: &Model, n_ctx: u32, n_seq_max: u32) -> Result<()> {
    let need = kv_cache_bytes(model, n_ctx as u64);
    let Some(avail) = available_memory_bytes() else {
        return Ok(());
    };
    if need <= avail {
        return Ok(());
    }
    let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
    let what = if n_seq_max > 1 {
        format!(
            "a context of {n_ctx} tokens ({n_seq_max} sequences of {}; serve: --parallel × --ctx)",
            n_ctx / n_seq_max
        )
    } else {
        format!("a context of {n_ctx} tokens (--ctx)")
    };
    Err(LlamaError::Invalid(format!(
        "{what} needs {:.1} GiB for its KV cache alone, and {:.1} GiB of memory is available; \
         lower --ctx",
        gib(need),
        gib(avail)
    )))
}
