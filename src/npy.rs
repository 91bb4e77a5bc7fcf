//! Minimal `.npy` (NumPy format 1.0) reading and writing of little-endian f32
//! arrays, so captures and vectors move to and from Python unchanged.

use std::io::{Read, Write};
use std::path::Path;
use thiserror::Error;

/// Problems with a `.npy` or raw `.f32` file.
#[derive(Debug, Error)]
pub enum NpyError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a float32 array this reader accepts.
    #[error("{path}: not a .npy file ({reason})")]
    Format {
        /// The file concerned.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Writes `data` with `shape` (C order) as `<f4` to `out`. Errors
/// (`InvalidInput`, nothing written) when the shape's element count is
/// not `data.len()`.
pub fn write_f32(out: &mut impl Write, shape: &[usize], data: &[f32]) -> std::io::Result<()> {
    let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if count != Some(data.len()) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                ".npy shape {shape:?} does not hold the {} values given",
                data.len()
            ),
        ));
    }
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_txt = if shape.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_txt}, }}");
    // magic(6) + version(2) + len(2) + header + '\n' is a multiple of 64.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    out.write_all(b"\x93NUMPY\x01\x00")?;
    out.write_all(&(header.len() as u16).to_le_bytes())?;
    out.write_all(header.as_bytes())?;
    let mut bytes = Vec::with_capacity(data.len() * 4);
    for x in data {
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    out.write_all(&bytes)
}

/// Reads a `<f4` C-order `.npy` file: (shape, data).
pub fn read_f32(path: &Path) -> Result<(Vec<usize>, Vec<f32>), NpyError> {
    let shown = path.display().to_string();
    let bad = |reason: &str| NpyError::Format {
        path: shown.clone(),
        reason: reason.to_string(),
    };
    let mut f = std::fs::File::open(path).map_err(|source| NpyError::Io {
        path: shown.clone(),
        source,
    })?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).map_err(|source| NpyError::Io {
        path: shown.clone(),
        source,
    })?;
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("missing \\x93NUMPY magic"));
    }
    let (hlen, hstart) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        _ => return Err(bad("unsupported version")),
    };
    let header = bytes
        .get(hstart..hstart + hlen)
        .ok_or_else(|| bad("truncated header"))?;
    let header = std::str::from_utf8(header).map_err(|_| bad("header is not text"))?;
    if !header.contains("'descr': '<f4'") {
        return Err(bad(
            "only little-endian float32 ('<f4') arrays are supported",
        ));
    }
    if header.contains("'fortran_order': True") {
        return Err(bad("Fortran-order arrays are not supported"));
    }
    let open = header.find("'shape': (").ok_or_else(|| bad("no shape"))? + 10;
    let close = header[open..].find(')').ok_or_else(|| bad("bad shape"))? + open;
    let shape: Vec<usize> = header[open..close]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| bad("bad shape")))
        .collect::<Result<_, _>>()?;
    let count = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| bad("shape overflows"))?;
    let body = &bytes[hstart + hlen..];
    if body.len() != count.checked_mul(4).ok_or_else(|| bad("shape overflows"))? {
        return Err(bad(&format!(
            "shape says {count} floats, file holds {} bytes of data",
            body.len()
        )));
    }
    let data = body
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok((shape, data))
}

/// Reads one vector from `.npy` (1-D, or 2-D with one row) or raw
/// little-endian `.f32`.
pub fn read_vector(path: &Path) -> Result<Vec<f32>, NpyError> {
    let shown = path.display().to_string();
    if path.extension().is_some_and(|e| e == "npy") {
        let (shape, data) = read_f32(path)?;
        let rows = if shape.len() == 2 { shape[0] } else { 1 };
        if shape.len() > 2 || rows != 1 {
            return Err(NpyError::Format {
                path: shown,
                reason: format!("expected one vector, shape is {shape:?}"),
            });
        }
        return Ok(data);
    }
    let bytes = std::fs::read(path).map_err(|source| NpyError::Io {
        path: shown.clone(),
        source,
    })?;
    if bytes.len() % 4 != 0 {
        return Err(NpyError::Format {
            path: shown,
            reason: format!(
                "raw .f32 file has {} bytes, not a multiple of 4",
                bytes.len()
            ),
        });
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_round_trips_and_header_is_aligned() {
        let dir = std::env::temp_dir().join(format!("npy-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.npy");
        let data: Vec<f32> = (0..24).map(|i| i as f32 * 0.5 - 3.0).collect();
        let mut f = std::fs::File::create(&p).unwrap();
        write_f32(&mut f, &[2, 3, 4], &data).unwrap();
        drop(f);
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!((bytes.len() - 24 * 4) % 64, 0);
        let (shape, back) = read_f32(&p).unwrap();
        assert_eq!(shape, vec![2, 3, 4]);
        assert_eq!(back, data);
        assert!(read_vector(&p).is_err(), "3-D is not a vector");
        std::fs::write(dir.join("bad.npy"), b"hello").unwrap();
        assert!(read_f32(&dir.join("bad.npy")).is_err());
        std::fs::write(dir.join("odd.f32"), [0u8; 7]).unwrap();
        assert!(read_vector(&dir.join("odd.f32")).is_err());
    }

    #[test]
    fn a_shape_that_does_not_match_the_data_is_an_error_not_a_panic() {
        let mut out = Vec::new();
        let e = write_f32(&mut out, &[2, 3], &[0.0; 5]).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("[2, 3]"), "{e}");
        assert!(out.is_empty(), "wrote a header for a bad shape");
        assert!(write_f32(&mut out, &[usize::MAX, 2], &[]).is_err());
    }
}
