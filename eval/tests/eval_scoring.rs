//! Option scoring on the real default model.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::*;
use expertsteer::llama::{Batch, Context, Model, ModelParams, Token};
use expertsteer_eval::data::McQuestion;
use expertsteer_eval::score::{argmax, log_prob, score_options, tokenize_question, Scoring};

fn question() -> McQuestion {
    McQuestion {
        id: "t1".into(),
        group: "t1".into(),
        source: "test".into(),
        subject: "geography".into(),
        question: "What is the capital city of France?".into(),
        options: vec![
            "Berlin, the capital of Germany".into(),
            "Paris".into(),
            "A small banana".into(),
        ],
        correct: 1,
    }
}

/// Σ log p over the continuation, decoding prefix+continuation from scratch.
fn naive(model: &Model, prefix: &[Token], cont: &[Token]) -> f64 {
    let mut ctx = Context::new(model, params(false)).unwrap();
    let all: Vec<Token> = prefix.iter().chain(cont).copied().collect();
    let mut batch = Batch::new(all.len(), 1);
    for (i, &t) in all.iter().enumerate() {
        batch.push(t, i, &[0], true).unwrap();
    }
    ctx.decode(&batch).unwrap();
    (0..cont.len())
        .map(|k| log_prob(ctx.logits(prefix.len() + k - 1).unwrap(), cont[k]))
        .sum()
}

#[test]
fn branch_scoring_sums_the_right_tokens_and_finds_the_answer() {
    let model = smollm2();
    let mut ctx = Context::new(&model, params(false)).unwrap();
    for scoring in [Scoring::FullText, Scoring::Letter] {
        let (prefix, conts) = tokenize_question(&model, &question(), scoring).unwrap();
        let scores = score_options(&mut ctx, &prefix, &conts).unwrap();
        for (o, c) in conts.iter().enumerate() {
            let want = naive(&model, &prefix, c);
            assert!(
                (scores[o] - want).abs() < 2e-2,
                "{scoring:?} option {o}: branch {} vs naive {want}",
                scores[o]
            );
        }
        if scoring == Scoring::FullText {
            assert!(conts[0].len() > 1, "multi-token options are exercised");
            assert_eq!(argmax(&scores), 1, "Paris: {scores:?}");
        }
    }
}

#[test]
fn an_empty_option_is_refused_by_score_options_not_a_panic() {
    let model = Model::load(fixture(64, 2), &ModelParams::default()).unwrap();
    let mut ctx = Context::new(&model, params(false)).unwrap();
    let prefix = model.tokenize("Question: 1+1?", true, false).unwrap();
    let options = vec![model.tokenize(" 2", false, false).unwrap(), Vec::new()];
    let e = score_options(&mut ctx, &prefix, &options).unwrap_err();
    assert!(e.to_string().contains("no tokens"), "{e}");
}
