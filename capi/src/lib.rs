//! # expertsteer's C ABI
//!
//! Steer any llama.cpp context from C: open a `.steer` file checked against
//! the application's own `llama_model`, then either hand llama.cpp a
//! control vector (`es_steer_control_vector` + `llama_set_adapter_cvec`,
//! one steering per context) or install expertsteer's eval-callback hook
//! into the `llama_context_params` before creating the context (any block,
//! generated-only positions, a different steering per sequence id in one
//! batch).
//!
//! Conventions for every function:
//! - Return an `ES_*` status (0 = `ES_OK`, negative = error); the message
//!   of the last error on the calling thread is `es_last_error()`.
//! - No panic crosses this boundary; NULL pointers to required arguments
//!   and objects of the wrong kind are refused with `ES_ERR_ARG`.
//! - Layers are 0-based blocks: layer N is llama.cpp's tensor `l_out-N`.
//!   Strengths are relative to each layer's typical norm (the steering file
//!   stores r_j; the added vector is strength · r_j · u_j).
//! - Objects are not thread-safe: use one from one thread at a time, and
//!   never call a hook's functions while `llama_decode` runs on its context.
//!
//! This library links no llama.cpp of its own (see `host`): it uses the
//! application's, so a process holds one copy of ggml.

// The C boundary: raw pointers from C are checked and turned into
// references here, and nowhere else outside the main crate's llama module.
#![allow(non_camel_case_types)]

mod host;

use expertsteer_core::hook::SteerHook;
use expertsteer_core::steerfile::{FileError, SteerFile};
use expertsteer_core::steering::{first_overflowing, Positions, MAX_VECTOR_NORM};
use expertsteer_core::sys;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

/// Success.
pub const ES_OK: i32 = 0;
/// A required pointer was NULL, or an object of the wrong kind was passed.
pub const ES_ERR_ARG: i32 = -1;
/// A file could not be read.
pub const ES_ERR_IO: i32 = -2;
/// The file is not a valid steering file (magic, version, checksum, content).
pub const ES_ERR_FORMAT: i32 = -3;
/// The steering file was made for a model of another shape (n_layer, n_embd).
pub const ES_ERR_MODEL_MISMATCH: i32 = -4;
/// A value is out of range: strength, layer, sequence id, vector length or content.
pub const ES_ERR_INVALID: i32 = -5;
/// llama.cpp's functions were not found in this process.
pub const ES_ERR_HOST: i32 = -6;
/// The eval callback failed during the last decode (see the message).
pub const ES_ERR_HOOK: i32 = -7;
/// An internal error (a bug in expertsteer): the call did nothing.
pub const ES_ERR_INTERNAL: i32 = -8;

/// `seq_id` value meaning "the default steering of every sequence that has
/// none of its own".
pub const ES_ALL_SEQS: i32 = -1;
/// Steer prompt and generated tokens alike.
pub const ES_POSITIONS_ALL: i32 = 0;
/// Steer only tokens decoded after `es_hook_set_generating(…, true)`.
pub const ES_POSITIONS_GENERATED: i32 = 1;

const STEER_MAGIC: u64 = 0x5354_4545_5246_494c; // "STEERFIL"
const HOOK_MAGIC: u64 = 0x4553_484f_4f4b_2121; // "ESHOOK!!"

/// An opened, validated steering file.
pub struct es_steer {
    magic: u64,
    file: SteerFile,
}

/// An eval-callback hook for one llama.cpp context.
pub struct es_hook {
    magic: u64,
    hook: SteerHook,
}

/// An error code with its message.
struct Fail(i32, String);

impl Fail {
    fn arg(what: &str) -> Fail {
        Fail(ES_ERR_ARG, format!("{what} is NULL or not a valid object"))
    }
}

fn from_file(e: FileError) -> Fail {
    let code = match &e {
        FileError::Io { .. } => ES_ERR_IO,
        FileError::Invalid(_) => ES_ERR_FORMAT,
    };
    Fail(code, e.to_string())
}

