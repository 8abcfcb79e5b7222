"""The one small interface every device backend implements, and adb-style device selection.

Units: sizes in bytes, times in seconds, mtimes in Unix seconds. Device paths are POSIX strings.
"""

from __future__ import annotations

import os
import stat as stat_mod
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from handlite.device import shell as sh
from handlite.device.info import collect
from handlite.errors import (DeviceCommandError, DeviceError, DeviceNotFound,
                             DeviceStorageFull, DeviceUnauthorized, TransportError, suggest)

#: progress(done_bytes, total_bytes), called as a transfer advances.
ProgressFn = Callable[[int, int], None]

#: What each adb device state means for a user, and what to do about it.
STATE_HINTS: dict[str, str | None] = {
    "device": None,
    "unauthorized": "unlock the phone and accept 'Allow USB debugging' for this computer "
                    "(its key is ~/.android/adbkey.pub)",
    "offline": "the device is not responding: reconnect the cable or `adb reconnect`; "
               "restarting the adb server (`adb kill-server`) often helps",
    "authorizing": "the device is checking this computer's key; try again in a moment",
    "connecting": "the adb server is still connecting; try again in a moment",
    "no permissions": "the USB device is not accessible: add a udev rule for it or run as a "
                      "user in the plugdev group",
    "recovery": "the device is in recovery mode; reboot it into Android",
    "bootloader": "the device is in the bootloader; reboot it into Android",
    "sideload": "the device is in sideload mode; reboot it into Android",
}


def state_hint(state: str) -> str | None:
    return STATE_HINTS.get(state, f"unexpected device state {state!r}")


@dataclass(frozen=True)
class ShellResult:
    """What a device command did. Over shell v1 transports stderr is merged into stdout."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


@dataclass(frozen=True)
class FileStat:
    """A device path's stat. A missing path has mode 0 (as adb's sync STAT reports it)."""

    path: str
    mode: int
    size: int
    mtime: int

    @property
    def exists(self) -> bool:
        return self.mode != 0

    @property
    def is_dir(self) -> bool:
        return stat_mod.S_ISDIR(self.mode)

    @property
    def is_file(self) -> bool:
        return stat_mod.S_ISREG(self.mode)

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class DeviceEntry:
    """One row of `adb devices`: a device a backend can see, in whatever state."""

    serial: str
    state: str
    transport: str  # "server" | "direct"
    where: str  # the adb server "HOST:PORT", "tcp:HOST:PORT" or "usb"

    @property
    def hint(self) -> str | None:
        return state_hint(self.state)


class Device(ABC):
    """A device ready for commands. Backends: `server.ServerDevice`, `direct.DirectDevice`."""

    serial: str
    transport: str

    def shell(self, command: str | Sequence[object], timeout: float | None = 60.0, *,
              check: bool = False) -> ShellResult:
        """Run a shell command; a sequence is joined with each argument quoted.

        timeout: seconds before the command is abandoned (and killed on the device) with a
        DeviceCommandError; None waits forever. check=True raises DeviceCommandError on a
        non-zero exit code.
        """
        text = command if isinstance(command, str) else sh.join(command)
        result = self._shell(text, timeout)
        if check and not result.ok:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise DeviceCommandError(
                f"`{text}` failed on {self.serial} with exit code {result.exit_code}"
                + (f": {detail[-1]}" if detail else ""),
                exit_code=result.exit_code, output=result.stdout + result.stderr)
        return result

    @abstractmethod
    def _shell(self, command: str, timeout: float | None) -> ShellResult: ...

    @abstractmethod
    def push(self, local: str | os.PathLike, remote: str, progress: ProgressFn | None = None,
             mode: int = 0o644) -> int:
        """Copy a local file to the device path `remote` (a file path); returns bytes sent."""

    @abstractmethod
    def pull(self, remote: str, local: str | os.PathLike,
             progress: ProgressFn | None = None) -> int:
        """Copy a device file to `local` (written atomically); returns bytes received."""

    @abstractmethod
    def stat(self, path: str) -> FileStat: ...

    @abstractmethod
    def listdir(self, path: str) -> list[FileStat]:
        """Entries of a device folder (without . and ..), sorted by name."""

    @property
    def features(self) -> frozenset[str]:
        """ADB features the device announced (shell_v2, stat_v2, ...)."""
        return frozenset()

    def info(self) -> dict[str, Any]:
        """Model, SoC, ABIs, Android version, CPU clusters, thermal, battery, free space."""
        return collect(self)

    def close(self) -> None:
        """Release the connection (a later call reconnects)."""

    def __enter__(self) -> "Device":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.serial} via {self.transport}>"


def select(entries: Sequence[DeviceEntry], device: str | None) -> list[DeviceEntry]:
    """Pick devices like adb: `device` is a serial ("A,B" for several), "all", or None
    (ANDROID_SERIAL, else the only one). Raises DeviceNotFound / DeviceUnauthorized / TransportError with a hint."""
    device = device or os.environ.get("ANDROID_SERIAL") or None
    serials = [e.serial for e in entries]
    listing = ", ".join(f"{e.serial} ({e.state})" for e in entries)
    if not entries:
        raise DeviceNotFound(
            "no Android device found",
            hint="connect a phone with USB debugging on, or `--connect HOST:PORT`; "
                 "`handlite devices` lists what the adb server sees")
    if device == "all":
        chosen = [e for e in entries if e.state == "device"] or list(entries)
    elif device:
        chosen = []
        for serial in (s.strip() for s in device.split(",") if s.strip()):
            match = [e for e in entries if e.serial == serial]
            if not match:
                raise DeviceNotFound(f"device {serial!r} not found; attached: {listing}",
                                     hint=suggest(serial, serials))
            chosen += match
    elif len(entries) > 1:
        raise DeviceNotFound(f"more than one device: {listing}",
                             hint="choose one with -s/--device SERIAL, or 'all'")
    else:
        chosen = list(entries)
    for e in chosen:
        require_ready(e)
    return chosen


def require_ready(entry: DeviceEntry) -> None:
    """Raise the error that fits a device that cannot take commands."""
    if entry.state == "device":
        return
    if entry.state == "unauthorized":
        raise DeviceUnauthorized(f"device {entry.serial} is unauthorized", hint=entry.hint)
    if entry.state == "no permissions":
        raise DeviceNotFound(f"device {entry.serial}: no permissions", hint=entry.hint)
    raise TransportError(f"device {entry.serial} is {entry.state}", hint=entry.hint)


def push_error(serial: str, remote: str, message: str) -> DeviceError:
    """The one-line error for a push the device refused (its sync FAIL message)."""
    low = message.lower()
    if "no space left" in low:
        return DeviceStorageFull(f"storage full on {serial}: cannot write {remote}",
                                 hint="free space on the device (`df /data/local/tmp`)")
    if "permission denied" in low or "read-only file system" in low:
        return DeviceCommandError(f"permission denied on {serial}: cannot write {remote}",
                                  hint="push under /data/local/tmp, which the shell user "
                                       "may write")
    return DeviceCommandError(f"push to {remote} on {serial} failed: {message}")
