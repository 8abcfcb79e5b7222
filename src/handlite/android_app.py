"""The bundled Android sample app (android_app/): build it with Gradle, install it on a device.

The app itself is Java (android_app/app, android_app/core); this module only drives the tools:
- `build_app`: `./gradlew assembleDebug` (or `gradle` on PATH) when an Android SDK is present
  (ANDROID_HOME / ANDROID_SDK_ROOT, or `sdk.dir` in local.properties); otherwise one error
  naming what is missing. The core module's tests need no SDK: `android_app/core/build.sh`.
- `install_apk`: push the APK to the device (verified), `pm install -r -t`, remove the copy.

After installing, `handlite bench --runner app` starts `org.handlite.app/.BenchmarkActivity`
(see `handlite.bench.runners.AppRunner`). Units: bytes, seconds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from handlite.device import push_verified
from handlite.errors import CheckFailed, DeviceCommandError, InputError

#: the Gradle project in a source checkout (src/handlite/android_app.py -> repo root)
PROJECT_DIR = Path(__file__).resolve().parents[2] / "android_app"
PACKAGE = "org.handlite.app"
DEBUG_APK = Path("app/build/outputs/apk/debug/app-debug.apk")
#: where the APK waits on the device while `pm` installs it
DEVICE_TMP = "/data/local/tmp/handlite"


@dataclass(frozen=True)
class BuildResult:
    apk: Path
    bytes: int
    seconds: float
    gradle: str

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "apk": str(self.apk)}


@dataclass(frozen=True)
class InstallResult:
    serial: str
    apk: str
    bytes: int
    package: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sdk_dir(project: Path, env: dict[str, str] | None = None) -> Path | None:
    """The Android SDK: ANDROID_HOME, ANDROID_SDK_ROOT, then local.properties' sdk.dir."""
    env = os.environ if env is None else env
    for var in ("ANDROID_HOME", "ANDROID_SDK_ROOT"):
        value = env.get(var)
        if value and Path(value).is_dir():
            return Path(value)
    props = project / "local.properties"
    if props.is_file():
        for line in props.read_text(errors="replace").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "sdk.dir" and Path(value.strip()).is_dir():
                return Path(value.strip())
    return None


def gradle_command(project: Path, env: dict[str, str] | None = None) -> list[str] | None:
    """The project's wrapper when it has one, else `gradle` from PATH; None when neither."""
    wrapper = project / "gradlew"
    if wrapper.is_file() and os.access(wrapper, os.X_OK):
        return [str(wrapper)]
    env = os.environ if env is None else env
    found = shutil.which("gradle", path=env.get("PATH"))
    return [found] if found else None


def build_app(project: str | os.PathLike | None = None, *, task: str = "assembleDebug",
              env: dict[str, str] | None = None) -> BuildResult:
    """Build the debug APK with Gradle; its output streams to stderr.

    Raises InputError (exit 2) naming what is missing when there is no SDK or no Gradle, and
    CheckFailed (exit 1) when Gradle fails or leaves no APK.
    """
    project = Path(project) if project is not None else PROJECT_DIR
    if not (project / "settings.gradle.kts").is_file():
        raise InputError(f"{project} is not the handlite Android project (no settings.gradle.kts)")
    env = dict(os.environ if env is None else env)
    sdk = sdk_dir(project, env)
    gradle = gradle_command(project, env)
    missing = []
    if sdk is None:
        missing.append("an Android SDK (set ANDROID_HOME or ANDROID_SDK_ROOT, or sdk.dir in "
                       "android_app/local.properties)")
    if gradle is None:
        missing.append("Gradle 8.9+ (`gradle` on PATH, or android_app/gradlew: run "
                       "`gradle wrapper` there once, or open the project in Android Studio)")
    if missing:
        raise InputError("cannot build the app: missing " + " and ".join(missing),
                         hint="the core module builds without them: android_app/core/build.sh")
    env.setdefault("ANDROID_HOME", str(sdk))
    start = time.perf_counter()
    try:
        proc = subprocess.Popen([*gradle, "--console=plain", "-p", str(project), task],
                                cwd=project, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace")
    except OSError as exc:
        raise InputError(f"cannot run {gradle[0]}: {exc.strerror or exc}") from exc
    # stdout is reserved for --json: Gradle's progress goes to stderr, line by line
    with proc:
        for line in proc.stdout:
            sys.stderr.write(line)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise CheckFailed(f"gradle {task} failed with exit code {proc.returncode} "
                          f"(its output is above)")
    apk = project / DEBUG_APK
    if not apk.is_file():
        raise CheckFailed(f"gradle {task} succeeded but left no APK at {apk}")
    return BuildResult(apk=apk, bytes=apk.stat().st_size, seconds=seconds, gradle=gradle[0])


def check_apk(path: str | os.PathLike) -> Path:
    """An existing .apk file that at least looks like one (a zip)."""
    apk = Path(path)
    if not apk.is_file():
        raise InputError(f"{apk}: no such file", hint="build it with `handlite app build`")
    with open(apk, "rb") as fh:
        if fh.read(4) != b"PK\x03\x04":
            raise InputError(f"{apk} is not an APK (not a zip archive)")
    return apk


def install_apk(device, apk: str | os.PathLike, *, timeout: float = 300.0) -> InstallResult:
    """Install `apk` on `device` (a handlite.device Device): verified push, `pm install -r -t`.

    Raises DeviceCommandError with pm's reason (e.g. INSTALL_FAILED_UPDATE_INCOMPATIBLE)."""
    path = check_apk(apk)
    start = time.perf_counter()
    [pushed] = push_verified(device, [path], DEVICE_TMP + "/")
    remote = pushed.remote
    try:
        result = device.shell(["pm", "install", "-r", "-t", remote], timeout=timeout)
    finally:
        device.shell(["rm", "-f", remote], timeout=30)
    output = (result.stdout + result.stderr).strip()
    # older devices exit 0 on failure: only pm's own "Success" line counts
    if not result.ok or "Success" not in output.splitlines():
        reason = output.splitlines()[-1] if output else f"exit code {result.exit_code}"
        raise DeviceCommandError(f"pm install failed on {device.serial}: {reason}",
                                 exit_code=result.exit_code, output=output)
    return InstallResult(serial=device.serial, apk=str(path), bytes=path.stat().st_size,
                         package=PACKAGE, seconds=time.perf_counter() - start)
