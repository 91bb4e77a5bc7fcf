"""Exceptions: one class per ``ES_*`` status of the C ABI, each carrying the
library's own message (``es_last_error``)."""


class ExpertsteerError(Exception):
    """Base class of every error this package raises on purpose."""

    code = None

    def __init__(self, message, code=None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class ArgumentError(ExpertsteerError, ValueError):
    """A required object is missing, or a handle is not live (ES_ERR_ARG)."""

    code = -1


class SteerFileIOError(ExpertsteerError, OSError):
    """A file could not be read (ES_ERR_IO)."""

    code = -2


class FormatError(ExpertsteerError, ValueError):
    """Not a valid steering file: magic, version, checksum, content (ES_ERR_FORMAT)."""

    code = -3


class ModelMismatchError(ExpertsteerError, ValueError):
    """The steering file was made for a model of another shape (ES_ERR_MODEL_MISMATCH)."""

    code = -4


class InvalidValueError(ExpertsteerError, ValueError):
    """A value is out of range: strength, layer, sequence id, positions (ES_ERR_INVALID)."""

    code = -5


class HostError(ExpertsteerError, RuntimeError):
    """llama.cpp's functions were not found or its layout differs (ES_ERR_HOST)."""

    code = -6


class HookError(ExpertsteerError, RuntimeError):
    """The eval callback failed during the last decode (ES_ERR_HOOK)."""

    code = -7


class InternalError(ExpertsteerError, RuntimeError):
    """A bug in expertsteer; the call did nothing (ES_ERR_INTERNAL)."""

    code = -8


class ClosedError(ExpertsteerError, ValueError):
    """The object was closed (a ``Llama`` after ``close()``, a closed ``SteerFile``)."""


class FitError(ExpertsteerError, RuntimeError):
    """``expertsteer fit`` failed; the message is what it printed."""


BY_CODE = {
    cls.code: cls
    for cls in (
        ArgumentError,
        SteerFileIOError,
        FormatError,
        ModelMismatchError,
        InvalidValueError,
        HostError,
        HookError,
        InternalError,
    )
}
