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
//! - No panic crosses this boundary; NULL pointers to required arguments,
//!   handles already freed and objects of the wrong kind are refused with
//!   `ES_ERR_ARG` (every live handle is registered; see `handles`), and a
//!   second free does nothing.
//! - Layers are 0-based blocks: layer N is llama.cpp's tensor `l_out-N`.
//!   Strengths are relative to each layer's typical norm (the steering file
//!   stores r_j; the added vector is strength · r_j · u_j).
//! - Objects are not thread-safe: use one from one thread at a time, and
//!   never call a hook's functions while `llama_decode` runs on its context.
//!
//! This library links no llama.cpp of its own (see `host`): it uses the
//! application's, so a process holds one copy of ggml. The application's
//! functions are found in the process's global scope, or named explicitly
//! (`es_host_from_library`, `es_host_new`), and checked for layout first.

// The C boundary: raw pointers from C are checked and turned into
// references here, and nowhere else outside the main crate's llama module.
#![allow(non_camel_case_types)]

mod handles;
mod host;
mod info;

use expertsteer_core::hook::SteerHook;
use expertsteer_core::steerfile::{FileError, SteerFile};
use expertsteer_core::steering::{first_overflowing, Positions, MAX_VECTOR_NORM};
use expertsteer_core::sys;
use handles::Kind;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ffi::{c_char, c_void, CStr, CString};
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

/// An opened, validated steering file.
pub struct es_steer {
    file: SteerFile,
    /// The file's description (`es_steer_info_json`), made once.
    info: CString,
}

/// An eval-callback hook for one llama.cpp context.
pub struct es_hook {
    hook: SteerHook,
}

/// A host llama.cpp: its functions, checked for layout (`es_host_new`,
/// `es_host_from_library`).
pub struct es_host {
    host: host::Host,
}

/// llama.cpp's functions as an application hands them over
/// (`es_host_new`). Every field is required; the last four serve the
/// layout check only.
#[repr(C)]
pub struct es_host_fns {
    /// `ggml_backend_buffer_is_host`
    pub ggml_backend_buffer_is_host:
        Option<unsafe extern "C" fn(sys::ggml_backend_buffer_t) -> bool>,
    /// `ggml_backend_tensor_get`
    pub ggml_backend_tensor_get:
        Option<unsafe extern "C" fn(*const sys::ggml_tensor, *mut c_void, usize, usize)>,
    /// `ggml_backend_tensor_set`
    pub ggml_backend_tensor_set:
        Option<unsafe extern "C" fn(*mut sys::ggml_tensor, *const c_void, usize, usize)>,
    /// `llama_model_n_embd`
    pub llama_model_n_embd: Option<unsafe extern "C" fn(*const sys::llama_model) -> i32>,
    /// `llama_model_n_layer`
    pub llama_model_n_layer: Option<unsafe extern "C" fn(*const sys::llama_model) -> i32>,
    /// `ggml_init`
    pub ggml_init: Option<unsafe extern "C" fn(sys::ggml_init_params) -> *mut sys::ggml_context>,
    /// `ggml_new_tensor_2d`
    pub ggml_new_tensor_2d: Option<
        unsafe extern "C" fn(
            *mut sys::ggml_context,
            sys::ggml_type,
            i64,
            i64,
        ) -> *mut sys::ggml_tensor,
    >,
    /// `ggml_set_name`
    pub ggml_set_name:
        Option<unsafe extern "C" fn(*mut sys::ggml_tensor, *const c_char) -> *mut sys::ggml_tensor>,
    /// `ggml_free`
    pub ggml_free: Option<unsafe extern "C" fn(*mut sys::ggml_context)>,
}

/// An error code with its message.
struct Fail(i32, String);

impl Fail {
    fn arg(what: &str) -> Fail {
        Fail(ES_ERR_ARG, format!("{what} is NULL"))
    }

