"""Parity figures of the shipped model's 8 variants, checked in so a change in numerics shows
in a diff (the tolerances in src/handlite/recipes/variants.toml were chosen from these).

Exports the full matrix (or reuses --exported DIR), runs `handlite.parity.run_parity` on
--count synthetic validation crops and writes benchmarks/results/parity.json: per variant the
keypoint distance to the Keras decode (mean, p95, max, max over confident keypoints, in input
px), heatmap errors, cosine, AUC of Keras and TFLite against ground truth, and the verdict.

    python benchmarks/parity_figures.py [--model models/handlite_224.keras] [--count 256]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
KEYS = ("passed", "keypoint_epe_mean_px", "keypoint_epe_p95_px", "keypoint_epe_max_px",
        "keypoint_epe_max_confident_px", "confident_fraction", "heatmap_max_abs",
        "heatmap_mean_abs", "cosine_min", "auc_keras", "auc_tflite", "failures")


def _round(v):
    if isinstance(v, float):
        return round(v, 5) if v == v and abs(v) != float("inf") else None
    return v


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "handlite_224.keras"))
    parser.add_argument("--count", type=int, default=256)
    parser.add_argument("--exported", help="folder with already exported variants")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "parity.json"))
    args = parser.parse_args(argv)

    from handlite import _quiet
    _quiet.install()
    from handlite.export import export
    from handlite.io import atomic_write_bytes, sha256_file
    from handlite.parity import run_parity

    model = Path(args.model)
    if not model.is_file():
        print(f"error: model not found: {model}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.exported) if args.exported else Path(tmp)
        if not args.exported:
            report = export(model, folder)
            if not report.ok:
                print("error: export failed", file=sys.stderr)
                return 1
        files = sorted(folder.glob("handlite_*.tflite"))
        start = time.perf_counter()
        parity = run_parity(model, files, count=args.count)
        seconds = time.perf_counter() - start
    result = {
        "benchmark": "parity_figures",
        "command": "python benchmarks/parity_figures.py " + " ".join(argv or sys.argv[1:]),
        "model": str(model.relative_to(ROOT) if model.is_relative_to(ROOT) else model),
        "model_sha256": sha256_file(model),
        "data": "synth", "count": args.count, "passed": parity.passed,
        "seconds": round(seconds, 1),
        "variants": {r.variant: {k: _round(getattr(r, k)) for k in KEYS}
                     for r in parity.results},
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    atomic_write_bytes(args.out, (json.dumps(result, indent=2, allow_nan=False,
                                             default=str) + "\n").encode())
    for name, v in result["variants"].items():
        print(f"{name:16s} {'pass' if v['passed'] else 'FAIL'}  EPE mean "
              f"{v['keypoint_epe_mean_px']:.4f} p95 {v['keypoint_epe_p95_px']:.3f} max "
              f"{v['keypoint_epe_max_px']:.3f} px  AUC {v['auc_keras']:.4f} -> "
              f"{v['auc_tflite']:.4f}", file=sys.stderr)
    return 0 if parity.passed else 1


if __name__ == "__main__":
    sys.exit(main())
