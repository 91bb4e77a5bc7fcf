//! The eval callback: reads and adds steering vectors at `l_out-N`, for any
//! llama.cpp context — expertsteer's own `Context` or an application's.
//!
//! llama.cpp calls the callback twice per graph node: once to *ask* whether
//! we want the tensor (answered from a precomputed per-layer table, with no
//! allocation or formatting), and once with the computed data, which we may
//! read (capture) and change in place (steering) before later nodes use it.
//!
//! Rows and sequences: a decoded batch reaches the callback in ubatches, in
//! batch order (llama.cpp's simple split, which a unified KV cache uses).
//! A non-final block's `l_out` holds one row per token of the ubatch; the
//! final block's holds only the rows that produce logits. Each layer keeps
//! a cursor into the batch, so row `r` of a tensor is known to be batch
//! entry `cursor + r` (or output entry, for the final block) without
//! knowing the ubatch size. [`SteerHook::begin_batch`] tells the hook each
//! entry's sequence before a decode; that is what lets one batch carry
//! different steering for different sequences.

use crate::llama_error::{check_vector, LlamaError, Result};
use crate::steering::Positions;
use llama_cpp_sys_2 as sys;
use std::collections::BTreeMap;
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Which rows of a captured layer are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CaptureRows {
    /// The last token of each sequence in the batch (in batch order).
    /// It must be marked as output so the last block still holds its row.
    #[default]
    LastOfEachSeq,
    /// Every row the tensor holds (the last block holds only output rows).
    All,
}

/// What the callback does during the next decodes, for every sequence
/// alike (per-sequence steering: [`SteerHook::set_seq_steering`]).
#[derive(Debug, Clone, Default)]
pub struct HookPlan {
    /// Layers (0-based blocks) whose `l_out` rows are captured.
    pub capture: Vec<usize>,
    /// Rows kept by the capture.
    pub capture_rows: CaptureRows,
    /// Layer → vector added to every row (already scaled, n_embd floats).
    pub add: BTreeMap<usize, Vec<f32>>,
    /// Positions that receive the added vectors.
    pub positions: Positions,
}

/// The three ggml functions the callback needs, taken from whichever copy
/// of ggml runs the graph. expertsteer's `Context` passes the ones it
/// links; a host application's plugin (the C ABI) passes the host's own,
/// so a process never mixes two copies of ggml's backend buffers.
#[derive(Clone, Copy)]
pub struct GgmlFns {
    /// `ggml_backend_buffer_is_host`.
    pub buffer_is_host: unsafe extern "C" fn(sys::ggml_backend_buffer_t) -> bool,
    /// `ggml_backend_tensor_get(tensor, data, offset_bytes, size_bytes)`.
    pub tensor_get: unsafe extern "C" fn(*const sys::ggml_tensor, *mut c_void, usize, usize),
    /// `ggml_backend_tensor_set(tensor, data, offset_bytes, size_bytes)`.
    pub tensor_set: unsafe extern "C" fn(*mut sys::ggml_tensor, *const c_void, usize, usize),
}

/// Steering for one sequence (or the default for all).
#[derive(Debug, Clone, Default)]
struct SeqSteer {
    /// Per layer: the vector to add, or empty.
    add: Vec<Vec<f32>>,
    /// Per layer: an orthonormal basis of the directions to remove
    /// (h ← h − Σ (h·u)u, before adding), or empty.
    ablate: Vec<Vec<Vec<f32>>>,
    positions: Positions,
    generating: bool,
}

impl SeqSteer {
    fn active(&self) -> bool {
        match self.positions {
            Positions::All => true,
            Positions::GeneratedOnly => self.generating,
        }
    }

    /// Whether this steering changes rows of `layer` now.
    fn acts_at(&self, layer: usize) -> bool {
        self.active()
            && (!self.add[layer].is_empty()
                || self.ablate.get(layer).is_some_and(|b| !b.is_empty()))
    }

    fn acts_anywhere(&self) -> bool {
        (0..self.add.len()).any(|l| self.acts_at(l))
    }

    /// Ablation then addition on one row of `layer`.
    fn apply(&self, layer: usize, row: &mut [f32]) {
        if let Some(basis) = self.ablate.get(layer) {
            for u in basis {
                remove_component(row, u);
            }
        }
        let v = &self.add[layer];
        if !v.is_empty() {
            add_row(row, v);
        }
    }
}

