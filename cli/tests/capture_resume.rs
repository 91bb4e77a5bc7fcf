//! An interrupted capture resumes at its first missing chunk, and the
//! `.npy` it writes is byte-identical to an uninterrupted run (library and
//! `expertsteer capture`).

#[path = "../../tests/common/mod.rs"]
mod common;

use common::*;
use expertsteer::capture::Pooling;
use expertsteer::capture_store::{capture_cached, CHUNK_TEXTS};
use expertsteer::llama::{Context, ContextParams, Model, ModelParams};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Enough short texts for three chunks, the last one partial.
fn texts() -> Vec<String> {
    (0..2 * CHUNK_TEXTS + 22)
        .map(|i| format!("text number {i}: {}", "ab ".repeat(i % 7)))
        .collect()
}

fn chunks(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "f32"))
        .collect();
    v.sort();
    v
}

fn modified(p: &Path) -> SystemTime {
    std::fs::metadata(p).unwrap().modified().unwrap()
}

/// Stops "the first run" after its first chunk, as a kill would: the
/// later chunks are gone, the first is complete (chunks land atomically).
fn interrupt_after_first_chunk(dir: &Path) -> SystemTime {
    let all = chunks(dir);
    assert_eq!(all.len(), 3, "{all:?}");
    for p in &all[1..] {
        std::fs::remove_file(p).unwrap();
    }
    modified(&all[0])
}

#[test]
fn a_resumed_capture_is_byte_identical_to_an_uninterrupted_one() {
    let model = Model::load(fixture(64, 2), &ModelParams::default()).unwrap();
    let p = ContextParams {
        n_seq_max: 8,
        ..params(true)
    };
    let mut ctx = Context::new(&model, p).unwrap();
    let texts = texts();
    let layers = [0usize, 1];
    let d = scratch("capture-resume-lib");
    let run = |ctx: &mut Context<'_>, root: &Path, out: &Path| {
        let store = capture_cached(
            ctx,
            &texts,
            &layers,
            Pooling::Last,
            false,
            root,
            &mut |_, _| {},
        )
        .unwrap();
        store.write_npy(out).unwrap();
        store.dir
    };
    let fresh = d.join("fresh.npy");
    run(&mut ctx, &d.join("cache-a"), &fresh);

    let root_b = d.join("cache-b");
    let dir_b = run(&mut ctx, &root_b, &d.join("first.npy"));
    let kept = interrupt_after_first_chunk(&dir_b);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let resumed = d.join("resumed.npy");
    let mut seen = Vec::new();
    let store = capture_cached(
        &mut ctx,
        &texts,
        &layers,
        Pooling::Last,
        false,
        &root_b,
        &mut |done, _| seen.push(done),
    )
    .unwrap();
    store.write_npy(&resumed).unwrap();
    assert_eq!(seen[0], CHUNK_TEXTS, "the first chunk came from the cache");
    assert_eq!(modified(&chunks(&dir_b)[0]), kept, "chunk 0 was recaptured");
    assert_eq!(chunks(&dir_b).len(), 3);
    assert_eq!(
        std::fs::read(&resumed).unwrap(),
        std::fs::read(&fresh).unwrap()
    );

    // The .npy holds what the store holds, in [text][layer][d] order.
    let (shape, data) = expertsteer::npy::read_f32(&resumed).unwrap();
    assert_eq!(shape, vec![texts.len(), 2, 64]);
    let l1 = store.layer(1).unwrap();
    for t in [0, CHUNK_TEXTS + 3, texts.len() - 1] {
        let off = (t * 2 + 1) * 64;
        assert_eq!(&data[off..off + 64], l1.row(t).as_slice().unwrap());
    }
}

#[test]
fn the_capture_command_resumes_after_an_interruption() {
    let model = fixture(64, 2);
    let d = scratch("capture-resume-cli");
    let prompts = d.join("p.jsonl");
    let body: String = texts()
        .iter()
        .map(|t| format!("{}\n", serde_json::json!({ "text": t })))
        .collect();
    std::fs::write(&prompts, body).unwrap();
    let capture = |cache: &Path, out: &Path| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_expertsteer"))
            .env("EXPERTSTEER_CACHE", cache)
            .args([
                "capture",
                "--model",
                model.to_str().unwrap(),
                "--prompts",
                prompts.to_str().unwrap(),
                "--layers",
                "all",
                "--threads",
                "1",
                "--out",
                out.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{err}");
        // stderr is a pipe here, not a terminal: progress comes as lines.
        let n = texts().len();
        assert!(err.contains(&format!("capture: texts {n}/{n} (")), "{err}");
    };
    let fresh = d.join("fresh.npy");
    capture(&d.join("cache-a"), &fresh);
    let cache_b = d.join("cache-b");
    capture(&cache_b, &d.join("first.npy"));
    let stores: Vec<PathBuf> = std::fs::read_dir(cache_b.join("captures"))
        .expect("capture used the capture cache")
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(stores.len(), 1, "{stores:?}");
    let kept = interrupt_after_first_chunk(&stores[0]);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let resumed = d.join("resumed.npy");
    capture(&cache_b, &resumed);
    assert_eq!(
        modified(&chunks(&stores[0])[0]),
        kept,
        "chunk 0 was recaptured"
    );
    assert_eq!(
        std::fs::read(&resumed).unwrap(),
        std::fs::read(&fresh).unwrap()
    );
    assert_eq!(
        std::fs::read(d.join("resumed.npy.json")).unwrap(),
        std::fs::read(d.join("fresh.npy.json")).unwrap()
    );
}
