//! llama.cpp control vectors (`--control-vector FILE.gguf`).
//!
//! # File format
//!
//! A control vector is a GGUF file with `general.architecture =
//! "controlvector"` and one F32, 1-D tensor of `n_embd` elements per steered
//! layer, named `direction.K`. llama.cpp's loader
//! (`common_control_vector_load_one` in `common/common.cpp`) parses `K` with
//! `std::stoi`, rejects `K == 0`, F16 or other types, tensors that are not
//! 1-D, and lengths that differ between tensors; it ignores the metadata.
//!
//! # Layer numbering
//!
//! llama.cpp stores `direction.K` at slot `K` of `llama_adapter_cvec`, and
//! the graph adds slot `il` to the output of 0-based transformer block `il`
//! just before naming that tensor `l_out-il` (`build_cvec(cur, il)`, then
//! `cb(cur, "l_out", il)`). So:
//!
//! * this project's "layer i" = the output of 0-based block `i` = graph
//!   tensor `l_out-i` = `direction.i` = key `i` of
//!   [`ControlVector::directions`]. No offset is applied anywhere.
//! * Layer 0 (the output of the first block) cannot be steered: llama.cpp
//!   has no slot for it and rejects `direction.0`.
//! * Only `1 ..= n_layer - 1` have an effect; llama.cpp silently ignores
//!   larger `K`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{GgufError, Result};
use crate::ggml_type::GgmlType;
use crate::reader::GgufFile;
use crate::value::Value;
use crate::writer::GgufWriter;

/// `general.architecture` of a control vector file.
pub const CVEC_ARCHITECTURE: &str = "controlvector";
/// Optional metadata key naming the model family the vector was made for.
pub const MODEL_HINT_KEY: &str = "controlvector.model_hint";
/// Informational metadata key holding the number of direction tensors
/// (written by llama.cpp's `cvector-generator` too; llama.cpp does not read
/// it).
pub const LAYER_COUNT_KEY: &str = "controlvector.layer_count";
/// Highest layer index accepted: llama.cpp models have at most 512 blocks
/// (`LLAMA_MAX_LAYERS`), so `direction.512` and above can never apply.
pub const MAX_LAYER: usize = 511;

/// A control vector: one direction of `n_embd` values per steered layer.
///
/// ```
/// use gguf_tools::ControlVector;
///
/// let mut cv = ControlVector::new(4);
/// cv.directions.insert(1, vec![0.5, 0.0, -0.5, 1.0]); // output of block 1
/// let bytes = cv.to_gguf_bytes()?;
/// let back = ControlVector::from_gguf_bytes(&bytes)?;
/// assert_eq!(back.directions, cv.directions);
/// # Ok::<(), gguf_tools::GgufError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ControlVector {
    /// Length of every direction (the model's embedding size).
    pub n_embd: usize,
    /// Direction per layer. The key is the llama.cpp layer index `K` of
    /// tensor `direction.K`, which steers the output of 0-based block `K`
    /// (graph tensor `l_out-K`); it must be in `1..=MAX_LAYER`.
    pub directions: BTreeMap<usize, Vec<f32>>,
    /// Value of `controlvector.model_hint`, if any.
    pub model_hint: Option<String>,
}

fn tensor_name(layer: usize) -> String {
    format!("direction.{layer}")
}

/// The layer index of a `direction.K` tensor name, or why it is not one.
fn parse_layer(name: &str) -> std::result::Result<usize, String> {
    let digits = name
        .strip_prefix("direction.")
        .ok_or_else(|| "name must be 'direction.K' with a layer number K".to_owned())?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "layer index '{digits}' is not a decimal number (expected 'direction.K')"
        ));
    }
    let layer: usize = digits
        .parse()
        .map_err(|_| format!("layer index '{digits}' is too large"))?;
    if layer == 0 {
        return Err(
            "layer index 0 is rejected by llama.cpp (block 0's output cannot be steered)"
                .to_owned(),
        );
    }
    if layer > MAX_LAYER {
        return Err(format!(
            "layer index {layer} is above {MAX_LAYER}, the last layer any llama.cpp model can have"
        ));
    }
    Ok(layer)
}

fn check_finite(file: &str, layer: usize, values: &[f32]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(index) => Err(GgufError::NonFinite {
            file: file.to_owned(),
            tensor: tensor_name(layer),
            index,
            value: values[index],
        }),
    }
}

impl ControlVector {
    /// An empty control vector for a model with embedding size `n_embd`.
    pub fn new(n_embd: usize) -> ControlVector {
        ControlVector {
            n_embd,
            directions: BTreeMap::new(),
            model_hint: None,
        }
    }

    /// Checks what llama.cpp needs: at least one direction, `n_embd > 0`,
    /// every layer in `1..=MAX_LAYER`, every direction `n_embd` long and
    /// finite. `file` names the target in error messages.
    pub fn validate(&self, file: &str) -> Result<()> {
        if self.n_embd == 0 {
            return Err(GgufError::InvalidInput {
                file: file.to_owned(),
                reason: "control vector n_embd is 0".to_owned(),
            });
        }
        if self.directions.is_empty() {
            return Err(GgufError::NotAControlVector {
                file: file.to_owned(),
                reason: "it has no directions (llama.cpp skips such files)".to_owned(),
            });
        }
        for (&layer, values) in &self.directions {
            if let Err(reason) = parse_layer(&tensor_name(layer)) {
                return Err(GgufError::InvalidDirection {
                    file: file.to_owned(),
                    tensor: tensor_name(layer),
                    reason,
                });
            }
            if values.len() != self.n_embd {
                return Err(GgufError::InvalidDirection {
                    file: file.to_owned(),
                    tensor: tensor_name(layer),
                    reason: format!("has {} values, n_embd is {}", values.len(), self.n_embd),
                });
            }
            check_finite(file, layer, values)?;
        }
        Ok(())
    }

