//! Writer -> reader round trips must be bit-exact.

use gguf_tools::{Array, GgmlType, GgufError, GgufFile, GgufWriter, Value, ValueType};

/// One value of every GGUF type, including awkward floats and an array of
/// every element type.
fn every_value() -> Vec<(String, Value)> {
    let scalars = vec![
        ("t.u8", Value::U8(0xfe)),
        ("t.i8", Value::I8(-128)),
        ("t.u16", Value::U16(0xbeef)),
        ("t.i16", Value::I16(-12345)),
        ("t.u32", Value::U32(0xdead_beef)),
        ("t.i32", Value::I32(i32::MIN)),
        ("t.f32", Value::F32(-0.0)),
        ("t.f32_sub", Value::F32(f32::from_bits(1))),
        ("t.f32_nan", Value::F32(f32::from_bits(0x7fc0_1234))),
        ("t.bool_t", Value::Bool(true)),
        ("t.bool_f", Value::Bool(false)),
        ("t.string", Value::from("héllo ▁ wörld \u{1F600}")),
        ("t.empty_string", Value::from("")),
        ("t.u64", Value::U64(u64::MAX)),
        ("t.i64", Value::I64(i64::MIN + 1)),
        ("t.f64", Value::F64(std::f64::consts::PI)),
        ("t.f64_inf", Value::F64(f64::NEG_INFINITY)),
    ];
    let arrays = vec![
        ("a.u8", Array::U8(vec![0, 1, 255])),
        ("a.i8", Array::I8(vec![-1, 0, 127])),
        ("a.u16", Array::U16(vec![1, 65535])),
        ("a.i16", Array::I16(vec![-32768, 7])),
        ("a.u32", Array::U32(vec![1, 2, 3, u32::MAX])),
        ("a.i32", Array::I32(vec![-5, 5])),
        (
            "a.f32",
            Array::F32(vec![1.5, f32::MIN_POSITIVE, f32::INFINITY]),
        ),
        ("a.bool", Array::Bool(vec![true, false, true])),
        (
            "a.string",
            Array::String(vec!["a".into(), "".into(), "<0x0A>".into()]),
        ),
        ("a.u64", Array::U64(vec![u64::MAX, 0])),
        ("a.i64", Array::I64(vec![i64::MIN, i64::MAX])),
        ("a.f64", Array::F64(vec![-1e300, 2.5])),
        ("a.empty", Array::F32(vec![])),
    ];
    scalars
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .chain(
            arrays
                .into_iter()
                .map(|(k, a)| (k.to_owned(), Value::Array(a))),
        )
        .collect()
}

/// Compares values with floats compared by bits, so NaN payloads and the
/// sign of zero count.
fn bits_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::F32(x), Value::F32(y)) => x.to_bits() == y.to_bits(),
        (Value::F64(x), Value::F64(y)) => x.to_bits() == y.to_bits(),
        (Value::Array(Array::F32(x)), Value::Array(Array::F32(y))) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits())
        }
        (Value::Array(Array::F64(x)), Value::Array(Array::F64(y))) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits())
        }
        _ => a == b,
    }
}

struct Tensors {
    f32_1d: Vec<f32>,
    f32_4d: Vec<f32>,
    f16_src: Vec<f32>,
    q8: Vec<u8>,
}

fn sample_tensors() -> Tensors {
    Tensors {
        f32_1d: vec![1.0, -0.0, f32::from_bits(0x7fa0_0001), f32::INFINITY, 1e-42],
        f32_4d: (0..2 * 3 * 4 * 5).map(|i| i as f32 * 0.25 - 7.0).collect(),
        f16_src: vec![0.5, -2.0, 65504.0, 1e-7],
        // Two Q8_0 blocks of 34 bytes: any bytes are valid data.
        q8: (0..68u32).map(|i| (i * 7 + 3) as u8).collect(),
    }
}

fn build() -> (GgufWriter, Tensors) {
    let t = sample_tensors();
    let mut w = GgufWriter::new();
    for (k, v) in every_value() {
        w.add_metadata(k, v).expect("metadata");
    }
    w.add_tensor_f32("one_d", &[5], &t.f32_1d).expect("1d");
    w.add_tensor_f32("four_d", &[2, 3, 4, 5], &t.f32_4d)
        .expect("4d");
    w.add_tensor_f16("half", &[4], &t.f16_src).expect("f16");
    w.add_tensor_raw("quant", &[64], GgmlType::Q8_0, t.q8.clone())
        .expect("q8");
    (w, t)
}

fn check(file: &GgufFile, t: &Tensors) {
    let expected = every_value();
    assert_eq!(file.header().version, 3);
    assert_eq!(file.header().kv_count, expected.len() as u64);
    assert_eq!(file.header().tensor_count, 4);
    assert_eq!(file.metadata().len(), expected.len());
    for ((k1, v1), (k2, v2)) in file.metadata().iter().zip(&expected) {
        assert_eq!(k1, k2);
        assert!(bits_eq(v1, v2), "{k1}: {v1:?} != {v2:?}");
        assert_eq!(v1.value_type(), v2.value_type());
    }

    let names: Vec<&str> = file.tensors().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["one_d", "four_d", "half", "quant"]);
    assert_eq!(file.alignment(), 32);
    assert_eq!(file.data_offset() % 32, 0);
    for info in file.tensors() {
        assert_eq!(info.offset % 32, 0, "{}", info.name);
    }
    let four = file.tensor("four_d").expect("four_d");
    assert_eq!(four.dims, vec![2, 3, 4, 5]);
    assert_eq!(four.n_bytes, 2 * 3 * 4 * 5 * 4);
    assert_eq!(four.ggml_type, GgmlType::F32);

    let one = file.read_tensor_f32("one_d").expect("read one_d");
    let bits: Vec<u32> = one.iter().map(|v| v.to_bits()).collect();
    let want: Vec<u32> = t.f32_1d.iter().map(|v| v.to_bits()).collect();
    assert_eq!(bits, want);
    assert_eq!(file.read_tensor_f32("four_d").expect("four_d"), t.f32_4d);

    let half = file.read_tensor_f32("half").expect("half");
    assert_eq!(half[0], 0.5);
    assert_eq!(half[1], -2.0);
    assert_eq!(half[2], 65504.0);
    assert_eq!(half[3], 2f32.powi(-23)); // 1e-7 rounds to the f16 subnormal 2 * 2^-24
    assert_eq!(
        file.tensor("half").map(|t| t.ggml_type),
        Some(GgmlType::F16)
    );

    assert_eq!(file.read_tensor_bytes("quant").expect("quant"), t.q8);
    assert_eq!(file.tensor("quant").map(|t| t.n_bytes), Some(68));
}

