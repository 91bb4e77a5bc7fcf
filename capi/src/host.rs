//! The host's llama.cpp: the few functions expertsteer calls, taken from
//! the application's own copy and checked for layout before first use.
//!
//! This library links no llama.cpp of its own: an application that already
//! runs llama.cpp must not get a second copy of ggml (two copies disagree on
//! backend buffers). A host comes from one of three places:
//! - the process's global scope (`dlsym(RTLD_DEFAULT, …)`): llama.cpp as a
//!   shared library loaded globally, or a static one linked with `-rdynamic`;
//!   a success is remembered, a failure is not (the application may load
//!   llama.cpp later);
//! - a `dlopen` handle of the library that holds llama.cpp (what a
//!   `ctypes.CDLL` loaded without `RTLD_GLOBAL` gives, e.g.
//!   llama-cpp-python's `libllama.so`): the names are looked up there and
//!   in its dependencies;
//! - a table of function pointers the application fills itself.
//!
//! Whatever the source, [`Host::check_layout`] runs once per host: it asks
//! the host's ggml for a named 7 × 3 F32 tensor and reads it back through
//! the `struct ggml_tensor` this library was compiled against. A host whose
//! tensor layout differs (another llama.cpp release moved or resized the
//! fields the hook reads: type, ne, nb, buffer, data, name) is refused with
//! a message, instead of the hook reading garbage at decode time.

use crate::es_host_fns;
use expertsteer_core::hook::GgmlFns;
use expertsteer_core::sys;
use std::ffi::{c_char, c_void, CStr};
use std::sync::OnceLock;

type IsHostFn = unsafe extern "C" fn(sys::ggml_backend_buffer_t) -> bool;
type TensorGetFn = unsafe extern "C" fn(*const sys::ggml_tensor, *mut c_void, usize, usize);
type TensorSetFn = unsafe extern "C" fn(*mut sys::ggml_tensor, *const c_void, usize, usize);
type ModelIntFn = unsafe extern "C" fn(*const sys::llama_model) -> i32;
type InitFn = unsafe extern "C" fn(sys::ggml_init_params) -> *mut sys::ggml_context;
type NewTensor2dFn =
    unsafe extern "C" fn(*mut sys::ggml_context, sys::ggml_type, i64, i64) -> *mut sys::ggml_tensor;
type SetNameFn =
    unsafe extern "C" fn(*mut sys::ggml_tensor, *const c_char) -> *mut sys::ggml_tensor;
type FreeFn = unsafe extern "C" fn(*mut sys::ggml_context);

/// Checked llama.cpp functions of a host.
#[derive(Clone, Copy)]
pub(crate) struct Host {
    pub ggml: GgmlFns,
    pub model_n_embd: ModelIntFn,
    pub model_n_layer: ModelIntFn,
    init: InitFn,
    new_tensor_2d: NewTensor2dFn,
    set_name: SetNameFn,
    free: FreeFn,
}

/// The function names, in `es_host_fns` order.
const NAMES: [&CStr; 9] = [
    c"ggml_backend_buffer_is_host",
    c"ggml_backend_tensor_get",
    c"ggml_backend_tensor_set",
    c"llama_model_n_embd",
    c"llama_model_n_layer",
    c"ggml_init",
    c"ggml_new_tensor_2d",
    c"ggml_set_name",
    c"ggml_free",
];

/// Looks every name up with `dlsym(handle, …)`; the error lists the
/// missing ones.
///
/// # Safety
/// `handle` is `RTLD_DEFAULT` or a live handle from `dlopen`.
unsafe fn lookup_all(handle: *mut c_void, missing_hint: &str) -> Result<[*mut c_void; 9], String> {
    let mut out = [std::ptr::null_mut(); 9];
    let mut missing = Vec::new();
    for (slot, name) in out.iter_mut().zip(NAMES) {
        // SAFETY: a valid handle (caller) and a NUL-terminated name; dlsym
        // only reads.
        *slot = unsafe { libc::dlsym(handle, name.as_ptr()) };
        if slot.is_null() {
            missing.push(name.to_string_lossy().into_owned());
        }
    }
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(format!("{} not found {missing_hint}", missing.join(", ")))
    }
}

