"""The converted ImageNet weights, proven on photos that installed packages ship.

torchvision's MobileNetV2 checkpoint (`handlite.backbone`) goes into our encoder layers plus
its classifier head; each photo (centre square, 224 px, our normalisation) is classified with
the stride-2 convolutions padded as PyTorch pads them (one pixel each side) and as Keras'
MobileNetV2 pads them (bottom/right). PyTorch's padding is the computation the weights were
trained with; the script shows how far Keras' padding moves the predictions and whether each
top-1 is one of the photo's plausible ImageNet classes.

Usage: python benchmarks/imagenet_check.py [--out benchmarks/results/imagenet_check.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import cv2
import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# photo -> the ImageNet-1k classes (0-based index: name) a correct classifier names
PHOTOS = {
    "matplotlib:grace_hopper.jpg": {652: "military uniform"},
    "skimage:chelsea.png": {281: "tabby", 282: "tiger cat", 285: "Egyptian cat"},
    "skimage:coffee.png": {967: "espresso", 968: "cup", 504: "coffee mug"},
    "skimage:rocket.jpg": {657: "missile", 812: "space shuttle", 744: "projectile"},
    "skimage:astronaut.png": {},  # no ImageNet class for a person: agreement only
}


def _path(spec: str) -> Path:
    pkg, name = spec.split(":")
    if pkg == "matplotlib":
        from matplotlib import cbook
        return Path(cbook.get_sample_data(name, asfileobj=False))
    import skimage
    return Path(skimage.__file__).parent / "data" / name


def _square(path: Path, size: int = 224) -> np.ndarray:
    img = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    h, w = img.shape[:2]
    s = min(h, w)
    img = img[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="benchmarks/results/imagenet_check.json")
    args = ap.parse_args()

    from handlite import backbone
    from handlite.model import classifier, set_weights_by_name
    from handlite.data.pipeline import normalize

    weights = backbone.imagenet_weights()
    models = {pad: classifier(224, padding=pad) for pad in ("torch", "keras")}
    for m in models.values():
        set_weights_by_name(m, weights)
    rows = []
    for spec, classes in PHOTOS.items():
        path = _path(spec)
        if not path.is_file():
            print(f"skip {spec}: not installed")
            continue
        x = normalize(_square(path)[None])
        probs = {}
        for pad, m in models.items():
            z = np.asarray(m(x, training=False), np.float64)[0]
            e = np.exp(z - z.max())
            probs[pad] = e / e.sum()
        row = {"photo": spec}
        for pad, p in probs.items():
            top = np.argsort(-p)[:5]
            row[pad] = {"top5": [int(i) for i in top], "p_top1": round(float(p[top[0]]), 4),
                        "top1_correct": (int(top[0]) in classes) if classes else None}
        pt, pk = probs["torch"], probs["keras"]
        row["kl_torch_to_keras"] = round(float(np.sum(pt * np.log(pt / pk))), 4)
        row["same_top1"] = row["torch"]["top5"][0] == row["keras"]["top5"][0]
        rows.append(row)
        print(f"{spec:28s} torch top1 {row['torch']['top5'][0]:4d} "
              f"({row['torch']['p_top1']:.2f}, correct {row['torch']['top1_correct']})  "
              f"keras top1 {row['keras']['top5'][0]:4d} ({row['keras']['p_top1']:.2f}, "
              f"correct {row['keras']['top1_correct']})  KL {row['kl_torch_to_keras']}")
    labelled = [r for r in rows if r["torch"]["top1_correct"] is not None]
    summary = {
        "photos": len(rows),
        "top1_correct": {pad: sum(r[pad]["top1_correct"] for r in labelled)
                         for pad in ("torch", "keras")},
        "labelled_photos": len(labelled),
        "same_top1": sum(r["same_top1"] for r in rows),
        "rows": rows,
        "host": platform.processor() or platform.machine(),
        "command": "python benchmarks/imagenet_check.py",
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "rows"}))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
