"""The `direct` backend: adb-shell talks to a device's adbd itself, no adb server.

Over TCP (`--connect HOST:PORT`, a phone after `adb tcpip 5555`, or the stand-in device) or USB
(needs the adb server stopped: it owns the USB interface, adb-shell issues #213/#225). The RSA
key is `~/.android/adbkey` (generated, with its .pub, when missing), so a phone that trusts this
computer's adb trusts handlite too.

adb-shell speaks shell v1 only: stderr comes merged into stdout (ShellResult.stderr is "") and
the exit code is recovered with a sentinel (`shell.with_exit_sentinel`). adb-shell keeps the
device's banner to itself, so `features` is empty here. It does not set
TCP_NODELAY and writes header and payload separately, which made a 1 MB push take 21.6 s
instead of 0.07 s (DESIGN.md): our TCP transport sets it.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

from handlite.device import shell as sh
from handlite.device.server import parse_address
from handlite.device.transport import (Device, DeviceEntry, FileStat, ProgressFn, ShellResult,
                                       push_error)
from handlite.errors import DeviceCommandError, DeviceNotFound, DeviceUnauthorized, TransportError
from handlite.io import atomic_open

T = TypeVar("T")
IO_TIMEOUT = 30.0


def key_path() -> Path:
    return Path.home() / ".android" / "adbkey"


def load_signer(path: Path | None = None):
    """The adb RSA key as an adb-shell signer; generates ~/.android/adbkey(.pub) if missing."""
    from adb_shell.auth.keygen import keygen
    from adb_shell.auth.sign_pythonrsa import PythonRSASigner

    path = path or key_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        keygen(str(path))
    return PythonRSASigner.FromRSAKeyPath(str(path))


def _fast_checksums() -> None:
    """adb-shell sums every packet's bytes in a Python loop (2 ms per 200 KB: most of a
    push's CPU, since it negotiates the protocol version that still has checksums). Install
    the same sum computed by numpy (exact: uint32 cannot overflow below 16 MB packets)."""
    from adb_shell import adb_device, adb_message

    original = adb_message.checksum
    if getattr(original, "handlite_fast", False):
        return

    def checksum(data):
        if isinstance(data, (bytes, bytearray, memoryview)) and len(data) < 1 << 24:
            return int(np.frombuffer(data, np.uint8).sum(dtype=np.uint32))
        return original(data)

    checksum.handlite_fast = True
    adb_message.checksum = checksum
    adb_device.checksum = checksum  # it imported the name for checking received packets


def _full_packet_device(transport):
    """An adb-shell AdbDevice whose sync DATA chunks fill a whole packet.

    adb-shell sizes chunks at half the max payload, so on a 4 KiB (old) device each packet
    carried 2 KiB and a push needed twice the stop-and-wait round trips.
    """
    from adb_shell.adb_device import AdbDevice

    class FullPacketAdbDevice(AdbDevice):
        @property
        def max_chunk_size(self):
            return max(min(64 * 1024, self._maxdata - 8), 1024)  # 8: the DATA header

    return FullPacketAdbDevice(transport, default_transport_timeout_s=IO_TIMEOUT)


def _nodelay_transport(host: str, port: int):
    from adb_shell.transport.tcp_transport import TcpTransport

    class NoDelayTcpTransport(TcpTransport):
        def connect(self, transport_timeout_s):
            super().connect(transport_timeout_s)
            self._connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def bulk_read(self, numbytes, transport_timeout_s):
            data = super().bulk_read(numbytes, transport_timeout_s)
            if not data:
                # adb-shell would poll a closed socket until its read timeout; fail at once.
                raise ConnectionResetError("the device closed the connection")
            return data

    return NoDelayTcpTransport(host, port)


class DirectDevice(Device):
    """A device's adbd reached without an adb server. Connects lazily and again after a drop."""

    transport = "direct"

    def __init__(self, address: str | None = None, *, usb_serial: str | None = None,
                 auth_timeout: float = 10.0):
        if address:
            self._host, self._port = parse_address(address, what="--connect")
            self.serial = f"{self._host}:{self._port}"
        else:
            self._host = None
            self.serial = usb_serial or "usb"
        self._usb_serial = usb_serial
        self._auth_timeout = auth_timeout
        self._dev = None

    @property
    def where(self) -> str:
        return f"tcp:{self.serial}" if self._host else "usb"

    def _device(self):
        if self._dev is not None and self._dev.available:
            return self._dev
        from adb_shell import exceptions as ex
        from adb_shell.adb_device import AdbDeviceUsb

        _fast_checksums()
        if self._host:
            dev = _full_packet_device(_nodelay_transport(self._host, self._port))
        else:
            try:
                dev = AdbDeviceUsb(serial=self._usb_serial, default_transport_timeout_s=IO_TIMEOUT)
            except (ex.UsbDeviceNotFoundError, ex.InvalidTransportError) as exc:
                raise DeviceNotFound(f"no USB device for the direct transport: {exc}") from None
        try:
            dev.connect(rsa_keys=[load_signer()], auth_timeout_s=self._auth_timeout,
                        transport_timeout_s=IO_TIMEOUT, read_timeout_s=IO_TIMEOUT)
        except ConnectionRefusedError:
            raise DeviceNotFound(f"nothing listens at {self.serial}",
                                 hint="start adbd there (`adb tcpip 5555` on the phone)") from None
        except (ex.DeviceAuthError, ex.AdbTimeoutError, ex.TcpTimeoutException):
            dev.close()
            raise DeviceUnauthorized(
                f"device {self.serial} did not accept this computer's key", hint=(
                    f"accept 'Allow USB debugging' on the phone (key {key_path()}.pub)")) \
                from None
        except OSError as exc:
            if "busy" in str(exc).lower() or "access" in str(exc).lower():
                raise TransportError(f"USB device {self.serial} is busy: {exc}", hint=(
                    "the adb server owns it: `adb kill-server`, or use --transport server")) \
                    from None
            raise DeviceNotFound(f"cannot reach {self.serial}: {exc}") from None
        self._dev = dev
        return dev

    def close(self) -> None:
        if self._dev is not None:
            self._dev.close()
            self._dev = None

    def _call(self, what: str, fn: Callable[[object], T]) -> T:
        """Run fn(adb device), mapping adb-shell's errors; any failure closes the connection
        so the device kills what it ran for us, and the next call reconnects."""
        from adb_shell import exceptions as ex

        dev = self._device()
        try:
            return fn(dev)
        except (ex.AdbTimeoutError, ex.TcpTimeoutException, TimeoutError):
            self.close()
            raise DeviceCommandError(f"{what} on {self.serial} timed out",
                                     hint="the command was stopped on the device") from None
        except (OSError, ex.AdbConnectionError, ex.InvalidResponseError,
                ex.InvalidCommandError, ex.InvalidChecksumError) as exc:
            self.close()
            raise TransportError(f"lost device {self.serial} during {what}: "
                                 f"{exc or type(exc).__name__}") from None

    def _shell(self, command: str, timeout: float | None) -> ShellResult:
        wrapped, token = sh.with_exit_sentinel(command)
        # read_timeout_s bounds the wait for each packet: a quiet command must not trip it.
        wait = timeout if timeout is not None else 10 ** 9
        out = self._call(f"`{command}`", lambda d: d.shell(
            wrapped, read_timeout_s=wait, timeout_s=timeout, decode=False))
        code, out = sh.split_exit_sentinel(out, token)
        return ShellResult(code, out.decode("utf-8", "replace"), "")

    def push(self, local, remote: str, progress: ProgressFn | None = None,
             mode: int = 0o644) -> int:
        from adb_shell.exceptions import PushFailedError

        total = os.path.getsize(local)
        done = [0]

        def step(_path, chunk: int, _total) -> None:
            done[0] += chunk  # adb-shell reports each chunk's size, not a running total
            if progress:
                progress(done[0], total)
        try:
            self._call(f"push to {remote}", lambda d: d.push(
                os.fspath(local), remote, st_mode=0o100000 | mode, progress_callback=step,
                read_timeout_s=IO_TIMEOUT))
        except PushFailedError as exc:
            self.close()  # adb-shell leaves the failed sync stream open
            raise push_error(self.serial, remote, _text(exc)) from None
        return total

    def pull(self, remote: str, local, progress: ProgressFn | None = None) -> int:
        from adb_shell.exceptions import AdbCommandFailureException

        st = self.stat(remote)
        if not st.is_file:
            raise DeviceCommandError(f"{remote} is not a file on {self.serial}")
        done = [0]

        def step(_path, chunk: int, _total) -> None:
            done[0] += chunk
            if progress:
                progress(done[0], st.size)
        try:
            with atomic_open(local, fsync=False, mkdir=False) as f:
                tmp = f.name
                f.close()  # adb-shell opens the path itself
                self._call(f"pull of {remote}", lambda d: d.pull(
                    remote, tmp, progress_callback=step, read_timeout_s=IO_TIMEOUT))
        except AdbCommandFailureException as exc:
            self.close()
            raise DeviceCommandError(f"pull of {remote} from {self.serial} failed: "
                                     f"{_text(exc)}") from None
        return st.size

    def stat(self, path: str) -> FileStat:
        mode, size, mtime = self._call(f"stat of {path}", lambda d: d.stat(path))
        return FileStat(path, mode, size, mtime)

    def listdir(self, path: str) -> list[FileStat]:
        entries = self._call(f"listing {path}", lambda d: d.list(path))
        out = []
        for e in entries:
            name = e.filename.decode("utf-8", "surrogateescape") \
                if isinstance(e.filename, (bytes, bytearray)) else e.filename
            if name not in (".", ".."):
                out.append(FileStat(f"{path.rstrip('/')}/{name}", e.mode, e.size, e.mtime))
        return sorted(out, key=lambda e: e.path)


