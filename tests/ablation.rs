//! Ablation (h ← h − (h·u)u) per sequence on the real SmolLM2: after it, the
//! captured state has no component along u at the ablated layers; the
//! batch neighbour is untouched bit for bit; ablation then addition leaves
//! exactly the added amount along u.

mod common;

use common::*;
use expertsteer::llama::{Batch, CaptureRows, Context, Model, Positions, Token};
use std::collections::BTreeMap;

const LAYERS: [usize; 3] = [6, 14, 22];

fn prompts(model: &Model) -> Vec<Vec<Token>> {
    [
        "The weather today is lovely and",
        "def add(a, b):\n    return",
    ]
    .iter()
    .map(|p| model.tokenize(p, true, false).unwrap())
    .collect()
}

fn unit(model: &Model, seed: u64) -> Vec<f32> {
    let v = pseudo_vector(model.n_embd(), seed, 1.0);
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / n).collect()
}

/// Both prompts in one batch, every row of LAYERS captured; returns per
/// layer the rows of each sequence.
fn run(ctx: &mut Context<'_>, ps: &[Vec<Token>]) -> Vec<[Vec<Vec<f32>>; 2]> {
    ctx.clear_memory();
    ctx.hook_mut()
        .unwrap()
        .set_capture(&LAYERS, CaptureRows::All)
        .unwrap();
    let mut batch = Batch::new(64, 1);
    for (s, p) in ps.iter().enumerate() {
        batch.push_sequence(p, 0, s as i32, true).unwrap();
    }
    ctx.decode(&batch).unwrap();
    let caps = ctx.take_captures();
    let n = ctx.model().n_embd();
    LAYERS
        .iter()
        .map(|&l| {
            let rows: Vec<Vec<f32>> = caps[l].chunks_exact(n).map(<[f32]>::to_vec).collect();
            let (a, b) = rows.split_at(ps[0].len());
            [a.to_vec(), b.to_vec()]
        })
        .collect()
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
}

fn norm(a: &[f32]) -> f64 {
    dot(a, a).sqrt()
}

#[test]
fn ablated_rows_have_no_component_and_neighbours_are_untouched() {
    let model = smollm2();
    let ps = prompts(&model);
    let us: Vec<Vec<f32>> = (0..LAYERS.len())
        .map(|k| unit(&model, 90 + k as u64))
        .collect();
    let dirs: BTreeMap<usize, Vec<Vec<f32>>> = LAYERS
        .iter()
        .zip(&us)
        .map(|(&l, u)| (l, vec![u.clone()]))
        .collect();
    let mut ctx = Context::new(&model, params(true)).unwrap();

    let plain = run(&mut ctx, &ps);
    ctx.set_seq_ablation(Some(0), &dirs).unwrap();
    let ablated = run(&mut ctx, &ps);

    for (k, u) in us.iter().enumerate() {
        let before = plain[k][0]
            .iter()
            .map(|r| dot(r, u).abs() / norm(r))
            .fold(0.0, f64::max);
        assert!(
            before > 0.01,
            "layer {}: u barely present before ({before})",
            LAYERS[k]
        );
        for r in &ablated[k][0] {
            let rel = dot(r, u).abs() / norm(r);
            assert!(
                rel < 1e-5,
                "layer {}: component {rel} of the norm left",
                LAYERS[k]
            );
        }
        assert_eq!(
            ablated[k][1], plain[k][1],
            "layer {}: the neighbour changed",
            LAYERS[k]
        );
        assert_ne!(ablated[k][0], plain[k][0]);
    }

    // Ablation, then addition of c·u: exactly c along u remains.
    let c = 5.0f32;
    let add: BTreeMap<usize, Vec<f32>> = LAYERS
        .iter()
        .zip(&us)
        .map(|(&l, u)| (l, u.iter().map(|x| c * x).collect()))
        .collect();
    ctx.set_seq_steering(0, &add, Positions::All).unwrap();
    let both = run(&mut ctx, &ps);
    for (k, u) in us.iter().enumerate() {
        for r in &both[k][0] {
            let along = dot(r, u);
            assert!(
                (along - c as f64).abs() < 1e-3 * norm(r),
                "layer {}: {along} along u, want {c}",
                LAYERS[k]
            );
        }
        assert_eq!(both[k][1], plain[k][1]);
    }

    // Removing it restores the plain states.
    ctx.clear_seq_steering(0);
    let again = run(&mut ctx, &ps);
    assert_eq!(again[0][0], plain[0][0]);
}
