//! # expertsteer
//!
//! Steer quantized GGUF language models running in llama.cpp with
//! knowledge taken from a *different* expert model (ExpertSteer,
//! arXiv 2505.12313; see `METHOD.md` in the shared docs), or with any
//! vector: a contrast pair, a self-steering baseline, a llama.cpp control
//! vector.
//!
//! The crate reads like the pipeline:
//! [`llama`] (the only `unsafe`: model, context, batch, sampler, eval-callback
//! hook, control vector) → [`pipeline`], the offline steps: labelled
//! [`pipeline::dataset`] → [`pipeline::capture`] /
//! [`pipeline::capture_store`] (hidden states) → [`pipeline::align`] →
//! [`pipeline::pairing`] → [`pipeline::rfm`], with [`pipeline::baselines`],
//! [`pipeline::fit`] (the steps end to end) and
//! [`pipeline::direction_check`] → [`steering`], the file and its use:
//! [`steering::steerfile`] (the `.steer` file), [`steering::steering_io`]
//! (every kind of steering source), [`steering::steer`] (apply vectors
//! through the control-vector fast path or the callback) → [`generate`]
//! and `serve` (feature `server`). [`map`] fits the token-level map from an
//! expert's layers into a target's, once per model pair, on the generic
//! text of [`corpus`]; [`perplexity`] judges steered text.
//! [`layer_list`] parses layer lists (`1,4,8-10`) against a model; [`stop`]
//! finds stop strings for the server and the harness. Around them:
//! [`models`] fetches the default models through [`registry`]; [`cache`],
//! [`hash`] and [`atomic_file`] hold the cache paths, content hashes and
//! the one atomic file writer. Two crates of the workspace build on this
//! one and are not part of it: the evaluation harness (`eval/`,
//! `expertsteer-eval`: benchmark loaders, scoring, HumanEval in a sandbox)
//! and the command-line tool (`cli/`), which only turns flags into calls
//! of the two. The modules of
//! `pipeline/` and `steering/` are also re-exported at the crate root
//! under their earlier paths (`expertsteer::fit`, `expertsteer::steer`, …).
//!
//! Units, everywhere: a *layer* is a 0-based block, the output llama.cpp
//! names `l_out-N`; a `.steer` file's *strength* c is relative to each
//! layer's mean hidden-state norm (s_j = c · r_j).
//!
//! ## Steering with a file
//!
//! ```no_run
//! use expertsteer::{apply, generate, models, prompt_tokens, Context, ContextParams};
//! use expertsteer::{GenerateParams, Model, ModelParams, Positions, SteerFile};
//!
//! let path = models::resolve("smollm2-135m-instruct")?; // fetched once, then cached
//! let model = Model::load(&path, &ModelParams::default())?;
//! let file = SteerFile::read("coding.steer".as_ref())?;
//! model.check_steer_file(&file)?;
//! let mut ctx = Context::new(&model, ContextParams::default())?;
//! // Strength 0.1 of each layer's mean norm; None would use the file's default.
//! apply(&mut ctx, &file.steering(Some(0.1), Positions::All), None)?;
//! let prompt = prompt_tokens(&model, "How do I reverse a list in Python?", true)?;
//! let out = generate(&mut ctx, &prompt, &GenerateParams::default(), &mut |t| print!("{t}"))?;
//! println!("\n{} tokens", out.tokens.len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Making a file
//!
//! ```no_run
//! use expertsteer::{fit_to_file, models, FitConfig};
//! use std::path::Path;
//!
//! let expert = models::resolve("qwen2.5-coder-0.5b-instruct")?;
//! let target = models::resolve("smollm2-135m-instruct")?;
//! let out = fit_to_file(
//!     Some(&expert),
//!     &target,
//!     Path::new("data.jsonl"), // {"text": ..., "label": 0|1, "group": ...} per line
//!     Path::new("coding.steer"),
//!     &FitConfig::default(),
//!     &mut |stage, done, total| eprintln!("{stage} {done}/{total}"),
//! )?;
//! println!("steered target layers: {:?}", out.layers.iter().map(|l| l.target_layer).collect::<Vec<_>>());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Features
//!
//! `server` (default) is the OpenAI-compatible HTTP server (axum, tokio);
//! `plot` (default) draws the MI heat-map as a PNG with plotters. A
//! library user who needs neither sets `default-features = false`. `cuda`,
//! `metal` and `dynamic-link` pass through to llama.cpp's build.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub use expertsteer_core::atomic_file;
pub mod cache;
pub mod corpus;
pub mod demo;
pub mod error;
pub mod generate;
pub mod hash;
pub mod layer_list;
pub mod linalg;
// The FFI layer is the one place that needs `unsafe`.
#[allow(unsafe_code)]
pub mod llama;
pub mod map;
pub mod models;
pub mod npy;
pub mod num_error;
pub mod perplexity;
pub mod pipeline;
#[cfg(feature = "plot")]
pub mod plot;
pub mod registry;
pub mod rng;
#[cfg(feature = "server")]
pub mod serve;
pub mod steering;
pub mod stop;

// The modules under their paths from before `pipeline/` and `steering/`
// existed; examples, tests and outside code use them.
pub use pipeline::{align, baselines, capture, capture_store, direction_check, fit, pairing, rfm};
pub use steering::{contrast, steer, steerfile, steering_io};

pub use error::{Error, Result};
pub use generate::{generate, generate_until, prompt_tokens, GenerateParams, Generation};
pub use llama::{Context, ContextParams, Model, ModelParams, Positions, SteerHook};
pub use pipeline::fit::{fit_to_file, run_fit, FitConfig, FitOutput};
pub use steering::steer::{apply, SteerPath, Steering};
pub use steering::steerfile::SteerFile;
pub use steering::steering_io::{steering_from_sources, ModelShape, SteeringSource};
