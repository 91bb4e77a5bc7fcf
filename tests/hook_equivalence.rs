//! The eval-callback hook against llama.cpp itself, on the real
//! SmolLM2-135M-Instruct (Q4_1) and on tiny gguf-tools fixtures.

mod common;

use common::*;
use expertsteer::llama::{Batch, CaptureRows, Context, HookPlan, Model, ModelParams, Positions};
use expertsteer::steer::{self, SteerPath, Steering};
use std::collections::BTreeMap;

fn check_inert_hooks(model: &Model) {
    let prompt = prompt(model);
    let mut plain = Context::new(model, params(false)).unwrap();
    let (base, _) = greedy_run(&mut plain, &prompt, 4);

    let mut ctx = Context::new(model, params(true)).unwrap();
    let (asking_nothing, _) = greedy_run(&mut ctx, &prompt, 4);
    assert!(
        bit_identical(&base, &asking_nothing),
        "hook asking nothing changed logits"
    );

    ctx.set_hook_plan(&HookPlan {
        capture: (0..model.n_layer()).collect(),
        capture_rows: CaptureRows::All,
        ..Default::default()
    })
    .unwrap();
    let (capturing, _) = greedy_run(&mut ctx, &prompt, 4);
    assert!(
        bit_identical(&base, &capturing),
        "capturing all layers changed logits"
    );
    let caps = ctx.take_captures();
    assert!(
        caps.iter().all(|c| !c.is_empty()),
        "every layer was captured"
    );

    let zeros: BTreeMap<usize, Vec<f32>> = (0..model.n_layer())
        .map(|l| (l, vec![0.0; model.n_embd()]))
        .collect();
    ctx.set_hook_plan(&HookPlan {
        add: zeros,
        ..Default::default()
    })
    .unwrap();
    let (zero, _) = greedy_run(&mut ctx, &prompt, 4);
    assert!(
        bit_identical(&base, &zero),
        "adding zero vectors changed logits"
    );
}

#[test]
fn inert_hooks_leave_logits_bit_identical_on_smollm2() {
    check_inert_hooks(&smollm2());
}

#[test]
fn inert_hooks_leave_logits_bit_identical_on_fixture() {
    let m = Model::load(fixture(64, 2), &ModelParams::default()).unwrap();
    check_inert_hooks(&m);
}

#[test]
fn vector_changes_logits_and_captured_state_is_unsteered_plus_vector() {
    let model = smollm2();
    let prompt = prompt(&model);
    let k = 12;
    let v = pseudo_vector(model.n_embd(), 7, 2.0);
    let mut ctx = Context::new(&model, params(true)).unwrap();
    ctx.set_hook_plan(&HookPlan {
        capture: vec![k],
        capture_rows: CaptureRows::All,
        ..Default::default()
    })
    .unwrap();
    let (base, _) = greedy_run(&mut ctx, &prompt, 0);
    let before = ctx.take_captures().swap_remove(k);

    let mut add = BTreeMap::new();
    add.insert(k, v.clone());
    ctx.set_hook_plan(&HookPlan {
        capture: vec![k],
        capture_rows: CaptureRows::All,
        add,
        ..Default::default()
    })
    .unwrap();
    let (steered, _) = greedy_run(&mut ctx, &prompt, 0);
    let after = ctx.take_captures().swap_remove(k);
    assert!(
        max_abs_diff(&base[0], &steered[0]) > 1e-3,
        "steering did not change logits"
    );
    assert_eq!(before.len(), prompt.len() * model.n_embd());
    assert_eq!(after.len(), before.len());
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        let want = b + v[i % model.n_embd()];
        assert_eq!(a.to_bits(), want.to_bits(), "row value {i}");
    }
}

