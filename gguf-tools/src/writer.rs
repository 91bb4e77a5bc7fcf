//! Writing GGUF version 3 files.
//!
//! The layout matches what ggml's own writer produces: header, metadata,
//! tensor infos, zero padding to the alignment, then each tensor's data
//! followed by zero padding to the alignment (the last one too, because
//! ggml's reader loads the padded data section in one piece).

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{GgufError, Result};
use crate::ggml_type::GgmlType;
use crate::half::f32_to_f16;
use crate::reader::{
    align_up, ALIGNMENT_KEY, DEFAULT_ALIGNMENT, GGUF_MAGIC, MAX_DIMS, MAX_TENSOR_NAME_LEN,
};
use crate::value::{Array, Value};

const MEMORY: &str = "<memory>";

#[derive(Debug, Clone)]
struct PendingTensor {
    name: String,
    dims: Vec<u64>,
    ggml_type: GgmlType,
    data: Vec<u8>,
}

/// Builds a GGUF v3 file from metadata and tensors.
///
/// Metadata and tensors are written in the order they were added. Set
/// `general.alignment` (a power-of-two `u32`) to change the alignment from
/// the default 32.
///
/// ```
/// use gguf_tools::{GgufWriter, Value, Array};
///
/// let mut w = GgufWriter::new();
/// w.add_metadata("general.architecture", Value::from("demo"))?;
/// w.add_metadata("demo.list", Value::Array(Array::U32(vec![1, 2, 3])))?;
/// // A 2x3 matrix: ne = [3, 2] (3 elements per row, 2 rows).
/// w.add_tensor_f32("m", &[3, 2], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0])?;
/// let bytes = w.to_bytes()?;
/// assert_eq!(&bytes[..4], b"GGUF");
/// # Ok::<(), gguf_tools::GgufError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct GgufWriter {
    metadata: Vec<(String, Value)>,
    keys: HashSet<String>,
    tensors: Vec<PendingTensor>,
    names: HashSet<String>,
}

fn invalid(reason: String) -> GgufError {
    GgufError::InvalidInput {
        file: "<gguf writer>".to_owned(),
        reason,
    }
}

impl GgufWriter {
    /// An empty writer.
    pub fn new() -> GgufWriter {
        GgufWriter::default()
    }

    /// Adds a metadata pair. Fails on an empty or repeated key, or on a
    /// `general.alignment` that is not a power-of-two `u32`.
    pub fn add_metadata(&mut self, key: impl Into<String>, value: impl Into<Value>) -> Result<()> {
        let key = key.into();
        let value = value.into();
        if key.is_empty() {
            return Err(invalid("metadata key is empty".to_owned()));
        }
        if self.keys.contains(&key) {
            return Err(invalid(format!("metadata key '{key}' added twice")));
        }
        if key == ALIGNMENT_KEY && !matches!(value, Value::U32(a) if a.is_power_of_two()) {
            return Err(invalid(format!(
                "'{ALIGNMENT_KEY}' must be a power-of-two u32, got {} {}",
                value.value_type(),
                value.display_truncated(4)
            )));
        }
        self.keys.insert(key.clone());
        self.metadata.push((key, value));
        Ok(())
    }

    /// The metadata added so far, in order.
    pub fn metadata(&self) -> &[(String, Value)] {
        &self.metadata
    }

    /// Names of the tensors added so far, in order.
    pub fn tensor_names(&self) -> impl Iterator<Item = &str> {
        self.tensors.iter().map(|t| t.name.as_str())
    }

    /// Adds an F32 tensor. `dims` is in ggml order (`ne[0]` first);
    /// `data.len()` must equal the product of `dims`.
    pub fn add_tensor_f32(&mut self, name: &str, dims: &[u64], data: &[f32]) -> Result<()> {
        let bytes = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.add_tensor_raw(name, dims, GgmlType::F32, bytes)
    }

