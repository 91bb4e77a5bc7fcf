//! Runs one untrusted Python program (a model's solution plus its tests)
//! under limits, and says whether it passed.
//!
//! # Mechanism
//!
//! Each program runs in its own `python3 -I -S -B` process (isolated mode,
//! no `site`, no bytecode files), never in this process:
//!
//! - **Fresh folder, empty environment, no input.** A new folder under the
//!   temp root (mode 0700) holds only `program.py` and is the working
//!   directory; the environment is cleared; stdin is `/dev/null`; stdout
//!   and stderr are piped and only their last [`Limits::output_bytes`] are
//!   kept. The folder is deleted afterwards.
//! - **An unprivileged user.** When this process may change file owners
//!   (root), the folder is given to uid/gid [`SandboxConfig::user_id`]
//!   (65534, `nobody`) and the child is started as that user (std's safe
//!   `CommandExt::uid/gid`, which also drops supplementary groups). This
//!   matters because **root ignores `RLIMIT_NPROC`** and file permissions:
//!   as `nobody` the process-count limit holds (tested:
//!   `nproc_limit_blocks_forks_without_the_hook`) and root's home (0700)
//!   and root-owned files are out of reach. The launcher refuses to run if
//!   it is still root. Run as an ordinary user, the child keeps that
//!   user's id: its files are then protected by the audit hook only.
//! - **Resource limits** set by the launcher (`launcher.py`, embedded)
//!   before the program runs: `RLIMIT_AS` (memory), `RLIMIT_CPU` (soft,
//!   then SIGKILL a second later), `RLIMIT_NPROC` = 0 (no fork, no
//!   thread), `RLIMIT_FSIZE`, `RLIMIT_NOFILE`, `RLIMIT_CORE` = 0.
//! - **An audit hook** (`sys.addaudithook`) that refuses opening files
//!   for writing outside the folder, reading outside the folder and
//!   Python's own `sys.path`, more than [`Limits::created_files`] new
//!   files, process creation (`os.system`, `os.fork`, `os.exec*`,
//!   `subprocess`, `os.posix_spawn`), sockets, `ctypes`, changing limits,
//!   `gc` object listings, and importing the modules that do such things
//!   without an audit event (`_posixsubprocess`, `sqlite3`, `mmap`, ...).
//!   The hook keeps its state in closures and reads no module attribute
//!   at call time, so monkeypatching `os` or `builtins` does not loosen it.
//! - **Wall-clock limit** enforced here: the child is polled and, past
//!   [`Limits::wall_secs`], its whole process group is killed (it is
//!   started in a group of its own; the group is killed with `/bin/sh -c
//!   'kill -KILL -- -PGID'` since std has no safe group kill).
//! - **Passing needs a completion marker.** Exit status 0 is not enough:
//!   the launcher writes a per-run random nonce to stderr after the
//!   program has run to its end, so `sys.exit(0)`, `exit()` or
//!   `os._exit(0)` before the tests finish is a failure. Frames stay
//!   readable (`namedtuple`, `enum` and `typing` need `sys._getframe`), so
//!   a program that deliberately walks up to the launcher's frame can read
//!   the nonce: the marker catches accidental early exits, not forgery.
//!
//! # Limits of this sandbox (what it does not do)
//!
//! No namespaces and no seccomp filter: `unshare`/`bwrap` need privileges
//! that a default Docker container (seccomp profile, no `CAP_SYS_ADMIN`)
//! does not give, so nothing here depends on them. Python's audit hooks
//! are not a security boundary by design; a program that defeats the hook
//! (through a CPython bug) is still held by the user id, the resource
//! limits and the wall clock, but could then write into world-writable
//! folders (`/tmp`, `/dev/shm`; at most `RLIMIT_FSIZE` per file), read
//! world-readable files and open network connections. Grandchildren that
//! escaped both the hook and `RLIMIT_NPROC` and outlive a normally exiting
//! program are not hunted down. This is enough for scoring model-written
//! code (HumanEval); it is not a jail for adversarial code. The Python
//! interpreter must be readable by `nobody`: a Python installed under
//! root's home (pyenv) is not, and [`Sandbox::new`]'s self-test says so.

