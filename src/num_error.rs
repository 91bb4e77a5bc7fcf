//! The one error type of the numeric core.
//!
//! Every variant names the step (`context`, e.g. `"rfm::fit_rfm"`) and what the
//! caller can change: a shape, a sample count, a label set, a hyper-parameter.

use thiserror::Error;

/// Errors of the numeric stages (alignment, pairing, RFM, baselines).
#[derive(Debug, Error)]
pub enum NumError {
    /// Two inputs that must agree in shape do not.
    #[error(
        "{context}: shape mismatch: {left_name} has shape {left:?} but {right_name} has shape {right:?}"
    )]
    ShapeMismatch {
        /// The function that found the mismatch.
        context: &'static str,
        /// What the first input is (e.g. `"x_fit"`).
        left_name: &'static str,
        /// Its shape.
        left: Vec<usize>,
        /// What the second input is (e.g. `"y_fit"`).
        right_name: &'static str,
        /// Its shape.
        right: Vec<usize>,
    },
    /// Too few rows (texts) for the estimate to exist.
    #[error("{context}: need at least {needed} samples, got {got}")]
    NotEnoughSamples {
        /// The function that refused.
        context: &'static str,
        /// The minimum it needs.
        needed: usize,
        /// What it was given.
        got: usize,
    },
    /// A classification step was given labels of one class only.
    #[error("{context}: all {n} labels of {what} are {label}; both classes (0 and 1) are needed")]
    SingleClass {
        /// The function that refused.
        context: &'static str,
        /// Which label set (e.g. `"y_val"`).
        what: &'static str,
        /// Number of labels.
        n: usize,
        /// The only label present (0 or 1).
        label: u8,
    },
    /// An input holds NaN or an infinity.
    #[error("{context}: non-finite value {value} in {what} at row {row}, column {col}")]
    NonFinite {
        /// The function that found it.
        context: &'static str,
        /// Which input (e.g. `"expert states"`).
        what: &'static str,
        /// 0-based row (text).
        row: usize,
        /// 0-based column (dimension).
        col: usize,
        /// The offending value.
        value: f64,
    },
    /// A hyper-parameter is outside its allowed range.
    #[error("invalid hyper-parameter {field} = {value}: allowed: {allowed}")]
    InvalidParam {
        /// Field name as in the parameter struct.
        field: &'static str,
        /// The rejected value, printed.
        value: String,
        /// The allowed range, in words.
        allowed: &'static str,
    },
    /// Fewer eligible layers than intervention layers requested.
    #[error(
        "{context}: asked for {requested} intervention layers but only {available} target layers are eligible (layers {min_layer}..={max_layer})"
    )]
    TooFewLayers {
        /// The function that refused.
        context: &'static str,
        /// `n_layers` asked for.
        requested: usize,
        /// Eligible target layers.
        available: usize,
        /// First eligible layer (0-based block).
        min_layer: usize,
        /// Last eligible layer (0-based block).
        max_layer: usize,
    },
    /// A matrix factorisation failed even after regularisation.
    #[error("{context}: {detail}")]
    Numerical {
        /// The function that failed.
        context: &'static str,
        /// What went wrong and with which matrix.
        detail: String,
    },
}

/// Result alias of the numeric core (named so it cannot shadow the crate-wide `Result`).
pub type NumResult<T> = std::result::Result<T, NumError>;
