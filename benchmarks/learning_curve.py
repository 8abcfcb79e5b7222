"""Validation AUC against training images seen: the old recipe against the new, same budget.

Arms (all at 112 px, Adam 1e-3 with one cosine over the budget, foreground-weighted loss,
batch 32, the same held-out rendered hands for validation, BN statistics re-estimated before
each validation so every point is what that checkpoint would ship):
    old       random encoder, procedural synthetic hands (how the previous models were made)
    imagenet  ImageNet encoder, procedural synthetic hands (the encoder alone)
    new       ImageNet encoder, rendered + synthetic hands (the shipped recipe)
    render    ImageNet encoder, rendered hands only (does mixing in synthetic help?)

A long run's own validation log is a curve too (`--run ARM=RUN_DIR`: the `log.csv` of a
`handlite train` run validated on the same held-out set, images seen = epoch x steps x batch
from its run.json), and a finished model is one point (`--model ARM=MODEL.keras:IMAGES`,
evaluated here on the validation set), so a budget no short benchmark can afford is compared
on the same held-out renders.

Usage:
    python benchmarks/learning_curve.py --render-train DIR --synth-train DIR --val DIR \
        [--epochs 5 --steps 30] [--arms old,new,render] [--run new=RUN_DIR] \
        [--model old=MODEL.keras:67200] [--out benchmarks/results/learning_curve]
Writes OUT.json (every validation row) and OUT.png (the figure the README shows).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ARMS = {
    "old": ("none", ("synth",)),
    "imagenet": ("imagenet", ("synth",)),
    "new": ("imagenet", ("render", "synth")),
    "render": ("imagenet", ("render",)),
}


def run_arm(name: str, args, work: Path) -> list[dict]:
    from handlite.train import TrainConfig, train

    weights, kinds = ARMS[name]
    data = [f"{k}:{args.render_train if k == 'render' else args.synth_train}" for k in kinds]
    cfg = TrainConfig(data=data if len(data) > 1 else data[0], out=str(work / f"{name}.keras"),
                      size=args.size, epochs=args.epochs, steps_per_epoch=args.steps,
                      batch=args.batch, optimizer="adam", lr=1e-3, schedule="cosine",
                      warmup_steps=min(50, args.steps), loss="weighted",
                      val=f"render:{args.val}", val_count=args.val_count,
                      backbone_weights=weights, bn_batches=4, seed=args.seed)
    start = time.perf_counter()
    train(cfg)
    with open(work / f"{name}.run" / "log.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    out = [{"arm": name, "epoch": int(r["epoch"]),
            "images_seen": int(r["epoch"]) * args.steps * args.batch,
            "val_auc": float(r["val_auc"]), "val_epe_median_px": float(r["val_epe_median_px"]),
            "source": "trained here"} for r in rows]
    print(f"{name}: {out[-1]} in {time.perf_counter() - start:.0f} s", flush=True)
    return out


def read_run(name: str, run_dir: Path) -> list[dict]:
    """Validation rows of an existing `handlite train` run as curve points."""
    cfg = json.loads((run_dir / "run.json").read_text())
    per_epoch = int(cfg["steps_per_epoch"]) * int(cfg["batch"])
    with open(run_dir / "log.csv", newline="") as fh:
        return [{"arm": name, "epoch": int(r["epoch"]),
                 "images_seen": int(r["epoch"]) * per_epoch, "val_auc": float(r["val_auc"]),
                 "val_epe_median_px": float(r["val_epe_median_px"]), "source": str(run_dir)}
                for r in csv.DictReader(fh) if r.get("val_auc")]


def model_point(name: str, spec: str, args) -> dict:
    """One finished model evaluated on the validation set at the benchmark's size."""
    from handlite.train import evaluate

    path, _, images = spec.rpartition(":")
    result = evaluate(path, f"render:{args.val}", size=args.size, count=args.val_count)
    return {"arm": name, "epoch": None, "images_seen": int(images), "val_auc": result["auc"],
            "val_epe_median_px": result["epe_median_px"], "source": path}


def plot(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    labels = {"old": "old: random encoder, synthetic",
              "imagenet": "ImageNet encoder, synthetic",
              "new": "new: ImageNet encoder, rendered + synthetic",
              "render": "ImageNet encoder, rendered only"}
    colours = {}
    for arm in dict.fromkeys(r["arm"] for r in rows):
        pts = sorted((r for r in rows if r["arm"] == arm and r["epoch"] is not None),
                     key=lambda r: r["images_seen"])
        if pts:
            line, = ax.plot([p["images_seen"] for p in pts], [p["val_auc"] for p in pts],
                            marker="o", label=labels.get(arm, arm))
            colours[arm] = line.get_color()
    for r in rows:  # finished models: one point each, not joined to a curve
        if r["epoch"] is None:
            ax.plot([r["images_seen"]], [r["val_auc"]], marker="*", markersize=13,
                    linestyle="", color=colours.get(r["arm"]),
                    label=f"{r['arm']}: {Path(r['source']).name}, {r['images_seen']:,} images")
    ax.set_xlabel("training images seen")
    ax.set_ylabel("validation AUC (PCK 0-30 px)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--render-train", required=True)
    ap.add_argument("--synth-train", required=True)
    ap.add_argument("--val", required=True, help="held-out rendered hands (a seed no arm trains on)")
    ap.add_argument("--val-count", type=int, default=128)
    ap.add_argument("--arms", default="old,new,render",
                    help="arms trained here (comma list; empty for none)")
    ap.add_argument("--run", action="append", default=[], metavar="ARM=RUN_DIR",
                    help="an existing run's validation log as the curve of ARM")
    ap.add_argument("--model", action="append", default=[], metavar="ARM=MODEL:IMAGES",
                    help="a finished model trained on IMAGES images: one point of ARM")
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--out", default="benchmarks/results/learning_curve")
    ap.add_argument("--replot", metavar="JSON", help="only redraw the figure of an OUT.json")
    args = ap.parse_args()
    if args.replot:
        doc = json.loads(Path(args.replot).read_text())
        plot(doc["rows"], Path(args.replot).with_suffix(".png"),
             f"{doc['size']} px, {doc['val_count']} held-out rendered hands")
        return

    rows = []
    # the cheap points first, so a bad path fails before any training
    for spec in args.run:
        name, _, run_dir = spec.partition("=")
        rows += read_run(name, Path(run_dir))
    for spec in args.model:
        name, _, model = spec.partition("=")
        rows.append(model_point(name, model, args))
    with tempfile.TemporaryDirectory() as tmp:
        for arm in filter(None, (a.strip() for a in args.arms.split(","))):
            rows += run_arm(arm, args, Path(tmp))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"rows": rows, "size": args.size, "epochs": args.epochs, "steps": args.steps,
           "batch": args.batch, "val": args.val, "val_count": args.val_count,
           "host": platform.processor() or platform.machine(), "cores": os.cpu_count(),
           "command": "python benchmarks/learning_curve.py " + " ".join(
               f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items())}
    out.with_suffix(".json").write_text(json.dumps(doc, indent=2) + "\n")
    plot(rows, out.with_suffix(".png"),
         f"{args.size} px, {args.val_count} held-out rendered hands")
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