impl Host {
    /// The host from a full table of looked-up pointers, layout-checked.
    ///
    /// # Safety
    /// Each pointer is the host's definition of the function `NAMES` gives
    /// for its slot, with the C signature the pinned headers declare.
    unsafe fn from_pointers(p: [*mut c_void; 9]) -> Result<Host, String> {
        // SAFETY: the caller guarantees what each pointer is.
        let h = unsafe {
            Host {
                ggml: GgmlFns {
                    buffer_is_host: std::mem::transmute::<*mut c_void, IsHostFn>(p[0]),
                    tensor_get: std::mem::transmute::<*mut c_void, TensorGetFn>(p[1]),
                    tensor_set: std::mem::transmute::<*mut c_void, TensorSetFn>(p[2]),
                },
                model_n_embd: std::mem::transmute::<*mut c_void, ModelIntFn>(p[3]),
                model_n_layer: std::mem::transmute::<*mut c_void, ModelIntFn>(p[4]),
                init: std::mem::transmute::<*mut c_void, InitFn>(p[5]),
                new_tensor_2d: std::mem::transmute::<*mut c_void, NewTensor2dFn>(p[6]),
                set_name: std::mem::transmute::<*mut c_void, SetNameFn>(p[7]),
                free: std::mem::transmute::<*mut c_void, FreeFn>(p[8]),
            }
        };
        h.check_layout()?;
        Ok(h)
    }

    /// The host from a `dlopen` handle (the library and its dependencies).
    ///
    /// # Safety
    /// `handle` is a live handle from `dlopen` of a llama.cpp build whose
    /// functions have the pinned headers' signatures.
    pub unsafe fn from_handle(handle: *mut c_void) -> Result<Host, String> {
        // SAFETY: the caller guarantees the handle.
        let p = unsafe {
            lookup_all(
                handle,
                "in the library behind that handle (is it llama.cpp's libllama?)",
            )
        }?;
        // SAFETY: dlsym returned the named functions.
        unsafe { Host::from_pointers(p) }
    }

    /// The host from a table the application filled.
    ///
    /// # Safety
    /// Each non-NULL field is the function its name says, from one
    /// llama.cpp build with the pinned headers' signatures.
    pub unsafe fn from_table(t: &es_host_fns) -> Result<Host, String> {
        let slots: [Option<*mut c_void>; 9] = [
            t.ggml_backend_buffer_is_host.map(|f| f as *mut c_void),
            t.ggml_backend_tensor_get.map(|f| f as *mut c_void),
            t.ggml_backend_tensor_set.map(|f| f as *mut c_void),
            t.llama_model_n_embd.map(|f| f as *mut c_void),
            t.llama_model_n_layer.map(|f| f as *mut c_void),
            t.ggml_init.map(|f| f as *mut c_void),
            t.ggml_new_tensor_2d.map(|f| f as *mut c_void),
            t.ggml_set_name.map(|f| f as *mut c_void),
            t.ggml_free.map(|f| f as *mut c_void),
        ];
        let missing: Vec<String> = slots
            .iter()
            .zip(NAMES)
            .filter(|(s, _)| s.is_none())
            .map(|(_, n)| n.to_string_lossy().into_owned())
            .collect();
        if !missing.is_empty() {
            return Err(format!("es_host_fns leaves {} NULL", missing.join(", ")));
        }
        let p = slots.map(|s| s.unwrap_or(std::ptr::null_mut()));
        // SAFETY: the caller guarantees what each pointer is.
        unsafe { Host::from_pointers(p) }
    }

