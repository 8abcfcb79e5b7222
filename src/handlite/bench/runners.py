"""On-device runners behind one interface: `benchmark_model` (the TFLite/LiteRT tool) and `app`
(the sample app's BenchmarkActivity).

Units: times in ms in results (the tool's microseconds are converted by `bench.stats`),
`device_s` in seconds (wall time of the on-device command, for the overhead budget).

Devices are `handlite.device.Device` objects (`handlite.device.connect`): shell with exit
codes, push/pull/stat over sync. Round trips per cell are what the overhead budget pays for,
so models are pushed once and checked once per sweep (`push_kept`), and the app runner polls
its result with one command. Every path and argument that reaches a device shell is quoted
with shlex.quote.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shlex
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from handlite.bench import parser
from handlite.bench.stats import stats_from_tool
from handlite.bench.store import DELEGATES, SCHEMA
from handlite.device import Device
from handlite.errors import (BenchmarkError, DeviceCommandError, InputError, ParseError,
                             UsageError, choice_error)
from handlite.device.push import digest_kind, hash_tool, remote_digest
from handlite.io import sha256_file

DEVICE_DIR = "/data/local/tmp/handlite"
APP_PACKAGE = "org.handlite.app"
APP_ACTIVITY = ".BenchmarkActivity"
APP_LOG_TAG = "handlite.bench"


_log = logging.getLogger("handlite.bench.runners")

@dataclass(frozen=True)
class Cell:
    """One benchmark cell: a model (host path) with a thread count and a delegate."""

    model: Path
    threads: int
    delegate: str = "cpu"

    def __post_init__(self) -> None:
        if self.delegate not in DELEGATES:
            raise choice_error("delegate", self.delegate, DELEGATES)
        if self.threads <= 0:
            raise UsageError(f"threads must be positive, got {self.threads}")


@dataclass(frozen=True)
class RunSettings:
    runs: int = 50
    warmup: int = 5
    min_secs: float = 0.0
    cpu_mask: str | None = None  # taskset mask (hex), e.g. the big cores
    timeout_s: float = 600.0
    #: benchmark_model --enable_op_profiling: the per-op table lands in the record
    op_profile: bool = False
    #: benchmark_model --report_peak_memory_footprint: the periodic monitor's peak (MB)
    peak_memory: bool = False


@dataclass
class ParityInput:
    """Fixed input for on-device parity: raw tensor bytes and where the outputs go."""

    input_name: str
    input_bytes: bytes
    output_local: Path  # the pulled raw output tensors land here


@dataclass
class RunResult:
    stats: dict[str, Any]
    samples_ms: dict[str, list[float]] = field(default_factory=dict)
    delegation: dict[str, Any] | None = None
    flags: list[str] = field(default_factory=list)
    runtime: dict[str, Any] = field(default_factory=dict)
    device_s: float = 0.0
    raw_output: str = ""
    #: why the tool's numbers cannot be real (the record is then `invalid`), else None
    invalid: str | None = None
    #: `bench.op_profile.parse_op_profile` of the output, when profiling was on
    op_profile: dict[str, Any] | None = None


def _q(value: Any) -> str:
    return shlex.quote(str(value))


def sh(device: Device, command: str, timeout: float | None = 60.0) -> tuple[int | None, str]:
    """(exit code, stdout + stderr) of a device command."""
    result = device.shell(command, timeout=timeout)
    return result.exit_code, (result.stdout or "") + (result.stderr or "")


def run_checked(device: Device, command: str, what: str, timeout: float | None = 60.0) -> str:
    code, output = sh(device, command, timeout=timeout)
    if code not in (0, None):
        last = output.strip().splitlines()[-1:] or ["no output"]
        raise BenchmarkError(f"{what} failed on {device.serial} (exit {code}): {last[0]}")
    return output


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def model_sha(path: Path) -> str:
    """sha256 of a local file, hashed once per (path, size, mtime): a sweep names each model
    in every cell, and a 224 float32 model is ~10 MB."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        _SHA_CACHE[key] = sha256_file(path)
    return _SHA_CACHE[key]


