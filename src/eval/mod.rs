//! Evaluation: does steering help on real multiple-choice benchmarks?
//! [`score`] scores options, [`run`] loops over questions and conditions
//! with a resumable log, [`stats`] and [`report`] turn logs into tables,
//! [`summary`] pools several logs into the table the defaults come from;
//! `plot` (feature `plot`) draws accuracy against strength. [`code`] scores
//! generated code by running it in a sandbox (HumanEval pass@1).
//! [`behaviour`] logs steered open-ended generations for an outside scorer.
//! [`exact`] scores short generated answers by exact match (BIG-bench
//! arithmetic), with and without steering.

pub mod behaviour;
pub mod code;
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
