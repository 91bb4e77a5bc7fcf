//! The host's llama.cpp, found in the running process.
//!
//! This library links no llama.cpp of its own: an application that already
//! runs llama.cpp must not get a second copy of ggml (two copies disagree on
//! backend buffers). The few functions the hook and the identity check need
//! are looked up by name in the process (`dlsym(RTLD_DEFAULT, …)`), which
//! finds them when llama.cpp is a shared library (its usual form) or a
//! static one linked into an executable built with `-rdynamic`.

use expertsteer_core::hook::GgmlFns;
use expertsteer_core::sys;
use std::ffi::{c_void, CStr};
use std::sync::OnceLock;

type IsHostFn = unsafe extern "C" fn(sys::ggml_backend_buffer_t) -> bool;
type TensorGetFn = unsafe extern "C" fn(*const sys::ggml_tensor, *mut c_void, usize, usize);
type TensorSetFn = unsafe extern "C" fn(*mut sys::ggml_tensor, *const c_void, usize, usize);
type ModelIntFn = unsafe extern "C" fn(*const sys::llama_model) -> i32;

/// llama.cpp functions of the host process.
#[derive(Clone, Copy)]
pub(crate) struct Host {
    pub ggml: GgmlFns,
    pub model_n_embd: ModelIntFn,
    pub model_n_layer: ModelIntFn,
}

/// Looks one symbol up in the process's global scope.
fn lookup(name: &CStr) -> Result<*mut c_void, String> {
    // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name only reads.
    let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    if p.is_null() {
        Err(format!(
            "{} is not in this process: load llama.cpp as a shared library \
             (or link it statically with -rdynamic) before calling expertsteer",
            name.to_string_lossy()
        ))
    } else {
        Ok(p)
    }
}

fn resolve() -> Result<Host, String> {
    let is_host = lookup(c"ggml_backend_buffer_is_host")?;
    let get = lookup(c"ggml_backend_tensor_get")?;
    let set = lookup(c"ggml_backend_tensor_set")?;
    let n_embd = lookup(c"llama_model_n_embd")?;
    let n_layer = lookup(c"llama_model_n_layer")?;
    // SAFETY: each pointer is the host's definition of the function named,
    // whose C signature is the one the pinned llama.cpp headers declare
    // (the same bindings this crate is compiled against).
    unsafe {
        Ok(Host {
            ggml: GgmlFns {
                buffer_is_host: std::mem::transmute::<*mut c_void, IsHostFn>(is_host),
                tensor_get: std::mem::transmute::<*mut c_void, TensorGetFn>(get),
                tensor_set: std::mem::transmute::<*mut c_void, TensorSetFn>(set),
            },
            model_n_embd: std::mem::transmute::<*mut c_void, ModelIntFn>(n_embd),
            model_n_layer: std::mem::transmute::<*mut c_void, ModelIntFn>(n_layer),
        })
    }
}

/// The host's functions, looked up once.
pub(crate) fn host() -> Result<Host, String> {
    static HOST: OnceLock<Result<Host, String>> = OnceLock::new();
    HOST.get_or_init(resolve).clone()
}

/// (n_layer, n_embd) of a host model.
///
/// # Safety
/// `model` must be a live `llama_model` of the host's llama.cpp.
pub(crate) unsafe fn model_shape(model: *const sys::llama_model) -> Result<(usize, usize), String> {
    let h = host()?;
    // SAFETY: the caller guarantees a live model; the functions are the host's.
    let (n_layer, n_embd) = unsafe { ((h.model_n_layer)(model), (h.model_n_embd)(model)) };
    if n_layer <= 0 || n_embd <= 0 {
        return Err(format!(
            "the model reports {n_layer} blocks x n_embd {n_embd}"
        ));
    }
    Ok((n_layer as usize, n_embd as usize))
}
