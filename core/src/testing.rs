//! A small, valid steering file for the tests of code that reads, writes
//! or applies steering files (this crate's and its users').

use crate::steerfile::{frame_payload, Method, MiMatrix, ModelIdentity, SteerFile, SteerLayer};

/// A valid file for a 4-block, n_embd-8 llama target (one steered layer,
/// 2; an n_embd-12 expert), with every optional field filled.
pub fn sample_file() -> SteerFile {
    let id = |n: usize| ModelIdentity {
        arch: "llama".into(),
        n_embd: n,
        n_layer: 4,
        file_name: "m.gguf".into(),
        sha256: "ab".repeat(32),
    };
    SteerFile {
        target: id(8),
        expert: Some(id(12)),
        method: Method::ExpertSteer,
        layers: vec![SteerLayer {
            target_layer: 2,
            expert_layer: Some(3),
            direction: (0..8).map(|i| i as f32 / 10.0 - 0.3).collect(),
            mean_norm: 11.5,
            val_auc: Some(0.71),
            mi: Some(1.25),
        }],
        default_strength: 0.2,
        params: [("rfm.iterations".to_string(), "10".to_string())]
            .into_iter()
            .collect(),
        mi: Some(MiMatrix {
            expert_layers: vec![1, 2, 3],
            target_layers: vec![1, 2, 3],
            values: (0..9).map(|v| v as f64 * 0.1).collect(),
        }),
        data_sha256: "cd".repeat(32),
        n_texts: 40,
    }
}

/// `f` as a file an older build or a hostile writer could have made: the
/// real framing and checksum, without [`SteerFile::validate`] (which the
/// writer runs), so tests can hand readers files that fail it.
pub fn unchecked_bytes(f: &SteerFile) -> Vec<u8> {
    frame_payload(&bincode::serialize(f).expect("a SteerFile serialises"))
}
