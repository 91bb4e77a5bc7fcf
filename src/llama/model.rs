//! A loaded GGUF model: shape, metadata, vocabulary and chat template.

use super::{init_backend, LlamaError, Result};
use llama_cpp_sys_2 as sys;
use std::ffi::{c_char, CStr, CString};
use std::path::{Path, PathBuf};

/// A token id in the model's vocabulary.
pub type Token = i32;

/// How to load a model.
#[derive(Debug, Clone)]
pub struct ModelParams {
    /// Blocks to offload to the GPU (`-1` = all); ignored on CPU-only builds.
    pub gpu_layers: i32,
}

impl Default for ModelParams {
    fn default() -> Self {
        ModelParams { gpu_layers: -1 }
    }
}

/// A GGUF model of any quantization, loaded by llama.cpp.
pub struct Model {
    raw: *mut sys::llama_model,
    vocab: *const sys::llama_vocab,
    path: PathBuf,
    arch: String,
    /// `{arch}.attention.causal` (read once: `logits` checks it per token).
    causal: bool,
    /// Memo of the `l_out` probe (see `supports_layer_steering`).
    pub(crate) layer_steering: std::sync::OnceLock<bool>,
}

// SAFETY: llama.cpp's model is read-only after loading and documented as
// shareable between contexts on several threads.
unsafe impl Send for Model {}
// SAFETY: as above; every method takes `&self` and only reads the model.
unsafe impl Sync for Model {}

impl Model {
    /// Loads `path` after checking that it is a well-formed GGUF file and
    /// not one of the known kinds that make llama.cpp abort the process
    /// (see `model_check`): those are [`LlamaError::BadModelFile`].
    pub fn load(path: impl AsRef<Path>, params: &ModelParams) -> Result<Model> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        if !path.exists() {
            return Err(LlamaError::MissingFile { path: shown });
        }
        let file = gguf_tools::GgufFile::open(path).map_err(|e| LlamaError::BadModelFile {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        // Files llama.cpp would abort on (not merely refuse) stop here.
        super::model_check::check_model_file(&file).map_err(|reason| LlamaError::BadModelFile {
            path: shown.clone(),
            reason,
        })?;
        init_backend();
        let c_path = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| LlamaError::Invalid(format!("path {shown} contains a NUL byte")))?;
        // SAFETY: default params are plain data; we only change a field.
        let mut mp = unsafe { sys::llama_model_default_params() };
        mp.n_gpu_layers = params.gpu_layers;
        // SAFETY: `c_path` is NUL-terminated and outlives the call; llama.cpp
        // returns NULL on failure, which we check.
        let raw = unsafe { sys::llama_model_load_from_file(c_path.as_ptr(), mp) };
        if raw.is_null() {
            return Err(LlamaError::LoadFailed { path: shown });
        }
        // SAFETY: `raw` is a valid model; the vocab lives as long as it does.
        let vocab = unsafe { sys::llama_model_get_vocab(raw) };
        let mut model = Model {
            raw,
            vocab,
            path: path.to_path_buf(),
            arch: String::new(),
            causal: true,
            layer_steering: std::sync::OnceLock::new(),
        };
        model.arch = model
            .meta("general.architecture")
            .unwrap_or_else(|| "unknown".into());
        model.causal = model
            .meta(&format!("{}.attention.causal", model.arch))
            .is_none_or(|v| v != "false" && v != "0");
        Ok(model)
    }

    /// File the model was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `general.architecture` (e.g. `llama`, `gemma3`, `qwen2`).
    pub fn arch(&self) -> &str {
        &self.arch
    }

    /// False for encoder/embedding models (`{arch}.attention.causal = false`),
    /// which produce no next-token logits.
    pub fn is_causal(&self) -> bool {
        self.causal
    }

    /// Number of transformer blocks (layers are `0..n_layer`).
    pub fn n_layer(&self) -> usize {
        // SAFETY: `raw` is a valid model for the lifetime of `self`.
        unsafe { sys::llama_model_n_layer(self.raw) as usize }
    }

    /// Hidden size: the length of every `l_out-N` row and steering vector.
    pub fn n_embd(&self) -> usize {
        // SAFETY: `raw` is a valid model for the lifetime of `self`.
        unsafe { sys::llama_model_n_embd(self.raw) as usize }
    }

    /// Attention heads per block.
    pub fn n_head(&self) -> usize {
        // SAFETY: `raw` is a valid model for the lifetime of `self`.
        unsafe { sys::llama_model_n_head(self.raw).max(0) as usize }
    }

