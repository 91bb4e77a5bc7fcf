//! The steering file (METHOD.md "The steering file"): the format lives in
//! `expertsteer-core` (so the C ABI can read it without linking llama.cpp);
//! this module re-exports it and adds what needs a loaded [`Model`].

pub use expertsteer_core::steerfile::*;

use crate::llama::Model;

impl Model {
    /// This model's identity for a steering file (hashes the file once).
    pub fn identity(&self) -> crate::Result<ModelIdentity> {
        Ok(ModelIdentity {
            arch: self.arch().to_string(),
            n_embd: self.n_embd(),
            n_layer: self.n_layer(),
            file_name: self
                .path()
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            sha256: crate::hash::content_sha256(self.path())?,
        })
    }

    /// Refuses a steering file made for a model of another shape.
    pub fn check_steer_file(&self, file: &SteerFile) -> crate::Result<()> {
        Ok(file.check_shape(
            self.n_layer(),
            self.n_embd(),
            &self.path().display().to_string(),
        )?)
    }
}
