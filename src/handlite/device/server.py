"""The `server` backend: devices through a running adb server (adbutils speaks its protocol).

Which servers: every `--adb-server HOST:PORT` given; else `ADB_SERVER_SOCKET=tcp:HOST:PORT`;
else `ANDROID_ADB_SERVER_HOST` (127.0.0.1) and `ANDROID_ADB_SERVER_PORT` (5037). Only that last,
local default is started when it is not running (`adb start-server`, as adb itself does);
servers named explicitly must already run (a device farm's hosts: `adb -a nodaemon server`).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from handlite.device import sync_protocol
from handlite.device import shell as sh
from handlite.device.transport import (Device, DeviceEntry, FileStat, ProgressFn, ShellResult,
                                       push_error)
from handlite.errors import (DeviceCommandError, DeviceNotFound, DeviceUnauthorized,
                             TransportError, UsageError)
from handlite.io import atomic_open

T = TypeVar("T")
#: Socket timeout for file transfers and stat/list (seconds without any progress).
IO_TIMEOUT = 30.0


def parse_address(text: str, *, what: str = "--adb-server") -> tuple[str, int]:
    """'HOST:PORT', ':PORT' or 'PORT' -> (host, port); host defaults to 127.0.0.1."""
    host, sep, port = text.strip().rpartition(":")
    if not sep:
        host, port = "", text.strip()
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"{what}: {text!r} is not HOST:PORT")
    return host, int(port)


def server_addresses(adb_servers: Sequence[str] = ()) -> list[tuple[str, int, bool]]:
    """(host, port, may_start) for each adb server to ask, from options or the environment."""
    if adb_servers:
        return [(*parse_address(a), False) for a in adb_servers]
    spec = os.environ.get("ADB_SERVER_SOCKET")
    if spec:
        if not spec.startswith("tcp:"):
            raise UsageError(f"ADB_SERVER_SOCKET={spec!r}: only tcp:HOST:PORT is supported")
        return [(*parse_address(spec[4:], what="ADB_SERVER_SOCKET"), False)]
    host = os.environ.get("ANDROID_ADB_SERVER_HOST") or "127.0.0.1"
    port = os.environ.get("ANDROID_ADB_SERVER_PORT") or "5037"
    if not port.isdigit():
        raise UsageError(f"ANDROID_ADB_SERVER_PORT={port!r} is not a port number")
    return [(host, int(port), host in ("127.0.0.1", "localhost"))]


def _reachable(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
        return True
    except OSError:
        return False


def ensure_server(host: str, port: int, may_start: bool) -> None:
    """Make sure an adb server answers at host:port, starting the local default if allowed."""
    if _reachable(host, port):
        return
    if may_start:
        from adbutils._utils import adb_path

        env = dict(os.environ, ANDROID_ADB_SERVER_PORT=str(port))
        try:
            subprocess.run([adb_path(), "start-server"], env=env, timeout=30,
                           capture_output=True, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise TransportError(f"cannot start an adb server on port {port}: {exc}") from None
        if _reachable(host, port):
            return
    raise TransportError(f"no adb server answers at {host}:{port}",
                         hint="start one there (`adb start-server`, or `adb -a nodaemon server` "
                              "for other hosts) or use --transport direct --connect HOST:PORT")


class ServerBackend:
    """Lists and opens devices known to one or more adb servers."""

    def __init__(self, adb_servers: Sequence[str] = (), connect: str | None = None):
        import adbutils

        self._clients = {}
        for host, port, may_start in server_addresses(adb_servers):
            ensure_server(host, port, may_start)
            self._clients[f"{host}:{port}"] = adbutils.AdbClient(host, port)
        self.connected_serial = self._connect(connect) if connect else None

    def _connect(self, address: str) -> str:
        host, port = parse_address(address, what="--connect")
        serial = f"{host}:{port}"
        client = next(iter(self._clients.values()))
        reply = _adb(lambda: client.connect(serial, timeout=10), "adb connect")
        if "cannot" in reply or "failed to connect" in reply or "unable" in reply:
            raise DeviceNotFound(f"cannot connect to {serial}: {reply.strip()}",
                                 hint="is adbd listening there (`adb tcpip 5555` on the phone)?")
        # The server reports the new device a moment later; wait until it settles.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            states = {e.serial: e.state for e in self.entries()}
            if states.get(serial) in ("device", "unauthorized"):
                break
            time.sleep(0.1)
        return serial

    def entries(self) -> list[DeviceEntry]:
        found = []
        for where, client in self._clients.items():
            for info in _adb(client.list, f"listing devices of the adb server {where}"):
                state = "no permissions" if info.state == "no" else info.state
                found.append(DeviceEntry(info.serial, state, "server", where))
        return found

    def open(self, entry: DeviceEntry) -> "ServerDevice":
        return ServerDevice(self._clients[entry.where], entry.serial, entry.where)


def _adb(fn: Callable[[], T], what: str) -> T:
    from adbutils.errors import AdbError

    try:
        return fn()
    except (AdbError, OSError) as exc:
        raise TransportError(f"{what} failed: {exc}") from None


def _recv(sock: socket.socket, n: int, deadline: float | None) -> bytes:
    """Up to n bytes; a timeout is the whole command's (deadline), not one quiet pause."""
    if deadline is not None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError()
        sock.settimeout(left)
    return sock.recv(n)


