"""Steer a ``llama_cpp.Llama`` in one line: :func:`attach` and :func:`detach`.

Two paths, as in the C ABI:

- ``path="hook"`` (default): expertsteer's eval callback. llama-cpp-python's
  ``Llama`` takes no callback, so its context is rebuilt once with the hook
  installed (same parameters otherwise); any block, and
  ``positions="generated"`` steers only the answer.
- ``path="cvec"``: llama.cpp's own control vector (``llama_set_adapter_cvec``),
  no rebuild; every position, blocks 1 and up.

Either way the token cache is reset, since steering changes every state
computed after it.
"""

import ctypes
import types

from . import _native, errors
from .hook import Hook, _model_ptr
from .steerfile import SteerFile

_ATTR = "_expertsteer_attachment"


def _check_open(llm):
    if getattr(llm, "_model", None) is None or llm.model is None or llm.ctx is None:
        raise errors.ClosedError("this Llama is closed")


def _rebuild_context(llm, params):
    """Replaces ``llm``'s context by a new one made with ``params``."""
    from llama_cpp import _internals

    new = _internals.LlamaContext(model=llm._model, params=params, verbose=llm.verbose)
    old, llm._ctx = llm._ctx, new
    old.close()
    llm.reset()
    return new


class Attachment:
    """What :func:`attach` did to a ``Llama``; :func:`detach` undoes it."""

    def __init__(self, llm, steer, strength, positions, path):
        self.steer, self.strength, self.positions, self.path = steer, strength, positions, path
        self.hook = None
        self._ctx = None
        self._cvec = None
        self._closed = False
        if path == "cvec":
            self._attach_cvec(llm)
        else:
            self._attach_hook(llm)

    # -- control vector --------------------------------------------------------
    def _attach_cvec(self, llm):
        import llama_cpp

        if self.positions != "all":
            raise errors.InvalidValueError(
                "path='cvec' steers every position: use path='hook' for positions='generated'"
            )
        cv = self.steer.control_vector(self.strength)
        ptr = cv.data.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        rc = llama_cpp.llama_set_adapter_cvec(llm.ctx, ptr, len(cv.data), cv.n_embd, cv.il_start, cv.il_end)
        if rc != 0:
            raise errors.HookError(f"llama_set_adapter_cvec failed ({rc})")
        self._cvec = cv
        llm.reset()

    def _detach_cvec(self, llm):
        import llama_cpp

        if llm.ctx is not None:
            llama_cpp.llama_set_adapter_cvec(llm.ctx, None, 0, self._cvec.n_embd, -1, -1)
            llm.reset()

    # -- hook --------------------------------------------------------------------
    def _attach_hook(self, llm):
        hook = Hook(llm)
        hook.set(self.steer, self.strength, positions=self.positions)
        params = type(llm.context_params).from_buffer_copy(llm.context_params)
        hook.install(params)
        self.hook = hook
        self._ctx = _rebuild_context(llm, params)
        # Freed with the Llama (its exit stack runs this before the model
        # goes), context first, then the hook the context calls.
        llm._stack.callback(self.close)
        self._wrap(llm)

    def _wrap(self, llm):
        """Tells the hook prompt from generated tokens and surfaces its errors:
        a decode of one token that ``sample`` just produced at that position
        is a generated token; anything else is prompt."""
        cls = type(llm)
        state = self
        sampled = {"at": None}

        def sample(self, *args, **kwargs):
            token = cls.sample(self, *args, **kwargs)
            sampled["at"] = (self.n_tokens, token)
            return token

        def eval(self, tokens):
            if state.hook is not None:
                toks = list(tokens)
                generating = len(toks) == 1 and sampled["at"] == (self.n_tokens, toks[0])
                state.hook.set_generating(generating)
                cls.eval(self, toks)
                state.hook.check()
            else:
                cls.eval(self, tokens)

        llm.sample = types.MethodType(sample, llm)
        llm.eval = types.MethodType(eval, llm)

    def _detach_hook(self, llm):
        for name in ("sample", "eval"):
            llm.__dict__.pop(name, None)
        if llm.model is not None and llm._ctx is self._ctx:
            _rebuild_context(llm, llm.context_params)
        self.close()

    def close(self):
        """Frees the steered context and the hook (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._ctx is not None:
            self._ctx.close()
        if self.hook is not None:
            self.hook.close()
            self.hook = None

    def detach(self, llm):
        if self.path == "cvec":
            self._detach_cvec(llm)
        else:
            self._detach_hook(llm)


def attach(llm, steer, strength=None, positions="all", path="hook"):
    """Steers every later generation of ``llm`` (a ``llama_cpp.Llama``).

    ``steer`` is a :class:`SteerFile` or a path; ``strength`` is relative to
    each layer's norm (None: the file's default); ``positions`` is ``'all'``
    or ``'generated'`` (hook only); ``path`` is ``'hook'`` or ``'cvec'``.
    Attaching again replaces the earlier steering. Raises
    :class:`ModelMismatchError` for a file made for another model,
    :class:`InvalidValueError` for a bad strength or positions,
    :class:`ClosedError` for a closed ``Llama``. Returns the
    :class:`Attachment`.
    """
    from .hook import llama_cpp_host

    _check_open(llm)
    if path not in ("hook", "cvec"):
        raise errors.InvalidValueError(f"path {path!r}: use 'hook' or 'cvec'")
    _native.positions_arg(positions)
    _native.strength_arg(strength)
    f = steer if isinstance(steer, SteerFile) else SteerFile(steer)
    _native.check(_native.lib().es_steer_check_model(f._live(), llama_cpp_host(), _model_ptr(llm)))
    detach(llm)
    a = Attachment(llm, f, strength, positions, path)
    setattr(llm, _ATTR, a)
    return a


def detach(llm):
    """Removes the steering :func:`attach` added (nothing if none); later
    generations are unsteered, token for token."""
    a = getattr(llm, _ATTR, None)
    if a is None:
        return
    delattr(llm, _ATTR)
    a.detach(llm)


def attachment(llm):
    """The current :class:`Attachment` of ``llm``, or None."""
    return getattr(llm, _ATTR, None)