    fn stale(what: &str) -> Fail {
        Fail(
            ES_ERR_ARG,
            format!("{what} is not a live handle of its kind (freed already, or never returned by expertsteer)"),
        )
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
unsafe fn hand_out<T>(out: *mut *mut T, value: T, kind: Kind) {
    let p = Box::into_raw(Box::new(value));
    handles::register(p as usize, kind);
    // SAFETY: the caller guarantees `out`.
    unsafe { *out = p };
}

/// Frees a handle of `kind` once: a NULL, stale or foreign pointer does
/// nothing.
///
/// # Safety
/// A live handle of `kind` was made by `hand_out::<T>` with that kind.
unsafe fn take_back<T>(p: *mut T, kind: Kind) {
    if !p.is_null() && handles::unregister(p as usize, kind) {
        // SAFETY: registered by hand_out as a Box<T> of this kind, and
        // unregistered just now, so it is dropped exactly once.
        drop(unsafe { Box::from_raw(p) });
    }
}

/// # Safety
/// A live steer handle is not freed while the reference is used
/// (the caller's threading contract).
unsafe fn steer_ref<'a>(p: *const es_steer) -> Result<&'a es_steer, Fail> {
    if p.is_null() {
        return Err(Fail::arg("steer"));
    }
    if !handles::is_live(p as usize, Kind::Steer) {
        return Err(Fail::stale("steer"));
    }
    // SAFETY: a live es_steer handed out by this library.
    Ok(unsafe { &*p })
}

/// # Safety
/// As `steer_ref`.
unsafe fn hook_mut<'a>(p: *mut es_hook) -> Result<&'a mut es_hook, Fail> {
    if p.is_null() {
        return Err(Fail::arg("hook"));
    }
    if !handles::is_live(p as usize, Kind::Hook) {
        return Err(Fail::stale("hook"));
    }
    // SAFETY: a live es_hook handed out by this library; one thread at a
    // time uses it (the caller's contract).
    Ok(unsafe { &mut *p })
}

/// The host a call names, or the process's own when `p` is NULL.
///
/// # Safety
/// As `steer_ref`.
unsafe fn host_or_process(p: *const es_host) -> Result<host::Host, Fail> {
    if p.is_null() {
        return host::process_host().map_err(|m| Fail(ES_ERR_HOST, m));
    }
    if !handles::is_live(p as usize, Kind::Host) {
        return Err(Fail::stale("host"));
    }
    // SAFETY: a live es_host handed out by this library.
    Ok(unsafe { (*p).host })
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

/// Reads a NUL-terminated UTF-8 path argument.
///
/// # Safety
/// `path` is NULL or NUL-terminated.
unsafe fn path_arg<'a>(path: *const c_char) -> Result<&'a Path, Fail> {
    if path.is_null() {
        return Err(Fail::arg("path"));
    }
    // SAFETY: checked non-NULL; NUL-terminated by contract.
    let path = unsafe { CStr::from_ptr(path) };
    path.to_str()
        .map(Path::new)
        .map_err(|_| Fail(ES_ERR_INVALID, "path is not UTF-8".into()))
}

/// Checks `file` against a host model's shape.
///
/// # Safety
/// `model` is a live `llama_model` of `host`'s llama.cpp.
unsafe fn check_model(
    file: &SteerFile,
    host: &host::Host,
    model: *const sys::llama_model,
) -> Result<(), Fail> {
    if model.is_null() {
        return Err(Fail::arg("model"));
    }
    // SAFETY: a live model of this host (contract).
    let (n_layer, n_embd) =
        unsafe { host::model_shape(host, model) }.map_err(|m| Fail(ES_ERR_HOST, m))?;
    file.check_shape(n_layer, n_embd, "the given llama_model")
        .map_err(|e| Fail(ES_ERR_MODEL_MISMATCH, e.to_string()))
}

/// Reads and validates a steering file, not yet checked against a model.
fn read_steer(path: &Path) -> Result<es_steer, Fail> {
    let file = SteerFile::read(path).map_err(from_file)?;
    let info = CString::new(info::describe(&file)).map_err(|_| {
        Fail(
            ES_ERR_INTERNAL,
            "the file's description holds a NUL byte".into(),
        )
    })?;
    Ok(es_steer { file, info })
}

/// Opens and validates the steering file at `path` (UTF-8, NUL-terminated)
/// and checks it was made for `model`'s shape (n_layer, n_embd), using the
/// llama.cpp found in the process (see `es_host_from_library` when it is
/// not global). On success `*out` owns the file; free it with
/// `es_steer_free`.
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
        // SAFETY: NUL-terminated by contract.
        let path = unsafe { path_arg(path) }?;
        if model.is_null() {
            return Err(Fail::arg("model"));
        }
        if out.is_null() {
            return Err(Fail::arg("out"));
        }
        let steer = read_steer(path)?;
        let h = host::process_host().map_err(|m| Fail(ES_ERR_HOST, m))?;
        // SAFETY: a live model by contract.
        unsafe { check_model(&steer.file, &h, model) }?;
        // SAFETY: `out` is non-NULL and writable by contract.
        unsafe { hand_out(out, steer, Kind::Steer) };
        Ok(())
    })
}

