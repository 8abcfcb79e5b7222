"""Throughput of the synthetic-hand renderer and of training-example preparation.

render: `handlite.data.synthetic.sample` (draw one 256x256 hand image, in memory), images/s.
example: `handlite.data.pipeline.training_example` on written JPEGs (read, paper crop,
augmentation, heatmap targets) at 112 and 224, examples/s. One process, one thread; the load
average at the start is recorded because the CPU is shared. Writes
benchmarks/results/synth_speed.json.

    python benchmarks/synth_speed.py [--count 200]
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


def _rate(fn, count: int, repeats: int = 3) -> dict:
    rates = []
    for r in range(repeats):
        start = time.perf_counter()
        for i in range(count):
            fn(r * count + i)
        rates.append(count / (time.perf_counter() - start))
    return {"per_s_median": round(statistics.median(rates), 1),
            "per_s_runs": [round(x, 1) for x in rates], "count_per_run": count}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                             "synth_speed.json"))
    args = parser.parse_args()

    import cv2
    import numpy as np

    from handlite.codec import HeatmapCodec
    from handlite.data.pipeline import training_example
    from handlite.data.sources import read_records
    from handlite.data.synthetic import sample, write_dataset

    cv2.setNumThreads(1)
    load = os.getloadavg()[0]
    result = {"host": platform.node(), "cpu_count": os.cpu_count(),
              "loadavg_1min_at_start": round(load, 2),
              "render_256": _rate(lambda i: sample(123, i), args.count)}
    with tempfile.TemporaryDirectory() as tmp:
        write_dataset(tmp, 64, seed=5)
        records = read_records(f"synth:{tmp}")
        rng = np.random.default_rng(0)
        for size in (112, 224):
            codec = HeatmapCodec(size)
            result[f"example_{size}"] = _rate(
                lambda i: training_example(records[i % len(records)], codec, rng), args.count)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp_out, out)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
