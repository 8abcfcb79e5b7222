"""The ground floor: file hashing, atomic writes, timestamps, JSON policy, fd silencing.

Every other module may import this one; it imports nothing from handlite, so it can never be
part of an import cycle. (Absolute imports keep `import io` elsewhere meaning the standard
library's module.)

- `sha256_file(path)`: hex digest, read in 1 MiB blocks.
- `atomic_open(path)` / `atomic_write_bytes` / `atomic_write_text` / `atomic_write_json`: a
  reader never sees half a file; the data goes to a temporary sibling that is renamed over the
  target (and removed when the write fails). New files get the usual permissions (umask).
- `utc_now()`: "2026-01-31T12:00:00Z" (whole seconds).
- `jsonable(obj)` / `to_json(obj)` / `to_json_line(obj)`: the one JSON policy for everything
  handlite writes: numpy scalars and arrays become Python values, paths strings, NaN and
  infinities null, so strict parsers accept the output.
- `redirect_fds(fds, to=None)` / `quiet(fds)`: point process-level file descriptors (what C++
  libraries print to) at /dev/null or at another descriptor for a while; `quiet` leaves them
  alone when HANDLITE_DEBUG is set.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import sys
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path
from typing import IO, Any, ContextManager

DEBUG_ENV = "HANDLITE_DEBUG"


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def utc_now() -> str:
    """The current UTC time in whole seconds, ISO 8601 with a Z."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ----------------------------------------------------------------------------- atomic writes
@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", *, encoding: str | None = None,
                newline: str | None = None, fsync: bool = True, mkdir: bool = True
                ) -> Iterator[IO]:
    """Open a temporary sibling of `path` for writing; on a clean exit it replaces `path`.

    `encoding` and `newline` are `open`'s (text mode). The file object is opened by name, so its `.name` is the temporary path: a tool that
    writes by path may close it and write there instead. `fsync` makes the data durable before the rename; `mkdir`
    creates missing parent folders (otherwise a missing folder raises FileNotFoundError).
    On any error the temporary file is removed and `path` is left as it was.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open writes a new file: mode 'wb' or 'w', not {mode!r}")
    target = Path(path)
    if mkdir:
        target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    os.close(fd)
    try:
        with open(tmp, mode, encoding=encoding, newline=newline) as fh:
            yield fh
            if not fh.closed:
                fh.flush()
                if fsync:
                    os.fsync(fh.fileno())
            elif fsync:  # the caller closed it to let a tool write the path itself
                _fsync_path(tmp)
        os.replace(tmp, target)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes | bytearray | memoryview, *,
                       fsync: bool = True) -> None:
    """Write a whole binary file atomically (see `atomic_open`)."""
    with atomic_open(path, "wb", fsync=fsync) as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike, text: str, *, encoding: str = "utf-8",
                      fsync: bool = True) -> None:
    """Write a whole text file atomically (see `atomic_open`)."""
    with atomic_open(path, "w", encoding=encoding, fsync=fsync) as fh:
        fh.write(text)


def atomic_write_json(path: str | os.PathLike, obj: Any, *, fsync: bool = True) -> None:
    """Write `obj` as indented JSON (the `to_json` policy) plus a newline, atomically."""
    atomic_write_text(path, to_json(obj) + "\n", fsync=fsync)


# ----------------------------------------------------------------------------- JSON policy
def jsonable(obj: Any) -> Any:
    """`obj` with numpy values, paths and non-finite floats made JSON-safe (NaN/Inf -> None)."""
    # A numpy value can only exist once numpy is imported; looking it up keeps this module
    # from importing numpy itself.
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(obj, np.ndarray):
            return [jsonable(v) for v in obj.tolist()]
        if isinstance(obj, np.generic):
            obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "__fspath__"):
        return str(obj)
    return obj


def to_json(obj: Any) -> str:
    """One indented JSON document (the policy of `jsonable`; strict: no NaN)."""
    return json.dumps(jsonable(obj), indent=2, allow_nan=False)


def to_json_line(obj: Any) -> str:
    """Compact one-line JSON (for JSONL files), same policy as `to_json`."""
    return json.dumps(jsonable(obj), allow_nan=False, separators=(",", ":"))


# ----------------------------------------------------------------------------- fd silencing
def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with suppress(Exception):  # a closed or replaced stream has nothing to flush
            stream.flush()


@contextmanager
def redirect_fds(fds: Iterable[int] = (2,), to: int | None = None) -> Iterator[None]:
    """Point the process-level descriptors `fds` at /dev/null (or at descriptor `to`) inside
    the block; Python's buffers are flushed on the way in and out so nothing lands on the
    wrong side. Only the descriptors change: exceptions propagate as usual."""
    fds = tuple(fds)
    _flush()
    saved = [os.dup(fd) for fd in fds]
    sink = os.open(os.devnull, os.O_WRONLY) if to is None else None
    try:
        for fd in fds:
            os.dup2(sink if sink is not None else to, fd)
        yield
    finally:
        _flush()
        for fd, copy in zip(fds, saved):
            os.dup2(copy, fd)
            os.close(copy)
        if sink is not None:
            os.close(sink)


def debug_enabled() -> bool:
    """Whether HANDLITE_DEBUG asks to see every library's output."""
    return bool(os.environ.get(DEBUG_ENV))


def quiet(fds: Iterable[int] = (2,)) -> ContextManager[None]:
    """Silence `fds` (default stderr) inside the block, unless HANDLITE_DEBUG is set."""
    return nullcontext() if debug_enabled() else redirect_fds(fds)