/// Opens and validates the steering file at `path` without a model (no
/// llama.cpp needed): for reading its contents (`es_steer_info_json`,
/// `es_steer_directions`) or a control vector. Check it against the model
/// you steer with `es_steer_check_model`; `es_hook_set_steer` checks it
/// against the hook's shape itself. Free it with `es_steer_free`.
///
/// Threads: safe from any thread.
///
/// # Safety
/// `path` is a NUL-terminated string; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn es_steer_read(path: *const c_char, out: *mut *mut es_steer) -> i32 {
    guard(|| {
        // SAFETY: NUL-terminated by contract.
        let path = unsafe { path_arg(path) }?;
        if out.is_null() {
            return Err(Fail::arg("out"));
        }
        let steer = read_steer(path)?;
        // SAFETY: `out` is non-NULL and writable by contract.
        unsafe { hand_out(out, steer, Kind::Steer) };
        Ok(())
    })
}

/// Checks that `steer` was made for `model`'s shape: `ES_OK` or
/// `ES_ERR_MODEL_MISMATCH`. `host` NULL means the process's llama.cpp.
///
/// Threads: safe from any thread.
///
/// # Safety
/// `steer` and `host` (if not NULL) are live handles; `model` is a live
/// `llama_model` of that host.
#[no_mangle]
pub unsafe extern "C" fn es_steer_check_model(
    steer: *const es_steer,
    host: *const es_host,
    model: *const sys::llama_model,
) -> i32 {
    guard(|| {
        // SAFETY: contract above.
        let s = unsafe { steer_ref(steer) }?;
        // SAFETY: contract above.
        let h = unsafe { host_or_process(host) }?;
        // SAFETY: contract above.
        unsafe { check_model(&s.file, &h, model) }
    })
}

/// The file's description as JSON (method, models, default strength,
/// parameters, and per layer its index, expert layer, norm r_j, probe AUC
/// and MI), owned by the handle and valid until `es_steer_free`; NULL for
/// an invalid handle.
///
/// Threads: a handle may be read by several threads at once.
///
/// # Safety
/// `steer` is NULL or a handle from this library.
#[no_mangle]
pub unsafe extern "C" fn es_steer_info_json(steer: *const es_steer) -> *const c_char {
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: contract above.
        unsafe { steer_ref(steer) }.map_or(std::ptr::null(), |s| s.info.as_ptr())
    }))
    .unwrap_or(std::ptr::null())
}

