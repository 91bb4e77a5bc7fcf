//! Applying steering vectors at inference (METHOD.md step 4).
//!
//! Two paths give the same numbers: llama.cpp's control vector (static,
//! all positions, blocks 1.., fastest) and our eval callback (any block,
//! generated-only positions). [`apply`] picks the control vector whenever
//! the request allows it.

use crate::llama::{Context, HookPlan, LlamaError, Positions, Result};
pub use expertsteer_core::steering::{first_overflowing, SteerPath, Steering, MAX_VECTOR_NORM};

/// The error for a vector [`first_overflowing`] found.
fn overflow_error(layer: usize, norm: f64) -> LlamaError {
    LlamaError::Invalid(format!(
        "the steering vector for layer {layer} has norm {norm:.3e}: llama.cpp's f32 \
         arithmetic overflows above {MAX_VECTOR_NORM:.1e}, so the model would only \
         produce NaN; use a smaller strength"
    ))
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