def _device_hasher(device: Device, cache: dict[str, str | None] | None) -> str | None:
    """The device's sha256 command (`sha256sum` or `toybox sha256sum`), probed once per serial
    in `cache`; None when it has only md5 or nothing (then nothing on it is reused)."""

    cache = {} if cache is None else cache
    if device.serial not in cache:
        tool = hash_tool(device)
        cache[device.serial] = tool if tool and digest_kind(tool) == "sha256sum" else None
    return cache[device.serial]


def _remote_sha(device: Device, remote: str, cache: dict[str, str | None] | None) -> str | None:

    tool = _device_hasher(device, cache)
    return remote_digest(device, tool, remote) if tool else None


def push_kept(device: Device, local: Path, remote_dir: str, sha: str | None = None,
              mode: int = 0o644, known: set[tuple[str, str, str]] | None = None,
              hashers: dict[str, str | None] | None = None) -> str:
    """Push `local` to `remote_dir/<sha12>_<name>` unless the device already holds that file
    with the same sha256 (models and the tool are kept by hash across runs and sweeps).

    A file of the right name and size is reused only after its sha256 on the device matches
    (a copy changed on the phone is pushed again); a device without sha256sum gets a fresh
    push each sweep. `known` holds the (serial, remote, sha256) checks already passed in this
    sweep: one device round trip less per cell, cached by content, not by name."""
    sha = sha or model_sha(local)
    remote = f"{remote_dir}/{sha[:12]}_{local.name}"
    if known is not None and (device.serial, remote, sha) in known:
        return remote
    size = local.stat().st_size
    st = device.stat(remote)
    if not (st.is_file and st.size == size and _remote_sha(device, remote, hashers) == sha):
        device.push(local, remote, mode=mode)
        st = device.stat(remote)
        # a push that "succeeded" into a full disk leaves a short file
        if not (st.is_file and st.size == size):
            raise BenchmarkError(f"{remote} on {device.serial} has {st.size} bytes after the "
                                 f"push, expected {size}")
        got = _remote_sha(device, remote, hashers)
        if got is not None and got != sha:
            raise BenchmarkError(f"{remote} on {device.serial} has sha256 {got[:12]}... after "
                                 f"the push, expected {sha[:12]}...")
    if known is not None:
        known.add((device.serial, remote, sha))
    return remote


class Runner:
    """Common interface: `prepare` once per device, then `run` per cell.

    A runner may also give the sweep its own `probe` (how the target's state is read around a
    cell, `bench.sweep.Probe`; None: a phone's) and `run_interleaved(device, cells, settings,
    turn)` (all cells timed in turns of `turn` runs; a RunResult or the error per cell), as the
    host runner (`bench.host.HostRunner`) does."""

    name = "?"

    def prepare(self, device: Device) -> None:  # pragma: no cover - trivial default
        pass

    def probe(self, device: Device, plan: Any, say: Any) -> Any:
        """The sweep's `Probe` for `device`, or None for a phone's (`bench.sweep.PhoneProbe`)."""
        return None

    def run(self, device: Device, cell: Cell, settings: RunSettings,
            parity: ParityInput | None = None) -> RunResult:
        raise NotImplementedError


