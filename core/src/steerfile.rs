//! The steering file (METHOD.md "The steering file"): everything needed to
//! apply and to reproduce a set of steering vectors.
//!
//! On disk: 8-byte magic `EXSTEER\0`, format version (u32 LE), payload
//! length (u64 LE), the bincode payload, and the payload's sha256, so a
//! wrong, newer, truncated or corrupted file is named as such.

use crate::atomic_file::WriteError;
use crate::steering::{Positions, Steering};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

/// File magic.
pub const MAGIC: &[u8; 8] = b"EXSTEER\0";
/// Current format version.
pub const VERSION: u32 = 1;

/// Why a steering file could not be read, written or used.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Reading or writing failed; `path` is the file concerned.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned (for a write: the destination).
        path: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The file (or a request made of it) is invalid; the message says why.
    #[error("{0}")]
    Invalid(String),
}

impl FileError {
    /// An I/O error with the path it concerns.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> FileError {
        FileError::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}

impl From<WriteError> for FileError {
    fn from(e: WriteError) -> FileError {
        FileError::io(e.path, e.source)
    }
}

/// Result of the steering-file functions.
pub type Result<T> = std::result::Result<T, FileError>;

/// Which model a file belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelIdentity {
    /// Architecture name from the GGUF (`llama`, `qwen2`, ...).
    pub arch: String,
    /// Hidden size: floats per state and per direction.
    pub n_embd: usize,
    /// Number of blocks.
    pub n_layer: usize,
    /// The model file's name (for people; `sha256` identifies it).
    pub file_name: String,
    /// sha256 of the model file.
    pub sha256: String,
}

/// Longest name (architecture, file name) a file may carry, in characters.
const MAX_NAME_CHARS: usize = 512;

/// A sha256 as 64 hexadecimal digits.
fn check_sha256(what: &str, s: &str) -> std::result::Result<(), String> {
    if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(format!(
            "{what} is not a sha256 (64 hexadecimal digits): {:?}",
            s.chars().take(80).collect::<String>()
        ))
    }
}

/// A name printed to a terminal: not empty, not too long, and without
/// control characters (which could rewrite the terminal).
fn check_name(what: &str, s: &str) -> std::result::Result<(), String> {
    if s.is_empty() || s.chars().count() > MAX_NAME_CHARS || s.chars().any(char::is_control) {
        Err(format!(
            "{what} must be 1..={MAX_NAME_CHARS} printable characters, got {:?}",
            s.chars().take(80).collect::<String>()
        ))
    } else {
        Ok(())
    }
}

impl ModelIdentity {
    /// Sizes positive (blocks at most llama.cpp's 512), sha256 64 hex
    /// digits, names printable; `role` (`target`, `expert`) names it.
    fn validate(&self, role: &str) -> std::result::Result<(), String> {
        if self.n_embd == 0 || self.n_layer == 0 || self.n_layer > crate::steering::MAX_LAYERS {
            return Err(format!(
                "{role} model shape {} blocks x n_embd {} is impossible",
                self.n_layer, self.n_embd
            ));
        }
        check_name(&format!("{role} architecture"), &self.arch)?;
        check_name(&format!("{role} file name"), &self.file_name)?;
        check_sha256(&format!("{role} sha256"), &self.sha256)
    }
}

impl MiMatrix {
    /// Layer lists non-empty, without repeats and inside the models'
    /// blocks; `values` exactly rows x columns, all finite.
    fn validate(
        &self,
        expert: Option<&ModelIdentity>,
        target: &ModelIdentity,
    ) -> std::result::Result<(), String> {
        let Some(expert) = expert else {
            return Err("the file holds an MI matrix but names no expert".into());
        };
        for (what, layers, n_layer) in [
            ("expert", &self.expert_layers, expert.n_layer),
            ("target", &self.target_layers, target.n_layer),
        ] {
            if layers.is_empty() {
                return Err(format!("the MI matrix lists no {what} layers"));
            }
            if let Some(&l) = layers.iter().find(|&&l| l >= n_layer) {
                return Err(format!(
                    "the MI matrix lists {what} layer {l}, outside the {what}'s {n_layer} blocks"
                ));
            }
            let distinct: std::collections::BTreeSet<_> = layers.iter().collect();
            if distinct.len() != layers.len() {
                return Err(format!("the MI matrix lists a {what} layer twice"));
            }
        }
        let cells = self
            .expert_layers
            .len()
            .checked_mul(self.target_layers.len());
        if cells != Some(self.values.len()) {
            return Err(format!(
                "the MI matrix holds {} values, not {} expert x {} target layers",
                self.values.len(),
                self.expert_layers.len(),
                self.target_layers.len()
            ));
        }
        if let Some(i) = self.values.iter().position(|v| !v.is_finite()) {
            return Err(format!("the MI matrix holds a non-finite value at {i}"));
        }
        Ok(())
    }
}

