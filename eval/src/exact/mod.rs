//! Generative tasks scored by exact match (BIG-bench arithmetic and the
//! like): a greedy answer to a k-shot prompt, cut at the first newline,
//! compared with the task's targets.
//!
//! [`prompt`] chooses the shots (from the fit split only) and formats the
//! prompt and the answer; [`run`] generates per question and condition
//! (no steering, or a steering file at a strength) into a resumable log;
//! [`table`] turns the log into accuracies with Wilson intervals and exact
//! McNemar tests against no steering, Holm-adjusted.

pub mod prompt;
pub mod run;
pub mod table;
