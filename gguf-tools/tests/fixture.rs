//! The llama fixture parses back with the shapes and metadata llama.cpp
//! needs.

use gguf_tools::fixture::{fixture_vocab, FIXTURE_N_VOCAB, WEIGHT_SCALE};
use gguf_tools::{Array, GgmlType, GgufFile, LlamaFixture, Value};

fn u32_key(file: &GgufFile, key: &str) -> u32 {
    match file.get(key) {
        Some(Value::U32(v)) => *v,
        other => panic!("{key} should be a u32, is {other:?}"),
    }
}

fn check_fixture(fx: LlamaFixture) -> GgufFile {
    let bytes = fx.to_bytes().unwrap();
    let file = GgufFile::parse(&bytes).unwrap();
    let e = u64::from(fx.n_embd);
    let ff = u64::from(fx.n_ff);
    let v = u64::from(FIXTURE_N_VOCAB);
    let kv = e / u64::from(fx.n_head) * u64::from(fx.n_head_kv);

    assert_eq!(file.architecture(), Some("llama"));
    assert_eq!(u32_key(&file, "llama.context_length"), fx.n_ctx_train);
    assert_eq!(u32_key(&file, "llama.embedding_length"), fx.n_embd);
    assert_eq!(u32_key(&file, "llama.block_count"), fx.n_layer);
    assert_eq!(u32_key(&file, "llama.feed_forward_length"), fx.n_ff);
    assert_eq!(u32_key(&file, "llama.attention.head_count"), fx.n_head);
    assert_eq!(
        u32_key(&file, "llama.attention.head_count_kv"),
        fx.n_head_kv
    );
    assert_eq!(
        u32_key(&file, "llama.rope.dimension_count"),
        fx.n_embd / fx.n_head
    );
    assert_eq!(u32_key(&file, "llama.vocab_size"), FIXTURE_N_VOCAB);
    assert!(matches!(
        file.get("llama.attention.layer_norm_rms_epsilon"),
        Some(Value::F32(x)) if *x > 0.0
    ));
    assert!(matches!(
        file.get("llama.rope.freq_base"),
        Some(Value::F32(_))
    ));

    // Tokenizer.
    assert_eq!(
        file.get("tokenizer.ggml.model").and_then(Value::as_str),
        Some("llama")
    );
    let (tokens, types, _) = fixture_vocab();
    assert_eq!(
        file.get("tokenizer.ggml.tokens"),
        Some(&Value::Array(Array::String(tokens)))
    );
    assert_eq!(
        file.get("tokenizer.ggml.token_type"),
        Some(&Value::Array(Array::I32(types)))
    );
    assert!(matches!(
        file.get("tokenizer.ggml.scores"),
        Some(Value::Array(Array::F32(s))) if s.len() == FIXTURE_N_VOCAB as usize
    ));
    assert_eq!(u32_key(&file, "tokenizer.ggml.bos_token_id"), 1);
    assert_eq!(u32_key(&file, "tokenizer.ggml.eos_token_id"), 2);
    assert_eq!(u32_key(&file, "tokenizer.ggml.unknown_token_id"), 0);

    // Tensors: exactly the ones llama.cpp creates, no extras (it counts them).
    let mut expected: Vec<(String, Vec<u64>)> = vec![
        ("token_embd.weight".into(), vec![e, v]),
        ("output_norm.weight".into(), vec![e]),
        ("output.weight".into(), vec![e, v]),
    ];
    for b in 0..fx.n_layer {
        for (name, dims) in [
            ("attn_norm", vec![e]),
            ("attn_q", vec![e, e]),
            ("attn_k", vec![e, kv]),
            ("attn_v", vec![e, kv]),
            ("attn_output", vec![e, e]),
            ("ffn_norm", vec![e]),
            ("ffn_gate", vec![e, ff]),
            ("ffn_up", vec![e, ff]),
            ("ffn_down", vec![ff, e]),
        ] {
            expected.push((format!("blk.{b}.{name}.weight"), dims));
        }
    }
    let got: Vec<(String, Vec<u64>)> = file
        .tensors()
        .iter()
        .map(|t| (t.name.clone(), t.dims.clone()))
        .collect();
    assert_eq!(got, expected);

    for t in file.tensors() {
        assert_eq!(t.ggml_type, GgmlType::F32);
        let data = file.read_tensor_f32(&t.name).unwrap();
        assert_eq!(data.len() as u64, t.n_elements());
        if t.name.ends_with("norm.weight") {
            assert!(data.iter().all(|&x| x == 1.0), "{}", t.name);
        } else {
            assert!(
                data.iter().all(|x| x.abs() <= WEIGHT_SCALE),
                "{} out of range",
                t.name
            );
            let mean_abs = data.iter().map(|x| x.abs()).sum::<f32>() / data.len() as f32;
            assert!(mean_abs > WEIGHT_SCALE / 4.0, "{} looks constant", t.name);
        }
    }
    assert_eq!(bytes.len() as u64, file.file_size());
    file
}

#[test]
fn default_fixture_has_expected_shapes_and_metadata() {
    let file = check_fixture(LlamaFixture::default());
    assert_eq!(file.tensors().len(), 3 + 9 * 2);
    // About 470 KB of F32 weights.
    assert!(
        (400_000..500_000).contains(&file.file_size()),
        "{}",
        file.file_size()
    );
}

#[test]
fn other_sizes_work() {
    check_fixture(LlamaFixture {
        n_embd: 48,
        n_ff: 96,
        ..LlamaFixture::default()
    });
    check_fixture(LlamaFixture {
        n_embd: 96,
        n_layer: 3,
        n_head: 6,
        n_head_kv: 2, // grouped-query attention
        n_ff: 160,
        ..LlamaFixture::default()
    });
    check_fixture(LlamaFixture {
        n_layer: 1,
        ..LlamaFixture::default()
    });
}

#[test]
fn fixture_is_deterministic_per_seed() {
    let a = LlamaFixture::default().to_bytes().unwrap();
    let b = LlamaFixture::default().to_bytes().unwrap();
    let c = LlamaFixture {
        seed: 2,
        ..LlamaFixture::default()
    }
    .to_bytes()
    .unwrap();
    assert_eq!(a, b);
    assert_eq!(a.len(), c.len());
    assert_ne!(a, c);
}

#[test]
fn fixture_writes_to_disk() {
    let path = std::env::temp_dir().join(format!("gguf-tools-fixture-{}.gguf", std::process::id()));
    LlamaFixture::default().write(&path).unwrap();
    let file = GgufFile::open(&path).unwrap();
    assert_eq!(
        file.read_tensor_f32("blk.1.ffn_down.weight").unwrap(),
        GgufFile::parse(&LlamaFixture::default().to_bytes().unwrap())
            .unwrap()
            .read_tensor_f32("blk.1.ffn_down.weight")
            .unwrap()
    );
    let _ = std::fs::remove_file(&path);
}