/// How the directions were made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Method {
    /// ExpertSteer: expert states, aligned, paired by MI, RFM.
    ExpertSteer,
    /// Mean of positive minus mean of negative target states.
    Caa,
    /// Top principal component of paired differences.
    PcaDiff,
    /// RFM on the target's own states.
    SelfRfm,
    /// Random unit directions (a control: the floor any method must beat),
    /// at the layers and norms of another file. Appended last so files of
    /// the other methods keep their encoding.
    Random,
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Method::ExpertSteer => "expertsteer",
            Method::Caa => "caa",
            Method::PcaDiff => "pca-diff",
            Method::SelfRfm => "self-rfm",
            Method::Random => "random",
        })
    }
}

/// One steered target layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SteerLayer {
    /// Target layer j (0-based block, `l_out-j`).
    pub target_layer: usize,
    /// Paired expert layer i (None for self-steering methods).
    pub expert_layer: Option<usize>,
    /// Unit direction u_j, n_embd of the target.
    pub direction: Vec<f32>,
    /// r_j: mean ‖h − μ‖ of the target's states at j on the fit texts.
    pub mean_norm: f32,
    /// Validation score of the direction's predictor (AUC), if any.
    pub val_auc: Option<f64>,
    /// MI(i, j) in nats, for ExpertSteer.
    pub mi: Option<f64>,
}

/// MI matrix: rows are expert layers, columns target layers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MiMatrix {
    /// The expert layers of the rows (0-based blocks).
    pub expert_layers: Vec<usize>,
    /// The target layers of the columns (0-based blocks).
    pub target_layers: Vec<usize>,
    /// Row-major `[expert_layers.len(), target_layers.len()]`, nats.
    pub values: Vec<f64>,
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SteerFile {
    /// The model the vectors are for.
    pub target: ModelIdentity,
    /// The expert the knowledge came from (ExpertSteer only).
    pub expert: Option<ModelIdentity>,
    /// How the directions were made.
    pub method: Method,
    /// The steered target layers.
    pub layers: Vec<SteerLayer>,
    /// c in s_j = c · r_j, used when the user gives none.
    pub default_strength: f32,
    /// Every hyper-parameter, as name → value text.
    pub params: BTreeMap<String, String>,
    /// The full MI matrix (ExpertSteer only).
    pub mi: Option<MiMatrix>,
    /// sha256 of the training texts.
    pub data_sha256: String,
    /// Number of training texts.
    pub n_texts: usize,
}

/// The file layout around a bincode payload: magic, version, payload
/// length, the payload, its sha256. No check of the payload's content.
pub fn frame_payload(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 52);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&Sha256::digest(payload));
    out
}

