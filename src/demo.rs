//! `expertsteer demo` as a library: a CAA direction from contrast pairs,
//! then each prompt continued unsteered and steered both ways, every
//! sample with two numbers read by the *unsteered* model: its perplexity
//! (does the text still read as the model's language?) and where the text
//! lies on the concept's axis, from −1 (the average negative example) to
//! +1 (the average positive one) — see [`Contrast::score`].

use crate::generate::{generate, prompt_tokens, GenerateParams};
use crate::llama::{Context, Model, Result};
use crate::perplexity::perplexity;
use crate::steering::contrast::Contrast;
use crate::steering::steer::{self, SteerPath};

/// The contrast pairs shipped with the repository: 100 sentences in a
/// positive and a negative version (`data/concepts/sentiment.jsonl`).
pub const SENTIMENT_PAIRS: &str = include_str!("../data/concepts/sentiment.jsonl");

/// Open prompts the demo continues by default (from
/// `data/concepts/open_prompts.jsonl`).
pub const PROMPTS: [&str; 3] = [
    "Tell me about your weekend.",
    "Write a short review of the restaurant on the corner.",
    "Describe the weather today.",
];

/// The model's own name (`general.name`), else llama.cpp's description
/// (which names the architecture and a rounded size, e.g. "llama 256M
/// Q4_1" for SmolLM2-135M).
pub fn model_name(model: &Model) -> String {
    model
        .meta("general.name")
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| model.description())
}

/// One continuation and its numbers.
#[derive(Debug, Clone)]
pub struct Sample {
    /// `unsteered`, `toward positive` or `toward negative`.
    pub label: &'static str,
    /// The multiplier of the direction (0 = unsteered).
    pub strength: f32,
    /// The continuation.
    pub text: String,
    /// Its perplexity under the unsteered model.
    pub perplexity: f64,
    /// Its place on the concept's axis under the unsteered model: −1 the
    /// average negative example, +1 the average positive one.
    pub score: f64,
    /// Leading tokens it shares with the unsteered continuation.
    pub same_prefix: usize,
    /// How the steering was applied (None when unsteered).
    pub path: Option<SteerPath>,
}

/// One prompt's three samples.
#[derive(Debug, Clone)]
pub struct PromptSamples {
    /// The prompt (sent as a chat user turn).
    pub prompt: String,
    /// Unsteered, toward positive, toward negative.
    pub samples: Vec<Sample>,
}

/// Continues each prompt (chat template, greedy, `max_tokens`) unsteered
/// and steered along `contrast`'s difference scaled by `+strength` and
/// `-strength`; scores every sample on the same context with the steering
/// removed.
pub fn steered_samples(
    ctx: &mut Context<'_>,
    contrast: &Contrast,
    prompts: &[String],
    strength: f32,
    max_tokens: usize,
) -> Result<Vec<PromptSamples>> {
    let model = ctx.model();
    let steering = contrast.steering();
    let params = GenerateParams {
        max_tokens,
        ..Default::default()
    };
    let conditions = [
        ("unsteered", 0.0f32),
        ("toward positive", strength),
        ("toward negative", -strength),
    ];
    let mut out = Vec::with_capacity(prompts.len());
    for prompt in prompts {
        let toks = prompt_tokens(model, prompt, true)?;
        let mut runs = Vec::with_capacity(conditions.len());
        for (label, c) in conditions {
            let path = if c == 0.0 {
                steer::clear(ctx);
                None
            } else {
                Some(steer::apply(ctx, &steering.scaled(c), None)?)
            };
            runs.push((label, c, path, generate(ctx, &toks, &params, &mut |_| {})?));
        }
        steer::clear(ctx);
        let plain = runs[0].3.tokens.clone();
        let texts: Vec<String> = runs.iter().map(|r| r.3.text.trim().to_string()).collect();
        let scores = contrast.score(ctx, &texts)?;
        let mut samples = Vec::with_capacity(runs.len());
        for ((label, strength, path, g), score) in runs.into_iter().zip(scores) {
            samples.push(Sample {
                label,
                strength,
                perplexity: perplexity(ctx, &toks, &g.tokens)?,
                score,
                same_prefix: plain
                    .iter()
                    .zip(&g.tokens)
                    .take_while(|(a, b)| a == b)
                    .count(),
                path,
                text: g.text,
            });
        }
        out.push(PromptSamples {
            prompt: prompt.clone(),
            samples,
        });
    }
    Ok(out)
}
