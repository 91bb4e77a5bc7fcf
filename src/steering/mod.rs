//! Steering vectors from file to model (METHOD.md "The steering file" and
//! step 4): [`steerfile`] (the `.steer` file and a model's identity),
//! [`steering_io`] (every source a program can steer from: `.steer`,
//! control-vector GGUF, `.npy`/`.f32`), [`steer`] (applying them through
//! llama.cpp's control vector or the eval callback), [`contrast`]
//! (vectors from one contrast pair, for the demo) and [`steerability`]
//! (how far each layer's direction moves a concept: the target-side
//! layer rule).

pub mod contrast;
pub mod steer;
pub mod steerability;
pub mod steerfile;
pub mod steering_io;
