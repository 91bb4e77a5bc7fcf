//! The crate's error type: one enum, variants a user can act on.

use thiserror::Error;

/// Any failure of the library or the command-line tool.
#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Llama(#[from] crate::llama::LlamaError),
    #[error(transparent)]
    Fetch(#[from] crate::models::FetchError),
    #[error(transparent)]
    Npy(#[from] crate::npy::NpyError),
    #[error(transparent)]
    Num(#[from] crate::num_error::NumError),
    #[error(transparent)]
    Gguf(#[from] gguf_tools::GgufError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Input(String),
}

/// Result with the crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An I/O error with the path it concerns.
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}
