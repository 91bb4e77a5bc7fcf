//! Safe wrappers around llama.cpp (through `llama-cpp-sys-2`).
//!
//! This module is the only place in the crate that uses `unsafe`; every
//! block carries a `// SAFETY:` comment. Everything above it is safe Rust.
//!
//! Layers are 0-based transformer blocks throughout: layer `i` is the tensor
//! llama.cpp names `l_out-i`, the residual stream after block `i`.

mod backend;
mod batch;
mod context;
pub mod context_size;
mod gguf_native;
mod model;
mod model_check;
pub mod rpc;
mod sampler;

/// The raw llama.cpp bindings this crate is built on (one pinned version),
/// for applications that create their own contexts and install a
/// [`SteerHook`] into them.
pub use llama_cpp_sys_2 as sys;

pub use backend::init_backend;
pub use batch::Batch;
pub use context::{default_threads, linked_ggml_fns, Context, ContextParams};
pub use expertsteer_core::hook::{CaptureRows, GgmlFns, HookPlan, SteerHook};
pub(crate) use expertsteer_core::llama_error::check_vector;
pub use expertsteer_core::llama_error::{LlamaError, Result};
pub use expertsteer_core::steering::Positions;
pub use gguf_native::read_control_vector_native;
pub use model::{Model, ModelParams, Token};
pub use sampler::{Sampler, SamplerParams};
