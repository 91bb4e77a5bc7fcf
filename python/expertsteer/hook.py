"""The per-sequence eval-callback hook, for programs that drive llama.cpp
through llama-cpp-python's low-level API (their own ``llama_context``,
their own ``llama_batch``)."""

import ctypes

from . import _native, errors
from .steerfile import SteerFile

_hosts = {}


def llama_cpp_host():
    """The ``es_host`` for llama-cpp-python's llama.cpp (made once).

    llama-cpp-python opens ``libllama.so`` with ``ctypes.CDLL`` (``RTLD_LOCAL``),
    so its functions are not in the process's global scope: they are looked
    up through that library's own handle, and their layout is checked."""
    import llama_cpp

    handle = llama_cpp.llama_cpp._lib._handle
    host = _hosts.get(handle)
    if host is None:
        out = ctypes.c_void_p()
        _native.check(_native.lib().es_host_from_library(ctypes.c_void_p(handle), ctypes.byref(out)))
        host = _hosts[handle] = out
    return host


def _model_ptr(model):
    """A ``llama_model*`` from a ``llama_cpp.Llama``, a ctypes pointer or an int."""
    inner = getattr(model, "model", model)
    addr = _native.address(inner)
    if addr is None:
        raise errors.ClosedError("the model is closed (or NULL)")
    return ctypes.c_void_p(addr)


def _steer_handle(steer):
    if isinstance(steer, SteerFile):
        return steer, steer._live()
    f = SteerFile(steer)
    return f, f._live()


class Hook:
    """expertsteer's eval callback for one llama.cpp context.

    ::

        hook = expertsteer.Hook(model)              # llama_model_p, or a Llama
        hook.install(cparams)                      # before llama_init_from_model
        ctx = llama_cpp.llama_init_from_model(model, cparams)
        hook.set(steer, 0.3, seq_id=0)             # sequence 0 steered, 1 not
        hook.begin_batch(batch); llama_cpp.llama_decode(ctx, batch); hook.check()

    Close it (or let it be collected) only after ``llama_free`` of its context.
    """

    def __init__(self, model):
        self._model = _model_ptr(model)
        out = ctypes.c_void_p()
        _native.check(_native.lib().es_hook_new_host(llama_cpp_host(), self._model, ctypes.byref(out)))
        self._handle = out
        self._files = {}

    def _live(self):
        if self._handle is None:
            raise errors.ClosedError("this Hook was closed")
        return self._handle

    def install(self, params):
        """Registers the callback in a ``llama_cpp.llama_context_params``
        (``cb_eval``, ``cb_eval_user_data``) and sets ``kv_unified``."""
        _native.check(_native.lib().es_hook_install(self._live(), ctypes.addressof(params)))

    def set(self, steer, strength=None, *, seq_id=None, positions="all"):
        """Steers ``seq_id`` (None: every sequence without its own) with a
        :class:`SteerFile` (or a path) at ``strength`` (None: the file's
        default), on ``positions`` ``'all'`` or ``'generated'``."""
        f, h = _steer_handle(steer)
        seq = _native.seq_arg(seq_id)
        _native.check(
            _native.lib().es_hook_set_steer(
                self._live(), seq, h, _native.strength_arg(strength), _native.positions_arg(positions)
            )
        )
        self._files[seq] = f

    def ablate(self, steer, *, seq_id=None):
        """Removes the file's direction from its layers' outputs for
        ``seq_id`` (None: every sequence without its own steering), before
        any vector is added; ``steer`` None removes the ablation."""
        seq = _native.seq_arg(seq_id)
        if steer is None:
            _native.check(_native.lib().es_hook_set_ablation(self._live(), seq, None))
            return
        f, h = _steer_handle(steer)
        _native.check(_native.lib().es_hook_set_ablation(self._live(), seq, h))
        self._files[("ablate", seq)] = f

    def clear(self, seq_id=None):
        """Removes the steering of ``seq_id`` (None: the default one)."""
        seq = _native.seq_arg(seq_id)
        _native.check(_native.lib().es_hook_set_steer(self._live(), seq, None, float("nan"), 0))
        self._files.pop(seq, None)

    def set_generating(self, generating, seq_id=None):
        """Marks later decodes of ``seq_id`` (None: all) as generated tokens
        (for ``positions='generated'``) or prompt tokens."""
        _native.check(
            _native.lib().es_hook_set_generating(self._live(), _native.seq_arg(seq_id), bool(generating))
        )

    def begin_batch(self, batch):
        """Tells the hook which sequence each row of the next decode belongs
        to: a ``llama_cpp.llama_batch`` (or an object with ``.batch``, such as
        llama-cpp-python's ``LlamaBatch``). Needed before every decode once a
        sequence has its own steering."""
        b = getattr(batch, "batch", batch)
        _native.check(_native.lib().es_hook_begin_batch(self._live(), ctypes.addressof(b)))

    def check(self):
        """Raises :class:`HookError` if the callback failed in the last decode."""
        _native.check(_native.lib().es_hook_check(self._live()))

    def close(self):
        h, self._handle = getattr(self, "_handle", None), None
        if h is not None and _native._lib is not None:
            _native.lib().es_hook_free(h)

    def __del__(self):
        self.close()
