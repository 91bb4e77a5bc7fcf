//! Steering vectors ready to apply: which layers, which positions, and
//! which mechanism can carry them. Layers are 0-based blocks: layer N is
//! llama.cpp's tensor `l_out-N`, the residual stream after block N.

use std::collections::BTreeMap;

/// The most blocks a model can have in llama.cpp (its `LLAMA_MAX_LAYERS`):
/// a layer number is always below this.
pub const MAX_LAYERS: usize = 512;

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

/// The largest steering-vector norm llama.cpp's f32 arithmetic survives:
/// the next block's RMS norm sums the squares of the hidden state, which
/// overflow f32 above √f32::MAX ≈ 1.8e19, and every later value is NaN.
pub const MAX_VECTOR_NORM: f64 = 1.8e19;

/// The first vector (layer, its L2 norm) that is non-finite or whose norm
/// reaches [`MAX_VECTOR_NORM`], if any.
pub fn first_overflowing(vectors: &BTreeMap<usize, Vec<f32>>) -> Option<(usize, f64)> {
    vectors.iter().find_map(|(&l, v)| {
        let norm = v.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
        let fits = norm.is_finite() && norm < MAX_VECTOR_NORM; // NaN is not finite
        (!fits).then_some((l, norm))
    })
}
