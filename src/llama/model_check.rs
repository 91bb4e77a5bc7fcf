//! Our own look at a GGUF model before llama.cpp loads it. llama.cpp
//! returns an error for most bad files, but some classes of file make it
//! abort the whole process (a `GGML_ASSERT`, an allocation of terabytes,
//! a tokenizer with no vocabulary that asserts at the first tokenisation).
//! [`check_model_file`] refuses those known classes with a message, so a
//! hostile or broken download cannot take a program down with it.
//!
//! It reads only metadata and the tensor table (gguf-tools' safe reader);
//! it is no validation of everything llama.cpp checks itself.

use gguf_tools::{Array, GgmlType, GgufFile};
use std::collections::HashMap;

/// llama.cpp's `LLAMA_MAX_LAYERS`: the most blocks a model may have.
const MAX_BLOCKS: u64 = expertsteer_core::steering::MAX_LAYERS as u64;

/// The `tokenizer.ggml.model` values llama.cpp builds a tokenizer for.
/// `none` / `no_vocab` load but have no vocabulary, and llama.cpp asserts
/// at the first tokenisation, so they are refused too.
const TOKENIZERS: [&str; 9] = [
    "llama",
    "bert",
    "gpt2",
    "hybriddna",
    "whitespace",
    "t5",
    "rwkv",
    "plamo2",
    "gemma4",
];

/// Refuses the known classes of model file that make llama.cpp abort
/// instead of failing: a block count outside 1..=512, a negative or
/// non-finite normalisation epsilon, an unknown (or vocabulary-less)
/// tokenizer, a vocabulary whose tokens are all empty or repeat one
/// another, and an integer or f64 matrix (ggml cannot multiply by one).
/// The error says which key or tensor is wrong.
pub(crate) fn check_model_file(file: &GgufFile) -> Result<(), String> {
    let arch = file
        .architecture()
        .ok_or("no general.architecture string in the metadata")?;
    let block_count = format!("{arch}.block_count");
    if let Some(v) = file.get(&block_count) {
        match v.as_u64() {
            Some(n) if (1..=MAX_BLOCKS).contains(&n) => {}
            _ => {
                return Err(format!(
                    "{block_count} is {}, llama.cpp loads 1..={MAX_BLOCKS} blocks",
                    v.display_truncated(1)
                ))
            }
        }
    }
    for key in [
        format!("{arch}.attention.layer_norm_rms_epsilon"),
        format!("{arch}.attention.layer_norm_epsilon"),
    ] {
        if let Some(v) = file.get(&key) {
            match v.as_f64() {
                Some(eps) if eps.is_finite() && eps >= 0.0 => {}
                _ => {
                    return Err(format!(
                        "{key} is {}, a normalisation epsilon must be a finite number >= 0",
                        v.display_truncated(1)
                    ))
                }
            }
        }
    }
    if let Some(v) = file.get("tokenizer.ggml.model") {
        let name = v.as_str().ok_or("tokenizer.ggml.model is not a string")?;
        if !TOKENIZERS.contains(&name) {
            return Err(format!(
                "tokenizer.ggml.model is '{name}', not a tokenizer llama.cpp can run (one of {})",
                TOKENIZERS.join(", ")
            ));
        }
    }
    if let Some(v) = file.get("tokenizer.ggml.tokens") {
        let Some(Array::String(tokens)) = v.as_array() else {
            return Err("tokenizer.ggml.tokens is not an array of strings".into());
        };
        check_tokens(tokens)?;
    }
    for t in file.tensors() {
        let integer = matches!(
            t.ggml_type,
            GgmlType::I8 | GgmlType::I16 | GgmlType::I32 | GgmlType::I64 | GgmlType::F64
        );
        if integer && t.dims.iter().filter(|&&d| d > 1).count() >= 2 {
            return Err(format!(
                "tensor {} is a {} matrix; llama.cpp multiplies only by float or quantized weights",
                t.name,
                t.ggml_type.name()
            ));
        }
    }
    Ok(())
}

/// The vocabulary as llama.cpp stores it: it reads each token as a C
/// string, so a token ends at its first NUL byte (`"Ġme\0tal"` is `"Ġme"`);
/// an empty token becomes `[EMPTY_i]`; and every text must name one token
/// only (it asserts that its id → text and text → id tables have the same
/// size).
fn check_tokens(tokens: &[String]) -> Result<(), String> {
    if tokens.is_empty() {
        return Err("tokenizer.ggml.tokens is empty".into());
    }
    if tokens.iter().all(|t| t.is_empty()) {
        return Err(format!(
            "all {} tokens of tokenizer.ggml.tokens are empty",
            tokens.len()
        ));
    }
    let mut first: HashMap<std::borrow::Cow<'_, str>, usize> = HashMap::with_capacity(tokens.len());
    for (i, t) in tokens.iter().enumerate() {
        let t = t.split('\0').next().unwrap_or_default();
        let text = if t.is_empty() {
            std::borrow::Cow::Owned(format!("[EMPTY_{i}]"))
        } else {
            std::borrow::Cow::Borrowed(t)
        };
        if let Some(j) = first.insert(text.clone(), i) {
            return Err(format!(
                "tokens {j} and {i} of tokenizer.ggml.tokens are both {:?} as llama.cpp reads them \
                 (up to a NUL byte); each token text must be unique",
                text.chars().take(40).collect::<String>()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_tokens;

    #[test]
    fn repeated_and_empty_tokens_are_found() {
        let v = |s: &[&str]| s.iter().map(|t| t.to_string()).collect::<Vec<_>>();
        assert!(check_tokens(&v(&["a", "b", ""])).is_ok());
        let e = check_tokens(&v(&["a", "b", "a"])).unwrap_err();
        assert!(e.contains("tokens 0 and 2"), "{e}");
        // llama.cpp renames an empty token 1 to [EMPTY_1]: a clash.
        let e = check_tokens(&v(&["[EMPTY_1]", ""])).unwrap_err();
        assert!(e.contains("tokens 0 and 1"), "{e}");
        assert!(check_tokens(&v(&["", ""])).unwrap_err().contains("all 2"));
        // llama.cpp reads up to the first NUL: "me\0tal" is "me".
        let e = check_tokens(&v(&["me", "x", "me\0tal"])).unwrap_err();
        assert!(e.contains("tokens 0 and 2"), "{e}");
        assert!(check_tokens(&v(&["metal", "me\0"])).is_ok());
        let e = check_tokens(&v(&["\0a", "b", "[EMPTY_0]"])).unwrap_err();
        assert!(e.contains("tokens 0 and 2"), "{e}");
        assert!(check_tokens(&[]).is_err());
    }
}