use serde::{Deserialize, Serialize};
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use thiserror::Error;

const LAUNCHER: &str = include_str!("launcher.py");
const READY: &[u8] = b"expertsteer-sandbox: ready\n";
const DONE: &str = "expertsteer-sandbox: done ";
/// Bytes of the start of stderr kept to find the ready marker.
const HEAD_BYTES: usize = 256;

/// Why the sandbox itself (not the program) failed.
#[derive(Debug, Error)]
pub enum SandboxError {
    /// The limits make no sense (zero, not finite).
    #[error("sandbox limits: {0}")]
    Limits(String),
    /// The interpreter could not be started.
    #[error("could not start {python}: {source}")]
    Spawn {
        /// The interpreter path.
        python: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The launcher did not get as far as running the program.
    #[error("sandbox set-up failed ({python}): {detail}")]
    Setup {
        /// The interpreter path.
        python: String,
        /// The launcher's stderr.
        detail: String,
    },
    /// The self-test of [`Sandbox::new`] gave the wrong verdict.
    #[error("sandbox self-test failed: {0}")]
    SelfTest(String),
    /// Making, filling or removing the program's folder failed.
    #[error("sandbox folder {path}: {source}")]
    Io {
        /// The folder or file concerned.
        path: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
}

impl From<SandboxError> for expertsteer::Error {
    fn from(e: SandboxError) -> expertsteer::Error {
        expertsteer::Error::Tool(Box::new(e))
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SandboxError + '_ {
    move |source| SandboxError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// What one program may use.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Wall-clock seconds before the process group is killed.
    pub wall_secs: f64,
    /// CPU seconds (`RLIMIT_CPU`, soft; SIGKILL one second later).
    pub cpu_secs: u64,
    /// Address space in bytes (`RLIMIT_AS`).
    pub memory_bytes: u64,
    /// Largest file the program may write, in bytes (`RLIMIT_FSIZE`).
    pub file_bytes: u64,
    /// Open file descriptors (`RLIMIT_NOFILE`).
    pub open_files: u64,
    /// Files the program may create in its folder (audit hook).
    pub created_files: u64,
    /// Bytes of stdout and of stderr kept (the last ones).
    pub output_bytes: usize,
}

impl Default for Limits {
    /// 10 s wall, 5 s CPU, 1 GiB of address space, 4 MiB per file, 64
    /// open files, 32 created files, 16 KiB of each output stream. The
    /// official HumanEval harness allows 3 s per program; a busy 2-core
    /// machine needs the margin, and no canonical solution comes near it.
    fn default() -> Self {
        Limits {
            wall_secs: 10.0,
            cpu_secs: 5,
            memory_bytes: 1 << 30,
            file_bytes: 4 << 20,
            open_files: 64,
            created_files: 32,
            output_bytes: 16 << 10,
        }
    }
}

impl Limits {
    fn check(&self) -> Result<(), SandboxError> {
        let bad = |m: &str| Err(SandboxError::Limits(m.to_string()));
        if !(self.wall_secs.is_finite() && self.wall_secs > 0.0) {
            return bad("wall_secs must be a positive number");
        }
        if self.cpu_secs == 0 || self.memory_bytes < (64 << 20) || self.open_files < 16 {
            return bad("cpu_secs >= 1, memory_bytes >= 64 MiB and open_files >= 16 are needed to start Python");
        }
        if self.output_bytes < 1024 {
            return bad("output_bytes must be at least 1024");
        }
        Ok(())
    }
}

/// How to run programs.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxConfig {
    /// The Python 3 interpreter (see [`default_python`]).
    pub python: PathBuf,
    /// Per-program limits.
    pub limits: Limits,
    /// The unprivileged uid and gid programs run as when this process is
    /// root (65534, `nobody` / `nogroup` on Debian).
    pub user_id: u32,
    /// Where program folders are made (the system temp folder). It must be
    /// searchable by [`SandboxConfig::user_id`].
    pub temp_root: PathBuf,
    /// Install the audit hook. Always on in use; off only for tests that
    /// check the other layers alone.
    pub audit_hook: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            python: default_python(),
            limits: Limits::default(),
            user_id: 65534,
            temp_root: std::env::temp_dir(),
            audit_hook: true,
        }
    }
}

