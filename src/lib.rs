//! # expertsteer
//!
//! Steer quantized GGUF language models running in llama.cpp with
//! knowledge taken from a *different* expert model (ExpertSteer,
//! arXiv 2505.12313; see `METHOD.md` in the shared docs).
//!
//! The crate reads like the pipeline:
//! [`llama`] (the only `unsafe`: model, context, batch, sampler, eval-callback
//! hook, control vector) → [`capture`] (hidden states) → [`steer`] (apply
//! vectors through the control-vector fast path or the callback) →
//! [`generate`]. [`models`] fetches the default models; [`npy`] moves arrays
//! to and from NumPy. The command-line tool only turns flags into these calls.
//!
//! ```no_run
//! use expertsteer::llama::{Context, ContextParams, Model, ModelParams};
//! use expertsteer::{generate, models, steer};
//!
//! let path = models::resolve("smollm2-135m-instruct")?;
//! let model = Model::load(&path, &ModelParams::default())?;
//! let mut ctx = Context::new(&model, ContextParams::default())?;
//! let mut s = steer::Steering::default();
//! s.vectors.insert(10, vec![0.5; model.n_embd()]);
//! steer::apply(&mut ctx, &s, None)?; // control-vector fast path
//! let prompt = generate::prompt_tokens(&model, "Tell me a story.", true)?;
//! let out = generate::generate(&mut ctx, &prompt, &Default::default(), &mut |t| print!("{t}"))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod align;
pub mod baselines;
pub mod capture;
pub mod capture_store;
pub mod contrast;
pub mod data;
pub mod error;
pub mod eval;
pub mod fit;
pub mod generate;
pub mod linalg;
pub mod llama;
pub mod models;
pub mod npy;
pub mod num_error;
pub mod pairing;
pub mod plot;
pub mod registry;
pub mod rfm;
pub mod rng;
pub mod steer;
pub mod steerfile;

pub use error::{Error, Result};
