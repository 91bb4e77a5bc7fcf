//! Evaluation: does steering help on real multiple-choice benchmarks?
//! [`score`] scores options, [`run`] loops over questions and conditions
//! with a resumable log, [`stats`] and [`report`] turn logs into tables.

pub mod fluency;
pub mod report;
pub mod run;
pub mod score;
pub mod stats;
