"""Client side of adb's `sync:` service over an open stream (a socket to the adb server).

Used by the server backend instead of adbutils' Sync because we need progress callbacks, the
device's FAIL message (adbutils drops it, so "No space left on device" would be lost), larger
chunks, and no `assert` on device replies. Requests: SEND path,mode / DATA / DONE mtime ->
OKAY|FAIL; RECV path -> DATA... DONE|FAIL; STAT path -> mode,size,mtime; LIST -> DENT... DONE.
"""

from __future__ import annotations

import posixpath
import stat as stat_mod
import struct
import time
from typing import BinaryIO, Protocol

from handlite.device.transport import FileStat, ProgressFn

#: adb's SYNC_DATA_MAX: the largest DATA chunk a device accepts.
CHUNK = 64 * 1024


class SyncFailed(Exception):
    """The device answered FAIL; the message is the device's own words."""


class _Socket(Protocol):
    def sendall(self, data: bytes) -> None: ...
    def recv(self, n: int) -> bytes: ...


def _recv_exact(sock: _Socket, n: int) -> bytes:
    parts, got = [], 0
    while got < n:
        chunk = sock.recv(min(n - got, 1 << 20))
        if not chunk:
            raise ConnectionResetError("the device closed the sync stream")
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _request(sock: _Socket, ident: bytes, path: str) -> None:
    raw = path.encode("utf-8")
    sock.sendall(ident + struct.pack("<I", len(raw)) + raw)


def _fail_message(sock: _Socket) -> str:
    size = struct.unpack("<I", _recv_exact(sock, 4))[0]
    return _recv_exact(sock, size).decode("utf-8", "replace")


def send(sock: _Socket, source: BinaryIO, remote: str, mode: int, total: int,
         progress: ProgressFn | None = None) -> int:
    """Push `source` to `remote`; returns bytes sent. Raises SyncFailed with the device's text."""
    _request(sock, b"SEND", f"{remote},{stat_mod.S_IFREG | mode}")
    done = 0
    while chunk := source.read(CHUNK):
        sock.sendall(b"DATA" + struct.pack("<I", len(chunk)) + chunk)
        done += len(chunk)
        if progress:
            progress(done, total)
    sock.sendall(b"DONE" + struct.pack("<I", int(time.time())))
    reply = _recv_exact(sock, 4)
    if reply == b"FAIL":
        raise SyncFailed(_fail_message(sock))
    if reply != b"OKAY":
        raise ConnectionResetError(f"unexpected sync reply {reply!r}")
    _recv_exact(sock, 4)
    return done


def recv(sock: _Socket, remote: str, sink: BinaryIO, total: int,
         progress: ProgressFn | None = None) -> int:
    """Pull `remote` into `sink`; returns bytes received."""
    _request(sock, b"RECV", remote)
    done = 0
    while True:
        ident = _recv_exact(sock, 4)
        if ident == b"DONE":
            _recv_exact(sock, 4)
            return done
        if ident == b"FAIL":
            raise SyncFailed(_fail_message(sock))
        if ident != b"DATA":
            raise ConnectionResetError(f"unexpected sync reply {ident!r}")
        size = struct.unpack("<I", _recv_exact(sock, 4))[0]
        sink.write(_recv_exact(sock, size))
        done += size
        if progress:
            progress(done, total)


def stat(sock: _Socket, path: str) -> FileStat:
    _request(sock, b"STAT", path)
    ident, mode, size, mtime = struct.unpack("<4sIII", _recv_exact(sock, 16))
    if ident != b"STAT":
        raise ConnectionResetError(f"unexpected sync reply {ident!r}")
    return FileStat(path, mode, size, mtime)


def listdir(sock: _Socket, path: str) -> list[FileStat]:
    _request(sock, b"LIST", path)
    entries = []
    while True:
        ident, mode, size, mtime, namelen = struct.unpack("<4sIIII", _recv_exact(sock, 20))
        if ident == b"DONE":
            break
        if ident != b"DENT":
            raise ConnectionResetError(f"unexpected sync reply {ident!r}")
        name = _recv_exact(sock, namelen).decode("utf-8", "surrogateescape")
        if name not in (".", ".."):
            entries.append(FileStat(posixpath.join(path, name), mode, size, mtime))
    return sorted(entries, key=lambda e: e.path)
