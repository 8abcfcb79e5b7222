#!/usr/bin/env python
"""Decode speed: the heatmap decoder per frame, batched and single-frame, float and quantised.

    python benchmarks/decode_speed.py [--rounds 400] [--batch 64] [--model MODEL.tflite]

Writes benchmarks/results/decode_speed.json. Everything runs on one thread (OpenCV too), and
the single-frame variants are interleaved call by call, so load from other processes on a
shared machine falls on all of them alike; medians and 10/90th percentiles are recorded with
the 1-minute load average before and after.

Single frame, 56 x 56 x 22 maps (224 input), two map sets of 16 frames each:
- "confident": encoded Gaussians plus noise, every keypoint above the confidence threshold;
- "weak6": the same with 6 keypoints per frame drowned in noise, so the low-confidence
  fallback runs for them (the shipped int8 model sends 4-6 of 21 keypoints there on the
  benchmark frame);
and four decoders: "reference" (the decoder before the fast paths, frozen in
tests/codec/reference_decoder.py) on the float32 maps the runtime used to dequantise to,
"reference_dequantize" (that plus the dequantisation the runtime used to do), "float"
(`HeatmapCodec.decode` on one float32 frame), "quantized" (`decode_quantized` on the raw
int8 frame, quantised like the shipped 224 int8 model's output: scale 0.00629, zero point -68;
compiled with numba), "quantized_numpy" (its numpy path) and "quantized_bound" (the decoder
the runtime binds to its output tensor once: `HeatmapCodec.quantized_decoder`).

With --model (an int8 handlite export, e.g. `handlite export models/handlite_224.keras
--size 224 --precision int8 --io int8 --out /tmp/dec/`): the real benchmark frame
(`handlite.bench.host.bench_frame`) through `HandRuntime.predict` (its preprocess / invoke /
decode medians; predict's decode includes mapping keypoints back to the image), and the
reference decode (with the dequantisation the runtime did) against `decode_quantized` on the
same output tensor, twice: back to back (warm caches) and each right after an invoke (as in
the pipeline, where the network has just swept the caches: every numpy call costs more).

The batched figure is `decode` on --batch frames at once (training metrics, parity).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from handlite.codec import HeatmapCodec

ROOT = Path(__file__).resolve().parents[1]
SCALE, ZERO_POINT = 0.006293466780334711, -68  # the shipped handlite_224_int8 output tensor
K = 21


def _reference_decoder():
    spec = importlib.util.spec_from_file_location(
        "handlite_reference_decoder", ROOT / "tests" / "codec" / "reference_decoder.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ReferenceDecoder


def _maps(codec: HeatmapCodec, n: int, weak: int, seed: int) -> np.ndarray:
    """(n, H, W, K+1) float32 maps like a network's: Gaussians + noise, `weak` keypoints low."""
    rng = np.random.default_rng(seed)
    maps = codec.encode_batch(rng.uniform(0, codec.input_size - 1, (n, K, 2)))
    maps += rng.normal(0, 0.02, maps.shape).astype(np.float32)
    for frame in maps:
        drown = rng.choice(K, weak, replace=False)
        frame[..., drown] = frame[..., drown] * 0.1 + rng.normal(
            0, 0.05, frame.shape[:2] + (weak,)).astype(np.float32)
    return maps


def _quantize(maps: np.ndarray) -> np.ndarray:
    return np.clip(np.round(maps / SCALE) + ZERO_POINT, -128, 127).astype(np.int8)


def _dequantize(raw: np.ndarray, out: np.ndarray) -> np.ndarray:
    """What HandRuntime.decode did before the quantised fast path."""
    np.copyto(out, raw, casting="unsafe")
    out -= np.float32(ZERO_POINT)
    out *= np.float32(SCALE)
    return out


def _interleaved(variants: dict, rounds: int) -> dict:
    """Run every variant once per round, in a rotating order; per-call microseconds."""
    names = list(variants)
    times = {name: [] for name in names}
    for _ in range(20):  # warm-up: tables, caches, allocator
        for fn in variants.values():
            fn()
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            t0 = time.perf_counter_ns()
            variants[name]()
            times[name].append((time.perf_counter_ns() - t0) / 1e3)
    return {name: _stats(v) for name, v in times.items()}


def _stats(values) -> dict:
    v = np.asarray(values, dtype=np.float64)
    return {"median_us": round(float(np.median(v)), 1),
            "p10_us": round(float(np.percentile(v, 10)), 1),
            "p90_us": round(float(np.percentile(v, 90)), 1), "n": int(v.size)}


