//! Control vector files: layout llama.cpp expects, bit-exact round trips,
//! and rejection of everything llama.cpp would reject (plus NaN/inf).

use std::collections::BTreeMap;

use gguf_tools::{ControlVector, GgmlType, GgufError, GgufFile, GgufWriter, Value};

fn sample() -> ControlVector {
    let n_embd = 48;
    let mut directions = BTreeMap::new();
    for layer in [1usize, 2, 7, 511] {
        let v: Vec<f32> = (0..n_embd)
            .map(|i| match i {
                0 => -0.0,
                1 => f32::from_bits(1), // smallest subnormal
                2 => f32::MAX,
                _ => (i as f32 * 0.37 + layer as f32).sin() * 1e-3,
            })
            .collect();
        directions.insert(layer, v);
    }
    ControlVector {
        n_embd,
        directions,
        model_hint: Some("llama".to_owned()),
    }
}

fn bits(cv: &ControlVector) -> Vec<(usize, Vec<u32>)> {
    cv.directions
        .iter()
        .map(|(&l, v)| (l, v.iter().map(|x| x.to_bits()).collect()))
        .collect()
}

fn tempfile(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("gguf-tools-cvec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir.join(name)
}

#[test]
fn round_trip_is_bit_exact_in_memory_and_on_disk() {
    let cv = sample();
    let back = ControlVector::from_gguf_bytes(&cv.to_gguf_bytes().unwrap()).unwrap();
    assert_eq!(back.n_embd, cv.n_embd);
    assert_eq!(back.model_hint, cv.model_hint);
    assert_eq!(bits(&back), bits(&cv));

    let path = tempfile("rt.gguf");
    cv.write_cvec(&path).unwrap();
    let from_disk = ControlVector::read_cvec(&path).unwrap();
    assert_eq!(bits(&from_disk), bits(&cv));
    assert_eq!(from_disk, back);
}

#[test]
fn file_has_the_layout_llama_cpp_loads() {
    let cv = sample();
    let file = GgufFile::parse(&cv.to_gguf_bytes().unwrap()).unwrap();
    assert_eq!(file.header().version, 3);
    assert_eq!(file.architecture(), Some("controlvector"));
    assert_eq!(
        file.get("controlvector.model_hint").and_then(Value::as_str),
        Some("llama")
    );
    assert_eq!(file.get("controlvector.layer_count"), Some(&Value::I32(4)));
    let names: Vec<&str> = file.tensors().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        ["direction.1", "direction.2", "direction.7", "direction.511"]
    );
    for t in file.tensors() {
        assert_eq!(t.ggml_type, GgmlType::F32);
        assert_eq!(t.dims, vec![48]);
        assert_eq!(t.offset % 32, 0);
    }
    // ggml's reader loads the whole padded data section: the file must hold it.
    let padded = file.tensors().len() as u64 * (48u64 * 4).div_ceil(32) * 32;
    assert_eq!(file.file_size(), file.data_offset() + padded);
}

#[test]
fn no_model_hint_means_no_key() {
    let mut cv = sample();
    cv.model_hint = None;
    let file = GgufFile::parse(&cv.to_gguf_bytes().unwrap()).unwrap();
    assert!(file.get("controlvector.model_hint").is_none());
    assert_eq!(ControlVector::from_gguf(&file).unwrap().model_hint, None);
}

#[test]
fn nan_and_infinity_are_rejected_when_writing() {
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut cv = sample();
        cv.directions.get_mut(&7).unwrap()[5] = bad;
        match cv.to_gguf_bytes() {
            Err(GgufError::NonFinite { tensor, index, .. }) => {
                assert_eq!((tensor.as_str(), index), ("direction.7", 5));
            }
            other => panic!("{other:?}"),
        }
        let path = tempfile("nan.gguf");
        let _ = std::fs::remove_file(&path);
        assert!(matches!(
            cv.write_cvec(&path),
            Err(GgufError::NonFinite { .. })
        ));
        assert!(!path.exists(), "nothing is written for an invalid vector");
    }
}

/// A raw file with the given direction tensors, bypassing ControlVector's
/// own checks.
fn raw_cvec(tensors: &[(&str, &[u64], &[f32])]) -> Vec<u8> {
    let mut w = GgufWriter::new();
    w.add_metadata("general.architecture", Value::from("controlvector"))
        .unwrap();
    for (name, dims, data) in tensors {
        w.add_tensor_f32(name, dims, data).unwrap();
    }
    w.to_bytes().unwrap()
}

