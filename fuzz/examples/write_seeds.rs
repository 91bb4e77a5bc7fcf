//! Writes the seed corpora under `DIR/<target>/` (default `fuzz/corpus/`)
//! with the project's own writers, so every seed is a valid file of its
//! kind: `cargo run --example write_seeds [DIR]` (from `fuzz/`). Seeds are
//! generated, never committed (no binary files in git); they are small on
//! purpose (a few KB in all): the fuzzer grows its own corpus from them.

use std::path::{Path, PathBuf};

use expertsteer_core::steerfile::{Method, SteerFile};
use expertsteer_core::testing::sample_file;
use gguf_tools::{Array, ControlVector, GgmlType, GgufWriter, Value};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = match std::env::args_os().nth(1) {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"),
    };
    let write = |target: &str, name: &str, bytes: &[u8]| -> std::io::Result<()> {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(name), bytes)
    };

    // GGUF: one value of every metadata type, tensors of a float, a
    // half and a block-quantized type; an alignment override; no tensors.
    let mut w = GgufWriter::new();
    w.add_metadata("general.architecture", Value::from("demo"))?;
    w.add_metadata("demo.u8", Value::U8(7))?;
    w.add_metadata("demo.i8", Value::I8(-7))?;
    w.add_metadata("demo.u16", Value::U16(700))?;
    w.add_metadata("demo.i16", Value::I16(-700))?;
    w.add_metadata("demo.u32", Value::U32(70_000))?;
    w.add_metadata("demo.i32", Value::I32(-70_000))?;
    w.add_metadata("demo.f32", Value::F32(0.5))?;
    w.add_metadata("demo.bool", Value::Bool(true))?;
    w.add_metadata("demo.u64", Value::U64(1 << 40))?;
    w.add_metadata("demo.i64", Value::I64(-(1 << 40)))?;
    w.add_metadata("demo.f64", Value::F64(-0.25))?;
    w.add_metadata("demo.u32s", Value::Array(Array::U32(vec![1, 2, 3])))?;
    w.add_metadata(
        "demo.tokens",
        Value::Array(Array::String(vec!["<s>".into(), "▁a".into()])),
    )?;
    w.add_tensor_f32("m", &[3, 2], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0])?;
    w.add_tensor_f16("h", &[4], &[1.0, -1.0, 0.5, 65504.0])?;
    w.add_tensor_raw("q", &[32], GgmlType::Q4_0, vec![0x11; 18])?;
    write("gguf_reader", "all-types.gguf", &w.to_bytes()?)?;

    let mut w = GgufWriter::new();
    w.add_metadata("general.alignment", Value::U32(64))?;
    w.add_tensor_f32("a", &[2, 1, 1], &[1.0, 2.0])?;
    w.add_tensor_f32("b", &[1], &[3.0])?;
    write("gguf_reader", "align-64.gguf", &w.to_bytes()?)?;

    let mut w = GgufWriter::new();
    w.add_metadata("general.name", Value::from("only metadata"))?;
    write("gguf_reader", "no-tensors.gguf", &w.to_bytes()?)?;

    // Control vectors: F32 as written by this project, with and without a
    // model hint, and an F16 one (read, though llama.cpp wants F32).
    let mut cv = ControlVector::new(4);
    cv.directions.insert(1, vec![0.5, 0.0, -0.5, 1.0]);
    cv.directions.insert(3, vec![0.25, -2.0, 0.0, 0.125]);
    write("cvec_reader", "two-layers.gguf", &cv.to_gguf_bytes()?)?;
    cv.model_hint = Some("llama".into());
    cv.directions.remove(&3);
    write("cvec_reader", "hinted.gguf", &cv.to_gguf_bytes()?)?;
    let mut w = GgufWriter::new();
    w.add_metadata("general.architecture", Value::from("controlvector"))?;
    w.add_tensor_f16("direction.2", &[4, 1], &[1.0, 0.5, -0.5, 0.0])?;
    write("cvec_reader", "f16.gguf", &w.to_bytes()?)?;

    // Steering files: every optional field filled, and none.
    let full = sample_file();
    write("steer_file", "expertsteer.steer", &full.to_bytes()?)?;
    let bare = SteerFile {
        expert: None,
        method: Method::Caa,
        mi: None,
        params: Default::default(),
        ..full.clone()
    };
    let mut bare = bare;
    bare.layers[0].expert_layer = None;
    bare.layers[0].val_auc = None;
    bare.layers[0].mi = None;
    write("steer_file", "caa.steer", &bare.to_bytes()?)?;

    // JSON Lines: both dataset forms mixed, and unlabelled prompts.
    write(
        "jsonl_dataset",
        "mixed.jsonl",
        concat!(
            "{\"text\": \"Sort a list in Python.\", \"label\": 1, \"group\": \"q1\"}\n",
            "{\"text\": \"Bake bread.\", \"label\": 0, \"group\": \"q1\"}\n",
            "\n",
            "{\"positive\": \"def f(): pass\", \"negative\": \"a poem\"}\n",
            "{\"text\": \"x\", \"label\": true, \"group\": 3}\n",
            "{\"text\": \"y\", \"label\": false, \"group\": null}\n",
        )
        .as_bytes(),
    )?;
    write(
        "jsonl_dataset",
        "prompts.jsonl",
        b"{\"text\": \"Hello\"}\r\n{\"prompt\": \"Caf\\u00e9 \xc3\xa9\"}\r\n",
    )?;
    Ok(())
}
