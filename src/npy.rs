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
    /// The bytes are not a float32 array this reader accepts; `reason`
    /// says what the file is and what was expected.
    #[error("{path}: {reason}")]
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
    write_f32_header(out, shape)?;
    let mut bytes = Vec::with_capacity(data.len() * 4);
    for x in data {
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    out.write_all(&bytes)
}

/// Writes the header of a `<f4` C-order `.npy` of `shape`; the caller then
/// writes exactly the shape's element count of little-endian f32 (for
/// arrays streamed in pieces, e.g. from a capture store).
pub fn write_f32_header(out: &mut impl Write, shape: &[usize]) -> std::io::Result<()> {
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
    out.write_all(header.as_bytes())
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
        return Err(bad(
            "not a .npy file (it does not start with the \\x93NUMPY magic)",
        ));
    }
    let (hlen, hstart) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(bad(&format!("unsupported .npy format version {v}"))),
    };
    let header = bytes
        .get(hstart..hstart + hlen)
        .ok_or_else(|| bad("truncated .npy header"))?;
    let header = std::str::from_utf8(header).map_err(|_| bad(".npy header is not text"))?;
    let descr = header
        .split_once("'descr': '")
        .and_then(|(_, rest)| rest.split_once('\''))
        .map(|(d, _)| d)
        .ok_or_else(|| bad(".npy header names no dtype ('descr')"))?;
    if descr != "<f4" {
        return Err(bad(&format!(
            "holds {} ('{descr}') values; expected little-endian float32 ('<f4'): \
             save it with numpy.save(path, arr.astype(numpy.float32))",
            dtype_name(descr)
        )));
    }
    if header.contains("'fortran_order': True") {
        return Err(bad(
            "holds a Fortran-order array; expected C order: save numpy.ascontiguousarray(arr)",
        ));
    }
    let open = header
        .find("'shape': (")
        .ok_or_else(|| bad(".npy header has no shape"))?
        + 10;
    let close = header[open..]
        .find(')')
        .ok_or_else(|| bad(".npy header has a malformed shape"))?
        + open;
    let shape: Vec<usize> = header[open..close]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| bad(".npy header has a malformed shape"))
        })
        .collect::<Result<_, _>>()?;
    let count = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| bad(".npy shape overflows"))?;
    let body = &bytes[hstart + hlen..];
    if body.len()
        != count
            .checked_mul(4)
            .ok_or_else(|| bad(".npy shape overflows"))?
    {
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

/// NumPy's name for a dtype string such as `<f8`, for error messages.
fn dtype_name(descr: &str) -> String {
    let kind = descr.trim_start_matches(['<', '>', '|', '=']);
    let name = match kind {
        "f2" => "float16",
        "f4" if descr.starts_with('>') => "big-endian float32",
        "f8" => "float64",
        "f16" => "float128",
        "i1" => "int8",
        "i2" => "int16",
        "i4" => "int32",
        "i8" => "int64",
        "u1" => "uint8",
        "u2" => "uint16",
        "u4" => "uint32",
        "u8" => "uint64",
        "b1" => "bool",
        _ => return format!("dtype {descr}"),
    };
    name.to_string()
}

/// Reads one vector from `.npy` (1-D, or 2-D with one row) or raw
/// little-endian `.f32`.
pub fn read_vector(path: &Path) -> Result<Vec<f32>, NpyError> {
    let shown = path.display().to_string();
    if path.extension().is_some_and(|e| e == "npy") {
        let (shape, data) = read_f32(path)?;
        let rows = if shape.len() == 2 { shape[0] } else { 1 };
        if shape.len() > 2 || rows != 1 {
            let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
            return Err(NpyError::Format {
                path: shown,
                reason: format!(
                    "holds a {}-D float32 array of shape ({}); expected one vector: \
                     shape (n_embd,) or (1, n_embd)",
                    shape.len(),
                    dims.join(", ")
                ),
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
    fn wrong_dtypes_and_shapes_say_what_the_file_holds_and_what_is_expected() {
        let dir = std::env::temp_dir().join(format!("npy-test-kinds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // A float64 vector, as numpy.save(np.zeros(3)) writes it.
        let mut header = "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }".to_string();
        header.push_str(&" ".repeat((64 - (10 + header.len() + 1) % 64) % 64));
        header.push('\n');
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&[0u8; 24]);
        let p = dir.join("f64.npy");
        std::fs::write(&p, &bytes).unwrap();
        let e = read_vector(&p).unwrap_err().to_string();
        assert!(e.contains("float64") && e.contains("'<f4'"), "{e}");
        assert!(!e.contains("not a .npy file"), "{e}");
        // A 2-D float32 array of two rows.
        let p = dir.join("two-rows.npy");
        let mut f = std::fs::File::create(&p).unwrap();
        write_f32(&mut f, &[2, 3], &[0.0; 6]).unwrap();
        drop(f);
        let e = read_vector(&p).unwrap_err().to_string();
        assert!(
            e.contains("shape (2, 3)") && e.contains("one vector"),
            "{e}"
        );
        assert!(!e.contains("not a .npy file"), "{e}");
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
