//! `expertsteer fit`: `--out` is checked before any work (a fit can run for an
//! hour, and its result must not be lost to a typo in the output path), and
//! what it tells the user about the alignment it used.

use std::process::Command;
use std::time::{Duration, Instant};

/// Runs `expertsteer fit` with inputs that do not exist either, so the
/// error shows which check ran first.
fn fit_with_out(out: &str) -> (bool, String, Duration) {
    let t = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_expertsteer"))
        .args([
            "fit",
            "--method",
            "caa",
            "--target",
            "/nonexistent/model.gguf",
            "--data",
            "/nonexistent/data.jsonl",
            "--out",
            out,
        ])
        .output()
        .expect("run expertsteer");
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
        t.elapsed(),
    )
}

#[test]
fn fit_refuses_an_out_path_in_a_missing_folder_before_reading_anything() {
    let (ok, err, took) = fit_with_out("/nonexistent/dir/x.steer");
    assert!(!ok);
    assert!(err.contains("/nonexistent/dir/x.steer"), "{err}");
    assert!(err.contains("does not exist"), "{err}");
    assert!(!err.contains("data.jsonl"), "read the data first: {err}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

#[test]
fn fit_refuses_a_folder_as_out_path() {
    let dir = std::env::temp_dir().join(format!("expertsteer-fit-out-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ok, err, _) = fit_with_out(dir.to_str().unwrap());
    assert!(!ok);
    assert!(
        err.contains(dir.to_str().unwrap()) && err.contains("folder"),
        "{err}"
    );
}

#[path = "../../tests/common/mod.rs"]
mod common;

/// A fit through the auto-encoder alignment says that its direction reaches
/// the target in an arbitrary basis (EVALUATION.md); a self-steering fit
/// does not.
#[test]
fn fit_names_the_alignment_that_carried_a_concept() {
    let dir = common::scratch("fit-align-note");
    let data = dir.join("d.jsonl");
    let body: String = (0..80)
        .map(|i| {
            format!(
                "{}\n",
                serde_json::json!({"text": format!("text number {i} about {}", if i % 2 == 0 { "cats" } else { "ships" }), "label": i % 2, "group": format!("g{i}")})
            )
        })
        .collect();
    std::fs::write(&data, body).unwrap();
    let (expert, target) = (common::fixture(64, 4), common::fixture(48, 4));
    let fit = |extra: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_expertsteer"))
            .env("EXPERTSTEER_CACHE", dir.join("cache"))
            .args(["fit", "--threads", "1", "--layers", "2", "--target"])
            .arg(&target)
            .arg("--data")
            .arg(&data)
            .arg("--out")
            .arg(dir.join("x.steer"))
            .args(extra)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(o.status.success(), "{extra:?}: {err}");
        err
    };
    let e = fit(&["--expert", expert.to_str().unwrap()]);
    assert!(
        e.contains("note: with --align closed-form") && e.contains("expertsteer map --expert"),
        "{e}"
    );
    let e = fit(&["--method", "caa"]);
    assert!(!e.contains("note: with --align"), "{e}");

    // A map in the pair's place in the cache is what fit reads by default
    // (a damaged one is refused, naming it); --align picks an alignment
    // instead and never reads it.
    let stem = |p: &std::path::Path| p.file_stem().unwrap().to_string_lossy().into_owned();
    let maps = dir.join("cache/maps");
    std::fs::create_dir_all(&maps).unwrap();
    let pair_map = maps.join(format!("{}--{}.esmap", stem(&expert), stem(&target)));
    std::fs::write(&pair_map, b"not a map").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_expertsteer"))
        .env("EXPERTSTEER_CACHE", dir.join("cache"))
        .args(["fit", "--threads", "1", "--target"])
        .arg(&target)
        .arg("--expert")
        .arg(&expert)
        .arg("--data")
        .arg(&data)
        .arg("--out")
        .arg(dir.join("x.steer"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(err.contains(&*pair_map.to_string_lossy()), "{err}");
    let e = fit(&[
        "--expert",
        expert.to_str().unwrap(),
        "--align",
        "closed-form",
    ]);
    assert!(!e.contains("step 1 through"), "{e}");
}