class BenchmarkModelRunner(Runner):
    """The Android build of `benchmark_model`, given by the user (`--benchmark-binary`)."""

    name = "benchmark_model"

    def __init__(self, binary: str | Path, device_dir: str = DEVICE_DIR):
        self.binary = Path(binary)
        if not self.binary.is_file():
            raise InputError(f"benchmark binary not found: {self.binary}",
                             hint="give the Android build of benchmark_model with "
                                  "--benchmark-binary PATH")
        self.sha = sha256_file(self.binary)
        self.device_dir = device_dir
        self._remote: dict[str, str] = {}
        self._known: set[tuple[str, str, str]] = set()
        self._hashers: dict[str, str | None] = {}

    def prepare(self, device: Device) -> None:
        self._remote[device.serial] = push_kept(device, self.binary, f"{self.device_dir}/bin",
                                                self.sha, mode=0o755, hashers=self._hashers)

    def command(self, remote_bin: str, remote_model: str, cell: Cell, settings: RunSettings,
                parity_in: str | None = None, parity_name: str | None = None,
                parity_out: str | None = None) -> str:
        args = [remote_bin, f"--graph={remote_model}", f"--num_threads={cell.threads}",
                f"--num_runs={settings.runs}", f"--warmup_runs={settings.warmup}",
                # N warm-up runs exactly, as the host and app runners do
                "--warmup_min_secs=0", f"--min_secs={settings.min_secs:g}",
                # the tool's own cap (150 s) would cut a 1024-run MLPerf cell of a slow model
                # short; the harness's timeout is the real limit, and the run rules catch a
                # cut run as `invalid`
                f"--max_secs={max(150.0, 0.9 * settings.timeout_s):g}",
                f"--use_xnnpack={'true' if cell.delegate == 'xnnpack' else 'false'}"]
        if settings.op_profile:
            args.append("--enable_op_profiling=true")
        if settings.peak_memory:
            args.append("--report_peak_memory_footprint=true")
        if cell.delegate in ("gpu", "gpu-fp32"):
            # fp16 is the GPU delegate's default; int8 and float models can rank differently
            # on the GPU with and without it, so both are cells of their own
            args += ["--use_gpu=true", "--gpu_precision_loss_allowed="
                     + ("false" if cell.delegate == "gpu-fp32" else "true")]
        elif cell.delegate == "nnapi":
            args.append("--use_nnapi=true")
        if parity_in:
            # the tool splits name:path at the first single ':'; '::' escapes one in a name
            args.append(f"--input_layer_value_files={parity_name.replace(':', '::')}:"
                        f"{parity_in}")
            args.append(f"--output_filepath={parity_out}")
        command = " ".join(_q(a) for a in args)
        if settings.cpu_mask:
            if not re.fullmatch(r"[0-9a-fA-F]+", settings.cpu_mask):
                raise UsageError(f"cpu mask {settings.cpu_mask!r} is not hexadecimal")
            command = f"taskset {settings.cpu_mask} {command}"
        return command

    def run(self, device: Device, cell: Cell, settings: RunSettings,
            parity: ParityInput | None = None) -> RunResult:
        if device.serial not in self._remote:
            self.prepare(device)
        sha = model_sha(cell.model)
        remote_model = push_kept(device, cell.model, f"{self.device_dir}/models", sha,
                                 known=self._known, hashers=self._hashers)
        p_in = p_out = None
        if parity is not None:
            with tempfile.TemporaryDirectory() as tmp:
                local_in = Path(tmp) / "parity_input.bin"
                local_in.write_bytes(parity.input_bytes)
                p_in = push_kept(device, local_in, f"{self.device_dir}/parity",
                                 hashlib.sha256(parity.input_bytes).hexdigest(),
                                 known=self._known, hashers=self._hashers)
            p_out = f"{self.device_dir}/parity/{sha[:12]}_{cell.delegate}_output.bin"
        command = self.command(self._remote[device.serial], remote_model, cell, settings,
                               p_in, parity.input_name if parity else None, p_out)
        if p_out:
            # a dump left by an earlier run must never pass for this run's outputs
            command = f"rm -f {_q(p_out)}; {command}"
        start = time.perf_counter()
        code, output = sh(device, command, timeout=settings.timeout_s)
        device_s = time.perf_counter() - start
        try:
            parsed = parser.parse(output, source=f"benchmark_model on {device.serial}")
        except BenchmarkError:
            raise
        except InputError as exc:
            if code not in (0, None):
                tail = output.strip().splitlines()[-1:] or ["no output"]
                raise BenchmarkError(f"benchmark_model exited {code} on {device.serial}: "
                                     f"{tail[0]}") from None
            raise BenchmarkError(str(exc)) from None
        if code not in (0, None):
            raise BenchmarkError(f"benchmark_model exited {code} on {device.serial} after "
                                 "printing timings")
        if parsed["status"] == "invalid":
            # impossible numbers are kept out of the stats: the record says why instead
            return RunResult(stats={}, device_s=device_s, raw_output=output,
                             runtime={"name": "benchmark_model",
                                      "version": f"sha256:{self.sha[:12]}"},
                             invalid="; ".join(parsed["invalid_reasons"]))
        stats, flags = stats_from_tool(parsed)
        delegation = None
        if parsed["delegation"]:
            d = parsed["delegation"]
            delegation = {"delegated_nodes": d["delegated_nodes"],
                          "total_nodes": d["total_nodes"], "partial": d["partial"],
                          "delegate": d["delegate"],
                          "gpu_backend": parsed.get("gpu_backend")}
        elif cell.delegate != "cpu":
            # asked for a delegate, the tool never said it replaced anything
            flags.append("delegate_not_applied")
        if parity is not None:
            try:
                device.pull(p_out, parity.output_local)
            except DeviceCommandError:
                # no dump (the tool did not write one): the parity check says so, the
                # timings stand
                parity.output_local.unlink(missing_ok=True)
        op_profile = None
        if settings.op_profile:
            from handlite.bench.op_profile import parse_op_profile
            try:
                op_profile = parse_op_profile(output)
            except ParseError as exc:  # timings stand; the record says why no profile
                flags.append("op_profile_unreadable")
                _log.warning("op profile on %s unreadable: %s", device.serial, exc)
            if op_profile is None and "op_profile_unreadable" not in flags:
                flags.append("op_profile_missing")
        if settings.peak_memory and stats.get("peak_memory_mb") is None:
            flags.append("peak_memory_missing")
        return RunResult(stats=stats, delegation=delegation, flags=flags, op_profile=op_profile,
                         runtime={"name": "benchmark_model", "version": f"sha256:{self.sha[:12]}"},
                         device_s=device_s, raw_output=output)


