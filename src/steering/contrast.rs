//! Steering vectors from contrast prompts: the difference of the last-token
//! states of a positive and a negative text at each chosen layer (the
//! ActAdd / CAA idea on a single pair). Used by the demo and for quick
//! experiments; the ExpertSteer pipeline builds its vectors elsewhere.

use crate::llama::{Context, Positions, Result};
use crate::pipeline::capture::capture_last_token;
use crate::steering::steer::Steering;

/// `h(positive) - h(negative)` per layer, unscaled.
pub fn contrast_steering(
    ctx: &mut Context<'_>,
    positive: &str,
    negative: &str,
    layers: &[usize],
    chat: bool,
) -> Result<Steering> {
    mean_difference_steering(
        ctx,
        &[positive.to_string()],
        &[negative.to_string()],
        layers,
        chat,
    )
}

/// `mean h(positive) - mean h(negative)` of the last-token states per
/// layer, unscaled: CAA's direction from many contrast texts, which
/// averages out what single pairs say besides the concept.
pub fn mean_difference_steering(
    ctx: &mut Context<'_>,
    positive: &[String],
    negative: &[String],
    layers: &[usize],
    chat: bool,
) -> Result<Steering> {
    Ok(Contrast::measure(ctx, positive, negative, layers, chat)?.steering())
}

/// The mean last-token states of positive and negative texts per layer:
/// a direction to steer along and a probe to read texts with.
#[derive(Debug, Clone)]
pub struct Contrast {
    /// The layers (0-based blocks), in capture order.
    pub layers: Vec<usize>,
    /// Per layer, the mean state of the positive texts `[n_embd]`.
    pub positive_mean: Vec<Vec<f32>>,
    /// Per layer, the mean state of the negative texts `[n_embd]`.
    pub negative_mean: Vec<Vec<f32>>,
    chat: bool,
}

impl Contrast {
    /// Captures every text's last-token state at `layers` (chat template
    /// when `chat`) and averages each side.
    pub fn measure(
        ctx: &mut Context<'_>,
        positive: &[String],
        negative: &[String],
        layers: &[usize],
        chat: bool,
    ) -> Result<Contrast> {
        if positive.is_empty() || negative.is_empty() {
            return Err(crate::llama::LlamaError::Invalid(
                "a contrast needs at least one positive and one negative text".into(),
            ));
        }
        let texts: Vec<String> = positive.iter().chain(negative).cloned().collect();
        let cap = capture_last_token(ctx, &texts, layers, chat, &mut |_, _| {})?;
        let mean = |rows: std::ops::Range<usize>, k: usize| -> Vec<f32> {
            let n = rows.len() as f32;
            let mut m = vec![0.0f32; cap.row(0, k).len()];
            for t in rows {
                for (x, h) in m.iter_mut().zip(cap.row(t, k)) {
                    *x += h / n;
                }
            }
            m
        };
        let n_pos = positive.len();
        Ok(Contrast {
            layers: layers.to_vec(),
            positive_mean: (0..layers.len()).map(|k| mean(0..n_pos, k)).collect(),
            negative_mean: (0..layers.len())
                .map(|k| mean(n_pos..texts.len(), k))
                .collect(),
            chat,
        })
    }

    /// `positive_mean - negative_mean` per layer, unscaled.
    pub fn steering(&self) -> Steering {
        let vectors = self
            .layers
            .iter()
            .zip(self.positive_mean.iter().zip(&self.negative_mean))
            .map(|(&l, (p, n))| (l, p.iter().zip(n).map(|(a, b)| a - b).collect()))
            .collect();
        Steering {
            vectors,
            positions: Positions::All,
        }
    }

    /// Where each text's last-token state lies on the axis from the
    /// negative mean (−1) to the positive mean (+1), averaged over the
    /// layers: `2 (h − m)·d / |d|²` with `d` the difference and `m` the
    /// midpoint. Read on `ctx` as it is (clear its steering first to read
    /// texts as the unsteered model does).
    pub fn score(&self, ctx: &mut Context<'_>, texts: &[String]) -> Result<Vec<f64>> {
        let cap = capture_last_token(ctx, texts, &self.layers, self.chat, &mut |_, _| {})?;
        Ok((0..texts.len())
            .map(|t| {
                let per_layer: f64 = (0..self.layers.len())
                    .map(|k| {
                        let (p, n) = (&self.positive_mean[k], &self.negative_mean[k]);
                        let (mut num, mut dd) = (0.0f64, 0.0f64);
                        for ((h, a), b) in cap.row(t, k).iter().zip(p).zip(n) {
                            let d = (a - b) as f64;
                            num += (*h as f64 - (a + b) as f64 / 2.0) * d;
                            dd += d * d;
                        }
                        if dd > 0.0 {
                            2.0 * num / dd
                        } else {
                            0.0
                        }
                    })
                    .sum();
                per_layer / self.layers.len() as f64
            })
            .collect())
    }
}
