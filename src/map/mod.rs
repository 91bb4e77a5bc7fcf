//! Step 1 at scale (issue: the token-level map): a map from each candidate
//! expert layer into each candidate target layer, fitted once per (expert,
//! target) pair on generic text and reused for every concept. Data flows
//! [`corpus`] (the generic texts) → [`positions`] (token positions both
//! models end at the same byte) → [`run`] (both models read the texts, the
//! paired states stream into [`moments`]) → [`solve`] (ridge per pair,
//! penalty by held-out R²) → [`file`] (the `.esmap` artifact); [`dump`]
//! keeps the paired rows themselves when asked (the non-linear ablation);
//! [`sampled`] makes the everyday prose of the default corpus.

pub mod corpus;
pub mod dump;
pub mod file;
pub mod moments;
pub mod positions;
pub mod run;
pub mod sampled;
pub mod solve;

pub use file::{CorpusInfo, MapFile};
pub use run::{run_map, Candidates, MapCounters, MapProgress, MapRunConfig};
pub use solve::{LinearMap, PairFit};
