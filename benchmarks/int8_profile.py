#!/usr/bin/env python
"""Where int8 gains over float32, stage by stage: the shipped network cut after each stage.

    python benchmarks/int8_profile.py [--model models/handlite_224.keras] [--size 224]
        [--runs 150] [--out benchmarks/results/int8_profile.json]

Each prefix of the network (input -> the named layer) is converted with the same recipe as
the shipped variants (`handlite.export.convert`: static batch 1, float32 and full-int8 with
int8 I/O, calibrated on synthetic crops), and all prefixes are timed interleaved at 1 thread
with LiteRT's default CPU path (XNNPACK). A stage's time is the difference between
consecutive prefixes' medians, so it includes what the cut adds at the stage boundary; the
int8/float32 ratio per stage shows which parts of the network int8 speeds up on this CPU.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

#: (cut layer, what the stage holds) at 224: resolution after the stage in brackets
STAGES = (
    ("block_2_add", "stem + blocks 0-2 (112 -> 56 px)"),
    ("block_5_add", "blocks 3-5 (28 px)"),
    ("block_9_add", "blocks 6-9 (14 px)"),
    ("block_12_add", "blocks 10-12 (14 px, 96 ch)"),
    ("block_15_add", "blocks 13-15 (14 px, 160 ch: stride removed)"),
    ("block_16_project_BN", "block 16 (14 px, 320 ch)"),
    ("head_pw2_relu", "head to the first up-sampling (14 px)"),
    ("head_up2_relu", "two transposed convs (28, 56 px)"),
    ("heatmaps", "depthwise + 1x1 to 22 maps (56 px)"),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "handlite_224.keras"))
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--runs", type=int, default=150, help="timed runs per prefix")
    parser.add_argument("--turn", type=int, default=6, help="runs per prefix per turn")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "int8_profile.json"))
    args = parser.parse_args()

    import keras
    from ai_edge_litert.interpreter import Interpreter

    from handlite.data import load_eval_set
    from handlite.data.pipeline import normalize
    from handlite.export import convert
    from handlite.model import load_model
    from handlite.variants import get_variant

    model = load_model(args.model, args.size)
    calibration = normalize(load_eval_set("synth", args.size, 100).images)
    interps = {}
    for cut, _ in STAGES:
        prefix = keras.Model(model.input, model.get_layer(cut).output)
        for precision in ("float32", "int8"):
            variant = get_variant(f"{args.size}_{precision}")
            data = convert(prefix, variant, calibration=calibration,
                           io="int8" if precision == "int8" else None)
            it = Interpreter(model_content=data, num_threads=1)
            it.allocate_tensors()
            d = it.get_input_details()[0]
            it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
            it.invoke()
            interps[(cut, precision)] = it
        print(f"converted up to {cut}", flush=True)

    times = {k: [] for k in interps}
    for _ in range(-(-args.runs // args.turn)):
        for key, it in interps.items():
            for _ in range(args.turn):
                t0 = time.perf_counter_ns()
                it.invoke()
                times[key].append((time.perf_counter_ns() - t0) / 1e6)

    rows, prev = [], {"float32": 0.0, "int8": 0.0}
    for cut, what in STAGES:
        med = {p: float(np.median(times[(cut, p)])) for p in ("float32", "int8")}
        seg = {p: med[p] - prev[p] for p in med}
        rows.append({"cut": cut, "stage": what, "prefix_ms": med, "stage_ms": seg,
                     "ratio": seg["float32"] / seg["int8"] if seg["int8"] > 0 else None})
        prev = med
    result = {
        "script": "benchmarks/int8_profile.py", "model": Path(args.model).name,
        "size": args.size, "threads": 1, "runs": args.runs,
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpu": platform.processor() or platform.machine(), "stages": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n")
    tmp.replace(out)
    print(f"{'stage':46s} {'f32 ms':>7s} {'int8 ms':>8s} {'ratio':>6s}")
    for r in rows:
        ratio = f"{r['ratio']:.2f}" if r["ratio"] else "-"
        print(f"{r['stage']:46s} {r['stage_ms']['float32']:7.3f} {r['stage_ms']['int8']:8.3f} "
              f"{ratio:>6s}")
    last = rows[-1]["prefix_ms"]
    print(f"{'whole network':46s} {last['float32']:7.3f} {last['int8']:8.3f} "
          f"{last['float32'] / last['int8']:6.2f}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
