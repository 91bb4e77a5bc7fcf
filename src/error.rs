//! The crate's error type: one enum, variants a user can act on.

use thiserror::Error;

/// Any failure of the library or the command-line tool.
#[derive(Debug, Error)]
pub enum Error {
    /// llama.cpp refused a model, context, batch or steering request.
    #[error(transparent)]
    Llama(#[from] crate::llama::LlamaError),
    /// A model could not be resolved, downloaded or verified.
    #[error(transparent)]
    Fetch(#[from] crate::models::FetchError),
    /// A registry package (benchmark data) could not be downloaded.
    #[error(transparent)]
    Download(#[from] crate::registry::DownloadError),
    /// A tool built on the library failed in its own way (the evaluation
    /// harness's code sandbox could not run a program, say); the source
    /// says what happened.
    #[error(transparent)]
    Tool(Box<dyn std::error::Error + Send + Sync + 'static>),
    /// A `.npy` or raw `.f32` vector file is malformed.
    #[error(transparent)]
    Npy(#[from] crate::npy::NpyError),
    /// A numerical step failed (singular matrix, non-finite values, ...).
    #[error(transparent)]
    Num(#[from] crate::num_error::NumError),
    /// A GGUF file (such as a control vector) is malformed.
    #[error(transparent)]
    Gguf(#[from] gguf_tools::GgufError),
    /// Reading or writing a file failed; `path` is the file concerned.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned (for a write: the destination, never a temp file).
        path: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The request itself is wrong (bad flag, data, layer, shape); the
    /// message says what to change.
    #[error("{0}")]
    Input(String),
}

impl From<crate::steering::steerfile::FileError> for Error {
    fn from(e: crate::steering::steerfile::FileError) -> Error {
        match e {
            crate::steering::steerfile::FileError::Io { path, source } => {
                Error::Io { path, source }
            }
            crate::steering::steerfile::FileError::Invalid(m) => Error::Input(m),
        }
    }
}

impl From<expertsteer_core::dataset::DataError> for Error {
    fn from(e: expertsteer_core::dataset::DataError) -> Error {
        // A bad data file is a bad request: the message names file and line.
        Error::Input(e.to_string())
    }
}

impl From<crate::atomic_file::WriteError> for Error {
    fn from(e: crate::atomic_file::WriteError) -> Error {
        Error::io(e.path, e.source)
    }
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