impl SteerFile {
    /// Serialises with the header and checksum.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        self.validate("<new file>")?;
        let payload = bincode::serialize(self)
            .map_err(|e| FileError::Invalid(format!("steering file: {e}")))?;
        Ok(frame_payload(&payload))
    }

    /// Writes the file atomically (see [`crate::atomic_file`]).
    pub fn write(&self, path: &Path) -> Result<()> {
        let bytes = self.to_bytes()?;
        Ok(crate::atomic_file::write_atomic(path, &bytes)?)
    }

    /// True when the file at `path` starts with the steering-file magic.
    pub fn is_steer_file(path: &Path) -> bool {
        use std::io::Read;
        let mut head = [0u8; 8];
        std::fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut head))
            .is_ok()
            && &head == MAGIC
    }

    /// Reads and checks a file.
    pub fn read(path: &Path) -> Result<SteerFile> {
        let bytes = std::fs::read(path).map_err(|e| FileError::io(path, e))?;
        Self::from_bytes(&bytes, &path.display().to_string())
    }

    /// Parses and checks bytes; `name` appears in errors.
    pub fn from_bytes(bytes: &[u8], name: &str) -> Result<SteerFile> {
        let bad = |m: String| FileError::Invalid(format!("{name}: {m}"));
        if bytes.len() < 8 || &bytes[..8] != MAGIC {
            return Err(bad("not an expertsteer steering file (wrong magic)".into()));
        }
        if bytes.len() < 20 {
            return Err(bad("truncated header".into()));
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if version != VERSION {
            return Err(bad(format!(
                "format version {version}; this build reads version {VERSION}"
            )));
        }
        let len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
        let body = &bytes[20..];
        if (body.len() as u64) != len.saturating_add(32) {
            return Err(bad(format!(
                "truncated or padded: header says {len} payload bytes + 32 checksum, file has {}",
                body.len()
            )));
        }
        let (payload, sum) = body.split_at(len as usize);
        if Sha256::digest(payload).as_slice() != sum {
            return Err(bad("checksum mismatch: the file is corrupted".into()));
        }
        let f: SteerFile = bincode::deserialize(payload).map_err(|e| bad(payload_error(&e)))?;
        f.validate(name)?;
        Ok(f)
    }

    /// Internal consistency of every field a reader later indexes or
    /// prints: model identities (sizes, sha256 strings, names), layer
    /// numbers against both models, direction lengths, finite numbers,
    /// and the MI matrix's dimensions against its layer lists.
    pub fn validate(&self, name: &str) -> Result<()> {
        let bad = |m: String| FileError::Invalid(format!("{name}: {m}"));
        self.target.validate("target").map_err(&bad)?;
        if let Some(e) = &self.expert {
            e.validate("expert").map_err(&bad)?;
        }
        check_sha256("data_sha256", &self.data_sha256).map_err(&bad)?;
        if self.layers.is_empty() {
            return Err(bad("no steered layers".into()));
        }
        if !self.default_strength.is_finite() {
            return Err(bad("default strength is not finite".into()));
        }
        let mut seen = std::collections::BTreeSet::new();
        for l in &self.layers {
            if !seen.insert(l.target_layer) {
                return Err(bad(format!("layer {} is steered twice", l.target_layer)));
            }
            match (l.expert_layer, &self.expert) {
                (Some(i), Some(e)) if i >= e.n_layer => {
                    return Err(bad(format!(
                        "layer {} is paired with expert layer {i}, outside the expert's {} blocks",
                        l.target_layer, e.n_layer
                    )))
                }
                (Some(i), None) => {
                    return Err(bad(format!(
                        "layer {} is paired with expert layer {i}, but the file names no expert",
                        l.target_layer
                    )))
                }
                _ => {}
            }
            if l.val_auc.is_some_and(|a| !(0.0..=1.0).contains(&a)) {
                return Err(bad(format!(
                    "layer {} validation AUC is {:?}, outside 0..1",
                    l.target_layer, l.val_auc
                )));
            }
            if l.mi.is_some_and(|m| !m.is_finite()) {
                return Err(bad(format!("layer {} MI is not finite", l.target_layer)));
            }
            if l.target_layer >= self.target.n_layer {
                return Err(bad(format!(
                    "layer {} is outside the target's {} blocks",
                    l.target_layer, self.target.n_layer
                )));
            }
            if l.direction.len() != self.target.n_embd {
                return Err(bad(format!(
                    "layer {} direction has {} values, target n_embd is {}",
                    l.target_layer,
                    l.direction.len(),
                    self.target.n_embd
                )));
            }
            if let Some(i) = l.direction.iter().position(|x| !x.is_finite()) {
                return Err(bad(format!(
                    "layer {} direction holds NaN/inf at {i}",
                    l.target_layer
                )));
            }
            if !l.mean_norm.is_finite() || l.mean_norm < 0.0 {
                return Err(bad(format!(
                    "layer {} mean norm is {}",
                    l.target_layer, l.mean_norm
                )));
            }
        }
        if let Some(mi) = &self.mi {
            mi.validate(self.expert.as_ref(), &self.target)
                .map_err(&bad)?;
        }
        Ok(())
    }

    /// Refuses a model of `n_layer` blocks × `n_embd` (named `model_name`
    /// in the error) unless it has the file's target shape.
    pub fn check_shape(&self, n_layer: usize, n_embd: usize, model_name: &str) -> Result<()> {
        if n_embd != self.target.n_embd || n_layer != self.target.n_layer {
            return Err(FileError::Invalid(format!(
                "steering file was made for {} ({} blocks x n_embd {}), model {} has {} blocks x n_embd {}",
                self.target.file_name,
                self.target.n_layer,
                self.target.n_embd,
                model_name,
                n_layer,
                n_embd
            )));
        }
        Ok(())
    }

    /// Step 4: vectors s_j · u_j with s_j = c · r_j (c = `strength`, or the
    /// file's default).
    pub fn steering(&self, strength: Option<f32>, positions: Positions) -> Steering {
        let c = strength.unwrap_or(self.default_strength);
        Steering {
            vectors: self
                .layers
                .iter()
                .map(|l| {
                    let s = c * l.mean_norm;
                    (l.target_layer, l.direction.iter().map(|x| x * s).collect())
                })
                .collect(),
            positions,
        }
    }

    /// The llama.cpp control vector at strength c (block 0 cannot be held).
    pub fn to_control_vector(&self, strength: Option<f32>) -> Result<gguf_tools::ControlVector> {
        let s = self.steering(strength, Positions::All);
        if let Some((layer, norm)) = crate::steering::first_overflowing(&s.vectors) {
            return Err(FileError::Invalid(format!(
                "strength {:?} makes the vector for layer {layer} {}: llama.cpp's f32 arithmetic \
                 overflows above norm {:.1e}; use a smaller --strength",
                strength.unwrap_or(self.default_strength),
                if norm.is_finite() {
                    format!("of norm {norm:.3e}")
                } else {
                    "non-finite".to_string()
                },
                crate::steering::MAX_VECTOR_NORM
            )));
        }
        if s.vectors.contains_key(&0) {
            return Err(FileError::Invalid(
                "control vectors cannot steer block 0".into(),
            ));
        }
        Ok(gguf_tools::ControlVector {
            n_embd: self.target.n_embd,
            directions: s.vectors,
            model_hint: Some(self.target.arch.clone()),
        })
    }
}