#[test]
fn nan_is_rejected_when_reading() {
    let bytes = raw_cvec(&[
        ("direction.1", &[3], &[0.0, 1.0, 2.0]),
        ("direction.2", &[3], &[0.0, f32::NAN, 2.0]),
    ]);
    let e = ControlVector::from_gguf_bytes(&bytes).unwrap_err();
    assert!(
        matches!(e, GgufError::NonFinite { ref tensor, index: 1, .. } if tensor == "direction.2"),
        "{e:?}"
    );
    assert!(e.to_string().contains("direction.2"), "{e}");
}

fn invalid_direction(bytes: &[u8], needle: &str) {
    match ControlVector::from_gguf_bytes(bytes) {
        Err(GgufError::InvalidDirection { reason, .. }) => {
            assert!(
                reason.contains(needle),
                "'{reason}' should mention '{needle}'"
            )
        }
        other => panic!("expected InvalidDirection ({needle}), got {other:?}"),
    }
}

#[test]
fn malformed_directions_are_rejected() {
    invalid_direction(
        &raw_cvec(&[
            ("direction.1", &[4], &[0.0; 4]),
            ("direction.2", &[5], &[0.0; 5]),
        ]),
        "earlier directions have 4",
    );
    invalid_direction(
        &raw_cvec(&[("direction.0", &[4], &[0.0; 4])]),
        "layer index 0",
    );
    invalid_direction(
        &raw_cvec(&[("direction.x", &[4], &[0.0; 4])]),
        "not a decimal",
    );
    invalid_direction(
        &raw_cvec(&[("direction.600", &[4], &[0.0; 4])]),
        "above 511",
    );
    invalid_direction(
        &raw_cvec(&[("blk.1.weight", &[4], &[0.0; 4])]),
        "direction.K",
    );
    invalid_direction(&raw_cvec(&[("direction.1", &[2, 2], &[0.0; 4])]), "not 1-D");
    invalid_direction(
        &raw_cvec(&[
            ("direction.1", &[4], &[0.0; 4]),
            ("direction.01", &[4], &[0.0; 4]),
        ]),
        "second tensor",
    );
    let mut w = GgufWriter::new();
    w.add_tensor_raw("direction.1", &[32], GgmlType::Q8_0, vec![0; 34])
        .unwrap();
    invalid_direction(&w.to_bytes().unwrap(), "needs F32");
}

#[test]
fn trailing_unit_dims_and_f16_are_accepted() {
    let cv = ControlVector::from_gguf_bytes(&raw_cvec(&[(
        "direction.3",
        &[4, 1],
        &[1.0, 2.0, 3.0, 4.0],
    )]))
    .unwrap();
    assert_eq!(cv.n_embd, 4);
    assert_eq!(cv.directions[&3], vec![1.0, 2.0, 3.0, 4.0]);

    let mut w = GgufWriter::new();
    w.add_tensor_f16("direction.2", &[2], &[0.5, -1.25])
        .unwrap();
    let cv = ControlVector::from_gguf_bytes(&w.to_bytes().unwrap()).unwrap();
    assert_eq!(cv.directions[&2], vec![0.5, -1.25]);
}

#[test]
fn files_that_are_not_control_vectors_are_rejected() {
    let mut w = GgufWriter::new();
    w.add_metadata("general.architecture", Value::from("llama"))
        .unwrap();
    w.add_tensor_f32("direction.1", &[1], &[1.0]).unwrap();
    assert!(matches!(
        ControlVector::from_gguf_bytes(&w.to_bytes().unwrap()),
        Err(GgufError::NotAControlVector { ref reason, .. }) if reason.contains("llama")
    ));
    assert!(matches!(
        ControlVector::from_gguf_bytes(&raw_cvec(&[])),
        Err(GgufError::NotAControlVector { .. })
    ));
}

#[test]
fn invalid_vectors_are_rejected_when_writing() {
    assert!(matches!(
        ControlVector::new(4).to_gguf_bytes(),
        Err(GgufError::NotAControlVector { .. })
    ));
    let mut cv = ControlVector::new(4);
    cv.directions.insert(1, vec![0.0; 3]);
    assert!(matches!(
        cv.to_gguf_bytes(),
        Err(GgufError::InvalidDirection { .. })
    ));
    let mut cv = ControlVector::new(4);
    cv.directions.insert(0, vec![0.0; 4]);
    assert!(matches!(
        cv.to_gguf_bytes(),
        Err(GgufError::InvalidDirection { .. })
    ));
    assert!(matches!(
        ControlVector::new(0).validate("x"),
        Err(GgufError::InvalidInput { .. })
    ));
}

#[test]
fn norms_are_l2_per_layer() {
    let mut cv = ControlVector::new(2);
    cv.directions.insert(1, vec![3.0, 4.0]);
    cv.directions.insert(4, vec![0.0, -2.0]);
    assert_eq!(cv.norms(), vec![(1, 5.0), (4, 2.0)]);
}
