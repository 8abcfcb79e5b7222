"""Orchestration overhead of a device sweep on the stand-in device.

overhead = (sweep wall time - on-device benchmark command time) / sweep wall time; everything
but the benchmark commands counts as overhead (hygiene snapshots, pushes, getprop, record
writes). Target: <= 10%. Writes benchmarks/results/sweep_overhead.json.

    python benchmarks/sweep_overhead.py [--runs 50]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _port() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not 5555 <= port <= 5585:
            return port


def _models(folder: Path, size: int) -> list[Path]:
    # the paper's network (random weights: timings do not depend on them), so each cell
    # takes as long as a real model does, not the few ms of a toy graph
    import tensorflow as tf

    from handlite.model import build_model
    model = build_model(size)
    paths = []
    for precision in ("float32", "dynamic"):
        conv = tf.lite.TFLiteConverter.from_keras_model(model)
        if precision == "dynamic":
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
        path = folder / f"handlite_{size}_{precision}.tflite"
        path.write_bytes(conv.convert())
        paths.append(path)
    return paths


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--size", type=int, default=112, help="input size of the network")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                         "sweep_overhead.json"))
    args = ap.parse_args()
    from handlite.device import connect as open_devices
    from handlite.bench.hygiene import HygieneSettings
    from handlite.bench.runners import BenchmarkModelRunner, RunSettings
    from handlite.bench.sweep import SweepPlan, run_sweep
    from handlite.testing.device import StandInDevice
    from handlite.testing.fake_benchmark_model import write_binary

    adb = shutil.which("adb")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "home").mkdir()
        port = _port()
        os.environ.update(HOME=str(tmp / "home"), ANDROID_ADB_SERVER_PORT=str(port))
        subprocess.run([adb, "-P", str(port), "start-server"], check=True, capture_output=True)
        device = StandInDevice(tmp / "phone", port=_port()).start()
        try:
            subprocess.run([adb, "-P", str(port), "connect", device.serial], check=True,
                           capture_output=True)
            models = _models(tmp, args.size)
            plan = SweepPlan(models=models, threads=[1, 2], delegates=["cpu"],
                             runner=BenchmarkModelRunner(write_binary(tmp / "benchmark_model")),
                             settings=RunSettings(runs=args.runs, warmup=5),
                             hygiene=HygieneSettings(threshold_c=90, cooldown_s=0,
                                                     max_wait_s=0),
                             out=tmp / "r.jsonl")
            result = run_sweep(plan, open_devices(device.serial))
        finally:
            device.stop()
            subprocess.run([adb, "-P", str(port), "kill-server"], capture_output=True)
    if result.failed:
        print("failed cells:", [r["error"] for r in result.failed], file=sys.stderr)
        return 1
    overhead = (result.wall_s - result.device_s) / result.wall_s
    doc = {"what": f"sweep orchestration overhead on the stand-in device: the paper's network "
                   f"at {args.size} (float32, dynamic) x threads 1,2, benchmark_model runner, "
                   f"cooldown 0",
           "command": f"python benchmarks/sweep_overhead.py --runs {args.runs} --size {args.size}",
           "cells": len(result.records), "runs_per_cell": args.runs,
           "wall_s": round(result.wall_s, 3), "device_s": round(result.device_s, 3),
           "overhead_fraction": round(overhead, 4), "target_fraction": 0.10,
           "meets_target": overhead <= 0.10,
           "host": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "machine": platform.machine()}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