    /// Asks the host's ggml for a named 7 × 3 F32 tensor (no data) and
    /// reads it through this library's `struct ggml_tensor`.
    fn check_layout(&self) -> Result<(), String> {
        let params = sys::ggml_init_params {
            mem_size: 64 * 1024,
            mem_buffer: std::ptr::null_mut(),
            no_alloc: true,
        };
        // SAFETY: ggml_init with a small size and no_alloc allocates one
        // arena the tensor object lives in; it is freed below.
        let ctx = unsafe { (self.init)(params) };
        if ctx.is_null() {
            return Err("the host's ggml_init returned NULL".into());
        }
        // SAFETY: `ctx` is live; the tensor object lies inside its arena,
        // which is larger than any ggml_tensor, so reading one through our
        // struct stays inside memory ggml owns even if the host's struct is
        // smaller. ggml_set_name copies at most GGML_MAX_NAME bytes.
        let got = unsafe {
            let t = (self.new_tensor_2d)(ctx, sys::GGML_TYPE_F32, 7, 3);
            if t.is_null() {
                None
            } else {
                (self.set_name)(t, c"l_out-5".as_ptr());
                let r = &*t;
                let name_len = r.name.iter().position(|&c| c == 0).unwrap_or(r.name.len());
                let name: Vec<u8> = r.name[..name_len].iter().map(|&c| c as u8).collect();
                Some((
                    r.type_,
                    r.ne,
                    r.nb,
                    r.buffer.is_null(),
                    r.data.is_null(),
                    name,
                ))
            }
        };
        // SAFETY: `ctx` came from the host's ggml_init and is freed once.
        unsafe { (self.free)(ctx) };
        let Some((ty, ne, nb, no_buffer, no_data, name)) = got else {
            return Err("the host's ggml_new_tensor_2d returned NULL".into());
        };
        let ok = ty == sys::GGML_TYPE_F32
            && ne == [7, 3, 1, 1]
            && nb == [4, 28, 84, 84]
            && no_buffer
            && no_data
            && name == b"l_out-5";
        if ok {
            Ok(())
        } else {
            Err(format!(
                "the host's llama.cpp lays out struct ggml_tensor differently from the one \
                 expertsteer was built for (llama-cpp-sys-2 0.1.161): a 7x3 F32 tensor named \
                 l_out-5 reads back as type {ty}, ne {ne:?}, nb {nb:?}, name {:?}; use a \
                 llama.cpp of that release",
                String::from_utf8_lossy(&name)
            ))
        }
    }
}

/// The process-wide host, looked up in the global scope. A success is kept;
/// a failure is not, so loading llama.cpp later (or globally) still works.
pub(crate) fn process_host() -> Result<Host, String> {
    static HOST: OnceLock<Host> = OnceLock::new();
    if let Some(h) = HOST.get() {
        return Ok(*h);
    }
    // SAFETY: RTLD_DEFAULT is a valid handle for dlsym.
    let p = unsafe {
        lookup_all(
            libc::RTLD_DEFAULT,
            "in this process's global scope: load llama.cpp as a shared library with \
             RTLD_GLOBAL (or link it statically with -rdynamic), or hand expertsteer its \
             functions with es_host_from_library / es_host_new",
        )
    }?;
    // SAFETY: the global scope's definitions of the named functions.
    let h = unsafe { Host::from_pointers(p) }?;
    Ok(*HOST.get_or_init(|| h))
}

/// (n_layer, n_embd) of a host model.
///
/// # Safety
/// `model` must be a live `llama_model` of the host's llama.cpp.
pub(crate) unsafe fn model_shape(
    h: &Host,
    model: *const sys::llama_model,
) -> Result<(usize, usize), String> {
    // SAFETY: the caller guarantees a live model; the functions are the host's.
    let (n_layer, n_embd) = unsafe { ((h.model_n_layer)(model), (h.model_n_embd)(model)) };
    if n_layer <= 0 || n_embd <= 0 {
        return Err(format!(
            "the model reports {n_layer} blocks x n_embd {n_embd}"
        ));
    }
    Ok((n_layer as usize, n_embd as usize))
}

#[cfg(test)]
mod tests {
    //! The layout check against fake hosts: one that builds the tensor as
    //! the pinned ggml does, one whose fields sit elsewhere.
    use super::*;