fn from_llama(e: expertsteer_core::llama_error::LlamaError) -> Fail {
    use expertsteer_core::llama_error::LlamaError as L;
    let code = match e {
        L::Hook(_) | L::NoLayerOutput { .. } => ES_ERR_HOOK,
        _ => ES_ERR_INVALID,
    };
    Fail(code, e.to_string())
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(msg: &str) {
    let c = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

/// Runs one entry point: catches panics, records the error message.
fn guard(f: impl FnOnce() -> Result<(), Fail>) -> i32 {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => ES_OK,
        Ok(Err(Fail(code, msg))) => {
            set_last_error(&msg);
            code
        }
        Err(_) => {
            set_last_error("internal error in expertsteer (a panic was caught)");
            ES_ERR_INTERNAL
        }
    }
}

/// Gives the caller a new object: `*out` owns it until the matching free.
///
/// # Safety
/// `out` is non-NULL and writable.
unsafe fn hand_out<T>(out: *mut *mut T, value: T) {
    // SAFETY: the caller guarantees `out`.
    unsafe { *out = Box::into_raw(Box::new(value)) };
}

/// # Safety
/// `p` is NULL or a pointer this library returned and not yet freed.
unsafe fn steer_ref<'a>(p: *const es_steer) -> Result<&'a es_steer, Fail> {
    // SAFETY: non-NULL pointers are ours (caller's contract); the magic
    // catches a hook or stale object passed by mistake.
    match unsafe { p.as_ref() } {
        Some(s) if s.magic == STEER_MAGIC => Ok(s),
        _ => Err(Fail::arg("steer")),
    }
}

/// # Safety
/// `p` is NULL or a pointer this library returned and not yet freed.
unsafe fn hook_mut<'a>(p: *mut es_hook) -> Result<&'a mut es_hook, Fail> {
    // SAFETY: as in steer_ref.
    match unsafe { p.as_mut() } {
        Some(h) if h.magic == HOOK_MAGIC => Ok(h),
        _ => Err(Fail::arg("hook")),
    }
}

fn positions(p: i32) -> Result<Positions, Fail> {
    match p {
        ES_POSITIONS_ALL => Ok(Positions::All),
        ES_POSITIONS_GENERATED => Ok(Positions::GeneratedOnly),
        _ => Err(Fail(
            ES_ERR_INVALID,
            format!("positions {p}: use ES_POSITIONS_ALL or ES_POSITIONS_GENERATED"),
        )),
    }
}

/// Checks a (sequence id, positions) pair of a steering call.
fn target(seq_id: i32, positions: i32) -> Result<Positions, Fail> {
    if seq_id < ES_ALL_SEQS {
        return Err(Fail(
            ES_ERR_INVALID,
            format!("seq_id {seq_id}: use >= 0 or ES_ALL_SEQS"),
        ));
    }
    self::positions(positions)
}

fn check_strength(strength: f32) -> Result<(), Fail> {
    if !strength.is_finite() {
        return Err(Fail(
            ES_ERR_INVALID,
            format!("strength {strength} is not a finite number"),
        ));
    }
    Ok(())
}

/// The message of the last failed call on this thread ("" if none). The
/// string is owned by the library and valid until the next failing call on
/// the same thread. Threads: each thread has its own last error.
#[no_mangle]
pub extern "C" fn es_last_error() -> *const c_char {
    catch_unwind(|| LAST_ERROR.with(|e| e.borrow().as_ptr())).unwrap_or(c"internal error".as_ptr())
}

/// Opens and validates the steering file at `path` (UTF-8, NUL-terminated)
/// and checks it was made for `model`'s shape (n_layer, n_embd). On
/// success `*out` owns the file; free it with `es_steer_free`.
///
/// Threads: safe from any thread; the handle it returns is immutable.
///
/// # Safety
/// `path` is a NUL-terminated string; `model` is a live `llama_model`;
/// `out` points to writable memory for one pointer.
#[no_mangle]
pub unsafe extern "C" fn es_steer_open(
    path: *const c_char,
    model: *const sys::llama_model,
    out: *mut *mut es_steer,
) -> i32 {
    guard(|| {
        if path.is_null() {
            return Err(Fail::arg("path"));
        }
        if model.is_null() {
            return Err(Fail::arg("model"));
        }
        if out.is_null() {
            return Err(Fail::arg("out"));
        }
        // SAFETY: checked non-NULL; NUL-terminated by contract.
        let path = unsafe { CStr::from_ptr(path) };
        let path = path
            .to_str()
            .map_err(|_| Fail(ES_ERR_INVALID, "path is not UTF-8".into()))?;
        let file = SteerFile::read(Path::new(path)).map_err(from_file)?;
        // SAFETY: a live model by contract.
        let (n_layer, n_embd) =
            unsafe { host::model_shape(model) }.map_err(|m| Fail(ES_ERR_HOST, m))?;
        file.check_shape(n_layer, n_embd, "the given llama_model")
            .map_err(|e| Fail(ES_ERR_MODEL_MISMATCH, e.to_string()))?;
        // SAFETY: `out` is non-NULL and writable by contract.
        unsafe {
            hand_out(
                out,
                es_steer {
                    magic: STEER_MAGIC,
                    file,
                },
            )
        };
        Ok(())
    })
}

/// Frees a steering file from `es_steer_open` (NULL is a no-op).
///
/// Threads: not while another thread uses the handle.
///
/// # Safety
/// `steer` is NULL or from `es_steer_open`, not freed before, and no hook
/// call with it is running.
#[no_mangle]
pub unsafe extern "C" fn es_steer_free(steer: *mut es_steer) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: from es_steer_open, freed once (contract); the magic is
        // cleared so a later use of the stale pointer is likelier caught.
        if let Ok(s) = unsafe { steer_ref(steer) } {
            let _ = s;
            let mut b = unsafe { Box::from_raw(steer) };
            b.magic = 0;
        }
    }));
}

