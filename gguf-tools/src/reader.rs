//! Reading GGUF files (versions 2 and 3) safely, even when they are hostile.
//!
//! Every count and length read from the file is checked against the bytes
//! that remain before anything is allocated for it, and all size arithmetic
//! is overflow-checked, so a malformed file gives a [`GgufError`] naming the
//! field and byte offset instead of a panic or a huge allocation.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{GgufError, Result};
use crate::ggml_type::GgmlType;
use crate::half::{bf16_to_f32, f16_to_f32};
use crate::value::{Array, Value, ValueType};

/// The four bytes every GGUF file starts with.
pub const GGUF_MAGIC: [u8; 4] = *b"GGUF";
/// Alignment of tensor data when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// The metadata key that overrides the alignment (must be a `u32`).
pub const ALIGNMENT_KEY: &str = "general.alignment";
/// Most dimensions a tensor may have (ggml's `GGML_MAX_DIMS`).
pub const MAX_DIMS: usize = 4;
/// Longest tensor name ggml accepts, in bytes (`GGML_MAX_NAME` - 1).
pub const MAX_TENSOR_NAME_LEN: usize = 63;
/// Longest string accepted (the same 1 GiB limit as ggml's reader).
pub const MAX_STRING_LEN: u64 = 1 << 30;
/// Most elements accepted in one metadata array (same limit as ggml).
pub const MAX_ARRAY_LEN: u64 = 1 << 30;

/// Smallest possible encoding of one key-value pair: key length (8), a
/// one-byte key, value type (4), a one-byte value.
const MIN_KV_BYTES: u64 = 8 + 1 + 4 + 1;
/// Smallest possible encoding of one tensor info: name length (8), n_dims
/// (4), type (4), offset (8).
const MIN_TENSOR_INFO_BYTES: u64 = 8 + 4 + 4 + 8;

/// The fixed part at the start of a GGUF file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GgufHeader {
    /// Format version (2 or 3).
    pub version: u32,
    /// Number of tensor infos.
    pub tensor_count: u64,
    /// Number of metadata key-value pairs.
    pub kv_count: u64,
}

/// Where one tensor is and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// Tensor name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// Shape in ggml order: `dims[0]` is `ne[0]`, the innermost (contiguous)
    /// dimension. A matrix with `rows` rows of `cols` elements is
    /// `[cols, rows]`.
    pub dims: Vec<u64>,
    /// Element type.
    pub ggml_type: GgmlType,
    /// Offset of the data from the start of the data section.
    pub offset: u64,
    /// Size of the data in bytes (computed and checked while parsing).
    pub n_bytes: u64,
}

impl TensorInfo {
    /// Number of elements (product of the dims; 1 for a scalar).
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().fold(1u64, |acc, &d| acc.saturating_mul(d))
    }
}

#[derive(Debug, Clone)]
enum Source {
    File(PathBuf),
    Memory(Arc<[u8]>),
    None,
}

/// A parsed GGUF file: header, metadata in file order, tensor infos, and a
/// way to read tensor data.
///
/// ```
/// use gguf_tools::{GgufFile, GgufWriter, Value};
///
/// let mut w = GgufWriter::new();
/// w.add_metadata("general.architecture", Value::from("demo"))?;
/// w.add_tensor_f32("t", &[2], &[1.0, 2.0])?;
/// let file = GgufFile::parse(&w.to_bytes()?)?;
/// assert_eq!(file.header().version, 3);
/// assert_eq!(file.read_tensor_f32("t")?, vec![1.0, 2.0]);
/// # Ok::<(), gguf_tools::GgufError>(())
/// ```
#[derive(Debug, Clone)]
pub struct GgufFile {
    name: String,
    source: Source,
    header: GgufHeader,
    metadata: Vec<(String, Value)>,
    tensors: Vec<TensorInfo>,
    alignment: u64,
    data_offset: u64,
    file_size: u64,
}

