//! Steering vectors from contrast prompts: the difference of the last-token
//! states of a positive and a negative text at each chosen layer (the
//! ActAdd / CAA idea on a single pair). Used by the demo and for quick
//! experiments; the ExpertSteer pipeline builds its vectors elsewhere.

use crate::capture::capture_last_token;
use crate::llama::{Context, Positions, Result};
use crate::steer::Steering;

/// `h(positive) - h(negative)` per layer, unscaled.
pub fn contrast_steering(
    ctx: &mut Context<'_>,
    positive: &str,
    negative: &str,
    layers: &[usize],
    chat: bool,
) -> Result<Steering> {
    let texts = [positive.to_string(), negative.to_string()];
    let cap = capture_last_token(ctx, &texts, layers, chat, &mut |_, _| {})?;
    let vectors = layers
        .iter()
        .enumerate()
        .map(|(k, &l)| {
            let d: Vec<f32> = cap
                .row(0, k)
                .iter()
                .zip(cap.row(1, k))
                .map(|(p, n)| p - n)
                .collect();
            (l, d)
        })
        .collect();
    Ok(Steering {
        vectors,
        positions: Positions::All,
    })
}
