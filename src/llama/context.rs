//! An inference context: decode, logits, sequence memory, steering.

use super::{check_vector, Batch, HookPlan, LlamaError, Model, Positions, Result};
use super::{GgmlFns, SteerHook};
use llama_cpp_sys_2 as sys;
use std::collections::BTreeMap;

/// How to build a context. Sizes are in tokens.
#[derive(Debug, Clone)]
pub struct ContextParams {
    /// Context length shared by all sequences (unified KV cache).
    pub n_ctx: u32,
    /// Most tokens one `decode` call may submit.
    pub n_batch: u32,
    /// Most tokens computed in one graph run. Changing it alone changes
    /// logits slightly, so reproducibility needs it fixed.
    pub n_ubatch: u32,
    /// Most distinct sequences alive at once.
    pub n_seq_max: u32,
    /// CPU threads for generation and for batches.
    pub threads: i32,
    /// Install the eval callback (needed for capture and callback steering).
    /// A hook that asks for nothing leaves logits bit-identical, but costs a
    /// name check per graph node, so plain inference can leave it off.
    pub hook: bool,
}

impl Default for ContextParams {
    fn default() -> Self {
        ContextParams {
            n_ctx: 2048,
            n_batch: 512,
            n_ubatch: 512,
            n_seq_max: 1,
            threads: default_threads(),
            hook: true,
        }
    }
}

/// Threads that use the machine without oversubscribing it: one core
/// fewer than it has (at least 1, at most 8).
///
/// llama.cpp's CPU threads spin at a barrier after every graph operation
/// (hundreds per token), so when one of them shares its core with any other
/// busy process, all of them wait for it: on 2 cores with one kept busy,
/// 40 tokens took 1.2 s with 1 thread and up to 58 s with 2 (BENCHMARKS.md,
/// "Threads under contention"). Leaving a core free keeps generation
/// steady for the price of a little speed on an idle machine.
pub fn default_threads() -> i32 {
    std::thread::available_parallelism()
        .map(|n| n.get().saturating_sub(1).clamp(1, 8) as i32)
        .unwrap_or(1)
}

/// A llama.cpp context over a borrowed [`Model`].
pub struct Context<'m> {
    raw: *mut sys::llama_context,
    model: &'m Model,
    /// The eval-callback hook (its boxed state is llama.cpp's
    /// `cb_eval_user_data`); dropped after the context in Drop.
    hook: Option<SteerHook>,
    params: ContextParams,
    last_outputs: Vec<bool>,
    /// CPU worker threads kept for the context's life ([`Context::keep_threads`])
    /// and their poll level; freed after the context in Drop.
    pool: Option<(*mut sys::ggml_threadpool, u32)>,
}

/// A CPU threadpool of `threads` workers that poll for new work at level
/// `poll` (0-100) before they sleep.
fn new_pool(threads: i32, poll: u32) -> Result<*mut sys::ggml_threadpool> {
    // SAFETY: fills and returns plain data.
    let mut p = unsafe { sys::ggml_threadpool_params_default(threads) };
    p.poll = poll;
    // SAFETY: `p` is a valid parameter block for the call's duration.
    let pool = unsafe { sys::ggml_threadpool_new(&mut p) };
    if pool.is_null() {
        return Err(LlamaError::ContextFailed(format!(
            "could not start {threads} CPU threads"
        )));
    }
    Ok(pool)
}

