//! Bad input gets a clear error, never a panic.

mod common;

use common::*;
use expertsteer::llama::{Context, HookPlan, LlamaError, Model, ModelParams};
use expertsteer::models::{self, FetchError};
use std::collections::BTreeMap;

fn load_err(path: &std::path::Path) -> String {
    match Model::load(path, &ModelParams::default()) {
        Ok(_) => panic!("{} loaded", path.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn missing_non_gguf_and_truncated_files_are_refused() {
    let d = scratch("bad-files");
    let e = load_err(&d.join("nope.gguf"));
    assert!(e.contains("does not exist"), "{e}");

    let txt = d.join("notes.gguf");
    std::fs::write(&txt, "just some text, not a model").unwrap();
    let e = load_err(&txt);
    assert!(e.contains("not a loadable GGUF"), "{e}");

    let good = std::fs::read(fixture(64, 2)).unwrap();
    for cut in [10, 100, good.len() / 2, good.len() - 1] {
        let p = d.join(format!("cut{cut}.gguf"));
        std::fs::write(&p, &good[..cut]).unwrap();
        let e = load_err(&p);
        assert!(e.contains("not a loadable GGUF"), "cut at {cut}: {e}");
    }
}

#[test]
fn bad_vectors_and_layers_are_refused_before_decoding() {
    let model = Model::load(fixture(64, 2), &ModelParams::default()).unwrap();
    let mut ctx = Context::new(&model, params(true)).unwrap();
    let plan = |l: usize, v: Vec<f32>| {
        let mut add = BTreeMap::new();
        add.insert(l, v);
        HookPlan {
            add,
            ..Default::default()
        }
    };
    let e = ctx.set_hook_plan(&plan(1, vec![0.0; 63])).unwrap_err();
    assert!(
        matches!(
            e,
            LlamaError::VectorLength {
                got: 63,
                n_embd: 64,
                ..
            }
        ),
        "{e}"
    );
    let e = ctx.set_hook_plan(&plan(2, vec![0.0; 64])).unwrap_err();
    assert!(
        matches!(
            e,
            LlamaError::LayerOutOfRange {
                layer: 2,
                n_layer: 2
            }
        ),
        "{e}"
    );
    let mut v = vec![0.0; 64];
    v[5] = f32::NAN;
    let e = ctx.set_hook_plan(&plan(1, v.clone())).unwrap_err();
    assert!(matches!(e, LlamaError::NonFinite { index: 5, .. }), "{e}");
    let mut m = BTreeMap::new();
    m.insert(1, v);
    assert!(matches!(
        ctx.set_control_vector(&m).unwrap_err(),
        LlamaError::NonFinite { .. }
    ));
    let mut m = BTreeMap::new();
    m.insert(0, vec![0.0; 64]);
    assert!(matches!(
        ctx.set_control_vector(&m).unwrap_err(),
        LlamaError::CvecBlockZero
    ));
    let mut plain = Context::new(&model, params(false)).unwrap();
    assert!(
        plain.set_hook_plan(&plan(1, vec![0.0; 64])).is_err(),
        "no hook installed"
    );
}

#[test]
fn wrong_sha256_on_fetch_deletes_the_file_and_says_so() {
    let mut spec = models::spec("smollm2-135m-instruct").unwrap();
    spec.sha256 = "0000000000000000000000000000000000000000000000000000000000000000";
    let dir = scratch("fetch-bad-hash");
    let e = models::fetch(&spec, &dir, &mut |_| {}).unwrap_err();
    assert!(matches!(e, FetchError::HashMismatch { .. }), "{e}");
    assert!(e.to_string().contains("deleted"));
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
}

#[test]
fn fetch_is_idempotent_and_verifies_the_real_model() {
    let path = smollm2_path();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 98_362_432);
    let spec = models::spec("smollm2-135m-instruct").unwrap();
    let again = models::fetch(&spec, path.parent().unwrap(), &mut |m| {
        panic!("re-fetched: {m}")
    })
    .unwrap();
    assert_eq!(again, path);
    assert_eq!(expertsteer::hash::sha256_file(&path).unwrap(), spec.sha256);
}