/// The strength the file recommends (relative to each layer's norm), or
/// NaN for an invalid handle.
///
/// Threads: a handle may be read by several threads at once (here and in
/// `es_hook_set_steer`), but not while it is being freed.
///
/// # Safety
/// `steer` is NULL or a live handle from `es_steer_open`.
#[no_mangle]
pub unsafe extern "C" fn es_steer_default_strength(steer: *const es_steer) -> f32 {
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: contract above.
        unsafe { steer_ref(steer) }.map_or(f32::NAN, |s| s.file.default_strength)
    }))
    .unwrap_or(f32::NAN)
}

/// Floats a control-vector buffer for this file needs: n_embd × (n_layer − 1),
/// the `len` that `llama_set_adapter_cvec` expects (0 for an invalid handle).
///
/// Threads: a handle may be read by several threads at once (here and in
/// `es_hook_set_steer`), but not while it is being freed.
///
/// # Safety
/// `steer` is NULL or a live handle from `es_steer_open`.
#[no_mangle]
pub unsafe extern "C" fn es_steer_control_vector_len(steer: *const es_steer) -> usize {
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: contract above.
        unsafe { steer_ref(steer) }
            .map_or(0, |s| s.file.target.n_embd * (s.file.target.n_layer - 1))
    }))
    .unwrap_or(0)
}

