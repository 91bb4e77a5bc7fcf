//! The map file (`.esmap`): the fitted maps between one expert and one
//! target, reusable for every concept. Layout: the magic `ESMAP\0\0\0`, a
//! little-endian u32 format version, the bincode body ([`MapFile`]), then
//! the sha256 of everything before it. A file that fails the checksum, the
//! version or the shape checks is refused with a message saying which.

use crate::atomic_file::write_atomic;
use crate::map::solve::PairFit;
use crate::steering::steerfile::ModelIdentity;
use crate::{Error, Result};
use bincode::Options;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

const MAGIC: &[u8; 8] = b"ESMAP\0\0\0";
/// Format version written and read.
pub const MAP_FORMAT: u32 = 1;
/// Largest body read (a 1.5B expert's 100 candidate pairs are ~360 MB).
const MAX_BODY: u64 = 4 << 30;

/// What the maps were fitted on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorpusInfo {
    /// Hash of the texts ([`crate::hash::texts_sha256`]).
    pub sha256: String,
    /// Texts read (including skipped ones).
    pub texts: usize,
    /// Texts skipped: too long for one decode, or pieces that do not spell them.
    pub skipped: usize,
    /// Tokens the expert read.
    pub expert_tokens: u64,
    /// Tokens the target read.
    pub target_tokens: u64,
    /// Paired positions (rows of the fit and held-out folds together).
    pub paired: u64,
    /// Rows in the fit fold and in the held-out fold.
    pub fold_rows: [u64; 2],
}

impl CorpusInfo {
    /// Paired positions over the target's tokens (BOS included).
    pub fn paired_fraction(&self) -> f64 {
        self.paired as f64 / self.target_tokens.max(1) as f64
    }
}

/// The body of a map file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapFile {
    /// The expert model the maps read.
    pub expert: ModelIdentity,
    /// The target model they write into.
    pub target: ModelIdentity,
    /// The generic texts.
    pub corpus: CorpusInfo,
    /// Every candidate layer pair.
    pub pairs: Vec<PairFit>,
    /// Whether the target's rows were permuted before fitting (the
    /// shuffled-map control: its maps carry no information).
    pub shuffled: bool,
    /// The program that wrote it.
    pub created_by: String,
}

fn bincode_opts() -> impl bincode::Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .with_limit(MAX_BODY)
}