impl<'m> Context<'m> {
    /// Creates a context for `model`.
    pub fn new(model: &'m Model, params: ContextParams) -> Result<Self> {
        if params.n_ctx == 0 || params.n_batch == 0 || params.n_ubatch == 0 {
            return Err(LlamaError::Invalid(
                "n_ctx, n_batch and n_ubatch must be positive".into(),
            ));
        }
        if params.threads < 1 {
            return Err(LlamaError::Invalid("threads must be at least 1".into()));
        }
        super::context_size::check_fits(model, params.n_ctx, params.n_seq_max)?;
        let mut hook = if params.hook {
            Some(model.new_hook()?)
        } else {
            None
        };
        // SAFETY: default params are plain data.
        let mut cp = unsafe { sys::llama_context_default_params() };
        cp.n_ctx = params.n_ctx;
        cp.n_batch = params.n_batch;
        cp.n_ubatch = params.n_ubatch.min(params.n_batch);
        cp.n_seq_max = params.n_seq_max.max(1);
        cp.n_threads = params.threads;
        cp.n_threads_batch = params.threads;
        // One stream keeps ubatches in batch order, which capture relies on.
        cp.kv_unified = true;
        cp.no_perf = true;
        if let Some(h) = hook.as_mut() {
            // SAFETY: the hook is owned by the Context, dropped only after
            // llama_free (Drop), used by this one context, and its methods
            // take `&mut self` on the Context, so never run during a decode.
            unsafe { h.install(&mut cp) };
        }
        // SAFETY: the model outlives the context (lifetime 'm); `hook` (if
        // any) lives until after llama_free in Drop.
        let raw = unsafe { sys::llama_init_from_model(model.raw(), cp) };
        if raw.is_null() {
            return Err(LlamaError::ContextFailed(format!(
                "n_ctx {} n_batch {} n_seq_max {} (out of memory or unsupported)",
                params.n_ctx, params.n_batch, params.n_seq_max
            )));
        }
        Ok(Context {
            raw,
            model,
            hook,
            params,
            last_outputs: Vec::new(),
            pool: None,
        })
    }