impl GgufFile {
    /// Opens and parses the file at `path`. Only the header, metadata and
    /// tensor infos are read; tensor data is read on demand.
    pub fn open(path: impl AsRef<Path>) -> Result<GgufFile> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let io_err = |action, source| GgufError::Io {
            file: name.clone(),
            action,
            source,
        };
        let file = File::open(path).map_err(|e| io_err("open", e))?;
        let len = file.metadata().map_err(|e| io_err("stat", e))?.len();
        let mut parsed = parse_from(BufReader::with_capacity(1 << 16, file), len, name.clone())?;
        parsed.source = Source::File(path.to_path_buf());
        Ok(parsed)
    }

    /// Parses a whole GGUF file held in memory (the bytes are copied so
    /// tensor data can be read later).
    pub fn parse(bytes: &[u8]) -> Result<GgufFile> {
        let mut parsed = parse_from(bytes, bytes.len() as u64, "<memory>".to_owned())?;
        parsed.source = Source::Memory(Arc::from(bytes));
        Ok(parsed)
    }

    /// Parses the header, metadata and tensor infos from a reader that
    /// yields a GGUF file of `len` bytes; `name` is used in error messages.
    ///
    /// The result cannot read tensor data (use [`GgufFile::open`] or
    /// [`GgufFile::parse`] for that), but bounds are still checked against
    /// `len`.
    pub fn from_reader<R: Read>(reader: R, len: u64, name: &str) -> Result<GgufFile> {
        parse_from(reader, len, name.to_owned())
    }

    /// The file name used in error messages (`<memory>` for parsed bytes).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Version and counts.
    pub fn header(&self) -> GgufHeader {
        self.header
    }

    /// All metadata pairs, in file order.
    pub fn metadata(&self) -> &[(String, Value)] {
        &self.metadata
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// `general.architecture`, if present and a string.
    pub fn architecture(&self) -> Option<&str> {
        self.get("general.architecture").and_then(Value::as_str)
    }

    /// All tensor infos, in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The tensor info named `name`, if present.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// Data alignment (`general.alignment`, default 32).
    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    /// Absolute file offset where the tensor data section starts.
    pub fn data_offset(&self) -> u64 {
        self.data_offset
    }

    /// Size of the whole file in bytes.
    pub fn file_size(&self) -> u64 {
        self.file_size
    }

    /// Sum of the byte sizes of all tensors (without padding).
    pub fn total_tensor_bytes(&self) -> u64 {
        self.tensors
            .iter()
            .fold(0u64, |acc, t| acc.saturating_add(t.n_bytes))
    }

    /// The raw bytes of tensor `name`.
    pub fn read_tensor_bytes(&self, name: &str) -> Result<Vec<u8>> {
        let info = self.tensor(name).ok_or_else(|| GgufError::TensorNotFound {
            file: self.name.clone(),
            name: name.to_owned(),
        })?;
        let out_of_bounds = || GgufError::TensorOutOfBounds {
            file: self.name.clone(),
            tensor: info.name.clone(),
            offset: info.offset,
            size: info.n_bytes,
            data_len: self.file_size.saturating_sub(self.data_offset),
        };
        let start = self
            .data_offset
            .checked_add(info.offset)
            .ok_or_else(out_of_bounds)?;
        let end = start.checked_add(info.n_bytes).ok_or_else(out_of_bounds)?;
        match &self.source {
            Source::Memory(bytes) => {
                let start = usize::try_from(start).map_err(|_| out_of_bounds())?;
                let end = usize::try_from(end).map_err(|_| out_of_bounds())?;
                bytes
                    .get(start..end)
                    .map(<[u8]>::to_vec)
                    .ok_or_else(out_of_bounds)
            }
            Source::File(path) => {
                let io_err = |action, source| GgufError::Io {
                    file: self.name.clone(),
                    action,
                    source,
                };
                let len = usize::try_from(info.n_bytes).map_err(|_| out_of_bounds())?;
                let mut file = File::open(path).map_err(|e| io_err("open", e))?;
                file.seek(SeekFrom::Start(start))
                    .map_err(|e| io_err("seek", e))?;
                let mut buf = vec![0u8; len];
                file.read_exact(&mut buf).map_err(|e| {
                    if e.kind() == io::ErrorKind::UnexpectedEof {
                        out_of_bounds()
                    } else {
                        io_err("read", e)
                    }
                })?;
                Ok(buf)
            }
            Source::None => Err(GgufError::InvalidInput {
                file: self.name.clone(),
                reason: "tensor data is not available for a file parsed with from_reader; \
                         use GgufFile::open or GgufFile::parse"
                    .to_owned(),
            }),
        }
    }

    /// Tensor `name` converted to `f32` values (supports F32, F16 and BF16).
    pub fn read_tensor_f32(&self, name: &str) -> Result<Vec<f32>> {
        let info = self.tensor(name).ok_or_else(|| GgufError::TensorNotFound {
            file: self.name.clone(),
            name: name.to_owned(),
        })?;
        let convert: fn(&[u8]) -> f32 = match info.ggml_type {
            GgmlType::F32 => |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            GgmlType::F16 => |b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])),
            GgmlType::Bf16 => |b| bf16_to_f32(u16::from_le_bytes([b[0], b[1]])),
            other => {
                return Err(GgufError::UnsupportedTensorType {
                    file: self.name.clone(),
                    tensor: info.name.clone(),
                    ggml_type: other.name().to_owned(),
                    wanted: "f32",
                })
            }
        };
        let width = info.ggml_type.type_size() as usize;
        let bytes = self.read_tensor_bytes(name)?;
        Ok(bytes.chunks_exact(width).map(convert).collect())
    }
}

