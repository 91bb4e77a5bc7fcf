//! Where the tool keeps what it caches. Only paths: nothing here downloads
//! or hashes, so file formats and stores can depend on it freely.

use std::path::PathBuf;

/// The root of everything the tool caches: `$EXPERTSTEER_CACHE`, else
/// `$XDG_CACHE_HOME/expertsteer`, else `~/.cache/expertsteer`.
pub fn cache_root() -> PathBuf {
    if let Some(d) = std::env::var_os("EXPERTSTEER_CACHE") {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    base.join("expertsteer")
}

/// Fetched models: `models/` under [`cache_root`].
pub fn models_dir() -> PathBuf {
    cache_root().join("models")
}

/// Benchmark data taken from registry packages: `data/` under [`cache_root`].
pub fn data_dir() -> PathBuf {
    cache_root().join("data")
}

/// Captured hidden states of the offline pipeline: `captures/` under
/// [`cache_root`].
pub fn captures_dir() -> PathBuf {
    cache_root().join("captures")
}

/// Remembered content hashes of model files (see
/// [`crate::hash::content_sha256`]): `models/hashes/` under [`cache_root`].
pub fn hash_memo_dir() -> PathBuf {
    models_dir().join("hashes")
}

/// Token-level maps and their checkpoints: `maps/` under [`cache_root`].
pub fn maps_dir() -> PathBuf {
    cache_root().join("maps")
}

/// Where `map` writes the map of a model pair when no `--out` is given, and
/// where `fit` looks for one: `maps/EXPERT--TARGET.esmap`, named for the two
/// model files (the map itself records and checks which files they were).
pub fn default_map_path(expert: &std::path::Path, target: &std::path::Path) -> PathBuf {
    let stem = |p: &std::path::Path| {
        p.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into())
    };
    maps_dir().join(format!("{}--{}.esmap", stem(expert), stem(target)))
}
