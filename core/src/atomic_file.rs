//! Atomic file writes. Every file the crate writes (steering files, data
//! sets, captures, cache chunks, fetched models, reports, plots) goes
//! through here, so a reader never sees a half-written file and two writers
//! of the same path (parallel tests, two runs sharing a cache) never write
//! into each other's temp file.
//!
//! The bytes go to a hidden temp file in the destination's folder (the same
//! file system, so the final rename is atomic), named for this process and
//! this call, are synced to disk, then renamed over the destination. On any
//! error the temp file is removed and the error names the destination.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A write that failed, naming the file it was meant to produce.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}: {source}", path.display())]
pub struct WriteError {
    /// The destination (never the temp file).
    pub path: PathBuf,
    /// What the operating system said.
    #[source]
    pub source: std::io::Error,
}

impl WriteError {
    /// A failure to write `path`.
    pub fn new(path: &Path, source: std::io::Error) -> WriteError {
        WriteError {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// A temp path next to `dest`, unique per process (pid) and per call
/// (counter and clock), keeping `dest`'s extension so writers that pick a
/// format from it (PNG) still work.
fn temp_path(dest: &Path) -> Result<PathBuf, WriteError> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let stem = dest.file_stem().ok_or_else(|| {
        WriteError::new(
            dest,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"),
        )
    })?;
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mut name = format!(
        ".{}.tmp-{}-{n}-{nanos}",
        stem.to_string_lossy(),
        std::process::id()
    );
    if let Some(ext) = dest.extension() {
        name.push('.');
        name.push_str(&ext.to_string_lossy());
    }
    Ok(dest.with_file_name(name))
}

/// Syncs the finished temp file and renames it over `dest`.
fn commit(tmp: &Path, dest: &Path) -> Result<(), WriteError> {
    File::open(tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| WriteError::new(dest, e))?;
    fs::rename(tmp, dest).map_err(|e| WriteError::new(dest, e))
}

/// Writes `bytes` to `dest` atomically.
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    write_atomic_with(dest, |w| {
        w.write_all(bytes).map_err(|e| WriteError::new(dest, e))
    })
}

/// Writes `dest` atomically from a closure that streams into a buffered
/// temp file. An `Err` from `fill` (which may carry the caller's own error,
/// such as a failed checksum) discards the temp file and leaves `dest` as
/// it was.
pub fn write_atomic_with<T, E: From<WriteError>>(
    dest: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> Result<T, E>,
) -> Result<T, E> {
    let tmp = temp_path(dest)?;
    let file = File::create(&tmp).map_err(|e| WriteError::new(dest, e))?;
    let mut w = BufWriter::new(file);
    let result = fill(&mut w).and_then(|v| {
        let file = w
            .into_inner()
            .map_err(|e| WriteError::new(dest, e.into_error()))?;
        file.sync_all().map_err(|e| WriteError::new(dest, e))?;
        drop(file);
        fs::rename(&tmp, dest).map_err(|e| WriteError::new(dest, e))?;
        Ok(v)
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Writes `dest` atomically through a library that only writes to a path
/// (an image encoder, an external program): `fill` must create the file at
/// the temp path it is given.
pub fn write_atomic_via<T, E: From<WriteError>>(
    dest: &Path,
    fill: impl FnOnce(&Path) -> Result<T, E>,
) -> Result<T, E> {
    let tmp = temp_path(dest)?;
    let result = fill(&tmp).and_then(|v| {
        commit(&tmp, dest)?;
        Ok(v)
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Checks, without writing it, that `dest` can be written: it is not a
/// folder, its folder exists, and a file can be created there. Commands
/// call this before hours of work whose result would otherwise be lost.
pub fn check_writable(dest: &Path) -> Result<(), WriteError> {
    let fail = |msg: String| {
        WriteError::new(
            dest,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, msg),
        )
    };
    if dest.is_dir() {
        return Err(fail("it is a folder; give a file name".into()));
    }
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(fail(format!("folder {} does not exist", dir.display())));
    }
    let probe = temp_path(dest)?;
    File::create(&probe).map_err(|e| WriteError::new(dest, e))?;
    let _ = fs::remove_file(&probe);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("expertsteer-atomic-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn concurrent_writers_of_one_path_all_succeed_and_leave_one_intact_file() {
        let dir = scratch("concurrent");
        let dest = dir.join("out.bin");
        let writers: Vec<_> = (0..8u8)
            .map(|k| {
                let dest = dest.clone();
                std::thread::spawn(move || write_atomic(&dest, &vec![k; 1 << 16]))
            })
            .collect();
        for w in writers {
            w.join().unwrap().unwrap();
        }
        let got = fs::read(&dest).unwrap();
        assert_eq!(got.len(), 1 << 16);
        assert!(
            got.iter().all(|&b| b == got[0]),
            "bytes of two writers mixed"
        );
        assert_eq!(entries(&dir), vec!["out.bin"], "a temp file was left");
    }

    #[test]
    fn temp_names_are_unique_per_process_and_per_call() {
        // Two `fit` processes with the same --out once shared one temp
        // name; the pid keeps processes apart, the counter calls.
        let dest = Path::new("/some/dir/run.steer");
        let (a, b) = (temp_path(dest).unwrap(), temp_path(dest).unwrap());
        assert_ne!(a, b);
        for t in [&a, &b] {
            let name = t.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                name.contains(&format!("-{}-", std::process::id())),
                "{name}"
            );
            assert!(name.starts_with(".run.tmp-") && name.ends_with(".steer"));
            assert_eq!(t.parent(), dest.parent());
        }
    }

    #[test]
    fn a_failed_write_names_the_destination_and_leaves_no_temp_file() {
        let dir = scratch("failed");
        let missing = dir.join("no-such-folder").join("x.steer");
        let e = write_atomic(&missing, b"abc").unwrap_err();
        assert_eq!(e.path, missing);
        assert!(e.to_string().contains("no-such-folder/x.steer"), "{e}");

        let dest = dir.join("kept.txt");
        write_atomic(&dest, b"old").unwrap();
        let e = write_atomic_with(&dest, |w| {
            w.write_all(b"new, half").unwrap();
            Err::<(), _>(WriteError::new(
                &dest,
                std::io::Error::other("checksum mismatch"),
            ))
        })
        .unwrap_err();
        assert!(e.to_string().contains("kept.txt"), "{e}");
        assert_eq!(fs::read(&dest).unwrap(), b"old");
        assert_eq!(entries(&dir), vec!["kept.txt"]);
    }

    #[test]
    fn writes_through_a_path_keep_the_extension_and_land_atomically() {
        let dir = scratch("via");
        let dest = dir.join("plot.png");
        write_atomic_via(&dest, |tmp| {
            assert_eq!(tmp.extension().unwrap(), "png");
            assert_eq!(tmp.parent(), dest.parent());
            fs::write(tmp, b"png bytes").map_err(|e| WriteError::new(&dest, e))
        })
        .unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"png bytes");
        assert_eq!(entries(&dir), vec!["plot.png"]);
    }

    #[test]
    fn unwritable_outputs_are_found_before_any_work() {
        let dir = scratch("check");
        check_writable(&dir.join("ok.steer")).unwrap();
        assert_eq!(entries(&dir), Vec::<String>::new(), "the probe was left");
        let e = check_writable(&dir).unwrap_err().to_string();
        assert!(e.contains("is a folder"), "{e}");
        let e = check_writable(&dir.join("nope").join("x.steer"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("nope/x.steer") && e.contains("does not exist"),
            "{e}"
        );
    }
}
