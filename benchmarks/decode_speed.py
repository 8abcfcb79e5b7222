"""Decode speed: batched HeatmapCodec.decode on 56x56x22 maps (target <= 0.2 ms per frame).

Usage: python benchmarks/decode_speed.py [--batch 64] [--repeats 50]
Writes benchmarks/results/decode_speed.json. The maps are realistic: encoded Gaussians plus
noise, with a few weak keypoints so the low-confidence fallback runs as it would on a network.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from handlite.codec import HeatmapCodec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "decode_speed.json"))
    args = parser.parse_args()

    codec = HeatmapCodec(input_size=args.size)
    rng = np.random.default_rng(0)
    points = rng.uniform(0, args.size - 1, (args.batch, 21, 2))
    maps = codec.encode_batch(points)
    maps += rng.normal(0, 0.02, maps.shape).astype(np.float32)
    maps[::8, :, :, 3] *= 0.2  # weak keypoints: one in eight frames takes the fallback
    codec.decode(maps)  # warm-up

    per_frame = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        codec.decode(maps)
        per_frame.append((time.perf_counter() - start) / args.batch * 1e3)
    single = []
    for i in range(min(args.batch, 64)):
        start = time.perf_counter()
        codec.decode(maps[i])
        single.append((time.perf_counter() - start) * 1e3)
    result = {
        "what": f"HeatmapCodec.decode, batch {args.batch} of {codec.shape}",
        "batched_ms_per_frame_median": float(np.median(per_frame)),
        "batched_ms_per_frame_min": float(np.min(per_frame)),
        "single_frame_ms_median": float(np.median(single)),
        "target_ms_per_frame": 0.2,
        "meets_target": bool(np.median(per_frame) <= 0.2),
        "repeats": args.repeats,
        "machine": {"cpu": platform.processor() or platform.machine(), "python": platform.python_version(),
                    "numpy": np.__version__},
        "command": "python benchmarks/decode_speed.py",
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