    /// L2 norm of each direction, by layer.
    pub fn norms(&self) -> Vec<(usize, f32)> {
        self.directions
            .iter()
            .map(|(&layer, v)| {
                let sum: f64 = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
                (layer, sum.sqrt() as f32)
            })
            .collect()
    }

    fn to_writer(&self, file: &str) -> Result<GgufWriter> {
        self.validate(file)?;
        let mut w = GgufWriter::new();
        w.add_metadata("general.architecture", Value::from(CVEC_ARCHITECTURE))?;
        if let Some(hint) = &self.model_hint {
            w.add_metadata(MODEL_HINT_KEY, Value::from(hint.as_str()))?;
        }
        let count = i32::try_from(self.directions.len()).unwrap_or(i32::MAX);
        w.add_metadata(LAYER_COUNT_KEY, Value::I32(count))?;
        for (&layer, values) in &self.directions {
            w.add_tensor_f32(&tensor_name(layer), &[self.n_embd as u64], values)?;
        }
        Ok(w)
    }

    /// The GGUF file llama.cpp's `--control-vector` loader expects, in
    /// memory: `general.architecture = "controlvector"`, the optional model
    /// hint, `controlvector.layer_count`, and one F32 `direction.K` tensor of
    /// shape `[n_embd]` per layer in ascending order.
    pub fn to_gguf_bytes(&self) -> Result<Vec<u8>> {
        self.to_writer("<memory>")?.to_bytes()
    }

    /// Validates and writes the control vector to `path` (see
    /// [`ControlVector::to_gguf_bytes`] for the layout).
    pub fn write_cvec(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        self.to_writer(&path.display().to_string())?
            .write_file(path)
    }

    /// Reads and checks a control vector file.
    pub fn read_cvec(path: impl AsRef<Path>) -> Result<ControlVector> {
        ControlVector::from_gguf(&GgufFile::open(path)?)
    }

    /// Reads and checks a control vector held in memory.
    pub fn from_gguf_bytes(bytes: &[u8]) -> Result<ControlVector> {
        ControlVector::from_gguf(&GgufFile::parse(bytes)?)
    }

    /// Extracts and checks a control vector from a parsed GGUF file.
    ///
    /// Accepts F32 and F16 directions (llama.cpp itself only loads F32).
    /// Rejects: another `general.architecture`, no tensors, tensor names
    /// other than `direction.K` with `K` in `1..=MAX_LAYER`, two tensors for
    /// one layer, other types, tensors that are not 1-D (trailing
    /// dimensions of 1 are allowed, as in ggml), differing lengths, and
    /// NaN or infinite values.
    pub fn from_gguf(file: &GgufFile) -> Result<ControlVector> {
        let name = file.name().to_owned();
        if let Some(arch) = file.get("general.architecture") {
            if arch.as_str() != Some(CVEC_ARCHITECTURE) {
                return Err(GgufError::NotAControlVector {
                    file: name,
                    reason: format!(
                        "general.architecture is {}, expected \"{CVEC_ARCHITECTURE}\"",
                        arch.display_truncated(4)
                    ),
                });
            }
        }
        if file.tensors().is_empty() {
            return Err(GgufError::NotAControlVector {
                file: name,
                reason: "it has no direction.K tensors".to_owned(),
            });
        }
        let mut cv = ControlVector::new(0);
        cv.model_hint = file
            .get(MODEL_HINT_KEY)
            .and_then(Value::as_str)
            .map(str::to_owned);
        for t in file.tensors() {
            let bad = |reason: String| GgufError::InvalidDirection {
                file: name.clone(),
                tensor: t.name.clone(),
                reason,
            };
            let layer = parse_layer(&t.name).map_err(bad)?;
            if cv.directions.contains_key(&layer) {
                return Err(bad(format!("a second tensor for layer {layer}")));
            }
            if !matches!(t.ggml_type, GgmlType::F32 | GgmlType::F16) {
                return Err(bad(format!(
                    "type {} is not supported (llama.cpp needs F32)",
                    t.ggml_type
                )));
            }
            let n = t.dims.first().copied().unwrap_or(1);
            if t.dims.len() > 1 && t.dims[1..].iter().any(|&d| d != 1) {
                return Err(bad(format!("shape {:?} is not 1-D", t.dims)));
            }
            if n == 0 {
                return Err(bad("has no elements".to_owned()));
            }
            let n = usize::try_from(n).map_err(|_| bad(format!("length {n} is too large")))?;
            if cv.n_embd == 0 {
                cv.n_embd = n;
            } else if n != cv.n_embd {
                return Err(bad(format!(
                    "has {n} values but earlier directions have {}",
                    cv.n_embd
                )));
            }
            let values = file.read_tensor_f32(&t.name)?;
            check_finite(&name, layer, &values)?;
            cv.directions.insert(layer, values);
        }
        Ok(cv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_names() {
        assert_eq!(parse_layer("direction.1"), Ok(1));
        assert_eq!(parse_layer("direction.511"), Ok(511));
        assert!(parse_layer("direction.0").is_err());
        assert!(parse_layer("direction.512").is_err());
        assert!(parse_layer("direction.").is_err());
        assert!(parse_layer("direction.-1").is_err());
        assert!(parse_layer("direction.1a").is_err());
        assert!(parse_layer("dir.1").is_err());
        assert!(parse_layer("direction.99999999999999999999999").is_err());
    }
}
