//! Steering vectors in and out of files: the sources a program can steer
//! from (a `.steer` file, a llama.cpp control-vector GGUF, a single `.npy`
//! or raw `.f32` vector for one layer), and the control-vector GGUF a
//! [`Steering`] can be saved as. Sits between the file formats
//! ([`crate::steering::steerfile`], [`crate::npy`], `gguf_tools`) and
//! [`crate::steering::steer::apply`].
//!
//! Every reader returns [`Vectors`] already scaled and checked against the
//! model's shape, so sources can be summed with [`add_vectors`].

use crate::atomic_file::write_atomic;
use crate::llama::{Model, Positions};
use crate::steering::steer::{first_overflowing, Steering, MAX_VECTOR_NORM};
use crate::steering::steerfile::SteerFile;
use crate::{npy, Error, Result};
use gguf_tools::ControlVector;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Vectors to add: layer (0-based block, llama.cpp's `l_out-N`) → n_embd floats.
pub type Vectors = BTreeMap<usize, Vec<f32>>;

/// The shape a source must fit: the model's blocks and hidden size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelShape {
    /// Number of blocks; layers are 0..n_layer.
    pub n_layer: usize,
    /// Hidden size: floats per vector.
    pub n_embd: usize,
}

impl ModelShape {
    /// The shape of a loaded model.
    pub fn of(model: &Model) -> ModelShape {
        ModelShape {
            n_layer: model.n_layer(),
            n_embd: model.n_embd(),
        }
    }
}

/// One place steering vectors come from.
#[derive(Debug, Clone, PartialEq)]
pub enum SteeringSource {
    /// A steering file from `fit` (`.steer`); strength is c in
    /// s_j = c · r_j, relative to each layer's mean hidden-state norm
    /// (default: the file's).
    SteerFile(PathBuf),
    /// A llama.cpp control-vector GGUF (tensors `direction.N`, added to
    /// layer N); strength is a plain multiplier (default 1).
    ControlVector(PathBuf),
    /// One vector (`.npy`, or raw little-endian `.f32`) of n_embd floats
    /// added at `layer` (0-based block); strength is a multiplier (default 1).
    Vector {
        /// The vector file.
        path: PathBuf,
        /// The 0-based block it is added to.
        layer: usize,
    },
}

impl SteeringSource {
    /// A whole-model file by its content: a `.steer` file when it starts with
    /// the steering-file magic, otherwise a control-vector GGUF.
    pub fn detect(path: &Path) -> SteeringSource {
        if SteerFile::is_steer_file(path) {
            SteeringSource::SteerFile(path.to_path_buf())
        } else {
            SteeringSource::ControlVector(path.to_path_buf())
        }
    }

    /// The source's vectors at `strength` (see each variant for its unit),
    /// checked against `shape`, and refused when the strength is not a
    /// finite number or the scaled vectors are too large for llama.cpp's
    /// f32 arithmetic (see [`MAX_VECTOR_NORM`]); the error names
    /// `--strength` and the file.
    pub fn read(&self, shape: ModelShape, strength: Option<f32>) -> Result<Vectors> {
        check_strength(strength)?;
        let vectors = self.read_unchecked(shape, strength)?;
        check_magnitude(&vectors, strength, &self.path().display().to_string())?;
        Ok(vectors)
    }

    /// The file the source reads.
    pub fn path(&self) -> &Path {
        match self {
            SteeringSource::SteerFile(p) | SteeringSource::ControlVector(p) => p,
            SteeringSource::Vector { path, .. } => path,
        }
    }

    fn read_unchecked(&self, shape: ModelShape, strength: Option<f32>) -> Result<Vectors> {
        match self {
            SteeringSource::SteerFile(p) => read_steer_file(p, shape, strength),
            SteeringSource::ControlVector(p) => {
                read_control_vector(p, shape, strength.unwrap_or(1.0))
            }
            SteeringSource::Vector { path, layer } => {
                read_layer_vector(path, *layer, shape, strength.unwrap_or(1.0))
            }
        }
    }
}

