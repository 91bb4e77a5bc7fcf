//! Malformed and hostile files must give the right error, never a panic or
//! a huge allocation.

use std::panic::{catch_unwind, AssertUnwindSafe};

use gguf_tools::{GgmlType, GgufError, GgufFile, GgufWriter, Value};

/// Builds raw GGUF bytes field by field, so tests can write anything.
#[derive(Default)]
struct Raw(Vec<u8>);

impl Raw {
    fn header(version: u32, n_tensors: u64, n_kv: u64) -> Raw {
        let mut r = Raw::default();
        r.bytes(b"GGUF").u32(version).u64(n_tensors).u64(n_kv);
        r
    }
    fn bytes(&mut self, b: &[u8]) -> &mut Raw {
        self.0.extend_from_slice(b);
        self
    }
    fn u32(&mut self, v: u32) -> &mut Raw {
        self.bytes(&v.to_le_bytes())
    }
    fn u64(&mut self, v: u64) -> &mut Raw {
        self.bytes(&v.to_le_bytes())
    }
    fn i64(&mut self, v: i64) -> &mut Raw {
        self.bytes(&v.to_le_bytes())
    }
    fn str(&mut self, s: &str) -> &mut Raw {
        self.u64(s.len() as u64).bytes(s.as_bytes())
    }
    /// A tensor info: name, dims, type id, offset.
    fn tensor(&mut self, name: &str, dims: &[i64], type_id: u32, offset: u64) -> &mut Raw {
        self.str(name).u32(dims.len() as u32);
        for &d in dims {
            self.i64(d);
        }
        self.u32(type_id).u64(offset)
    }
    fn pad_to(&mut self, align: usize) -> &mut Raw {
        while !self.0.len().is_multiple_of(align) {
            self.0.push(0);
        }
        self
    }
    fn zeros(&mut self, n: usize) -> &mut Raw {
        self.0.resize(self.0.len() + n, 0);
        self
    }
}

fn parse(bytes: &[u8]) -> Result<GgufFile, GgufError> {
    match catch_unwind(AssertUnwindSafe(|| GgufFile::parse(bytes))) {
        Ok(r) => r,
        Err(_) => panic!("parser panicked on {} bytes: {:02x?}", bytes.len(), bytes),
    }
}

fn err(bytes: &[u8]) -> GgufError {
    match parse(bytes) {
        Ok(f) => panic!("expected an error, parsed {f:?}"),
        Err(e) => e,
    }
}

/// A small valid file whose last tensor fills its padded slot exactly, so
/// every shorter prefix is missing something.
fn small_valid_file() -> Vec<u8> {
    let mut w = GgufWriter::new();
    w.add_metadata("general.architecture", Value::from("llama"))
        .unwrap();
    w.add_metadata(
        "k.arr",
        Value::Array(gguf_tools::Array::String(vec!["ab".into(), "c".into()])),
    )
    .unwrap();
    w.add_metadata(
        "k.u32s",
        Value::Array(gguf_tools::Array::U32(vec![1, 2, 3])),
    )
    .unwrap();
    w.add_metadata("k.f", Value::F64(1.5)).unwrap();
    w.add_tensor_f32("a", &[3], &[1.0, 2.0, 3.0]).unwrap();
    w.add_tensor_f32("b", &[4, 2], &[0.5; 8]).unwrap(); // 32 bytes: no padding
    w.to_bytes().unwrap()
}

