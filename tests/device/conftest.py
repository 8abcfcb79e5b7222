"""Fixtures for the device path: stand-in devices, per-test HOME and adb server port.

Every test gets its own HOME (adb keys live in $HOME/.android) and ANDROID_ADB_SERVER_PORT;
an adb server started there is killed at teardown, and every stand-in device is stopped.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from handlite.testing.adbtools import free_port, kill_adb_server
from handlite.testing.fake_adbd import StandInDevice

@pytest.fixture
def adb_env(tmp_path, monkeypatch):
    """A private HOME and adb server port; returns the port. Kills that server afterwards."""
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(port))
    for var in ("ANDROID_SERIAL", "ADB_SERVER_SOCKET", "ANDROID_ADB_SERVER_HOST"):
        monkeypatch.delenv(var, raising=False)
    yield port
    kill_adb_server(port)


@pytest.fixture
def stand_in(adb_env, tmp_path):
    """Factory: stand_in(profile=..., auth=..., faults=[...]) -> a running StandInDevice."""
    started: list[StandInDevice] = []

    def make(profile: str = "pixel7", auth: str = "none", faults=()) -> StandInDevice:
        root = tmp_path / f"phone{len(started)}"
        device = StandInDevice(root, profile=profile, auth=auth, faults=faults).start()
        started.append(device)
        return device

    yield make
    for device in started:
        device.stop()


@pytest.fixture
def adb(adb_env):
    """Run a real adb client against this test's server: adb(binary, *args) -> result."""
    def run(binary: str, *args: str, timeout: float = 30, check: bool = True):
        if not os.path.exists(binary):
            pytest.skip(f"adb client {binary} not installed")
        env = dict(os.environ, ADBUTILS_ADB_PATH=binary)
        result = subprocess.run([binary, *args], capture_output=True, timeout=timeout, env=env)
        if check and result.returncode != 0:
            raise AssertionError(f"adb {' '.join(args)} failed: {result.stderr.decode()}")
        return result

    return run


@pytest.fixture
def make_file(tmp_path):
    """make_file(name, size, seed=0) -> a local file of pseudo-random bytes."""
    import random

    folder = tmp_path / "local"
    folder.mkdir(exist_ok=True)

    def make(name: str, size: int, seed: int = 0) -> Path:
        path = folder / name
        path.write_bytes(random.Random(seed).randbytes(size))
        return path

    return make