    /// Adds an F16 tensor, converting `data` with round-to-nearest-even.
    pub fn add_tensor_f16(&mut self, name: &str, dims: &[u64], data: &[f32]) -> Result<()> {
        let bytes = data
            .iter()
            .flat_map(|&v| f32_to_f16(v).to_le_bytes())
            .collect();
        self.add_tensor_raw(name, dims, GgmlType::F16, bytes)
    }

    /// Adds a tensor of any type from its raw little-endian bytes, which
    /// must be exactly the size the type and shape need.
    pub fn add_tensor_raw(
        &mut self,
        name: &str,
        dims: &[u64],
        ggml_type: GgmlType,
        data: Vec<u8>,
    ) -> Result<()> {
        if name.is_empty() {
            return Err(invalid("tensor name is empty".to_owned()));
        }
        if name.len() > MAX_TENSOR_NAME_LEN {
            return Err(invalid(format!(
                "tensor name '{name}' is longer than {MAX_TENSOR_NAME_LEN} bytes"
            )));
        }
        if self.names.contains(name) {
            return Err(invalid(format!("tensor '{name}' added twice")));
        }
        if dims.len() > MAX_DIMS {
            return Err(invalid(format!(
                "tensor '{name}' has {} dimensions; at most {MAX_DIMS} allowed",
                dims.len()
            )));
        }
        let elements = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
        if elements.is_none_or(|n| n > i64::MAX as u64) {
            return Err(invalid(format!(
                "tensor '{name}' shape {dims:?} has too many elements"
            )));
        }
        let expected = ggml_type.tensor_bytes(dims).ok_or_else(|| {
            invalid(format!(
                "tensor '{name}' shape {dims:?} does not fit type {ggml_type} (row length must be a multiple of {})",
                ggml_type.block_size()
            ))
        })?;
        if data.len() as u64 != expected {
            return Err(invalid(format!(
                "tensor '{name}' of type {ggml_type} and shape {dims:?} needs {expected} bytes, got {}",
                data.len()
            )));
        }
        self.names.insert(name.to_owned());
        self.tensors.push(PendingTensor {
            name: name.to_owned(),
            dims: dims.to_vec(),
            ggml_type,
            data,
        });
        Ok(())
    }

    fn alignment(&self) -> u64 {
        match self.metadata.iter().find(|(k, _)| k == ALIGNMENT_KEY) {
            Some((_, Value::U32(a))) => u64::from(*a),
            _ => DEFAULT_ALIGNMENT,
        }
    }

