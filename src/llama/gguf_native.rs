//! Reading control-vector GGUF files with ggml's own GGUF parser: the
//! same code llama.cpp's `--control-vector` loader runs, so a file that
//! passes here is one stock llama.cpp accepts.

use super::{LlamaError, Result};
use llama_cpp_sys_2 as sys;
use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::path::Path;

/// Layer (from tensor `direction.N`) → vector, as ggml parses the file.
/// Checks what llama.cpp's loader checks: F32, one dimension, same length.
pub fn read_control_vector_native(path: &Path) -> Result<(usize, BTreeMap<usize, Vec<f32>>)> {
    let shown = path.display().to_string();
    let c_path = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| LlamaError::Invalid(format!("path {shown} contains a NUL byte")))?;
    let mut ggml_ctx: *mut sys::ggml_context = std::ptr::null_mut();
    let params = sys::gguf_init_params {
        no_alloc: false,
        ctx: &mut ggml_ctx,
    };
    // SAFETY: `c_path` is NUL-terminated; `params.ctx` points to a local
    // that ggml fills with a context owning the tensor data.
    let gguf = unsafe { sys::gguf_init_from_file(c_path.as_ptr(), params) };
    if gguf.is_null() {
        return Err(LlamaError::BadModelFile {
            path: shown,
            reason: "ggml's GGUF parser rejected it".into(),
        });
    }
    let result = (|| {
        let mut out = BTreeMap::new();
        let mut n_embd = 0usize;
        // SAFETY: `gguf` is a valid context until gguf_free below.
        let n = unsafe { sys::gguf_get_n_tensors(gguf) };
        for i in 0..n {
            // SAFETY: `i` is a valid tensor index; the name is owned by `gguf`.
            let name = unsafe { CStr::from_ptr(sys::gguf_get_tensor_name(gguf, i)) };
            let name_s = name.to_string_lossy();
            let Some(layer) = name_s
                .strip_prefix("direction.")
                .and_then(|s| s.parse::<usize>().ok())
            else {
                continue;
            };
            // SAFETY: `ggml_ctx` was created by gguf_init_from_file and holds
            // every tensor of the file with its data (no_alloc = false).
            let t = unsafe { sys::ggml_get_tensor(ggml_ctx, name.as_ptr()) };
            if t.is_null() {
                return Err(format!("tensor {name_s} has no data"));
            }
            // SAFETY: `t` is a live tensor of `ggml_ctx`.
            let (ty, ne, n_el) = unsafe { ((*t).type_, (*t).ne, sys::ggml_nelements(t)) };
            if ty != sys::GGML_TYPE_F32 || ne[1] != 1 || ne[2] != 1 || ne[3] != 1 {
                return Err(format!("{name_s} is not a 1-D F32 tensor"));
            }
            let len = n_el as usize;
            if n_embd == 0 {
                n_embd = len;
            } else if n_embd != len {
                return Err(format!(
                    "{name_s} has {len} values, earlier directions {n_embd}"
                ));
            }
            // SAFETY: F32 tensor with `len` contiguous floats owned by `ggml_ctx`.
            let data = unsafe { std::slice::from_raw_parts(sys::ggml_get_data_f32(t), len) };
            out.insert(layer, data.to_vec());
        }
        Ok((n_embd, out))
    })();
    // SAFETY: both contexts were created above and are freed once.
    unsafe {
        sys::gguf_free(gguf);
        if !ggml_ctx.is_null() {
            sys::ggml_free(ggml_ctx);
        }
    }
    result.map_err(|reason| LlamaError::BadModelFile {
        path: shown,
        reason,
    })
}
