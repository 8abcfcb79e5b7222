"""Crops as in the paper (sec. 5), the paper's augmentation, and left-hand mirroring — all one
affine warp from the source image to the S x S network input.

Conventions: pixel centres (see `handlite.keypoints`): a crop square with centre c and side L
covers [c - L/2, c + L/2] and maps to [-0.5, S - 0.5], so c lands on (S - 1) / 2. Points outside
the source image are filled with the pad value of `config.Normalization` (grey 128).

Crop sides: CMU 1.2 x head size; without a head size 2.2 x the larger side of the tight
keypoint box; RHD 2 x the tightest square around the keypoints (its side = the larger side of
the tight box).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from handlite.config import DEFAULTS
from handlite.data.sources import HandRecord, tight_box
from handlite.errors import DataError

CMU_HEAD_FACTOR = 1.2
BOX_FACTOR = 2.2
RHD_SQUARE_FACTOR = 2.0


@dataclass(frozen=True)
class Augment:
    """The paper's augmentation ranges. Translation is in output pixels at 224 and scales with
    the input size, so a hand moves by the same share of the crop at 112."""

    rotation_deg: float = 30.0
    translation_px: float = 30.0
    scale: tuple[float, float] = (0.8, 1.5)  # > 1 zooms in: the hand appears larger
    reference_size: int = 224

    def sample(self, rng: np.random.Generator, size: int) -> tuple[float, np.ndarray, float]:
        """(rotation radians, translation (2,) output px, scale) for one sample."""
        angle = math.radians(rng.uniform(-self.rotation_deg, self.rotation_deg))
        shift = rng.uniform(-self.translation_px, self.translation_px, 2) * (
            size / self.reference_size)
        scale = rng.uniform(*self.scale)
        return angle, shift, scale


PAPER_AUGMENT = Augment()


def crop_box(record: HandRecord) -> tuple[np.ndarray, float]:
    """(centre (2,), side L) in source pixels for a record, following the paper's rules."""
    lo, hi = tight_box(record.keypoints, record.label_mask)
    extent = float(max(hi[0] - lo[0], hi[1] - lo[1]))
    if record.head_size is not None:
        side = CMU_HEAD_FACTOR * record.head_size
        center = np.asarray(record.center, np.float64)
    elif record.kind == "rhd":
        side = RHD_SQUARE_FACTOR * extent
        center = (lo + hi) / 2.0
    else:
        side = BOX_FACTOR * extent
        center = (lo + hi) / 2.0
    if not math.isfinite(side) or side < 4:
        raise DataError(f"{record.image_path}: hand too small to crop (crop side {side:.1f} px)")
    return np.asarray(center, np.float64), side


def crop_matrix(center: np.ndarray, side: float, size: int, *, angle: float = 0.0,
                shift: np.ndarray | None = None, scale: float = 1.0,
                mirror: bool = False) -> np.ndarray:
    """2x3 affine: source px -> output px. Rotation, scale and shift act about the output
    centre after the crop; `mirror` flips the result horizontally (left hands)."""
    z = size / side
    o = (size - 1) / 2.0
    crop = np.array([[z, 0, o - z * center[0]], [0, z, o - z * center[1]], [0, 0, 1.0]])
    c, s = math.cos(angle) * scale, math.sin(angle) * scale
    t = np.zeros(2) if shift is None else np.asarray(shift, float)
    aug = np.array([[c, -s, o - c * o + s * o + t[0]], [s, c, o - s * o - c * o + t[1]],
                    [0, 0, 1.0]])
    m = aug @ crop
    if mirror:
        m = np.array([[-1.0, 0, size - 1], [0, 1, 0], [0, 0, 1]]) @ m
    return m[:2]


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(..., 2) points through a 2x3 affine."""
    pts = np.asarray(points, np.float64)
    return pts @ matrix[:, :2].T + matrix[:, 2]


def warp(image: np.ndarray, matrix: np.ndarray, size: int,
         pad_value: int = DEFAULTS.normalization.pad_value) -> np.ndarray:
    """Warp `image` (H, W, 3) uint8 into (size, size, 3) through a 2x3 source->output affine.

    Large downscales are anti-aliased: the source region is first shrunk with area averaging
    to ~1.5x the output resolution, then warped bilinearly (a plain bilinear warp would alias
    a 1000 px CMU hand into 112 px).
    """
    m = np.asarray(matrix, np.float64)
    zoom = math.sqrt(abs(np.linalg.det(m[:, :2])))
    if zoom < 0.66:
        inv = cv2.invertAffineTransform(m)
        corners = apply_affine(inv, np.array([[-1, -1], [size, -1], [-1, size], [size, size]],
                                             np.float64))
        x0, y0 = np.floor(corners.min(axis=0)).astype(int) - 2
        x1, y1 = np.ceil(corners.max(axis=0)).astype(int) + 2
        region = _padded_region(image, x0, y0, x1, y1, pad_value)
        f = min(1.0, zoom * 1.5)
        small = cv2.resize(region, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        fx = small.shape[1] / region.shape[1]
        fy = small.shape[0] / region.shape[0]
        # region px -> small px (pixel centres): s = (r + 0.5) * f - 0.5
        to_small = np.array([[fx, 0, 0.5 * fx - 0.5 - fx * x0],
                             [0, fy, 0.5 * fy - 0.5 - fy * y0], [0, 0, 1.0]])
        m = m @ np.linalg.inv(to_small)
        image = small
    return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(pad_value,) * 3)


def _padded_region(image, x0, y0, x1, y1, pad_value):
    """image[y0:y1, x0:x1] with pad_value where the box leaves the image."""
    h, w = image.shape[:2]
    out = np.full((y1 - y0, x1 - x0, image.shape[2]), pad_value, image.dtype)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = image[sy0:sy1, sx0:sx1]
    return out


def read_image(path) -> np.ndarray:
    """(H, W, 3) uint8 RGB; DataError when the file cannot be decoded."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DataError(f"{path}: cannot read the image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@dataclass(frozen=True)
class HandSample:
    """One training/evaluation sample: the network-input crop of a hand and its labels."""

    image: np.ndarray      # (S, S, 3) uint8 RGB, left hands mirrored
    keypoints: np.ndarray  # (21, 2) float32 output px
    visible: np.ndarray    # (21,) uint8: visible in the source (for metrics)
    label_mask: np.ndarray  # (21,) uint8: usable as targets
    head_size: float | None  # in output px
    matrix: np.ndarray     # (2, 3) source -> output


def make_crop(record: HandRecord, size: int, rng: np.random.Generator | None = None,
              augment: Augment | None = None, image: np.ndarray | None = None) -> HandSample:
    """The network input for one record: paper crop (+ augmentation when rng and augment are
    given), mirrored when it is a left hand."""
    center, side = crop_box(record)
    angle, shift, scale = 0.0, None, 1.0
    if rng is not None and augment is not None:
        angle, shift, scale = augment.sample(rng, size)
    m = crop_matrix(center, side, size, angle=angle, shift=shift, scale=scale,
                    mirror=record.is_left)
    src = read_image(record.image_path) if image is None else image
    out = warp(src, m, size)
    kp = apply_affine(m, record.keypoints).astype(np.float32)
    zoom = math.sqrt(abs(np.linalg.det(m[:, :2])))
    head = None if record.head_size is None else record.head_size * zoom
    return HandSample(out, kp, record.visible, record.label_mask, head, m.astype(np.float32))