/// Fills `buf` (`len` floats, see `es_steer_control_vector_len`) with the
/// file's vectors at `strength` for `llama_set_adapter_cvec(ctx, buf, len,
/// n_embd, *il_start, *il_end)`: block K's vector in slot K−1, zeros
/// elsewhere. `strength` is relative to each layer's norm; NaN means the
/// file's default. Fails for a file that steers block 0 (control vectors
/// cannot reach it: use the hook).
///
/// Threads: a handle may be read by several threads at once (here and in
/// `es_hook_set_steer`), but not while it is being freed.
///
/// # Safety
/// `buf` points to `len` writable floats; `il_start`/`il_end` to one
/// writable int32 each; `steer` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn es_steer_control_vector(
    steer: *const es_steer,
    strength: f32,
    buf: *mut f32,
    len: usize,
    il_start: *mut i32,
    il_end: *mut i32,
) -> i32 {
    guard(|| {
        // SAFETY: contract above.
        let s = unsafe { steer_ref(steer) }?;
        if buf.is_null() || il_start.is_null() || il_end.is_null() {
            return Err(Fail::arg("buf, il_start or il_end"));
        }
        let strength = if strength.is_nan() {
            None
        } else {
            Some(strength)
        };
        if let Some(c) = strength {
            check_strength(c)?;
        }
        let (n_layer, n_embd) = (s.file.target.n_layer, s.file.target.n_embd);
        let need = n_embd * (n_layer - 1);
        if len != need {
            return Err(Fail(
                ES_ERR_INVALID,
                format!("buffer has {len} floats, needs n_embd x (n_layer - 1) = {need}"),
            ));
        }
        let cv = s
            .file
            .to_control_vector(strength)
            .map_err(|e| Fail(ES_ERR_INVALID, e.to_string()))?;
        let mut data = vec![0f32; need];
        for (&l, v) in &cv.directions {
            if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                return Err(Fail(
                    ES_ERR_INVALID,
                    format!("strength {strength:?} makes layer {l} non-finite at {i}"),
                ));
            }
            data[(l - 1) * n_embd..l * n_embd].copy_from_slice(v);
        }
        let first = *cv.directions.keys().next().unwrap_or(&1) as i32;
        let last = *cv.directions.keys().next_back().unwrap_or(&1) as i32;
        // SAFETY: `buf` holds `len` == need writable floats (contract);
        // il_start / il_end are writable.
        unsafe {
            std::slice::from_raw_parts_mut(buf, len).copy_from_slice(&data);
            *il_start = first;
            *il_end = last;
        }
        Ok(())
    })
}

/// Creates a hook shaped for `model`. `*out` owns it: free it with
/// `es_hook_free` after `llama_free` of the context it was installed in.
///
/// Threads: safe from any thread.
///
/// # Safety
/// `model` is a live `llama_model`; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn es_hook_new(
    model: *const sys::llama_model,
    out: *mut *mut es_hook,
) -> i32 {
    guard(|| {
        if model.is_null() {
            return Err(Fail::arg("model"));
        }
        if out.is_null() {
            return Err(Fail::arg("out"));
        }
        let h = host::host().map_err(|m| Fail(ES_ERR_HOST, m))?;
        // SAFETY: a live model by contract.
        let (n_layer, n_embd) =
            unsafe { host::model_shape(model) }.map_err(|m| Fail(ES_ERR_HOST, m))?;
        let hook = SteerHook::new(n_layer, n_embd, h.ggml).map_err(from_llama)?;
        // SAFETY: `out` is non-NULL and writable by contract.
        unsafe {
            hand_out(
                out,
                es_hook {
                    magic: HOOK_MAGIC,
                    hook,
                },
            )
        };
        Ok(())
    })
}

/// Frees a hook (NULL is a no-op). Call it only after `llama_free` of the
/// context it was installed in.
///
/// Threads: call it on the thread that runs `llama_decode` on the hook's
/// context, or otherwise never while a decode runs.
///
/// # Safety
/// `hook` is NULL or from `es_hook_new`, not freed before.
#[no_mangle]
pub unsafe extern "C" fn es_hook_free(hook: *mut es_hook) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: from es_hook_new, freed once (contract).
        if unsafe { hook_mut(hook) }.is_ok() {
            let mut b = unsafe { Box::from_raw(hook) };
            b.magic = 0;
        }
    }));
}

/// Registers the hook as `params`' eval callback (`cb_eval`,
/// `cb_eval_user_data`) and sets `params->kv_unified = true` (batches are
/// then split in order, which per-sequence steering relies on). Call it
/// before `llama_init_from_model(model, *params)`.
///
/// Threads: call it on the thread that runs `llama_decode` on the hook's
/// context, or otherwise never while a decode runs.
///
/// # Safety
/// `params` is writable; the hook outlives the context created from
/// `params`, which is the only context using it.
#[no_mangle]
pub unsafe extern "C" fn es_hook_install(
    hook: *mut es_hook,
    params: *mut sys::llama_context_params,
) -> i32 {
    guard(|| {
        // SAFETY: contract above.
        let h = unsafe { hook_mut(hook) }?;
        // SAFETY: checked non-NULL below; writable by contract.
        let p = unsafe { params.as_mut() }.ok_or_else(|| Fail::arg("params"))?;
        // SAFETY: lifetime and single-context use are the caller's contract.
        unsafe { h.hook.install(p) };
        Ok(())
    })
}

