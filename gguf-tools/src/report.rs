//! Human-readable summaries of GGUF files and control vectors, as printed by
//! the `gguf-tools` binary.

use std::fmt::Write as _;

use crate::cvec::ControlVector;
use crate::reader::GgufFile;

/// A summary of `file`: version, alignment, data offset, every metadata pair
/// (arrays cut to `max_array_items` elements, with the count of the rest)
/// and a table of tensors (name, type, shape, bytes, offset) with a total.
pub fn info_report(file: &GgufFile, max_array_items: usize) -> String {
    let h = file.header();
    let mut out = String::new();
    let _ = writeln!(out, "file:          {}", file.name());
    let _ = writeln!(out, "GGUF version:  {}", h.version);
    let _ = writeln!(out, "file size:     {} bytes", file.file_size());
    let _ = writeln!(out, "alignment:     {}", file.alignment());
    let _ = writeln!(out, "data offset:   {}", file.data_offset());
    let _ = writeln!(out, "\nmetadata ({} keys):", h.kv_count);
    for (key, value) in file.metadata() {
        let _ = writeln!(
            out,
            "  {key} ({}) = {}",
            value.value_type(),
            value.display_truncated(max_array_items)
        );
    }
    let _ = writeln!(out, "\ntensors ({}):", h.tensor_count);
    let name_w = file
        .tensors()
        .iter()
        .map(|t| t.name.len())
        .chain(std::iter::once(4))
        .max()
        .unwrap_or(4);
    let _ = writeln!(
        out,
        "  {:<name_w$}  {:<8}  {:<22}  {:>12}  {:>12}",
        "name", "type", "shape (ne0, ne1, ...)", "bytes", "offset"
    );
    for t in file.tensors() {
        let shape = format!("{:?}", t.dims);
        let _ = writeln!(
            out,
            "  {:<name_w$}  {:<8}  {:<22}  {:>12}  {:>12}",
            t.name,
            t.ggml_type.name(),
            shape,
            t.n_bytes,
            t.offset
        );
    }
    let _ = writeln!(
        out,
        "total: {} tensors, {} elements, {} bytes of tensor data",
        file.tensors().len(),
        file.tensors()
            .iter()
            .fold(0u64, |acc, t| acc.saturating_add(t.n_elements())),
        file.total_tensor_bytes()
    );
    out
}

/// A summary of a control vector: `n_embd`, the layers it steers and the L2
/// norm of each direction.
pub fn cvec_report(cv: &ControlVector) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "n_embd:     {}", cv.n_embd);
    if let Some(hint) = &cv.model_hint {
        let _ = writeln!(out, "model hint: {hint}");
    }
    let layers: Vec<String> = cv.directions.keys().map(ToString::to_string).collect();
    let _ = writeln!(
        out,
        "layers:     {} ({})",
        cv.directions.len(),
        layers.join(", ")
    );
    let _ = writeln!(out, "\n  tensor           steers   L2 norm");
    for (layer, norm) in cv.norms() {
        let _ = writeln!(
            out,
            "  {:<15}  {:<7}  {norm:.6}",
            format!("direction.{layer}"),
            format!("l_out-{layer}")
        );
    }
    out
}