#[test]
fn every_type_round_trips_in_memory() {
    let (w, t) = build();
    let bytes = w.to_bytes().expect("serialise");
    assert_eq!(
        bytes.len() % 32,
        0,
        "file ends on an aligned, padded boundary"
    );
    let file = GgufFile::parse(&bytes).expect("parse");
    check(&file, &t);
    // Writing what was read gives the same bytes.
    let mut again = GgufWriter::new();
    for (k, v) in file.metadata() {
        again.add_metadata(k.clone(), v.clone()).expect("meta");
    }
    for info in file.tensors() {
        let data = file.read_tensor_bytes(&info.name).expect("bytes");
        again
            .add_tensor_raw(&info.name, &info.dims, info.ggml_type, data)
            .expect("tensor");
    }
    assert_eq!(again.to_bytes().expect("serialise again"), bytes);
}

#[test]
fn every_type_round_trips_through_a_file() {
    let dir = tempdir("roundtrip");
    let path = dir.join("all.gguf");
    let (w, t) = build();
    w.write_file(&path).expect("write");
    let file = GgufFile::open(&path).expect("open");
    check(&file, &t);
    assert_eq!(
        file.file_size(),
        std::fs::metadata(&path).expect("stat").len()
    );
    let left: Vec<_> = std::fs::read_dir(&dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("all.gguf.partial"))
        .collect();
    assert!(left.is_empty(), "temp files left: {left:?}");
}

#[test]
fn version_2_files_are_read() {
    let (w, t) = build();
    let mut bytes = w.to_bytes().expect("serialise");
    bytes[4] = 2;
    let file = GgufFile::parse(&bytes).expect("v2 parses");
    assert_eq!(file.header().version, 2);
    assert_eq!(file.read_tensor_f32("four_d").expect("read"), t.f32_4d);
}

#[test]
fn custom_alignment_is_honoured() {
    let mut w = GgufWriter::new();
    w.add_metadata("general.alignment", Value::U32(256))
        .expect("align");
    w.add_tensor_f32("a", &[3], &[1.0, 2.0, 3.0]).expect("a");
    w.add_tensor_f32("b", &[1], &[4.0]).expect("b");
    let bytes = w.to_bytes().expect("serialise");
    let file = GgufFile::parse(&bytes).expect("parse");
    assert_eq!(file.alignment(), 256);
    assert_eq!(file.data_offset() % 256, 0);
    assert_eq!(file.tensor("b").map(|t| t.offset), Some(256));
    assert_eq!(file.read_tensor_f32("b").expect("b"), vec![4.0]);
    assert_eq!(bytes.len() as u64, file.data_offset() + 512);
}

#[test]
fn file_without_tensors_round_trips() {
    let mut w = GgufWriter::new();
    w.add_metadata("general.architecture", Value::from("none"))
        .expect("meta");
    let file = GgufFile::parse(&w.to_bytes().expect("bytes")).expect("parse");
    assert!(file.tensors().is_empty());
    assert_eq!(file.architecture(), Some("none"));
}

#[test]
fn writer_rejects_bad_input() {
    let mut w = GgufWriter::new();
    w.add_metadata("k", Value::U8(1)).expect("first");
    let invalid = |r: gguf_tools::Result<()>| matches!(r, Err(GgufError::InvalidInput { .. }));
    assert!(invalid(w.add_metadata("k", Value::U8(2))));
    assert!(invalid(w.add_metadata("", Value::U8(2))));
    assert!(invalid(w.add_metadata("general.alignment", Value::U32(48))));
    assert!(invalid(w.add_metadata("general.alignment", Value::U64(64))));
    assert!(invalid(w.add_tensor_f32("t", &[3], &[1.0, 2.0])));
    assert!(invalid(w.add_tensor_f32("t", &[1, 1, 1, 1, 1], &[1.0])));
    assert!(invalid(w.add_tensor_f32(&"x".repeat(64), &[1], &[1.0])));
    assert!(invalid(w.add_tensor_raw(
        "q",
        &[33],
        GgmlType::Q4_0,
        vec![0; 18]
    )));
    assert!(invalid(w.add_tensor_f32("", &[1], &[1.0])));
    w.add_tensor_f32("t", &[1], &[1.0]).expect("ok");
    assert!(invalid(w.add_tensor_f32("t", &[1], &[1.0])));
}

#[test]
fn value_type_names_are_stable() {
    assert_eq!(ValueType::String.name(), "string");
    assert_eq!(Value::U32(7).value_type().id(), 4);
}

/// A fresh directory under the system temp dir for one test.
fn tempdir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("gguf-tools-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir
}
