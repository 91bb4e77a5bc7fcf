//! The `gguf-tools` binary: output, exit codes, error reporting.

#![cfg(feature = "cli")]

use std::path::PathBuf;
use std::process::{Command, Output};

use gguf_tools::ControlVector;

fn bin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gguf-tools"))
        .args(args)
        .output()
        .expect("run gguf-tools")
}

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("gguf-tools-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("mkdir");
    d
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn fixture_then_info() {
    let path = dir().join("tiny.gguf");
    let p = path.to_str().unwrap();
    let out = bin(&[
        "fixture",
        "--out",
        p,
        "--n-embd",
        "48",
        "--n-layer",
        "3",
        "--seed",
        "9",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("wrote"));

    let out = bin(&["info", p, "--max-array", "3"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("GGUF version:  3"), "{s}");
    assert!(
        s.contains("general.architecture (string) = \"llama\""),
        "{s}"
    );
    assert!(s.contains("llama.embedding_length (u32) = 48"), "{s}");
    assert!(s.contains("tokenizer.ggml.tokens (array) = [string; 260] [\"<unk>\", \"<s>\", \"</s>\", ... 257 more]"), "{s}");
    assert!(s.contains("blk.2.ffn_down.weight"), "{s}");
    assert!(s.contains("[96, 48]"), "{s}");
    assert!(s.contains("total: 30 tensors"), "{s}");
}

#[test]
fn fixture_arch_bert_writes_an_encoder() {
    let path = dir().join("tiny-bert.gguf");
    let p = path.to_str().unwrap();
    let out = bin(&["fixture", "--arch", "bert", "--out", p, "--n-layer", "3"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("BertFixture"),
        "{}",
        text(&out.stdout)
    );
    let file = gguf_tools::GgufFile::open(&path).unwrap();
    assert_eq!(file.architecture(), Some("bert"));
    assert_eq!(
        file.tensor("blk.2.ffn_up.weight").map(|t| t.dims.clone()),
        Some(vec![64, 128])
    );
    assert!(file.tensor("output.weight").is_none());

    // Llama-only options and unknown architectures are refused.
    let out = bin(&["fixture", "--arch", "bert", "--out", p, "--n-head-kv", "2"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--n-head-kv"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        bin(&["fixture", "--arch", "gpt9", "--out", p])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn cvec_info_lists_layers_and_norms() {
    let path = dir().join("cv.gguf");
    let mut cv = ControlVector::new(2);
    cv.directions.insert(1, vec![3.0, 4.0]);
    cv.directions.insert(5, vec![1.0, 0.0]);
    cv.write_cvec(&path).unwrap();
    let out = bin(&["cvec-info", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("n_embd:     2"), "{s}");
    assert!(s.contains("layers:     2 (1, 5)"), "{s}");
    assert!(s.contains("direction.1"), "{s}");
    assert!(s.contains("l_out-5"), "{s}");
    assert!(s.contains("5.000000"), "{s}");
}

#[test]
fn bad_input_fails_once_with_context() {
    let path = dir().join("not.gguf");
    std::fs::write(&path, b"this is not a model file at all").unwrap();
    let p = path.to_str().unwrap();
    for args in [vec!["info", p], vec!["cvec-info", p]] {
        let out = bin(&args);
        assert_eq!(out.status.code(), Some(1));
        let err = text(&out.stderr);
        assert_eq!(err.matches("error:").count(), 1, "{err}");
        assert!(err.contains("not a GGUF file") && err.contains(p), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(out.stdout.is_empty());
    }

    let out = bin(&["info", "/definitely/missing.gguf"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("/definitely/missing.gguf"));

    // A model is not a control vector.
    let model = dir().join("m.gguf");
    gguf_tools::LlamaFixture::default().write(&model).unwrap();
    let out = bin(&["cvec-info", model.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not a usable control vector"));

    let out = bin(&["fixture", "--out", p, "--n-embd", "50"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("n_embd 50"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn help_describes_subcommands() {
    let out = bin(&["--help"]);
    assert!(out.status.success());
    let s = text(&out.stdout);
    for cmd in ["info", "cvec-info", "fixture"] {
        assert!(s.contains(cmd), "{s}");
    }
    let out = bin(&["fixture", "--help"]);
    assert!(text(&out.stdout).contains("--n-embd"));
    // Missing arguments are usage errors (clap exits with 2).
    assert_eq!(bin(&["info"]).status.code(), Some(2));
}