/// Steers sequence `seq_id` (or, with `ES_ALL_SEQS`, every sequence without
/// its own steering) with `steer` at `strength` (relative to each layer's
/// norm; NaN = the file's default) on `positions` (`ES_POSITIONS_*`).
/// `steer` NULL removes that steering (a sequence then falls back to the
/// default). Takes effect from the next decode; the file's vectors are
/// copied, so `steer` may be freed afterwards.
///
/// Threads: call it on the thread that runs `llama_decode` on the hook's
/// context, or otherwise never while a decode runs.
///
/// # Safety
/// `hook` and `steer` (if not NULL) are live handles.
#[no_mangle]
pub unsafe extern "C" fn es_hook_set_steer(
    hook: *mut es_hook,
    seq_id: i32,
    steer: *const es_steer,
    strength: f32,
    positions: i32,
) -> i32 {
    guard(|| {
        // SAFETY: contract above.
        let h = unsafe { hook_mut(hook) }?;
        let pos = target(seq_id, positions)?;
        let vectors = if steer.is_null() {
            BTreeMap::new()
        } else {
            // SAFETY: contract above.
            let s = unsafe { steer_ref(steer) }?;
            s.file
                .check_shape(h.hook.n_layer(), h.hook.n_embd(), "the hook's model")
                .map_err(|e| Fail(ES_ERR_MODEL_MISMATCH, e.to_string()))?;
            let c = if strength.is_nan() {
                None
            } else {
                Some(strength)
            };
            if let Some(c) = c {
                check_strength(c)?;
            }
            let v = s.file.steering(c, pos).vectors;
            if let Some((layer, norm)) = first_overflowing(&v) {
                return Err(Fail(
                    ES_ERR_INVALID,
                    format!(
                        "strength {strength} makes the vector for layer {layer} of norm {norm:.3e}: \
                         llama.cpp's f32 arithmetic overflows above {MAX_VECTOR_NORM:.1e}"
                    ),
                ));
            }
            v
        };
        set_vectors(h, seq_id, &vectors, pos)
    })
}

fn set_vectors(
    h: &mut es_hook,
    seq: i32,
    v: &BTreeMap<usize, Vec<f32>>,
    p: Positions,
) -> Result<(), Fail> {
    if seq == ES_ALL_SEQS {
        h.hook.set_steering(v, p).map_err(from_llama)
    } else if v.is_empty() {
        h.hook.clear_seq_steering(seq);
        Ok(())
    } else {
        h.hook.set_seq_steering(seq, v, p).map_err(from_llama)
    }
}

/// Steers `seq_id` (or `ES_ALL_SEQS`) with raw vectors, replacing its
/// earlier steering: `vectors` holds `n_layers` rows of n_embd floats, row k
/// added as-is (no scaling) to `l_out-layers[k]`. `n_layers` 0 removes it.
///
/// Threads: call it on the thread that runs `llama_decode` on the hook's
/// context, or otherwise never while a decode runs.
///
/// # Safety
/// `layers` points to `n_layers` ints and `vectors` to `n_layers × n_embd`
/// floats (either may be NULL when `n_layers` is 0).
#[no_mangle]
pub unsafe extern "C" fn es_hook_set_vectors(
    hook: *mut es_hook,
    seq_id: i32,
    layers: *const i32,
    vectors: *const f32,
    n_layers: usize,
    positions: i32,
) -> i32 {
    guard(|| {
        // SAFETY: contract above.
        let h = unsafe { hook_mut(hook) }?;
        let pos = target(seq_id, positions)?;
        let n_embd = h.hook.n_embd();
        let mut map = BTreeMap::new();
        if n_layers > 0 {
            if layers.is_null() || vectors.is_null() {
                return Err(Fail::arg("layers or vectors"));
            }
            if n_layers > h.hook.n_layer() {
                return Err(Fail(
                    ES_ERR_INVALID,
                    format!("{n_layers} layers, the model has {}", h.hook.n_layer()),
                ));
            }
            // SAFETY: sizes are the caller's contract.
            let (ls, vs) = unsafe {
                (
                    std::slice::from_raw_parts(layers, n_layers),
                    std::slice::from_raw_parts(vectors, n_layers * n_embd),
                )
            };
            for (k, &l) in ls.iter().enumerate() {
                let l = usize::try_from(l)
                    .map_err(|_| Fail(ES_ERR_INVALID, format!("layer {l} is negative")))?;
                map.insert(l, vs[k * n_embd..(k + 1) * n_embd].to_vec());
            }
        }
        set_vectors(h, seq_id, &map, pos)
    })
}

