//! The Python package (python/expertsteer) against the real
//! llama-cpp-python 0.3.36 that scripts/setup.sh installs, on the real
//! SmolLM2-135M-Instruct: python/tests/test_llama_cpp.py, run with this
//! build's C library and binary (not a stale installed copy).

#[path = "../../tests/common/mod.rs"]
mod common;

use common::*;
use std::path::PathBuf;
use std::process::Command;

#[test]
fn python_package_steers_llama_cpp_python() {
    let root = repo_root();
    let profile = PathBuf::from(env!("EXPERTSTEER_PROFILE_DIR"));
    let lib = profile.join("libexpertsteer_c.so");
    assert!(
        lib.exists(),
        "{} is missing: run `cargo build --release --workspace` (scripts/setup.sh) first",
        lib.display()
    );
    let probe = Command::new("python3")
        .args([
            "-c",
            "import llama_cpp, numpy; print(llama_cpp.__version__)",
        ])
        .output()
        .expect("run python3");
    assert!(
        probe.status.success(),
        "llama-cpp-python is not importable: run scripts/setup.sh (it installs 0.3.36): {}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let other = expertsteer::models::resolve("gemma3-270m").expect("fetch Gemma 3 270M");
    let out = Command::new("python3")
        .arg(root.join("python/tests/test_llama_cpp.py"))
        .env("PYTHONPATH", root.join("python"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("EXPERTSTEER_LIB", &lib)
        .env("EXPERTSTEER_BIN", env!("CARGO_BIN_EXE_expertsteer"))
        .env("ES_TEST_MODEL", smollm2_path())
        .env("ES_TEST_OTHER_MODEL", other)
        .env("ES_TEST_SCRATCH", scratch("python"))
        .output()
        .expect("run python3");
    let log = String::from_utf8_lossy(&out.stderr);
    eprintln!("{log}");
    assert!(out.status.success(), "the Python tests failed (log above)");
    assert!(log.contains("\nOK"), "unittest did not report OK: {log}");
}
