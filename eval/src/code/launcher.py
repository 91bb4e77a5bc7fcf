# The sandbox launcher: run by `sandbox.rs` as
#   python3 -I -S -B -c <this file> PROGRAM CPU_SECS AS_BYTES FSIZE_BYTES NOFILE MAX_CREATED HOOK NONCE
# already as an unprivileged user, in a fresh folder that is its working
# directory. It sets resource limits, installs an audit hook, then runs
# PROGRAM. It writes READY to stderr once set up, and DONE + NONCE (raw
# fd 2) only if PROGRAM ran to its end without an exception: a program
# that exits early (sys.exit(0), os._exit(0)) does not pass.
#
# The nonce is kept out of module globals, sys.argv and sys.orig_argv, and
# the hook reads no module attribute at call time, so monkeypatching os or
# builtins cannot change what it allows. Frames stay readable (namedtuple,
# enum and typing need sys._getframe): a program that walks up to _main's
# frame can read the nonce. The marker stops accidental early exits, not a
# deliberate forgery.


def _main():
    import os
    import resource
    import sys

    write_fd = os.write
    args = sys.argv[1:]
    sys.argv[:] = ["program.py"]
    sys.orig_argv[:] = []
    if len(args) != 8:
        write_fd(2, b"expertsteer-sandbox: setup failed: bad launcher arguments\n")
        os._exit(3)
    program, cpu, mem, fsize, nofile, max_created, hook_on, nonce = args
    if os.geteuid() == 0 or os.getuid() == 0:
        # Root ignores RLIMIT_NPROC and file permissions: refuse to run.
        write_fd(2, b"expertsteer-sandbox: setup failed: still running as root\n")
        os._exit(3)
    work = os.getcwd()
    with open(program, "rb") as f:
        source = f.read()

    def limit(what, value):
        resource.setrlimit(what, (value, value))

    limit(resource.RLIMIT_CORE, 0)
    limit(resource.RLIMIT_AS, int(mem))
    limit(resource.RLIMIT_FSIZE, int(fsize))
    limit(resource.RLIMIT_NOFILE, int(nofile))
    # Counts every process and thread of this (unprivileged) user: 0 means
    # no fork, no thread.
    limit(resource.RLIMIT_NPROC, 0)
    # Soft limit: SIGXCPU; one second later the hard limit: SIGKILL.
    resource.setrlimit(resource.RLIMIT_CPU, (int(cpu), int(cpu) + 1))

    if hook_on == "1":
        sys.addaudithook(_make_hook(work, sys.path, int(max_created), os))

    write_fd(2, b"expertsteer-sandbox: ready\n")
    code = compile(source, "program.py", "exec")
    exec(code, {"__name__": "__main__", "__builtins__": __builtins__})
    write_fd(2, b"\nexpertsteer-sandbox: done " + nonce.encode() + b"\n")


def _make_hook(work, path_entries, max_created, os):
    # Bound now: later changes to os, builtins or str cannot reach them.
    _isinstance, _len, _bytes, _int = isinstance, len, bytes, int
    _fsdecode, _fspath = os.fsdecode, os.fspath
    _perm = PermissionError
    write_mask = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    creat = os.O_CREAT
    created = 0

    def norm(path):
        # Lexical: the program cannot make symlinks (os.symlink is refused)
        # and its folder starts empty, so ".." and "." are all there is.
        if not path.startswith("/"):
            path = work + "/" + path
        out = []
        for part in path.split("/"):
            if part == "" or part == ".":
                continue
            if part == "..":
                if out:
                    out.pop()
                continue
            out.append(part)
        return "/" + "/".join(out)

    def under(path, roots):
        for r in roots:
            if path == r or path.startswith(r + "/"):
                return True
        return False

    write_roots = (norm(work),)
    read_roots = tuple(norm(p) for p in path_entries if p) + write_roots
    read_files = ("/dev/null", "/dev/urandom")
    write_files = ("/dev/null",)

    def resolve(p):
        if p is None:
            return norm(work)
        p = _fspath(p)
        if _isinstance(p, _bytes):
            p = _fsdecode(p)
        return norm(p)

    def check(p, write):
        if _isinstance(p, _int):
            return  # an open file descriptor: its path was checked when opened
        q = resolve(p)
        if write:
            if under(q, write_roots) or q in write_files:
                return
        elif under(q, read_roots) or q in read_files:
            return
        raise _perm("sandbox: %s access to %s refused" % ("write" if write else "read", q))

    refused_modules = frozenset((
        "ctypes", "_ctypes", "cffi", "_posixsubprocess", "subprocess",
        "multiprocessing", "_multiprocessing", "concurrent", "socket",
        "_socket", "ssl", "_ssl", "select", "selectors", "asyncio", "pty",
        "fcntl", "mmap", "sqlite3", "_sqlite3", "dbm", "_dbm", "_gdbm",
        "_testcapi", "_testinternalcapi", "_testbuffer",
        "_xxsubinterpreters", "_xxinterpchannels",
    ))
    refused_prefixes = (
        "os.system", "os.exec", "os.fork", "os.forkpty", "os.posix_spawn",
        "os.spawn", "os.kill", "os.killpg", "os.chown", "os.lchown",
        "os.chflags", "os.lchflags", "os.link", "os.symlink", "os.setxattr",
        "os.removexattr", "os.chdir", "os.chroot", "os.mkfifo", "os.mknod",
        "os.startfile", "subprocess.", "socket.", "ctypes.", "resource.",
        "gc.get_", "sys._current_frames", "sys.settrace",
        "sys.setprofile", "sys._setprofileallthreads", "sys._settraceallthreads",
        "code.__new__", "cpython.", "pty.", "mmap.", "sqlite3.", "syslog.",
        "webbrowser.", "urllib.", "ftplib.", "smtplib.", "poplib.", "imaplib.",
        "nntplib.", "telnetlib.", "http.client.", "_thread.start_new_thread",
        "winreg.", "msvcrt.",
    )
    write_events = frozenset(("os.mkdir", "os.remove", "os.rmdir", "os.truncate", "os.chmod", "os.utime"))

    def hook(event, args):
        nonlocal created
        if event == "open":
            path, _mode, flags = args
            write = flags & write_mask != 0
            check(path, write)
            if write and flags & creat:
                created += 1
                if created > max_created:
                    raise _perm("sandbox: too many files created")
        elif event == "import":
            name = args[0]
            if name.split(".")[0] in refused_modules:
                raise _perm("sandbox: import of %s refused" % name)
        elif event in write_events:
            # (path, ..., dir_fd): a path relative to another folder is refused.
            if _len(args) > 1 and args[-1] is not None and event != "os.truncate":
                raise _perm("sandbox: %s with dir_fd refused" % event)
            check(args[0], True)
        elif event == "os.rename":
            src, dst, src_fd, dst_fd = args
            if src_fd is not None or dst_fd is not None:
                raise _perm("sandbox: os.rename with dir_fd refused")
            check(src, True)
            check(dst, True)
        elif event == "os.listdir" or event == "os.scandir":
            check(args[0], False)
        else:
            for p in refused_prefixes:
                if event.startswith(p):
                    raise _perm("sandbox: %s refused" % event)

    return hook


_main()