/// Row source: none, the default steering, or `seqs[k]` as `k + 1`.
const NO_SOURCE: u32 = u32::MAX;
const DEFAULT_SOURCE: u32 = 0;
const NAME_PREFIX: &[u8] = b"l_out-";

/// State shared with the C callback, at a stable (boxed) address.
struct HookState {
    n_layer: usize,
    n_embd: usize,
    ggml: GgmlFns,
    default: SeqSteer,
    /// Per-sequence steering, sorted by sequence id.
    seqs: Vec<(i32, SeqSteer)>,
    capture: Vec<bool>,
    capture_rows: CaptureRows,
    /// Ask table: layer → does any row source add here, or do we capture.
    ask_add: Vec<bool>,
    /// The batch of the coming decode, if the caller described it.
    batch_known: bool,
    /// Per batch entry and per output entry: row source.
    entry_src: Vec<u32>,
    output_src: Vec<u32>,
    /// Per batch entry and per output entry: kept by the capture.
    entry_capture: Vec<bool>,
    output_capture: Vec<bool>,
    /// Per layer: rows of the batch already seen in this decode.
    cursor: Vec<usize>,
    /// Layers the graph named during the last decode (ask phase).
    seen: Vec<bool>,
    /// Captured rows per layer, appended across decodes until taken.
    captures: Vec<Vec<f32>>,
    scratch: Vec<f32>,
    error: Option<String>,
    /// Tensors reached through tensor_get/set (off-host buffers).
    off_host: u64,
}

impl HookState {
    fn source(&self, src: u32) -> Option<&SeqSteer> {
        match src {
            NO_SOURCE => None,
            DEFAULT_SOURCE => Some(&self.default),
            k => self.seqs.get(k as usize - 1).map(|(_, s)| s),
        }
    }

    fn source_of_seq(&self, seq: i32) -> u32 {
        match self.seqs.binary_search_by_key(&seq, |(s, _)| *s) {
            Ok(k) => k as u32 + 1,
            Err(_) => DEFAULT_SOURCE,
        }
    }

    /// Recomputes the ask table after any change of steering or phase.
    fn refresh(&mut self) {
        for l in 0..self.n_layer {
            self.ask_add[l] =
                self.default.acts_at(l) || self.seqs.iter().any(|(_, s)| s.acts_at(l));
        }
    }

    fn wants(&self, layer: usize) -> bool {
        self.capture[layer] || self.ask_add[layer]
    }

    fn per_seq_active(&self) -> bool {
        self.seqs.iter().any(|(_, s)| s.acts_anywhere())
    }

    fn captures_anything(&self) -> bool {
        self.capture.iter().any(|&c| c)
    }

    fn begin_batch(&mut self, seqs: &[i32], outputs: &[bool]) {
        self.batch_known = true;
        self.error = None;
        self.seen.iter_mut().for_each(|s| *s = false);
        self.cursor.iter_mut().for_each(|c| *c = 0);
        self.entry_src.clear();
        self.output_src.clear();
        self.entry_capture.clear();
        self.output_capture.clear();
        for (&seq, &out) in seqs.iter().zip(outputs) {
            let src = self.source_of_seq(seq);
            let src = match self.source(src) {
                Some(s) if s.active() => src,
                _ => NO_SOURCE,
            };
            self.entry_src.push(src);
            if out {
                self.output_src.push(src);
            }
        }
        let keep: Vec<bool> = match self.capture_rows {
            CaptureRows::All => vec![true; seqs.len()],
            CaptureRows::LastOfEachSeq => {
                // An entry is its sequence's last when no later entry shares
                // the sequence (tracked walking backwards).
                let mut later: Vec<i32> = Vec::new();
                let mut keep = vec![false; seqs.len()];
                for (i, seq) in seqs.iter().enumerate().rev() {
                    if !later.contains(seq) {
                        later.push(*seq);
                        keep[i] = true;
                    }
                }
                keep
            }
        };
        for (i, &k) in keep.iter().enumerate() {
            self.entry_capture.push(k);
            if outputs[i] {
                self.output_capture.push(k);
            }
        }
        let last = self.n_layer - 1;
        if self.capture[last]
            && self.capture_rows == CaptureRows::LastOfEachSeq
            && keep.iter().zip(outputs).any(|(&k, &o)| k && !o)
        {
            self.error = Some(format!(
                "capturing the last layer ({last}) needs the last token of every \
                 sequence marked as output"
            ));
        }
    }