    /// Key/value heads per block (fewer than [`Self::n_head`] with
    /// grouped-query attention; 0 for models without attention).
    pub fn n_head_kv(&self) -> usize {
        // SAFETY: `raw` is a valid model for the lifetime of `self`.
        unsafe { sys::llama_model_n_head_kv(self.raw).max(0) as usize }
    }

    /// Vocabulary size: the length of a logits row.
    pub fn n_vocab(&self) -> usize {
        // SAFETY: `vocab` belongs to the live model.
        unsafe { sys::llama_vocab_n_tokens(self.vocab) as usize }
    }

    /// Context length the model was trained with.
    pub fn n_ctx_train(&self) -> usize {
        // SAFETY: `raw` is a valid model.
        unsafe { sys::llama_model_n_ctx_train(self.raw).max(0) as usize }
    }

    /// Total parameter count.
    pub fn n_params(&self) -> u64 {
        // SAFETY: `raw` is a valid model.
        unsafe { sys::llama_model_n_params(self.raw) }
    }

    /// Size of the weights in bytes.
    pub fn size_bytes(&self) -> u64 {
        // SAFETY: `raw` is a valid model.
        unsafe { sys::llama_model_size(self.raw) }
    }

    /// llama.cpp's one-line description (architecture, size, quantization).
    pub fn description(&self) -> String {
        let mut buf = vec![0u8; 256];
        // SAFETY: `buf` has `buf.len()` writable bytes; llama.cpp writes a
        // NUL-terminated string of at most that size.
        let n =
            unsafe { sys::llama_model_desc(self.raw, buf.as_mut_ptr() as *mut c_char, buf.len()) };
        c_buf_to_string(&buf, n)
    }

    /// One metadata value as text, or None when the key is absent.
    pub fn meta(&self, key: &str) -> Option<String> {
        let c_key = CString::new(key).ok()?;
        let mut buf = vec![0u8; 4096];
        // SAFETY: `c_key` is NUL-terminated; `buf` has `buf.len()` bytes.
        let n = unsafe {
            sys::llama_model_meta_val_str(
                self.raw,
                c_key.as_ptr(),
                buf.as_mut_ptr() as *mut c_char,
                buf.len(),
            )
        };
        (n >= 0).then(|| c_buf_to_string(&buf, n))
    }

    /// All metadata as (key, value) text pairs (long values truncated by llama.cpp).
    pub fn metadata(&self) -> Vec<(String, String)> {
        // SAFETY: `raw` is a valid model.
        let count = unsafe { sys::llama_model_meta_count(self.raw) };
        let mut out = Vec::new();
        for i in 0..count {
            let mut key = vec![0u8; 256];
            let mut val = vec![0u8; 256];
            // SAFETY: `i` is below the count; both buffers have the stated length.
            let (nk, nv) = unsafe {
                (
                    sys::llama_model_meta_key_by_index(
                        self.raw,
                        i,
                        key.as_mut_ptr() as *mut c_char,
                        key.len(),
                    ),
                    sys::llama_model_meta_val_str_by_index(
                        self.raw,
                        i,
                        val.as_mut_ptr() as *mut c_char,
                        val.len(),
                    ),
                )
            };
            if nk >= 0 {
                out.push((c_buf_to_string(&key, nk), c_buf_to_string(&val, nv.max(0))));
            }
        }
        out
    }

    /// The chat template stored in the GGUF, if any.
    pub fn chat_template(&self) -> Option<String> {
        // SAFETY: NULL asks for the default template; the returned pointer
        // (or NULL) is owned by the model and valid while it lives.
        let p = unsafe { sys::llama_model_chat_template(self.raw, std::ptr::null()) };
        if p.is_null() {
            return None;
        }
        // SAFETY: non-null pointers from llama.cpp are NUL-terminated.
        Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }

