"""The stand-in device's sample app: an `am` command that starts a stand-in BenchmarkActivity.

Contract (android_app/app/.../BenchmarkActivity.java, what `bench.runners.AppRunner` drives):

    am start -S -W -n org.handlite.app/.BenchmarkActivity --es model PATH --es delegate cpu \
        --ei threads 4 --ei runs 100 --ei warmup 10 --es out result.json [--es serial SERIAL]

`am` prints the launch report (`Starting: Intent ...`, with -W `Status: ok` ... `Complete`) and
returns while the "activity" runs in the background, as on a phone. The activity runs the model
with the host runtime (`bench.host.bench_cell`: preprocess, invoke and decode on a fixed frame,
timed apart, as the app times its pipeline), then writes one `handlite.bench/1` record to
`/sdcard/Android/data/org.handlite.app/files/handlite/OUT` (temp file + rename, like the app)
and appends `handlite.bench: RESULT <json>` to the logcat (`ERROR <message>` when it failed,
with a failed record in the file). A record line longer than the app's 3800 logcat characters
loses its raw samples in the log (flag `samples_in_file_only`), as the app's does.

With `--es input_file PATH --es output_file NAME` (on-device parity) it then runs the model
once on the raw input tensor bytes of PATH and writes the raw bytes of every output tensor, in
output order, to `.../files/handlite/NAME`, as the app does.

The activity's process is the app's process: `pidof org.handlite.app` (a command `install`
adds) prints its pid while it runs, as on a phone; when it is gone, pidof exits 1.

Honest limits: the model runs on the host CPU, so `--es delegate gpu|nnapi` are recorded as
asked but run the CPU kernels; a model without handlite metadata fails, as the app refuses it.
The process ends when the activity finishes (a phone keeps it cached a while).

Knobs for tests in `ROOT/.device/app.json` (ROOT = $HANDLITE_DEVICE_ROOT), read at each start:
    {"installed": false}   `am start` reports the activity class does not exist
    {"no_file": true}      the result file is not written (only the logcat line: the fallback)
    {"fail": "message"}    the run fails with this message (failed record, ERROR log line)
    {"crash": "message"}   the process dies before any result, leaving an AndroidRuntime
                           crash report with this exception line in the logcat (a crash the
                           app's own handler never saw: a native crash, an Error on another
                           thread)

Register it on a stand-in with `install(sandbox)` (the sandbox's command hook: it overrides
the `am` shim; other `am` subcommands fall through to the shim).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from handlite.io import atomic_write_bytes
from handlite.testing.shims import am as shim_am

PACKAGE = "org.handlite.app"
ACTIVITY = ".BenchmarkActivity"
LOG_TAG = "handlite.bench"
#: logcat drops the rest of a longer message (the app's MAX_LOG_CHARS)
MAX_LOG_CHARS = 3800


def _root() -> Path:
    return Path(os.environ["HANDLITE_DEVICE_ROOT"])


def _knobs() -> dict:
    path = _root() / ".device" / "app.json"
    return json.loads(path.read_text() or "{}") if path.is_file() else {}


def parse_start(args: list[str]) -> tuple[str | None, dict[str, object]]:
    """`am start` arguments -> (component, extras); --ei values become ints."""
    component, extras, i = None, {}, 0
    while i < len(args):
        arg = args[i]
        if arg == "-n" and i + 1 < len(args):
            component, i = args[i + 1], i + 2
        elif arg in ("--es", "--ei", "--ez") and i + 2 < len(args):
            key, value = args[i + 1], args[i + 2]
            if arg == "--ei":
                try:
                    extras[key] = int(value)
                except ValueError:
                    print(f"Error: Invalid int argument: {value}", file=sys.stderr)
                    raise SystemExit(1) from None
            else:
                extras[key] = value.lower() == "true" if arg == "--ez" else value
            i += 3
        else:
            i += 1  # -S, -W and other flags
    return component, extras


def _log(level: str, message: str) -> None:
    stamp = time.strftime("%m-%d %H:%M:%S", time.localtime())
    with open(_root() / ".device" / "logcat.txt", "a") as f:
        f.write(f"{stamp}.000  {os.getpid():5d} {os.getpid():5d} {level} {LOG_TAG}: "
                f"{message}\n")


def _files_dir() -> Path:
    return _root() / "sdcard" / "Android" / "data" / PACKAGE / "files" / "handlite"


def _device_path(host: Path) -> str:
    root = str(_root())
    text = str(host)
    return text[len(root):] if text.startswith(root + "/") else text


def _target(serial: str | None) -> dict:
    # on use: every `am` call loads this module; the runtime is for the activity only
    from handlite.runtime import runtime_version

    props = json.loads((_root() / ".device" / "profile.json").read_text())["props"]
    release, sdk = props.get("ro.build.version.release"), props.get("ro.build.version.sdk")
    model = props.get("ro.product.model")
    return {"kind": "android", "id": serial or f"android:{model}", "serial": serial,
            "model": model, "soc": props.get("ro.soc.model"),
            "abi": (props.get("ro.product.cpu.abilist") or "").split(",")[0] or None,
            "cpu": props.get("ro.hardware"), "cores": os.cpu_count(),
            "os": f"Android {release} (SDK {sdk})" if release else None,
            "runtime": {"name": "app", "version": f"litert {runtime_version()}"}}


def _measure(extras: dict) -> dict:
    """One record for the extras (a failed record, with the reason, when the run fails)."""
    from handlite.bench.host import bench_cell  # on use: see _target
    from handlite.bench.store import make_record, make_settings, model_info
    from handlite.metadata import read_metadata

    delegate = str(extras.get("delegate", "cpu"))
    threads, runs, warmup = (int(extras.get(k, d)) for k, d in
                             (("threads", 1), ("runs", 50), ("warmup", 5)))
    settings = make_settings("app", threads, delegate, runs, warmup, None)
    target = _target(extras.get("serial"))
    path = Path(str(extras.get("model", "")))
    if not path.is_absolute():
        path = _files_dir() / "models" / path
    try:
        info = {**model_info(path), "path": _device_path(path)}
    except Exception as exc:  # noqa: BLE001 - the app reports every failure as a record
        info = {"path": _device_path(path), "name": path.name, "sha256": "0" * 64}
        return make_record(model=info, target=target, settings=settings, status="failed",
                           error=f"IOException: model not found: {_device_path(path)} ({exc})")
    error = _knobs().get("fail")
    if not error and read_metadata(path) is None:
        error = f"ModelError: {path.name} has no handlite metadata"
    if error:
        return make_record(model=info, target=target, settings=settings, status="failed",
                           error=str(error))
    measured = bench_cell(path, threads, runs, warmup, 0.0, target=target)
    if measured["status"] != "ok":
        return make_record(model=info, target=target, settings=settings, status="failed",
                           error=measured["error"])
    return make_record(model=info, target=target, settings=settings, stats=measured["stats"],
                       samples_ms=measured["samples_ms"], flags=measured["flags"])


def _crash(message: str) -> None:
    """Die as an uncaught exception kills an app: a crash report in the log, no result."""
    for text in ("FATAL EXCEPTION: handlite-bench", f"Process: {PACKAGE}, PID: {os.getpid()}",
                 message, "\tat org.handlite.app.BenchmarkActivity.lambda$onCreate$0"):
        stamp = time.strftime("%m-%d %H:%M:%S", time.localtime())
        with open(_root() / ".device" / "logcat.txt", "a") as f:
            f.write(f"{stamp}.000  {os.getpid():5d} {os.getpid():5d} E AndroidRuntime: {text}\n")
    os._exit(1)


def _write(folder: Path, name: str, data: bytes) -> None:
    atomic_write_bytes(folder / name, data, fsync=False)  # a reader never sees half a file


def _dump_outputs(extras: dict) -> None:
    """Parity: the raw input tensor in, the raw bytes of every output tensor out."""
    import numpy as np  # on use: see _target
    from ai_edge_litert.interpreter import Interpreter

    model = Path(str(extras["model"]))
    model = model if model.is_absolute() else _files_dir() / "models" / model
    source = Path(str(extras["input_file"]))
    source = source if source.is_absolute() else _files_dir() / source
    interp = Interpreter(model_path=str(model), num_threads=int(extras.get("threads", 1)))
    interp.allocate_tensors()
    [d] = interp.get_input_details()
    dtype, shape = np.dtype(d["dtype"]), tuple(d["shape"])
    raw = source.read_bytes()
    need = int(np.prod(shape)) * dtype.itemsize
    if len(raw) != need:
        raise ValueError(f"input file has {len(raw)} bytes, the model's input tensor needs {need}")
    interp.set_tensor(d["index"], np.frombuffer(raw, dtype=dtype).reshape(shape))
    interp.invoke()
    data = b"".join(np.ascontiguousarray(interp.get_tensor(o["index"])).tobytes()
                    for o in interp.get_output_details())
    _write(_files_dir(), str(extras["output_file"]), data)


def activity(extras: dict) -> None:
    """What BenchmarkActivity does after launch: measure, write the file, log the line."""
    if _knobs().get("crash"):
        _crash(str(_knobs()["crash"]))
    record = _measure(extras)
    if record["status"] == "ok" and extras.get("input_file") and extras.get("output_file"):
        try:
            _dump_outputs(extras)
        except Exception as exc:  # noqa: BLE001 - the app reports every failure as a record
            from handlite.bench.store import make_record  # on use: see _target
            record = make_record(model=record["model"], target=record["target"],
                                 settings=record["settings"], status="failed",
                                 error=f"{type(exc).__name__}: {exc}")
    line = json.dumps(record, separators=(",", ":"))
    if not _knobs().get("no_file"):
        _write(_files_dir(), str(extras.get("out", "result.json")), (line + "\n").encode())
    if record["status"] != "ok":
        _log("E", f"ERROR {record['error']}")
        return
    if len(line) > MAX_LOG_CHARS:
        record["samples_ms"] = {k: [] for k in record["samples_ms"]}
        record["flags"] = sorted({*record["flags"], "samples_in_file_only"})
        line = json.dumps(record, separators=(",", ":"))
    _log("I", f"RESULT {line}")


def am(args: list[str]) -> int:
    if not args or args[0] != "start":
        return shim_am(args)
    component, extras = parse_start(args[1:])
    wanted = f"{PACKAGE}/{ACTIVITY}"
    print(f"Starting: Intent {{ cmp={component} (has extras) }}", flush=True)
    if component not in (wanted, f"{PACKAGE}/{PACKAGE}{ACTIVITY}") or \
            _knobs().get("installed") is False:
        cls = (component or "?").replace("/.", f"/{PACKAGE}.")
        print("Error type 3", flush=True)
        print(f"Error: Activity class {{{cls}}} does not exist.", flush=True)
        return 1
    # the activity outlives `am`, in its own session (the stand-in kills am's process group)
    proc = subprocess.Popen([sys.executable, "-c", _WORKER, json.dumps(extras)],
                            start_new_session=True, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # the process exists once `am start -W` returns, as on a phone
    (_root() / ".device" / "app.pid").write_text(str(proc.pid))
    if "-W" in args:
        print("Status: ok\nLaunchState: COLD\nActivity: " + wanted +
              "\nTotalTime: 120\nWaitTime: 124\nComplete", flush=True)
    return 0


_SRC = str(Path(__file__).resolve().parents[2])
_WORKER = (f"import sys, json\nsys.path.insert(0, {_SRC!r})\n"
           "from handlite.testing.fake_app import activity\nactivity(json.loads(sys.argv[1]))\n")


def script_text() -> str:
    """Python source of the `am` command (the host interpreter runs it)."""
    return (f"import sys\nsys.path.insert(0, {_SRC!r})\n"
            "from handlite.testing.fake_app import am\nsys.exit(am(sys.argv[1:]))\n")


#: `pidof PACKAGE`: the activity's pid while that process lives (a zombie is dead), else exit 1
_PIDOF = f"""#!/bin/sh
[ "$1" = {PACKAGE!r} ] || exit 1
f="$HANDLITE_DEVICE_ROOT/.device/app.pid"
[ -f "$f" ] || exit 1
pid=$(cat "$f")
state=$(sed -E 's/^[0-9]+ \\(.*\\) (.).*/\\1/' "/proc/$pid/stat" 2>/dev/null) || exit 1
[ -n "$state" ] && [ "$state" != Z ] || exit 1
echo "$pid"
"""


def install(sandbox) -> Path:
    """Make `am start ...BenchmarkActivity` work on a stand-in device (its command hook),
    with `pidof` for the app's process."""
    sandbox.install_command("pidof", _PIDOF)
    return sandbox.install_command("am", script_text(), python=True)


__all__ = ["install", "parse_start", "activity", "am"]
