"""Orchestration overhead of a device sweep on the stand-in device.

overhead = (sweep wall time - on-device benchmark command time) / sweep wall time; everything
but the benchmark commands counts as overhead (device info, hygiene readings, pushes, record
writes). Target: <= 10%. Writes benchmarks/results/sweep_overhead.json.

    python benchmarks/sweep_overhead.py [--runs 50] [--sizes 112,224]
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


def _models(folder: Path, sizes: list[int]) -> list[Path]:
    """The recipe table's variants at `sizes` ({float32, float16, dynamic, int8} each) of the
    paper's network, converted by `handlite.export.convert`. Random weights: timings do not
    depend on them, and each cell takes as long as a real model does, not the few ms of a toy
    graph."""
    from handlite.variants import select
    paths = []
    for variant in select(sizes=sizes):
        path = folder / variant.filename
        if not path.is_file():  # --models DIR keeps them between runs
            import numpy as np

            from handlite.export import convert
            from handlite.model import build_model
            calibration = np.random.default_rng(0).uniform(
                -1, 1, (8, variant.size, variant.size, 3)).astype(np.float32)
            path.write_bytes(convert(build_model(variant.size), variant,
                                     calibration=calibration))
        paths.append(path)
    return paths


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--sizes", default="112,224",
                    help="input sizes; every precision of the recipe table at each")
    ap.add_argument("--models", help="folder to keep the converted models in (reused)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                         "sweep_overhead.json"))
    args = ap.parse_args()
    from handlite.device import connect as open_devices
    from handlite.bench.hygiene import HygieneSettings
    from handlite.bench.runners import BenchmarkModelRunner, RunSettings
    from handlite.bench.sweep import SweepPlan, run_sweep
    from handlite.testing.fake_adbd import StandInDevice
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
            folder = Path(args.models) if args.models else tmp
            folder.mkdir(parents=True, exist_ok=True)
            models = _models(folder, [int(v) for v in args.sizes.split(",")])
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
    doc = {"what": f"sweep orchestration overhead on the stand-in device: the paper's network, "
                   f"{len(models)} variants (sizes {args.sizes} x float32/float16/dynamic/int8) "
                   f"x threads 1,2, benchmark_model runner, cooldown 0",
           "command": f"python benchmarks/sweep_overhead.py --runs {args.runs} "
                      f"--sizes {args.sizes}",
           "cells": len(result.records), "runs_per_cell": args.runs,
           "wall_s": round(result.wall_s, 3), "device_s": round(result.device_s, 3),
           "overhead_fraction": round(overhead, 4), "target_fraction": 0.10,
           "meets_target": overhead <= 0.10,
           "per_cell_overhead_s": round((result.wall_s - result.device_s) / len(result.records),
                                        3),
           "loadavg_1m_after": round(os.getloadavg()[0], 2),
           "host": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "machine": platform.machine()}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