def _text(exc: Exception) -> str:
    arg = exc.args[0] if exc.args else exc
    return arg.decode("utf-8", "replace") if isinstance(arg, (bytes, bytearray)) else str(arg)


class DirectBackend:
    """One device over TCP (`connect`), or the USB devices libusb can see."""

    def __init__(self, connect: str | None = None, auth_timeout: float = 10.0):
        self._connect = connect
        self._auth_timeout = auth_timeout
        self._opened: dict[str, DirectDevice] = {}

    def entries(self) -> list[DeviceEntry]:
        if self._connect:
            dev = DirectDevice(self._connect, auth_timeout=self._auth_timeout)
            candidates = [dev]
        else:
            candidates = [DirectDevice(usb_serial=s, auth_timeout=self._auth_timeout)
                          for s in _usb_serials()]
        found = []
        for dev in candidates:
            try:
                dev._device()
                state = "device"
                self._opened[dev.serial] = dev
            except DeviceUnauthorized:
                state = "unauthorized"
            except TransportError:
                state = "offline"
            found.append(DeviceEntry(dev.serial, state, "direct", dev.where))
        return found

    def open(self, entry: DeviceEntry) -> DirectDevice:
        return self._opened.get(entry.serial) or (
            DirectDevice(self._connect, auth_timeout=self._auth_timeout) if self._connect
            else DirectDevice(usb_serial=entry.serial, auth_timeout=self._auth_timeout))


def _usb_serials() -> list[str]:
    try:
        from adb_shell.transport.usb_transport import UsbTransport

        return [t.serial_number for t in UsbTransport.find_all_adb_devices()]
    except Exception as exc:  # noqa: BLE001 - libusb missing or unusable: say so in one line
        raise DeviceNotFound(f"cannot list USB devices for the direct transport: {exc}",
                             hint="give --connect HOST:PORT, or use --transport server") \
            from None
