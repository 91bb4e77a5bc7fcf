//! Applying steering vectors at inference (METHOD.md step 4).
//!
//! Two paths give the same numbers: llama.cpp's control vector (static,
//! all positions, blocks 1.., fastest) and our eval callback (any block,
//! generated-only positions). [`apply`] picks the control vector whenever
//! the request allows it.

use crate::llama::{Context, HookPlan, LlamaError, Positions, Result};
use std::collections::BTreeMap;

/// Vectors to add, already scaled: layer (0-based block) → n_embd floats.
#[derive(Debug, Clone, Default)]
pub struct Steering {
    /// Layer (0-based block, `l_out-N`) → the vector added to its output.
    pub vectors: BTreeMap<usize, Vec<f32>>,
    /// Which token positions receive the vectors.
    pub positions: Positions,
}

/// The largest steering-vector norm llama.cpp's f32 arithmetic survives:
/// the next block's RMS norm sums the squares of the hidden state, which
/// overflow f32 above √f32::MAX ≈ 1.8e19, and every later value is NaN.
pub const MAX_VECTOR_NORM: f64 = 1.8e19;

/// The first vector (layer, its L2 norm) that is non-finite or whose norm
/// reaches [`MAX_VECTOR_NORM`], if any.
pub fn first_overflowing(vectors: &BTreeMap<usize, Vec<f32>>) -> Option<(usize, f64)> {
    vectors.iter().find_map(|(&l, v)| {
        let norm = v.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
        let fits = norm.is_finite() && norm < MAX_VECTOR_NORM; // NaN is not finite
        (!fits).then_some((l, norm))
    })
}

/// The error for a vector [`first_overflowing`] found.
fn overflow_error(layer: usize, norm: f64) -> LlamaError {
    LlamaError::Invalid(format!(
        "the steering vector for layer {layer} has norm {norm:.3e}: llama.cpp's f32 \
         arithmetic overflows above {MAX_VECTOR_NORM:.1e}, so the model would only \
         produce NaN; use a smaller strength"
    ))
}

/// Which mechanism carries the steering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SteerPath {
    /// `llama_set_adapter_cvec`.
    ControlVector,
    /// The eval callback.
    Callback,
}

impl Steering {
    /// The fastest path that can do what is asked.
    pub fn best_path(&self) -> SteerPath {
        if self.positions == Positions::All && !self.vectors.contains_key(&0) {
            SteerPath::ControlVector
        } else {
            SteerPath::Callback
        }
    }

    /// Multiplies every vector by `factor`.
    pub fn scaled(&self, factor: f32) -> Steering {
        Steering {
            vectors: self
                .vectors
                .iter()
                .map(|(&l, v)| (l, v.iter().map(|x| x * factor).collect()))
                .collect(),
            positions: self.positions,
        }
    }
}

/// Installs `steering` on `ctx` (replacing earlier steering) through
/// `path`, or the best path when None. Returns the path used.
pub fn apply(
    ctx: &mut Context<'_>,
    steering: &Steering,
    path: Option<SteerPath>,
) -> Result<SteerPath> {
    if let Some((layer, norm)) = first_overflowing(&steering.vectors) {
        return Err(overflow_error(layer, norm));
    }
    let path = path.unwrap_or_else(|| steering.best_path());
    match path {
        SteerPath::ControlVector => {
            if steering.positions != Positions::All {
                return Err(LlamaError::Invalid(
                    "control vectors steer every position; generated-only needs the callback"
                        .into(),
                ));
            }
            ctx.clear_hook_plan();
            ctx.set_control_vector(&steering.vectors)?;
        }
        SteerPath::Callback => {
            ctx.clear_control_vector();
            ctx.set_hook_plan(&HookPlan {
                add: steering.vectors.clone(),
                positions: steering.positions,
                ..Default::default()
            })?;
        }
    }
    Ok(path)
}

/// Steers only sequence `seq` of `ctx` (callback path; other sequences
/// keep the default steering). Sequences decoded in one batch can each
/// carry their own steering this way; control vectors cannot.
pub fn apply_to_sequence(ctx: &mut Context<'_>, seq: i32, steering: &Steering) -> Result<()> {
    if let Some((layer, norm)) = first_overflowing(&steering.vectors) {
        return Err(overflow_error(layer, norm));
    }
    ctx.set_seq_steering(seq, &steering.vectors, steering.positions)
}

/// Removes all steering from `ctx`.
pub fn clear(ctx: &mut Context<'_>) {
    ctx.clear_control_vector();
    ctx.clear_hook_plan();
}
