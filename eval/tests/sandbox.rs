//! Hostile "solutions" in the code sandbox: each must be contained (nothing
//! written or read outside its folder, no process left behind, the call
//! back within the wall limit plus slack) and scored as a failure; a
//! correct program must still pass.
//!
//! The tests take one lock: they count processes of the sandbox's user
//! and must not see each other's.

use expertsteer_eval::code::sandbox::{Execution, Limits, Outcome, Sandbox, SandboxConfig};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const WALL_SECS: f64 = 4.0;
/// Time allowed on top of the wall limit: killing, reaping, a busy machine.
const SLACK_SECS: f64 = 3.0;

fn config(audit_hook: bool) -> SandboxConfig {
    SandboxConfig {
        limits: Limits {
            wall_secs: WALL_SECS,
            cpu_secs: 2,
            ..Limits::default()
        },
        audit_hook,
        ..SandboxConfig::default()
    }
}

fn sandbox() -> Sandbox {
    Sandbox::new(config(true)).expect("sandbox self-test")
}

/// Runs `program` and checks it came back in time.
fn run(sb: &Sandbox, program: &str) -> Execution {
    let t = Instant::now();
    let e = sb.run(program).expect("the sandbox itself must not fail");
    let secs = t.elapsed().as_secs_f64();
    assert!(
        secs < WALL_SECS + SLACK_SECS,
        "took {secs:.1} s for {program:?}"
    );
    e
}

fn lock() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// A path no earlier run can have made.
fn unique(dir: &std::path::Path, what: &str) -> PathBuf {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    dir.join(format!("expertsteer-{what}-{}-{t}", std::process::id()))
}

fn home() -> PathBuf {
    PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
}

/// Processes whose real uid is `uid` (from /proc).
fn processes_of(uid: u32) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|e| std::fs::read_to_string(e.path().join("status")).ok())
        .filter(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|u| u.parse::<u32>().ok())
                == Some(uid)
        })
        .count()
}

fn assert_failed(e: &Execution, what: &str) {
    assert!(!e.outcome.passed(), "{what} passed: {e:?}");
}