def _recv_exact(sock: socket.socket, n: int, deadline: float | None) -> bytes:
    parts, got = [], 0
    while got < n:
        chunk = _recv(sock, n - got, deadline)
        if not chunk:
            raise ConnectionResetError("the device closed the shell before it finished")
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _read_shell_v2(sock: socket.socket, deadline: float | None) -> ShellResult:
    """Shell v2 frames (1-byte id, 4-byte LE length): 1 stdout, 2 stderr, 3 exit code."""
    out, errs = bytearray(), bytearray()
    while True:
        header = _recv_exact(sock, 5, deadline)
        data = _recv_exact(sock, int.from_bytes(header[1:], "little"), deadline)
        if header[0] == 1:
            out += data
        elif header[0] == 2:
            errs += data
        elif header[0] == 3:
            return ShellResult(data[0] if data else 255, _decode(out), _decode(errs))


def _read_until_close(sock: socket.socket, deadline: float | None) -> bytes:
    parts = []
    while chunk := _recv(sock, 1 << 16, deadline):
        parts.append(chunk)
    return b"".join(parts)


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _gone(message: str) -> bool:
    return bool(re.search(r"not found|offline|no devices|closed", message))


class ServerDevice(Device):
    """A device reached through an adb server."""

    transport = "server"

    def __init__(self, client, serial: str, where: str = ""):
        self._client = client
        self.serial = serial
        self.where = where or f"{client.host}:{client.port}"  # the adb server
        self._dev = client.device(serial)
        self._features: frozenset[str] | None = None

    @property
    def features(self) -> frozenset[str]:
        if self._features is None:
            raw = self._call("reading features", self._dev.get_features)
            self._features = frozenset(f for f in raw.strip().split(",") if f)
        return self._features

    def _reconnect(self) -> bool:
        """After a network device dropped, ask the server to connect it again (like adb
        reconnect). Only for HOST:PORT serials; USB devices come back by themselves."""
        if not re.fullmatch(r".+:\d+", self.serial):
            return False
        try:
            # A dropped TCP device may linger as "offline"; connecting again would then only
            # say "already connected", so drop the stale transport first.
            self._client.disconnect(self.serial)
            self._client.connect(self.serial, timeout=5)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                if any(i.serial == self.serial and i.state == "device"
                       for i in self._client.list()):
                    return True
                time.sleep(0.1)
        except Exception:  # noqa: BLE001 - reconnecting is best effort; the caller reports
            return False
        return False

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run fn, mapping adbutils/socket errors to handlite's; if the server no longer knows
        the device (so nothing reached it), reconnect once and retry."""
        from adbutils.errors import AdbError, AdbTimeout

        for attempt in (0, 1):
            try:
                return fn()
            except (AdbTimeout, TimeoutError):
                raise DeviceCommandError(f"{what} on {self.serial} timed out",
                                         hint="the command was stopped on the device") from None
            except AdbError as exc:
                msg = str(exc)
                if "unauthorized" in msg:
                    raise DeviceUnauthorized(f"device {self.serial} is unauthorized") from None
                if attempt == 0 and _gone(msg) and self._reconnect():
                    continue
                raise TransportError(f"lost device {self.serial} during {what}: {msg}") from None
            except (OSError, EOFError) as exc:
                raise TransportError(f"lost device {self.serial} during {what}: "
                                     f"{exc or type(exc).__name__}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    @contextmanager
    def _service(self, service: str, timeout: float | None) -> Iterator[socket.socket]:
        """A socket to one device service through the server (host:transport, then OPEN).

        Our own instead of adbutils' open_transport: that one asks the server version on a
        second connection and sleeps 10 ms in close, ~25 ms per command or stat."""
        c = self._client.make_connection(timeout=timeout)
        try:
            c.send_command(f"host:transport:{self.serial}")
            c.check_okay()
            c.send_command(service)
            c.check_okay()
            yield c.conn
        finally:
            c.conn.close()  # closing the stream makes the device kill what it runs for us

    def _shell(self, command: str, timeout: float | None) -> ShellResult:
        deadline = None if timeout is None else time.monotonic() + timeout
        what = f"`{command}`"
        if "shell_v2" in self.features:
            def run_v2() -> ShellResult:
                with self._service(f"shell,v2,raw:{command}", timeout) as sock:
                    return _read_shell_v2(sock, deadline)
            return self._call(what, run_v2)
        # Old devices: shell v1 has no exit code and merges stderr; recover the code.
        wrapped, token = sh.with_exit_sentinel(command)

        def run_v1() -> bytes:
            with self._service(f"shell:{wrapped}", timeout) as sock:
                return _read_until_close(sock, deadline)
        code, out = sh.split_exit_sentinel(self._call(what, run_v1), token)
        return ShellResult(code, _decode(out), "")

    @contextmanager
    def _sync(self) -> Iterator[socket.socket]:
        with self._service("sync:", IO_TIMEOUT) as sock:
            yield sock

    def _sync_call(self, what: str, fn: Callable[[socket.socket], T]) -> T:
        def run() -> T:
            with self._sync() as sock:
                return fn(sock)
        return self._call(what, run)

    def push(self, local, remote: str, progress: ProgressFn | None = None,
             mode: int = 0o644) -> int:
        total = os.path.getsize(local)

        def send(sock) -> int:
            with open(local, "rb") as f:
                return sync_protocol.send(sock, f, remote, mode, total, progress)
        try:
            return self._sync_call(f"push to {remote}", send)
        except sync_protocol.SyncFailed as exc:
            raise push_error(self.serial, remote, str(exc)) from None

    def pull(self, remote: str, local, progress: ProgressFn | None = None) -> int:
        st = self.stat(remote)
        if not st.is_file:
            raise DeviceCommandError(f"{remote} is not a file on {self.serial}")
        try:
            with atomic_open(local, fsync=False, mkdir=False) as f:
                return self._sync_call(
                    f"pull of {remote}",
                    lambda s: sync_protocol.recv(s, remote, f, st.size, progress))
        except sync_protocol.SyncFailed as exc:
            raise DeviceCommandError(f"pull of {remote} from {self.serial} failed: {exc}") \
                from None

    def stat(self, path: str) -> FileStat:
        return self._sync_call(f"stat of {path}", lambda s: sync_protocol.stat(s, path))

    def listdir(self, path: str) -> list[FileStat]:
        return self._sync_call(f"listing {path}", lambda s: sync_protocol.listdir(s, path))