    /// The model this context runs.
    pub fn model(&self) -> &'m Model {
        self.model
    }

    /// The parameters the context was built with.
    pub fn params(&self) -> &ContextParams {
        &self.params
    }

    /// Changes the CPU thread count (and restarts kept threads to match).
    pub fn set_threads(&mut self, threads: i32) -> Result<()> {
        let t = threads.max(1);
        self.params.threads = t;
        // SAFETY: `raw` is a live context.
        unsafe { sys::llama_set_n_threads(self.raw, t, t) }
        match self.pool {
            Some((_, poll)) => self.keep_threads(poll),
            None => Ok(()),
        }
    }

    /// Keeps the CPU worker threads alive between decodes, as llama-server
    /// does; by default ggml starts and joins them for every graph. `poll`
    /// (0-100, llama-server's `--poll`) is how long an idle worker keeps
    /// checking for the next graph before it sleeps: 0 sleeps at once, 50
    /// is llama-server's default. Polling answers the next decode sooner,
    /// and takes CPU from anything else on the machine meanwhile.
    pub fn keep_threads(&mut self, poll: u32) -> Result<()> {
        let poll = poll.min(100);
        let pool = new_pool(self.params.threads, poll)?;
        // SAFETY: `raw` and `pool` are live; llama.cpp keeps the pointer
        // until detached or freed, and the pool is freed only after that
        // (below, or in Drop after llama_free).
        unsafe { sys::llama_attach_threadpool(self.raw, pool, pool) };
        if let Some((old, _)) = self.pool.replace((pool, poll)) {
            // SAFETY: the context now uses the new pool; the old one is
            // referenced by nothing and freed once.
            unsafe { sys::ggml_threadpool_free(old) }
        }
        Ok(())
    }

    /// The context's eval-callback hook: per-sequence steering, capture,
    /// generation phase. Fails for a context made with `hook: false`.
    pub fn hook_mut(&mut self) -> Result<&mut SteerHook> {
        self.hook.as_mut().ok_or_else(|| {
            LlamaError::Invalid(
                "this context was created without the eval hook (ContextParams::hook)".into(),
            )
        })
    }

    /// Replaces the default steering (every sequence without its own) and
    /// the capture set, from the next decode on. Validates layers, vector
    /// lengths and finiteness first; on error nothing changes.
    pub fn set_hook_plan(&mut self, plan: &HookPlan) -> Result<()> {
        let n_layer = self.model.n_layer();
        if let Some(&layer) = plan.capture.iter().find(|&&l| l >= n_layer) {
            return Err(LlamaError::LayerOutOfRange { layer, n_layer });
        }
        let h = self.hook_mut()?;
        h.set_steering(&plan.add, plan.positions)?;
        h.set_capture(&plan.capture, plan.capture_rows)
    }

    /// Removes every capture and added vector, per-sequence ones included,
    /// from the hook (if installed).
    pub fn clear_hook_plan(&mut self) {
        if let Ok(h) = self.hook_mut() {
            h.clear_steering();
            // Cannot fail: no layers.
            let _ = h.set_capture(&[], Default::default());
        }
    }

    /// Gives sequence `seq` its own steering through the callback (already
    /// scaled vectors by layer), overriding the default for its rows. This
    /// is what lets one batch carry differently steered sequences.
    pub fn set_seq_steering(
        &mut self,
        seq: i32,
        vectors: &BTreeMap<usize, Vec<f32>>,
        positions: Positions,
    ) -> Result<()> {
        self.hook_mut()?.set_seq_steering(seq, vectors, positions)
    }

    /// Removes directions (by layer, any norm) from the layer outputs of
    /// sequence `seq` (`None`: the default steering), before any vector is
    /// added: see [`SteerHook::set_ablation`]. An empty map removes it.
    pub fn set_seq_ablation(
        &mut self,
        seq: Option<i32>,
        directions: &BTreeMap<usize, Vec<Vec<f32>>>,
    ) -> Result<()> {
        self.hook_mut()?.set_ablation(seq, directions)
    }

    /// Sequence `seq` goes back to the default steering.
    pub fn clear_seq_steering(&mut self, seq: i32) {
        if let Ok(h) = self.hook_mut() {
            h.clear_seq_steering(seq);
        }
    }

    /// Marks later decodes of every sequence as generated tokens (for
    /// `Positions::GeneratedOnly`).
    pub fn set_generation_phase(&mut self, on: bool) {
        if let Ok(h) = self.hook_mut() {
            h.set_generation_phase(None, on);
        }
    }

    /// Marks later decodes of sequence `seq` as generated tokens or not.
    pub fn set_seq_generation_phase(&mut self, seq: i32, on: bool) {
        if let Ok(h) = self.hook_mut() {
            h.set_generation_phase(Some(seq), on);
        }
    }

    /// Captured rows per layer since the plan was set (`n_embd` floats per
    /// row, in decode and batch order); clears them.
    pub fn take_captures(&mut self) -> Vec<Vec<f32>> {
        match self.hook_mut() {
            Ok(h) => h.take_captures(),
            Err(_) => Vec::new(),
        }
    }

    /// Runs the model on `batch`. Steering and capture happen here.
    pub fn decode(&mut self, batch: &Batch) -> Result<()> {
        if batch.is_empty() {
            return Err(LlamaError::Decode("empty batch".into()));
        }
        if batch.len() > self.params.n_batch as usize {
            return Err(LlamaError::Decode(format!(
                "batch of {} tokens exceeds n_batch {}",
                batch.len(),
                self.params.n_batch
            )));
        }
        if let Some(h) = self.hook.as_mut() {
            h.begin_batch(batch.first_seqs(), batch.outputs())?;
        }
        // SAFETY: `raw` is live; the batch's arrays are valid for its
        // `n_tokens` entries; the hook state is not borrowed during the call.
        let rc = unsafe { sys::llama_decode(self.raw, batch.raw()) };
        self.last_outputs.clear();
        self.last_outputs.extend_from_slice(batch.outputs());
        match rc {
            0 => {}
            1 => {
                return Err(LlamaError::Decode(format!(
                    "no room in the context (n_ctx {}); use a larger context or fewer tokens",
                    self.params.n_ctx
                )))
            }
            2 => return Err(LlamaError::Decode("aborted".into())),
            -1 => {
                return Err(LlamaError::Decode(
                    "invalid batch (positions or sequence ids)".into(),
                ))
            }
            c => return Err(LlamaError::Decode(format!("llama_decode returned {c}"))),
        }
        if let Some(h) = self.hook.as_mut() {
            if let Some(e) = h.take_error() {
                return Err(LlamaError::Hook(e));
            }
            if let Some(layer) = h.unseen_layer() {
                let arch = self.model.arch().to_string();
                return Err(LlamaError::NoLayerOutput { layer, arch });
            }
        }
        Ok(())
    }

    /// Logits (n_vocab floats) of batch entry `i` of the last decode; the
    /// entry must have been marked as output. Encoder models have none.
    pub fn logits(&self, i: usize) -> Result<&[f32]> {
        if !self.model.is_causal() {
            return Err(LlamaError::Invalid(format!(
                "{} is not a causal language model (architecture {}): it has no next-token logits",
                self.model.path().display(),
                self.model.arch()
            )));
        }
        if !self.last_outputs.get(i).copied().unwrap_or(false) {
            return Err(LlamaError::Invalid(format!(
                "batch entry {i} was not marked as output in the last decode"
            )));
        }
        // SAFETY: entry `i` produced logits in the last decode; llama.cpp
        // returns NULL for an invalid index, which we check.
        let p = unsafe { sys::llama_get_logits_ith(self.raw, i as i32) };
        if p.is_null() {
            return Err(LlamaError::Invalid(format!("no logits for entry {i}")));
        }
        // SAFETY: the row holds n_vocab floats and stays valid until the next
        // decode, which needs `&mut self` and so ends this borrow first.
        Ok(unsafe { std::slice::from_raw_parts(p, self.model.n_vocab()) })
    }

    fn memory(&self) -> sys::llama_memory_t {
        // SAFETY: `raw` is live; the memory handle belongs to it.
        unsafe { sys::llama_get_memory(self.raw) }
    }

    /// Forgets every sequence (the KV cache is emptied).
    pub fn clear_memory(&mut self) {
        // SAFETY: valid memory handle of a live context.
        unsafe { sys::llama_memory_clear(self.memory(), true) }
    }

    /// Removes positions `[p0, p1)` of `seq` (`None` = open end).
    pub fn seq_remove(&mut self, seq: i32, p0: Option<usize>, p1: Option<usize>) -> bool {
        let p0 = p0.map_or(-1, |p| p as i32);
        let p1 = p1.map_or(-1, |p| p as i32);
        // SAFETY: valid memory handle; any ids/positions are accepted.
        unsafe { sys::llama_memory_seq_rm(self.memory(), seq, p0, p1) }
    }

    /// Copies all cached positions of `src` into `dst` (a cheap prefix share).
    pub fn seq_copy(&mut self, src: i32, dst: i32) {
        // SAFETY: valid memory handle; -1/-1 means the whole sequence.
        unsafe { sys::llama_memory_seq_cp(self.memory(), src, dst, -1, -1) }
    }

    /// Sets llama.cpp's control vector: `vectors[K]` (n_embd floats, K ≥ 1)
    /// is added to `l_out-K` at every position. Replaces any earlier one.
    pub fn set_control_vector(&mut self, vectors: &BTreeMap<usize, Vec<f32>>) -> Result<()> {
        let (n_layer, n_embd) = (self.model.n_layer(), self.model.n_embd());
        if vectors.is_empty() {
            self.clear_control_vector();
            return Ok(());
        }
        if !self.model.supports_layer_steering()? {
            let layer = *vectors.keys().next().unwrap_or(&1);
            return Err(LlamaError::NoLayerOutput {
                layer,
                arch: self.model.arch().to_string(),
            });
        }
        let mut data = vec![0f32; n_embd * (n_layer - 1)];
        for (&l, v) in vectors {
            if l == 0 {
                return Err(LlamaError::CvecBlockZero);
            }
            if l >= n_layer {
                return Err(LlamaError::LayerOutOfRange { layer: l, n_layer });
            }
            check_vector(l, v, n_embd)?;
            data[(l - 1) * n_embd..l * n_embd].copy_from_slice(v);
        }
        let first = *vectors.keys().next().unwrap_or(&1) as i32;
        let last = *vectors.keys().next_back().unwrap_or(&1) as i32;
        // SAFETY: `data` holds n_embd × (n_layer-1) floats and `len` says so;
        // llama.cpp copies it before returning.
        let rc = unsafe {
            sys::llama_set_adapter_cvec(
                self.raw,
                data.as_ptr(),
                data.len(),
                n_embd as i32,
                first,
                last,
            )
        };
        if rc != 0 {
            return Err(LlamaError::CvecRejected(rc));
        }
        Ok(())
    }

    /// Removes the control vector.
    pub fn clear_control_vector(&mut self) {
        // SAFETY: NULL data with range -1..-1 is llama.cpp's documented clear.
        unsafe {
            sys::llama_set_adapter_cvec(
                self.raw,
                std::ptr::null(),
                0,
                self.model.n_embd() as i32,
                -1,
                -1,
            );
        }
    }

    pub(crate) fn raw(&self) -> *mut sys::llama_context {
        self.raw
    }
}

