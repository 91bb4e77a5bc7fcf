//! The offline steps (METHOD.md steps 0-3), in the order data flows through
//! them: [`dataset`] (labelled texts and their fixed splits) →
//! [`capture`] / [`capture_store`] (hidden states, cached on disk) →
//! [`align`] (expert states into the target's dimensions) → [`pairing`]
//! (MI matrix, intervention layers) → [`rfm`] (directions) →
//! [`crate::steering::steerfile`]. [`baselines`] are the self-steering
//! methods fitted on the target alone; [`fit`] runs every step end to end;
//! [`direction_check`] compares a finished file's directions with the
//! target's own. No step reaches back into an earlier one's internals.

pub mod align;
pub mod baselines;
pub mod capture;
pub mod capture_store;
pub mod dataset;
pub mod direction_check;
pub mod fit;
pub mod fit_map;
pub mod pairing;
pub mod rfm;
