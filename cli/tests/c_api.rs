//! The C ABI end to end: `examples/c/steer.c`, compiled with `cc` against
//! llama.cpp's own static libraries (the llama-cpp-sys-2 build) and
//! `libexpertsteer_c`, run on the real SmolLM2-135M-Instruct.
//!
//! Needs `cargo build --release --workspace` first (scripts/setup.sh does
//! it): cargo builds the cdylib, not this test, and the test says so.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::*;
use expertsteer::generate::{generate, prompt_tokens, GenerateParams};
use expertsteer::llama::{Context, ContextParams, Model, Positions, Token};
use expertsteer::steer::{self, SteerPath};
use expertsteer::steerfile::SteerFile;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const PROMPT: &str = "The best way to learn a new language is";
const N_GEN: usize = 24;

fn profile_dir() -> PathBuf {
    PathBuf::from(env!("EXPERTSTEER_PROFILE_DIR"))
}

fn cdylib() -> PathBuf {
    let p = profile_dir().join("libexpertsteer_c.so");
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --release --workspace` before the tests",
        p.display()
    );
    // cargo builds the cdylib with the workspace, not for this test: refuse
    // a library older than its sources rather than test stale code.
    let built = std::fs::metadata(&p).and_then(|m| m.modified()).unwrap();
    let root = repo_root();
    for dir in ["capi/src", "core/src"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap().flatten() {
            let changed = e.metadata().and_then(|m| m.modified()).unwrap();
            assert!(
                changed <= built,
                "{} is newer than {}: run `cargo build --release --workspace` first",
                e.path().display(),
                p.display()
            );
        }
    }
    p
}

/// The static libraries in `dir` (llama.cpp's install folder).
fn static_libs(dir: &Path) -> Vec<PathBuf> {
    let mut libs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "a"))
        .collect();
    libs.sort();
    assert!(
        !libs.is_empty(),
        "no llama.cpp libraries in {}",
        dir.display()
    );
    libs
}

/// Compiles examples/c/steer.c once per test process.
fn example_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| compile_c(&repo_root().join("examples/c/steer.c"), "steer"))
        .clone()
}

/// Compiles a C program of the repository against llama.cpp and
/// libexpertsteer_c, as the README tells a C user to.
fn compile_c(src: &Path, name: &str) -> PathBuf {
    {
        let llama = PathBuf::from(env!("EXPERTSTEER_LLAMA_PREFIX"));
        let out = scratch("c-example").join(name);
        let lib_dir = cdylib().parent().unwrap().to_path_buf();
        let st = Command::new("cc")
            .args(["-O2", "-Wall", "-Wextra", "-Werror"])
            .arg(src)
            .arg(format!("-I{}", llama.join("include").display()))
            .arg(format!("-I{}", env!("EXPERTSTEER_INCLUDE_DIR")))
            .arg("-o")
            .arg(&out)
            .arg(format!("-L{}", lib_dir.display()))
            .arg("-lexpertsteer_c")
            .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
            // Every library llama-cpp-sys-2 installed (llama, ggml and its
            // backends: CPU, RPC, ...), in a group so their order is moot.
            .arg("-Wl,--start-group")
            .args(static_libs(&llama.join("lib")))
            .arg("-Wl,--end-group")
            .args(["-lstdc++", "-lm", "-lpthread", "-rdynamic"])
            .status()
            .expect("run cc");
        assert!(st.success(), "compiling {} failed", src.display());
        out
    }
}

/// A real steering file (written by the library's writer) for SmolLM2:
/// three layers, unit directions, r_j of the size SmolLM2's states have.
fn steer_file(model: &Model, name: &str) -> PathBuf {
    let p = scratch("c-example").join(name);
    random_steer_file(model, 100, 1.0, &p);
    p
}

struct CRun {
    code: Option<i32>,
    text: String,
    tokens: Vec<Token>,
    stderr: String,
}

fn run_c(steer: &Path, strength: &str, mode: &str) -> CRun {
    let out = Command::new(example_binary())
        .arg(smollm2_path())
        .arg(steer)
        .arg(strength)
        .arg(N_GEN.to_string())
        .arg(PROMPT)
        .arg(mode)
        .env("LLAMA_LOG_LEVEL", "error")
        .output()
        .expect("run the C example");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let tokens = stderr
        .lines()
        .find_map(|l| l.strip_prefix("tokens:"))
        .map(|l| l.split_whitespace().map(|t| t.parse().unwrap()).collect())
        .unwrap_or_default();
    CRun {
        code: out.status.code(),
        text: String::from_utf8_lossy(&out.stdout).into_owned(),
        tokens,
        stderr,
    }
}

/// The same generation through the Rust library (context shaped like the
/// C example's: n_ctx 2048, batch 512, one thread).
fn rust_tokens(model: &Model, steer: Option<(&Path, f32, SteerPath)>) -> Vec<Token> {
    let mut ctx = Context::new(
        model,
        ContextParams {
            n_ctx: 2048,
            threads: 1,
            ..ContextParams::default()
        },
    )
    .unwrap();
    if let Some((path, c, p)) = steer {
        let f = SteerFile::read(path).unwrap();
        steer::apply(&mut ctx, &f.steering(Some(c), Positions::All), Some(p)).unwrap();
    }
    let prompt = prompt_tokens(model, PROMPT, false).unwrap();
    let params = GenerateParams {
        max_tokens: N_GEN,
        ..Default::default()
    };
    generate(&mut ctx, &prompt, &params, &mut |_| {})
        .unwrap()
        .tokens
}

#[test]
fn c_example_generates_what_the_library_and_cli_generate() {
    let model = smollm2();
    let file = steer_file(&model, "equiv.steer");
    let c = 0.8f32;
    let hook = run_c(&file, "0.8", "hook");
    assert_eq!(hook.code, Some(0), "C example failed: {}", hook.stderr);
    let cvec = run_c(&file, "0.8", "cvec");
    assert_eq!(cvec.code, Some(0), "C example failed: {}", cvec.stderr);
    let none = run_c(&file, "0.8", "none");
    assert_eq!(none.code, Some(0), "C example failed: {}", none.stderr);

    let rust_cb = rust_tokens(&model, Some((&file, c, SteerPath::Callback)));
    let rust_cv = rust_tokens(&model, Some((&file, c, SteerPath::ControlVector)));
    let rust_plain = rust_tokens(&model, None);
    assert_eq!(hook.tokens, rust_cb, "C hook vs Rust callback");
    assert_eq!(
        cvec.tokens, rust_cv,
        "C control vector vs Rust control vector"
    );
    assert_eq!(hook.tokens, cvec.tokens, "C hook vs C control vector");
    assert_eq!(none.tokens, rust_plain, "unsteered C vs Rust");
    assert_ne!(
        hook.tokens, none.tokens,
        "the steering file changed nothing"
    );
    assert!(hook.tokens.len() >= 8, "too few tokens: {:?}", hook.tokens);

    // `expertsteer generate` with the same file and strength prints the same text.
    let cli = Command::new(env!("CARGO_BIN_EXE_expertsteer"))
        .args([
            "generate",
            "--threads",
            "1",
            "-n",
            &N_GEN.to_string(),
            "-p",
            PROMPT,
        ])
        .arg("--model")
        .arg(smollm2_path())
        .arg("--steer")
        .arg(&file)
        .args(["--strength", "0.8"])
        .output()
        .unwrap();
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&cli.stdout), hook.text);
}

#[test]
fn hostile_steering_files_get_an_error_code_and_message_not_a_crash() {
    let model = smollm2();
    let dir = scratch("c-example");
    let good = std::fs::read(steer_file(&model, "base.steer")).unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let other_shape = {
        let f = SteerFile::read(&steer_file(&model, "tmp.steer")).unwrap();
        let mut f2 = f.clone();
        f2.target.n_embd = 64;
        for l in &mut f2.layers {
            l.direction.truncate(64);
        }
        let p = dir.join("other-shape.steer");
        f2.write(&p).unwrap();
        p
    };
    let cases: Vec<(PathBuf, &str)> = vec![
        (
            write(
                "random.steer",
                &pseudo_vector(4096, 7, 1.0)
                    .iter()
                    .flat_map(|x| x.to_le_bytes())
                    .collect::<Vec<_>>(),
            ),
            "wrong magic",
        ),
        (
            write("truncated.steer", &good[..good.len() / 2]),
            "truncated",
        ),
        (
            write("flipped.steer", &{
                let mut b = good.clone();
                let k = b.len() - 40;
                b[k] ^= 0x55;
                b
            }),
            "checksum",
        ),
        (write("empty.steer", b""), "wrong magic"),
        (other_shape, "n_embd 64"),
        (dir.join("does-not-exist.steer"), "No such file"),
    ];
    for (path, expect) in cases {
        let r = run_c(&path, "0.5", "hook");
        assert_eq!(
            r.code,
            Some(2),
            "{}: expected exit code 2 (refused), got {:?}; stderr: {}",
            path.display(),
            r.code,
            r.stderr
        );
        assert!(
            r.stderr.contains("es_steer_open failed") && r.stderr.contains(expect),
            "{}: message should mention {expect:?}: {}",
            path.display(),
            r.stderr
        );
    }
    // A non-finite strength, or one that overflows llama.cpp's f32
    // arithmetic, is refused by the hook and by the control-vector path.
    for (strength, mode) in [("inf", "hook"), ("1e30", "hook"), ("1e30", "cvec")] {
        let r = run_c(&dir.join("base.steer"), strength, mode);
        assert_eq!(r.code, Some(2), "{strength} {mode}: {}", r.stderr);
        assert!(
            r.stderr.contains(&format!("strength {strength}")) || r.stderr.contains("overflows"),
            "{strength} {mode}: {}",
            r.stderr
        );
    }
}

#[test]
fn the_c_library_carries_no_llama_cpp_code_of_its_own() {
    let lib = cdylib();
    let nm = |args: &[&str]| {
        let out = Command::new("nm")
            .args(args)
            .arg(&lib)
            .output()
            .expect("run nm (binutils)");
        assert!(out.status.success(), "nm {args:?} failed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dynamic = nm(&["-D"]);
    let exported: Vec<&str> = dynamic.lines().filter(|l| l.contains(" T es_")).collect();
    assert!(exported.len() >= 10, "es_* exports: {exported:?}");
    // Neither exported nor imported nor linked in privately: no llama.cpp
    // or ggml function, and none of llama.cpp's static initialisers (which
    // a partial copy of its objects would bring along).
    let all = nm(&["-C"]);
    let foreign: Vec<&str> = dynamic
        .lines()
        .chain(all.lines())
        .filter(|l| {
            let name = l.split_whitespace().last().unwrap_or("");
            name.starts_with("llama_")
                || name.starts_with("ggml_")
                || name.starts_with("gguf_")
                || name.starts_with("_GLOBAL__sub_I_")
        })
        .collect();
    assert!(
        foreign.is_empty(),
        "libexpertsteer_c must use the host's llama.cpp, but carries: {foreign:?}"
    );
}

#[test]
fn stale_double_freed_and_wrong_kind_handles_are_refused_not_read() {
    let model = smollm2();
    let file = steer_file(&model, "handles.steer");
    let bin = compile_c(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/handles.c"),
        "handles",
    );
    // Under valgrind when it is installed (scripts/setup.sh installs it):
    // a use of freed memory shows there even where it happens not to crash.
    let valgrind = Command::new("valgrind").arg("--version").output().is_ok();
    let mut cmd = if valgrind {
        let mut c = Command::new("valgrind");
        c.args(["--error-exitcode=99", "--leak-check=no", "-q"])
            .arg(&bin);
        c
    } else {
        eprintln!("valgrind is not installed: running without it");
        Command::new(&bin)
    };
    let out = cmd
        .arg(smollm2_path())
        .arg(&file)
        .env("LLAMA_LOG_LEVEL", "error")
        .output()
        .expect("run tests/c/handles.c");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for bad in [
        "Invalid read",
        "Invalid write",
        "Invalid free",
        "Mismatched free",
    ] {
        assert!(!stderr.contains(bad), "valgrind: {bad}\n{stderr}");
    }
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
}