/// Marks later decodes of `seq_id` (`ES_ALL_SEQS`: of every sequence) as
/// generated tokens (`generating` true) or prompt tokens, for
/// `ES_POSITIONS_GENERATED` steering.
///
/// Threads: call it on the thread that runs `llama_decode` on the hook's
/// context, or otherwise never while a decode runs.
///
/// # Safety
/// `hook` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn es_hook_set_generating(
    hook: *mut es_hook,
    seq_id: i32,
    generating: bool,
) -> i32 {
    guard(|| {
        // SAFETY: contract above.
        let h = unsafe { hook_mut(hook) }?;
        let seq = if seq_id == ES_ALL_SEQS {
            None
        } else {
            Some(seq_id)
        };
        h.hook.set_generation_phase(seq, generating);
        Ok(())
    })
}

/// Tells the hook which sequence each entry of the next `llama_decode`'s
/// batch belongs to (its first `seq_id`; sequence 0 when `batch->seq_id` is
/// NULL) and which entries are outputs (`batch->logits`; only the last
/// when NULL). Required before every decode once any sequence has its own
/// steering; harmless otherwise.
///
/// Threads: call it on the thread that runs `llama_decode` on the hook's
/// context, or otherwise never while a decode runs.
///
/// # Safety
/// `batch` is a valid `llama_batch` whose arrays hold `n_tokens` entries.
#[no_mangle]
pub unsafe extern "C" fn es_hook_begin_batch(
    hook: *mut es_hook,
    batch: *const sys::llama_batch,
) -> i32 {
    guard(|| {
        // SAFETY: contract above.
        let h = unsafe { hook_mut(hook) }?;
        // SAFETY: checked non-NULL; valid by contract.
        let b = unsafe { batch.as_ref() }.ok_or_else(|| Fail::arg("batch"))?;
        let n = usize::try_from(b.n_tokens)
            .map_err(|_| Fail(ES_ERR_INVALID, "n_tokens is negative".into()))?;
        let mut seqs = Vec::with_capacity(n);
        let mut outputs = Vec::with_capacity(n);
        for i in 0..n {
            // SAFETY: every array of a valid batch has n_tokens entries;
            // seq_id[i] points to n_seq_id[i] ids.
            let seq = unsafe {
                if b.seq_id.is_null() || b.n_seq_id.is_null() || *b.n_seq_id.add(i) < 1 {
                    0
                } else {
                    **b.seq_id.add(i)
                }
            };
            // SAFETY: as above.
            let out = if b.logits.is_null() {
                i + 1 == n
            } else {
                unsafe { *b.logits.add(i) != 0 }
            };
            seqs.push(seq);
            outputs.push(out);
        }
        h.hook.begin_batch(&seqs, &outputs).map_err(from_llama)
    })
}

/// Reports a failure of the eval callback during the last decode (the
/// callback cannot fail `llama_decode` itself). Call it after every
/// `llama_decode`: `ES_OK`, or `ES_ERR_HOOK` with the message.
///
/// Threads: call it on the thread that runs `llama_decode` on the hook's
/// context, or otherwise never while a decode runs.
///
/// # Safety
/// `hook` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn es_hook_check(hook: *mut es_hook) -> i32 {
    guard(|| {
        // SAFETY: contract above.
        let h = unsafe { hook_mut(hook) }?;
        if let Some(e) = h.hook.take_error() {
            return Err(Fail(ES_ERR_HOOK, e));
        }
        if let Some(l) = h.hook.unseen_layer() {
            return Err(Fail(ES_ERR_HOOK, format!("the model's graph never named l_out-{l}: this architecture cannot be steered there")));
        }
        Ok(())
    })
}
