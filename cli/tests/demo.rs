//! `expertsteer demo`, the README's main command, on the real default
//! model: it names the model as its GGUF does, and its samples carry
//! numbers that show the steering's direction and its cost.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::process::Command;

/// The `mean axis` of a summary line such as
/// `  toward negative  geometric-mean ppl   6.8, mean axis -2.12`.
fn mean_axis(out: &str, label: &str) -> f64 {
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with(label) && l.contains("mean axis"))
        .unwrap_or_else(|| panic!("no summary line for {label}:\n{out}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn the_demo_names_the_model_and_shows_the_steering_move_the_text_both_ways() {
    let model = common::smollm2_path();
    let o = Command::new(env!("CARGO_BIN_EXE_expertsteer"))
        .args(["demo", "--model", model.to_str().unwrap(), "--threads", "1"])
        .output()
        .expect("run expertsteer demo");
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}\n{out}");
    // general.name, not llama.cpp's "llama 256M" description.
    assert!(out.contains("\"Smollm2 135M 8k Lc100K Mix1 Ep2\""), "{out}");
    assert!(!out.contains("llama 256M"), "{out}");
    assert!(out.contains("of 32 pairs"), "{out}");
    for label in ["unsteered", "toward positive", "toward negative"] {
        assert!(out.contains(&format!("--- {label} (ppl ")), "{out}");
    }
    let (plus, minus, plain) = (
        mean_axis(&out, "toward positive"),
        mean_axis(&out, "toward negative"),
        mean_axis(&out, "unsteered"),
    );
    // Single samples are noisy; over the three prompts the two ways
    // separate (measured +3.5 and -2.1 around +1.6 unsteered).
    assert!(
        plus > minus + 1.0,
        "steering did not move the text apart: + {plus}, 0 {plain}, - {minus}\n{out}"
    );
}