_RESULT_LINE = re.compile(rf"{re.escape(APP_LOG_TAG)}\s*(?:\(\s*\d+\))?\s*:\s*RESULT\s+(\{{.*\}})\s*$")
_ERROR_LINE = re.compile(rf"{re.escape(APP_LOG_TAG)}\s*(?:\(\s*\d+\))?\s*:\s*ERROR\s+(.*)$")


def parse_app_logcat(text: str) -> dict[str, Any] | None:
    """The last `handlite.bench: RESULT <json>` record in a logcat dump; None if there is none.

    A `handlite.bench: ERROR <message>` line after the last result raises BenchmarkError.
    """
    record = error = None
    for line in text.splitlines():
        if m := _RESULT_LINE.search(line):
            try:
                record, error = json.loads(m.group(1)), None
            except ValueError:
                raise InputError(f"unreadable RESULT line in logcat: {line[:120]!r}") from None
        elif m := _ERROR_LINE.search(line):
            error = m.group(1).strip()
    if error:
        raise BenchmarkError(f"the app reported: {error}")
    return record


def _check_app_record(record: Any, where: str) -> dict[str, Any]:
    if not isinstance(record, dict) or record.get("schema") != SCHEMA:
        raise InputError(f"{where}: not a {SCHEMA} record")
    if record.get("status") == "failed":
        raise BenchmarkError(f"the app reported: {record.get('error') or 'failed'}")
    if not isinstance(record.get("stats"), dict):
        raise InputError(f"{where}: record has no stats")
    return record


