"""Push throughput: 10 MB through handlite's two transports and through real `adb push`, all
to the same stand-in device, in one run. Target: direct >= 0.5x the real adb's throughput.

    python benchmarks/push_speed.py [--size-mb 10] [--repeats 5] [--profile pixel7]

The stand-in device runs in its own process (so it does not share a GIL with the clients), with
its own HOME and adb server port; everything is stopped at the end. Each figure is the median
of --repeats pushes; every push is checked by hash on the device's side. For real adb the time
is the one adb prints itself (its process start excluded), which favours adb in the ratio.
Writes benchmarks/results/push_speed.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from handlite.testing.adbtools import adb_clients, free_port, kill_adb_server

HERE = Path(__file__).resolve().parent


def _adb_version(binary: str) -> str:
    out = subprocess.run([binary, "version"], capture_output=True, text=True).stdout
    m = re.search(r"Version (\S+)", out)
    return m.group(1) if m else "?"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=float, default=10.0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--profile", default="pixel7", choices=["pixel7", "legacy"])
    ap.add_argument("--out", default=str(HERE / "results" / "push_speed.json"))
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="handlite-push-speed-"))
    home = work / "home"
    home.mkdir()
    os.environ.update(HOME=str(home), ANDROID_ADB_SERVER_PORT=str(free_port()))
    os.environ.pop("ANDROID_SERIAL", None)
    size = int(args.size_mb * 1e6)
    local = work / "payload.bin"
    local.write_bytes(os.urandom(size))
    digest = hashlib.sha256(local.read_bytes()).hexdigest()
    root = work / "phone"
    daemon = subprocess.Popen(
        [sys.executable, "-m", "handlite.testing.fake_adbd", "--port", "0", "--profile",
         args.profile, "--root", str(root)], stdout=subprocess.PIPE, text=True)
    # Every adb server this run starts (handlite's server transport uses the first).
    servers: list[str] = [os.environ["ANDROID_ADB_SERVER_PORT"]]
    try:
        serial = daemon.stdout.readline().split()[4]
        remote = "/data/local/tmp/push_speed.bin"
        on_device = root / "data/local/tmp/push_speed.bin"

        def check() -> None:
            if hashlib.sha256(on_device.read_bytes()).hexdigest() != digest:
                raise SystemExit("a push arrived corrupted")
            on_device.unlink()

        samples: dict[str, list[float]] = {}
        from handlite.device import connect

        for transport in ("direct", "server"):
            [dev] = connect(transport=transport, connect=serial)
            dev.push(local, remote)  # warm-up: connection, server transport, page cache
            check()
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                dev.push(local, remote)
                times.append(time.perf_counter() - t0)
                check()
            samples[f"handlite {transport}"] = times
            dev.close()
        versions = {}
        labels = {"adb29": "adb29 (Debian)", "adb36": "adb36 (adbutils wheel)"}
        for key, binary in adb_clients().items():
            name = labels[key]
            # Each client gets its own server: an adb 29 client must not talk to a 36 server.
            port = str(free_port())
            env = dict(os.environ, ANDROID_ADB_SERVER_PORT=port)
            servers.append(port)
            subprocess.run([binary, "connect", serial], env=env, capture_output=True,
                           timeout=30, check=True)
            time.sleep(0.5)
            versions[name] = _adb_version(binary)
            times = []
            for i in range(args.repeats + 1):
                r = subprocess.run([binary, "-s", serial, "push", str(local), remote], env=env,
                                   capture_output=True, text=True, timeout=120)
                m = re.search(r"\((\d+) bytes in ([\d.]+)s\)", r.stdout + r.stderr)
                if r.returncode != 0 or not m:
                    raise SystemExit(f"{name} push failed: {r.stdout}{r.stderr}")
                check()
                if i:  # the first push is the warm-up
                    times.append(float(m.group(2)))
            samples[name] = times
    finally:
        for port in servers:
            kill_adb_server(int(port))
        daemon.terminate()
        daemon.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)

    results = {name: {"median_s": statistics.median(ts),
                      "mb_per_s": size / 1e6 / statistics.median(ts),
                      "samples_s": [round(t, 5) for t in ts]}
               for name, ts in samples.items()}
    adb_best = max(v["mb_per_s"] for k, v in results.items() if k.startswith("adb"))
    ratio = results["handlite direct"]["mb_per_s"] / adb_best
    doc = {
        "schema": "handlite.push_speed/1",
        "command": "python benchmarks/push_speed.py "
                   f"--size-mb {args.size_mb:g} --repeats {args.repeats} --profile {args.profile}",
        "time_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": {"cpu_count": os.cpu_count(), "python": platform.python_version(),
                 "machine": platform.machine()},
        "device": f"stand-in ({args.profile} profile) on 127.0.0.1, its own process",
        "size_bytes": size, "repeats": args.repeats, "adb_versions": versions,
        "results": results,
        "direct_vs_fastest_adb": round(ratio, 3), "target": 0.5, "target_met": ratio >= 0.5,
        "note": "median per path; real adb times are adb's own (process start excluded)",
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, out)
    for name, r in results.items():
        print(f"{name:>24}: {r['mb_per_s']:8.1f} MB/s (median {r['median_s'] * 1000:.1f} ms)")
    print(f"direct / fastest real adb = {ratio:.2f} (target >= 0.5) -> {out}")
    return 0 if ratio >= 0.5 else 1


if __name__ == "__main__":
    sys.exit(main())
