"""Make a steering file from Python: ``expertsteer fit`` with the same options.

Fitting loads the target (and the expert) with llama.cpp. It runs in a child
process, the ``expertsteer`` binary, so it never brings a second copy of
llama.cpp into a process that already has llama-cpp-python's: two copies of
ggml in one process disagree about their backends. Progress comes back as
JSON lines (``EXPERTSTEER_PROGRESS=json``) and reaches ``progress``.
"""

import json
import os
import pathlib
import shutil
import subprocess
from collections import deque

from . import errors
from .steerfile import SteerFile

_HERE = pathlib.Path(__file__).resolve().parent


def binary_path():
    """The ``expertsteer`` binary: ``$EXPERTSTEER_BIN``, the one bundled in
    this package, or the first on ``PATH``."""
    env = os.environ.get("EXPERTSTEER_BIN")
    if env:
        return pathlib.Path(env)
    bundled = _HERE / "_bin" / "expertsteer"
    if bundled.exists():
        return bundled
    found = shutil.which("expertsteer")
    if found:
        return pathlib.Path(found)
    raise errors.FitError(
        "the expertsteer binary is not bundled, not on PATH and EXPERTSTEER_BIN is unset: "
        "install the package from a built checkout (`bash scripts/setup.sh && pip install ./python`)"
    )


def _flags(options):
    """``layers=4, target_layers=[6, 12], chat=True`` → CLI flags."""
    argv = []
    for key, value in options.items():
        if value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif isinstance(value, (list, tuple)):
            argv += [flag, ",".join(str(v) for v in value)]
        else:
            argv += [flag, os.fspath(value) if isinstance(value, os.PathLike) else str(value)]
    return argv


def fit(data, out, *, progress=None, **options):
    """Fits a steering file and returns it as a :class:`SteerFile`.

    ``data`` is labelled JSON Lines (see ``expertsteer data build``), ``out``
    the file to write. Every other keyword is the CLI flag of the same name
    (``expertsteer fit --help``): ``target``, ``expert``, ``method``,
    ``align``, ``pair_by``, ``layers``, ``target_layers``, ``strength``,
    ``threads``, ... (underscores for dashes; True for a bare flag; a list
    for a comma-separated value). ``progress(stage, done, total)`` is called
    as the work moves (e.g. drive a ``tqdm`` bar with it). Raises
    :class:`FitError` with the command's message when it fails.
    """
    argv = [str(binary_path()), "fit", "--data", os.fspath(data), "--out", os.fspath(out)]
    argv += _flags(options)
    env = dict(os.environ, EXPERTSTEER_PROGRESS="json")
    tail = deque(maxlen=40)
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env, text=True
    ) as child:
        try:
            for line in child.stderr:
                line = line.rstrip("\n")
                event = _progress_event(line)
                if event is None:
                    if line.strip():
                        tail.append(line)
                elif progress is not None:
                    progress(event["stage"], event["done"], event["total"])
            child.stdout.read()
        except BaseException:
            child.kill()
            raise
    if child.returncode != 0:
        msg = "\n".join(tail) or f"expertsteer fit exited with {child.returncode}"
        raise errors.FitError(msg, child.returncode)
    return SteerFile(out)


def _progress_event(line):
    if not line.startswith('{"progress"'):
        return None
    try:
        return json.loads(line)["progress"]
    except (ValueError, KeyError, TypeError):
        return None