/// Reads bytes from `r` while keeping track of the offset and of how many
/// bytes the file still has.
struct Parser<R> {
    r: R,
    pos: u64,
    len: u64,
    file: String,
}

impl<R: Read> Parser<R> {
    fn remaining(&self) -> u64 {
        self.len.saturating_sub(self.pos)
    }

    fn truncated(&self, what: String, needed: u64) -> GgufError {
        GgufError::Truncated {
            file: self.file.clone(),
            what,
            offset: self.pos,
            needed,
            available: self.remaining(),
        }
    }

    /// Fills `buf` completely, or fails naming the field `what()`.
    fn fill(&mut self, buf: &mut [u8], what: &dyn Fn() -> String) -> Result<()> {
        let n = buf.len() as u64;
        if n > self.remaining() {
            return Err(self.truncated(what(), n));
        }
        match self.r.read_exact(buf) {
            Ok(()) => {
                self.pos += n;
                Ok(())
            }
            // The file shrank while we were reading it.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                let err = self.truncated(what(), n);
                self.len = self.pos;
                Err(err)
            }
            Err(e) => Err(GgufError::Io {
                file: self.file.clone(),
                action: "read",
                source: e,
            }),
        }
    }

    fn array<const N: usize>(&mut self, what: &dyn Fn() -> String) -> Result<[u8; N]> {
        let mut buf = [0u8; N];
        self.fill(&mut buf, what)?;
        Ok(buf)
    }

    fn u32(&mut self, what: &dyn Fn() -> String) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &dyn Fn() -> String) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// Reads `n` bytes after checking that the file has them.
    fn bytes(&mut self, n: u64, what: &dyn Fn() -> String) -> Result<Vec<u8>> {
        if n > self.remaining() {
            return Err(self.truncated(what(), n));
        }
        // n <= remaining <= file size, so it fits in memory terms of the file.
        let n = usize::try_from(n).map_err(|_| self.truncated(what(), n))?;
        let mut buf = vec![0u8; n];
        self.fill(&mut buf, what)?;
        Ok(buf)
    }

    /// Reads a length-prefixed string. `strict` rejects invalid UTF-8
    /// (for keys and names); otherwise it is decoded lossily.
    fn string(&mut self, what: &dyn Fn() -> String, strict: bool) -> Result<String> {
        let len_offset = self.pos;
        let len = self.u64(&|| format!("length of {}", what()))?;
        if len > MAX_STRING_LEN {
            return Err(GgufError::StringTooLong {
                file: self.file.clone(),
                what: what(),
                len,
                offset: len_offset,
                max: MAX_STRING_LEN.min(self.remaining()),
            });
        }
        let start = self.pos;
        let bytes = self.bytes(len, what)?;
        match String::from_utf8(bytes) {
            Ok(s) => Ok(s),
            Err(_) if strict => Err(GgufError::InvalidUtf8 {
                file: self.file.clone(),
                what: what(),
                offset: start,
            }),
            Err(e) => Ok(String::from_utf8_lossy(e.as_bytes()).into_owned()),
        }
    }

    /// Checks that `count` items of at least `min_size` bytes each can fit
    /// in what remains of the file, and in `limit`.
    fn check_count(
        &self,
        count: u64,
        min_size: u64,
        limit: u64,
        offset: u64,
        what: &dyn Fn() -> String,
    ) -> Result<()> {
        let fit = self.remaining() / min_size.max(1);
        let max = fit.min(limit);
        if count > max {
            return Err(GgufError::TooManyItems {
                file: self.file.clone(),
                what: what(),
                count,
                offset,
                max,
            });
        }
        Ok(())
    }

    fn value_type(&mut self, key: &str, what: &str) -> Result<(u32, u64)> {
        let offset = self.pos;
        let id = self.u32(&|| format!("{what} of key '{key}'"))?;
        Ok((id, offset))
    }

    fn scalar(&mut self, ty: ValueType, key: &str) -> Result<Value> {
        let what = || format!("value of key '{key}'");
        Ok(match ty {
            ValueType::U8 => Value::U8(u8::from_le_bytes(self.array(&what)?)),
            ValueType::I8 => Value::I8(i8::from_le_bytes(self.array(&what)?)),
            ValueType::U16 => Value::U16(u16::from_le_bytes(self.array(&what)?)),
            ValueType::I16 => Value::I16(i16::from_le_bytes(self.array(&what)?)),
            ValueType::U32 => Value::U32(u32::from_le_bytes(self.array(&what)?)),
            ValueType::I32 => Value::I32(i32::from_le_bytes(self.array(&what)?)),
            ValueType::F32 => Value::F32(f32::from_le_bytes(self.array(&what)?)),
            ValueType::Bool => Value::Bool(self.array::<1>(&what)?[0] != 0),
            ValueType::String => Value::String(self.string(&what, false)?),
            ValueType::U64 => Value::U64(u64::from_le_bytes(self.array(&what)?)),
            ValueType::I64 => Value::I64(i64::from_le_bytes(self.array(&what)?)),
            ValueType::F64 => Value::F64(f64::from_le_bytes(self.array(&what)?)),
            // Callers handle arrays separately.
            ValueType::Array => {
                return Err(GgufError::InvalidValueType {
                    file: self.file.clone(),
                    key: key.to_owned(),
                    type_id: ValueType::Array.id(),
                    offset: self.pos,
                    nested: true,
                })
            }
        })
    }

    fn array_value(&mut self, key: &str) -> Result<Array> {
        let (elem_id, elem_offset) = self.value_type(key, "array element type")?;
        let elem = match ValueType::from_id(elem_id) {
            Some(ValueType::Array) | None => {
                return Err(GgufError::InvalidValueType {
                    file: self.file.clone(),
                    key: key.to_owned(),
                    type_id: elem_id,
                    offset: elem_offset,
                    nested: elem_id == ValueType::Array.id(),
                })
            }
            Some(t) => t,
        };
        let count_offset = self.pos;
        let count = self.u64(&|| format!("array length of key '{key}'"))?;
        let min_size = elem.fixed_size().unwrap_or(8);
        self.check_count(count, min_size, MAX_ARRAY_LEN, count_offset, &|| {
            format!("array length of key '{key}'")
        })?;

        if elem == ValueType::String {
            let mut items = Vec::with_capacity(initial_capacity(count));
            for i in 0..count {
                items.push(self.string(&|| format!("string {i} of array '{key}'"), false)?);
            }
            return Ok(Array::String(items));
        }

        // Fixed-size elements: read them all at once (size already checked).
        let raw = self.bytes(count * min_size, &|| format!("elements of array '{key}'"))?;
        fn conv<T, const N: usize>(raw: &[u8], f: fn([u8; N]) -> T) -> Vec<T> {
            raw.chunks_exact(N)
                .map(|c| {
                    let mut a = [0u8; N];
                    a.copy_from_slice(c);
                    f(a)
                })
                .collect()
        }
        Ok(match elem {
            ValueType::U8 => Array::U8(raw),
            ValueType::I8 => Array::I8(conv(&raw, i8::from_le_bytes)),
            ValueType::U16 => Array::U16(conv(&raw, u16::from_le_bytes)),
            ValueType::I16 => Array::I16(conv(&raw, i16::from_le_bytes)),
            ValueType::U32 => Array::U32(conv(&raw, u32::from_le_bytes)),
            ValueType::I32 => Array::I32(conv(&raw, i32::from_le_bytes)),
            ValueType::F32 => Array::F32(conv(&raw, f32::from_le_bytes)),
            ValueType::Bool => Array::Bool(raw.iter().map(|&b| b != 0).collect()),
            ValueType::U64 => Array::U64(conv(&raw, u64::from_le_bytes)),
            ValueType::I64 => Array::I64(conv(&raw, i64::from_le_bytes)),
            ValueType::F64 => Array::F64(conv(&raw, f64::from_le_bytes)),
            ValueType::String | ValueType::Array => Array::U8(Vec::new()), // handled above
        })
    }

    fn tensor_info(&mut self, index: u64, seen: &mut HashSet<String>) -> Result<TensorInfo> {
        let name = self.string(&|| format!("name of tensor {index}"), true)?;
        if name.len() > MAX_TENSOR_NAME_LEN {
            return Err(GgufError::InvalidTensorName {
                file: self.file.clone(),
                name,
                reason: format!("longer than {MAX_TENSOR_NAME_LEN} bytes (ggml's limit)"),
            });
        }
        if !seen.insert(name.clone()) {
            return Err(GgufError::InvalidTensorName {
                file: self.file.clone(),
                name,
                reason: "used by more than one tensor".to_owned(),
            });
        }
        let n_dims = self.u32(&|| format!("dimension count of tensor '{name}'"))?;
        if n_dims as usize > MAX_DIMS {
            return Err(GgufError::TooManyDims {
                file: self.file.clone(),
                tensor: name,
                n_dims,
            });
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for d in 0..n_dims {
            let raw =
                i64::from_le_bytes(self.array(&|| format!("dimension {d} of tensor '{name}'"))?);
            if raw < 0 {
                return Err(GgufError::InvalidShape {
                    file: self.file.clone(),
                    tensor: name,
                    reason: format!("dimension {d} is negative ({raw})"),
                });
            }
            dims.push(raw as u64);
        }
        let type_id = self.u32(&|| format!("type of tensor '{name}'"))?;
        let offset = self.u64(&|| format!("data offset of tensor '{name}'"))?;
        let ggml_type = GgmlType::from_id(type_id).ok_or_else(|| GgufError::UnknownGgmlType {
            file: self.file.clone(),
            tensor: name.clone(),
            type_id,
        })?;
        // ggml requires the element count to fit in int64.
        let n_elements = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
        if n_elements.is_none_or(|n| n > i64::MAX as u64) {
            return Err(GgufError::SizeOverflow {
                file: self.file.clone(),
                tensor: name,
                dims,
            });
        }
        let ne0 = dims.first().copied().unwrap_or(1);
        if ne0 % ggml_type.block_size() != 0 {
            return Err(GgufError::InvalidShape {
                file: self.file.clone(),
                reason: format!(
                    "row length {ne0} is not a multiple of the {} block size {}",
                    ggml_type.name(),
                    ggml_type.block_size()
                ),
                tensor: name,
            });
        }
        let n_bytes = ggml_type
            .tensor_bytes(&dims)
            .ok_or_else(|| GgufError::SizeOverflow {
                file: self.file.clone(),
                tensor: name.clone(),
                dims: dims.clone(),
            })?;
        Ok(TensorInfo {
            name,
            dims,
            ggml_type,
            offset,
            n_bytes,
        })
    }
}