#[test]
fn empty_file_is_truncated_at_the_magic() {
    match err(&[]) {
        GgufError::Truncated {
            what,
            offset: 0,
            needed: 4,
            available: 0,
            ..
        } => assert!(what.contains("magic")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn wrong_magic_is_not_gguf() {
    let e = err(b"GGML\x03\0\0\0 plenty of other bytes here......");
    assert!(matches!(e, GgufError::BadMagic { found, .. } if &found == b"GGML"));
    assert!(e.to_string().contains("not a GGUF file"), "{e}");
}

#[test]
fn unsupported_versions_are_named() {
    for (version, hint) in [(1, "v1"), (4, ""), (0x0300_0000, "big-endian"), (0, "")] {
        let e = err(&Raw::header(version, 0, 0).0);
        assert!(
            matches!(e, GgufError::UnsupportedVersion { version: v, .. } if v == version),
            "{e:?}"
        );
        assert!(e.to_string().contains(hint), "{e}");
    }
}

#[test]
fn every_prefix_of_a_valid_file_errors_without_panicking() {
    let full = small_valid_file();
    parse(&full).expect("the full file is valid");
    for len in 0..full.len() {
        let e = err(&full[..len]);
        // The message always names where the data came from.
        assert!(e.to_string().contains("<memory>"), "{len}: {e}");
    }
}

#[test]
fn prefix_errors_name_the_field() {
    let full = small_valid_file();
    // Cut inside the version field.
    assert!(
        matches!(err(&full[..6]), GgufError::Truncated { offset: 4, ref what, .. } if what == "version")
    );
    // Cut right after the name of tensor 'b'.
    let name_b = full
        .windows(9)
        .position(|w| w == b"\x01\0\0\0\0\0\0\0b")
        .expect("tensor b's name")
        + 9;
    let e = err(&full[..name_b + 2]);
    assert!(
        matches!(e, GgufError::Truncated { ref what, offset, needed: 4, available: 2, .. }
            if what == "dimension count of tensor 'b'" && offset == name_b as u64),
        "{e:?}"
    );
    // A header promising more pairs than the rest of the file can hold.
    let e = err(&full[..40]);
    assert!(
        matches!(e, GgufError::TooManyItems { ref what, count: 4, .. } if what.contains("key-value")),
        "{e:?}"
    );
    assert!(e.to_string().contains("truncated or corrupt"), "{e}");
}

#[test]
fn files_missing_only_the_final_padding_are_tolerated() {
    // llama.cpp's mmap loader only needs each tensor's bytes to be in the
    // file; the reader follows it.
    let mut w = GgufWriter::new();
    w.add_tensor_f32("x", &[2], &[1.0, 2.0]).unwrap();
    let full = w.to_bytes().unwrap();
    let file = parse(&full).unwrap();
    let data_end = (file.data_offset() + 8) as usize;
    assert!(data_end < full.len());
    for len in 0..full.len() {
        assert_eq!(parse(&full[..len]).is_ok(), len >= data_end, "{len}");
    }
    assert_eq!(
        parse(&full[..data_end])
            .unwrap()
            .read_tensor_f32("x")
            .unwrap(),
        vec![1.0, 2.0]
    );
}

#[test]
fn absurd_tensor_count_is_rejected_before_allocating() {
    let mut r = Raw::header(3, 1 << 60, 0);
    r.zeros(64);
    match err(&r.0) {
        GgufError::TooManyItems {
            what,
            count,
            max,
            offset,
            ..
        } => {
            assert_eq!(what, "tensor count");
            assert_eq!(count, 1 << 60);
            assert_eq!(offset, 8);
            assert!(max <= 3);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn absurd_kv_count_is_rejected() {
    let mut r = Raw::header(3, 0, u64::MAX);
    r.zeros(64);
    assert!(
        matches!(err(&r.0), GgufError::TooManyItems { ref what, .. } if what.contains("key-value"))
    );
}

#[test]
fn absurd_string_lengths_are_rejected() {
    // Key length 2^62.
    let mut r = Raw::header(3, 0, 1);
    r.u64(1 << 62).zeros(32);
    match err(&r.0) {
        GgufError::StringTooLong { len, offset, .. } => {
            assert_eq!(len, 1 << 62);
            assert_eq!(offset, 24);
        }
        other => panic!("{other:?}"),
    }
    // String value length 2^62.
    let mut r = Raw::header(3, 0, 1);
    r.str("key").u32(8).u64(1 << 62).zeros(32);
    assert!(
        matches!(err(&r.0), GgufError::StringTooLong { ref what, .. } if what.contains("'key'"))
    );
    // Tensor name length 2^62.
    let mut r = Raw::header(3, 1, 0);
    r.u64(1 << 62).zeros(32);
    assert!(
        matches!(err(&r.0), GgufError::StringTooLong { ref what, .. } if what.contains("tensor 0"))
    );
    // A plausible length that runs past the end is a truncation.
    let mut r = Raw::header(3, 0, 1);
    r.u64(100).bytes(b"short-string");
    assert!(matches!(
        err(&r.0),
        GgufError::Truncated {
            needed: 100,
            available: 12,
            ..
        }
    ));
}

#[test]
fn absurd_array_lengths_are_rejected() {
    for (elem_type, len) in [(4u32, 1u64 << 62), (8, 1 << 40), (0, u64::MAX)] {
        let mut r = Raw::header(3, 0, 1);
        r.str("arr").u32(9).u32(elem_type).u64(len).zeros(64);
        match err(&r.0) {
            GgufError::TooManyItems { what, count, .. } => {
                assert!(what.contains("'arr'"), "{what}");
                assert_eq!(count, len);
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn bad_value_types_are_rejected() {
    let mut r = Raw::header(3, 0, 1);
    r.str("k").u32(13).zeros(8);
    assert!(matches!(
        err(&r.0),
        GgufError::InvalidValueType {
            type_id: 13,
            nested: false,
            ..
        }
    ));
    let mut r = Raw::header(3, 0, 1);
    r.str("k").u32(9).u32(9).u64(1).zeros(16);
    assert!(matches!(
        err(&r.0),
        GgufError::InvalidValueType {
            type_id: 9,
            nested: true,
            ..
        }
    ));
    let mut r = Raw::header(3, 0, 1);
    r.str("k").u32(9).u32(77).u64(1).zeros(16);
    assert!(matches!(
        err(&r.0),
        GgufError::InvalidValueType { type_id: 77, .. }
    ));
}

#[test]
fn bad_keys_are_rejected() {
    let mut r = Raw::header(3, 0, 2);
    r.str("k").u32(0).bytes(&[1]).str("k").u32(0).bytes(&[2]);
    assert!(
        matches!(err(&r.0), GgufError::InvalidMetadata { ref reason, .. } if reason.contains("more than once"))
    );
    let mut r = Raw::header(3, 0, 1);
    r.str("").u32(0).bytes(&[1]).zeros(8);
    assert!(
        matches!(err(&r.0), GgufError::InvalidMetadata { ref reason, .. } if reason.contains("empty"))
    );
    let mut r = Raw::header(3, 0, 1);
    r.u64(2).bytes(&[0xff, 0xfe]).u32(0).bytes(&[1]).zeros(8);
    assert!(matches!(
        err(&r.0),
        GgufError::InvalidUtf8 { offset: 32, .. }
    ));
}

#[test]
fn bad_alignment_is_rejected() {
    for value in [(4u32, 48u64), (4, 0), (10, 64)] {
        let mut r = Raw::header(3, 0, 1);
        r.str("general.alignment").u32(value.0);
        if value.0 == 4 {
            r.u32(value.1 as u32);
        } else {
            r.u64(value.1);
        }
        match err(&r.0) {
            GgufError::InvalidMetadata { key, .. } => assert_eq!(key, "general.alignment"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn five_dimensions_are_rejected() {
    let mut r = Raw::header(3, 1, 0);
    r.tensor("t", &[1, 1, 1, 1, 1], 0, 0).pad_to(32).zeros(32);
    assert!(
        matches!(err(&r.0), GgufError::TooManyDims { n_dims: 5, ref tensor, .. } if tensor == "t")
    );
}

#[test]
fn negative_dimension_is_rejected() {
    let mut r = Raw::header(3, 1, 0);
    r.tensor("t", &[4, -1], 0, 0).pad_to(32).zeros(32);
    assert!(
        matches!(err(&r.0), GgufError::InvalidShape { ref reason, .. } if reason.contains("negative"))
    );
}

#[test]
fn tensor_offset_beyond_the_file_is_rejected() {
    let mut r = Raw::header(3, 1, 0);
    r.tensor("t", &[4], 0, 1 << 20).pad_to(32).zeros(16);
    match err(&r.0) {
        GgufError::TensorOutOfBounds {
            tensor,
            offset,
            size,
            data_len,
            ..
        } => {
            assert_eq!(
                (tensor.as_str(), offset, size, data_len),
                ("t", 1 << 20, 16, 16)
            );
        }
        other => panic!("{other:?}"),
    }
    // Offset + size wrapping around u64 is caught too.
    let mut r = Raw::header(3, 1, 0);
    r.tensor("t", &[4], 0, u64::MAX - 31).pad_to(32).zeros(16);
    assert!(matches!(err(&r.0), GgufError::TensorOutOfBounds { .. }));
}

#[test]
fn size_overflow_is_rejected() {
    // 2^40 * 2^40 elements overflow u64.
    let mut r = Raw::header(3, 1, 0);
    r.tensor("big", &[1 << 40, 1 << 40], 0, 0).pad_to(32);
    assert!(matches!(err(&r.0), GgufError::SizeOverflow { ref tensor, .. } if tensor == "big"));
    // 2^62 elements fit, but 2^62 * 4 bytes do not.
    let mut r = Raw::header(3, 1, 0);
    r.tensor("big", &[1 << 62], 0, 0).pad_to(32);
    assert!(matches!(err(&r.0), GgufError::SizeOverflow { .. }));
    // Huge but representable sizes are out of bounds, not overflow.
    let mut r = Raw::header(3, 1, 0);
    r.tensor("big", &[1 << 40], 0, 0).pad_to(32);
    assert!(matches!(err(&r.0), GgufError::TensorOutOfBounds { size, .. } if size == 1 << 42));
}

#[test]
fn unknown_and_misused_types_are_rejected() {
    for id in [4u32, 31, 43, u32::MAX] {
        let mut r = Raw::header(3, 1, 0);
        r.tensor("t", &[32], id, 0).pad_to(32).zeros(64);
        assert!(matches!(err(&r.0), GgufError::UnknownGgmlType { type_id, .. } if type_id == id));
    }
    let mut r = Raw::header(3, 1, 0);
    r.tensor("q", &[33], GgmlType::Q4_0.id(), 0)
        .pad_to(32)
        .zeros(64);
    assert!(
        matches!(err(&r.0), GgufError::InvalidShape { ref reason, .. } if reason.contains("block size"))
    );
}

#[test]
fn misaligned_offset_is_rejected() {
    let mut r = Raw::header(3, 1, 0);
    r.tensor("t", &[1], 0, 4).pad_to(32).zeros(64);
    assert!(matches!(
        err(&r.0),
        GgufError::MisalignedTensor {
            offset: 4,
            alignment: 32,
            ..
        }
    ));
}

#[test]
fn bad_tensor_names_are_rejected() {
    let mut r = Raw::header(3, 2, 0);
    r.tensor("t", &[1], 0, 0)
        .tensor("t", &[1], 0, 32)
        .pad_to(32)
        .zeros(64);
    assert!(
        matches!(err(&r.0), GgufError::InvalidTensorName { ref reason, .. } if reason.contains("more than one"))
    );
    let mut r = Raw::header(3, 1, 0);
    r.tensor(&"n".repeat(64), &[1], 0, 0).pad_to(32).zeros(64);
    assert!(matches!(err(&r.0), GgufError::InvalidTensorName { .. }));
}

#[test]
fn tensor_reads_check_name_and_type() {
    let mut w = GgufWriter::new();
    w.add_tensor_raw("q", &[32], GgmlType::Q8_0, vec![0; 34])
        .unwrap();
    let file = parse(&w.to_bytes().unwrap()).unwrap();
    assert!(matches!(
        file.read_tensor_f32("q"),
        Err(GgufError::UnsupportedTensorType { .. })
    ));
    assert!(matches!(
        file.read_tensor_f32("nope"),
        Err(GgufError::TensorNotFound { .. })
    ));
    let bytes = w.to_bytes().unwrap();
    let meta_only = GgufFile::from_reader(&bytes[..], bytes.len() as u64, "r").unwrap();
    assert_eq!(meta_only.tensors().len(), 1);
    assert!(matches!(
        meta_only.read_tensor_bytes("q"),
        Err(GgufError::InvalidInput { .. })
    ));
    // A reader that ends before the length it claimed: truncation, no panic.
    let short = GgufFile::from_reader(&bytes[..20], bytes.len() as u64, "r");
    assert!(
        matches!(short, Err(GgufError::Truncated { offset: 16, .. })),
        "{short:?}"
    );
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let e = GgufFile::open("/nonexistent/dir/model.gguf").unwrap_err();
    assert!(matches!(e, GgufError::Io { action: "open", .. }));
    assert!(e.to_string().contains("/nonexistent/dir/model.gguf"), "{e}");
}

#[test]
fn random_corruption_never_panics() {
    let base = small_valid_file();
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut errors = 0;
    for _ in 0..3000 {
        let mut bytes = base.clone();
        for _ in 0..(next() % 4 + 1) {
            let i = (next() % bytes.len() as u64) as usize;
            bytes[i] = next() as u8;
        }
        let cut = (next() % (bytes.len() as u64 + 1)) as usize;
        if next() % 2 == 0 {
            bytes.truncate(cut);
        }
        match parse(&bytes) {
            Ok(f) => {
                // Whatever parsed must be readable without panicking.
                for t in f.tensors() {
                    let _ = f.read_tensor_f32(&t.name);
                }
            }
            Err(e) => {
                errors += 1;
                assert!(!e.to_string().is_empty());
            }
        }
    }
    assert!(
        errors > 100,
        "corruption should usually be detected ({errors})"
    );
}
