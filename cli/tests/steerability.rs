//! `expertsteer eval steerability` on the real SmolLM2: the target's own
//! sentiment direction, one layer at a time, makes the positive texts more
//! likely than the negative ones at +c and less likely at −c; bad input is
//! refused with a message that says what is missing.

use std::path::Path;
use std::process::{Command, Output};

#[path = "../../tests/common/mod.rs"]
mod common;

fn es(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_expertsteer"))
        .args(args)
        .output()
        .expect("run expertsteer")
}

/// `eval steerability` of `steer` on `data` with the real model, one thread.
fn steerability(model: &str, steer: &Path, data: &str, extra: &[&str]) -> Output {
    let steer = steer.to_str().unwrap();
    let mut args = vec![
        "eval",
        "steerability",
        "--threads",
        "1",
        "--model",
        model,
        "--steer",
        steer,
        "--data",
        data,
    ];
    args.extend_from_slice(extra);
    es(&args)
}

/// `fit --method caa` of `model` on `data` at `layers` into `out`; panics
/// with the error if it fails.
fn fit_caa(model: &str, data: &str, layers: &str, out: &Path) {
    let o = es(&[
        "fit",
        "--method",
        "caa",
        "--threads",
        "1",
        "--target",
        model,
        "--data",
        data,
        "--target-layers",
        layers,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// (layer, shift) rows of the printed table, and the picked layers.
fn parse(stdout: &str) -> (Vec<(usize, f64)>, String) {
    let rows = stdout
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            Some((cells.get(1)?.parse().ok()?, cells.get(2)?.parse().ok()?))
        })
        .collect();
    let pick = stdout
        .lines()
        .find_map(|l| l.split("--target-layers ").nth(1))
        .unwrap_or_default()
        .to_string();
    (rows, pick)
}

#[test]
fn the_targets_own_direction_moves_its_concept_both_ways_and_bad_input_is_refused() {
    let dir = common::scratch("steerability");
    let model = common::smollm2_path();
    let model = model.to_str().unwrap();
    let data = common::repo_root().join("data/concepts/sentiment.jsonl");
    let data = data.to_str().unwrap();
    let steer = dir.join("caa.steer");
    fit_caa(model, data, "12,20", &steer);
    let run = |c: &str| {
        let o = steerability(
            model,
            &steer,
            data,
            &["--strength", c, "--per-class", "6", "--top", "1"],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        parse(&String::from_utf8_lossy(&o.stdout))
    };
    let (up, pick) = run("0.4");
    assert_eq!(
        up.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![12, 20],
        "{up:?}"
    );
    assert!(
        up.iter().all(|r| r.1 > 0.0),
        "+c should favour the positive texts: {up:?}"
    );
    let best = if up[0].1 >= up[1].1 { up[0].0 } else { up[1].0 };
    assert_eq!(pick, best.to_string());
    let (down, _) = run("-0.4");
    assert!(
        down.iter().all(|r| r.1 < 0.0),
        "−c should favour the negative texts: {down:?}"
    );

    // One label only: refused, naming what is missing.
    let one = dir.join("one-label.jsonl");
    std::fs::write(
        &one,
        "{\"text\": \"a fine day\", \"label\": 1}\n{\"text\": \"a good day\", \"label\": 1}\n",
    )
    .unwrap();
    let o = steerability(model, &steer, one.to_str().unwrap(), &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("both labels") && err.contains("found 2 and 0"),
        "{err}"
    );
    // A steering file for another model: refused, naming the mismatch.
    let other = dir.join("other.steer");
    let fixture = common::fixture(64, 4);
    fit_caa(fixture.to_str().unwrap(), data, "1", &other);
    let o = steerability(model, &other, data, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("was made for") && err.contains("30 blocks"),
        "{err}"
    );
}