/// Capacity to reserve for `count` items read from a file: never trust a
/// count for more than a small up-front reservation; vectors grow as items
/// are actually read.
fn initial_capacity(count: u64) -> usize {
    count.min(4096) as usize
}

/// Rounds `x` up to a multiple of `align` (a power of two), or `None` on
/// overflow.
pub(crate) fn align_up(x: u64, align: u64) -> Option<u64> {
    let mask = align.checked_sub(1)?;
    x.checked_add(mask).map(|v| v & !mask)
}

fn parse_from<R: Read>(reader: R, len: u64, file: String) -> Result<GgufFile> {
    let mut p = Parser {
        r: reader,
        pos: 0,
        len,
        file,
    };

    let magic: [u8; 4] = p.array(&|| "file magic".to_owned())?;
    if magic != GGUF_MAGIC {
        return Err(GgufError::BadMagic {
            file: p.file.clone(),
            found: magic,
        });
    }
    let version = p.u32(&|| "version".to_owned())?;
    if version != 2 && version != 3 {
        return Err(GgufError::UnsupportedVersion {
            file: p.file.clone(),
            version,
        });
    }
    let tensor_count_offset = p.pos;
    let tensor_count = p.u64(&|| "tensor count".to_owned())?;
    let kv_count_offset = p.pos;
    let kv_count = p.u64(&|| "metadata key-value count".to_owned())?;
    p.check_count(kv_count, MIN_KV_BYTES, u64::MAX, kv_count_offset, &|| {
        "metadata key-value count".to_owned()
    })?;
    p.check_count(
        tensor_count,
        MIN_TENSOR_INFO_BYTES,
        u64::MAX,
        tensor_count_offset,
        &|| "tensor count".to_owned(),
    )?;
    // Both bounded by the file size above; the two sections share the file.
    let header = GgufHeader {
        version,
        tensor_count,
        kv_count,
    };

    let mut metadata = Vec::with_capacity(initial_capacity(kv_count));
    let mut seen_keys = HashSet::new();
    for i in 0..kv_count {
        let key_offset = p.pos;
        let key = p.string(&|| format!("key of metadata pair {i}"), true)?;
        if key.is_empty() {
            return Err(GgufError::InvalidMetadata {
                file: p.file.clone(),
                key,
                reason: format!("metadata pair {i} at byte offset {key_offset} has an empty key"),
            });
        }
        if !seen_keys.insert(key.clone()) {
            return Err(GgufError::InvalidMetadata {
                file: p.file.clone(),
                key,
                reason: format!("key appears more than once (again at byte offset {key_offset})"),
            });
        }
        let (type_id, type_offset) = p.value_type(&key, "value type")?;
        let value = match ValueType::from_id(type_id) {
            None => {
                return Err(GgufError::InvalidValueType {
                    file: p.file.clone(),
                    key,
                    type_id,
                    offset: type_offset,
                    nested: false,
                })
            }
            Some(ValueType::Array) => Value::Array(p.array_value(&key)?),
            Some(t) => p.scalar(t, &key)?,
        };
        metadata.push((key, value));
    }

    let alignment = match metadata.iter().find(|(k, _)| k == ALIGNMENT_KEY) {
        None => DEFAULT_ALIGNMENT,
        Some((_, Value::U32(a))) if a.is_power_of_two() => u64::from(*a),
        Some((_, v)) => {
            return Err(GgufError::InvalidMetadata {
                file: p.file.clone(),
                key: ALIGNMENT_KEY.to_owned(),
                reason: format!(
                    "must be a power-of-two u32, found {} {}",
                    v.value_type(),
                    v.display_truncated(4)
                ),
            })
        }
    };

    let mut tensors = Vec::with_capacity(initial_capacity(tensor_count));
    let mut seen_names = HashSet::new();
    for i in 0..tensor_count {
        tensors.push(p.tensor_info(i, &mut seen_names)?);
    }

    // ggml aligns the data section only when there are tensors.
    let data_offset = if tensors.is_empty() {
        p.pos
    } else {
        let aligned = align_up(p.pos, alignment).unwrap_or(u64::MAX);
        if aligned > p.len {
            return Err(p.truncated(
                "padding before the tensor data section".to_owned(),
                aligned - p.pos,
            ));
        }
        aligned
    };
    let data_len = p.len - data_offset;
    for t in &tensors {
        if t.offset % alignment != 0 {
            return Err(GgufError::MisalignedTensor {
                file: p.file.clone(),
                tensor: t.name.clone(),
                offset: t.offset,
                alignment,
            });
        }
        if t.offset
            .checked_add(t.n_bytes)
            .is_none_or(|end| end > data_len)
        {
            return Err(GgufError::TensorOutOfBounds {
                file: p.file.clone(),
                tensor: t.name.clone(),
                offset: t.offset,
                size: t.n_bytes,
                data_len,
            });
        }
    }

    Ok(GgufFile {
        name: p.file,
        source: Source::None,
        header,
        metadata,
        tensors,
        alignment,
        data_offset,
        file_size: len,
    })
}
