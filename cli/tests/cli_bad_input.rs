//! The command-line tool meets bad input the way a new user would type it:
//! each case ends with a clear error (or a quiet exit), never a panic
//! (exit status 101).

#[path = "../../tests/common/mod.rs"]
mod common;
mod server;

use common::*;
use std::process::{Command, Output};

/// Runs `expertsteer ARGS` to completion.
fn expertsteer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_expertsteer"))
        .args(args)
        .output()
        .expect("run expertsteer")
}

/// Asserts a failed run that did not panic; returns its stderr.
fn refused(args: &[&str]) -> String {
    let o = expertsteer(args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "{args:?} succeeded: {err}");
    assert_ne!(o.status.code(), Some(101), "{args:?} panicked: {err}");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    err
}

#[test]
fn zero_bench_rounds_are_refused_naming_the_flag() {
    let model = fixture(64, 2);
    let m = model.to_str().unwrap();
    let err = refused(&[
        "bench",
        "steer",
        "--models",
        m,
        "--rounds",
        "0",
        "--prompt-tokens",
        "4",
        "--gen-tokens",
        "2",
    ]);
    assert!(err.contains("--rounds"), "{err}");
    let err = refused(&[
        "bench",
        "pipeline",
        "--expert",
        m,
        "--target",
        m,
        "--rounds",
        "0",
        "--skip-fit",
    ]);
    assert!(err.contains("--rounds"), "{err}");
}

#[test]
fn a_poll_level_beyond_100_is_refused_naming_the_flag() {
    let model = fixture(64, 2);
    let err = refused(&["serve", "--model", model.to_str().unwrap(), "--poll", "101"]);
    assert!(err.contains("--poll"), "{err}");
}

