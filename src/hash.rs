//! Content hashes (sha256) of files and texts: they key the capture cache
//! and identify the models and data a steering file was made from.

use crate::atomic_file::write_atomic;
use crate::{Error, Result};
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::Read;
use std::path::Path;

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// sha256 of a whole file, streamed, as lower-case hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let r = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if r == 0 {
            break;
        }
        hasher.update(&buf[..r]);
    }
    Ok(hex(&hasher.finalize()))
}

/// sha256 over a list of texts (length-prefixed, so boundaries count:
/// `["ab", "c"]` and `["a", "bc"]` differ).
pub fn texts_sha256(texts: &[String]) -> String {
    let mut h = Sha256::new();
    for t in texts {
        h.update((t.len() as u64).to_le_bytes());
        h.update(t.as_bytes());
    }
    hex(&h.finalize())
}

/// The sha256 of a model file, computed once and remembered (keyed by
/// path, size and modification time) so later runs answer at once. A
/// fetched model's `.gguf.sha256` stamp is trusted as is.
pub fn content_sha256(path: &Path) -> Result<String> {
    let meta = fs::metadata(path).map_err(|e| Error::io(path, e))?;
    let stamp = path.with_extension("gguf.sha256");
    if let Ok(s) = fs::read_to_string(&stamp) {
        let s = s.trim();
        if s.len() == 64 {
            return Ok(s.to_string());
        }
    }
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let canon = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let key = hex(&Sha256::digest(
        format!("{}|{}|{}", canon.display(), meta.len(), mtime).as_bytes(),
    ));
    let dir = crate::cache::hash_memo_dir();
    let memo = dir.join(key);
    if let Ok(s) = fs::read_to_string(&memo) {
        return Ok(s.trim().to_string());
    }
    let sha = sha256_file(path)?;
    // The memo only saves time; failing to write it is not an error.
    if fs::create_dir_all(&dir).is_ok() {
        let _ = write_atomic(&memo, sha.as_bytes());
    }
    Ok(sha)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_match_known_values_and_text_boundaries_count() {
        assert_eq!(
            hex(&Sha256::digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let a = texts_sha256(&["ab".into(), "c".into()]);
        let b = texts_sha256(&["a".into(), "bc".into()]);
        assert_ne!(a, b);
        let dir = std::env::temp_dir().join(format!("expertsteer-hash-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("abc.txt");
        fs::write(&p, b"abc").unwrap();
        assert_eq!(sha256_file(&p).unwrap(), hex(&Sha256::digest(b"abc")));
        assert!(sha256_file(&dir.join("missing")).is_err());
    }
}