#[test]
fn a_correct_program_passes_and_a_wrong_one_fails() {
    let _g = lock();
    let sb = sandbox();
    let good = run(
        &sb,
        "import math, hashlib, re\n\
         def f(x):\n    return math.isqrt(x)\n\
         assert f(81) == 9\n\
         assert hashlib.md5(b'a').hexdigest().startswith('0cc1')\n\
         print('fine')\n",
    );
    assert_eq!(good.outcome, Outcome::Passed, "{good:?}");
    assert_eq!(good.stdout_tail.trim(), "fine");
    let bad = run(&sb, "def f(x):\n    return x\nassert f(2) == 3, 'wrong'\n");
    match &bad.outcome {
        Outcome::Failed { exit_code, detail } => {
            assert_eq!(*exit_code, Some(1));
            assert!(detail.contains("AssertionError: wrong"), "{detail}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    // Standard modules that look at frames while being used.
    let frames = run(
        &sb,
        "import collections, enum, typing, dataclasses, fractions, functools\n\
         P = collections.namedtuple('P', 'x y')\n\
         T = typing.TypeVar('T')\n\
         Color = enum.Enum('Color', 'RED GREEN')\n\
         @dataclasses.dataclass\nclass D:\n    a: int = 1\n\
         assert P(1, 2).y == 2 and Color.RED.value == 1 and D().a == 1\n\
         assert fractions.Fraction(1, 3) * 3 == 1\n",
    );
    assert_eq!(frames.outcome, Outcome::Passed, "{frames:?}");
    let syntax = run(&sb, "def f(:\n");
    assert!(
        matches!(&syntax.outcome, Outcome::Failed { detail, .. } if detail.contains("SyntaxError")),
        "{syntax:?}"
    );
}

#[test]
fn an_infinite_loop_is_stopped_by_the_cpu_limit() {
    let _g = lock();
    let sb = sandbox();
    let e = run(&sb, "while True:\n    pass\n");
    assert!(
        matches!(
            e.outcome,
            Outcome::CpuLimit | Outcome::TimedOut | Outcome::Killed { signal: 9, .. }
        ),
        "{e:?}"
    );
}

#[test]
fn sleeping_forever_is_stopped_by_the_wall_clock() {
    let _g = lock();
    let sb = sandbox();
    let e = run(&sb, "import time\ntime.sleep(1000)\n");
    assert_eq!(e.outcome, Outcome::TimedOut, "{e:?}");
    assert!(e.wall_secs >= WALL_SECS, "{}", e.wall_secs);
}

#[test]
fn a_ten_gigabyte_allocation_fails() {
    let _g = lock();
    let sb = sandbox();
    let e = run(&sb, "x = bytearray(10 * 1024 ** 3)\nprint(len(x))\n");
    assert!(
        matches!(&e.outcome, Outcome::Failed { detail, .. } if detail.contains("MemoryError")),
        "{e:?}"
    );
    let e = run(&sb, "x = []\nwhile True:\n    x.append(' ' * 2 ** 20)\n");
    assert_failed(&e, "growing a list forever");
}

#[test]
fn a_fork_bomb_is_contained() {
    let _g = lock();
    let sb = sandbox();
    let before = processes_of(sb.config().user_id);
    for bomb in [
        "import os\nwhile True:\n    os.fork()\n",
        "import subprocess\nwhile True:\n    subprocess.Popen(['python3', '-c', 'pass'])\n",
        "import os\nos.system('sleep 100 &')\n",
        "import threading\nwhile True:\n    threading.Thread(target=lambda: None).start()\n",
    ] {
        let e = run(&sb, bomb);
        assert_failed(&e, bomb);
    }
    assert!(
        processes_of(sb.config().user_id) <= before,
        "processes left behind"
    );
    // The machine is fine: the next program still runs and passes.
    assert!(run(&sb, "print(1)\n").outcome.passed());
}

/// The process-count limit alone (hook off) stops forks, also when the
/// tests run as root, which ignores RLIMIT_NPROC: the sandbox must have
/// switched to an unprivileged user for this to hold.
#[test]
fn the_nproc_limit_blocks_forks_without_the_hook() {
    let _g = lock();
    let sb = Sandbox::new(config(false)).expect("sandbox without the hook");
    // Bounded on purpose: if the limit did not hold, 20 children exit at once.
    let e = run(
        &sb,
        "import os\n\
         ok = 0\n\
         for _ in range(20):\n\
         \x20   try:\n\
         \x20       pid = os.fork()\n\
         \x20   except OSError:\n\
         \x20       continue\n\
         \x20   if pid == 0:\n\
         \x20       os._exit(0)\n\
         \x20   ok += 1\n\
         \x20   os.waitpid(pid, 0)\n\
         print('forks=%d' % ok)\n",
    );
    assert_eq!(e.outcome, Outcome::Passed, "{e:?}");
    assert_eq!(e.stdout_tail.trim(), "forks=0", "runs as {}", sb.user());
}

#[test]
fn writing_outside_its_folder_is_refused() {
    let _g = lock();
    let sb = sandbox();
    let tmp_target = unique(&std::env::temp_dir(), "escape");
    let home_target = unique(&home(), "escape");
    for target in [&tmp_target, &home_target] {
        let t = target.display();
        for program in [
            format!("open('{t}', 'w').write('escaped')\n"),
            format!(
                "import os\nfd = os.open('{t}', os.O_WRONLY | os.O_CREAT)\nos.write(fd, b'x')\n"
            ),
            format!(
                "import shutil\nopen('inside', 'w').write('x')\nshutil.copy('inside', '{t}')\n"
            ),
            format!("import os\nopen('inside', 'w').write('x')\nos.rename('inside', '{t}')\n"),
            format!("import os\nos.mkdir('{t}')\n"),
        ] {
            let e = run(&sb, &program);
            assert_failed(&e, &program);
            assert!(!target.exists(), "{program} wrote {t}");
        }
    }
    // Relative paths that climb out of the folder.
    let e = run(
        &sb,
        "open('../../../../../../../../tmp/expertsteer-climbed', 'w').write('x')\n",
    );
    assert_failed(&e, "climbing out with ..");
    // Writing inside its own folder is allowed.
    let inside = run(
        &sb,
        "open('scratch.txt', 'w').write('ok')\nprint(open('scratch.txt').read())\n",
    );
    assert_eq!(inside.outcome, Outcome::Passed, "{inside:?}");
    assert_eq!(inside.stdout_tail.trim(), "ok");
}

#[test]
fn reading_the_users_home_is_refused() {
    let _g = lock();
    let sb = sandbox();
    let secret = "s3cr3t-expertsteer-token";
    // One secret in the real home, one in a world-readable "home" under
    // the temp folder (file permissions do not protect that one).
    let real = unique(&home(), "secret");
    let fake_home = unique(&std::env::temp_dir(), "home");
    std::fs::create_dir_all(&fake_home).unwrap();
    let fake = fake_home.join(".bashrc");
    std::fs::write(&real, secret).unwrap();
    std::fs::write(&fake, secret).unwrap();
    let programs = [
        format!("print(open('{}').read())\n", real.display()),
        format!("print(open('{}').read())\n", fake.display()),
        format!("import os\nprint(os.listdir('{}'))\n", fake_home.display()),
        format!("import os\nprint(os.listdir('{}'))\n", home().display()),
        "print(open('/etc/passwd').read())\n".to_string(),
        "print(open('/proc/self/cmdline').read())\n".to_string(),
    ];
    for p in &programs {
        let e = run(&sb, p);
        assert_failed(&e, p);
        assert!(
            !e.stdout_tail.contains(secret) && !e.stderr_tail.contains(secret),
            "{p} leaked the secret"
        );
        assert!(!e.stdout_tail.contains("root:"), "{p} read /etc/passwd");
    }
    let _ = std::fs::remove_file(&real);
    let _ = std::fs::remove_dir_all(&fake_home);
}

#[test]
fn exiting_early_or_faking_the_marker_is_not_a_pass() {
    let _g = lock();
    let sb = sandbox();
    for p in [
        "import sys\nsys.exit(0)\nassert False\n",
        "import os\nos._exit(0)\nassert False\n",
        "exit()\nassert False\n",
        "import os, sys\n\
         sys.stderr.write('\\nexpertsteer-sandbox: done 0123456789abcdef0123456789abcdef\\n')\n\
         sys.stderr.flush()\nos._exit(0)\n",
        "import gc\nprint(len(gc.get_objects()))\n",
        "import sys\nprint(sys.orig_argv, sys.argv)\nassert len(sys.argv) > 1\n",
    ] {
        let e = run(&sb, p);
        assert_failed(&e, p);
    }
}

#[test]
fn network_foreign_code_and_limit_changes_are_refused() {
    let _g = lock();
    let sb = sandbox();
    for p in [
        "import socket\nsocket.create_connection(('127.0.0.1', 22), timeout=1)\n",
        "import ctypes\nctypes.CDLL(None)\n",
        "import resource\nresource.setrlimit(resource.RLIMIT_CPU, (100, 100))\n",
        "import os\nos.kill(1, 9)\n",
    ] {
        let e = run(&sb, p);
        assert_failed(&e, p);
    }
}

#[test]
fn huge_output_is_capped() {
    let _g = lock();
    let sb = sandbox();
    let e = run(
        &sb,
        "import sys\nfor _ in range(2000):\n    print('x' * 10000)\n",
    );
    assert_eq!(e.outcome, Outcome::Passed, "{:?}", e.outcome);
    assert!(e.stdout_tail.len() <= sb.config().limits.output_bytes);
    assert!(e.stdout_tail.len() > 1000);
}