    /// Formats `messages` (role, content) with the model's chat template;
    /// `add_assistant` ends the text with the assistant turn's opening.
    pub fn apply_chat_template(
        &self,
        messages: &[(&str, &str)],
        add_assistant: bool,
    ) -> Result<String> {
        let tmpl = self
            .chat_template()
            .ok_or_else(|| LlamaError::ChatTemplate("the model has no chat template".into()))?;
        let c_tmpl = CString::new(tmpl)
            .map_err(|_| LlamaError::ChatTemplate("template contains NUL".into()))?;
        let owned: Vec<(CString, CString)> = messages
            .iter()
            .map(|(r, c)| Ok((CString::new(*r)?, CString::new(*c)?)))
            .collect::<std::result::Result<_, std::ffi::NulError>>()
            .map_err(|_| LlamaError::ChatTemplate("message contains a NUL byte".into()))?;
        let msgs: Vec<sys::llama_chat_message> = owned
            .iter()
            .map(|(r, c)| sys::llama_chat_message {
                role: r.as_ptr(),
                content: c.as_ptr(),
            })
            .collect();
        let total: usize = messages.iter().map(|(r, c)| r.len() + c.len()).sum();
        let mut buf = vec![0u8; 2 * total + 256];
        for _ in 0..2 {
            // SAFETY: `msgs` points into `owned`, alive for the call; `buf`
            // has `buf.len()` bytes; llama.cpp returns the needed length.
            let n = unsafe {
                sys::llama_chat_apply_template(
                    c_tmpl.as_ptr(),
                    msgs.as_ptr(),
                    msgs.len(),
                    add_assistant,
                    buf.as_mut_ptr() as *mut c_char,
                    buf.len() as i32,
                )
            };
            if n < 0 {
                return Err(LlamaError::ChatTemplate(
                    "llama.cpp does not support this model's chat template".into(),
                ));
            }
            let n = n as usize;
            if n <= buf.len() {
                return Ok(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
            buf.resize(n + 1, 0);
        }
        Err(LlamaError::ChatTemplate(
            "template output kept growing".into(),
        ))
    }

    /// Text to tokens. `add_special` adds BOS (if the model wants it);
    /// `parse_special` lets control tokens in the text be recognised.
    pub fn tokenize(
        &self,
        text: &str,
        add_special: bool,
        parse_special: bool,
    ) -> Result<Vec<Token>> {
        let len = i32::try_from(text.len())
            .map_err(|_| LlamaError::Tokenize("text longer than 2 GiB".into()))?;
        let mut tokens = vec![0 as Token; text.len() + 8];
        for _ in 0..2 {
            // SAFETY: `text` is valid for `len` bytes (llama.cpp takes an
            // explicit length, no NUL needed); `tokens` has room for
            // `tokens.len()` ids; a negative result is the required size.
            let n = unsafe {
                sys::llama_tokenize(
                    self.vocab,
                    text.as_ptr() as *const c_char,
                    len,
                    tokens.as_mut_ptr(),
                    tokens.len() as i32,
                    add_special,
                    parse_special,
                )
            };
            if n == i32::MIN {
                return Err(LlamaError::Tokenize("token count overflows".into()));
            }
            if n >= 0 {
                tokens.truncate(n as usize);
                return Ok(tokens);
            }
            tokens.resize((-n) as usize, 0);
        }
        Err(LlamaError::Tokenize("token count kept changing".into()))
    }

    /// The bytes of one token (may be part of a UTF-8 character).
    pub fn token_bytes(&self, token: Token) -> Vec<u8> {
        let mut buf = vec![0u8; 64];
        for _ in 0..2 {
            // SAFETY: `buf` has `buf.len()` bytes; a negative result is the
            // required size; no NUL is written.
            let n = unsafe {
                sys::llama_token_to_piece(
                    self.vocab,
                    token,
                    buf.as_mut_ptr() as *mut c_char,
                    buf.len() as i32,
                    0,
                    false,
                )
            };
            if n >= 0 {
                buf.truncate(n as usize);
                return buf;
            }
            buf.resize((-n) as usize, 0);
        }
        Vec::new()
    }

    /// Tokens back to text (special tokens dropped).
    pub fn detokenize(&self, tokens: &[Token]) -> String {
        let bytes: Vec<u8> = tokens.iter().flat_map(|&t| self.token_bytes(t)).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// True for end-of-generation tokens (EOS, EOT, ...).
    pub fn is_eog(&self, token: Token) -> bool {
        // SAFETY: `vocab` belongs to the live model.
        unsafe { sys::llama_vocab_is_eog(self.vocab, token) }
    }

    /// Every end-of-generation token of the vocabulary.
    pub fn eog_tokens(&self) -> Vec<Token> {
        (0..self.n_vocab() as Token)
            .filter(|&t| self.is_eog(t))
            .collect()
    }

    pub(crate) fn raw(&self) -> *mut sys::llama_model {
        self.raw
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        // SAFETY: `raw` came from llama_model_load_from_file and is freed
        // once; contexts borrow the model, so none outlives it.
        unsafe { sys::llama_model_free(self.raw) }
    }
}

fn c_buf_to_string(buf: &[u8], n: i32) -> String {
    let n = (n.max(0) as usize).min(buf.len());
    let end = buf[..n].iter().position(|&b| b == 0).unwrap_or(n);
    String::from_utf8_lossy(&buf[..end]).into_owned()
}
