//! The eval callback: reads and adds steering vectors at `l_out-N`.
//!
//! llama.cpp calls the callback twice per graph node: once to *ask* whether
//! we want the tensor (answered from a precomputed per-layer table, with no
//! allocation or formatting), and once with the computed data, which we may
//! read (capture) and change in place (steering) before later nodes use it.

use llama_cpp_sys_2 as sys;
use std::collections::BTreeMap;
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Which token positions receive the steering vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Positions {
    /// Prompt and generated tokens alike (what control vectors do).
    #[default]
    All,
    /// Only decodes made after [`super::Context::set_generation_phase`]`(true)`:
    /// the prompt's own states and logits stay untouched.
    GeneratedOnly,
}

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

/// What the callback does during the next decodes.
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

const WANT_CAPTURE: u8 = 1;
const WANT_ADD: u8 = 2;
const NAME_PREFIX: &[u8] = b"l_out-";

/// State shared with the C callback; one per context, at a stable address.
pub(crate) struct HookState {
    n_layer: usize,
    n_embd: usize,
    want: Vec<u8>,
    add: Vec<Vec<f32>>,
    positions: Positions,
    capture_rows: CaptureRows,
    generation_phase: bool,
    /// Layers the graph named during the last decode (ask phase).
    pub(crate) seen: Vec<bool>,
    /// Rows to keep in non-final layers, and in the final (outputs-only) layer.
    rows_full: Vec<usize>,
    rows_final: Vec<usize>,
    /// Captured rows per layer, appended across decodes until taken.
    pub(crate) captures: Vec<Vec<f32>>,
    scratch: Vec<f32>,
    pub(crate) error: Option<String>,
}

impl HookState {
    pub(crate) fn new(n_layer: usize, n_embd: usize) -> Self {
        HookState {
            n_layer,
            n_embd,
            want: vec![0; n_layer],
            add: vec![Vec::new(); n_layer],
            positions: Positions::All,
            capture_rows: CaptureRows::LastOfEachSeq,
            generation_phase: false,
            seen: vec![false; n_layer],
            rows_full: Vec::new(),
            rows_final: Vec::new(),
            captures: vec![Vec::new(); n_layer],
            scratch: Vec::new(),
            error: None,
        }
    }

    /// Installs a checked plan (checks are the caller's: see Context).
    pub(crate) fn set_plan(&mut self, plan: &HookPlan) {
        self.want.iter_mut().for_each(|w| *w = 0);
        self.add.iter_mut().for_each(|a| a.clear());
        for &l in &plan.capture {
            self.want[l] |= WANT_CAPTURE;
        }
        for (&l, v) in &plan.add {
            self.want[l] |= WANT_ADD;
            self.add[l].extend_from_slice(v);
        }
        self.positions = plan.positions;
        self.capture_rows = plan.capture_rows;
        for c in &mut self.captures {
            c.clear();
        }
    }

    pub(crate) fn set_generation_phase(&mut self, on: bool) {
        self.generation_phase = on;
    }

