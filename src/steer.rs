//! Applying steering vectors at inference (METHOD.md step 4).
//!
//! Two paths give the same numbers: llama.cpp's control vector (static,
//! all positions, blocks 1.., fastest) and our eval callback (any block,
//! generated-only positions). [`apply`] picks the control vector whenever
//! the request allows it.

use crate::llama::{Context, HookPlan, LlamaError, Positions, Result};
pub use expertsteer_core::steering::{SteerPath, Steering};

/// Installs `steering` on `ctx` (replacing earlier steering) through
/// `path`, or the best path when None. Returns the path used.
pub fn apply(
    ctx: &mut Context<'_>,
    steering: &Steering,
    path: Option<SteerPath>,
) -> Result<SteerPath> {
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
    ctx.set_seq_steering(seq, &steering.vectors, steering.positions)
}

/// Removes all steering from `ctx`.
pub fn clear(ctx: &mut Context<'_>) {
    ctx.clear_control_vector();
    ctx.clear_hook_plan();
}
