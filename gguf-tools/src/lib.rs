//! Inspect GGUF files, read and write llama.cpp control vectors, and write
//! tiny random-weight llama and BERT models for tests.
//!
//! * [`GgufFile`] reads GGUF v2/v3 files safely: every count and length is
//!   checked against the file size before use, and every malformed input
//!   gives a [`GgufError`] naming the file, field and byte offset.
//! * [`GgufWriter`] writes GGUF v3 files with ggml's layout and padding.
//! * [`ControlVector`] reads and writes the `direction.K` files that
//!   llama.cpp's `--control-vector` loads (see [`cvec`] for how `K` maps to
//!   layers).
//! * [`LlamaFixture`] writes a small llama model that llama.cpp loads and
//!   runs, with a byte-level vocabulary.
//! * [`BertFixture`] writes a small BERT encoder with the same vocabulary:
//!   an architecture whose llama.cpp graph never names `l_out-N`, for
//!   testing that steering refuses it.
//!
//! # Example
//!
//! ```
//! use gguf_tools::{ControlVector, GgufFile, LlamaFixture};
//!
//! // A 2-block model with the default sizes (n_embd 64).
//! let model = GgufFile::parse(&LlamaFixture::default().to_bytes()?)?;
//! let n_embd = model.get("llama.embedding_length").and_then(|v| v.as_u64());
//! assert_eq!(n_embd, Some(64));
//!
//! // Steer the output of block 1 (graph tensor l_out-1).
//! let mut cv = ControlVector::new(64);
//! cv.directions.insert(1, vec![0.01; 64]);
//! let back = ControlVector::from_gguf_bytes(&cv.to_gguf_bytes()?)?;
//! assert_eq!(back, cv);
//! # Ok::<(), gguf_tools::GgufError>(())
//! ```

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod cvec;
pub mod error;
pub mod fixture;
pub mod fixture_no_lout;
pub mod ggml_type;
pub mod half;
pub mod reader;
pub mod report;
pub mod value;
pub mod writer;

pub use cvec::ControlVector;
pub use error::{GgufError, Result};
pub use fixture::LlamaFixture;
pub use fixture_no_lout::BertFixture;
pub use ggml_type::GgmlType;
pub use reader::{GgufFile, GgufHeader, TensorInfo};
pub use value::{Array, Value, ValueType};
pub use writer::GgufWriter;
