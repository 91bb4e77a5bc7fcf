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

/// Threads kept between decodes (the server's `--poll`) compute the same
/// graph as threads made per decode: the same tokens, at any poll level,
/// after replacing the pool and changing the thread count.
#[test]
fn kept_threads_give_the_same_text() {
    let model = smollm2();
    let prompt = prompt_tokens(&model, "Name three rivers.", true).unwrap();
    let p = GenerateParams {
        max_tokens: 24,
        ..Default::default()
    };
    let run = |ctx: &mut Context| generate(ctx, &prompt, &p, &mut |_| {}).unwrap().tokens;
    let mut plain = Context::new(&model, params(false)).unwrap();
    let want = run(&mut plain);
    let mut kept = Context::new(&model, params(false)).unwrap();
    kept.keep_threads(50).unwrap();
    assert_eq!(run(&mut kept), want);
    kept.keep_threads(0).unwrap();
    kept.set_threads(1).unwrap();
    assert_eq!(run(&mut kept), want);
    kept.set_threads(2).unwrap();
    assert_eq!(run(&mut kept), want);
}
