"""Helpers for tests and benchmarks that drive real adb clients against a stand-in device."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path


def adb_clients() -> dict[str, str]:
    """The real adb binaries on this machine: {"adb29": Debian's, "adb36": the adbutils
    wheel's}, each only if present."""
    found = {"adb29": shutil.which("adb") or "/usr/bin/adb"}
    try:
        import adbutils

        found["adb36"] = str(Path(adbutils.__file__).parent / "binaries" / "adb")
    except ImportError:  # pragma: no cover - adbutils is a dependency
        pass
    return {name: path for name, path in found.items() if os.path.exists(path)}


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (ephemeral, so never in adb's emulator range 5555-5585)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kill_adb_server(port: int) -> None:
    """Ask the adb server on `port` to exit with its own `host:kill` request (any version)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"0009host:kill")
            s.recv(4)
    except OSError:
        pass
