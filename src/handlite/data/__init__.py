"""Hand data: synthetic hands, CMU hand_labels and RHD loaders, paper crops, augmentation,
tf.data batches.

Data specs (used by `handlite train`, `handlite evaluate`, `handlite data show`):
    synth:DIR   handlite's synthetic hands (`handlite data synth`, CMU hand_labels layout)
    cmu:DIR     CMU hand_labels (`X.jpg` + `X.json`, searched recursively); a bare DIR too
    rhd:DIR     RHD (`anno_*.pickle` + `color/`; DIR may be the split or its parent)
    synth       a fresh synthetic validation set drawn in memory (seed `SYNTH_EVAL_SEED`)

For other parts of handlite (export, parity, demo) the one entry point is `load_eval_set`:

    >>> from handlite.data import load_eval_set
    >>> images, keypoints, visible, head_size = load_eval_set("synth", size=224, count=64)

    images     (N, S, S, 3) uint8 RGB crops, ready for `data.pipeline.normalize`
    keypoints  (N, 21, 2) float32 ground truth in crop pixels (pixel centres)
    visible    (N, 21) uint8: 1 where the ground truth counts for metrics
    head_size  (N,) float32 head size in crop pixels, or None when the set has none

Crops follow the paper (sec. 5; `data.crops`), without augmentation; left hands are mirrored
into right hands (as the network sees them), and their keypoints with them.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from handlite.data.sources import HandRecord, parse_spec, read_records, tight_box_center
from handlite.errors import UsageError

#: Seed of the in-memory `synth` evaluation set; training sets use other seeds.
SYNTH_EVAL_SEED = 9_000_001
#: Default size of the in-memory `synth` evaluation set.
SYNTH_EVAL_COUNT = 256


class EvalSet(NamedTuple):
    images: np.ndarray
    keypoints: np.ndarray
    visible: np.ndarray
    head_size: np.ndarray | None


def load_eval_set(spec: str, size: int, count: int | None = None) -> EvalSet:
    """Evaluation crops of a data spec at input `size` (see the module docstring).

    `count` caps the number of hands (the first ones, in a fixed order); for `synth` it is the
    number drawn (default `SYNTH_EVAL_COUNT`).
    """
    # on use: this package runs before each of its modules, and crops/synthetic load OpenCV
    from handlite.data.crops import make_crop

    if size <= 0:
        raise UsageError(f"crop size must be positive, got {size}")
    if count is not None and count <= 0:
        raise UsageError(f"count must be positive, got {count}")
    kind, path = parse_spec(spec)
    if kind == "synth" and not path:
        return _synth_in_memory(size, count or SYNTH_EVAL_COUNT)
    crops = [make_crop(r, size) for r in read_records(spec, limit=count)]
    heads = [c.head_size for c in crops]
    head = None if any(h is None for h in heads) else np.asarray(heads, np.float32)
    return EvalSet(np.stack([c.image for c in crops]),
                   np.stack([c.keypoints for c in crops]).astype(np.float32),
                   np.stack([c.visible for c in crops]).astype(np.uint8), head)


def _synth_in_memory(size: int, count: int) -> EvalSet:
    # on use: this package runs before each of its modules, and crops/synthetic load OpenCV
    from handlite.data.crops import make_crop
    from handlite.data.synthetic import generate

    crops = []
    for i, (image, kp, vis, is_left, _) in enumerate(generate(count, SYNTH_EVAL_SEED)):
        record = HandRecord(image_path=f"synth:{SYNTH_EVAL_SEED}:{i}", keypoints=kp,
                            visible=vis, is_left=is_left, center=tight_box_center(kp),
                            head_size=None, label_mask=np.ones_like(vis), kind="synth")
        crops.append(make_crop(record, size, image=image))
    return EvalSet(np.stack([c.image for c in crops]),
                   np.stack([c.keypoints for c in crops]).astype(np.float32),
                   np.stack([c.visible for c in crops]).astype(np.uint8), None)


__all__ = ["EvalSet", "SYNTH_EVAL_COUNT", "SYNTH_EVAL_SEED", "load_eval_set"]
