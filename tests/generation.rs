//! Generation and sampling on the real default model.

mod common;

use common::*;
use expertsteer::generate::{generate, prompt_tokens, GenerateParams};
use expertsteer::llama::{Context, SamplerParams};

fn sample(seed: u32) -> Vec<i32> {
    let model = smollm2();
    let mut ctx = Context::new(&model, params(false)).unwrap();
    let prompt = prompt_tokens(&model, "Write a short poem about rain.", true).unwrap();
    let p = GenerateParams {
        max_tokens: 24,
        sampler: SamplerParams {
            temperature: 1.0,
            top_k: 50,
            top_p: 0.95,
            seed,
        },
    };
    generate(&mut ctx, &prompt, &p, &mut |_| {}).unwrap().tokens
}

#[test]
fn seeded_sampling_is_reproducible_and_seed_matters() {
    let a = sample(7);
    let b = sample(7);
    assert_eq!(a, b, "same seed, different tokens");
    assert!(!a.is_empty());
    let others: Vec<Vec<i32>> = (8..11).map(sample).collect();
    assert!(others.iter().any(|o| *o != a), "the seed has no effect");
}

#[test]
fn chat_generation_streams_the_same_text_it_returns() {
    let model = smollm2();
    let mut ctx = Context::new(&model, params(false)).unwrap();
    let prompt = prompt_tokens(&model, "What is 2 + 2?", true).unwrap();
    let text_chat = model
        .apply_chat_template(&[("user", "What is 2 + 2?")], true)
        .unwrap();
    assert!(text_chat.contains("What is 2 + 2?") && text_chat.len() > 20);
    let mut streamed = String::new();
    let g = generate(&mut ctx, &prompt, &GenerateParams::default(), &mut |t| {
        streamed.push_str(t)
    })
    .unwrap();
    assert_eq!(streamed, g.text);
    assert!(!g.tokens.is_empty());
    assert_eq!(model.detokenize(&g.tokens), g.text);
}