/// Refuses a strength that is not a finite number.
fn check_strength(strength: Option<f32>) -> Result<()> {
    match strength {
        Some(s) if !s.is_finite() => Err(Error::Input(format!(
            "--strength must be a finite number, got {s:?}"
        ))),
        _ => Ok(()),
    }
}

/// Refuses vectors that are non-finite or too large for llama.cpp (see
/// [`MAX_VECTOR_NORM`]); `what` names their source.
fn check_magnitude(vectors: &Vectors, strength: Option<f32>, what: &str) -> Result<()> {
    let Some((layer, norm)) = first_overflowing(vectors) else {
        return Ok(());
    };
    let size = if norm.is_finite() {
        format!("a vector of norm {norm:.3e}")
    } else {
        "a non-finite vector".to_string()
    };
    let limit = format!(
        "llama.cpp's f32 arithmetic overflows above norm {MAX_VECTOR_NORM:.1e} and the model would only produce NaN"
    );
    Err(Error::Input(match strength {
        Some(s) => format!(
            "--strength {s:?} makes {size} for layer {layer} from {what}: {limit}; lower --strength"
        ),
        None => format!("{what} gives {size} for layer {layer}: {limit}"),
    }))
}

/// Vectors s_j · u_j of a `.steer` file at strength c (s_j = c · r_j;
/// `None` = the file's default), refusing a file made for another shape.
pub fn read_steer_file(path: &Path, shape: ModelShape, strength: Option<f32>) -> Result<Vectors> {
    let f = SteerFile::read(path)?;
    f.check_shape(shape.n_layer, shape.n_embd, &path.display().to_string())?;
    Ok(f.steering(strength, Positions::All).vectors)
}

/// The directions of a control-vector GGUF times `multiplier`, refusing
/// vectors of another length than the model's n_embd.
pub fn read_control_vector(path: &Path, shape: ModelShape, multiplier: f32) -> Result<Vectors> {
    let cv = ControlVector::read_cvec(path).map_err(|e| match e {
        // Neither magic: say what the file could have been.
        gguf_tools::GgufError::BadMagic { .. } => Error::Input(format!(
            "{} is neither a steering file from `expertsteer fit` (.steer) nor a \
             llama.cpp control-vector GGUF (it starts with neither magic)",
            path.display()
        )),
        other => other.into(),
    })?;
    if cv.n_embd != shape.n_embd {
        return Err(Error::Input(format!(
            "{} holds vectors of {} values, the model's n_embd is {}",
            path.display(),
            cv.n_embd,
            shape.n_embd
        )));
    }
    if let Some(&bad) = cv.directions.keys().find(|&&l| l >= shape.n_layer) {
        return Err(Error::Input(format!(
            "{} steers layer {bad}, the model has blocks 0..{}",
            path.display(),
            shape.n_layer.saturating_sub(1)
        )));
    }
    Ok(cv
        .directions
        .into_iter()
        .map(|(l, v)| (l, v.into_iter().map(|x| x * multiplier).collect()))
        .collect())
}

/// One vector file (`.npy` or raw `.f32`) times `multiplier`, at `layer`.
pub fn read_layer_vector(
    path: &Path,
    layer: usize,
    shape: ModelShape,
    multiplier: f32,
) -> Result<Vectors> {
    if layer >= shape.n_layer {
        return Err(Error::Input(format!(
            "layer {layer} for {} is out of range: the model has blocks 0..{}",
            path.display(),
            shape.n_layer.saturating_sub(1)
        )));
    }
    let v: Vec<f32> = npy::read_vector(path)?
        .into_iter()
        .map(|x| x * multiplier)
        .collect();
    if v.len() != shape.n_embd {
        return Err(Error::Input(format!(
            "{} has {} values, the model's n_embd is {}",
            path.display(),
            v.len(),
            shape.n_embd
        )));
    }
    Ok(BTreeMap::from([(layer, v)]))
}

