"""User-facing errors. Anything a user can get wrong raises GancliError;
cli.main prints it as one line and exits non-zero, without a traceback."""
from __future__ import annotations


class GancliError(Exception):
    """A mistake the user can fix: bad flag, bad file, bad config."""

    exit_code = 2
    prefix = "error: "


class ConfigError(GancliError):
    pass


class DataError(GancliError):
    pass


class CheckpointError(GancliError):
    pass


class RunDirError(GancliError):
    pass


class DivergenceError(GancliError):
    """Training produced a non-finite loss or weight."""

    exit_code = 3


class Interrupted(GancliError):
    """SIGINT / SIGTERM: the run saved its state and stops with 130 / 143."""

    prefix = ""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code
