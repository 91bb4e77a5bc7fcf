//! The ggml tensor element types: ids, names, block and byte sizes.
//!
//! Ids and sizes follow `ggml/include/ggml.h` (`enum ggml_type`) and the
//! `type_traits` table of `ggml/src/ggml.c` in the llama.cpp bundled with
//! `llama-cpp-sys-2` 0.1.161. Ids 4, 5, 31-33 and 36-38 were removed from
//! ggml and are unknown here.

use std::fmt;

/// A ggml tensor element type.
///
/// Quantized types store `block_size()` elements in `type_size()` bytes;
/// plain types have a block size of 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[allow(missing_docs)] // the variant names are ggml's own names
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q8_1,
    Q2K,
    Q3K,
    Q4K,
    Q5K,
    Q6K,
    Q8K,
    Iq2Xxs,
    Iq2Xs,
    Iq3Xxs,
    Iq1S,
    Iq4Nl,
    Iq3S,
    Iq2S,
    Iq4Xs,
    I8,
    I16,
    I32,
    I64,
    F64,
    Iq1M,
    Bf16,
    Tq1_0,
    Tq2_0,
    Mxfp4,
    Nvfp4,
    Q1_0,
    Q2_0,
}

/// One row of the type table: (type, id, name, block size, bytes per block).
type Row = (GgmlType, u32, &'static str, u64, u64);

const QK_K: u64 = 256;

/// The type table. Block byte sizes are the `static_assert`ed sizes of the
/// `block_*` structs in `ggml/src/ggml-common.h` (a `ggml_half` is 2 bytes).
const TABLE: &[Row] = &[
    (GgmlType::F32, 0, "F32", 1, 4),
    (GgmlType::F16, 1, "F16", 1, 2),
    (GgmlType::Q4_0, 2, "Q4_0", 32, 2 + 16),
    (GgmlType::Q4_1, 3, "Q4_1", 32, 2 * 2 + 16),
    (GgmlType::Q5_0, 6, "Q5_0", 32, 2 + 4 + 16),
    (GgmlType::Q5_1, 7, "Q5_1", 32, 2 * 2 + 4 + 16),
    (GgmlType::Q8_0, 8, "Q8_0", 32, 2 + 32),
    (GgmlType::Q8_1, 9, "Q8_1", 32, 2 * 2 + 32),
    (
        GgmlType::Q2K,
        10,
        "Q2_K",
        QK_K,
        2 * 2 + QK_K / 16 + QK_K / 4,
    ),
    (
        GgmlType::Q3K,
        11,
        "Q3_K",
        QK_K,
        2 + QK_K / 4 + QK_K / 8 + 12,
    ),
    (GgmlType::Q4K, 12, "Q4_K", QK_K, 2 * 2 + 12 + QK_K / 2),
    (
        GgmlType::Q5K,
        13,
        "Q5_K",
        QK_K,
        2 * 2 + 12 + QK_K / 2 + QK_K / 8,
    ),
    (
        GgmlType::Q6K,
        14,
        "Q6_K",
        QK_K,
        2 + QK_K / 16 + 3 * QK_K / 4,
    ),
    (GgmlType::Q8K, 15, "Q8_K", QK_K, 4 + QK_K + QK_K / 16 * 2),
    (GgmlType::Iq2Xxs, 16, "IQ2_XXS", QK_K, 2 + QK_K / 8 * 2),
    (
        GgmlType::Iq2Xs,
        17,
        "IQ2_XS",
        QK_K,
        2 + QK_K / 8 * 2 + QK_K / 32,
    ),
    (GgmlType::Iq3Xxs, 18, "IQ3_XXS", QK_K, 2 + 3 * (QK_K / 8)),
    (GgmlType::Iq1S, 19, "IQ1_S", QK_K, 2 + QK_K / 8 + QK_K / 16),
    (GgmlType::Iq4Nl, 20, "IQ4_NL", 32, 2 + 16),
    (
        GgmlType::Iq3S,
        21,
        "IQ3_S",
        QK_K,
        2 + 13 * (QK_K / 32) + QK_K / 64,
    ),
    (GgmlType::Iq2S, 22, "IQ2_S", QK_K, 2 + QK_K / 4 + QK_K / 16),
    (
        GgmlType::Iq4Xs,
        23,
        "IQ4_XS",
        QK_K,
        2 + 2 + QK_K / 64 + QK_K / 2,
    ),
    (GgmlType::I8, 24, "I8", 1, 1),
    (GgmlType::I16, 25, "I16", 1, 2),
    (GgmlType::I32, 26, "I32", 1, 4),
    (GgmlType::I64, 27, "I64", 1, 8),
    (GgmlType::F64, 28, "F64", 1, 8),
    (
        GgmlType::Iq1M,
        29,
        "IQ1_M",
        QK_K,
        QK_K / 8 + QK_K / 16 + QK_K / 32,
    ),
    (GgmlType::Bf16, 30, "BF16", 1, 2),
    (
        GgmlType::Tq1_0,
        34,
        "TQ1_0",
        QK_K,
        2 + QK_K / 64 + (QK_K - 4 * QK_K / 64) / 5,
    ),
    (GgmlType::Tq2_0, 35, "TQ2_0", QK_K, 2 + QK_K / 4),
    (GgmlType::Mxfp4, 39, "MXFP4", 32, 1 + 16),
    (GgmlType::Nvfp4, 40, "NVFP4", 64, 64 / 16 + 64 / 2),
    (GgmlType::Q1_0, 41, "Q1_0", 128, 2 + 128 / 8),
    (GgmlType::Q2_0, 42, "Q2_0", 64, 2 + 64 / 4),
];

impl GgmlType {
    /// Every known type, in id order.
    pub fn all() -> impl Iterator<Item = GgmlType> {
        TABLE.iter().map(|row| row.0)
    }

    /// The type with this ggml id, or `None` if the id is unknown.
    pub fn from_id(id: u32) -> Option<GgmlType> {
        TABLE.iter().find(|row| row.1 == id).map(|row| row.0)
    }

    fn row(self) -> &'static Row {
        // Every variant has exactly one row (checked by a unit test).
        TABLE.iter().find(|row| row.0 == self).unwrap_or(&TABLE[0])
    }

    /// The ggml id stored in GGUF tensor infos.
    pub fn id(self) -> u32 {
        self.row().1
    }

    /// The name as llama.cpp prints it in upper case (`"Q4_K"`, `"F32"`).
    pub fn name(self) -> &'static str {
        self.row().2
    }

    /// Elements per block (1 for plain types).
    pub fn block_size(self) -> u64 {
        self.row().3
    }

    /// Bytes per block.
    pub fn type_size(self) -> u64 {
        self.row().4
    }

    /// Whether this is a block-quantized type.
    pub fn is_quantized(self) -> bool {
        self.block_size() > 1
    }

    /// Bytes needed by a tensor of this type with shape `dims` (ggml order,
    /// `ne[0]` first).
    ///
    /// Returns `None` when `ne[0]` is not a multiple of the block size or the
    /// size overflows `u64`. An empty `dims` is a scalar (one element).
    pub fn tensor_bytes(self, dims: &[u64]) -> Option<u64> {
        let ne0 = dims.first().copied().unwrap_or(1);
        if ne0 % self.block_size() != 0 {
            return None;
        }
        let mut n: u64 = ne0 / self.block_size();
        for &d in dims.iter().skip(1) {
            n = n.checked_mul(d)?;
        }
        n.checked_mul(self.type_size())
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_ids_are_unique_and_round_trip() {
        for (i, row) in TABLE.iter().enumerate() {
            assert_eq!(GgmlType::from_id(row.1), Some(row.0));
            assert_eq!(row.0.id(), row.1);
            for other in &TABLE[i + 1..] {
                assert_ne!(row.1, other.1);
                assert_ne!(row.0, other.0);
            }
        }
        for removed in [4, 5, 31, 32, 33, 36, 37, 38, 43, 1000] {
            assert_eq!(GgmlType::from_id(removed), None);
        }
    }

    #[test]
    fn known_sizes_match_ggml() {
        // Values from ggml's static_asserts, spelled out.
        assert_eq!(GgmlType::Q4_0.type_size(), 18);
        assert_eq!(GgmlType::Q8_0.type_size(), 34);
        assert_eq!(GgmlType::Q2K.type_size(), 84);
        assert_eq!(GgmlType::Q3K.type_size(), 110);
        assert_eq!(GgmlType::Q4K.type_size(), 144);
        assert_eq!(GgmlType::Q5K.type_size(), 176);
        assert_eq!(GgmlType::Q6K.type_size(), 210);
        assert_eq!(GgmlType::Q8K.type_size(), 292);
        assert_eq!(GgmlType::Iq3S.type_size(), 110);
        assert_eq!(GgmlType::Iq4Xs.type_size(), 136);
        assert_eq!(GgmlType::Tq1_0.type_size(), 54);
        assert_eq!(GgmlType::Mxfp4.type_size(), 17);
    }

    #[test]
    fn tensor_bytes_checks_blocks_and_overflow() {
        assert_eq!(GgmlType::F32.tensor_bytes(&[3, 5]), Some(60));
        assert_eq!(GgmlType::Q4_0.tensor_bytes(&[64, 2]), Some(2 * 2 * 18));
        assert_eq!(GgmlType::Q4_0.tensor_bytes(&[33]), None);
        assert_eq!(GgmlType::F32.tensor_bytes(&[u64::MAX / 2, 3]), None);
        assert_eq!(GgmlType::F32.tensor_bytes(&[]), Some(4));
    }
}
