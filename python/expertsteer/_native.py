"""The C ABI (libexpertsteer_c) through ctypes: where the library is, the
signatures of its functions, and turning status codes into exceptions.

The library is found, in order, at ``$EXPERTSTEER_LIB``, then bundled in this
package (``_bin/``, copied there by ``pip install``)."""

import ctypes
import math
import os
import pathlib

from . import errors

ES_OK = 0
ES_ALL_SEQS = -1
POSITIONS = {"all": 0, "generated": 1}

_HERE = pathlib.Path(__file__).resolve().parent
_lib = None


def library_path():
    """The libexpertsteer_c this package uses."""
    env = os.environ.get("EXPERTSTEER_LIB")
    if env:
        return pathlib.Path(env)
    return _HERE / "_bin" / "libexpertsteer_c.so"


def _declare(lib):
    c_int, c_void_p, c_size_t, c_float = ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_float
    pp = ctypes.POINTER(c_void_p)
    sig = {
        "es_last_error": ([], ctypes.c_char_p),
        "es_steer_read": ([ctypes.c_char_p, pp], c_int),
        "es_steer_check_model": ([c_void_p, c_void_p, c_void_p], c_int),
        "es_steer_info_json": ([c_void_p], ctypes.c_char_p),
        "es_steer_directions": ([c_void_p, ctypes.POINTER(c_float), c_size_t], c_int),
        "es_steer_default_strength": ([c_void_p], c_float),
        "es_steer_control_vector_len": ([c_void_p], c_size_t),
        "es_steer_control_vector": (
            [c_void_p, c_float, ctypes.POINTER(c_float), c_size_t,
             ctypes.POINTER(ctypes.c_int32), ctypes.POINTER(ctypes.c_int32)],
            c_int,
        ),
        "es_steer_free": ([c_void_p], None),
        "es_host_from_library": ([c_void_p, pp], c_int),
        "es_host_free": ([c_void_p], None),
        "es_hook_new_host": ([c_void_p, c_void_p, pp], c_int),
        "es_hook_free": ([c_void_p], None),
        "es_hook_install": ([c_void_p, c_void_p], c_int),
        "es_hook_set_steer": ([c_void_p, ctypes.c_int32, c_void_p, c_float, ctypes.c_int32], c_int),
        "es_hook_set_ablation": ([c_void_p, ctypes.c_int32, c_void_p], c_int),
        "es_hook_set_generating": ([c_void_p, ctypes.c_int32, ctypes.c_bool], c_int),
        "es_hook_begin_batch": ([c_void_p, c_void_p], c_int),
        "es_hook_check": ([c_void_p], c_int),
    }
    for name, (args, res) in sig.items():
        f = getattr(lib, name)
        f.argtypes = args
        f.restype = res


def lib():
    """The loaded library (loaded once, on first use)."""
    global _lib
    if _lib is None:
        path = library_path()
        if not path.exists():
            raise errors.HostError(
                f"{path} is missing: install the package from a built checkout "
                "(`bash scripts/setup.sh && pip install ./python`) or set EXPERTSTEER_LIB"
            )
        loaded = ctypes.CDLL(str(path))
        _declare(loaded)
        _lib = loaded
    return _lib


def check(rc):
    """Raises the exception for a status code (with the library's message)."""
    if rc == ES_OK:
        return
    raw = lib().es_last_error()
    msg = raw.decode("utf-8", "replace") if raw else f"error {rc}"
    raise errors.BY_CODE.get(rc, errors.ExpertsteerError)(msg, rc)


def strength_arg(strength):
    """None → NaN (the file's default); refuses NaN and infinities."""
    if strength is None:
        return math.nan
    try:
        value = float(strength)
    except (TypeError, ValueError):
        raise errors.InvalidValueError(f"strength {strength!r} is not a number") from None
    if not math.isfinite(value):
        raise errors.InvalidValueError(
            f"strength {value} is not a finite number (None means the file's default)"
        )
    return value


def positions_arg(positions):
    try:
        return POSITIONS[positions]
    except (KeyError, TypeError):
        raise errors.InvalidValueError(
            f"positions {positions!r}: use 'all' or 'generated'"
        ) from None


def seq_arg(seq_id):
    if seq_id is None:
        return ES_ALL_SEQS
    if not isinstance(seq_id, int) or seq_id < 0:
        raise errors.InvalidValueError(f"seq_id {seq_id!r}: use an int >= 0, or None for every sequence")
    return seq_id


def address(ptr):
    """The address held by a ctypes pointer, c_void_p or int (None for NULL)."""
    if ptr is None:
        return None
    if isinstance(ptr, int):
        return ptr or None
    if isinstance(ptr, ctypes.c_void_p):
        return ptr.value
    return ctypes.cast(ptr, ctypes.c_void_p).value
