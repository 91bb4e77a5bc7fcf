//! A model whose llama.cpp graph never names `l_out-N` (a tiny BERT
//! encoder) is detected, and steering or capture on it is refused with a
//! clear error instead of silently doing nothing.

mod common;

use common::*;
use expertsteer::llama::{Batch, Context, HookPlan, LlamaError, Model, ModelParams};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The tiny random-weight BERT written by gguf-tools (n_embd 64, 2 blocks),
/// written once per test process (the tests run on parallel threads).
fn bert_fixture() -> PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let p = scratch("fixtures").join("tiny-bert-64x2.gguf");
        gguf_tools::BertFixture::default()
            .write(&p)
            .expect("write bert fixture");
        p
    })
    .clone()
}

fn bert() -> Model {
    Model::load(bert_fixture(), &ModelParams::default()).expect("llama.cpp loads the bert fixture")
}

fn prompt_batch(model: &Model) -> Batch {
    let tokens = prompt(model);
    let mut batch = Batch::new(64, 1);
    batch.push_sequence(&tokens, 0, 0, true).unwrap();
    batch
}

#[test]
fn bert_fixture_loads_with_its_shape() {
    let model = bert();
    assert_eq!(model.arch(), "bert");
    assert_eq!(model.n_layer(), 2);
    assert_eq!(model.n_embd(), 64);
    assert_eq!(model.n_vocab(), 260);
    assert_eq!(model.n_ctx_train(), 256);
}

#[test]
fn detection_says_bert_has_no_layer_output_and_llama_has() {
    let model = bert();
    assert!(
        !model
            .supports_layer_steering()
            .expect("detection runs without error"),
        "bert's graph never names l_out-N"
    );
    // The same check on a llama fixture says yes, so the answer above comes
    // from the graph and not from the check failing on every model.
    let llama = Model::load(fixture(64, 2), &ModelParams::default()).unwrap();
    assert!(llama.supports_layer_steering().unwrap());
}

#[test]
fn adding_a_vector_at_layer_1_is_refused_by_decode() {
    let model = bert();
    let mut ctx = Context::new(&model, params(true)).unwrap();
    let batch = prompt_batch(&model);

    // Without a plan the encoder runs fine (decode routes to encode).
    ctx.decode(&batch)
        .expect("plain decode of the bert fixture");

    let mut add = BTreeMap::new();
    add.insert(1, pseudo_vector(64, 3, 0.5));
    ctx.set_hook_plan(&HookPlan {
        add,
        ..Default::default()
    })
    .expect("the plan itself is valid");
    let e = ctx.decode(&batch).unwrap_err();
    assert!(
        matches!(&e, LlamaError::NoLayerOutput { layer: 1, arch } if arch == "bert"),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(msg.contains("l_out-1"), "{msg}");
    assert!(msg.contains("architecture bert"), "{msg}");
    assert!(msg.contains("not supported"), "{msg}");

    // Clearing the plan makes decode work again.
    ctx.clear_hook_plan();
    ctx.decode(&batch).expect("decode after clearing the plan");
}

#[test]
fn capturing_a_layer_is_refused_too() {
    let model = bert();
    let mut ctx = Context::new(&model, params(true)).unwrap();
    ctx.set_hook_plan(&HookPlan {
        capture: vec![0],
        ..Default::default()
    })
    .unwrap();
    let e = ctx.decode(&prompt_batch(&model)).unwrap_err();
    assert!(
        matches!(&e, LlamaError::NoLayerOutput { layer: 0, arch } if arch == "bert"),
        "{e:?}"
    );
    assert!(ctx.take_captures().iter().all(Vec::is_empty));
}

#[test]
fn control_vector_on_a_model_without_layer_output_is_refused_not_ignored() {
    let model = bert();
    let mut ctx = Context::new(&model, params(true)).unwrap();
    let mut v = BTreeMap::new();
    v.insert(1, vec![0.5f32; 64]);
    let e = ctx.set_control_vector(&v).unwrap_err();
    assert!(
        matches!(e, LlamaError::NoLayerOutput { layer: 1, .. }),
        "{e}"
    );
    let s = expertsteer::steer::Steering {
        vectors: v,
        ..Default::default()
    };
    assert!(expertsteer::steer::apply(&mut ctx, &s, None).is_err());
}

#[test]
fn encoder_models_have_no_logits_to_sample() {
    let model = bert();
    assert!(!model.is_causal());
    let mut ctx = Context::new(&model, params(false)).unwrap();
    ctx.decode(&prompt_batch(&model)).unwrap();
    let e = ctx.logits(0).unwrap_err().to_string();
    assert!(e.contains("not a causal language model"), "{e}");
}
