//! One-time llama.cpp backend initialisation and log routing.

use llama_cpp_sys_2 as sys;
use std::ffi::{c_char, c_void, CStr};
use std::sync::Once;

static INIT: Once = Once::new();

/// Initialises llama.cpp's backends once per process; cheap to call again.
///
/// llama.cpp's own log is silenced unless `EXPERTSTEER_LOG=1` is set
/// (errors are always shown).
pub fn init_backend() {
    INIT.call_once(|| {
        let verbose = std::env::var_os("EXPERTSTEER_LOG").is_some_and(|v| v != "0");
        let user_data = if verbose { 1usize } else { 0usize };
        // SAFETY: `log_sink` is a valid `extern "C"` function for the whole
        // process; the user-data pointer is a plain integer flag that is never
        // dereferenced. `llama_backend_init` has no preconditions and runs once.
        unsafe {
            sys::llama_log_set(Some(log_sink), user_data as *mut c_void);
            sys::llama_backend_init();
        }
    });
}

extern "C" fn log_sink(level: sys::ggml_log_level, text: *const c_char, user_data: *mut c_void) {
    let verbose = user_data as usize == 1;
    if !verbose && level != sys::GGML_LOG_LEVEL_ERROR {
        return;
    }
    if text.is_null() {
        return;
    }
    // SAFETY: llama.cpp passes a NUL-terminated string valid for this call.
    let msg = unsafe { CStr::from_ptr(text) };
    eprint!("{}", msg.to_string_lossy());
}
