"""The stand-in device's file system and shell: a folder that looks like a phone.

Layout of a sandbox root `ROOT` (device path -> host path is `/x/y` -> `ROOT/x/y`):

    ROOT/data/local/tmp/            where pushes go (writable, like on a phone)
    ROOT/sdcard/                    writable too
    ROOT/sys/devices/system/cpu/    cpufreq policies (pixel7: policy0, policy4, policy6)
    ROOT/sys/class/thermal/         thermal_zone*/{type,temp} (millidegrees C)
    ROOT/system/bin/                the device's tools: shims (getprop, dumpsys, df, am, logcat)
                                    and links to host coreutils (ls, cat, sha256sum, ...)
    ROOT/bin/                       HOOK: executables dropped here are on PATH before
                                    system/bin, so they add or override device commands
    ROOT/.device/                   the stand-in's own state (profile, storage, logcat log)

How commands see the sandbox (no chroot or namespaces needed):
- Each command runs as `/bin/sh -c CMD` in its own process session, cwd `ROOT` (a phone's adb
  shell starts in `/`), with `PATH=ROOT/bin:ROOT/system/bin` — only the tools a phone has.
- Before running, device-absolute paths in CMD that start with one of `MAPPED_TOPS`
  (`/data`, `/sdcard`, `/sys`, `/system`, ...) are rewritten to `ROOT/...`, also inside quotes
  and after `=` (so `--graph=/data/local/tmp/m.tflite` reaches a hook as a real host path).
  Other absolute paths (`/dev/null`, `/proc/...`) stay host paths.
- In everything a command prints, `ROOT` is rewritten back to `/`, so output shows device paths.
- Environment: `HANDLITE_DEVICE_ROOT=ROOT`, `HANDLITE_HOST_PYTHON` (the host interpreter), plus
  ANDROID_DATA, ANDROID_ROOT, EXTERNAL_STORAGE, TMPDIR as on a phone.

Adding a command (for example a fake `benchmark_model`): `Sandbox.install_command(name, text)`
writes an executable into `ROOT/bin/`. A script's first line must name an absolute interpreter
(`#!/bin/sh`, or `#!/path/to/python`: PATH holds only device tools, so `#!/usr/bin/env python3`
finds nothing); `install_command(..., python=True)` writes the host interpreter's shebang for
you. `am` and `logcat` are shims that append to / print `ROOT/.device/logcat.txt`: an `am start`
hook can append lines there (`Sandbox.logcat_path`) and `logcat -d` shows them.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from handlite.testing.shims import data_used

#: Device top-level folders that are mapped into the sandbox root in commands and sync paths.
MAPPED_TOPS = ("data", "sdcard", "storage", "sys", "system", "vendor", "mnt")
#: Device folders a shell user may write to through `adb push` (elsewhere: Permission denied).
WRITABLE = ("/data/local/tmp", "/sdcard", "/storage/emulated/0")

# Host tools linked into ROOT/system/bin, roughly what toybox gives a phone's shell user.
_TOOLS = ("sh", "ls", "cat", "rm", "rmdir", "mkdir", "mv", "cp", "ln", "chmod", "touch", "stat",
          "head", "tail", "wc", "sleep", "printf", "echo", "uname", "date", "ps", "kill", "grep",
          "sed", "cut", "tr", "sort", "uniq", "xargs", "find", "du", "dd", "true", "false", "env",
          "basename", "dirname", "readlink", "test", "[", "md5sum", "sha1sum", "sha256sum",
          "taskset", "nproc", "nice", "timeout", "tee", "seq", "expr", "cmp", "od", "which",
          "sync", "awk", "id")
_SHIMS = ("dumpsys", "df", "am", "logcat")

_PIXEL7_PROPS = {
    "ro.product.name": "panther",
    "ro.product.model": "Pixel 7",
    "ro.product.device": "panther",
    "ro.product.brand": "google",
    "ro.product.manufacturer": "Google",
    "ro.board.platform": "gs201",
    "ro.hardware": "panther",
    "ro.soc.manufacturer": "Google",
    "ro.soc.model": "GS201",
    "ro.product.cpu.abi": "arm64-v8a",
    "ro.product.cpu.abilist": "arm64-v8a",
    "ro.build.version.release": "14",
    "ro.build.version.sdk": "34",
    "ro.build.fingerprint": "google/panther/panther:14/UQ1A.240205.004/11269751:user/release-keys",
    "ro.serialno": "stand-in-pixel7",
}

_LEGACY_PROPS = {
    "ro.product.name": "hammerhead",
    "ro.product.model": "Nexus 5",
    "ro.product.device": "hammerhead",
    "ro.product.brand": "google",
    "ro.product.manufacturer": "LGE",
    "ro.board.platform": "msm8974",
    "ro.hardware": "hammerhead",
    "ro.product.cpu.abi": "armeabi-v7a",
    "ro.product.cpu.abilist": "armeabi-v7a,armeabi",
    "ro.build.version.release": "4.4.4",
    "ro.build.version.sdk": "19",
    "ro.serialno": "stand-in-legacy",
}


@dataclass(frozen=True)
class CpuCluster:
    """One cpufreq policy: the CPUs it governs and its frequencies (kHz)."""

    first_cpu: int
    cpus: tuple[int, ...]
    freqs_khz: tuple[int, ...]
    governor: str


@dataclass(frozen=True)
class Profile:
    """What kind of phone the stand-in pretends to be.

    `version`/`max_payload`/`features` go into the ADB CNXN reply; the rest shapes the sandbox.
    `per_cpu_cpufreq` lays cpufreq out as old kernels did (`cpuN/cpufreq`, no `policyN`);
    `df_style` is "toybox" (1K-blocks/Available columns) or "toolbox" (Size/Used/Free, pre-M).
    """

    name: str
    version: int
    max_payload: int
    features: tuple[str, ...]
    props: dict[str, str]
    clusters: tuple[CpuCluster, ...]
    thermal: tuple[tuple[str, int], ...]  # (type, millidegrees C)
    tools_missing: tuple[str, ...] = ()
    per_cpu_cpufreq: bool = False
    df_style: str = "toybox"
    battery: dict[str, object] = field(default_factory=dict)
    #: raw cpufreq file contents written over the first cluster's (hostile devices)
    cpufreq_raw: tuple[tuple[str, str], ...] = ()

    def banner(self) -> bytes:
        """The CNXN banner a phone of this kind sends (<= 4096 bytes)."""
        keys = ("ro.product.name", "ro.product.model", "ro.product.device")
        parts = [f"{k}={self.props[k]}" for k in keys]
        if self.features:
            parts.append("features=" + ",".join(self.features))
        return ("device::" + ";".join(parts) + ";").encode()


# Values a real Pixel 7 reports (DESIGN.md); temperatures and battery are plausible stand-in
# values, not measurements.
PROFILES: dict[str, Profile] = {
    "pixel7": Profile(
        name="pixel7", version=0x01000001, max_payload=256 * 1024,
        features=("shell_v2", "cmd", "stat_v2", "ls_v2", "fixed_push_mkdir"),
        props=_PIXEL7_PROPS,
        clusters=(
            CpuCluster(0, (0, 1, 2, 3), (300000, 574000, 738000, 930000, 1098000, 1197000,
                                         1328000, 1401000, 1598000, 1704000, 1803000),
                       "sched_pixel"),
            CpuCluster(4, (4, 5), (400000, 553000, 696000, 799000, 910000, 1024000, 1197000,
                                   1328000, 1491000, 1663000, 1836000, 1999000, 2130000,
                                   2253000, 2348000), "sched_pixel"),
            CpuCluster(6, (6, 7), (500000, 851000, 984000, 1106000, 1277000, 1426000, 1582000,
                                   1745000, 1826000, 2048000, 2188000, 2252000, 2401000,
                                   2507000, 2630000, 2704000, 2802000, 2850000), "sched_pixel"),
        ),
        thermal=(("BIG", 41200), ("MID", 39800), ("LITTLE", 38100), ("G3D", 36500),
                 ("TPU", 36900), ("battery", 32600), ("neutral_therm", 33100)),
        battery={"level": 84, "temperature": 326, "status": 2, "usb": True, "ac": False},
    ),
    "legacy": Profile(
        name="legacy", version=0x01000000, max_payload=4096, features=(),
        props=_LEGACY_PROPS,
        clusters=(CpuCluster(0, (0, 1, 2, 3), (300000, 960000, 1574400, 2265600),
                             "interactive"),),
        thermal=(("tsens_tz_sensor0", 38), ("pm8841_tz", 37)),  # old kernels: whole degrees
        tools_missing=("sha256sum",), per_cpu_cpufreq=True, df_style="toolbox",
        battery={"level": 57, "temperature": 291, "status": 3, "usb": False, "ac": False},
    ),
}

# A phone that prints what a broken or hostile one could: rich markup, terminal escape codes
# (title change, screen clear, a link), absurd cpufreq values, a toolbox df with a size that is
# no number. `handlite devices` must list it (exit 0) and show all of it as inert text.
_HOSTILE_PROPS = {
    **_PIXEL7_PROPS,
    "ro.product.model": "Evil[/]Phone\x1b]0;pwned\x07\x1b[2J",
    "ro.product.manufacturer": "[link=https://example.invalid]ACME[/link]",
    "ro.soc.model": "[bold red]SoC\x1b[31m",
    "ro.build.version.release": "14\x1b[2J",
    "ro.serialno": "stand-in-hostile",
}
PROFILES["hostile"] = Profile(
    name="hostile", version=0x01000001, max_payload=256 * 1024,
    features=("shell_v2", "cmd", "stat_v2", "ls_v2", "fixed_push_mkdir"),
    props=_HOSTILE_PROPS,
    clusters=PROFILES["pixel7"].clusters,
    thermal=(("BIG[/]\x1b[2J", 41200), ("absurd", 10**15)),
    df_style="hostile",
    battery={"level": 840, "temperature": 326, "status": 2, "usb": True, "ac": False},
    cpufreq_raw=(("related_cpus", "0-4000000000"), ("cpuinfo_max_freq", "9" * 40),
                 ("scaling_governor", "[/]\x1b[2J")),
)


class Sandbox:
    """A phone-shaped folder and the rules for running device commands inside it."""

    def __init__(self, root: str | os.PathLike, profile: Profile):
        self.root = Path(os.path.realpath(root))
        self.profile = profile
        self._root_b = str(self.root).encode()
        tops = "|".join(MAPPED_TOPS)
        # A device path starts where no path or word character precedes the slash.
        self._device_path_re = re.compile(rf"(?<![\w.~/$-])/(?:{tops})(?![\w.-])")

    # -- building --------------------------------------------------------------------------
    @property
    def state_dir(self) -> Path:
        return self.root / ".device"

    @property
    def bin_dir(self) -> Path:
        """The hook folder: executables here are device commands (first on PATH)."""
        return self.root / "bin"

    @property
    def logcat_path(self) -> Path:
        return self.state_dir / "logcat.txt"

    def create(self) -> "Sandbox":
        """Lay out the phone tree (idempotent: files a test put there are kept)."""
        p = self.profile
        for d in ("data/local/tmp", "data/misc/adb", "sdcard", "system/bin", "vendor", "bin",
                  ".device"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        self._write_state("profile.json", json.dumps({
            "name": p.name, "props": p.props, "df_style": p.df_style, "battery": p.battery,
            "thermal": p.thermal}))
        self.set_free_space(None)  # a reused root must not keep an old storage fault
        self.logcat_path.touch()
        self._link_tools()
        self._write_cpufreq()
        self._write_thermal()
        return self

    def _write_state(self, name: str, text: str) -> None:
        (self.state_dir / name).write_text(text)

    def _link_tools(self) -> None:
        sysbin = self.root / "system" / "bin"
        for tool in _TOOLS:
            if tool in self.profile.tools_missing:
                continue
            host = shutil.which(tool, path="/usr/bin:/bin")
            link = sysbin / tool
            if host and not link.is_symlink():
                link.symlink_to(host)
        # Shims run with the host interpreter; -S skips site-packages so each starts fast.
        src = Path(__file__).resolve().parents[2]
        for shim in _SHIMS:
            (sysbin / shim).write_text(
                f"#!{sys.executable} -S\nimport sys\nsys.path.insert(0, {str(src)!r})\n"
                "from handlite.testing.shims import main\nmain()\n")
            (sysbin / shim).chmod(0o755)
        # getprop runs in every info query: a shell script, no interpreter start-up.
        props = self.profile.props
        cases = "".join(f"  {shlex.quote(k)}) echo {shlex.quote(v)};;\n"
                        for k, v in sorted(props.items()))
        listing = "".join(f"[{k}]: [{v}]\n" for k, v in sorted(props.items()))
        self._write_state("getprop.txt", listing)
        (sysbin / "getprop").write_text(
            '#!/bin/sh\n[ $# -eq 0 ] && exec cat "$HANDLITE_DEVICE_ROOT/.device/getprop.txt"\n'
            f'case "$1" in\n{cases}  *) echo "$2";;\nesac\n')
        (sysbin / "getprop").chmod(0o755)

    def _write_cpufreq(self) -> None:
        cpu = self.root / "sys/devices/system/cpu"
        for c in self.profile.clusters:
            if self.profile.per_cpu_cpufreq:
                dirs = [cpu / f"cpu{i}" / "cpufreq" for i in c.cpus]
            else:
                dirs = [cpu / "cpufreq" / f"policy{c.first_cpu}"]
            for d in dirs:
                d.mkdir(parents=True, exist_ok=True)
                values = {
                    "related_cpus": " ".join(map(str, c.cpus)),
                    "affected_cpus": " ".join(map(str, c.cpus)),
                    "cpuinfo_min_freq": c.freqs_khz[0], "cpuinfo_max_freq": c.freqs_khz[-1],
                    "scaling_min_freq": c.freqs_khz[0], "scaling_max_freq": c.freqs_khz[-1],
                    "scaling_cur_freq": c.freqs_khz[len(c.freqs_khz) // 2],
                    "scaling_governor": c.governor,
                    "scaling_available_frequencies": " ".join(map(str, c.freqs_khz)),
                }
                if c is self.profile.clusters[0]:
                    values.update(dict(self.profile.cpufreq_raw))
                for name, value in values.items():
                    (d / name).write_text(f"{value}\n")
        (cpu / "possible").parent.mkdir(parents=True, exist_ok=True)
        n = max(i for c in self.profile.clusters for i in c.cpus)
        (cpu / "possible").write_text(f"0-{n}\n")

    def _write_thermal(self) -> None:
        base = self.root / "sys/class/thermal"
        for i, (kind, temp) in enumerate(self.profile.thermal):
            zone = base / f"thermal_zone{i}"
            zone.mkdir(parents=True, exist_ok=True)
            (zone / "type").write_text(kind + "\n")
            (zone / "temp").write_text(f"{temp}\n")

    def install_command(self, name: str, text: str, *, python: bool = False) -> Path:
        """Add a device command: an executable `ROOT/bin/NAME` with `text` as its body.

        With python=True, `text` is Python source and the host interpreter's shebang is
        prepended (site-packages available, so it may import ai_edge_litert etc.).
        """
        if "/" in name or not name:
            raise ValueError(f"command name {name!r} must be a plain file name")
        path = self.bin_dir / name
        if python:
            text = f"#!{sys.executable}\n{text}"
        path.write_text(text)
        path.chmod(0o755)
        return path

    # -- storage ---------------------------------------------------------------------------
    def set_free_space(self, free_bytes: int | None) -> None:
        """Limit /data to `free_bytes` more than it holds now (None: a roomy phone)."""
        capacity = None if free_bytes is None else self.data_used() + free_bytes
        self._write_state("storage.json", json.dumps({"capacity": capacity}))

    def capacity(self) -> int | None:
        return json.loads((self.state_dir / "storage.json").read_text())["capacity"]

    def data_used(self) -> int:
        return data_used(self.root)

    # -- paths -----------------------------------------------------------------------------
    def host_path(self, device_path: str) -> Path:
        """Device path -> path under the root. Raises PermissionError if it would escape."""
        norm = os.path.normpath("/" + device_path.lstrip("/"))
        host = self.root / norm.lstrip("/")
        if host != self.root and self.root not in host.parents:
            raise PermissionError(device_path)
        return host

    @staticmethod
    def writable(device_path: str) -> bool:
        norm = os.path.normpath("/" + device_path.lstrip("/"))
        return any(norm == w or norm.startswith(w + "/") for w in WRITABLE)

    def translate(self, command: str) -> str:
        """Rewrite device-absolute paths in a shell command to paths under the root."""
        return self._device_path_re.sub(lambda m: str(self.root) + m.group(0), command)

    def untranslator(self) -> "Untranslator":
        return Untranslator(self._root_b)

    # -- processes -------------------------------------------------------------------------
    def environment(self) -> dict[str, str]:
        root = str(self.root)
        return {
            "PATH": f"{root}/bin:{root}/system/bin",
            "HOME": root,
            "ANDROID_DATA": f"{root}/data",
            "ANDROID_ROOT": f"{root}/system",
            "EXTERNAL_STORAGE": f"{root}/sdcard",
            "TMPDIR": f"{root}/data/local/tmp",
            "LANG": "C.UTF-8",
            "HANDLITE_DEVICE_ROOT": root,
            "HANDLITE_HOST_PYTHON": sys.executable,
        }

    def spawn(self, command: str, *, merge_stderr: bool) -> subprocess.Popen:
        """Start a device command in its own session (kill with `kill_session`)."""
        argv = ["/bin/sh", "-c", self.translate(command)] if command.strip() else ["/bin/sh"]
        return subprocess.Popen(
            argv, cwd=self.root, env=self.environment(), start_new_session=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE)

    @staticmethod
    def kill_session(proc: subprocess.Popen) -> None:
        """Kill a command and everything it started (its process group)."""
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - a process that ignores SIGKILL
            pass


class Untranslator:
    """Rewrites the sandbox root back to `/` in a byte stream split into arbitrary chunks."""

    def __init__(self, root: bytes):
        self._root = root
        self._re = re.compile(re.escape(root) + b"/?")
        self._carry = b""

    def feed(self, chunk: bytes) -> bytes:
        data = self._carry + chunk
        # Hold back a tail that could be the start of the root path split across chunks.
        keep = 0
        whole = self._root + b"/"  # the longest thing the pattern replaces
        for n in range(min(len(whole), len(data)), 0, -1):
            if whole.startswith(data[-n:]):
                keep = n
                break
        self._carry = data[len(data) - keep:] if keep else b""
        return self._re.sub(b"/", data[:len(data) - keep] if keep else data)

    def flush(self) -> bytes:
        data, self._carry = self._carry, b""
        return self._re.sub(b"/", data)
