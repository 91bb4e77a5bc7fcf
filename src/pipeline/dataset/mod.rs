//! Labelled data for the offline pipeline (METHOD.md "Data"): what
//! [`crate::pipeline::fit`] reads, with no benchmark in sight.
//!
//! Two JSON Lines forms are read (the format is
//! `expertsteer_core::dataset`): labelled texts
//! `{"text": "...", "label": 1, "group": "q17"}` and contrastive pairs
//! `{"positive": "...", "negative": "..."}`. `group` (optional) ties texts
//! that must stay in the same split, such as the answers to one question;
//! [`split_of`] assigns each group a fixed part. The benchmark loaders that
//! write these files live in the evaluation harness (`expertsteer-eval`'s
//! `data`).

mod jsonl;
mod split;

pub use jsonl::{read_dataset, read_texts, write_dataset, write_texts};
pub use split::{split_of, Part, SplitFractions};

pub use expertsteer_core::dataset::LabelledText;

/// Positive/negative index pairs (same group, one label each), for
/// pair-based methods such as PCA of paired differences.
pub fn pairs(items: &[LabelledText]) -> Vec<(usize, usize)> {
    let mut by_group: std::collections::BTreeMap<&str, (Vec<usize>, Vec<usize>)> =
        Default::default();
    for (i, t) in items.iter().enumerate() {
        let e = by_group.entry(t.group.as_str()).or_default();
        if t.label == 1 {
            e.0.push(i);
        } else {
            e.1.push(i);
        }
    }
    by_group
        .values()
        .flat_map(|(p, n)| p.iter().zip(n.iter()).map(|(&a, &b)| (a, b)))
        .collect()
}

/// FNV-1a 64: a stable hash (unlike std's, it never changes between runs
/// or Rust versions), used for ids and split assignment.
pub fn stable_hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.as_bytes() {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
