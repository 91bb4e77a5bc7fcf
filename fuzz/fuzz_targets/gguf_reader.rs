//! The GGUF reader on arbitrary bytes: parsing must end in `Ok` or a
//! `GgufError`, never a panic, an abort or an allocation the file's size
//! does not justify; everything a caller does with a parsed file must be
//! safe too.

#![no_main]

use gguf_tools::report::info_report;
use gguf_tools::{GgufFile, GgufWriter};
use libfuzzer_sys::fuzz_target;

/// Round trips are only tried where rewriting costs about what reading
/// did: the writer pads to `general.alignment` even without tensors, and
/// tensors may overlap in the input but never in the output.
const MAX_ROUND_TRIP_ALIGNMENT: u64 = 4096;
const MAX_ROUND_TRIP_TENSOR_BYTES: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let parsed = GgufFile::parse(data);
    // The streaming reader (GgufFile::open's path) must agree with the
    // in-memory one.
    let streamed = GgufFile::from_reader(data, data.len() as u64, "<memory>");
    assert_eq!(
        parsed.as_ref().map(GgufFile::tensors).ok(),
        streamed.as_ref().map(GgufFile::tensors).ok()
    );
    let Ok(file) = parsed else { return };

    let _ = info_report(&file, 4);
    let _ = file.architecture();
    for t in file.tensors() {
        let bytes = file
            .read_tensor_bytes(&t.name)
            .expect("tensor checked in bounds");
        assert_eq!(bytes.len() as u64, t.n_bytes);
        let _ = file.read_tensor_f32(&t.name);
    }

    // What the reader accepts, the writer can write back (where it accepts
    // it: it is stricter, e.g. on empty tensor names), and the copy reads
    // back to the same infos and metadata.
    if file.alignment() > MAX_ROUND_TRIP_ALIGNMENT
        || file.total_tensor_bytes() > MAX_ROUND_TRIP_TENSOR_BYTES
    {
        return;
    }
    let Some(copy) = rewrite(&file) else { return };
    let back = GgufFile::parse(&copy).expect("the writer's output reads back");
    assert_eq!(back.tensors().len(), file.tensors().len());
    for (a, b) in back.tensors().iter().zip(file.tensors()) {
        assert_eq!(
            (&a.name, &a.dims, a.ggml_type),
            (&b.name, &b.dims, b.ggml_type)
        );
        assert_eq!(
            back.read_tensor_bytes(&a.name).unwrap(),
            file.read_tensor_bytes(&b.name).unwrap()
        );
    }
    // Metadata may hold NaN, so compare what it serialises to.
    assert_eq!(rewrite(&back).as_deref(), Some(&copy[..]));
});

fn rewrite(file: &GgufFile) -> Option<Vec<u8>> {
    let mut w = GgufWriter::new();
    for (k, v) in file.metadata() {
        w.add_metadata(k.clone(), v.clone()).ok()?;
    }
    for t in file.tensors() {
        let bytes = file.read_tensor_bytes(&t.name).ok()?;
        w.add_tensor_raw(&t.name, &t.dims, t.ggml_type, bytes)
            .ok()?;
    }
    w.to_bytes().ok()
}
