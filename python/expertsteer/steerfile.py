"""A steering file, opened and validated by the library."""

import ctypes
import json
import os
from collections import namedtuple

import numpy as np

from . import _native, errors

ControlVector = namedtuple("ControlVector", "data n_embd il_start il_end")
ControlVector.__doc__ = """Arguments for llama.cpp's ``llama_set_adapter_cvec(ctx, data, len(data),
n_embd, il_start, il_end)``: ``data`` is float32, n_embd × (n_layer − 1), block K's
vector in row K − 1."""


class SteerFile:
    """A ``.steer`` file: its description, directions and vectors.

    ``SteerFile(path)`` checks magic, version, checksum and content (a
    truncated or corrupted file raises :class:`FormatError`). The file is not
    tied to a model until it is attached, which checks the model's shape.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        handle = ctypes.c_void_p()
        _native.check(_native.lib().es_steer_read(self.path.encode("utf-8"), ctypes.byref(handle)))
        self._handle = handle
        self.info = json.loads(_native.lib().es_steer_info_json(handle).decode("utf-8"))
        n = len(self.info["layers"]) * self.n_embd
        buf = np.empty(n, dtype=np.float32)
        _native.check(
            _native.lib().es_steer_directions(
                handle, buf.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), n
            )
        )
        self._directions = buf.reshape(len(self.info["layers"]), self.n_embd)
        self._directions.setflags(write=False)

    # -- what the file says -------------------------------------------------
    @property
    def method(self):
        """``expertsteer``, ``caa``, ``pca-diff``, ``self-rfm`` or ``random``."""
        return self.info["method"]

    @property
    def target(self):
        """The target model's identity: arch, n_embd, n_layer, file_name, sha256."""
        return self.info["target"]

    @property
    def expert(self):
        """The expert model's identity (None for self-steering methods)."""
        return self.info["expert"]

    @property
    def n_embd(self):
        return self.info["target"]["n_embd"]

    @property
    def n_layer(self):
        return self.info["target"]["n_layer"]

    @property
    def layers(self):
        """Steered target layers (0-based blocks, llama.cpp's ``l_out-N``)."""
        return [l["layer"] for l in self.info["layers"]]

    @property
    def expert_layers(self):
        return [l["expert_layer"] for l in self.info["layers"]]

    @property
    def auc(self):
        """Validation AUC of each layer's probe (None where not measured)."""
        return [l["val_auc"] for l in self.info["layers"]]

    @property
    def mi(self):
        """MI (nats) of each steered layer pair (None for self-steering)."""
        return [l["mi"] for l in self.info["layers"]]

    @property
    def mi_matrix(self):
        """The whole MI matrix as a numpy array (expert × target layers), or None."""
        m = self.info["mi"]
        if m is None:
            return None
        return np.asarray(m["values"], dtype=np.float64).reshape(
            len(m["expert_layers"]), len(m["target_layers"])
        )

    @property
    def mean_norms(self):
        """r_j: each layer's typical state norm; strengths are relative to it."""
        return np.asarray([l["mean_norm"] for l in self.info["layers"]], dtype=np.float32)

    @property
    def default_strength(self):
        return self.info["default_strength"]

    @property
    def params(self):
        return dict(self.info["params"])

    @property
    def directions(self):
        """Unit directions u_j, one row per layer of :attr:`layers` (read-only)."""
        return self._directions

    def vectors(self, strength=None):
        """{layer: strength · r_j · u_j} as float32 arrays (None = default strength)."""
        c = _native.strength_arg(strength)
        c = self.default_strength if c != c else c
        return {
            layer: (c * norm * u).astype(np.float32)
            for layer, norm, u in zip(self.layers, self.mean_norms, self._directions)
        }

    def control_vector(self, strength=None):
        """The vectors as llama.cpp's control vector (a :class:`ControlVector`)."""
        h = self._live()
        n = _native.lib().es_steer_control_vector_len(h)
        buf = np.zeros(n, dtype=np.float32)
        start, end = ctypes.c_int32(), ctypes.c_int32()
        _native.check(
            _native.lib().es_steer_control_vector(
                h,
                _native.strength_arg(strength),
                buf.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                n,
                ctypes.byref(start),
                ctypes.byref(end),
            )
        )
        return ControlVector(buf, self.n_embd, start.value, end.value)

    # -- lifetime -------------------------------------------------------------
    def _live(self):
        if self._handle is None:
            raise errors.ClosedError(f"{self.path} was closed")
        return self._handle

    def close(self):
        """Frees the library's copy (the numpy arrays stay usable)."""
        h, self._handle = getattr(self, "_handle", None), None
        if h is not None and _native._lib is not None:
            _native.lib().es_steer_free(h)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def __repr__(self):
        expert = self.expert["file_name"] if self.expert else None
        return (
            f"SteerFile({self.path!r}, method={self.method!r}, target={self.target['file_name']!r}, "
            f"expert={expert!r}, layers={self.layers}, default_strength={self.default_strength})"
        )
