"""Calibrate the decoder's low-confidence threshold on the shipped models.

Usage: python benchmarks/fallback_threshold.py [--count 128]
For each threshold: the share of keypoints that take the fallback, and AUC / median EPE on
synthetic validation crops (hand3d conventions, crop pixels). Writes
benchmarks/results/fallback_threshold.json. The default in handlite/config.py comes from here.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from handlite import _quiet

_quiet.install()

MODELS = {224: "models/handlite_224.keras", 112: "models/handlite_112.keras"}
THRESHOLDS = (0.0, 0.002, 0.005, 0.01, 0.02, 0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=128)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "fallback_threshold.json"))
    args = parser.parse_args()
    from handlite.codec import HeatmapCodec
    from handlite.data import load_eval_set
    from handlite.data.pipeline import normalize
    from handlite.metrics import keypoint_metrics
    from handlite.model import load_model

    rows = []
    for size, path in MODELS.items():
        model = load_model(path, size)
        samples = load_eval_set("synth", size, args.count)
        maps = np.asarray(model.predict(normalize(samples.images), verbose=0, batch_size=16))
        for threshold in THRESHOLDS:
            codec = HeatmapCodec(size, min_confidence=threshold)
            keypoints, scores = codec.decode(maps)
            metrics = keypoint_metrics(keypoints, samples.keypoints, samples.visible)
            rows.append({"size": size, "model": path, "min_confidence": threshold,
                         "fallback_share": float((scores < threshold).mean()),
                         "auc": metrics["auc"], "epe_median_px": metrics["epe_median_px"]})
            print(f"{size} {threshold:<6} fallback {rows[-1]['fallback_share']:.2f} "
                  f"AUC {metrics['auc']:.4f} median EPE {metrics['epe_median_px']:.2f} px")
    Path(args.out).write_text(json.dumps({"command": "python benchmarks/fallback_threshold.py",
                                          "count": args.count, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
