"""Real adb clients nobody here wrote (Debian's adb 29, adb 36 from the adbutils wheel) must
accept the stand-in device: connect, shell with exit codes and stderr, push and pull."""

from __future__ import annotations

import hashlib

import pytest

from handlite.testing.adbtools import adb_clients

ADB_CLIENTS = adb_clients()


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("client", sorted(ADB_CLIENTS))
@pytest.mark.parametrize("profile", ["pixel7", "legacy"])
def test_real_adb_connect_shell_push_pull(client, profile, stand_in, adb, make_file, tmp_path):
    binary = ADB_CLIENTS[client]
    phone = stand_in(profile=profile)
    out = adb(binary, "connect", phone.serial).stdout.decode()
    assert "connected" in out
    listing = adb(binary, "devices", "-l").stdout.decode()
    model = "Pixel_7" if profile == "pixel7" else "Nexus_5"
    assert f"{phone.serial}" in listing and "device" in listing and model in listing

    s = ("-s", phone.serial)
    r = adb(binary, *s, "shell", "echo out; echo err >&2; exit 3", check=False)
    if profile == "pixel7":  # shell v2: the exit code and stderr travel separately
        assert (r.returncode, r.stdout, r.stderr) == (3, b"out\n", b"err\n")
    else:  # shell v1 (an old phone): no exit code, stderr merged, as real old devices do
        assert r.returncode == 0 and b"out\n" in r.stdout and b"err\n" in r.stdout
    prop = adb(binary, *s, "shell", "getprop", "ro.product.model").stdout.decode().strip()
    assert prop == ("Pixel 7" if profile == "pixel7" else "Nexus 5")

    # 300 kB spans many packets on both profiles (4 KiB max payload on legacy).
    local = make_file("model a.tflite", 300_000, seed=1)
    adb(binary, *s, "push", str(local), "/data/local/tmp/x/model a.tflite")
    on_device = phone.sandbox.root / "data/local/tmp/x/model a.tflite"
    assert sha(on_device) == sha(local)
    back = tmp_path / "back.tflite"
    adb(binary, *s, "pull", "/data/local/tmp/x/model a.tflite", str(back))
    assert sha(back) == sha(local)
    listed = adb(binary, *s, "shell", "ls", "/data/local/tmp/x").stdout.decode()
    assert "model a.tflite" in listed
    # `adb ls` goes through sync LIST (LIS2 on adb 36 with ls_v2): name and size per entry.
    entries = adb(binary, *s, "ls", "/data/local/tmp/x").stdout.decode().splitlines()
    assert any(e.endswith(" model a.tflite") and f"{300_000:08x}" in e for e in entries), entries
    if profile == "pixel7":
        remote = adb(binary, *s, "shell", "sha256sum '/data/local/tmp/x/model a.tflite'")
        assert remote.stdout.decode().split()[0] == sha(local)


def test_real_adb_push_is_refused_outside_writable_folders(stand_in, adb, make_file):
    phone = stand_in()
    binary = ADB_CLIENTS["adb29"]
    adb(binary, "connect", phone.serial)
    r = adb(binary, "-s", phone.serial, "push", str(make_file("m.tflite", 10)),
            "/system/m.tflite", check=False)
    assert r.returncode != 0 and b"Permission denied" in r.stdout + r.stderr
    assert not (phone.sandbox.root / "system/m.tflite").exists()


def test_real_adb_shell_paths_map_into_the_sandbox(stand_in, adb):
    phone = stand_in()
    binary = ADB_CLIENTS["adb36"]
    adb(binary, "connect", phone.serial)
    s = ("-s", phone.serial)
    r = adb(binary, *s, "shell", "echo hi > /data/local/tmp/f.txt; cat /data/local/tmp/f.txt; "
            "ls -d /data/local/tmp; cat /sys/devices/system/cpu/cpufreq/policy6/related_cpus")
    # Output names device paths, never the sandbox folder on the host.
    assert r.stdout.decode().split() == ["hi", "/data/local/tmp", "6", "7"]
    assert (phone.sandbox.root / "data/local/tmp/f.txt").read_text() == "hi\n"
