//! Evaluation: does steering help on real multiple-choice benchmarks?

pub mod score;
pub mod stats;
