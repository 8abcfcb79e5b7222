"""Throughput of `handlite data render` (the rigged 3D hand on photographs) at 256x256.

Two figures, because the CPU here is shared (the load average at the start is recorded):
- cpu: one process renders and writes samples (JPEG + JSON, atomically); process CPU time per
  image (all its threads, llvmpipe's included) after a warm-up, median and p90 over runs.
  1000 / ms is what one core delivers, whatever else the machine is doing.
- wall: `write_dataset(..., workers=W)` end to end for each W, pool start included, and its
  steady rate (first to last finished image).
Writes benchmarks/results/render_speed.json.

    python benchmarks/render_speed.py [--count 400] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path


def _cpu_per_image(count: int, runs: int) -> dict:
    os.environ.setdefault("LP_NUM_THREADS", "0")
    import cv2

    from handlite.data import render

    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(20):  # warm-up: context, shaders, photo bank
            render._write_one((tmp, 777, i, 256, 92, False))
        per_image = []
        for r in range(runs):
            for i in range(count // runs):
                t = time.process_time()
                render._write_one((tmp, 778, r * count + i, 256, 92, False))
                per_image.append((time.process_time() - t) * 1e3)
    per_image.sort()
    med = statistics.median(per_image)
    return {"ms_median": round(med, 2), "ms_p90": round(per_image[int(0.9 * len(per_image))], 2),
            "ms_std": round(statistics.pstdev(per_image), 2), "images": len(per_image),
            "images_per_s_per_core": round(1000 / med, 1)}


def _wall(count: int, workers: int) -> dict:
    from handlite.data.render import write_dataset

    done_at: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        write_dataset(tmp, count, seed=779, workers=workers,
                      progress=lambda n: done_at.append(time.perf_counter()))
        total = time.perf_counter() - start
    steady = (len(done_at) - 1) / (done_at[-1] - done_at[0]) if len(done_at) > 1 else 0.0
    return {"workers": workers, "count": count, "seconds": round(total, 2),
            "images_per_s": round(count / total, 1), "images_per_s_steady": round(steady, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                             "render_speed.json"))
    args = parser.parse_args()

    load = os.getloadavg()[0]
    result = {"host": platform.node(), "cpu_count": os.cpu_count(), "size": 256,
              "loadavg_1min_at_start": round(load, 2),
              "cpu": _cpu_per_image(args.count, runs=4),
              "wall": [_wall(args.count, w) for w in args.workers],
              "loadavg_1min_at_end": round(os.getloadavg()[0], 2)}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp_out, out)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
