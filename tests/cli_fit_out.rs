//! `expertsteer fit --out` is checked before any work: a fit can run for an
//! hour, and its result must not be lost to a typo in the output path.

#![cfg(feature = "cli")]

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
