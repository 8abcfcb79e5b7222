"""COCO-style hand keypoint files -> `HandRecord`s (spec `coco:ANNOTATIONS.json[:IMAGE_DIR]`).

This is the form in which OneHand10K, FreiHAND, CMU Panoptic hand and COCO-WholeBody hands are
commonly distributed (mmpose's converted annotations):

    images       [{id, file_name, width, height}]
    annotations  [{id, image_id, bbox [x, y, w, h], keypoints [x1, y1, v1, ... x21, y21, v21],
                   optional hand_type "left" | "right", head_size (px), center [x, y]}]

Keypoints are in OpenPose order (= FreiHAND = MediaPipe, `handlite.keypoints`); v = 0 means
"not labelled" (its x, y are meaningless, often 0), v = 1 or 2 labelled. A labelled keypoint
counts for metrics and as a training target, an unlabelled one for neither.

COCO-WholeBody annotations (whole people) carry their hands as `lefthand_kpts` /
`righthand_kpts` (21 x 3 each) with `lefthand_valid` / `righthand_valid`: each valid hand is
one record, its side known.

Crops (`data.crops.crop_box`, paper sec. 5): 1.2 x head size around `center` (else the tight
keypoint box centre) when an annotation has `head_size`, else 2.2 x the larger side of the tight
box of the labelled keypoints. `bbox` is not used: the paper's rule works from keypoints.
A hand with a side (`hand_type`, WholeBody) that is left is mirrored by the crop like every
other left hand; without a side a hand is taken as right, as it is.

Images are looked up as IMAGE_DIR/file_name; without IMAGE_DIR in the JSON's folder, then in
`images/` beside it. Anything malformed (missing image, keypoints not 63 numbers, non-finite
values, an unknown image_id, no labelled keypoint) is one DataError naming the file and the
annotation id.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from handlite.data.records import HandRecord, tight_box_center
from handlite.errors import DataError, UsageError
from handlite.keypoints import NUM_KEYPOINTS

HAND_SIDES = ("left", "right")
WHOLEBODY_HANDS = (("lefthand", True), ("righthand", False))


def split_coco_spec(rest: str) -> tuple[Path, Path | None]:
    """'a/b.json' -> (a/b.json, None); 'a/b.json:imgs' -> (a/b.json, imgs).

    The image folder is what follows the first ':' after a '.json' ending; a path that is
    itself an existing file is taken whole (a colon in a file name stays possible)."""
    if not rest:
        raise UsageError("coco spec needs an annotation file: coco:ANNOTATIONS.json[:IMAGE_DIR]")
    if Path(rest).is_file():
        return Path(rest), None
    cut = rest.lower().find(".json:")
    if cut < 0:
        return Path(rest), None
    json_path, image_dir = rest[:cut + 5], rest[cut + 6:]
    return Path(json_path), (Path(image_dir) if image_dir else None)


def read_coco_spec(rest: str, limit: int | None = None) -> list[HandRecord]:
    """The records of the part of a `coco:` spec after the kind."""
    json_path, image_dir = split_coco_spec(rest)
    return read_coco(json_path, image_dir, limit)


def read_coco(json_path: str | Path, image_dir: str | Path | None = None,
              limit: int | None = None) -> list[HandRecord]:
    """Every hand annotation of a COCO keypoint file, in file order, at most `limit`."""
    json_path = Path(json_path)
    if not json_path.is_file():
        raise DataError(f"COCO annotation file not found: {json_path}")
    if image_dir is not None and not Path(image_dir).is_dir():
        raise DataError(f"{json_path}: image folder not found: {image_dir}")
    try:
        doc = json.loads(json_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{json_path}: not readable JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("annotations"), list) \
            or not isinstance(doc.get("images"), list):
        raise DataError(f"{json_path}: not a COCO keypoint file (needs 'images' and "
                        f"'annotations' lists)")
    images = _image_table(json_path, doc["images"])
    roots = ([Path(image_dir)] if image_dir is not None
             else [json_path.parent, json_path.parent / "images"])
    records: list[HandRecord] = []
    for n, ann in enumerate(doc["annotations"]):
        if not isinstance(ann, dict):
            raise DataError(f"{json_path}: annotation #{n} is not an object")
        ann_id = ann.get("id", f"#{n}")
        where = f"{json_path}: annotation {ann_id}"
        image_id = ann.get("image_id")
        if image_id not in images:
            raise DataError(f"{where}: unknown image_id {image_id!r}")
        for keypoints, side in _hands(ann, where):
            image = _find_image(images[image_id], roots, where)
            records.append(_record(keypoints, side, ann, image, where))
            if limit is not None and len(records) >= limit:
                return records
    return records


def _image_table(json_path: Path, entries: list) -> dict:
    table = {}
    for n, entry in enumerate(entries):
        if not isinstance(entry, dict) or "id" not in entry or \
                not isinstance(entry.get("file_name"), str):
            raise DataError(f"{json_path}: image #{n} needs an 'id' and a 'file_name'")
        table[entry["id"]] = entry["file_name"]
    return table


def _hands(ann: dict, where: str) -> list[tuple[object, str | None]]:
    """(raw keypoints, side or None) of each hand an annotation holds."""
    if any(f"{name}_kpts" in ann for name, _ in WHOLEBODY_HANDS):
        hands = []
        for name, left in WHOLEBODY_HANDS:
            if ann.get(f"{name}_valid") and f"{name}_kpts" in ann:
                hands.append((ann[f"{name}_kpts"], "left" if left else "right"))
        return hands
    if "keypoints" not in ann:
        raise DataError(f"{where}: no 'keypoints'")
    side = ann.get("hand_type")
    if side is not None:
        side = str(side).lower()
        if side not in HAND_SIDES:
            raise DataError(f"{where}: 'hand_type' must be 'left' or 'right', got "
                            f"{ann.get('hand_type')!r}")
    return [(ann["keypoints"], side)]


def _find_image(file_name: str, roots: list[Path], where: str) -> Path:
    for root in roots:
        path = root / file_name
        if path.is_file():
            return path
    tried = ", ".join(str(r / file_name) for r in roots)
    raise DataError(f"{where}: image {file_name!r} not found (looked for {tried})")


def _record(raw, side: str | None, ann: dict, image: Path, where: str) -> HandRecord:
    try:
        values = np.asarray(raw, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise DataError(f"{where}: keypoints are not a list of numbers") from None
    if values.size != 3 * NUM_KEYPOINTS:
        raise DataError(f"{where}: keypoints must be 63 values (21 x [x, y, v]), got "
                        f"{values.size}")
    if not np.isfinite(values).all():
        raise DataError(f"{where}: keypoints have non-finite values")
    pts = values.reshape(NUM_KEYPOINTS, 3)
    visible = (pts[:, 2] > 0).astype(np.uint8)
    if not visible.any():
        raise DataError(f"{where}: no labelled keypoint (every v is 0)")
    keypoints = pts[:, :2].astype(np.float32)
    head = ann.get("head_size")
    if head is not None:
        if isinstance(head, bool) or not isinstance(head, (int, float)) \
                or not math.isfinite(head) or head <= 0:
            raise DataError(f"{where}: 'head_size' must be a positive number, got {head!r}")
        head = float(head)
    center = ann.get("center")
    if center is not None:
        try:
            center = np.asarray(center, dtype=np.float64).reshape(2)
        except (TypeError, ValueError):
            raise DataError(f"{where}: 'center' must be [x, y]") from None
        if not np.isfinite(center).all():
            raise DataError(f"{where}: 'center' has non-finite values")
        center = center.astype(np.float32)
    else:
        center = tight_box_center(keypoints, visible)
    return HandRecord(image, keypoints, visible, side == "left", center, head,
                      visible.copy(), "coco")
