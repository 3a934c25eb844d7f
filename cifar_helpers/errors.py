"""Errors a student reads: one paragraph that says what went wrong and what to do."""


class CifarHelpersError(Exception):
    """Base class; its message is the whole explanation, so tracebacks can be skipped."""


class ConfigError(CifarHelpersError, ValueError):
    """A parameter (lr, epochs, model name, device, ...) is out of range or unknown."""


class DatasetError(CifarHelpersError, FileNotFoundError):
    """CIFAR-10 is missing, truncated or not in the expected layout."""


class DivergenceError(CifarHelpersError, FloatingPointError):
    """The loss became NaN or infinite; the record is kept, marked 'diverged'."""


class RunsFolderError(CifarHelpersError, OSError):
    """The runs folder cannot be written, or a record to resume is missing."""


class PhotoError(CifarHelpersError, OSError):
    """A photo to classify is missing or is not an image."""
