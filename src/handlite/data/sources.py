"""Read hand data sets into one list of `HandRecord`s: CMU hand_labels folders (and handlite's
synthetic hands, written in the same layout) and RHD folders.

A record is one hand in one image: keypoints (21, 2) float32 in image pixels (OpenPose order),
visible (21,) uint8, is_left, the hand centre, an optional head size (px), and `label_mask`
(21,) uint8: which keypoints may be used as training targets (synthetic hands and RHD know
every joint exactly, hidden ones included; CMU only its visible ones).

Data specs name a source: `synth:DIR`, `render:DIR` (rendered hands, `handlite data render`, the
same layout), `cmu:DIR`, `rhd:DIR` (a bare DIR is read as CMU layout),
`coco:ANNOTATIONS.json[:IMAGE_DIR]` (`data/coco.py`).
"""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path

import numpy as np

from handlite.data.coco import read_coco_spec
# the record type lives in data/records.py (coco.py builds records too); importable from here
from handlite.data.records import HandRecord, tight_box, tight_box_center  # noqa: F401
from handlite.errors import DataError, UsageError, choice_error
from handlite.keypoints import NUM_KEYPOINTS, rhd_hand

KINDS = ("synth", "render", "cmu", "rhd", "coco")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def parse_spec(spec: str) -> tuple[str, str]:
    """'cmu:/x' -> ('cmu', '/x'); a bare path -> ('cmu', path); 'synth' -> ('synth', '')."""
    if not spec:
        raise UsageError("empty data spec; use synth:DIR, cmu:DIR or rhd:DIR")
    kind, sep, rest = spec.partition(":")
    if not sep:
        return ("synth", "") if spec == "synth" else ("cmu", spec)
    if kind not in KINDS:
        if len(kind) == 1:  # a Windows drive letter, not a kind
            return "cmu", spec
        raise choice_error("data kind", kind, KINDS)
    return kind, rest


def read_records(spec: str, limit: int | None = None) -> list[HandRecord]:
    """All hands of a data spec (sorted, deterministic order), at most `limit`."""
    kind, path = parse_spec(spec)
    if kind == "coco":  # a file (+ image folder), not a folder: see data/coco.py
        records = read_coco_spec(path, limit)
        if not records:
            raise DataError(f"no hand annotations in {spec.partition(':')[2]}")
        return records
    if not path:
        raise UsageError(f"data spec {spec!r} needs a folder: {kind}:DIR")
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"data folder not found: {root}")
    if kind == "rhd":
        records = read_rhd(root, limit)
    else:
        records = read_cmu(root, limit, kind=kind)
    if not records:
        raise DataError(f"no annotated hands found in {root} (expected "
                        f"{'anno_*.pickle + color/' if kind == 'rhd' else 'X.jpg + X.json'})")
    return records


# ---------------------------------------------------------------- CMU hand_labels layout
def read_cmu(root: Path, limit: int | None = None, kind: str = "cmu") -> list[HandRecord]:
    """Every `X.json` with a sibling image under `root` (recursively: `manual_train/` etc.)."""
    records = []
    for anno in sorted(root.rglob("*.json")):
        image = next((anno.with_suffix(s) for s in IMAGE_SUFFIXES
                      if anno.with_suffix(s).is_file()), None)
        if image is None:
            continue  # e.g. a summary JSON next to the data
        record = parse_cmu_annotation(anno, image, kind)
        if record is not None:
            records.append(record)
        if limit is not None and len(records) >= limit:
            break
    return records


