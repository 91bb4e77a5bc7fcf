//! # expertsteer-core
//!
//! What an application that already runs llama.cpp links to use
//! expertsteer: the steering-file format ([`steerfile`]), steering vectors
//! ready to apply ([`steering`]), the per-sequence eval-callback hook
//! ([`hook`], feature `hook`), and the JSON Lines data forms
//! ([`dataset`]). It contains no llama.cpp code: the hook only reads
//! llama.cpp's C types, and the three ggml functions it calls are handed
//! to it ([`hook::GgmlFns`]). So the C ABI (`capi/`, built on
//! this crate) never brings a second copy of llama.cpp into a process.
//!
//! The `expertsteer` crate re-exports all of it and adds the rest: model
//! loading, contexts, generation, the offline pipeline.
//!
//! ```
//! use expertsteer_core::steerfile::SteerFile;
//! use expertsteer_core::steering::Positions;
//! # fn demo(bytes: &[u8]) -> Result<(), expertsteer_core::steerfile::FileError> {
//! let file = SteerFile::from_bytes(bytes, "code.steer")?;
//! file.check_shape(30, 576, "SmolLM2-135M")?;
//! let s = file.steering(Some(0.1), Positions::All); // s_j = 0.1 · r_j per layer
//! for (layer, v) in &s.vectors {
//!     println!("l_out-{layer}: {} floats", v.len());
//! }
//! # Ok(()) }
//! ```

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod atomic_file;
pub mod dataset;
// The callback llama.cpp calls: the one place here that needs `unsafe`.
#[cfg(feature = "hook")]
#[allow(unsafe_code)]
pub mod hook;
pub mod llama_error;
pub mod steerfile;
pub mod steering;
pub mod testing;

/// The raw llama.cpp bindings the hook's types come from (one pinned
/// version; its functions are not linked by this crate).
#[cfg(feature = "hook")]
pub use llama_cpp_sys_2 as sys;