/// Why a checksum-valid payload does not decode, in words: bincode's own
/// text for a short payload is "io error: " with an empty reason.
fn payload_error(e: &bincode::ErrorKind) -> String {
    let what = match e {
        bincode::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            "it ends before every field is read".to_string()
        }
        bincode::ErrorKind::Io(io) => format!("read error ({:?}) {io}", io.kind()),
        other => other.to_string(),
    };
    format!(
        "the payload does not decode as a version-{VERSION} steering file: {what} \
         (was it written by another build of expertsteer?)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::sample_file as sample;

    #[test]
    fn round_trip_is_bit_exact() {
        let f = sample();
        let bytes = f.to_bytes().unwrap();
        let back = SteerFile::from_bytes(&bytes, "t").unwrap();
        assert_eq!(back, f);
        assert_eq!(back.to_bytes().unwrap(), bytes);
    }

    #[test]
    fn each_malformed_file_gets_its_own_error() {
        let bytes = sample().to_bytes().unwrap();
        let err = |b: &[u8]| SteerFile::from_bytes(b, "t").unwrap_err().to_string();
        assert!(err(b"GGUF....").contains("wrong magic"));
        let mut v = bytes.clone();
        v[8] = 9;
        assert!(err(&v).contains("format version 9"));
        assert!(err(&bytes[..bytes.len() - 5]).contains("truncated"));
        assert!(err(&bytes[..15]).contains("truncated header"));
        let mut v = bytes.clone();
        v[30] ^= 0xff;
        assert!(err(&v).contains("checksum"));
        // A checksum-valid payload that stops short of its fields.
        let short = [0u8; 5];
        let mut v = Vec::new();
        v.extend_from_slice(MAGIC);
        v.extend_from_slice(&VERSION.to_le_bytes());
        v.extend_from_slice(&(short.len() as u64).to_le_bytes());
        v.extend_from_slice(&short);
        v.extend_from_slice(&Sha256::digest(short));
        let e = err(&v);
        assert!(e.contains("ends before every field is read"), "{e}");
        assert!(!e.contains("io error: "), "{e}");
        let mut f = sample();
        f.layers[0].direction[3] = f32::NAN;
        assert!(f.to_bytes().unwrap_err().to_string().contains("NaN"));
        let mut f = sample();
        f.layers[0].direction.pop();
        assert!(f
            .to_bytes()
            .unwrap_err()
            .to_string()
            .contains("n_embd is 8"));
    }

    /// `payload` with a valid header and checksum, as a hostile writer
    /// would make it.
    #[test]
    fn huge_lengths_inside_a_checksummed_payload_are_errors_not_allocations() {
        // The checksum only proves the payload is what its writer wrote;
        // the lengths bincode reads from it must still be bounded by it.
        let f = sample();
        let payload = bincode::serialize(&f).unwrap();
        let at_layers = [
            bincode::serialized_size(&f.target).unwrap(),
            bincode::serialized_size(&f.expert).unwrap(),
            bincode::serialized_size(&f.method).unwrap(),
        ]
        .iter()
        .sum::<u64>() as usize;
        // The layer count, then (after target_layer and expert_layer) the
        // first direction's length.
        let at_direction = at_layers + 8 + 8 + 1 + 8;
        assert_eq!(payload[at_direction..at_direction + 8], 8u64.to_le_bytes());
        for (at, len) in [
            (at_layers, u64::MAX),
            (at_layers, 1 << 40),
            (at_direction, u64::MAX / 4),
            (0, 1 << 40), // the target's architecture string
        ] {
            let mut p = payload.clone();
            p[at..at + 8].copy_from_slice(&len.to_le_bytes());
            let e = SteerFile::from_bytes(&frame_payload(&p), "t").unwrap_err();
            assert!(
                e.to_string()
                    .starts_with("t: the payload does not decode as a version-1 steering file"),
                "{e}"
            );
        }
    }

    #[test]
    fn every_field_a_reader_indexes_is_validated() {
        type Mutation = fn(&mut SteerFile);
        let cases: [(Mutation, &str); 14] = [
            (|f| f.target.sha256 = "é".repeat(32), "target sha256"),
            (|f| f.data_sha256 = "zz".repeat(32), "data_sha256"),
            (
                |f| f.expert.as_mut().unwrap().file_name = "a\x1b[2Jb".into(),
                "expert file name",
            ),
            (|f| f.target.arch = String::new(), "target architecture"),
            (|f| f.target.n_embd = 0, "impossible"),
            (
                |f| f.mi.as_mut().unwrap().values.truncate(5),
                "holds 5 values",
            ),
            (
                |f| f.mi.as_mut().unwrap().target_layers.clear(),
                "no target layers",
            ),
            (
                |f| f.mi.as_mut().unwrap().expert_layers[0] = 4,
                "expert layer 4",
            ),
            (
                |f| f.mi.as_mut().unwrap().values[2] = f64::NAN,
                "non-finite value at 2",
            ),
            (
                |f| f.mi.as_mut().unwrap().target_layers[1] = 1,
                "target layer twice",
            ),
            (|f| f.expert = None, "names no expert"),
            (|f| f.layers[0].expert_layer = Some(7), "expert layer 7"),
            (|f| f.layers.push(f.layers[0].clone()), "steered twice"),
            (|f| f.layers[0].val_auc = Some(f64::NAN), "AUC"),
        ];
        for (mutate, want) in cases {
            let mut f = sample();
            mutate(&mut f);
            let e = f.to_bytes().unwrap_err().to_string();
            assert!(e.contains(want), "writer: want {want:?}: {e}");
            let e = SteerFile::from_bytes(&crate::testing::unchecked_bytes(&f), "t")
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "reader: want {want:?}: {e}");
        }
    }

    #[test]
    fn strength_is_relative_to_the_layer_norm() {
        let f = sample();
        let s = f.steering(Some(0.5), Positions::All);
        let v = &s.vectors[&2];
        assert!((v[0] - (-0.3 * 0.5 * 11.5)).abs() < 1e-6);
        let d = f.steering(None, Positions::All);
        assert!((d.vectors[&2][0] - (-0.3 * 0.2 * 11.5)).abs() < 1e-6);
        let cv = f.to_control_vector(Some(0.5)).unwrap();
        assert_eq!(cv.directions[&2], *v);
        for c in [1e30, f32::NAN, f32::INFINITY] {
            let e = f.to_control_vector(Some(c)).unwrap_err().to_string();
            assert!(e.contains("--strength"), "{e}");
        }
    }
}