def parse_cmu_annotation(anno: Path, image: Path, kind: str = "cmu") -> HandRecord | None:
    """One CMU hand_labels JSON -> HandRecord; DataError naming the file when malformed.
    None for a drawn or rendered sample whose hand is hidden entirely."""
    try:
        doc = json.loads(anno.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{anno}: not readable JSON ({exc})") from None
    if not isinstance(doc, dict) or "hand_pts" not in doc:
        raise DataError(f"{anno}: no 'hand_pts' entry")
    try:
        pts = np.asarray(doc["hand_pts"], dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{anno}: 'hand_pts' is not a list of numbers") from None
    if pts.shape != (NUM_KEYPOINTS, 3):
        raise DataError(f"{anno}: 'hand_pts' must be 21 x [x, y, visible], got shape "
                        f"{pts.shape}")
    if not np.isfinite(pts).all():
        raise DataError(f"{anno}: 'hand_pts' has non-finite values")
    keypoints = pts[:, :2].astype(np.float32)
    visible = (pts[:, 2] > 0).astype(np.uint8)
    is_left = doc.get("is_left", 0)
    if is_left not in (0, 1, True, False):
        raise DataError(f"{anno}: 'is_left' must be 0 or 1, got {is_left!r}")
    head = doc.get("head_size")
    if head is not None:
        if not isinstance(head, (int, float)) or not math.isfinite(head) or head <= 0:
            raise DataError(f"{anno}: 'head_size' must be a positive number, got {head!r}")
        head = float(head)
    center = doc.get("hand_box_center")
    if center is not None:
        try:
            center = np.asarray(center, dtype=np.float32).reshape(2)
        except (TypeError, ValueError):
            raise DataError(f"{anno}: 'hand_box_center' must be [x, y]") from None
    else:
        center = tight_box_center(keypoints, visible)
    generator = doc["generator"].get("name") if isinstance(doc.get("generator"), dict) else None
    # drawn and rendered hands know every joint exactly, hidden ones included
    synthetic = kind in ("synth", "render") or generator in ("handlite.synthetic",
                                                             "handlite.render")
    if not visible.any():
        if synthetic:
            return None  # hidden whole by an occluder or the frame: no sample (as in RHD)
        raise DataError(f"{anno}: no visible keypoint")
    label_mask = np.ones(NUM_KEYPOINTS, np.uint8) if synthetic else visible.copy()
    if synthetic and kind not in ("synth", "render"):
        kind = "render" if generator == "handlite.render" else "synth"
    return HandRecord(image, keypoints, visible, bool(is_left), center, head, label_mask, kind)


# ---------------------------------------------------------------- RHD
def read_rhd(root: Path, limit: int | None = None) -> list[HandRecord]:
    """RHD: `anno_*.pickle` ({id: {'uv_vis': (42, 3), ...}}) + `color/%05d.png`, either in
    `root` itself (e.g. `RHD_published_v2/evaluation`) or in its `training/` and `evaluation/`.

    Each image has a left (0-20) and a right (21-41) hand; like hand3d's evaluation, the one
    with more visible keypoints is the sample.
    """
    splits = [root] if list(root.glob("anno_*.pickle")) else [
        root / s for s in ("training", "evaluation") if (root / s).is_dir()]
    records: list[HandRecord] = []
    for split in splits:
        for anno_file in sorted(split.glob("anno_*.pickle")):
            records.extend(_read_rhd_pickle(anno_file, split / "color", limit, len(records)))
            if limit is not None and len(records) >= limit:
                return records[:limit]
    return records


def _read_rhd_pickle(anno_file: Path, color: Path, limit, have) -> list[HandRecord]:
    try:
        with open(anno_file, "rb") as fh:
            doc = pickle.load(fh)
    except Exception as exc:  # pickle raises many types for a broken file
        raise DataError(f"{anno_file}: not a readable RHD annotation pickle ({exc})") from None
    if not isinstance(doc, dict):
        raise DataError(f"{anno_file}: expected a dict of sample id -> annotation")
    out = []
    for sample_id in sorted(doc):
        entry = doc[sample_id]
        if not isinstance(entry, dict) or "uv_vis" not in entry:
            raise DataError(f"{anno_file}: sample {sample_id!r} has no 'uv_vis'")
        try:
            uv = np.asarray(entry["uv_vis"], dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError(f"{anno_file}: sample {sample_id!r}: 'uv_vis' is not numeric"
                            ) from None
        if uv.shape != (2 * NUM_KEYPOINTS, 3) or not np.isfinite(uv).all():
            raise DataError(f"{anno_file}: sample {sample_id!r}: 'uv_vis' must be a finite "
                            f"(42, 3) array, got shape {uv.shape}")
        image = color / f"{int(sample_id):05d}.png"
        if not image.is_file():
            raise DataError(f"{anno_file}: sample {sample_id!r}: image {image} not found")
        n_left = int((uv[:NUM_KEYPOINTS, 2] > 0).sum())
        n_right = int((uv[NUM_KEYPOINTS:, 2] > 0).sum())
        side = "left" if n_left > n_right else "right"
        hand = rhd_hand(uv, side)
        keypoints = hand[:, :2].astype(np.float32)
        visible = (hand[:, 2] > 0).astype(np.uint8)
        if not visible.any():
            continue
        # RHD is rendered: every joint's projection is exact, hidden ones included
        out.append(HandRecord(image, keypoints, visible, side == "left",
                              tight_box_center(keypoints), None,
                              np.ones(NUM_KEYPOINTS, np.uint8), "rhd"))
        if limit is not None and have + len(out) >= limit:
            break
    return out
