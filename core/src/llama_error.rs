//! Errors of the llama.cpp layer (model, context, decode, steering
//! vectors), phrased for the user; the hook and expertsteer's safe llama.cpp
//! wrappers share them.

use thiserror::Error;

/// Everything that can go wrong below the safe layer, phrased for the user.
#[derive(Debug, Error)]
pub enum LlamaError {
    /// The model path names no file.
    #[error("model file {path} does not exist")]
    MissingFile {
        /// The path as given.
        path: String,
    },
    /// The file failed our GGUF checks before llama.cpp saw it.
    #[error("{path} is not a loadable GGUF model: {reason}")]
    BadModelFile {
        /// The path as given.
        path: String,
        /// What the check found.
        reason: String,
    },
    /// llama.cpp refused the file (its log says why).
    #[error("llama.cpp could not load {path} (see the log with EXPERTSTEER_LOG=1)")]
    LoadFailed {
        /// The path as given.
        path: String,
    },
    /// llama.cpp could not create a context (memory, unsupported sizes).
    #[error("llama.cpp could not create a context: {0}")]
    ContextFailed(String),
    /// Text could not be turned into tokens.
    #[error("tokenization failed: {0}")]
    Tokenize(String),
    /// `llama_decode` failed or was given an unusable batch.
    #[error("decode failed: {0}")]
    Decode(String),
    /// A layer (0-based block) beyond the model's last block.
    #[error(
        "layer {layer} is out of range: the model has blocks 0..{}",
        n_layer.saturating_sub(1)
    )]
    LayerOutOfRange {
        /// The layer asked for.
        layer: usize,
        /// The model's block count.
        n_layer: usize,
    },
    /// A vector whose length is not the model's n_embd.
    #[error("vector for layer {layer} has {got} values, the model's n_embd is {n_embd}")]
    VectorLength {
        /// The layer the vector was for.
        layer: usize,
        /// Its length.
        got: usize,
        /// The model's hidden size.
        n_embd: usize,
    },
    /// A vector holding NaN or infinity.
    #[error("vector for layer {layer} holds a non-finite value at index {index}")]
    NonFinite {
        /// The layer the vector was for.
        layer: usize,
        /// The first bad index.
        index: usize,
    },
    /// The architecture's graph has no `l_out-N` tensor to steer or capture.
    #[error(
        "this model's graph never names l_out-{layer} (architecture {arch}): \
         hidden-state steering and capture are not supported for it"
    )]
    NoLayerOutput {
        /// The first layer found missing.
        layer: usize,
        /// The model's architecture name.
        arch: String,
    },
    /// Block 0 asked of llama.cpp's control vector, which cannot hold it.
    #[error("llama.cpp's control-vector path cannot steer block 0; use the callback path")]
    CvecBlockZero,
    /// `llama_set_adapter_cvec` returned an error code.
    #[error("llama.cpp rejected the control vector (code {0})")]
    CvecRejected(i32),
    /// The eval callback met a problem during a decode.
    #[error("eval callback failed: {0}")]
    Hook(String),
    /// The model's chat template could not be applied.
    #[error("chat template: {0}")]
    ChatTemplate(String),
    /// Any other invalid argument, described.
    #[error("{0}")]
    Invalid(String),
}

/// Result type of the safe llama.cpp layer.
pub type Result<T> = std::result::Result<T, LlamaError>;

/// Checks a per-layer vector before it reaches llama.cpp: right length, all finite.
pub fn check_vector(layer: usize, v: &[f32], n_embd: usize) -> Result<()> {
    if v.len() != n_embd {
        return Err(LlamaError::VectorLength {
            layer,
            got: v.len(),
            n_embd,
        });
    }
    if let Some(index) = v.iter().position(|x| !x.is_finite()) {
        return Err(LlamaError::NonFinite { layer, index });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::LlamaError;

    #[test]
    fn layer_out_of_range_names_the_last_block() {
        let e = LlamaError::LayerOutOfRange {
            layer: 30,
            n_layer: 30,
        };
        assert_eq!(
            e.to_string(),
            "layer 30 is out of range: the model has blocks 0..29"
        );
    }
}
