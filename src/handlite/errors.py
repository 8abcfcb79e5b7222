"""One error tree for the whole project.

The CLI catches `HandliteError`, prints `error: <message>` on one line and exits with the error's
`exit_code` (2 for bad input or usage, 1 for a check that failed). Tracebacks reach a user only
with `--debug`. Library code raises these instead of asserting on user input.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

EXIT_OK = 0
EXIT_FAILED_CHECK = 1
EXIT_BAD_INPUT = 2


class HandliteError(Exception):
    """Root of every error handlite raises on purpose."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class UsageError(HandliteError):
    """A value the user gave does not fit."""


class InputError(HandliteError):
    """A file or data set cannot be read or has the wrong content."""


class DataError(InputError):
    """A data set or annotation is malformed."""


class ModelError(InputError):
    """A model file is missing, corrupt, or not what the operation needs."""


class ExportError(HandliteError):
    """A conversion to TFLite failed."""

    exit_code = EXIT_FAILED_CHECK


class CheckFailed(HandliteError):
    """A check ran and its result is a failure (exit 1)."""

    exit_code = EXIT_FAILED_CHECK


class ParityFailed(CheckFailed):
    """A TFLite variant's keypoints differ from the Keras reference beyond tolerance."""


class NonFiniteOutput(CheckFailed):
    """A model produced NaN or Inf where numbers were expected (exit 1; --allow-nan decodes)."""


class RegressionFound(CheckFailed):
    """A benchmark comparison found cells slower than the threshold allows."""


class DeviceError(HandliteError):
    """Something about an Android device or the connection to it."""


class DeviceNotFound(DeviceError):
    """No device, or not the one asked for."""


class DeviceUnauthorized(DeviceError):
    """The device has not accepted this host's key."""


class TransportError(DeviceError):
    """The connection to a device failed or dropped."""


class DeviceCommandError(DeviceError):
    """A command on the device failed; carries its exit code and output."""

    def __init__(self, message: str, *, exit_code: int | None = None, output: str = "",
                 hint: str | None = None):
        super().__init__(message, hint=hint)
        self.command_exit_code = exit_code
        self.output = output


class DeviceStorageFull(DeviceError):
    """The device ran out of space."""


class BenchmarkError(HandliteError):
    """A benchmark could not run or its output could not be understood."""

    exit_code = EXIT_FAILED_CHECK


class ParseError(InputError):
    """Tool output that handlite does not understand (never read as a silent zero)."""


def suggest(value: str, choices: Iterable[str]) -> str | None:
    """A 'did you mean' hint for a mistyped value, or None."""
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.5)
    return f"did you mean {close[0]!r}?" if close else None


def choice_error(kind: str, value: str, choices: Iterable[str]) -> UsageError:
    """A UsageError for an unknown name, listing the choices and the closest one."""
    choices = list(choices)
    return UsageError(
        f"unknown {kind} {value!r}; choose from {', '.join(choices)}",
        hint=suggest(value, choices),
    )