class AppRunner(Runner):
    """The sample app's BenchmarkActivity (`org.handlite.app/.BenchmarkActivity`).

    Started with `am start -S -W -n PKG/.BenchmarkActivity` and extras model (device path),
    delegate, threads, runs, warmup, out (result file name). It writes one `handlite.bench/1`
    record to `/sdcard/Android/data/PKG/files/handlite/OUT` and logs
    `handlite.bench: RESULT <json>`; the file is preferred, the log line is the fallback.

    On-device parity: the fixed input's raw tensor bytes are pushed next to the models and
    passed as `--es input_file PATH --es output_file NAME`; after its timed runs the app feeds
    them to the same interpreter and writes the raw bytes of every output tensor (output order,
    benchmark_model's --output_filepath layout) to `files/handlite/NAME`, which is pulled.

    A crashed app is noticed within seconds: each poll also asks `pidof PKG`, and a process
    that is gone twice in a row without a result fails the cell with the crash report from
    `logcat -b crash` (a result written before the process ended always wins).
    """

    name = "app"

    #: polls in a row that must find no app process before the cell fails (one poll can race
    #: the process start or a result written just before the process ended)
    DEAD_POLLS = 2

    def __init__(self, package: str = APP_PACKAGE, poll_s: float = 0.5):
        if not re.fullmatch(r"[A-Za-z][\w]*(\.[A-Za-z][\w]*)+", package):
            raise UsageError(f"{package!r} is not an Android package name")
        self.package = package
        self.poll_s = poll_s
        self._known: set[tuple[str, str, str]] = set()
        self._hashers: dict[str, str | None] = {}

    @property
    def files_dir(self) -> str:
        return f"/sdcard/Android/data/{self.package}/files/handlite"

    def command(self, remote_model: str, cell: Cell, settings: RunSettings, out: str,
                serial: str | None = None, parity_in: str | None = None,
                parity_out: str | None = None) -> str:
        args = ["am", "start", "-S", "-W", "-n", f"{self.package}/{APP_ACTIVITY}",
                "--es", "model", remote_model, "--es", "delegate", cell.delegate,
                "--ei", "threads", str(cell.threads), "--ei", "runs", str(settings.runs),
                "--ei", "warmup", str(settings.warmup), "--es", "out", out]
        if serial:
            args += ["--es", "serial", serial]  # the app's own record then names the device
        if parity_in:
            args += ["--es", "input_file", parity_in, "--es", "output_file", parity_out]
        return " ".join(_q(a) for a in args)

    def _poll(self, device: Device, remote_out: str) -> tuple[dict[str, Any] | None, bool | None]:
        """(the app's record if it has finished (its file, else its logcat line), else None;
        whether the app process is alive, None when the device cannot say).

        One round trip: the process first, then logcat, then the file. A process found dead
        cannot write afterwards, so a missing result then means it died without one. The app
        writes the file before it logs, so when the log has the result the file check that
        follows sees the file too."""
        _, text = sh(device, f"pidof {_q(self.package)}; echo \"@@pidof $?\"; echo @@log; "
                             f"logcat -d -s {_q(APP_LOG_TAG + ':*')}; "
                             f"if [ -f {_q(remote_out)} ]; then echo @@file; "
                             f"cat {_q(remote_out)}; fi")
        head, _, rest = text.partition("@@log\n")
        m = re.search(r"@@pidof (\d+)", head)
        # pidof exits 1 when no process has the name; any other failure (no pidof on an old
        # shell) says nothing about the app
        alive = None if m is None else {"0": True, "1": False}.get(m.group(1))
        log, _, content = rest.partition("\n@@file\n")
        if content.strip():
            try:
                return json.loads(content), alive
            except ValueError:
                pass  # unreadable file: the log line may still have the record
        return parse_app_logcat(log), alive

    def _crash_reason(self, device: Device) -> str:
        """The exception line of the app's last crash report in the crash log, if any."""
        _, text = sh(device, "logcat -d -b crash")
        reason = None
        for line in text.splitlines():
            if m := re.search(r"AndroidRuntime\s*(?:\(\s*\d+\))?\s*:\s*(\S+(?:Error|Exception)\b.*)$",
                              line):
                reason = reason or m.group(1).strip()
            elif "FATAL EXCEPTION" in line:
                reason = None  # a later crash: report that one
        return reason or "no crash report in logcat"

    def run(self, device: Device, cell: Cell, settings: RunSettings,
            parity: ParityInput | None = None) -> RunResult:
        if cell.delegate == "gpu-fp32":
            # the app's GpuDelegate options have no fp32 switch yet: a cell must not claim it
            raise BenchmarkError("the app runner has no gpu-fp32 mode yet; use "
                                 "--runner benchmark_model for gpu-fp32 cells")
        sha = model_sha(cell.model)
        # the app reads its own external files folder; /data/local/tmp is closed to apps
        remote_model = push_kept(device, cell.model, f"{self.files_dir}/models", sha,
                                 known=self._known, hashers=self._hashers)
        out = f"result_{sha[:12]}_{cell.delegate}_t{cell.threads}.json"
        remote_out = f"{self.files_dir}/{out}"
        p_in = p_name = None
        stale = [remote_out]
        if parity is not None:
            with tempfile.TemporaryDirectory() as tmp:
                local_in = Path(tmp) / "parity_input.bin"
                local_in.write_bytes(parity.input_bytes)
                p_in = push_kept(device, local_in, f"{self.files_dir}/parity",
                                 hashlib.sha256(parity.input_bytes).hexdigest(), known=self._known)
            p_name = f"parity_{sha[:12]}_{cell.delegate}_t{cell.threads}_output.bin"
            stale.append(f"{self.files_dir}/{p_name}")
        start = time.perf_counter()
        # old results, dumps, log lines and crash reports must not pass for this run's
        code, output = sh(device, f"rm -f {' '.join(_q(p) for p in stale)}; "
                          "logcat -c; logcat -b crash -c; "
                          + self.command(remote_model, cell, settings, out, device.serial,
                                         p_in, p_name),
                          timeout=60)
        errors = [line for line in output.splitlines() if line.startswith("Error:")]
        if errors or "does not exist" in output:
            raise BenchmarkError(f"could not start {self.package}{APP_ACTIVITY} on "
                                 f"{device.serial}: {(errors or output.strip().splitlines())[-1]}",
                                 hint="is the handlite app installed? (handlite app install)")
        if code not in (0, None):
            raise BenchmarkError(f"am start failed on {device.serial} (exit {code}): "
                                 f"{(output.strip().splitlines() or ['no output'])[-1]}")
        deadline = start + settings.timeout_s
        dead = 0
        while True:
            record, alive = self._poll(device, remote_out)
            if record is not None:
                break
            dead = dead + 1 if alive is False else 0
            if dead >= self.DEAD_POLLS:
                raise BenchmarkError(f"the app died on {device.serial} without a result after "
                                     f"{time.perf_counter() - start:.1f} s: "
                                     f"{self._crash_reason(device)}")
            if time.perf_counter() > deadline:
                raise BenchmarkError(f"no result from the app on {device.serial} after "
                                     f"{settings.timeout_s:.0f} s")
            time.sleep(self.poll_s)
        device_s = time.perf_counter() - start
        record = _check_app_record(record, f"app result on {device.serial}")
        if parity is not None:
            try:
                device.pull(f"{self.files_dir}/{p_name}", parity.output_local)
            except DeviceCommandError:
                # no dump: the parity check says so, the timings stand
                parity.output_local.unlink(missing_ok=True)
        return RunResult(stats=record["stats"], samples_ms=record.get("samples_ms") or {},
                         delegation=record.get("delegation"),
                         flags=list(record.get("flags") or []),
                         runtime=(record.get("target") or {}).get("runtime")
                         or {"name": "app", "version": None},
                         device_s=device_s)


RUNNER_NAMES = ("benchmark_model", "app")


def make_runner(name: str, benchmark_binary: str | Path | None = None,
                package: str = APP_PACKAGE) -> Runner:
    if name == "benchmark_model":
        if benchmark_binary is None:
            raise UsageError("the benchmark_model runner needs --benchmark-binary PATH "
                             "(the Android build of the TFLite/LiteRT benchmark tool)")
        return BenchmarkModelRunner(benchmark_binary)
    if name == "app":
        return AppRunner(package)
    raise choice_error("runner", name, RUNNER_NAMES)

