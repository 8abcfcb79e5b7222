"""Verified push: copy files to a device, prove they arrived intact, skip what is already there.

For each file: hash it locally; if the device already holds a file of the same size and hash
at the destination, skip it; else check free space, push it, then compare size (sync STAT) and
hash on the device (`sha256sum`, else `md5sum`, else size only). Failures are one line each:
storage full, permission denied, device gone mid-push (the partial file is removed once the
device answers again, or the message says where it remains), hash mismatch.

Hashes are read as `sha256sum < FILE` (or `toybox sha256sum < FILE`): the tool then names
the file `-`, so a name holding `\\`, `\n` or `\r` (which GNU tools escape with a leading `\\`
when they print it) cannot shift the hash out of the first word. Any name that is valid UTF-8
works; one that is not (the device protocol and shell take UTF-8) is refused before anything is
sent, in one line.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from handlite.device import shell as sh
from handlite.device.info import parse_df_free
from handlite.device.transport import Device
from handlite.errors import (CheckFailed, DeviceError, DeviceStorageFull, InputError,
                             TransportError, UsageError)

DEFAULT_DEST = "/data/local/tmp/handlite/"
HASH_TOOLS = ("sha256sum", "md5sum")
#: device commands that hash stdin, best first: (command, which digest it prints)
_HASHERS = (("sha256sum", "sha256sum"), ("toybox sha256sum", "sha256sum"),
            ("md5sum", "md5sum"), ("toybox md5sum", "md5sum"))

#: progress(file_name, done_bytes, total_bytes)
PushProgress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class PushResult:
    """What happened to one file on one device. seconds: push time (0 when skipped)."""

    serial: str
    local: str
    remote: str
    bytes: int
    sha256: str
    status: str  # "pushed" | "skipped"
    verified_by: str  # "sha256sum" | "md5sum" | "size"
    seconds: float

    @property
    def mb_per_s(self) -> float | None:
        return self.bytes / 1e6 / self.seconds if self.seconds > 0 else None

    def to_dict(self) -> dict:
        return {**asdict(self), "mb_per_s": self.mb_per_s}


def file_digests(path: str | os.PathLike) -> dict[str, str]:
    """{'sha256sum': hex, 'md5sum': hex} of a local file, read once."""
    sha, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            sha.update(block)
            md5.update(block)
    return {"sha256sum": sha.hexdigest(), "md5sum": md5.hexdigest()}


def digest_kind(tool: str) -> str:
    """'toybox sha256sum' -> 'sha256sum' (the key of `file_digests`)."""
    return tool.split()[-1]


def hash_tool(device: Device) -> str | None:
    """The best hash command the device has (see _HASHERS) or None. Each candidate is tried
    on empty input, so a toybox without the applet does not count."""
    probe = "; ".join(f"{cmd} </dev/null >/dev/null 2>&1 && echo {cmd.replace(' ', '+')}"
                      for cmd, _ in _HASHERS)
    found = device.shell(probe + "; true", timeout=30).stdout.split()
    return next((cmd for cmd, _ in _HASHERS if cmd.replace(" ", "+") in found), None)


def remote_digest(device: Device, tool: str, remote: str) -> str | None:
    """The hex digest of a device file, read from stdin (immune to name escaping), or None."""
    result = device.shell(f"{tool} < {sh.quote(remote)}", timeout=120)
    if not result.ok:
        return None
    words = result.stdout.split()
    digest = words[0].lower() if words else ""
    size = 64 if digest_kind(tool) == "sha256sum" else 32
    return digest if re.fullmatch(rf"[0-9a-f]{{{size}}}", digest) else None


def check_name(name: str) -> None:
    """Refuse, in one line, a file name the device path cannot carry (not valid UTF-8, a NUL,
    or longer than a phone's NAME_MAX of 255 bytes)."""
    try:
        raw = name.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"file name {name!r} is not valid UTF-8: devices take UTF-8 names; "
                         "rename the file") from None
    if "\0" in name or "/" in name or len(raw) > 255 or name in ("", ".", ".."):
        raise UsageError(f"file name {name!r} cannot be a device file name")


