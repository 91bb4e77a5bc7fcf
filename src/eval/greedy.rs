//! What the generation benchmarks (HumanEval, exact-match tasks) share:
//! one sequence, greedy decoding, and a steering condition switched
//! between runs.

use crate::eval::code::run::LabelledSteer;
use crate::generate::GenerateParams;
use crate::llama::{Context, ContextParams, Model, Positions, SamplerParams};
use crate::steer;
use crate::Result;

/// A one-sequence context for greedy runs under `steer` at `positions`;
/// the eval callback is installed only when generated-only steering needs it.
pub fn greedy_context<'m>(
    model: &'m Model,
    n_ctx: u32,
    threads: i32,
    positions: Positions,
    steer: Option<&LabelledSteer>,
) -> Result<Context<'m>> {
    Ok(Context::new(
        model,
        ContextParams {
            n_ctx,
            n_batch: 512,
            n_ubatch: 512,
            n_seq_max: 1,
            threads,
            hook: positions == Positions::GeneratedOnly && steer.is_some(),
        },
    )?)
}

/// Greedy decoding of at most `max_tokens`.
pub fn greedy_params(max_tokens: usize) -> GenerateParams {
    GenerateParams {
        max_tokens,
        sampler: SamplerParams {
            temperature: 0.0,
            ..SamplerParams::default()
        },
    }
}

/// Puts `ctx` under one condition: `steer` at strength `c` on `positions`,
/// or no steering when there is no file or `c` is 0.
pub fn set_condition(
    ctx: &mut Context<'_>,
    steer: Option<&LabelledSteer>,
    c: f32,
    positions: Positions,
) -> Result<()> {
    match steer {
        Some(s) if c != 0.0 => {
            steer::apply(ctx, &s.file.steering(Some(c), positions), None)?;
        }
        _ => steer::clear(ctx),
    }
    Ok(())
}
