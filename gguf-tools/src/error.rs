//! The one error type of this crate.

use std::io;

/// Everything that can go wrong while reading, writing or checking a GGUF
/// file.
///
/// Every variant names the file (`file`: a path, or `<memory>` for bytes
/// parsed in memory) and says what was wrong, so the message printed by
/// `Display` is enough to act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GgufError {
    /// The operating system refused a read or write.
    #[error("{file}: {action} failed: {source}")]
    Io {
        /// The file concerned.
        file: String,
        /// What was being done ("open", "read", "write", ...).
        action: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// The file does not start with the four bytes `GGUF`.
    #[error(
        "{file}: not a GGUF file: it starts with {found:02x?} ({}), expected \"GGUF\"",
        printable(found)
    )]
    BadMagic {
        /// The file concerned.
        file: String,
        /// The first four bytes found.
        found: [u8; 4],
    },

    /// The GGUF version is not 2 or 3.
    #[error("{file}: unsupported GGUF version {version}{}; this reader supports versions 2 and 3", version_hint(*version))]
    UnsupportedVersion {
        /// The file concerned.
        file: String,
        /// The version number read from the header.
        version: u32,
    },

    /// The file ends before a field that the header says must be there.
    #[error("{file}: truncated file: {what} at byte offset {offset} needs {needed} bytes but only {available} remain")]
    Truncated {
        /// The file concerned.
        file: String,
        /// The field being read, with the key or tensor it belongs to.
        what: String,
        /// Byte offset in the file where the field starts.
        offset: u64,
        /// Bytes the field needs.
        needed: u64,
        /// Bytes left in the file from `offset`.
        available: u64,
    },

    /// A count (tensors, keys, array elements) is larger than the file could
    /// possibly hold, or larger than the format's limit.
    #[error("{file}: {what} {count} at byte offset {offset} is impossible: at most {max} fit in the rest of the file and the format limit (truncated or corrupt file?)")]
    TooManyItems {
        /// The file concerned.
        file: String,
        /// Which count ("tensor count", "array length of key 'x'", ...).
        what: String,
        /// The count read from the file.
        count: u64,
        /// Byte offset of the count in the file.
        offset: u64,
        /// The largest count that the remaining bytes or the format allow.
        max: u64,
    },

    /// A string length is larger than the remaining file or the 1 GiB limit.
    #[error(
        "{file}: {what} at byte offset {offset} claims {len} bytes, but at most {max} are possible"
    )]
    StringTooLong {
        /// The file concerned.
        file: String,
        /// Which string (key, value of key, tensor name).
        what: String,
        /// The length read from the file.
        len: u64,
        /// Byte offset of the length field.
        offset: u64,
        /// The largest possible length at that point.
        max: u64,
    },

    /// A key or tensor name is not valid UTF-8.
    #[error("{file}: {what} at byte offset {offset} is not valid UTF-8")]
    InvalidUtf8 {
        /// The file concerned.
        file: String,
        /// Which string.
        what: String,
        /// Byte offset of the string bytes.
        offset: u64,
    },

    /// A metadata value has a type id outside the GGUF value types
    /// (0..=12), or an array holds arrays (which ggml does not support).
    #[error("{file}: metadata key '{key}' has invalid value type {type_id} at byte offset {offset}{}", if *nested { " (arrays of arrays are not supported)" } else { "" })]
    InvalidValueType {
        /// The file concerned.
        file: String,
        /// The key whose value is broken.
        key: String,
        /// The type id read.
        type_id: u32,
        /// Byte offset of the type id.
        offset: u64,
        /// True when the problem is an array whose elements are arrays.
        nested: bool,
    },

    /// A metadata entry breaks a rule of the format (empty or duplicate key,
    /// `general.alignment` not a power-of-two `u32`, ...).
    #[error("{file}: metadata key '{key}': {reason}")]
    InvalidMetadata {
        /// The file concerned.
        file: String,
        /// The key concerned.
        key: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A tensor name is empty, too long for ggml (63 bytes at most) or used
    /// twice.
    #[error("{file}: tensor name '{name}': {reason}")]
    InvalidTensorName {
        /// The file concerned.
        file: String,
        /// The offending name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A tensor has more than 4 dimensions (ggml's `GGML_MAX_DIMS`).
    #[error("{file}: tensor '{tensor}' has {n_dims} dimensions; ggml allows at most 4")]
    TooManyDims {
        /// The file concerned.
        file: String,
        /// The tensor.
        tensor: String,
        /// The dimension count read.
        n_dims: u32,
    },

    /// A tensor's shape is impossible (negative dimension, row not a multiple
    /// of the block size, shape disagreeing with its data).
    #[error("{file}: tensor '{tensor}' has an invalid shape: {reason}")]
    InvalidShape {
        /// The file concerned.
        file: String,
        /// The tensor.
        tensor: String,
        /// What is wrong.
        reason: String,
    },

    /// A tensor uses a ggml type id this crate does not know (removed or
    /// newer than this crate).
    #[error("{file}: tensor '{tensor}' has unknown ggml type id {type_id}")]
    UnknownGgmlType {
        /// The file concerned.
        file: String,
        /// The tensor.
        tensor: String,
        /// The type id read.
        type_id: u32,
    },

    /// The byte size of a tensor (or of the data section) does not fit in
    /// 64 bits.
    #[error("{file}: tensor '{tensor}': byte size of shape {dims:?} overflows 64 bits")]
    SizeOverflow {
        /// The file concerned.
        file: String,
        /// The tensor.
        tensor: String,
        /// Its shape, ggml order (`ne[0]` first).
        dims: Vec<u64>,
    },

    /// A tensor's data offset is not a multiple of the file's alignment.
    #[error("{file}: tensor '{tensor}' data offset {offset} is not a multiple of the alignment {alignment}")]
    MisalignedTensor {
        /// The file concerned.
        file: String,
        /// The tensor.
        tensor: String,
        /// Its offset relative to the data section.
        offset: u64,
        /// The file's alignment.
        alignment: u64,
    },

    /// A tensor's data lies (partly) past the end of the file.
    #[error("{file}: tensor '{tensor}' data [{offset}, {offset}+{size}) is outside the data section of {data_len} bytes")]
    TensorOutOfBounds {
        /// The file concerned.
        file: String,
        /// The tensor.
        tensor: String,
        /// Its offset relative to the data section.
        offset: u64,
        /// Its size in bytes.
        size: u64,
        /// Bytes in the data section (file size minus data section start).
        data_len: u64,
    },

    /// No tensor of this name is in the file.
    #[error("{file}: no tensor named '{name}'")]
    TensorNotFound {
        /// The file concerned.
        file: String,
        /// The name asked for.
        name: String,
    },

    /// A tensor's type cannot be converted as asked (e.g. a quantized tensor
    /// read as f32).
    #[error("{file}: tensor '{tensor}' has type {ggml_type}, which cannot be read as {wanted}")]
    UnsupportedTensorType {
        /// The file concerned.
        file: String,
        /// The tensor.
        tensor: String,
        /// Its ggml type name.
        ggml_type: String,
        /// What the caller wanted ("f32").
        wanted: &'static str,
    },

    /// The file is not a control vector (wrong architecture, no
    /// `direction.N` tensors).
    #[error("{file}: not a usable control vector: {reason}")]
    NotAControlVector {
        /// The file concerned.
        file: String,
        /// Why.
        reason: String,
    },

    /// A control-vector direction tensor is malformed: bad name or layer
    /// index, wrong type, not 1-D, or a length different from the others.
    #[error("{file}: control vector tensor '{tensor}': {reason}")]
    InvalidDirection {
        /// The file concerned.
        file: String,
        /// The tensor (`direction.N`).
        tensor: String,
        /// What is wrong.
        reason: String,
    },

    /// A control-vector direction holds NaN or infinity.
    #[error("{file}: control vector tensor '{tensor}' element {index} is {value}, expected a finite number")]
    NonFinite {
        /// The file concerned.
        file: String,
        /// The tensor (`direction.N`).
        tensor: String,
        /// Index of the first bad element.
        index: usize,
        /// The bad value.
        value: f32,
    },

    /// A caller-supplied argument is invalid (writer input, fixture
    /// parameters, control-vector contents).
    #[error("{file}: invalid input: {reason}")]
    InvalidInput {
        /// The file being written, or `<memory>`.
        file: String,
        /// What is wrong.
        reason: String,
    },
}

/// A result whose error is [`GgufError`].
pub type Result<T, E = GgufError> = std::result::Result<T, E>;

fn printable(bytes: &[u8; 4]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '?'
            }
        })
        .collect()
}

fn version_hint(version: u32) -> &'static str {
    if version == 1 {
        " (GGUF v1 is obsolete; convert the model again)"
    } else if version != 0 && version & 0xFFFF == 0 {
        " (this looks like a big-endian file; only little-endian files are supported)"
    } else {
        ""
    }
}
