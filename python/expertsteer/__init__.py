"""expertsteer for Python: steer llama-cpp-python's models with ``.steer``
files, and make those files.

::

    from llama_cpp import Llama
    import expertsteer

    llm = Llama("SmolLM2-135M-Instruct.gguf", flash_attn=True)
    steer = expertsteer.SteerFile("tone.steer")
    expertsteer.attach(llm, steer, strength=0.3)          # path="hook" | "cvec"
    print(llm("The weekend was", max_tokens=32, temperature=0)["choices"][0]["text"])
    expertsteer.detach(llm)

The steering itself is expertsteer's C ABI (libexpertsteer_c) running inside
llama-cpp-python's own llama.cpp; fitting runs the ``expertsteer`` binary in
a child process.
"""

from .attach import Attachment, attach, attachment, detach
from .errors import (
    ArgumentError,
    ClosedError,
    ExpertsteerError,
    FitError,
    FormatError,
    HookError,
    HostError,
    InternalError,
    InvalidValueError,
    ModelMismatchError,
    SteerFileIOError,
)
from .fit import fit
from .hook import Hook
from .steerfile import ControlVector, SteerFile

__version__ = "0.1.0"

__all__ = [
    "Attachment",
    "ArgumentError",
    "ClosedError",
    "ControlVector",
    "ExpertsteerError",
    "FitError",
    "FormatError",
    "Hook",
    "HookError",
    "HostError",
    "InternalError",
    "InvalidValueError",
    "ModelMismatchError",
    "SteerFile",
    "SteerFileIOError",
    "attach",
    "attachment",
    "detach",
    "fit",
]