def single_frame(rounds: int) -> dict:
    codec = HeatmapCodec(input_size=224)
    reference = _reference_decoder()(codec)
    out = {}
    # the numpy path of decode_quantized (what runs without numba), and the runtime's
    # decoder bound to one tensor (compiled, checks and tables set up once)
    numpy_codec = HeatmapCodec(input_size=224)
    numpy_codec.use_jit = False
    bound = codec.quantized_decoder(np.int8, codec.shape, SCALE, ZERO_POINT)
    for name, weak, seed in (("confident", 0, 1), ("weak6", 6, 2)):
        maps = _maps(codec, 16, weak, seed)
        raws = [_quantize(m) for m in maps]
        floats = [_dequantize(r, np.empty(r.shape, np.float32)) for r in raws]
        scratch = np.empty(raws[0].shape, np.float32)
        low = np.mean([(codec.decode(f)[1] < codec.settings.min_confidence).sum()
                       for f in floats])
        frame = iter(range(1 << 62))

        def pick():
            return next(frame) % len(raws)

        def deq():
            i = pick()
            return reference.decode(_dequantize(raws[i], scratch))

        variants = {
            "reference": lambda: reference.decode(floats[pick()]),
            "reference_dequantize": deq,
            "float": lambda: codec.decode(floats[pick()]),
            "quantized": lambda: codec.decode_quantized(raws[pick()], SCALE, ZERO_POINT),
            "quantized_numpy": lambda: numpy_codec.decode_quantized(raws[pick()], SCALE,
                                                                    ZERO_POINT),
            "quantized_bound": lambda: bound(raws[pick()]),
        }
        out[name] = {"low_confidence_keypoints_per_frame": float(low),
                     **_interleaved(variants, rounds)}
    return out


def batched(batch: int, repeats: int) -> dict:
    codec = HeatmapCodec(input_size=224)
    maps = _maps(codec, batch, 0, 3)
    maps[::8, ..., 3] *= 0.2  # one in eight frames takes the fallback, as before
    codec.decode(maps)
    per_frame = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        codec.decode(maps)
        per_frame.append((time.perf_counter_ns() - t0) / 1e3 / batch)
    return {"batch": batch, **_stats(per_frame)}


def real_frame(model: str, rounds: int) -> dict:
    """The model on the benchmark frame: predict's steps, and decode old vs new (warm, and
    right after an invoke)."""
    from handlite.bench.host import bench_frame
    from handlite.runtime import HandRuntime

    rt = HandRuntime(model, threads=1)
    if rt.output_quantization is None:
        raise SystemExit(f"{model}: not a model with quantised heatmap output")
    frame, box = bench_frame(rt.input_size)
    rt.predict(frame, box)
    raw = rt.heatmap_tensor()[0].copy()
    scale, zero_point = rt.output_quantization
    reference = _reference_decoder()(rt.codec)
    scratch = np.empty(raw.shape, np.float32)

    def old_decode(tensor):  # the pre-change runtime decode
        np.copyto(scratch, tensor, casting="unsafe")
        scratch[...] -= np.float32(zero_point)
        scratch[...] *= np.float32(scale)
        return reference.decode(scratch)

    def after_invoke(decode):
        """Time `decode` right after an invoke, as in the pipeline: the network has just
        swept the caches, which costs each of the decoder's numpy calls microseconds."""
        def run():
            rt.invoke()
            tensor = rt.heatmap_tensor()
            t0 = time.perf_counter_ns()
            decode(tensor[0])
            cold[decode].append((time.perf_counter_ns() - t0) / 1e3)
            del tensor
        return run

    def new_decode(tensor):
        return rt.codec.decode_quantized(tensor, scale, zero_point)

    cold = {old_decode: [], new_decode: []}
    steps = {"preprocess": [], "invoke": [], "decode": []}

    def predict():
        for step, ms in rt.predict(frame, box).timings_ms.items():
            steps[step].append(ms * 1e3)

    warm = _interleaved({"reference_decode": lambda: old_decode(raw),
                         "decode_quantized": lambda: new_decode(raw),
                         "predict": predict,
                         "cold_reference": after_invoke(old_decode),
                         "cold_quantized": after_invoke(new_decode)}, rounds)
    _, scores = rt.codec.decode_quantized(raw, scale, zero_point)
    med = {step: float(np.median(v[-rounds:])) for step, v in steps.items()}
    return {"model": str(model), "output_quantization": [float(scale), int(zero_point)],
            "low_confidence_keypoints": int((scores < rt.codec.settings.min_confidence).sum()),
            "decode_back_to_back": {"reference": warm["reference_decode"],
                                    "decode_quantized": warm["decode_quantized"]},
            "decode_right_after_invoke": {"reference": _stats(cold[old_decode][-rounds:]),
                                          "decode_quantized": _stats(cold[new_decode][-rounds:])},
            "predict_steps": {step: _stats(v[-rounds:]) for step, v in steps.items()},
            "decode_share_of_invoke": round(med["decode"] / med["invoke"], 4),
            "pre_plus_decode_share_of_invoke": round(
                (med["preprocess"] + med["decode"]) / med["invoke"], 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--model", help="an int8 handlite export with quantised heatmaps")
    parser.add_argument("--out",
                        default=str(ROOT / "benchmarks" / "results" / "decode_speed.json"))
    args = parser.parse_args()

    import cv2
    cv2.setNumThreads(1)
    load_before = os.getloadavg()
    result = {"what": "HeatmapCodec decode per frame, 56x56x22 maps (224 input), 1 thread",
              "single_frame": single_frame(args.rounds),
              "batched_per_frame": batched(args.batch, args.repeats)}
    if args.model:
        result["bench_frame"] = real_frame(args.model, args.rounds)
    result.update({
        "loadavg_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "machine": {"cores": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "numpy": np.__version__,
                    "opencv": cv2.__version__},
        "command": "python benchmarks/decode_speed.py" + (f" --model {args.model}" if args.model
                                                          else ""),
    })
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(args.out).with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(args.out)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