    unsafe extern "C" fn is_host(_: sys::ggml_backend_buffer_t) -> bool {
        true
    }
    unsafe extern "C" fn get(_: *const sys::ggml_tensor, _: *mut c_void, _: usize, _: usize) {}
    unsafe extern "C" fn set(_: *mut sys::ggml_tensor, _: *const c_void, _: usize, _: usize) {}
    unsafe extern "C" fn n_int(_: *const sys::llama_model) -> i32 {
        1
    }
    /// The "context" is one zeroed tensor on the heap.
    unsafe extern "C" fn init(_: sys::ggml_init_params) -> *mut sys::ggml_context {
        // SAFETY: an all-zero ggml_tensor is a valid value (integers,
        // NULL pointers, a zero name).
        let t: Box<sys::ggml_tensor> = Box::new(unsafe { std::mem::zeroed() });
        Box::into_raw(t).cast()
    }
    unsafe extern "C" fn free(ctx: *mut sys::ggml_context) {
        // SAFETY: made by `init` above.
        drop(unsafe { Box::from_raw(ctx.cast::<sys::ggml_tensor>()) });
    }
    unsafe extern "C" fn new_good(
        ctx: *mut sys::ggml_context,
        ty: sys::ggml_type,
        ne0: i64,
        ne1: i64,
    ) -> *mut sys::ggml_tensor {
        let t = ctx.cast::<sys::ggml_tensor>();
        // SAFETY: `ctx` is init's tensor.
        unsafe {
            (*t).type_ = ty;
            (*t).ne = [ne0, ne1, 1, 1];
            (*t).nb = [
                4,
                4 * ne0 as usize,
                4 * (ne0 * ne1) as usize,
                4 * (ne0 * ne1) as usize,
            ];
        }
        t
    }
    /// A host whose struct has the strides where ours has the shape.
    unsafe extern "C" fn new_shifted(
        ctx: *mut sys::ggml_context,
        ty: sys::ggml_type,
        ne0: i64,
        ne1: i64,
    ) -> *mut sys::ggml_tensor {
        let t = ctx.cast::<sys::ggml_tensor>();
        // SAFETY: `ctx` is init's tensor.
        unsafe {
            (*t).type_ = ty;
            (*t).ne = [4, 4 * ne0, 4 * ne0 * ne1, 4 * ne0 * ne1];
            (*t).nb = [ne0 as usize, ne1 as usize, 1, 1];
        }
        t
    }
    unsafe extern "C" fn set_name(
        t: *mut sys::ggml_tensor,
        name: *const c_char,
    ) -> *mut sys::ggml_tensor {
        // SAFETY: a NUL-terminated name shorter than the field.
        unsafe {
            let bytes = CStr::from_ptr(name).to_bytes();
            for (d, &b) in (*t).name.iter_mut().zip(bytes) {
                *d = b as c_char;
            }
        }
        t
    }

    fn table(new_tensor: NewTensor2dFn) -> es_host_fns {
        es_host_fns {
            ggml_backend_buffer_is_host: Some(is_host),
            ggml_backend_tensor_get: Some(get),
            ggml_backend_tensor_set: Some(set),
            llama_model_n_embd: Some(n_int),
            llama_model_n_layer: Some(n_int),
            ggml_init: Some(init),
            ggml_new_tensor_2d: Some(new_tensor),
            ggml_set_name: Some(set_name),
            ggml_free: Some(free),
        }
    }

    #[test]
    fn a_host_laid_out_like_ours_passes() {
        // SAFETY: the fakes above have the declared signatures.
        assert!(unsafe { Host::from_table(&table(new_good)) }.is_ok());
    }

    #[test]
    fn a_host_with_another_tensor_layout_is_refused() {
        // SAFETY: as above.
        let Err(e) = (unsafe { Host::from_table(&table(new_shifted)) }) else {
            panic!("a moved layout passed the check");
        };
        assert!(e.contains("lays out struct ggml_tensor differently"), "{e}");
    }

    #[test]
    fn a_table_with_null_functions_is_refused_by_name() {
        let mut t = table(new_good);
        t.ggml_set_name = None;
        t.llama_model_n_layer = None;
        // SAFETY: as above.
        let Err(e) = (unsafe { Host::from_table(&t) }) else {
            panic!("NULL functions accepted");
        };
        assert!(e.contains("llama_model_n_layer, ggml_set_name"), "{e}");
    }
}
