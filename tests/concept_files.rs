//! The contrast sets shipped in `data/concepts/` (sentiment, cooking) and
//! the open prompts the behaviour runs generate from: each set reads with
//! the same loader `fit` uses, has at least 100 pairs (the issue's ~200
//! texts), one positive and one negative text per pair, no text twice, and
//! no open prompt is a fit text.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use expertsteer::data::{read_dataset, read_texts};

fn concepts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/concepts")
}

#[test]
fn every_contrast_set_is_balanced_paired_and_free_of_repeats() {
    let prompts: HashSet<String> = read_texts(&concepts().join("open_prompts.jsonl"))
        .unwrap()
        .into_iter()
        .collect();
    assert!(prompts.len() >= 50, "{} open prompts", prompts.len());
    for name in ["sentiment", "cooking"] {
        let path = concepts().join(format!("{name}.jsonl"));
        let texts = read_dataset(&path).unwrap();
        let mut by_group: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
        for t in &texts {
            by_group.entry(&t.group).or_default().push(t.label);
        }
        assert!(by_group.len() >= 100, "{name}: {} pairs", by_group.len());
        for (g, labels) in &by_group {
            let mut l = labels.clone();
            l.sort();
            assert_eq!(l, vec![0, 1], "{name}: group {g} is not one pair");
        }
        let distinct: HashSet<&str> = texts.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(distinct.len(), texts.len(), "{name}: a text appears twice");
        let leaked: Vec<&str> = distinct
            .iter()
            .copied()
            .filter(|t| prompts.contains(*t))
            .collect();
        assert!(
            leaked.is_empty(),
            "{name}: open prompts among fit texts: {leaked:?}"
        );
    }
}
