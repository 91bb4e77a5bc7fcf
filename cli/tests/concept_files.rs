//! Texts for the behaviour runs and the paired map. The contrast sets
//! shipped in `data/concepts/` (sentiment, cooking, sports, music, weather) and the
//! open prompts: each set reads with the same loader `fit` uses, has at
//! least 100 pairs (the issue's ~200 texts), one positive and one negative
//! text per pair, no text twice, no text shared between two sets, and no
//! open prompt is a fit text. And `data build --source generic`, the
//! larger generic set for `fit --generic`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "../../tests/common/mod.rs"]
mod common;

use expertsteer_eval::data::{generic_texts, read_dataset, read_texts};

fn concepts() -> PathBuf {
    common::repo_root().join("data/concepts")
}

#[test]
fn every_contrast_set_is_balanced_paired_and_free_of_repeats() {
    let prompts: HashSet<String> = read_texts(&concepts().join("open_prompts.jsonl"))
        .unwrap()
        .into_iter()
        .collect();
    assert!(prompts.len() >= 150, "{} open prompts", prompts.len());
    // Every text of every set, with the set it came from.
    let mut owner: HashMap<String, &str> = HashMap::new();
    for name in ["sentiment", "cooking", "sports", "music", "weather"] {
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
        for t in distinct {
            if let Some(other) = owner.insert(t.to_string(), name) {
                panic!("{t:?} is in both {other} and {name}");
            }
        }
    }
}

fn data_build(args: &[&str], out: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_expertsteer"))
        .args(["data", "build", "--source", "generic"])
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

#[test]
fn generic_build_extends_fits_default_texts_and_refuses_labels() {
    let dir = common::scratch("generic-build");
    let out = dir.join("generic.jsonl");
    let o = data_build(&["--limit", "1000"], &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let texts = read_texts(&out).unwrap();
    assert_eq!(texts.len(), 1000);
    // fit's default paired-map texts are the first 400 of these, in order.
    assert_eq!(texts[..400], generic_texts(400).unwrap()[..]);
    let distinct: HashSet<&String> = texts.iter().collect();
    assert!(distinct.len() > 990, "{} distinct of 1000", distinct.len());

    let bad = dir.join("bad.jsonl");
    for args in [
        &["--label", "domain"][..],
        &["--split", "test"][..],
        &["--limit", "1000000"][..],
    ] {
        let o = data_build(args, &bad);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(err.contains("generic"), "{args:?}: {err}");
        assert!(!bad.exists(), "{args:?} wrote a file");
    }
    std::fs::remove_dir_all(&dir).ok();
}