def free_bytes(device: Device, folder: str) -> int | None:
    """Free space where `folder` lives, or None when df says nothing useful."""
    result = device.shell(f"df {sh.quote(folder)}", timeout=30)
    return parse_df_free(result.stdout) if result.ok else None


def _remote_dir(dest: str) -> str:
    if not dest.startswith("/"):
        raise UsageError(f"--dest {dest!r} must be an absolute device path such as "
                         f"{DEFAULT_DEST}")
    return posixpath.normpath(dest)


def push_verified(device: Device, files: Sequence[str | os.PathLike],
                  dest: str = DEFAULT_DEST, *, progress: PushProgress | None = None,
                  force: bool = False) -> list[PushResult]:
    """Push `files` into the device folder `dest` (created if needed), verified.

    force=True pushes even files the device already has. Raises on the first failure.
    """
    paths = [Path(f) for f in files]
    for p in paths:
        check_name(p.name)
        if not p.is_file():
            raise InputError(f"{p}: no such file")
    folder = _remote_dir(dest)
    device.shell(["mkdir", "-p", folder], timeout=30, check=True)
    tool = hash_tool(device)
    results = []
    for path in paths:
        results.append(_push_one(device, path, posixpath.join(folder, path.name), tool,
                                 progress, force))
    return results


def _matches(device: Device, remote: str, size: int, digests: dict[str, str],
             tool: str | None) -> bool:
    st = device.stat(remote)
    if not st.is_file or st.size != size:
        return False
    return tool is None or remote_digest(device, tool, remote) == digests[digest_kind(tool)]


def _push_one(device: Device, path: Path, remote: str, tool: str | None,
              progress: PushProgress | None, force: bool) -> PushResult:
    size = path.stat().st_size
    digests = file_digests(path)
    verified_by = tool or "size"

    def result(status: str, seconds: float) -> PushResult:
        return PushResult(device.serial, str(path), remote, size, digests["sha256sum"], status,
                          verified_by, seconds)

    if not force and _matches(device, remote, size, digests, tool):
        return result("skipped", 0.0)
    existing = device.stat(remote)
    free = free_bytes(device, posixpath.dirname(remote))
    if free is not None and size > free + (existing.size if existing.is_file else 0):
        raise DeviceStorageFull(
            f"storage full on {device.serial}: {path.name} needs {size} bytes, "
            f"{free} free in {posixpath.dirname(remote)}", hint="free space on the device")
    report = (lambda done, total: progress(path.name, done, total)) if progress else None
    # Executables (a benchmark_model build) stay executable on the device.
    mode = 0o755 if os.access(path, os.X_OK) else 0o644
    start = time.perf_counter()
    try:
        device.push(path, remote, report, mode=mode)
    except TransportError as exc:
        raise TransportError(f"{exc.message}; {_cleanup(device, remote)}", hint=exc.hint) \
            from None
    seconds = time.perf_counter() - start
    if not _matches(device, remote, size, digests, tool):
        _cleanup(device, remote)
        raise CheckFailed(f"{path.name} on {device.serial} differs from the local file after "
                          f"the push (checked by {verified_by}); the copy was removed")
    return result("pushed", seconds)


def _cleanup(device: Device, remote: str) -> str:
    """Remove a partial file once the device answers again; say what happened."""
    deadline = time.monotonic() + 20  # a phone re-enumerating on USB takes seconds
    while True:
        try:
            device.shell(["rm", "-f", remote], timeout=15, check=True)
            # The device's side of the dead connection may still be closing the file; only
            # a path that stays gone counts as removed.
            if not device.stat(remote).exists:
                return f"the partial file {remote} was removed"
        except DeviceError:
            pass
        if time.monotonic() > deadline:
            return f"a partial file may remain at {remote}"
        time.sleep(0.5)
