"""Auth modes none / accept-new / refuse behave like a phone, for real adb and both transports."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from handlite.device import connect, describe, list_devices
from handlite.errors import DeviceUnauthorized
from handlite.testing.adbtools import adb_clients, kill_adb_server

ADB_CLIENTS = adb_clients()


def adb_state(adb, binary, serial, want, timeout=5.0) -> str:
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        for line in adb(binary, "devices").stdout.decode().splitlines()[1:]:
            if line.startswith(serial + "\t"):
                state = line.split("\t")[1]
        if state == want:
            break
        time.sleep(0.1)
    return state


@pytest.mark.parametrize("client", sorted(ADB_CLIENTS))
def test_accept_new_stores_the_key_then_verifies_its_signature(client, stand_in, adb, adb_env):
    binary = ADB_CLIENTS[client]
    phone = stand_in(auth="accept-new")
    adb(binary, "connect", phone.serial)
    assert adb_state(adb, binary, phone.serial, "device") == "device"
    pub = (Path.home() / ".android/adbkey.pub").read_text().split()[0]
    assert phone.keys_path.read_text().split()[0] == pub
    # A new server with the same key: the phone now knows it and checks the signature.
    kill_adb_server(adb_env)
    time.sleep(0.3)
    adb(binary, "connect", phone.serial)
    assert adb_state(adb, binary, phone.serial, "device") == "device"
    assert len(phone.keys_path.read_text().splitlines()) == 1
    assert adb(binary, "-s", phone.serial, "shell", "echo ok").stdout == b"ok\n"


def test_refuse_shows_unauthorized_everywhere(stand_in, adb, run_cli):
    phone = stand_in(auth="refuse")
    binary = ADB_CLIENTS["adb29"]
    adb(binary, "connect", phone.serial, check=False)
    assert adb_state(adb, binary, phone.serial, "unauthorized") == "unauthorized"
    [entry] = list_devices()
    assert entry.state == "unauthorized" and "Allow USB debugging" in entry.hint
    with pytest.raises(DeviceUnauthorized):
        connect()
    [info] = describe()
    assert info["state"] == "unauthorized" and info["model"] is None and info["hint"]
    code, out, err = run_cli("push", __file__, "-s", phone.serial)
    assert code == 2 and "unauthorized" in err
    assert not phone.keys_path.exists() or phone.keys_path.read_text() == ""


def test_direct_transport_auth_modes(stand_in):
    refusing = stand_in(auth="refuse")
    with pytest.raises(DeviceUnauthorized, match="unauthorized"):
        connect(transport="direct", connect=refusing.serial, auth_timeout=0.5)
    [entry] = list_devices(transport="direct", connect=refusing.serial, auth_timeout=0.5)
    assert entry.state == "unauthorized"

    accepting = stand_in(auth="accept-new")
    [dev] = connect(transport="direct", connect=accepting.serial)
    assert dev.shell("echo ok").stdout == "ok\n"
    dev.close()
    # The key was generated in this test's HOME and is the one the phone stored.
    pub = (Path.home() / ".android/adbkey.pub").read_text().split()[0]
    assert accepting.keys_path.read_text().split()[0] == pub
    # A known key is accepted on signature alone, even by a phone that refuses new keys.
    refusing.keys_path.write_text(accepting.keys_path.read_text())
    [dev] = connect(transport="direct", connect=refusing.serial, auth_timeout=0.5)
    assert dev.shell("echo again").stdout == "again\n"
    dev.close()
