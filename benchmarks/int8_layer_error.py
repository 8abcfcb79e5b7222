#!/usr/bin/env python
"""Where full-int8 loses accuracy, op by op: TFLite's QuantizationDebugger on the shipped model.

    python benchmarks/int8_layer_error.py [--model models/handlite_224.keras] [--size 224]
        [--calibration synth] [--data render:DIR] [--count 32]
        [--out benchmarks/results/int8_layer_error.json]

The network is converted as the int8 variant is (`handlite.export.make_converter`, 200
calibration crops); the debugger then runs --count crops of --data through the
int8 graph, each op fed the int8 output of the op before, and compares each op's dequantised
output with its float result. RMSE / scale is the error in units of the tensor's int8 step:
pure rounding of a uniform value is 1 / sqrt(12) = 0.289; a much larger figure marks an op
that loses more than rounding (clipped ranges, poorly quantised weights).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import platform
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "handlite_224.keras"))
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--calibration", default="synth")
    parser.add_argument("--data", default="synth", help="crops the debugger runs")
    parser.add_argument("--count", type=int, default=32)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"
                                             / "int8_layer_error.json"))
    args = parser.parse_args(argv)

    import tensorflow as tf

    from handlite.export import make_converter
    from handlite.io import atomic_write_text
    from handlite.reference import KerasReference
    from handlite.variants import Variant, get_precision

    ref = KerasReference(path=args.model, data=args.calibration).load()
    net = ref.net(args.size)
    calib = ref.inputs(args.size, 200, args.calibration)
    crops = ref.inputs(args.size, args.count, args.data)
    converter = make_converter(net, Variant(f"{args.size}_int8", args.size, "int8"),
                               get_precision("int8"), calib)
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter,
        debug_dataset=lambda: ([crops[i:i + 1]] for i in range(len(crops))))
    debugger.run()
    buf = io.StringIO()
    debugger.layer_statistics_dump(buf)
    ops = []
    for row in csv.DictReader(io.StringIO(buf.getvalue())):
        scale = float(row["scale"])
        rmse = float(row["mean_squared_error"]) ** 0.5
        ops.append({"op": row["op_name"], "tensor": row["tensor_name"], "scale": scale,
                    "rmse_over_scale": round(rmse / scale, 4) if scale else None})
    ratios = [o["rmse_over_scale"] for o in ops if o["rmse_over_scale"] and o["op"] != "PAD"]
    result = {"model": args.model, "size": args.size, "calibration": args.calibration,
              "data": args.data, "count": len(crops), "machine": platform.processor()
              or platform.machine(), "ops": ops,
              "rmse_over_scale_median": round(sorted(ratios)[len(ratios) // 2], 4),
              "worst": sorted(ops, key=lambda o: -(o["rmse_over_scale"] or 0))[:5]}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")
    for o in result["worst"]:
        print(f"{o['rmse_over_scale']:.3f}  {o['op']:<18} {o['tensor'][-70:]}")
    print(f"median RMSE / scale over {len(ratios)} ops: {result['rmse_over_scale_median']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