    /// Layers the plan touches at all.
    pub(crate) fn wanted_layers(&self) -> impl Iterator<Item = usize> + '_ {
        self.want
            .iter()
            .enumerate()
            .filter(|(_, w)| **w != 0)
            .map(|(l, _)| l)
    }

    pub(crate) fn captures_anything(&self) -> bool {
        self.want.iter().any(|w| w & WANT_CAPTURE != 0)
    }

    /// Prepares the row tables for one decode of a batch with these output flags.
    pub(crate) fn prepare_decode(&mut self, outputs: &[bool], first_seqs: &[i32]) {
        self.seen.iter_mut().for_each(|s| *s = false);
        self.error = None;
        self.rows_full.clear();
        self.rows_final.clear();
        if !self.captures_anything() {
            return;
        }
        match self.capture_rows {
            CaptureRows::All => {
                self.rows_full.extend(0..outputs.len());
                self.rows_final
                    .extend(0..outputs.iter().filter(|o| **o).count());
            }
            CaptureRows::LastOfEachSeq => {
                // One pass: an entry is its sequence's last when no later
                // entry shares the sequence (tracked walking backwards).
                let mut later: Vec<i32> = Vec::new();
                let mut is_last = vec![false; first_seqs.len()];
                for (i, seq) in first_seqs.iter().enumerate().rev() {
                    if !later.contains(seq) {
                        later.push(*seq);
                        is_last[i] = true;
                    }
                }
                let mut out_row = 0;
                for (i, &last) in is_last.iter().enumerate() {
                    if last {
                        self.rows_full.push(i);
                        if outputs[i] {
                            self.rows_final.push(out_row);
                        }
                    }
                    out_row += outputs[i] as usize;
                }
                if self.want[self.n_layer - 1] & WANT_CAPTURE != 0
                    && self.rows_final.len() != self.rows_full.len()
                {
                    self.error = Some(format!(
                        "capturing the last layer ({}) needs the last token of every \
                         sequence marked as output",
                        self.n_layer - 1
                    ));
                }
            }
        }
    }

    /// Ask phase: do we want this tensor? Must not allocate.
    fn ask(&mut self, name: &[u8]) -> bool {
        match parse_layer(name) {
            Some(l) if l < self.n_layer => {
                self.seen[l] = true;
                let w = self.want[l];
                let adds = w & WANT_ADD != 0 && self.adding_now();
                w & WANT_CAPTURE != 0 || adds
            }
            _ => false,
        }
    }

    fn adding_now(&self) -> bool {
        match self.positions {
            Positions::All => true,
            Positions::GeneratedOnly => self.generation_phase,
        }
    }

    /// Data phase for a tensor we asked for: add first, then capture, so a
    /// capture shows the state the next block reads (as `l_out` does under
    /// llama.cpp's control vector, which is added before the name is set).
    ///
    /// # Safety
    /// `t` must point to a computed tensor handed to the eval callback.
    unsafe fn on_data(&mut self, t: *mut sys::ggml_tensor) -> Result<(), String> {
        let Some(layer) = parse_layer(tensor_name(t)) else {
            return Ok(());
        };
        if layer >= self.n_layer {
            return Ok(());
        }
        // SAFETY: the caller guarantees `t` is a live tensor.
        let (ty, ne0, rows, nb0, nb1, buffer, data) = unsafe {
            let r = &*t;
            (
                r.type_, r.ne[0], r.ne[1], r.nb[0], r.nb[1], r.buffer, r.data,
            )
        };
        if ty != sys::GGML_TYPE_F32 || ne0 as usize != self.n_embd || nb0 != 4 {
            return Err(format!(
                "l_out-{layer} is not an F32 tensor with {} columns",
                self.n_embd
            ));
        }
        let rows = rows.max(0) as usize;
        let n = self.n_embd;
        if nb1 != 4 * n {
            return Err(format!("l_out-{layer} rows are not contiguous"));
        }
        // SAFETY: `buffer` belongs to the live tensor.
        let host = !buffer.is_null() && unsafe { sys::ggml_backend_buffer_is_host(buffer) };
        let total = rows * n;
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
            unsafe {
                sys::ggml_backend_tensor_get(t, scratch.as_mut_ptr() as *mut c_void, 0, total * 4)
            };
            &mut scratch[..]
        };
        let w = self.want[layer];
        let adding = w & WANT_ADD != 0 && self.adding_now();
        if adding {
            let v = &self.add[layer];
            for row in data.chunks_exact_mut(n) {
                for (x, a) in row.iter_mut().zip(v) {
                    *x += *a;
                }
            }
        }
        if w & WANT_CAPTURE != 0 {
            let table = if layer + 1 == self.n_layer {
                &self.rows_final
            } else {
                &self.rows_full
            };
            for &r in table {
                if r >= rows {
                    return Err(format!(
                        "l_out-{layer} has {rows} rows, capture expected row {r}: \
                         the batch must fit in one ubatch"
                    ));
                }
                self.captures[layer].extend_from_slice(&data[r * n..(r + 1) * n]);
            }
        }
        if adding && !host {
            // SAFETY: writes back `total` floats, the tensor's own size.
            unsafe {
                sys::ggml_backend_tensor_set(t, scratch.as_ptr() as *const c_void, 0, total * 4)
            };
        }
        self.scratch = scratch;
        Ok(())
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
pub(crate) unsafe extern "C" fn eval_callback(
    t: *mut sys::ggml_tensor,
    ask: bool,
    user_data: *mut c_void,
) -> bool {
    if t.is_null() || user_data.is_null() {
        return !ask;
    }
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `user_data` is the context's boxed HookState, alive for the
        // context's lifetime and not otherwise borrowed during llama_decode
        // (which runs this callback on the decoding thread).
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
        let mut s = HookState::new(4, 2);
        s.set_plan(&HookPlan {
            capture: vec![1, 3],
            ..Default::default()
        });
        // seq 0: entries 0,1,2 ; seq 1: entries 3,4 (outputs at 2 and 4)
        let outputs = [false, false, true, false, true];
        s.prepare_decode(&outputs, &[0, 0, 0, 1, 1]);
        assert_eq!(s.rows_full, vec![2, 4]);
        assert_eq!(s.rows_final, vec![0, 1]);
        assert!(s.error.is_none());
        s.prepare_decode(&[false, false, false, false, true], &[0, 0, 0, 1, 1]);
        assert!(s.error.is_some(), "last layer needs output rows");
    }
}