/// Copies the file's unit directions into `buf`: one row of n_embd floats
/// per layer, in the order of the description's `layers`; `len` must be
/// layers × n_embd.
///
/// Threads: a handle may be read by several threads at once.
///
/// # Safety
/// `steer` is a handle from this library; `buf` holds `len` writable floats.
#[no_mangle]
pub unsafe extern "C" fn es_steer_directions(
    steer: *const es_steer,
    buf: *mut f32,
    len: usize,
) -> i32 {
    guard(|| {
        // SAFETY: contract above.
        let s = unsafe { steer_ref(steer) }?;
        if buf.is_null() {
            return Err(Fail::arg("buf"));
        }
        let n = s.file.target.n_embd;
        let need = s.file.layers.len() * n;
        if len != need {
            return Err(Fail(
                ES_ERR_INVALID,
                format!("buffer has {len} floats, needs layers x n_embd = {need}"),
            ));
        }
        // SAFETY: `buf` holds `len` writable floats (contract).
        let out = unsafe { std::slice::from_raw_parts_mut(buf, len) };
        for (row, l) in out.chunks_exact_mut(n).zip(&s.file.layers) {
            row.copy_from_slice(&l.direction);
        }
        Ok(())
    })
}

/// Frees a steering file from `es_steer_open` or `es_steer_read`. NULL, a
/// handle freed before, or a pointer that is not a steering file does
/// nothing.
///
/// Threads: not while another thread uses the handle.
///
/// # Safety
/// No other call with `steer` is running.
#[no_mangle]
pub unsafe extern "C" fn es_steer_free(steer: *mut es_steer) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: only a live steer handle is freed, once.
        unsafe { take_back(steer, Kind::Steer) }
    }));
}

/// Makes a host from a `dlopen` handle of the library that holds llama.cpp
/// (e.g. `libllama.so` loaded with `RTLD_LOCAL`, as Python's ctypes does):
/// the functions expertsteer calls are looked up there and in its
/// dependencies, then checked for layout (see `es_host_new`). Use it with
/// `es_hook_new_host` and `es_steer_check_model`. Free it with
/// `es_host_free` after the hooks made with it.
///
/// Threads: safe from any thread.
///
/// # Safety
/// `handle` is a live `dlopen` handle; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn es_host_from_library(handle: *mut c_void, out: *mut *mut es_host) -> i32 {
    guard(|| {
        if handle.is_null() {
            return Err(Fail::arg("handle"));
        }
        if out.is_null() {
            return Err(Fail::arg("out"));
        }
        // SAFETY: a live dlopen handle (contract).
        let host = unsafe { host::Host::from_handle(handle) }.map_err(|m| Fail(ES_ERR_HOST, m))?;
        // SAFETY: `out` is non-NULL and writable by contract.
        unsafe { hand_out(out, es_host { host }, Kind::Host) };
        Ok(())
    })
}

/// Makes a host from function pointers the application fills (every field
/// required). Before use, the host's ggml is asked for a named F32 tensor
/// that is read back through the `struct ggml_tensor` expertsteer was built
/// for; a llama.cpp whose layout differs is refused with `ES_ERR_HOST`.
///
/// Threads: safe from any thread.
///
/// # Safety
/// `fns` points to a table whose pointers are the named functions of one
/// llama.cpp build; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn es_host_new(fns: *const es_host_fns, out: *mut *mut es_host) -> i32 {
    guard(|| {
        // SAFETY: checked non-NULL; readable by contract.
        let t = unsafe { fns.as_ref() }.ok_or_else(|| Fail::arg("fns"))?;
        if out.is_null() {
            return Err(Fail::arg("out"));
        }
        // SAFETY: the table's functions are the host's (contract).
        let host = unsafe { host::Host::from_table(t) }.map_err(|m| Fail(ES_ERR_HOST, m))?;
        // SAFETY: `out` is non-NULL and writable by contract.
        unsafe { hand_out(out, es_host { host }, Kind::Host) };
        Ok(())
    })
}

