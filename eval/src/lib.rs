//! # expertsteer-eval
//!
//! The research harness of expertsteer, kept out of the product crate: a
//! library or app that steers a model never compiles it. It asks whether
//! steering helps, on real benchmarks, with the numbers EVALUATION.md
//! reports.
//!
//! [`data`] turns benchmarks shipped in registry packages (MMLU, BIG-bench)
//! into questions and labelled data. [`score`] scores options, [`run`] loops
//! over questions and conditions with a resumable log, [`stats`] and
//! [`report`] turn logs into tables, [`summary`] pools several logs into the
//! table the defaults come from; `plot` (feature `plot`) draws accuracy
//! against strength. [`code`] scores generated code by running it in a
//! sandbox (HumanEval pass@1). [`behaviour`] logs steered open-ended
//! generations for an outside scorer, [`fluency`] sets steered and plain
//! continuations side by side with their perplexity. [`exact`] scores short
//! generated answers by exact match (BIG-bench arithmetic), with and
//! without steering.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod behaviour;
pub mod code;
pub mod data;
pub mod exact;
pub mod fluency;
pub mod greedy;
pub mod jsonl_log;
#[cfg(feature = "plot")]
pub mod plot;
pub mod report;
pub mod run;
pub mod score;
pub mod stats;
pub mod summary;