    /// Ask phase: do we want this tensor? Must not allocate.
    fn ask(&mut self, name: &[u8]) -> bool {
        match parse_layer(name) {
            Some(l) if l < self.n_layer => {
                self.seen[l] = true;
                self.wants(l)
            }
            _ => false,
        }
    }

    /// Data phase for a tensor we asked for: add first, then capture, so a
    /// capture shows the state the next block reads (as `l_out` does under
    /// llama.cpp's control vector, which is added before the name is set).
    ///
    /// # Safety
    /// `t` must point to a computed tensor handed to the eval callback.
    unsafe fn on_data(&mut self, t: *mut sys::ggml_tensor) -> std::result::Result<(), String> {
        // SAFETY: the caller guarantees `t` is a live tensor.
        let Some(layer) = parse_layer(unsafe { tensor_name(t) }) else {
            return Ok(());
        };
        if layer >= self.n_layer || !self.wants(layer) {
            return Ok(());
        }
        // SAFETY: the caller guarantees `t` is a live tensor.
        let (ty, ne0, rows, nb0, nb1, buffer, data) = unsafe {
            let r = &*t;
            (
                r.type_, r.ne[0], r.ne[1], r.nb[0], r.nb[1], r.buffer, r.data,
            )
        };
        let n = self.n_embd;
        if ty != sys::GGML_TYPE_F32 || ne0 as usize != n || nb0 != 4 {
            return Err(format!(
                "l_out-{layer} is not an F32 tensor with {n} columns"
            ));
        }
        if nb1 != 4 * n {
            return Err(format!("l_out-{layer} rows are not contiguous"));
        }
        let rows = rows.max(0) as usize;
        let final_layer = layer + 1 == self.n_layer;
        let first = self.cursor[layer];
        self.cursor[layer] += rows;
        if self.batch_known {
            let known = if final_layer {
                self.output_src.len()
            } else {
                self.entry_src.len()
            };
            if first + rows > known {
                // A decode the caller did not describe: forget the stale
                // batch; only uniform steering can go on without it.
                self.batch_known = false;
            }
        }
        if !self.batch_known && (self.per_seq_active() || self.needs_rows_for_capture()) {
            return Err(format!(
                "l_out-{layer}: this decode was not described with begin_batch, which \
                 per-sequence steering and per-sequence capture need before every decode"
            ));
        }
        // SAFETY: `buffer` belongs to the live tensor; the function is the
        // host's (or our) ggml_backend_buffer_is_host.
        let host = !buffer.is_null() && unsafe { (self.ggml.buffer_is_host)(buffer) };
        let total = rows * n;
        self.off_host += u64::from(!host);
        // The tensor's data as a slice: in place for host memory, else a copy.
        let mut scratch = std::mem::take(&mut self.scratch);
        let data: &mut [f32] = if host && !data.is_null() {
            // SAFETY: host memory, F32, contiguous rows of `n` floats checked
            // above: `rows * n` floats are valid and nothing else touches
            // them while the scheduler waits on this callback.
            unsafe { std::slice::from_raw_parts_mut(data as *mut f32, total) }
        } else {
            scratch.resize(total, 0.0);
            // SAFETY: `scratch` holds `total` floats = the tensor's byte size.
            unsafe { (self.ggml.tensor_get)(t, scratch.as_mut_ptr() as *mut c_void, 0, total * 4) };
            &mut scratch[..]
        };
        let mut changed = false;
        if self.ask_add[layer] {
            if self.batch_known {
                let srcs = if final_layer {
                    &self.output_src[first..first + rows]
                } else {
                    &self.entry_src[first..first + rows]
                };
                for (row, &src) in data.chunks_exact_mut(n).zip(srcs) {
                    if let Some(s) = self.source(src) {
                        if s.acts_at(layer) {
                            s.apply(layer, row);
                            changed = true;
                        }
                    }
                }
            } else if self.default.acts_at(layer) {
                for row in data.chunks_exact_mut(n) {
                    self.default.apply(layer, row);
                }
                changed = true;
            }
        }
        if self.capture[layer] {
            let keep: Option<&[bool]> = if !self.batch_known {
                None
            } else if final_layer {
                Some(&self.output_capture[first..first + rows])
            } else {
                Some(&self.entry_capture[first..first + rows])
            };
            for (r, row) in data.chunks_exact(n).enumerate() {
                if keep.is_none_or(|k| k[r]) {
                    self.captures[layer].extend_from_slice(row);
                }
            }
        }
        if changed && !host {
            // SAFETY: writes back `total` floats, the tensor's own size.
            unsafe { (self.ggml.tensor_set)(t, scratch.as_ptr() as *const c_void, 0, total * 4) };
        }
        self.scratch = scratch;
        Ok(())
    }