#[test]
fn a_broken_stderr_does_not_abort_inside_the_llama_log_callback() {
    // Verbose llama.cpp logging writes from an `extern "C"` callback while
    // the model loads; with stderr a pipe nobody reads (EPIPE), a panic
    // there would abort the process (killed by SIGABRT, no exit code).
    let model = fixture(64, 2);
    let mut child = Command::new(env!("CARGO_BIN_EXE_expertsteer"))
        .args(["inspect", "--model", model.to_str().unwrap()])
        .env("EXPERTSTEER_LOG", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run expertsteer");
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert!(
        status.code().is_some_and(|c| c != 101),
        "killed or panicked: {status:?}"
    );
}

#[test]
fn inspect_on_a_one_block_model_prints_no_empty_range() {
    let model = fixture(64, 1);
    let o = expertsteer(&["inspect", "--model", model.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!out.contains("1..0"), "{out}");
    assert!(out.contains("layer 0 only"), "{out}");
}

#[test]
fn a_cause_already_in_the_message_is_not_repeated() {
    let err = refused(&["show", "/nonexistent/dir/x.steer"]);
    assert!(err.contains("/nonexistent/dir/x.steer"), "{err}");
    assert_eq!(err.matches("No such file").count(), 1, "{err}");
    assert!(!err.contains("caused by"), "{err}");
}

#[test]
fn a_non_gguf_steering_file_mentions_steer_files() {
    let model = fixture(64, 2);
    let d = scratch("cli-notes-steer");
    let notes = d.join("notes.txt");
    std::fs::write(&notes, "just some notes").unwrap();
    let err = refused(&[
        "generate",
        "--model",
        model.to_str().unwrap(),
        "--prompt",
        "hi",
        "-n",
        "2",
        "--steer",
        notes.to_str().unwrap(),
    ]);
    assert!(err.contains(".steer"), "{err}");
}

#[test]
fn huge_layer_ranges_are_refused_before_they_are_expanded() {
    let model = fixture(64, 2);
    let m = model.to_str().unwrap();
    let d = scratch("cli-huge-layers");
    let prompts = d.join("p.jsonl");
    std::fs::write(&prompts, "{\"text\": \"hello\"}\n").unwrap();
    let data = d.join("d.jsonl");
    std::fs::write(&data, "{\"text\": \"hello\", \"label\": 1}\n").unwrap();
    let out = d.join("c.npy");
    for range in ["0-99999999999", "0-18446744073709551615"] {
        let err = refused(&[
            "capture",
            "--model",
            m,
            "--prompts",
            prompts.to_str().unwrap(),
            "--layers",
            range,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(err.contains(range) && err.contains("out of range"), "{err}");
        let err = refused(&["demo", "--model", m, "--layers", range]);
        assert!(err.contains(range) && err.contains("out of range"), "{err}");
        let err = refused(&[
            "fit",
            "--method",
            "caa",
            "--target",
            m,
            "--data",
            data.to_str().unwrap(),
            "--target-layers",
            range,
            "--out",
            d.join("x.steer").to_str().unwrap(),
        ]);
        assert!(err.contains(range) && err.contains("out of range"), "{err}");
    }
}

#[test]
fn a_strength_that_overflows_the_vectors_is_refused_naming_the_flag() {
    let model = fixture(64, 2);
    let d = scratch("cli-strength");
    let cvec = d.join("ones.gguf");
    let mut cv = gguf_tools::ControlVector::new(64);
    cv.directions.insert(1, vec![1.0; 64]);
    cv.write_cvec(&cvec).unwrap();
    for s in ["1e30", "-1e30"] {
        let err = refused(&[
            "generate",
            "--model",
            model.to_str().unwrap(),
            "--prompt",
            "hi",
            "-n",
            "4",
            "--steer",
            cvec.to_str().unwrap(),
            "--strength",
            s,
        ]);
        assert!(err.contains("--strength"), "{err}");
    }
}

use expertsteer_core::testing::{
    sample_file as expertsteer_file, unchecked_bytes as unchecked_steer_bytes,
};

#[test]
fn show_refuses_inconsistent_files_instead_of_panicking() {
    let d = scratch("cli-show-crafted");
    let good = d.join("good.steer");
    expertsteer_file().write(&good).unwrap();
    let o = expertsteer(&["show", "--mi", good.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let mut multibyte = expertsteer_file();
    multibyte.target.sha256 = format!("a{}", "é".repeat(31)); // byte 12 inside a character
    let mut no_columns = expertsteer_file();
    no_columns.mi.as_mut().unwrap().target_layers.clear();
    let mut extra_row = expertsteer_file();
    extra_row.mi.as_mut().unwrap().values.extend([0.5; 3]); // a 4th row, 3 expert layers
    for (name, f, want) in [
        ("multibyte", multibyte, "sha256"),
        ("no-columns", no_columns, "no target layers"),
        ("extra-row", extra_row, "holds 12 values"),
    ] {
        assert!(f.write(&d.join("refused.steer")).is_err(), "{name}");
        let p = d.join(format!("{name}.steer"));
        std::fs::write(&p, unchecked_steer_bytes(&f)).unwrap();
        let err = refused(&["show", "--mi", p.to_str().unwrap()]);
        assert!(err.contains(want), "{name}: {err}");
    }
}

/// Runs `expertsteer ARGS` with stdout a pipe whose reader is already
/// closed, so the first write fails with EPIPE; returns (exit code, stderr).
fn with_closed_stdout(args: &[&str]) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = Command::new(env!("CARGO_BIN_EXE_expertsteer"))
        .args(args)
        .stdout(writer)
        .output()
        .expect("run expertsteer");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn a_closed_stdout_ends_each_command_quietly() {
    let model = fixture(64, 2);
    let m = model.to_str().unwrap();
    let d = scratch("cli-closed-stdout");
    let steer = d.join("s.steer");
    expertsteer_file().write(&steer).unwrap();
    let s = steer.to_str().unwrap();
    for args in [
        &["generate", "--model", m, "--prompt", "hi", "-n", "8"][..],
        &["show", "--mi", s],
        &["inspect", "--model", m],
        &["models", "list"],
    ] {
        let (code, err) = with_closed_stdout(args);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn generate_piped_into_head_stops_quietly_after_the_first_line() {
    use std::io::BufRead;
    let model = fixture(64, 2);
    let mut child = Command::new(env!("CARGO_BIN_EXE_expertsteer"))
        .args([
            "generate",
            "--model",
            model.to_str().unwrap(),
            "--prompt",
            "hi",
            "-n",
            "200",
            "--compare",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run expertsteer");
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first, "--- unsteered ---\n");
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_ne!(o.status.code(), Some(101), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn serve_refuses_bad_flags_before_listening() {
    let model = smollm2_path();
    let m = model.to_str().unwrap();
    let files = server::steer_files();
    let happy = format!("happy={}", files[0].1.display());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--steer", "x=/nonexistent/x.steer"],
            "/nonexistent/x.steer",
        ),
        (
            vec!["--steer", &happy, "--default-steer", "nope"],
            "--default-steer nope",
        ),
        (
            vec!["--steer", &happy, "--default-steer", "happy:1e9"],
            "--default-steer strength",
        ),
        (
            vec!["--steer", &happy, "--default-steer", "happy:abc"],
            "STRENGTH must be a number",
        ),
        (
            vec!["--steer", &happy, "--steer", &happy],
            "two steering files are named",
        ),
        (vec!["--steer", "bad name=/x.steer"], "steering name"),
        (vec!["--parallel", "0"], "--parallel 0"),
        (vec!["--ctx", "4"], "--ctx 4"),
    ];
    for (extra, expect) in cases {
        let mut args = vec!["serve", "--model", m, "--port", "0", "--threads", "1"];
        args.extend(extra.iter().copied());
        let err = refused(&args);
        assert!(
            err.contains(expect),
            "{args:?}: expected {expect:?} in {err}"
        );
    }
    // A port already taken is named.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let err = refused(&["serve", "--model", m, "--port", &port, "--threads", "1"]);
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
}

/// Asserts `args` is refused within `secs` seconds, naming `--ctx` and
/// `also`; returns stderr.
fn refused_fast(args: &[&str], secs: u64, also: &str) -> String {
    let t = std::time::Instant::now();
    let err = refused(args);
    let took = t.elapsed();
    assert!(
        took < std::time::Duration::from_secs(secs),
        "{args:?} took {took:?} to fail"
    );
    assert!(err.contains("--ctx"), "{args:?}: {err}");
    assert!(err.contains(also), "{args:?}: {err}");
    err
}

#[test]
fn a_context_beyond_the_training_context_is_refused_at_once() {
    // SmolLM2 was trained on 8,192 tokens; llama.cpp used to take 15.7 GB
    // for 4e9 before failing.
    let model = smollm2_path();
    let m = model.to_str().unwrap();
    let huge = "4000000000";
    refused_fast(
        &[
            "generate",
            "--model",
            m,
            "--ctx",
            huge,
            "-p",
            "hi",
            "--threads",
            "1",
        ],
        20,
        "8192",
    );
    refused_fast(
        &[
            "generate",
            "--model",
            m,
            "--ctx",
            "8193",
            "-p",
            "hi",
            "--threads",
            "1",
        ],
        20,
        "8192",
    );
    refused_fast(
        &["demo", "--model", m, "--ctx", huge, "--threads", "1"],
        20,
        "8192",
    );
    refused_fast(
        &[
            "serve",
            "--model",
            m,
            "--ctx",
            huge,
            "--port",
            "0",
            "--threads",
            "1",
        ],
        20,
        "8192",
    );
}

#[test]
fn a_context_whose_kv_cache_cannot_fit_in_memory_is_refused_at_once() {
    // A model that claims a training context of 2e9 tokens: only the
    // memory check stands between the flag and llama.cpp's allocation.
    let p = scratch("big-ctx").join("tiny-2e9.gguf");
    gguf_tools::LlamaFixture {
        n_ctx_train: 2_000_000_000,
        ..Default::default()
    }
    .write(&p)
    .unwrap();
    let m = p.to_str().unwrap();
    refused_fast(
        &[
            "generate",
            "--model",
            m,
            "--ctx",
            "2000000000",
            "-p",
            "hi",
            "--threads",
            "1",
        ],
        20,
        "KV cache",
    );
    let err = refused_fast(
        &[
            "serve",
            "--model",
            m,
            "--ctx",
            "500000000",
            "--parallel",
            "4",
            "--port",
            "0",
            "--threads",
            "1",
        ],
        20,
        "KV cache",
    );
    assert!(err.contains("--parallel"), "{err}");
}
