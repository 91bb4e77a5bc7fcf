//! Steering vectors ready to apply: which layers, which positions, and
//! which mechanism can carry them. Layers are 0-based blocks: layer N is
//! llama.cpp's tensor `l_out-N`, the residual stream after block N.

use std::collections::BTreeMap;

/// Which token positions receive the steering vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Positions {
    /// Prompt and generated tokens alike (what control vectors do).
    #[default]
    All,
    /// Only decodes made while the sequence is marked as generating
    /// (`SteerHook::set_generation_phase`): the prompt's own states and
    /// logits stay untouched.
    GeneratedOnly,
}

/// Vectors to add, already scaled: layer (0-based block) → n_embd floats.
#[derive(Debug, Clone, Default)]
pub struct Steering {
    /// Layer (0-based block, `l_out-N`) → the vector added to its output.
    pub vectors: BTreeMap<usize, Vec<f32>>,
    /// Which token positions receive the vectors.
    pub positions: Positions,
}

/// Which mechanism carries the steering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SteerPath {
    /// `llama_set_adapter_cvec`.
    ControlVector,
    /// The eval callback.
    Callback,
}

impl Steering {
    /// The fastest path that can do what is asked.
    pub fn best_path(&self) -> SteerPath {
        if self.positions == Positions::All && !self.vectors.contains_key(&0) {
            SteerPath::ControlVector
        } else {
            SteerPath::Callback
        }
    }

    /// Multiplies every vector by `factor`.
    pub fn scaled(&self, factor: f32) -> Steering {
        Steering {
            vectors: self
                .vectors
                .iter()
                .map(|(&l, v)| (l, v.iter().map(|x| x * factor).collect()))
                .collect(),
            positions: self.positions,
        }
    }
}
