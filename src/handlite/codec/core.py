"""`HeatmapCodec`: one geometry (input size, stride, sigma) and one `DecodeSettings`, bound to
the encode and the decode paths of the package."""

from __future__ import annotations

import numpy as np

from handlite.codec import decode as _decode
from handlite.codec import quantized as _quantized
from handlite.codec.spec import REFINE_METHODS, DecodeSettings, to_heatmap, to_input
from handlite.codec.targets import gaussian_targets
from handlite.config import DEFAULTS
from handlite.errors import UsageError
from handlite.keypoints import NUM_KEYPOINTS


class HeatmapCodec:
    """Encode keypoints to (H, W, K+1) Gaussian targets and decode maps back to keypoints."""

    #: decode_quantized runs compiled (numba, `handlite.codec.quantized`) when numba imports;
    #: False keeps the numpy path (the tests check both against the frozen reference)
    use_jit = True

    def __init__(self, input_size: int = DEFAULTS.model.input_size,
                 stride: int = DEFAULTS.codec.stride, sigma: float = DEFAULTS.codec.sigma,
                 num_keypoints: int = NUM_KEYPOINTS, settings: DecodeSettings | None = None,
                 **decode_overrides):
        if input_size <= 0 or stride <= 0 or input_size % stride:
            raise UsageError(f"input size {input_size} must be a positive multiple of the "
                             f"stride {stride}")
        if sigma <= 0:
            raise UsageError(f"sigma must be positive, got {sigma}")
        settings = settings or DecodeSettings()
        if decode_overrides:
            settings = DecodeSettings(**{**settings.to_dict(), **decode_overrides})
        if settings.refine not in REFINE_METHODS:
            raise UsageError(f"unknown refinement {settings.refine!r}; choose from "
                             f"{', '.join(REFINE_METHODS)}")
        if settings.min_confidence > 0 and int(settings.fallback_peaks) < 1:
            raise UsageError(f"fallback_peaks must be at least 1, got {settings.fallback_peaks}")
        if num_keypoints != NUM_KEYPOINTS and settings.min_confidence > 0:
            # the fallback's notion of "nearest" uses the 21-keypoint skeleton
            raise UsageError("the low-confidence fallback needs the 21-keypoint schema")
        self.input_size = int(input_size)
        self.stride = int(stride)
        self.sigma = float(sigma)
        self.num_keypoints = int(num_keypoints)
        self.settings = settings
        self.heatmap_size = self.input_size // self.stride
        grid = np.arange(self.heatmap_size, dtype=np.float32)
        self._grid = grid
        self._tables: dict = {}  # decode_quantized tables per quantisation and map size

    # ------------------------------------------------------------------ coordinates
    def to_heatmap(self, points: np.ndarray) -> np.ndarray:
        """Input pixels -> heatmap cells (pixel-centre convention)."""
        return to_heatmap(points, self.stride)

    def to_input(self, cells: np.ndarray) -> np.ndarray:
        """Heatmap cells -> input pixels (pixel-centre convention)."""
        return to_input(cells, self.stride)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.heatmap_size, self.heatmap_size, self.num_keypoints + 1)

    # ------------------------------------------------------------------ encode
    def encode(self, keypoints: np.ndarray, visible: np.ndarray | None = None) -> np.ndarray:
        """Targets for one hand: (K, 2) input pixels [+ (K,) visibility] -> (H, W, K+1).

        Channel k < K is exp(-|p - k|^2 / (2 sigma^2)) on the heatmap grid (paper eq. 1);
        channel K is the background 1 - max_k H_k (eq. 2). An invisible keypoint (visible 0,
        or non-finite coordinates) contributes an all-zero map and nothing to the background,
        so the network is taught "not here" rather than a guessed place.
        """
        return gaussian_targets(keypoints, visible, num_keypoints=self.num_keypoints,
                                stride=self.stride, sigma=self.sigma, grid=self._grid)

    def encode_batch(self, keypoints: np.ndarray, visible: np.ndarray | None = None) -> np.ndarray:
        """(N, K, 2) [+ (N, K)] -> (N, H, W, K+1)."""
        keypoints = np.asarray(keypoints)
        vis = [None] * len(keypoints) if visible is None else visible
        return np.stack([self.encode(k, v) for k, v in zip(keypoints, vis)])

    # ------------------------------------------------------------------ decode
    def decode(self, heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(H, W, K+1) -> ((K, 2) input px, (K,) scores); (N, H, W, K+1) -> (N, K, 2), (N, K).

        Maps with exactly K channels (no background) are accepted too. For the raw output of a
        quantised model use `decode_quantized`: same result, no float copy of the maps.
        """
        return _decode.decode(heatmaps, self.num_keypoints, self.stride, self.settings)

    def decode_quantized(self, raw: np.ndarray, scale: float,
                         zero_point: int) -> tuple[np.ndarray, np.ndarray]:
        """One frame of quantised maps -> ((K, 2) input px, (K,) scores), without a float copy.

        raw (H, W, C) int8 or uint8, C = K or K+1, holding maps (q - zero_point) * scale (a
        quantised model's output tensor). The result is `decode` of the float32 maps the
        runtime dequantises to: the same cells, fallback choices and refinement (keypoints
        equal to float rounding), scores equal to ~1e-6 relative (summed in another order).
        How: `handlite.codec.quantized`.
        """
        return _quantized.decode_quantized(
            raw, scale, zero_point, num_keypoints=self.num_keypoints, stride=self.stride,
            settings=self.settings, cache=self._tables, use_jit=self.use_jit)

    def quantized_decoder(self, dtype, shape, scale: float, zero_point: int):
        """A decoder for one model's output tensor: `fn(raw) -> decode_quantized(raw, scale,
        zero_point)` for raw frames of `dtype` (int8/uint8) and `shape` (H, W, C), with the
        checks, tables and output buffers set up once here instead of per frame (the runtime
        decodes every frame of a model from the same tensor). The returned arrays are reused
        by the next call: copy them to keep them."""
        return _quantized.quantized_decoder(
            dtype, shape, scale, zero_point, num_keypoints=self.num_keypoints,
            stride=self.stride, settings=self.settings, cache=self._tables,
            use_jit=self.use_jit)
