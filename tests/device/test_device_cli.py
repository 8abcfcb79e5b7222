"""`handlite devices` / `handlite push` and the stand-in's own command line, end to end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from handlite.device import connect


def test_devices_json_shows_the_pixel7(stand_in, run_cli):
    phone = stand_in()
    code, out, err = run_cli("devices", "--connect", phone.serial, "--json")
    assert code == 0, err
    [info] = json.loads(out)["devices"]
    assert (info["serial"], info["state"], info["model"], info["soc"]) == (
        phone.serial, "device", "Pixel 7", "GS201")
    assert len(info["cpu_clusters"]) == 3 and info["thermal_zones"]
    assert info["battery"]["level_pct"] == 84


def test_devices_human_output_and_unknown_serial(stand_in, run_cli):
    phone = stand_in(profile="legacy")
    code, out, _ = run_cli("devices", "--transport", "direct", "--connect", phone.serial)
    assert code == 0 and "Nexus 5" in out and "4.4.4 (SDK 19)" in out
    code, _, err = run_cli("devices", "--connect", phone.serial, "-s", phone.serial + "9")
    assert code == 2 and "not found" in err and err.count("\n") == 1


@pytest.mark.parametrize("transport", ["server", "direct"])
def test_push_command_json_and_skip(transport, stand_in, run_cli, make_file):
    phone = stand_in()
    files = [str(make_file("m.tflite", 70_000)), str(make_file("a b;touch PWNED.tflite", 10))]
    args = ["push", *files, "--transport", transport, "--connect", phone.serial,
            "--dest", "/data/local/tmp/models", "--json"]
    code, out, err = run_cli(*args)
    assert code == 0, err
    doc = json.loads(out)
    assert [r["status"] for r in doc["results"]] == ["pushed", "pushed"] and not doc["errors"]
    assert doc["results"][1]["remote"] == "/data/local/tmp/models/a b;touch PWNED.tflite"
    code, out, _ = run_cli(*args)
    assert [r["status"] for r in json.loads(out)["results"]] == ["skipped", "skipped"]
    assert not list(phone.sandbox.root.rglob("PWNED*"))


def test_push_command_one_line_error_on_fault(stand_in, run_cli, make_file):
    phone = stand_in(faults=["storage-full:1000"])
    code, out, err = run_cli("push", str(make_file("m.tflite", 5000)), "--connect",
                             phone.serial)
    assert code == 2 and out == ""
    assert err.startswith("error: storage full on ") and err.count("\n") == 1


def test_push_to_all_devices(stand_in, run_cli, make_file):
    phones = [stand_in(), stand_in(profile="legacy"), stand_in(faults=["fail-push:refused"])]
    for p in phones:
        connect(connect=p.serial)
    local = str(make_file("m.tflite", 1000))
    serials = ",".join(p.serial for p in phones[:2])
    code, out, err = run_cli("push", local, "-s", serials, "--json")
    assert code == 0, err
    assert sorted(r["serial"] for r in json.loads(out)["results"]) == sorted(
        p.serial for p in phones[:2])
    # One failing device: the others are still served, the failure is one line, exit 1.
    code, out, err = run_cli("push", local, "-s", "all", "--json")
    doc = json.loads(out)
    assert code == 1 and [e["serial"] for e in doc["errors"]] == [phones[2].serial]
    assert [r["status"] for r in doc["results"]] == ["skipped", "skipped"]
    assert err.startswith("error: push failed on 1 of 3 devices") and err.count("\n") == 1


def test_stand_in_runs_as_a_module(adb_env, tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "handlite.testing.fake_adbd", "--port", "0", "--profile", "legacy",
         "--root", str(tmp_path / "phone"), "--fault", "slow-okay:0.001"],
        stdout=subprocess.PIPE, text=True, env=os.environ)
    try:
        line = proc.stdout.readline()
        assert "listening on 127.0.0.1:" in line and "profile=legacy" in line
        serial = line.split()[4]
        [dev] = connect(transport="direct", connect=serial)
        assert dev.shell("getprop ro.product.model").stdout == "Nexus 5\n"
        dev.close()
        assert (tmp_path / "phone/data/local/tmp").is_dir()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    bad = subprocess.run([sys.executable, "-m", "handlite.testing.fake_adbd", "--fault", "nope"],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "unknown fault" in bad.stderr