/// Frees a host (NULL, stale or foreign pointers do nothing). Hooks made
/// with it keep working: they copied its functions.
///
/// # Safety
/// No other call with `host` is running.
#[no_mangle]
pub unsafe extern "C" fn es_host_free(host: *mut es_host) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: only a live host handle is freed, once.
        unsafe { take_back(host, Kind::Host) }
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

/// Creates a hook shaped for `model`, using the llama.cpp found in the
/// process (`es_hook_new_host` names another). `*out` owns it: free it with
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
    // SAFETY: the same contract.
    unsafe { es_hook_new_host(std::ptr::null(), model, out) }
}

/// Creates a hook shaped for `model` that calls `host`'s llama.cpp (NULL:
/// the process's, as `es_hook_new`). Free it with `es_hook_free` after
/// `llama_free` of the context it was installed in.
///
/// Threads: safe from any thread.
///
/// # Safety
/// `host` is NULL or a live handle; `model` is a live `llama_model` of
/// that host; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn es_hook_new_host(
    host: *const es_host,
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
        // SAFETY: contract above.
        let h = unsafe { host_or_process(host) }?;
        // SAFETY: a live model by contract.
        let (n_layer, n_embd) =
            unsafe { host::model_shape(&h, model) }.map_err(|m| Fail(ES_ERR_HOST, m))?;
        let hook = SteerHook::new(n_layer, n_embd, h.ggml).map_err(from_llama)?;
        // SAFETY: `out` is non-NULL and writable by contract.
        unsafe { hand_out(out, es_hook { hook }, Kind::Hook) };
        Ok(())
    })
}

/// Frees a hook (NULL, a hook freed before, or a pointer that is not a
/// hook does nothing). Call it only after `llama_free` of the context it
/// was installed in.
///
/// Threads: call it on the thread that runs `llama_decode` on the hook's
/// context, or otherwise never while a decode runs.
///
/// # Safety
/// No other call with `hook` is running.
#[no_mangle]
pub unsafe extern "C" fn es_hook_free(hook: *mut es_hook) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: only a live hook handle is freed, once.
        unsafe { take_back(hook, Kind::Hook) }
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

/// Removes the directions of `steer` from its layers' outputs for `seq_id`
/// (`ES_ALL_SEQS`: every sequence without steering of its own): at each of
/// the file's layers, h ← h − (h·u)u, before any vector is added and on
/// the positions of that sequence's steering. Several directions at one
/// layer are made orthonormal first. `steer` NULL removes the ablation.
/// For a sequence without steering of its own, this gives it its own
/// (nothing added) in place of the default. Takes effect from the next
/// decode.
///
/// Threads: call it on the thread that runs `llama_decode` on the hook's
/// context, or otherwise never while a decode runs.
///
/// # Safety
/// `hook` and `steer` (if not NULL) are live handles.
#[no_mangle]
pub unsafe extern "C" fn es_hook_set_ablation(
    hook: *mut es_hook,
    seq_id: i32,
    steer: *const es_steer,
) -> i32 {
    guard(|| {
        // SAFETY: contract above.
        let h = unsafe { hook_mut(hook) }?;
        target(seq_id, ES_POSITIONS_ALL)?;
        let mut dirs: BTreeMap<usize, Vec<Vec<f32>>> = BTreeMap::new();
        if !steer.is_null() {
            // SAFETY: contract above.
            let s = unsafe { steer_ref(steer) }?;
            s.file
                .check_shape(h.hook.n_layer(), h.hook.n_embd(), "the hook's model")
                .map_err(|e| Fail(ES_ERR_MODEL_MISMATCH, e.to_string()))?;
            for l in &s.file.layers {
                dirs.entry(l.target_layer)
                    .or_default()
                    .push(l.direction.clone());
            }
        }
        let seq = (seq_id != ES_ALL_SEQS).then_some(seq_id);
        h.hook.set_ablation(seq, &dirs).map_err(from_llama)
    })
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