impl MapFile {
    /// Serialises with magic, version and checksum, written atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        self.check()
            .map_err(|e| Error::Input(format!("refusing to write {}: {e}", path.display())))?;
        let body = bincode_opts()
            .serialize(self)
            .map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
        let mut bytes = Vec::with_capacity(body.len() + 44);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&MAP_FORMAT.to_le_bytes());
        bytes.extend_from_slice(&body);
        let sum = Sha256::digest(&bytes);
        bytes.extend_from_slice(&sum);
        Ok(write_atomic(path, &bytes)?)
    }

    /// Reads and checks a map file.
    pub fn read(path: &Path) -> Result<MapFile> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(&bytes).map_err(|e| Error::Input(format!("{}: {e}", path.display())))
    }

    /// Parses and checks the bytes of a map file.
    pub fn from_bytes(bytes: &[u8]) -> std::result::Result<MapFile, String> {
        if bytes.len() < 12 + 32 || &bytes[..8] != MAGIC {
            return Err("not an expertsteer map file (.esmap)".into());
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if version != MAP_FORMAT {
            return Err(format!(
                "map format {version}; this build reads format {MAP_FORMAT} (refit it with `expertsteer map`)"
            ));
        }
        let (content, sum) = bytes.split_at(bytes.len() - 32);
        if Sha256::digest(content).as_slice() != sum {
            return Err("checksum mismatch: the file is damaged or truncated".into());
        }
        let file: MapFile = bincode_opts()
            .deserialize(&content[12..])
            .map_err(|e| format!("unreadable body: {e}"))?;
        file.check()?;
        Ok(file)
    }

    /// Shapes, layers and values agree with the two identities.
    pub fn check(&self) -> std::result::Result<(), String> {
        let (d_e, d_t) = (self.expert.n_embd, self.target.n_embd);
        if self.pairs.is_empty() {
            return Err("no layer pairs".into());
        }
        for p in &self.pairs {
            let m = &p.map;
            let at = format!("pair expert {} → target {}", p.expert_layer, p.target_layer);
            if p.expert_layer >= self.expert.n_layer || p.target_layer >= self.target.n_layer {
                return Err(format!("{at}: layer outside the models"));
            }
            if m.x_mean.len() != d_e
                || m.x_scale.len() != d_e
                || m.y_mean.len() != d_t
                || m.w.len() != d_e * d_t
            {
                return Err(format!(
                    "{at}: shapes do not match d_E = {d_e}, d_T = {d_t}"
                ));
            }
            let finite = m
                .x_mean
                .iter()
                .chain(&m.x_scale)
                .chain(&m.y_mean)
                .chain(&m.w)
                .all(|v| v.is_finite());
            if !finite || m.x_scale.iter().any(|&s| s <= 0.0) || !p.r2.is_finite() {
                return Err(format!("{at}: non-finite or non-positive values"));
            }
        }
        Ok(())
    }

    /// The fitted pair from `expert_layer` into `target_layer`, if a candidate.
    pub fn pair(&self, expert_layer: usize, target_layer: usize) -> Option<&PairFit> {
        self.pairs
            .iter()
            .find(|p| p.expert_layer == expert_layer && p.target_layer == target_layer)
    }

    /// Target layers that have at least one candidate pair, ascending.
    pub fn target_layers(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self.pairs.iter().map(|p| p.target_layer).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// For `target_layer`, the candidate pair with the best held-out R².
    pub fn best_by_r2(&self, target_layer: usize) -> Option<&PairFit> {
        self.pairs
            .iter()
            .filter(|p| p.target_layer == target_layer)
            .max_by(|a, b| a.r2.total_cmp(&b.r2))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::map::solve::LinearMap;

    fn ident(n_embd: usize, n_layer: usize) -> ModelIdentity {
        ModelIdentity {
            arch: "llama".into(),
            n_embd,
            n_layer,
            file_name: "m.gguf".into(),
            sha256: "ab".repeat(32),
        }
    }

    pub(crate) fn tiny() -> MapFile {
        MapFile {
            expert: ident(3, 4),
            target: ident(2, 5),
            corpus: CorpusInfo {
                sha256: "cd".repeat(32),
                texts: 10,
                skipped: 1,
                expert_tokens: 100,
                target_tokens: 120,
                paired: 90,
                fold_rows: [72, 18],
            },
            pairs: vec![PairFit {
                expert_layer: 3,
                target_layer: 4,
                lambda: 0.1,
                r2: 0.4,
                r2_grid: vec![0.3, 0.4],
                map: LinearMap {
                    x_mean: vec![0.0, 1.0, 2.0],
                    x_scale: vec![1.0, 2.0, 0.5],
                    w: vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
                    y_mean: vec![5.0, -5.0],
                },
            }],
            shuffled: false,
            created_by: "test".into(),
        }
    }

    #[test]
    fn round_trips_and_refuses_damage() {
        let dir = std::env::temp_dir().join(format!("esmap-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.esmap");
        let f = tiny();
        f.write(&path).unwrap();
        assert_eq!(MapFile::read(&path).unwrap(), f);
        let bytes = std::fs::read(&path).unwrap();
        // Any flipped byte fails the checksum; a cut file too.
        let mut bad = bytes.clone();
        bad[20] ^= 1;
        assert!(MapFile::from_bytes(&bad).unwrap_err().contains("checksum"));
        assert!(MapFile::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        let mut other = bytes.clone();
        other[8] = 9;
        assert!(MapFile::from_bytes(&other)
            .unwrap_err()
            .contains("format 9"));
        assert!(MapFile::from_bytes(b"GGUF....").is_err());
        // Shapes that disagree with the identities are refused on write.
        let mut wrong = tiny();
        wrong.pairs[0].map.w.pop();
        assert!(wrong.write(&dir.join("w.esmap")).is_err());
        let mut far = tiny();
        far.pairs[0].target_layer = 5;
        assert!(far.check().is_err());
        assert_eq!(f.best_by_r2(4).unwrap().expert_layer, 3);
        assert!(f.best_by_r2(2).is_none());
        std::fs::remove_dir_all(&dir).ok();
    }
}