/// `/usr/bin/python3` when it exists (the system interpreter, readable by
/// every user), else the first `python3` on `PATH`.
pub fn default_python() -> PathBuf {
    let system = PathBuf::from("/usr/bin/python3");
    if system.exists() {
        return system;
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("python3"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("python3"))
}

/// The verdict on one program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// Ran to its end without an exception.
    Passed,
    /// Raised an exception, exited non-zero, or exited before its end.
    Failed {
        /// The exit status, if it exited.
        exit_code: Option<i32>,
        /// Why: the end of its stderr, or what went wrong.
        detail: String,
    },
    /// Killed at the wall-clock limit.
    TimedOut,
    /// Killed at the CPU-time limit (SIGXCPU).
    CpuLimit,
    /// Killed by another signal (SIGKILL after the CPU limit, SIGSEGV, ...).
    Killed {
        /// The signal number.
        signal: i32,
        /// The end of its stderr.
        detail: String,
    },
}

impl Outcome {
    /// Whether the program passed.
    pub fn passed(&self) -> bool {
        matches!(self, Outcome::Passed)
    }

    /// One line for progress output: `passed`, `failed: AssertionError`, ...
    pub fn summary(&self) -> String {
        let last_line = |d: &str| {
            d.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .chars()
                .take(100)
                .collect::<String>()
        };
        match self {
            Outcome::Passed => "passed".into(),
            Outcome::Failed { detail, .. } => format!("failed: {}", last_line(detail)),
            Outcome::TimedOut => "timed out (wall clock)".into(),
            Outcome::CpuLimit => "CPU limit".into(),
            Outcome::Killed { signal, .. } => format!("killed by signal {signal}"),
        }
    }
}

/// One program's run.
#[derive(Debug, Clone, PartialEq)]
pub struct Execution {
    /// The verdict.
    pub outcome: Outcome,
    /// Wall-clock seconds from spawn to exit (or kill).
    pub wall_secs: f64,
    /// The end of stdout.
    pub stdout_tail: String,
    /// The end of stderr, without the launcher's markers.
    pub stderr_tail: String,
}

/// Runs programs under [`SandboxConfig`]; checked by a self-test when made.
#[derive(Debug, Clone)]
pub struct Sandbox {
    config: SandboxConfig,
    /// The uid/gid children run as, or None to keep ours (not root).
    run_as: Option<u32>,
}

impl Sandbox {
    /// Checks the limits, finds out whether programs can run as
    /// [`SandboxConfig::user_id`] (this process is root) and runs a
    /// self-test: a correct program must pass and a wrong one fail.
    pub fn new(config: SandboxConfig) -> Result<Sandbox, SandboxError> {
        config.limits.check()?;
        let probe = Workdir::create(&config.temp_root)?;
        let run_as =
            match std::os::unix::fs::chown(&probe.path, Some(config.user_id), Some(config.user_id))
            {
                Ok(()) => Some(config.user_id),
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => None,
                Err(e) => return Err(io_err(&probe.path)(e)),
            };
        drop(probe);
        let sandbox = Sandbox { config, run_as };
        let hint = format!(
            "is {} a Python 3 that {} can read (not one installed under a private home, \
             such as pyenv under /root)?",
            sandbox.config.python.display(),
            sandbox.user()
        );
        let good = sandbox.run("import math\nassert math.isqrt(16) == 4\nprint('ok')\n")?;
        if !good.outcome.passed() || good.stdout_tail.trim() != "ok" {
            return Err(SandboxError::SelfTest(format!(
                "a correct program gave {:?} (stderr: {}); {hint}",
                good.outcome,
                good.stderr_tail.trim()
            )));
        }
        let bad = sandbox.run("assert 1 + 1 == 3\n")?;
        if bad.outcome.passed() {
            return Err(SandboxError::SelfTest(
                "a failing assertion was scored as passed".into(),
            ));
        }
        Ok(sandbox)
    }

