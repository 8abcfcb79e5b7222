"""`handlite app build` / `handlite app install`: missing tools, a Gradle stand-in, and an
install on the stand-in phone (direct transport) whose `pm` records what it was asked."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

FAKE_GRADLE = """#!/bin/sh
# records its arguments, then makes the APK Gradle would (or fails with $FAKE_GRADLE_EXIT)
echo "$@" > "$FAKE_GRADLE_LOG"
if [ -n "$FAKE_GRADLE_EXIT" ]; then echo "BUILD FAILED" >&2; exit "$FAKE_GRADLE_EXIT"; fi
while [ $# -gt 0 ]; do
  if [ "$1" = "-p" ]; then project="$2"; fi
  shift
done
/bin/mkdir -p "$project/app/build/outputs/apk/debug"
printf 'PK\\003\\004fake apk' > "$project/app/build/outputs/apk/debug/app-debug.apk"
"""


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "android_app"
    root.mkdir()
    (root / "settings.gradle.kts").write_text('rootProject.name = "handlite"\n')
    return root


@pytest.fixture
def bare_env(tmp_path, monkeypatch):
    """No SDK variables, and a PATH with nothing on it but what a test adds to `bin`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.delenv("ANDROID_HOME", raising=False)
    monkeypatch.delenv("ANDROID_SDK_ROOT", raising=False)
    monkeypatch.setenv("PATH", str(bin_dir))
    return bin_dir


def _fake_gradle(bin_dir: Path, tmp_path: Path, monkeypatch) -> Path:
    gradle = bin_dir / "gradle"
    gradle.write_text(FAKE_GRADLE)
    gradle.chmod(gradle.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "gradle.log"
    monkeypatch.setenv("FAKE_GRADLE_LOG", str(log))
    return log


def test_build_without_sdk_or_gradle_names_both_in_one_line(run_cli, project, bare_env):
    code, out, err = run_cli("app", "build", "--project", project)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert "ANDROID_HOME" in lines[0] and "Gradle" in lines[0]


def test_build_with_sdk_but_no_gradle_names_only_gradle(run_cli, project, bare_env, tmp_path,
                                                        monkeypatch):
    sdk = tmp_path / "sdk"
    sdk.mkdir()
    (project / "local.properties").write_text(f"sdk.dir={sdk}\n")
    code, _, err = run_cli("app", "build", "--project", project)
    assert code == 2
    assert "Gradle" in err and "ANDROID_HOME" not in err


def test_build_runs_gradle_and_reports_the_apk(run_cli, project, bare_env, tmp_path,
                                               monkeypatch):
    sdk = tmp_path / "sdk"
    sdk.mkdir()
    monkeypatch.setenv("ANDROID_SDK_ROOT", str(sdk))
    log = _fake_gradle(bare_env, tmp_path, monkeypatch)
    code, out, err = run_cli("app", "build", "--project", project, "--json")
    assert code == 0, err
    doc = json.loads(out)
    apk = project / "app/build/outputs/apk/debug/app-debug.apk"
    assert doc["apk"] == str(apk) and doc["bytes"] == apk.stat().st_size
    assert "assembleDebug" in log.read_text().split()


def test_a_failing_gradle_is_a_failed_check(run_cli, project, bare_env, tmp_path, monkeypatch):
    sdk = tmp_path / "sdk"
    sdk.mkdir()
    monkeypatch.setenv("ANDROID_HOME", str(sdk))
    _fake_gradle(bare_env, tmp_path, monkeypatch)
    monkeypatch.setenv("FAKE_GRADLE_EXIT", "3")
    code, _, err = run_cli("app", "build", "--project", project)
    assert code == 1
    assert "exit code 3" in err


def test_install_refuses_a_file_that_is_not_an_apk(run_cli, tmp_path):
    bogus = tmp_path / "app.apk"
    bogus.write_text("not a zip")
    # no device exists here: the file must be refused before any connection is tried
    code, _, err = run_cli("app", "install", bogus, "--transport", "direct",
                           "--connect", "127.0.0.1:1")
    assert code == 2 and "not an APK" in err


FAKE_PM = """#!/bin/sh
# the stand-in phone has no package manager: record the request and answer like pm does
printf '%s\\n' "$@" > "$HANDLITE_DEVICE_ROOT/.device/pm_args"
cp "$4" "$HANDLITE_DEVICE_ROOT/.device/installed.apk"
if [ -n "$(cat "$HANDLITE_DEVICE_ROOT/.device/pm_fail" 2>/dev/null)" ]; then
  echo "Failure [INSTALL_FAILED_UPDATE_INCOMPATIBLE: signatures do not match]"; exit 1
fi
echo "Success"
"""


@pytest.fixture
def phone(tmp_path, monkeypatch):
    from handlite.testing.fake_adbd import StandInDevice

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))  # the direct transport keeps its key there
    device = StandInDevice(tmp_path / "phone").start()
    device.sandbox.install_command("pm", FAKE_PM)
    yield device
    device.stop()


def test_install_pushes_installs_and_cleans_up(run_cli, tmp_path, phone):
    apk = tmp_path / "my app; rm -rf x.apk"  # a name the device shell must never parse
    apk.write_bytes(b"PK\x03\x04" + os.urandom(3000))
    code, out, err = run_cli("app", "install", apk, "--transport", "direct", "--connect",
                             phone.serial, "--json")
    assert code == 0, err
    [result] = json.loads(out)["results"]
    assert result["package"] == "org.handlite.app" and result["bytes"] == apk.stat().st_size
    state = phone.sandbox.root / ".device"
    args = (state / "pm_args").read_text().splitlines()
    assert args[:3] == ["install", "-r", "-t"]
    # the stand-in maps device paths onto its sandbox folder when a command runs
    assert args[3] == f"{phone.sandbox.root}/data/local/tmp/handlite/{apk.name}"
    assert (state / "installed.apk").read_bytes() == apk.read_bytes()
    assert not (phone.sandbox.root / "data/local/tmp/handlite" / apk.name).exists()


def test_install_failure_carries_pm_reason(run_cli, tmp_path, phone):
    (phone.sandbox.root / ".device" / "pm_fail").write_text("yes")
    apk = tmp_path / "app-debug.apk"
    apk.write_bytes(b"PK\x03\x04" + os.urandom(100))
    code, _, err = run_cli("app", "install", apk, "--transport", "direct", "--connect",
                           phone.serial)
    assert code != 0
    assert "INSTALL_FAILED_UPDATE_INCOMPATIBLE" in err
    assert not (phone.sandbox.root / "data/local/tmp/handlite" / apk.name).exists()
