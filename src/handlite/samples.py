"""Evaluation samples for export calibration and parity: crops, labels, network input.

Shapes: N samples, S x S crops, K keypoints. `Samples.images` (N, S, S, 3) uint8 RGB,
`keypoints` (N, K, 2) float32 input px (or None without labels), `visible` (N, K) uint8.

The data engineer's `handlite.data.load_eval_set(spec, size, count)` is the source; while a
build lacks it, a stand-in crops the procedural synthetic hands the same way the paper crops
CMU hands without a head size (2.2 x the tight keypoint box, grey padding).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from handlite.config import DEFAULTS, Normalization
from handlite.errors import DataError, InputError, UsageError

#: Seed of the stand-in evaluation set; kept apart from any training seed.
STANDIN_SEED = 90210
STANDIN_CROP = 2.2


@dataclass(frozen=True)
class Samples:
    images: np.ndarray
    keypoints: np.ndarray | None
    visible: np.ndarray | None
    source: str

    def __len__(self) -> int:
        return len(self.images)

    @property
    def has_labels(self) -> bool:
        return self.keypoints is not None


def normalize(images: np.ndarray, norm: Normalization = DEFAULTS.normalization) -> np.ndarray:
    """(N, S, S, 3) uint8 RGB -> float32 network input (pixel - mean) / std."""
    mean = np.asarray(norm.mean, np.float32)
    std = np.asarray(norm.std, np.float32)
    return (np.asarray(images, np.float32) - mean) / std


def _as_samples(result, spec: str) -> Samples:
    """Accept what load_eval_set returns: an object with attributes, a dict, or a tuple
    (images, keypoints[, visible])."""
    if isinstance(result, Samples):
        return result
    if isinstance(result, dict):
        get = result.get
    elif isinstance(result, (tuple, list)):
        fields = dict(zip(("images", "keypoints", "visible"), result))
        get = fields.get
    else:
        def get(name, default=None):
            return getattr(result, name, default)
    images = get("images")
    if images is None:
        raise DataError(f"evaluation set {spec!r} returned no images")
    kp, vis = get("keypoints"), get("visible")
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise DataError(f"evaluation set {spec!r}: images must be (N, S, S, 3), got "
                        f"{images.shape}")
    if images.dtype != np.uint8:
        images = np.clip(np.rint(images), 0, 255).astype(np.uint8)
    kp = None if kp is None else np.asarray(kp, np.float32)
    if vis is None and kp is not None:
        vis = np.isfinite(kp).all(axis=-1).astype(np.uint8)
    vis = None if vis is None else np.asarray(vis).astype(np.uint8)
    return Samples(images, kp, vis, source=str(spec))


def _standin_synth(size: int, count: int) -> Samples:
    import cv2

    from handlite.data.synthetic import generate

    pad = DEFAULTS.normalization.pad_value
    images, kps, viss = [], [], []
    for image, kp, vis, _left, _occ in generate(count, STANDIN_SEED):
        inside = vis > 0
        pts = kp[inside] if inside.any() else kp
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        centre = (lo + hi) / 2
        side = max(float((hi - lo).max()) * STANDIN_CROP, 16.0)
        scale = size / side
        # affine: crop square centred on the hand -> S x S, pixel-centre convention
        m = np.array([[scale, 0, (size - 1) / 2 - scale * centre[0]],
                      [0, scale, (size - 1) / 2 - scale * centre[1]]], np.float64)
        crop = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=(pad, pad, pad))
        images.append(crop)
        kps.append(kp * scale + m[:, 2])
        viss.append(vis)
    return Samples(np.stack(images), np.stack(kps).astype(np.float32),
                   np.stack(viss).astype(np.uint8), source="synth (stand-in crops)")


def load_samples(spec: str, size: int, count: int) -> Samples:
    """`count` evaluation crops at `size` from `spec` ("synth" or a data directory)."""
    if count <= 0:
        raise UsageError(f"sample count must be positive, got {count}")
    try:
        from handlite.data import load_eval_set
    except ImportError:
        load_eval_set = None
    if load_eval_set is not None:
        samples = _as_samples(load_eval_set(spec, size, count), spec)
    elif spec == "synth":
        samples = _standin_synth(size, count)
    else:
        raise InputError(f"cannot read data set {spec!r}: this build has no "
                         f"handlite.data.load_eval_set; use 'synth'")
    if len(samples) == 0:
        raise DataError(f"evaluation set {spec!r} is empty")
    if samples.images.shape[1:3] != (size, size):
        raise DataError(f"evaluation set {spec!r} gave {samples.images.shape[1:3]} crops, "
                        f"expected {size}x{size}")
    return samples
