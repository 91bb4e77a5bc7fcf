//! What the generation benchmarks (HumanEval, exact-match tasks) share:
//! one sequence, greedy decoding, and a steering condition switched
//! between runs.

use expertsteer::generate::GenerateParams;
use expertsteer::llama::{Context, ContextParams, Model, Positions, SamplerParams};
use expertsteer::steering::steer;
use expertsteer::steering::steerfile::SteerFile;
use expertsteer::Result;

/// A steering file under the label it is logged with.
#[derive(Debug, Clone)]
pub struct LabelledSteer {
    /// The label in logs and tables.
    pub label: String,
    /// The file.
    pub file: SteerFile,
}

/// `all` or `generated`.
pub fn positions_name(p: Positions) -> &'static str {
    match p {
        Positions::All => "all",
        Positions::GeneratedOnly => "generated",
    }
}

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

/// (steering label, strength) of every condition: no steering first, then
/// the file at each non-zero strength, each strength once.
pub fn conditions(steer: Option<&LabelledSteer>, strengths: &[f32]) -> Vec<(String, f32)> {
    let mut out: Vec<(String, f32)> = vec![("none".to_string(), 0.0)];
    if let Some(s) = steer {
        for &c in strengths {
            if c != 0.0 && !out.iter().any(|(_, x)| x.to_bits() == c.to_bits()) {
                out.push((s.label.clone(), c));
            }
        }
    }
    out
}

/// The positions a logged run steered: unsteered runs are the same
/// whatever positions would have been, so they are all `all`.
pub fn positions_label(positions: Positions, steering: &str) -> String {
    if steering == "none" {
        "all".into()
    } else {
        positions_name(positions).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_start_unsteered_and_skip_zero_and_repeated_strengths() {
        assert_eq!(conditions(None, &[0.1, 0.2]), vec![("none".into(), 0.0)]);
        let s = LabelledSteer {
            label: "x".into(),
            file: expertsteer_core::testing::sample_file(),
        };
        let c = conditions(Some(&s), &[0.1, 0.0, 0.2, 0.1]);
        assert_eq!(
            c,
            vec![("none".into(), 0.0), ("x".into(), 0.1), ("x".into(), 0.2)]
        );
        assert_eq!(positions_label(Positions::GeneratedOnly, "none"), "all");
        assert_eq!(positions_label(Positions::GeneratedOnly, "x"), "generated");
    }
}