/// The ggml functions linked into this crate (the copy of llama.cpp that
/// [`Model`] and [`Context`] use), for [`SteerHook::new`].
pub fn linked_ggml_fns() -> GgmlFns {
    GgmlFns {
        buffer_is_host: sys::ggml_backend_buffer_is_host,
        tensor_get: sys::ggml_backend_tensor_get,
        tensor_set: sys::ggml_backend_tensor_set,
    }
}

impl Model {
    /// A hook shaped for this model, using the ggml linked into this
    /// crate, ready to [`SteerHook::install`] into a context's parameters.
    pub fn new_hook(&self) -> Result<SteerHook> {
        SteerHook::new(self.n_layer(), self.n_embd(), linked_ggml_fns())
    }
}

impl Model {
    /// Whether llama.cpp's graph for this model names `l_out-N` for every
    /// block, which both steering paths need (control vectors are applied
    /// at the same point). Probed once by running one token with a capture
    /// of all layers on a small context; the answer is remembered.
    pub fn supports_layer_steering(&self) -> Result<bool> {
        if let Some(&known) = self.layer_steering.get() {
            return Ok(known);
        }
        let mut ctx = Context::new(
            self,
            ContextParams {
                n_ctx: 64,
                n_batch: 8,
                n_ubatch: 8,
                n_seq_max: 1,
                threads: 1,
                hook: true,
            },
        )?;
        ctx.set_hook_plan(&HookPlan {
            capture: (0..self.n_layer()).collect(),
            capture_rows: super::CaptureRows::All,
            ..Default::default()
        })?;
        let tokens = self.tokenize("a", true, false)?;
        let mut batch = Batch::new(tokens.len().max(1), 1);
        batch.push_sequence(&tokens, 0, 0, true)?;
        let answer = match ctx.decode(&batch) {
            Ok(()) => true,
            Err(LlamaError::NoLayerOutput { .. }) => false,
            Err(e) => return Err(e),
        };
        Ok(*self.layer_steering.get_or_init(|| answer))
    }
}

impl Drop for Context<'_> {
    fn drop(&mut self) {
        // SAFETY: `raw` is freed once, before the hook (a field, dropped
        // after this body), so the callback never sees a dangling pointer.
        unsafe { sys::llama_free(self.raw) }
        if let Some((pool, _)) = self.pool.take() {
            // SAFETY: the context that used the pool is gone; freed once.
            unsafe { sys::ggml_threadpool_free(pool) }
        }
    }
}