fn cvec_vs_callback(model: &Model, layers: &[usize]) {
    let prompt = prompt(model);
    let vectors: BTreeMap<usize, Vec<f32>> = layers
        .iter()
        .map(|&l| (l, pseudo_vector(model.n_embd(), l as u64 + 1, 1.5)))
        .collect();
    let s = Steering {
        vectors,
        positions: Positions::All,
    };
    let mut ctx = Context::new(model, params(true)).unwrap();
    let (base, _) = greedy_run(&mut ctx, &prompt, 0);
    assert_eq!(
        steer::apply(&mut ctx, &s, None).unwrap(),
        SteerPath::ControlVector
    );
    let (by_cvec, toks_cvec) = greedy_run(&mut ctx, &prompt, 8);
    steer::apply(&mut ctx, &s, Some(SteerPath::Callback)).unwrap();
    let (by_callback, toks_callback) = greedy_run(&mut ctx, &prompt, 8);
    assert!(
        max_abs_diff(&base[0], &by_cvec[0]) > 1e-3,
        "layers {layers:?}: no effect"
    );
    assert!(
        bit_identical(&by_cvec, &by_callback),
        "layers {layers:?}: cvec and callback logits differ (max {})",
        max_abs_diff(&by_cvec[0], &by_callback[0])
    );
    assert_eq!(toks_cvec, toks_callback);
}

#[test]
fn callback_and_control_vector_are_bit_identical_on_smollm2() {
    let m = smollm2();
    let last = m.n_layer() - 1;
    for layers in [
        vec![1],
        vec![last / 2],
        vec![last],
        (1..=last).collect::<Vec<_>>(),
    ] {
        cvec_vs_callback(&m, &layers);
    }
}

#[test]
fn callback_and_control_vector_are_bit_identical_on_fixture() {
    let m = Model::load(fixture(64, 3), &ModelParams::default()).unwrap();
    cvec_vs_callback(&m, &[1, 2]);
}

#[test]
fn generated_only_steering_spares_the_prompt_and_changes_later_tokens() {
    let model = smollm2();
    let prompt = prompt(&model);
    let mut ctx = Context::new(&model, params(true)).unwrap();
    let (base, toks) = greedy_run(&mut ctx, &prompt, 3);
    let mut vectors = BTreeMap::new();
    vectors.insert(0, pseudo_vector(model.n_embd(), 3, 1.0));
    vectors.insert(10, pseudo_vector(model.n_embd(), 4, 3.0));
    let s = Steering {
        vectors,
        positions: Positions::GeneratedOnly,
    };
    assert_eq!(
        steer::apply(&mut ctx, &s, None).unwrap(),
        SteerPath::Callback
    );
    ctx.clear_memory();
    ctx.set_generation_phase(false);
    let mut batch = Batch::new(64, 1);
    batch.push_sequence(&prompt, 0, 0, true).unwrap();
    ctx.decode(&batch).unwrap();
    let prompt_logits = ctx.logits(prompt.len() - 1).unwrap().to_vec();
    assert!(
        bit_identical(&[prompt_logits], &base[..1]),
        "prompt logits changed"
    );
    ctx.set_generation_phase(true);
    batch.clear();
    batch.push(toks[0], prompt.len(), &[0], true).unwrap();
    ctx.decode(&batch).unwrap();
    let next = ctx.logits(0).unwrap();
    assert!(
        max_abs_diff(next, &base[1]) > 1e-3,
        "generated token was not steered"
    );
}

#[test]
fn capture_of_many_sequences_in_one_batch_matches_one_at_a_time() {
    let model = smollm2();
    let texts: Vec<String> = [
        "Hello there.",
        "A much longer sentence about cats and dogs.",
        "Why?",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let layers = [1, 15, model.n_layer() - 1];
    let mut together = Context::new(&model, params(true)).unwrap();
    let a = expertsteer::capture::capture_last_token(
        &mut together,
        &texts,
        &layers,
        false,
        &mut |_, _| {},
    )
    .unwrap();
    let mut single = params(true);
    single.n_seq_max = 1;
    let mut alone = Context::new(&model, single).unwrap();
    let b = expertsteer::capture::capture_last_token(
        &mut alone,
        &texts,
        &layers,
        false,
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(a.data.len(), 3 * 3 * model.n_embd());
    for t in 0..3 {
        for (k, layer) in layers.iter().enumerate() {
            let d = max_abs_diff(a.row(t, k), b.row(t, k));
            let scale = b.row(t, k).iter().map(|x| x.abs()).fold(0.0, f32::max);
            assert!(
                d <= 1e-3 * scale.max(1.0),
                "text {t} layer {layer} differs by {d}"
            );
        }
    }
    assert!(
        max_abs_diff(a.row(0, 1), a.row(1, 1)) > 1e-3,
        "different texts give different states"
    );
}
