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

Honest limits: the model runs on the host CPU, so `--es delegate gpu|nnapi` are recorded as
asked but run the CPU kernels; a model without handlite metadata fails, as the app refuses it.

Knobs for tests in `ROOT/.device/app.json` (ROOT = $HANDLITE_DEVICE_ROOT), read at each start:
    {"installed": false}   `am start` reports the activity class does not exist
    {"no_file": true}      the result file is not written (only the logcat line: the fallback)
    {"fail": "message"}    the run fails with this message (failed record, ERROR log line)

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
    from handlite.bench.host import bench_cell
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


def activity(extras: dict) -> None:
    """What BenchmarkActivity does after launch: measure, write the file, log the line."""
    record = _measure(extras)
    line = json.dumps(record, separators=(",", ":"))
    if not _knobs().get("no_file"):
        folder = _files_dir()
        folder.mkdir(parents=True, exist_ok=True)
        name = str(extras.get("out", "result.json"))
        tmp = folder / f".{name}.tmp"
        tmp.write_text(line + "\n")
        os.replace(tmp, folder / name)  # a reader never sees half a record
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
        from handlite.testing.shims import am as shim_am
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
    subprocess.Popen([sys.executable, "-c", _WORKER, json.dumps(extras)],
                     start_new_session=True, stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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


def install(sandbox) -> Path:
    """Make `am start ...BenchmarkActivity` work on a stand-in device (its command hook)."""
    return sandbox.install_command("am", script_text(), python=True)


__all__ = ["install", "parse_start", "activity", "am"]
