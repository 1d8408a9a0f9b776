"""Exception types shared by the package; the CLI turns them into one-line messages."""

from __future__ import annotations

from pathlib import Path

__all__ = ["LstmattnError", "DataError", "ConfigError", "MaskError"]


class LstmattnError(Exception):
    """Base class of every error the package raises on purpose.

    ``exit_status`` is what the command line exits with (see :mod:`lstmattn.cli`): 2, a
    usage or input error, unless a subclass reports work of which some items failed (1).
    """

    exit_status: int = 2


class ConfigError(LstmattnError, ValueError):
    """A configuration value or profile name is invalid."""


class MaskError(LstmattnError, ValueError):
    """A segmentation label map or its label table cannot be turned into instances
    (not a 2-D integer array, labels outside the detector's range, a negative area)."""


class DataError(LstmattnError):
    """A data file is missing, unreadable or malformed.

    The message always starts with the offending file so that batch reports stay
    readable: ``"path/to/file.png: truncated PNG (cannot decode)"``.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
