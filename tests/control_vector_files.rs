//! llama.cpp control-vector GGUF files: written by gguf-tools, read back,
//! parsed by ggml's own GGUF code, and applied with the same effect.

mod common;

use common::*;
use expertsteer::llama::{read_control_vector_native, Context, Positions};
use expertsteer::steer::{self, SteerPath, Steering};
use std::collections::BTreeMap;

#[test]
fn control_vector_gguf_round_trips_and_loads_through_llama_cpp() {
    let model = smollm2();
    let n = model.n_embd();
    let directions: BTreeMap<usize, Vec<f32>> = [3usize, 9, 20]
        .iter()
        .map(|&l| (l, pseudo_vector(n, l as u64, 1.0)))
        .collect();
    let path = scratch("cvec").join("v.gguf");
    let cv = gguf_tools::ControlVector {
        n_embd: n,
        directions: directions.clone(),
        model_hint: Some("llama".into()),
    };
    cv.write_cvec(&path).unwrap();

    let back = gguf_tools::ControlVector::read_cvec(&path).unwrap();
    assert_eq!(back.n_embd, n);
    assert_eq!(back.directions.len(), 3);
    for (l, v) in &directions {
        let w = &back.directions[l];
        assert!(
            v.iter().zip(w).all(|(a, b)| a.to_bits() == b.to_bits()),
            "layer {l} not bit-exact"
        );
    }
    let (native_n, native) = read_control_vector_native(&path).unwrap();
    assert_eq!(native_n, n);
    assert_eq!(native, directions, "ggml's parser sees other values");

    let prompt = prompt(&model);
    let mut ctx = Context::new(&model, params(true)).unwrap();
    let from_file = Steering {
        vectors: native,
        positions: Positions::All,
    };
    steer::apply(&mut ctx, &from_file, Some(SteerPath::ControlVector)).unwrap();
    let (a, _) = greedy_run(&mut ctx, &prompt, 4);
    let original = Steering {
        vectors: directions,
        positions: Positions::All,
    };
    steer::apply(&mut ctx, &original, Some(SteerPath::Callback)).unwrap();
    let (b, _) = greedy_run(&mut ctx, &prompt, 4);
    assert!(bit_identical(&a, &b));
}