/// Adds `more` into `into`, summing vectors that share a layer.
pub fn add_vectors(into: &mut Vectors, more: Vectors) -> Result<()> {
    for (l, v) in more {
        let slot = into.entry(l).or_insert_with(|| vec![0.0; v.len()]);
        if slot.len() != v.len() {
            return Err(Error::Input(format!(
                "two vectors for layer {l} differ in length ({} and {})",
                slot.len(),
                v.len()
            )));
        }
        slot.iter_mut().zip(&v).for_each(|(a, b)| *a += b);
    }
    Ok(())
}

/// The sum of several sources at one strength, as a [`Steering`] for
/// `positions` (empty when `sources` is).
pub fn steering_from_sources(
    sources: &[SteeringSource],
    shape: ModelShape,
    strength: Option<f32>,
    positions: Positions,
) -> Result<Steering> {
    let mut vectors = Vectors::new();
    for s in sources {
        add_vectors(&mut vectors, s.read(shape, strength)?)?;
    }
    check_magnitude(&vectors, strength, "the sum of the steering sources")?;
    Ok(Steering { vectors, positions })
}

/// `steering` as a llama.cpp control vector (usable with `llama-cli
/// --control-vector`). Control vectors cannot hold block 0.
pub fn control_vector_of(
    steering: &Steering,
    n_embd: usize,
    model_hint: Option<&str>,
) -> Result<ControlVector> {
    if steering.vectors.contains_key(&0) {
        return Err(Error::Input("control vectors cannot steer block 0".into()));
    }
    if let Some((l, v)) = steering.vectors.iter().find(|(_, v)| v.len() != n_embd) {
        return Err(Error::Input(format!(
            "layer {l} vector has {} values, n_embd is {n_embd}",
            v.len()
        )));
    }
    Ok(ControlVector {
        n_embd,
        directions: steering.vectors.clone(),
        model_hint: model_hint.map(str::to_string),
    })
}

