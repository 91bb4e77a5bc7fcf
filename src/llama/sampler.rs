//! Token sampling through llama.cpp's sampler chain.

use super::{Context, Result, Token};
use llama_cpp_sys_2 as sys;

/// Sampling settings. `temperature <= 0` means greedy.
#[derive(Debug, Clone)]
pub struct SamplerParams {
    /// Sampling temperature; 0 picks the most likely token (greedy).
    pub temperature: f32,
    /// Keep the `top_k` most likely tokens (0 = off).
    pub top_k: i32,
    /// Keep the smallest set with probability mass ≥ `top_p` (1.0 = off).
    pub top_p: f32,
    /// Seed of the random draw; the same seed gives the same tokens.
    pub seed: u32,
}

impl Default for SamplerParams {
    fn default() -> Self {
        SamplerParams {
            temperature: 0.0,
            top_k: 40,
            top_p: 0.95,
            seed: 42,
        }
    }
}

/// A llama.cpp sampler chain.
pub struct Sampler {
    raw: *mut sys::llama_sampler,
}

impl Sampler {
    /// Greedy when `temperature <= 0`, else top-k → top-p → temperature → seeded draw.
    pub fn new(p: &SamplerParams) -> Sampler {
        Sampler::with_bans(p, 0, &[])
    }

    /// Like [`Sampler::new`], but the tokens in `banned` (ids below
    /// `n_vocab`, the model's vocabulary size) can never be drawn: e.g. the
    /// end-of-generation tokens, to generate an exact number of tokens.
    pub fn with_bans(p: &SamplerParams, n_vocab: usize, banned: &[Token]) -> Sampler {
        let biases: Vec<(Token, f32)> = banned.iter().map(|&t| (t, f32::NEG_INFINITY)).collect();
        Sampler::with_biases(p, n_vocab, &biases)
    }

    /// Like [`Sampler::new`], with `(token, bias)` added to the logits
    /// before sampling (llama.cpp's logit-bias sampler; OpenAI's
    /// `logit_bias`): −∞ bans a token. Ids outside `0..n_vocab` are skipped.
    pub fn with_biases(p: &SamplerParams, n_vocab: usize, biases: &[(Token, f32)]) -> Sampler {
        let biases: Vec<sys::llama_logit_bias> = biases
            .iter()
            .filter(|&&(t, _)| t >= 0 && (t as usize) < n_vocab)
            .map(|&(token, bias)| sys::llama_logit_bias { token, bias })
            .collect();
        // SAFETY: chain creation takes plain params; every sampler added is
        // owned by the chain from then on and freed with it. The bias
        // sampler copies `biases` (valid for the call; ids checked against
        // n_vocab above).
        unsafe {
            let chain = sys::llama_sampler_chain_init(sys::llama_sampler_chain_default_params());
            if !biases.is_empty() {
                sys::llama_sampler_chain_add(
                    chain,
                    sys::llama_sampler_init_logit_bias(
                        n_vocab as i32,
                        biases.len() as i32,
                        biases.as_ptr(),
                    ),
                );
            }
            if p.temperature <= 0.0 {
                sys::llama_sampler_chain_add(chain, sys::llama_sampler_init_greedy());
            } else {
                if p.top_k > 0 {
                    sys::llama_sampler_chain_add(chain, sys::llama_sampler_init_top_k(p.top_k));
                }
                if p.top_p < 1.0 {
                    sys::llama_sampler_chain_add(chain, sys::llama_sampler_init_top_p(p.top_p, 1));
                }
                sys::llama_sampler_chain_add(chain, sys::llama_sampler_init_temp(p.temperature));
                sys::llama_sampler_chain_add(chain, sys::llama_sampler_init_dist(p.seed));
            }
            Sampler { raw: chain }
        }
    }

    /// Samples from the logits of batch entry `i` of the context's last
    /// decode; llama.cpp records the choice in the chain's state.
    pub fn sample(&mut self, ctx: &Context<'_>, i: usize) -> Result<Token> {
        ctx.logits(i)?;
        // SAFETY: both pointers are live and entry `i` has logits (checked).
        Ok(unsafe { sys::llama_sampler_sample(self.raw, ctx.raw(), i as i32) })
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        // SAFETY: the chain owns its samplers and is freed once.
        unsafe { sys::llama_sampler_free(self.raw) }
    }
}