    /// Serialises the whole file into memory.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.write_to(&mut out, MEMORY)?;
        Ok(out)
    }

    /// Writes the file to `path`, going through a temporary file in the same
    /// directory so a failed write never leaves a half-written file behind.
    pub fn write_file(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let io_err = |action, source| GgufError::Io {
            file: name.clone(),
            action,
            source,
        };
        // Unique per process and call: two writers of one path (parallel
        // tests) must never write into each other's temp file.
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
        tmp_name.push(format!(
            ".partial-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let tmp = path.with_file_name(tmp_name);
        let result = (|| {
            let file = File::create(&tmp).map_err(|e| io_err("create", e))?;
            let mut w = BufWriter::new(file);
            self.write_to(&mut w, &name)?;
            let file = w
                .into_inner()
                .map_err(|e| io_err("write", e.into_error()))?;
            file.sync_all().map_err(|e| io_err("sync", e))?;
            fs::rename(&tmp, path).map_err(|e| io_err("rename", e))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Writes the file to any writer; `file` names it in error messages.
    pub fn write_to<W: Write>(&self, w: &mut W, file: &str) -> Result<()> {
        let alignment = self.alignment();
        let mut out = Counting {
            w,
            written: 0,
            file,
        };
        out.put(&GGUF_MAGIC)?;
        out.put(&3u32.to_le_bytes())?;
        out.put(&(self.tensors.len() as u64).to_le_bytes())?;
        out.put(&(self.metadata.len() as u64).to_le_bytes())?;
        for (key, value) in &self.metadata {
            out.string(key)?;
            out.put(&value.value_type().id().to_le_bytes())?;
            write_value(&mut out, value)?;
        }

        let mut offset = 0u64;
        for t in &self.tensors {
            out.string(&t.name)?;
            out.put(&(t.dims.len() as u32).to_le_bytes())?;
            for &d in &t.dims {
                out.put(&d.to_le_bytes())?;
            }
            out.put(&t.ggml_type.id().to_le_bytes())?;
            out.put(&offset.to_le_bytes())?;
            offset = align_up(t.data.len() as u64, alignment)
                .and_then(|n| offset.checked_add(n))
                .ok_or_else(|| invalid("total tensor data size overflows 64 bits".to_owned()))?;
        }
        out.pad(alignment)?;
        for t in &self.tensors {
            out.put(&t.data)?;
            out.pad(alignment)?;
        }
        Ok(())
    }
}

struct Counting<'a, W> {
    w: &'a mut W,
    written: u64,
    file: &'a str,
}

impl<W: Write> Counting<'_, W> {
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.w.write_all(bytes).map_err(|e| GgufError::Io {
            file: self.file.to_owned(),
            action: "write",
            source: e,
        })?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn string(&mut self, s: &str) -> Result<()> {
        self.put(&(s.len() as u64).to_le_bytes())?;
        self.put(s.as_bytes())
    }

    fn pad(&mut self, alignment: u64) -> Result<()> {
        let rem = self.written % alignment;
        if rem != 0 {
            let zeros = vec![0u8; (alignment - rem) as usize];
            self.put(&zeros)?;
        }
        Ok(())
    }
}

fn write_value<W: Write>(out: &mut Counting<'_, W>, value: &Value) -> Result<()> {
    match value {
        Value::U8(v) => out.put(&v.to_le_bytes()),
        Value::I8(v) => out.put(&v.to_le_bytes()),
        Value::U16(v) => out.put(&v.to_le_bytes()),
        Value::I16(v) => out.put(&v.to_le_bytes()),
        Value::U32(v) => out.put(&v.to_le_bytes()),
        Value::I32(v) => out.put(&v.to_le_bytes()),
        Value::F32(v) => out.put(&v.to_le_bytes()),
        Value::Bool(v) => out.put(&[u8::from(*v)]),
        Value::String(s) => out.string(s),
        Value::U64(v) => out.put(&v.to_le_bytes()),
        Value::I64(v) => out.put(&v.to_le_bytes()),
        Value::F64(v) => out.put(&v.to_le_bytes()),
        Value::Array(a) => {
            out.put(&a.elem_type().id().to_le_bytes())?;
            out.put(&(a.len() as u64).to_le_bytes())?;
            write_array(out, a)
        }
    }
}

fn write_array<W: Write>(out: &mut Counting<'_, W>, a: &Array) -> Result<()> {
    fn each<W: Write, T: Copy, const N: usize>(
        out: &mut Counting<'_, W>,
        v: &[T],
        f: fn(T) -> [u8; N],
    ) -> Result<()> {
        let bytes: Vec<u8> = v.iter().flat_map(|&x| f(x)).collect();
        out.put(&bytes)
    }
    match a {
        Array::U8(v) => out.put(v),
        Array::I8(v) => each(out, v, i8::to_le_bytes),
        Array::U16(v) => each(out, v, u16::to_le_bytes),
        Array::I16(v) => each(out, v, i16::to_le_bytes),
        Array::U32(v) => each(out, v, u32::to_le_bytes),
        Array::I32(v) => each(out, v, i32::to_le_bytes),
        Array::F32(v) => each(out, v, f32::to_le_bytes),
        Array::Bool(v) => each(out, v, |b| [u8::from(b)]),
        Array::String(v) => v.iter().try_for_each(|s| out.string(s)),
        Array::U64(v) => each(out, v, u64::to_le_bytes),
        Array::I64(v) => each(out, v, i64::to_le_bytes),
        Array::F64(v) => each(out, v, f64::to_le_bytes),
    }
}