/// Writes a control-vector GGUF atomically.
pub fn write_control_vector(cv: &ControlVector, path: &Path) -> Result<()> {
    let bytes = cv.to_gguf_bytes()?;
    Ok(write_atomic(path, &bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use expertsteer_core::testing::sample_file as sample;

    const SHAPE: ModelShape = ModelShape {
        n_layer: 30,
        n_embd: 4,
    };

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "expertsteer-steering-io-{}-{name}",
            std::process::id()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn steer_files_scale_by_mean_norm_and_refuse_another_shape() {
        let d = scratch("steer");
        let f = sample();
        let p = d.join("s.steer");
        f.write(&p).unwrap();
        let src = SteeringSource::detect(&p);
        assert_eq!(src, SteeringSource::SteerFile(p.clone()));
        let shape = ModelShape {
            n_layer: f.target.n_layer,
            n_embd: f.target.n_embd,
        };
        let got = src.read(shape, Some(2.0)).unwrap();
        let want = f.steering(Some(2.0), Positions::All).vectors;
        assert_eq!(got, want);
        let e = src
            .read(
                ModelShape {
                    n_embd: shape.n_embd + 1,
                    ..shape
                },
                None,
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("was made for"), "{e}");
    }

    #[test]
    fn control_vectors_are_multiplied_and_checked_against_n_embd() {
        let d = scratch("cvec");
        let s = Steering {
            vectors: BTreeMap::from([(3, vec![1.0, 2.0, 3.0, 4.0])]),
            positions: Positions::All,
        };
        let cv = control_vector_of(&s, 4, Some("llama")).unwrap();
        let p = d.join("v.gguf");
        write_control_vector(&cv, &p).unwrap();
        let src = SteeringSource::detect(&p);
        assert_eq!(src, SteeringSource::ControlVector(p.clone()));
        assert_eq!(src.read(SHAPE, None).unwrap(), s.vectors);
        assert_eq!(
            src.read(SHAPE, Some(-0.5)).unwrap()[&3],
            vec![-0.5, -1.0, -1.5, -2.0]
        );
        let e = src
            .read(ModelShape { n_embd: 8, ..SHAPE }, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("n_embd is 8"), "{e}");
        let e = src
            .read(
                ModelShape {
                    n_layer: 3,
                    ..SHAPE
                },
                None,
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("steers layer 3"), "{e}");
        let text = d.join("notes.txt");
        std::fs::write(&text, "just some notes").unwrap();
        let e = SteeringSource::detect(&text)
            .read(SHAPE, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(".steer") && e.contains("control-vector GGUF"),
            "{e}"
        );
        let zero = Steering {
            vectors: BTreeMap::from([(0, vec![0.0; 4])]),
            positions: Positions::All,
        };
        assert!(control_vector_of(&zero, 4, None).is_err());
    }

    #[test]
    fn strengths_that_overflow_the_vectors_are_refused_naming_the_flag() {
        let d = scratch("overflow");
        let ones = Steering {
            vectors: BTreeMap::from([(3, vec![1.0; 4])]),
            positions: Positions::All,
        };
        let p = d.join("ones.gguf");
        write_control_vector(&control_vector_of(&ones, 4, None).unwrap(), &p).unwrap();
        let src = SteeringSource::detect(&p);
        assert!(src.read(SHAPE, Some(1e6)).is_ok());
        for s in [1e30f32, -1e30, f32::NAN, f32::INFINITY] {
            let e =
                steering_from_sources(std::slice::from_ref(&src), SHAPE, Some(s), Positions::All)
                    .unwrap_err()
                    .to_string();
            assert!(e.contains("--strength"), "{s}: {e}");
        }
        // A file that already holds 3e38: too large at the default multiplier.
        let huge = Steering {
            vectors: BTreeMap::from([(3, vec![3e38; 4])]),
            positions: Positions::All,
        };
        let q = d.join("huge.gguf");
        write_control_vector(&control_vector_of(&huge, 4, None).unwrap(), &q).unwrap();
        let e = SteeringSource::detect(&q)
            .read(SHAPE, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("huge.gguf") && e.contains("layer 3"), "{e}");
        // Two sources each fine, their sum not.
        let big = Steering {
            vectors: BTreeMap::from([(3, vec![6e18; 4])]),
            positions: Positions::All,
        };
        let b = d.join("big.gguf");
        write_control_vector(&control_vector_of(&big, 4, None).unwrap(), &b).unwrap();
        let src = SteeringSource::detect(&b);
        assert!(src.read(SHAPE, None).is_ok());
        let e = steering_from_sources(&[src.clone(), src], SHAPE, None, Positions::All)
            .unwrap_err()
            .to_string();
        assert!(e.contains("sum"), "{e}");
    }

    #[test]
    fn single_vectors_land_on_their_layer_and_sum_with_others() {
        let d = scratch("vector");
        let p = d.join("v.f32");
        let raw: Vec<u8> = [1.0f32, 0.0, -1.0, 2.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        std::fs::write(&p, raw).unwrap();
        let src = SteeringSource::Vector {
            path: p.clone(),
            layer: 5,
        };
        let s = steering_from_sources(
            &[src.clone(), src.clone()],
            SHAPE,
            Some(0.5),
            Positions::GeneratedOnly,
        )
        .unwrap();
        assert_eq!(s.vectors[&5], vec![1.0, 0.0, -1.0, 2.0]);
        assert_eq!(s.positions, Positions::GeneratedOnly);
        let e = SteeringSource::Vector {
            path: p.clone(),
            layer: 30,
        }
        .read(SHAPE, None)
        .unwrap_err()
        .to_string();
        assert!(e.contains("layer 30") && e.contains("out of range"), "{e}");
        let e = src
            .read(ModelShape { n_embd: 3, ..SHAPE }, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("has 4 values"), "{e}");
        let mut into = BTreeMap::from([(5, vec![0.0; 3])]);
        assert!(add_vectors(&mut into, src.read(SHAPE, None).unwrap()).is_err());
    }
}