    /// Who programs run as, in words.
    pub fn user(&self) -> String {
        match self.run_as {
            Some(id) => format!("uid/gid {id}"),
            None => "this process's own user".into(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    /// Runs `program` (Python source) once. `Err` only when the sandbox
    /// itself failed; everything the program does is an [`Outcome`].
    pub fn run(&self, program: &str) -> Result<Execution, SandboxError> {
        let l = &self.config.limits;
        let dir = Workdir::create(&self.config.temp_root)?;
        let file = dir.path.join("program.py");
        std::fs::write(&file, program).map_err(io_err(&file))?;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644))
            .map_err(io_err(&file))?;
        if let Some(id) = self.run_as {
            for p in [&dir.path, &file] {
                std::os::unix::fs::chown(p, Some(id), Some(id)).map_err(io_err(p))?;
            }
        }
        let nonce = nonce();
        let mut cmd = Command::new(&self.config.python);
        cmd.args(["-I", "-S", "-B", "-c", LAUNCHER, "program.py"])
            .arg(l.cpu_secs.to_string())
            .arg(l.memory_bytes.to_string())
            .arg(l.file_bytes.to_string())
            .arg(l.open_files.to_string())
            .arg(l.created_files.to_string())
            .arg(if self.config.audit_hook { "1" } else { "0" })
            .arg(&nonce)
            .env_clear()
            .current_dir(&dir.path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        if let Some(id) = self.run_as {
            cmd.uid(id).gid(id);
        }
        let python = self.config.python.display().to_string();
        let started = Instant::now();
        let mut child = cmd.spawn().map_err(|source| SandboxError::Spawn {
            python: python.clone(),
            source,
        })?;
        let stdout = spawn_reader(child.stdout.take(), l.output_bytes);
        let stderr = spawn_reader(child.stderr.take(), l.output_bytes);
        let wall = Duration::from_secs_f64(l.wall_secs);
        let mut step = Duration::from_millis(1);
        let status = loop {
            match child.try_wait() {
                Ok(Some(st)) => break Some(st),
                Ok(None) => {}
                Err(e) => return Err(io_err(Path::new(&python))(e)),
            }
            let elapsed = started.elapsed();
            if elapsed >= wall {
                // Group first, while the leader is unreaped and its pid
                // (the group id) cannot be reused.
                kill_group(child.id());
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(step.min(wall - elapsed));
            step = (step * 2).min(Duration::from_millis(20));
        };
        let wall_secs = started.elapsed().as_secs_f64();
        let out = collect(stdout, child.id());
        let err = collect(stderr, child.id());
        let stderr_all = err.text();
        let stdout_tail = out.text();
        let Some(status) = status else {
            return Ok(Execution {
                outcome: Outcome::TimedOut,
                wall_secs,
                stdout_tail,
                stderr_tail: strip_markers(&stderr_all),
            });
        };
        if !err.head.starts_with(READY) {
            return Err(SandboxError::Setup {
                python,
                detail: format!("{status}: {}", stderr_all.trim()),
            });
        }
        let done_line = format!("{DONE}{nonce}\n");
        let stderr_tail = strip_markers(&stderr_all);
        let outcome = match (status.code(), status.signal()) {
            (Some(0), _) if stderr_all.ends_with(&done_line) => Outcome::Passed,
            (Some(0), _) => Outcome::Failed {
                exit_code: Some(0),
                detail: format!(
                    "{}exited before the end of the program",
                    with_newline(&stderr_tail)
                ),
            },
            (Some(code), _) => Outcome::Failed {
                exit_code: Some(code),
                detail: stderr_tail.clone(),
            },
            (None, Some(24)) => Outcome::CpuLimit, // SIGXCPU
            (None, Some(signal)) => Outcome::Killed {
                signal,
                detail: stderr_tail.clone(),
            },
            (None, None) => Outcome::Killed {
                signal: 0,
                detail: stderr_tail.clone(),
            },
        };
        Ok(Execution {
            outcome,
            wall_secs,
            stdout_tail,
            stderr_tail,
        })
    }
}

fn with_newline(s: &str) -> String {
    if s.trim().is_empty() {
        String::new()
    } else {
        format!("{}\n", s.trim_end())
    }
}

/// stderr without the launcher's ready and done lines.
fn strip_markers(s: &str) -> String {
    let s = s
        .strip_prefix(std::str::from_utf8(READY).expect("ascii"))
        .unwrap_or(s);
    match s.rfind(DONE) {
        Some(i) if !s[i..].trim_end().contains('\n') => s[..i].trim_end().to_string(),
        _ => s.to_string(),
    }
}

/// A fresh 0700 folder, removed on drop.
struct Workdir {
    path: PathBuf,
}

impl Workdir {
    fn create(root: &Path) -> Result<Workdir, SandboxError> {
        for _ in 0..16 {
            let path = root.join(format!(
                "expertsteer-sandbox-{}-{}",
                std::process::id(),
                &nonce()[..16]
            ));
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(Workdir { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_err(&path)(e)),
            }
        }
        Err(SandboxError::Io {
            path: root.display().to_string(),
            source: std::io::Error::other("no free folder name after 16 tries"),
        })
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// 128 random bits as hex, from std's per-process random hash keys.
fn nonce() -> String {
    use std::hash::{BuildHasher, Hasher};
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let word = || {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(n);
        h.write_u128(t);
        h.finish()
    };
    format!("{:016x}{:016x}", word(), word())
}

/// Kills every process in group `pgid` (the child's own group).
fn kill_group(pgid: u32) {
    let _ = Command::new("/bin/sh")
        .args(["-c", "kill -KILL -- -\"$0\"", &pgid.to_string()])
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The start and the end of one output stream.
#[derive(Default)]
struct Captured {
    head: Vec<u8>,
    tail: Vec<u8>,
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.tail).into_owned()
    }
}

fn spawn_reader(pipe: Option<impl Read + Send + 'static>, cap: usize) -> mpsc::Receiver<Captured> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut c = Captured::default();
        if let Some(mut pipe) = pipe {
            let mut buf = [0u8; 8192];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let piece = &buf[..n];
                let room = HEAD_BYTES.saturating_sub(c.head.len());
                c.head.extend_from_slice(&piece[..room.min(n)]);
                c.tail.extend_from_slice(piece);
                if c.tail.len() > 2 * cap {
                    c.tail.drain(..c.tail.len() - cap);
                }
            }
            if c.tail.len() > cap {
                c.tail.drain(..c.tail.len() - cap);
            }
        }
        let _ = tx.send(c);
    });
    rx
}

/// The reader's result; if a stray process still holds the pipe open after
/// the child is gone, its group is killed and whatever is left given up.
fn collect(rx: mpsc::Receiver<Captured>, pgid: u32) -> Captured {
    match rx.recv_timeout(Duration::from_secs(2)) {
        Ok(c) => c,
        Err(_) => {
            kill_group(pgid);
            rx.recv_timeout(Duration::from_secs(1)).unwrap_or_default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_stripped_only_where_the_launcher_writes_them() {
        let s = "expertsteer-sandbox: ready\nwarning\n\nexpertsteer-sandbox: done abc\n";
        assert_eq!(strip_markers(s), "warning");
        // A "done" text in the middle of the program's output stays.
        let t = "expertsteer-sandbox: ready\nexpertsteer-sandbox: done x\nmore\n";
        assert_eq!(strip_markers(t), "expertsteer-sandbox: done x\nmore\n");
    }

    #[test]
    fn bad_limits_are_refused_before_anything_runs() {
        let mut c = SandboxConfig::default();
        c.limits.wall_secs = f64::NAN;
        assert!(matches!(Sandbox::new(c), Err(SandboxError::Limits(_))));
        let mut c = SandboxConfig::default();
        c.limits.memory_bytes = 1 << 20;
        assert!(matches!(Sandbox::new(c), Err(SandboxError::Limits(_))));
    }

    #[test]
    fn nonces_differ() {
        let a: std::collections::HashSet<String> = (0..1000).map(|_| nonce()).collect();
        assert_eq!(a.len(), 1000);
        assert!(a.iter().all(|n| n.len() == 32));
    }
}
