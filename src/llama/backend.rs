//! One-time llama.cpp backend initialisation and log routing.

use llama_cpp_sys_2 as sys;
use std::ffi::{c_char, c_void, CStr};
use std::io::Write;
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

/// llama.cpp's log callback. It must never panic (a panic cannot cross
/// `extern "C"`: the process would abort), so the write ignores errors: a
/// closed or broken stderr (EPIPE) must not kill a run over a log line,
/// which `eprint!` would. `catch_unwind` guards whatever is left.
extern "C" fn log_sink(level: sys::ggml_log_level, text: *const c_char, user_data: *mut c_void) {
    let _ = std::panic::catch_unwind(|| {
        let verbose = user_data as usize == 1;
        if !verbose && level != sys::GGML_LOG_LEVEL_ERROR {
            return;
        }
        if text.is_null() {
            return;
        }
        // SAFETY: llama.cpp passes a NUL-terminated string valid for this call.
        let msg = unsafe { CStr::from_ptr(text) };
        let _ = std::io::stderr().lock().write_all(msg.to_bytes());
    });
}
