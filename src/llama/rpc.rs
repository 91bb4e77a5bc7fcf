//! llama.cpp's RPC backend (ggml-rpc): run model layers on other machines.
//!
//! A worker serves its CPU backend over TCP ([`serve_rpc`]); a client
//! registers workers as devices ([`add_rpc_servers`]) before loading a
//! model, and llama.cpp then offloads the blocks to them (`gpu_layers`).
//! Tensors on an RPC device live in non-host buffers, so the steering hook
//! reaches them through `ggml_backend_tensor_get/set`, the same path CUDA
//! and Metal buffers take.
//!
//! ggml-rpc has no authentication or encryption: serve only on loopback or
//! a trusted network.

use super::{LlamaError, Result};
use llama_cpp_sys_2 as sys;
use std::ffi::{c_char, CString};
use std::sync::Mutex;

// ggml-rpc.h of the pinned llama.cpp (built with GGML_RPC=ON, see
// .cargo/config.toml); llama-cpp-sys-2's bindings do not include it.
extern "C" {
    fn ggml_backend_rpc_add_server(endpoint: *const c_char) -> sys::ggml_backend_reg_t;
    fn ggml_backend_rpc_start_server(
        endpoint: *const c_char,
        cache_dir: *const c_char,
        n_threads: usize,
        n_devices: usize,
        devices: *mut sys::ggml_backend_dev_t,
    );
}

/// Checks `HOST:PORT` before it reaches ggml (which aborts on some bad
/// endpoints).
fn check_endpoint(endpoint: &str) -> Result<CString> {
    let bad = |why: &str| LlamaError::Invalid(format!("RPC endpoint {endpoint:?}: {why}"));
    let (host, port) = endpoint
        .rsplit_once(':')
        .ok_or_else(|| bad("expected HOST:PORT"))?;
    if host.is_empty() {
        return Err(bad("the host is empty"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => {}
        _ => return Err(bad("the port must be 1..65535")),
    }
    CString::new(endpoint).map_err(|_| bad("contains a NUL byte"))
}

/// Registers RPC workers (`HOST:PORT` each) as llama.cpp devices, once per
/// endpoint and process. Models loaded afterwards offload their blocks to
/// them (`ModelParams::gpu_layers`, default all). The worker is contacted
/// when a model is loaded, not here.
pub fn add_rpc_servers(endpoints: &[String]) -> Result<()> {
    static ADDED: Mutex<Vec<String>> = Mutex::new(Vec::new());
    super::init_backend();
    let mut added = ADDED.lock().unwrap_or_else(|e| e.into_inner());
    for e in endpoints {
        if added.contains(e) {
            continue;
        }
        let c = check_endpoint(e)?;
        // SAFETY: a NUL-terminated endpoint string that outlives the call;
        // ggml copies it.
        let reg = unsafe { ggml_backend_rpc_add_server(c.as_ptr()) };
        if reg.is_null() {
            return Err(LlamaError::Invalid(format!(
                "llama.cpp could not add the RPC server {e}"
            )));
        }
        // SAFETY: `reg` is a live registry handle from ggml.
        unsafe { sys::ggml_backend_register(reg) };
        added.push(e.clone());
    }
    Ok(())
}

/// Serves this machine's CPU backend to RPC clients at `endpoint`
/// (`HOST:PORT`) with `threads` threads. Never returns unless the server
/// cannot start (llama.cpp then reports it on stderr).
pub fn serve_rpc(endpoint: &str, threads: usize) -> Result<()> {
    let c = check_endpoint(endpoint)?;
    super::init_backend();
    // SAFETY: the CPU device is registered statically in this build.
    let mut cpu = unsafe { sys::ggml_backend_dev_by_type(sys::GGML_BACKEND_DEVICE_TYPE_CPU) };
    if cpu.is_null() {
        return Err(LlamaError::Invalid("no CPU backend device".into()));
    }
    // SAFETY: the endpoint string outlives the call (which serves until
    // the process ends); NULL cache dir = no file cache; one device.
    unsafe {
        ggml_backend_rpc_start_server(c.as_ptr(), std::ptr::null(), threads.max(1), 1, &mut cpu)
    };
    Err(LlamaError::Invalid(format!(
        "the RPC server at {endpoint} stopped (is the port free?)"
    )))
}

#[cfg(test)]
mod tests {
    use super::check_endpoint;

    #[test]
    fn endpoints_are_checked_before_ggml_sees_them() {
        assert!(check_endpoint("127.0.0.1:50052").is_ok());
        assert!(check_endpoint("[::1]:50052").is_ok());
        for bad in [
            "127.0.0.1",
            ":5000",
            "host:0",
            "host:99999",
            "host:x",
            "a\0b:1",
        ] {
            assert!(check_endpoint(bad).is_err(), "{bad:?} accepted");
        }
    }
}