    fn needs_rows_for_capture(&self) -> bool {
        self.captures_anything() && self.capture_rows == CaptureRows::LastOfEachSeq
    }
}

fn add_row(row: &mut [f32], v: &[f32]) {
    for (x, a) in row.iter_mut().zip(v) {
        *x += *a;
    }
}

/// row ← row − (row·u) u for a unit `u` (the dot product in f64).
fn remove_component(row: &mut [f32], u: &[f32]) {
    let d: f64 = row.iter().zip(u).map(|(&x, &y)| x as f64 * y as f64).sum();
    let d = d as f32;
    for (x, &y) in row.iter_mut().zip(u) {
        *x -= d * y;
    }
}

/// An orthonormal basis (Gram-Schmidt, in f64) of `dirs`; a direction
/// (almost) inside the span of the earlier ones adds nothing.
fn orthonormal_basis(dirs: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let mut basis: Vec<Vec<f64>> = Vec::new();
    for d in dirs {
        let mut v: Vec<f64> = d.iter().map(|&x| x as f64).collect();
        let scale = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        for b in &basis {
            let p: f64 = v.iter().zip(b).map(|(x, y)| x * y).sum();
            v.iter_mut().zip(b).for_each(|(x, y)| *x -= p * y);
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if scale > 0.0 && norm > 1e-6 * scale {
            v.iter_mut().for_each(|x| *x /= norm);
            basis.push(v);
        }
    }
    basis
        .into_iter()
        .map(|b| b.into_iter().map(|x| x as f32).collect())
        .collect()
}

/// Steering and capture for one llama.cpp context, through its eval
/// callback. Usable on a context expertsteer creates (its `Context` owns
/// one) or, via [`SteerHook::install`], on a context an application
/// creates itself.
///
/// Vectors are already scaled (n_embd floats each) and keyed by layer,
/// the 0-based block whose output `l_out-N` they are added to. Steering
/// set for a sequence id replaces the default steering for that
/// sequence's rows; other sequences get the default.
///
/// Threading: the callback runs on the thread that calls `llama_decode`;
/// do not call this hook's methods while a decode on its context runs.
pub struct SteerHook {
    state: Box<HookState>,
}

impl SteerHook {
    /// A hook for a model with `n_layer` blocks of width `n_embd`, using
    /// `ggml`'s functions to reach tensors that live off the host.
    pub fn new(n_layer: usize, n_embd: usize, ggml: GgmlFns) -> Result<SteerHook> {
        if n_layer == 0 || n_embd == 0 {
            return Err(LlamaError::Invalid(format!(
                "a hook needs at least one block and n_embd > 0 (got {n_layer} x {n_embd})"
            )));
        }
        Ok(SteerHook {
            state: Box::new(HookState {
                n_layer,
                n_embd,
                ggml,
                default: SeqSteer {
                    add: vec![Vec::new(); n_layer],
                    ablate: vec![Vec::new(); n_layer],
                    ..Default::default()
                },
                seqs: Vec::new(),
                capture: vec![false; n_layer],
                capture_rows: CaptureRows::LastOfEachSeq,
                ask_add: vec![false; n_layer],
                batch_known: false,
                entry_src: Vec::new(),
                output_src: Vec::new(),
                entry_capture: Vec::new(),
                output_capture: Vec::new(),
                cursor: vec![0; n_layer],
                seen: vec![false; n_layer],
                captures: vec![Vec::new(); n_layer],
                scratch: Vec::new(),
                error: None,
                off_host: 0,
            }),
        })
    }

    /// Number of blocks of the model this hook was made for.
    pub fn n_layer(&self) -> usize {
        self.state.n_layer
    }

    /// Hidden size (floats per row) of the model this hook was made for.
    pub fn n_embd(&self) -> usize {
        self.state.n_embd
    }

    /// Registers this hook as the eval callback in `params`, before the
    /// application creates its context with them. Also sets
    /// `kv_unified = true`: a unified KV cache makes llama.cpp split
    /// batches in order, which the row → sequence mapping relies on.
    ///
    /// # Safety
    /// The hook must outlive every context created from `params` (drop it
    /// after `llama_free`), only one context may use it, and its methods
    /// must not be called while `llama_decode` runs on that context.
    /// Moving the `SteerHook` value is fine: its state is boxed.
    pub unsafe fn install(&mut self, params: &mut sys::llama_context_params) {
        params.cb_eval = Some(eval_callback);
        params.cb_eval_user_data = &mut *self.state as *mut HookState as *mut c_void;
        params.kv_unified = true;
    }

    fn check_vectors(&self, vectors: &BTreeMap<usize, Vec<f32>>) -> Result<()> {
        let (n_layer, n_embd) = (self.state.n_layer, self.state.n_embd);
        for (&l, v) in vectors {
            if l >= n_layer {
                return Err(LlamaError::LayerOutOfRange { layer: l, n_layer });
            }
            check_vector(l, v, n_embd)?;
        }
        Ok(())
    }

    fn fill(&self, target: &mut SeqSteer, vectors: &BTreeMap<usize, Vec<f32>>, p: Positions) {
        for (l, slot) in target.add.iter_mut().enumerate() {
            slot.clear();
            if let Some(v) = vectors.get(&l) {
                slot.extend_from_slice(v);
            }
        }
        target.positions = p;
    }

    /// Sets the steering every sequence gets unless it has its own
    /// (an empty map removes it). Checks layers, lengths and finiteness.
    pub fn set_steering(
        &mut self,
        vectors: &BTreeMap<usize, Vec<f32>>,
        positions: Positions,
    ) -> Result<()> {
        self.check_vectors(vectors)?;
        let mut d = std::mem::take(&mut self.state.default);
        self.fill(&mut d, vectors, positions);
        self.state.default = d;
        self.state.refresh();
        Ok(())
    }

    /// Gives sequence `seq` its own steering, replacing the default for its
    /// rows (an empty map leaves that sequence unsteered).
    pub fn set_seq_steering(
        &mut self,
        seq: i32,
        vectors: &BTreeMap<usize, Vec<f32>>,
        positions: Positions,
    ) -> Result<()> {
        self.check_vectors(vectors)?;
        let n_layer = self.state.n_layer;
        let k = match self.state.seqs.binary_search_by_key(&seq, |(s, _)| *s) {
            Ok(k) => k,
            Err(k) => {
                let fresh = SeqSteer {
                    add: vec![Vec::new(); n_layer],
                    ablate: vec![Vec::new(); n_layer],
                    ..Default::default()
                };
                self.state.seqs.insert(k, (seq, fresh));
                k
            }
        };
        let mut s = std::mem::take(&mut self.state.seqs[k].1);
        self.fill(&mut s, vectors, positions);
        self.state.seqs[k].1 = s;
        self.state.refresh();
        Ok(())
    }

    /// Removes directions from the outputs of their layers for sequence
    /// `seq` (`None`: the default steering of every sequence without its
    /// own): h ← h − Σ (h·u)u over an orthonormal basis of each layer's
    /// directions, before any vector is added, on the positions of that
    /// sequence's steering (all, unless set otherwise). Directions need not
    /// be unit or orthogonal; an empty map removes the ablation. For a
    /// sequence without steering of its own, this gives it its own (no
    /// added vectors) instead of the default.
    pub fn set_ablation(
        &mut self,
        seq: Option<i32>,
        directions: &BTreeMap<usize, Vec<Vec<f32>>>,
    ) -> Result<()> {
        let (n_layer, n_embd) = (self.state.n_layer, self.state.n_embd);
        for (&l, dirs) in directions {
            if l >= n_layer {
                return Err(LlamaError::LayerOutOfRange { layer: l, n_layer });
            }
            for d in dirs {
                check_vector(l, d, n_embd)?;
            }
        }
        let bases: Vec<Vec<Vec<f32>>> = (0..n_layer)
            .map(|l| {
                directions
                    .get(&l)
                    .map_or_else(Vec::new, |d| orthonormal_basis(d))
            })
            .collect();
        match seq {
            None => self.state.default.ablate = bases,
            Some(q) => {
                if self
                    .state
                    .seqs
                    .binary_search_by_key(&q, |(s, _)| *s)
                    .is_err()
                {
                    let p = self.state.default.positions;
                    self.set_seq_steering(q, &BTreeMap::new(), p)?;
                }
                let k = self
                    .state
                    .seqs
                    .binary_search_by_key(&q, |(s, _)| *s)
                    .map_err(|_| {
                        LlamaError::Invalid(format!("sequence {q} has no steering slot"))
                    })?;
                self.state.seqs[k].1.ablate = bases;
            }
        }
        self.state.refresh();
        Ok(())
    }

    /// Sequence `seq` goes back to the default steering.
    pub fn clear_seq_steering(&mut self, seq: i32) {
        if let Ok(k) = self.state.seqs.binary_search_by_key(&seq, |(s, _)| *s) {
            self.state.seqs.remove(k);
            self.state.refresh();
        }
    }

    /// Removes the default and every per-sequence steering.
    pub fn clear_steering(&mut self) {
        self.state.seqs.clear();
        let p = self.state.default.positions;
        let mut d = std::mem::take(&mut self.state.default);
        self.fill(&mut d, &BTreeMap::new(), p);
        d.ablate.iter_mut().for_each(Vec::clear);
        self.state.default = d;
        self.state.refresh();
    }

    /// Marks later decodes of `seq` (`None`: of every sequence, and the
    /// default) as generated tokens, for [`Positions::GeneratedOnly`].
    pub fn set_generation_phase(&mut self, seq: Option<i32>, generating: bool) {
        let st = &mut self.state;
        match seq {
            None => {
                st.default.generating = generating;
                st.seqs
                    .iter_mut()
                    .for_each(|(_, s)| s.generating = generating);
            }
            Some(q) => {
                if let Ok(k) = st.seqs.binary_search_by_key(&q, |(s, _)| *s) {
                    st.seqs[k].1.generating = generating;
                }
            }
        }
        st.refresh();
    }

    /// Captures `l_out` rows of `layers` from the next decode on (replacing
    /// the earlier capture set; empty stops capturing). Clears captures.
    pub fn set_capture(&mut self, layers: &[usize], rows: CaptureRows) -> Result<()> {
        let n_layer = self.state.n_layer;
        if let Some(&l) = layers.iter().find(|&&l| l >= n_layer) {
            return Err(LlamaError::LayerOutOfRange { layer: l, n_layer });
        }
        let st = &mut self.state;
        st.capture.iter_mut().for_each(|c| *c = false);
        for &l in layers {
            st.capture[l] = true;
        }
        st.capture_rows = rows;
        st.captures.iter_mut().for_each(Vec::clear);
        Ok(())
    }

    /// Whether any layer is being captured.
    pub fn captures_anything(&self) -> bool {
        self.state.captures_anything()
    }

    /// Captured rows per layer since the capture was set (`n_embd` floats
    /// per row, in decode and batch order); clears them.
    pub fn take_captures(&mut self) -> Vec<Vec<f32>> {
        self.state.captures.iter_mut().map(std::mem::take).collect()
    }

    /// Describes the coming decode's batch: each entry's (first) sequence id
    /// and whether it is marked as output, in batch order. Needed before
    /// every decode when sequences are steered differently or the capture
    /// keeps the last row of each sequence; harmless otherwise.
    pub fn begin_batch(&mut self, seqs: &[i32], outputs: &[bool]) -> Result<()> {
        if seqs.len() != outputs.len() {
            return Err(LlamaError::Invalid(format!(
                "begin_batch: {} sequence ids but {} output flags",
                seqs.len(),
                outputs.len()
            )));
        }
        self.state.begin_batch(seqs, outputs);
        match self.state.error.take() {
            Some(e) => Err(LlamaError::Hook(e)),
            None => Ok(()),
        }
    }

    /// The error the callback met during the last decode, if any (the
    /// callback cannot fail a decode itself: check this after each one).
    pub fn take_error(&mut self) -> Option<String> {
        self.state.error.take()
    }

    /// How many `l_out` tensors the callback has read or changed in buffers
    /// off the host (GPU, RPC), through `ggml_backend_tensor_get/set`.
    pub fn off_host_tensors(&self) -> u64 {
        self.state.off_host
    }

    /// The first layer this hook acts on that the last decode's graph never
    /// named (`l_out-N` missing: the architecture does not support it).
    pub fn unseen_layer(&self) -> Option<usize> {
        let st = &self.state;
        (0..st.n_layer).find(|&l| st.wants(l) && !st.seen[l])
    }
}

/// The tensor's name up to its NUL, without allocating.
///
/// # Safety
/// `t` must point to a live ggml tensor.
unsafe fn tensor_name<'a>(t: *const sys::ggml_tensor) -> &'a [u8] {
    // SAFETY: `name` is a fixed-size char array inside the live tensor.
    let name = unsafe { &(*t).name };
    // SAFETY: reinterpreting c_char (i8/u8) as u8 of the same size and length.
    let bytes: &[u8] =
        unsafe { std::slice::from_raw_parts(name.as_ptr() as *const u8, name.len()) };
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    &bytes[..end]
}

/// `l_out-N` exactly → N; anything else (views, other names) → None.
pub(crate) fn parse_layer(name: &[u8]) -> Option<usize> {
    let digits = name.strip_prefix(NAME_PREFIX)?;
    if digits.is_empty() || digits.len() > 6 {
        return None;
    }
    let mut n = 0usize;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + (d - b'0') as usize;
    }
    Some(n)
}

