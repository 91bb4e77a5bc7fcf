//! How far one layer's direction moves a model's text toward a concept:
//! the target-side layer rule ("steer where the target's own direction
//! moves the concept most").
//!
//! For each layer of a steering file, steered alone at strength c on every
//! position, the texts of a labelled concept file are read teacher-forced.
//! The layer's *shift* is the change, against no steering, of the mean
//! per-token log-likelihood of the concept's positive texts minus that of
//! its negative texts (nats per token): a propensity shift in the sense of
//! Tan et al. 2024 ("Analyzing the generalization and reliability of
//! steering vectors"), read on whole texts instead of one answer token.
//! Its cost is the mean change of per-token negative log-likelihood over
//! all the texts. Strengths are relative (s_j = c · r_j, METHOD.md), so the
//! same c is the same dose at every layer.

use super::steer::{apply, clear, Steering};
use crate::llama::{Context, LlamaError, Positions, Result, Token};
use crate::perplexity::perplexity;
use std::collections::BTreeMap;

/// One layer's steerability.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerSteerability {
    /// The steered block.
    pub layer: usize,
    /// Change of (mean log p of the positive texts − mean log p of the
    /// negative texts), nats per token, steered − unsteered.
    pub shift: f64,
    /// Standard error of `shift` (texts as the unit).
    pub shift_se: f64,
    /// Mean change of per-token NLL over all texts (steered − unsteered):
    /// what the layer's dose costs in fluency on the concept's own texts.
    pub nll_change: f64,
}

/// Mean per-token log-likelihood of each text (every token after the first).
fn log_likelihoods(ctx: &mut Context<'_>, texts: &[Vec<Token>]) -> Result<Vec<f64>> {
    texts
        .iter()
        .map(|t| Ok(-perplexity(ctx, &t[..1], &t[1..])?.ln()))
        .collect()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Sample variance (n − 1); 0 for fewer than two values.
fn variance(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return 0.0;
    }
    let m = mean(v);
    v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64
}

/// Per-text differences `after − before`.
fn deltas(after: &[f64], before: &[f64]) -> Vec<f64> {
    after.iter().zip(before).map(|(a, b)| a - b).collect()
}

/// The shift and its standard error from the per-text changes of the
/// positive and negative texts, and the mean NLL change over both.
pub fn summarise(layer: usize, d_pos: &[f64], d_neg: &[f64]) -> LayerSteerability {
    let all: Vec<f64> = d_pos.iter().chain(d_neg).copied().collect();
    LayerSteerability {
        layer,
        shift: mean(d_pos) - mean(d_neg),
        shift_se: (variance(d_pos) / d_pos.len() as f64 + variance(d_neg) / d_neg.len() as f64)
            .sqrt(),
        nll_change: -mean(&all),
    }
}

/// Measures every layer of `vectors` (already scaled: s_j · u_j) alone on
/// `positive` and `negative` token sequences (each at least 2 tokens and
/// at most one batch). `progress(done, total)` after each layer. Leaves
/// `ctx` unsteered.
pub fn layer_steerability(
    ctx: &mut Context<'_>,
    vectors: &BTreeMap<usize, Vec<f32>>,
    positive: &[Vec<Token>],
    negative: &[Vec<Token>],
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<LayerSteerability>> {
    if positive.is_empty() || negative.is_empty() {
        return Err(LlamaError::Invalid(
            "steerability needs positive and negative texts (labels 1 and 0)".into(),
        ));
    }
    if let Some(t) = positive.iter().chain(negative).find(|t| t.len() < 2) {
        return Err(LlamaError::Invalid(format!(
            "a text of {} token(s): each needs at least 2 to be scored",
            t.len()
        )));
    }
    clear(ctx);
    let base_pos = log_likelihoods(ctx, positive)?;
    let base_neg = log_likelihoods(ctx, negative)?;
    let mut out = Vec::with_capacity(vectors.len());
    for (k, (&layer, v)) in vectors.iter().enumerate() {
        progress(k, vectors.len());
        let one = Steering {
            vectors: BTreeMap::from([(layer, v.clone())]),
            positions: Positions::All,
        };
        let measured = apply(ctx, &one, None).and_then(|_| {
            Ok((
                log_likelihoods(ctx, positive)?,
                log_likelihoods(ctx, negative)?,
            ))
        });
        clear(ctx);
        let (pos, neg) = measured?;
        out.push(summarise(
            layer,
            &deltas(&pos, &base_pos),
            &deltas(&neg, &base_neg),
        ));
    }
    progress(vectors.len(), vectors.len());
    Ok(out)
}

/// The `k` layers with the largest shift toward the concept, in layer
/// order (ties to the earlier layer).
pub fn most_steerable(rows: &[LayerSteerability], k: usize) -> Vec<usize> {
    let mut by_shift: Vec<&LayerSteerability> = rows.iter().collect();
    by_shift.sort_by(|a, b| b.shift.total_cmp(&a.shift).then(a.layer.cmp(&b.layer)));
    let mut layers: Vec<usize> = by_shift.iter().take(k).map(|r| r.layer).collect();
    layers.sort_unstable();
    layers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shift_is_the_positive_gain_over_the_negative_one() {
        let r = summarise(7, &[0.3, 0.5], &[-0.1, 0.1]);
        assert_eq!(r.layer, 7);
        assert!((r.shift - 0.4).abs() < 1e-12);
        // var(pos) = 0.02, var(neg) = 0.02; se = sqrt(0.01 + 0.01)
        assert!((r.shift_se - 0.02f64.sqrt()).abs() < 1e-12);
        // NLL change is minus the mean log-likelihood change.
        assert!((r.nll_change - -0.2).abs() < 1e-12);
    }

    #[test]
    fn a_single_text_per_side_has_no_spread() {
        let r = summarise(0, &[1.0], &[0.5]);
        assert_eq!(r.shift_se, 0.0);
        assert!((r.shift - 0.5).abs() < 1e-12);
    }

    #[test]
    fn most_steerable_takes_the_largest_shifts_in_layer_order() {
        let row = |layer, shift| LayerSteerability {
            layer,
            shift,
            shift_se: 0.0,
            nll_change: 0.0,
        };
        let rows = vec![
            row(4, 0.1),
            row(8, 0.5),
            row(12, -0.2),
            row(16, 0.3),
            row(20, 0.3),
        ];
        assert_eq!(most_steerable(&rows, 2), vec![8, 16]);
        assert_eq!(most_steerable(&rows, 3), vec![8, 16, 20]);
        assert_eq!(most_steerable(&rows, 10), vec![4, 8, 12, 16, 20]);
        assert!(most_steerable(&rows, 0).is_empty());
    }
}
