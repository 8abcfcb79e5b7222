"""Decoder widths vs int8 invoke time (host XNNPACK, 1 thread), next to MediaPipe's models.

Usage: python benchmarks/head_widths.py [--compare hand_landmark_full.tflite ...]
Writes benchmarks/results/head_widths.json. Random weights are fine for timing; calibration
uses random inputs because only speed is measured here. This chose the decoder widths in
`handlite/config.py` before the shipped model was trained.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

CANDIDATES = [(128, (64, 32)), (64, (32, 32)), (64, (32, 16)), (32, (16, 16))]


def convert_int8(model, size: int) -> bytes:
    import tensorflow as tf
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    rng = np.random.default_rng(0)
    converter.representative_dataset = lambda: (
        [rng.uniform(-1, 1, (1, size, size, 3)).astype(np.float32)] for _ in range(8))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.uint8
    return converter.convert()


def median_invoke_ms(content: bytes, runs: int) -> float:
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_content=content, num_threads=1)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
    for _ in range(5):
        interpreter.invoke()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        interpreter.invoke()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", action="append", default=[])
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "head_widths.json"))
    args = parser.parse_args()
    from handlite.model import build_model, count_macs

    rows = []
    for path in args.compare:
        rows.append({"model": Path(path).name, "invoke_ms": median_invoke_ms(Path(path).read_bytes(), args.runs)})
    for size in (224, 112):
        for head, ups in CANDIDATES:
            model = build_model(size, head_width=head, up_widths=ups)
            rows.append({"model": f"handlite {size} int8 head {head}/{ups[0]}/{ups[1]}",
                         "params": int(model.count_params()), "macs": count_macs(model),
                         "invoke_ms": median_invoke_ms(convert_int8(model, size), args.runs)})
    for row in rows:
        print(f"{row['model']:45s} {row['invoke_ms']:7.2f} ms")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"rows": rows, "threads": 1, "runs": args.runs,
                                          "command": "python benchmarks/head_widths.py --compare "
                                          "hand_landmark_full.tflite --compare hand_landmark_lite.tflite"},
                                         indent=2) + "\n")


if __name__ == "__main__":
    main()