/// The C entry point registered as `cb_eval`. Never panics and never
/// returns false (false would silently stop the rest of the graph).
unsafe extern "C" fn eval_callback(
    t: *mut sys::ggml_tensor,
    ask: bool,
    user_data: *mut c_void,
) -> bool {
    if t.is_null() || user_data.is_null() {
        return !ask;
    }
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `user_data` is a SteerHook's boxed HookState, alive for
        // the context's lifetime (install's contract) and not otherwise
        // borrowed during llama_decode (which runs this callback on the
        // decoding thread).
        let state = unsafe { &mut *(user_data as *mut HookState) };
        if ask {
            // SAFETY: llama.cpp hands us a live tensor.
            let name = unsafe { tensor_name(t) };
            return state.ask(name);
        }
        if state.error.is_some() {
            return true;
        }
        // SAFETY: the data phase gets the computed, live tensor.
        if let Err(e) = unsafe { state.on_data(t) } {
            state.error = Some(e);
        }
        true
    }));
    match outcome {
        Ok(answer) => answer,
        Err(_) => {
            // SAFETY: as above; the panic left the state usable for a flag.
            let state = unsafe { &mut *(user_data as *mut HookState) };
            state.error = Some("panic inside the eval callback".into());
            !ask
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    unsafe extern "C" fn never_host(_: sys::ggml_backend_buffer_t) -> bool {
        false
    }
    unsafe extern "C" fn no_get(_: *const sys::ggml_tensor, _: *mut c_void, _: usize, _: usize) {}
    unsafe extern "C" fn no_set(_: *mut sys::ggml_tensor, _: *const c_void, _: usize, _: usize) {}

    fn hook(n_layer: usize, n_embd: usize) -> SteerHook {
        let fns = GgmlFns {
            buffer_is_host: never_host,
            tensor_get: no_get,
            tensor_set: no_set,
        };
        SteerHook::new(n_layer, n_embd, fns).unwrap()
    }

    #[test]
    fn ablation_basis_is_orthonormal_and_removes_the_span() {
        let a = vec![3.0f32, 0.0, 0.0, 0.0];
        let b = vec![1.0f32, 1.0, 0.0, 0.0];
        let dup = vec![6.0f32, 0.0, 0.0, 0.0];
        let basis = orthonormal_basis(&[a, b, dup]);
        assert_eq!(basis.len(), 2, "a direction inside the span adds nothing");
        let dot = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| p * q).sum::<f32>();
        assert!((dot(&basis[0], &basis[0]) - 1.0).abs() < 1e-6);
        assert!((dot(&basis[1], &basis[1]) - 1.0).abs() < 1e-6);
        assert!(dot(&basis[0], &basis[1]).abs() < 1e-6);
        let mut row = vec![2.0f32, -5.0, 7.0, 1.5];
        for u in &basis {
            remove_component(&mut row, u);
        }
        assert_eq!(row, vec![0.0, 0.0, 7.0, 1.5]);
    }

    #[test]
    fn ablation_is_checked_and_counts_as_steering() {
        let mut h = hook(3, 4);
        let bad: BTreeMap<usize, Vec<Vec<f32>>> = [(5, vec![vec![1.0; 4]])].into();
        assert!(h.set_ablation(Some(0), &bad).is_err());
        let short: BTreeMap<usize, Vec<Vec<f32>>> = [(1, vec![vec![1.0; 3]])].into();
        assert!(h.set_ablation(None, &short).is_err());
        let ok: BTreeMap<usize, Vec<Vec<f32>>> = [(1, vec![vec![1.0, 0.0, 0.0, 0.0]])].into();
        h.set_ablation(Some(2), &ok).unwrap();
        assert!(h.state.ask_add[1] && !h.state.ask_add[0]);
        assert!(h.state.per_seq_active());
        h.clear_seq_steering(2);
        assert!(!h.state.ask_add[1]);
        h.set_ablation(None, &ok).unwrap();
        assert!(h.state.ask_add[1]);
        h.clear_steering();
        assert!(!h.state.ask_add[1]);
    }

    #[test]
    fn parses_exact_layer_names_only() {
        assert_eq!(parse_layer(b"l_out-0"), Some(0));
        assert_eq!(parse_layer(b"l_out-17"), Some(17));
        assert_eq!(parse_layer(b"l_out-3 (view)"), None);
        assert_eq!(parse_layer(b"l_out-"), None);
        assert_eq!(parse_layer(b"l_out"), None);
        assert_eq!(parse_layer(b"attn_out-3"), None);
    }

    #[test]
    fn last_of_each_sequence_rows_follow_batch_order() {
        let mut h = hook(4, 2);
        h.set_capture(&[1, 3], CaptureRows::LastOfEachSeq).unwrap();
        // seq 0: entries 0,1,2 ; seq 1: entries 3,4 (outputs at 2 and 4)
        let outputs = [false, false, true, false, true];
        h.begin_batch(&[0, 0, 0, 1, 1], &outputs).unwrap();
        assert_eq!(h.state.entry_capture, vec![false, false, true, false, true]);
        assert_eq!(h.state.output_capture, vec![true, true]);
        let e = h.begin_batch(&[0, 0, 0, 1, 1], &[false, false, false, false, true]);
        assert!(e.is_err(), "last layer needs output rows");
    }

    #[test]
    fn rows_take_their_own_sequence_steering_or_the_default() {
        let mut h = hook(3, 2);
        let one = |l: usize, x: f32| BTreeMap::from([(l, vec![x; 2])]);
        h.set_steering(&one(1, 1.0), Positions::All).unwrap();
        h.set_seq_steering(7, &one(1, 5.0), Positions::All).unwrap();
        h.set_seq_steering(9, &BTreeMap::new(), Positions::All)
            .unwrap();
        h.begin_batch(&[7, 3, 9, 7], &[false, true, true, true])
            .unwrap();
        let st = &h.state;
        let srcs: Vec<Option<f32>> = st
            .entry_src
            .iter()
            .map(|&s| st.source(s).and_then(|s| s.add[1].first().copied()))
            .collect();
        // seq 7 → its own (5), seq 3 → default (1), seq 9 → its own: none.
        assert_eq!(srcs, vec![Some(5.0), Some(1.0), None, Some(5.0)]);
        assert_eq!(st.output_src.len(), 3);
        assert!(st.ask_add[1] && !st.ask_add[0] && !st.ask_add[2]);
    }

    #[test]
    fn generated_only_sequences_wait_for_their_phase() {
        let mut h = hook(2, 1);
        let v = BTreeMap::from([(1, vec![2.0])]);
        h.set_seq_steering(0, &v, Positions::GeneratedOnly).unwrap();
        h.set_seq_steering(1, &v, Positions::All).unwrap();
        h.begin_batch(&[0, 1], &[true, true]).unwrap();
        assert_eq!(h.state.entry_src[0], NO_SOURCE);
        assert_ne!(h.state.entry_src[1], NO_SOURCE);
        h.set_generation_phase(Some(0), true);
        h.begin_batch(&[0, 1], &[true, true]).unwrap();
        assert_ne!(h.state.entry_src[0], NO_SOURCE);
    }

    #[test]
    fn bad_vectors_and_layers_are_refused() {
        let mut h = hook(3, 2);
        let e = h.set_seq_steering(0, &BTreeMap::from([(3, vec![0.0; 2])]), Positions::All);
        assert!(matches!(
            e,
            Err(LlamaError::LayerOutOfRange { layer: 3, .. })
        ));
        let e = h.set_steering(&BTreeMap::from([(1, vec![0.0; 3])]), Positions::All);
        assert!(matches!(e, Err(LlamaError::VectorLength { .. })));
        let e = h.set_steering(&BTreeMap::from([(1, vec![f32::NAN, 0.0])]), Positions::All);
        assert!(matches!(e, Err(LlamaError::NonFinite { .. })));
        assert!(h.set_capture(&[5], CaptureRows::All).is_err());
        assert!(h.begin_batch(&[0, 1], &[true]).is_err());
        assert!(SteerHook::new(0, 4, h.state.ggml).is_err());
    }
}
