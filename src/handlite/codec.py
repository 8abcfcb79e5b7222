"""HeatmapCodec: Gaussian heatmap targets (encode) and keypoint decoding (decode).

Shapes: K keypoints (21), H x W heatmap (input_size / stride), maps (H, W, K+1) with the
background map last; batches (N, H, W, K+1). Keypoints are (x, y) in input pixels.

Coordinate convention (pixel centres, everywhere in handlite, the Java app included): heatmap
cell (u, v) covers input pixels whose centre is at ((u + 0.5) * stride - 0.5, (v + 0.5) *
stride - 0.5). So the heatmap position of an input point x is u = (x + 0.5) / stride - 0.5.

Decoding (paper sec. 3.3, extended):
1. drop the background map; spatial softmax of `beta * h` per keypoint map;
2. argmax; the score is the maximum probability;
3. low-confidence fallback: for a keypoint whose score is below `min_confidence`, take the
   `fallback_peaks` strongest local maxima of its probability map (3x3 neighbourhood) and pick
   the one *nearest* to the confidently found keypoints. "Nearest" is defined as the smallest
   Euclidean distance (heatmap pixels) to any confident keypoint that shares a bone with it
   (its skeleton neighbours); if none of its neighbours is confident, the distance to the
   closest confident keypoint of the whole hand; if no keypoint is confident, the argmax stays.
   The score becomes the probability at the chosen peak.
4. sub-pixel refinement on the raw map around the chosen cell: "dark" fits a quadratic to
   log(h) on the 3x3 window (DARK, Zhang et al. 2020: exact for a Gaussian peak) with the
   window clamped inside the map so border peaks refine too; it falls back to "quarter" (a
   quarter cell towards the higher neighbour) where the fit is not a maximum, needs a
   non-positive value, or moves more than one cell.

This is the one decoder of the project: training metrics, the host runtime, parity and the
Android app (`HeatmapDecoder.java`, pinned by golden vectors) all follow it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from handlite.config import DEFAULTS
from handlite.errors import UsageError
from handlite.keypoints import NUM_KEYPOINTS, adjacency

REFINE_METHODS = ("dark", "quarter", "none")
_EPS = 1e-10
_ADJ = adjacency()
_WIN_DY = np.repeat(np.arange(-1, 2), 3)  # 3x3 window offsets, row-major
_WIN_DX = np.tile(np.arange(-1, 2), 3)


@dataclass(frozen=True)
class DecodeSettings:
    """Everything decode depends on besides the maps; stored in exported model metadata."""

    softmax_beta: float = DEFAULTS.codec.softmax_beta
    min_confidence: float = DEFAULTS.codec.min_confidence
    fallback_peaks: int = DEFAULTS.codec.fallback_peaks
    refine: str = DEFAULTS.codec.refine

    def to_dict(self) -> dict:
        return asdict(self)


def _top_peaks(is_peak: np.ndarray, values: np.ndarray, m: int):
    """The m strongest peaks per row: (L, M) cell indices and values, strongest first, ties by
    lower cell index (the order of a stable descending sort, so every implementation — the
    Java decoder too — agrees on flat maps). Rows with fewer peaks are padded with -inf.

    Only the peak cells are sorted: a map has a few dozen local maxima, not H*W cells, and the
    decoder runs this on every low-confidence map."""
    rows, cells = np.nonzero(is_peak)  # row-major: cells ascend within each row
    vals = values[rows, cells]
    # one float64 key sorts by row, then value descending (probabilities lie in [0, 1], so
    # rows never overlap, and float32 values stay exact); the stable sort keeps ascending cells
    # for ties. Cheaper than a three-key lexsort.
    order = np.argsort(2.0 * rows - vals.astype(np.float64), kind="stable")
    rows, cells, vals = rows[order], cells[order], vals[order]
    rank = np.arange(len(rows)) - np.searchsorted(rows, rows)  # position within its row
    keep = rank < m
    top = np.zeros((len(values), m), dtype=np.int64)
    top_val = np.full((len(values), m), -np.inf, dtype=values.dtype)
    top[rows[keep], rank[keep]] = cells[keep]
    top_val[rows[keep], rank[keep]] = vals[keep]
    return top, top_val


class HeatmapCodec:
    """Encode keypoints to (H, W, K+1) Gaussian targets and decode maps back to keypoints."""

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

    # ------------------------------------------------------------------ coordinates
    def to_heatmap(self, points: np.ndarray) -> np.ndarray:
        """Input pixels -> heatmap cells (pixel-centre convention)."""
        return (np.asarray(points, dtype=np.float64) + 0.5) / self.stride - 0.5

    def to_input(self, cells: np.ndarray) -> np.ndarray:
        """Heatmap cells -> input pixels (pixel-centre convention)."""
        return (np.asarray(cells, dtype=np.float64) + 0.5) * self.stride - 0.5

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
        keypoints = np.asarray(keypoints, dtype=np.float64)
        if keypoints.shape != (self.num_keypoints, 2):
            raise UsageError(f"encode expects ({self.num_keypoints}, 2) keypoints, got "
                             f"{keypoints.shape}")
        vis = np.ones(self.num_keypoints, bool) if visible is None else (
            np.asarray(visible).reshape(-1) > 0)
        if vis.shape != (self.num_keypoints,):
            raise UsageError(f"visible must have {self.num_keypoints} entries, got {vis.shape}")
        vis = vis & np.isfinite(keypoints).all(axis=1)
        cells = self.to_heatmap(np.where(vis[:, None], keypoints, 0.0))
        g = self._grid.astype(np.float64)
        # separable Gaussian: exp(-(dx^2 + dy^2)/2s^2) = exp(-dx^2/2s^2) * exp(-dy^2/2s^2)
        gx = np.exp(-((g[None, :] - cells[:, 0:1]) ** 2) / (2 * self.sigma ** 2))  # (K, W)
        gy = np.exp(-((g[None, :] - cells[:, 1:2]) ** 2) / (2 * self.sigma ** 2))  # (K, H)
        maps = (gy[:, :, None] * gx[:, None, :]) * vis[:, None, None]  # (K, H, W)
        out = np.empty(self.shape, dtype=np.float32)
        out[..., :self.num_keypoints] = maps.transpose(1, 2, 0)
        out[..., self.num_keypoints] = 1.0 - maps.max(axis=0)
        return out

    def encode_batch(self, keypoints: np.ndarray, visible: np.ndarray | None = None) -> np.ndarray:
        """(N, K, 2) [+ (N, K)] -> (N, H, W, K+1)."""
        keypoints = np.asarray(keypoints)
        vis = [None] * len(keypoints) if visible is None else visible
        return np.stack([self.encode(k, v) for k, v in zip(keypoints, vis)])

    # ------------------------------------------------------------------ decode
    def decode(self, heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(H, W, K+1) -> ((K, 2) input px, (K,) scores); (N, H, W, K+1) -> (N, K, 2), (N, K).

        Maps with exactly K channels (no background) are accepted too.
        """
        maps = np.asarray(heatmaps)
        single = maps.ndim == 3
        if single:
            maps = maps[None]
        if maps.ndim != 4:
            raise UsageError(f"decode expects (H, W, C) or (N, H, W, C) maps, got {maps.shape}")
        n, h, w, c = maps.shape
        k = self.num_keypoints
        if c not in (k, k + 1):
            raise UsageError(f"decode expects {k} or {k + 1} channels, got {c}")
        if h < 1 or w < 1:
            raise UsageError(f"empty heatmap {maps.shape}")
        # (N, K, H*W): one contiguous row per keypoint map. The transpose copy pays for itself:
        # reductions over contiguous rows are ~10x faster than over the strided channel axis.
        flat = np.empty((n, k, h * w), dtype=np.float32)
        flat[...] = np.moveaxis(maps[..., :k], -1, 1).reshape(n, k, h * w)
        idx = flat.argmax(axis=-1)  # (N, K), first index on ties
        peak = np.take_along_axis(flat, idx[..., None], axis=-1)  # (N, K, 1)
        if not np.isfinite(peak).all():
            # NaN/Inf only on the slow path: a NaN map decodes to its first finite maximum.
            flat = np.nan_to_num(flat, nan=-np.inf, posinf=np.finfo(np.float32).max)
            idx = flat.argmax(axis=-1)
            peak = np.take_along_axis(flat, idx[..., None], axis=-1)
        beta = np.float32(self.settings.softmax_beta)
        # the softmax numerators are computed in place: refinement reads the original maps
        buf = np.subtract(flat, peak, out=flat)
        buf *= beta
        np.exp(buf, out=buf)  # max element of each map = 1
        total = np.einsum("nkp->nk", buf)  # (N, K)
        scores = (1.0 / total).astype(np.float32)
        iy, ix = np.divmod(idx, w)

        if self.settings.min_confidence > 0:
            low = scores < self.settings.min_confidence
            if low.any():
                iy, ix, scores = self._fallback(buf, total, iy, ix, scores, low, h, w)

        fy, fx = self._refine(maps, iy, ix, h, w)
        keypoints = np.stack([fx, fy], axis=-1)
        keypoints = ((keypoints + 0.5) * self.stride - 0.5).astype(np.float32)
        if single:
            return keypoints[0], scores[0]
        return keypoints, scores

    def _fallback(self, expo, total, iy, ix, scores, low, h, w):
        """Re-pick low-confidence keypoints among their strongest local peaks (see module doc)."""
        confident = ~low
        ln, lk = np.nonzero(low)  # the L low-confidence (sample, keypoint) pairs
        prob = (expo[ln, lk] / total[ln, lk, None]).reshape(-1, h, w)  # (L, H, W)
        padded = np.pad(prob, ((0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
        is_peak = np.ones_like(prob, dtype=bool)
        for dy in (0, 1, 2):
            for dx in (0, 1, 2):
                if dy == 1 and dx == 1:
                    continue
                is_peak &= prob >= padded[:, dy:dy + h, dx:dx + w]
        m = min(self.settings.fallback_peaks, h * w)
        top, top_val = _top_peaks(is_peak.reshape(len(ln), h * w), prob.reshape(len(ln), h * w), m)
        cy, cx = np.divmod(top, w)

        # reference keypoints: confident skeleton neighbours, else all confident ones
        pos = np.stack([iy, ix], axis=-1).astype(np.float32)  # (N, K, 2) integer cells
        conf_l = confident[ln]  # (L, K)
        neigh = _ADJ[lk] & conf_l
        ref = np.where(neigh.any(axis=1, keepdims=True), neigh, conf_l)  # (L, K)
        cand = np.stack([cy, cx], axis=-1).astype(np.float32)  # (L, M, 2)
        dist = np.linalg.norm(cand[:, :, None, :] - pos[ln][:, None, :, :], axis=-1)  # (L,M,K)
        dist = np.where(ref[:, None, :], dist, np.inf).min(axis=-1)  # (L, M)
        dist = np.where(np.isfinite(top_val), dist, np.inf)
        best = dist.argmin(axis=-1)
        usable = np.isfinite(np.take_along_axis(dist, best[:, None], axis=-1)[:, 0])

        iy, ix, scores = iy.copy(), ix.copy(), scores.copy()
        sel = np.nonzero(usable)[0]
        iy[ln[sel], lk[sel]] = cy[sel, best[sel]]
        ix[ln[sel], lk[sel]] = cx[sel, best[sel]]
        scores[ln[sel], lk[sel]] = top_val[sel, best[sel]]
        return iy, ix, scores

    def _refine(self, maps, iy, ix, h, w):
        """Sub-pixel positions (float cells) around integer cells (iy, ix); maps (N, H, W, C)."""
        fy, fx = iy.astype(np.float64), ix.astype(np.float64)
        method = self.settings.refine
        if method == "none":
            return fy, fx
        n_idx, k_idx = np.indices(iy.shape)
        if h < 3 or w < 3:  # no 3x3 window fits: quarter steps only
            def at(y, x):
                return np.nan_to_num(maps[n_idx, y, x, k_idx].astype(np.float64), nan=0.0)
            quarter_y, quarter_x = self._quarter(at, iy, ix, h, w)
            return fy + quarter_y, fx + quarter_x

        # one gather of the 3x3 window around the centre clamped inside the map
        cy, cx = np.clip(iy, 1, h - 2), np.clip(ix, 1, w - 2)
        win = maps[n_idx[..., None], cy[..., None] + _WIN_DY, cx[..., None] + _WIN_DX,
                   k_idx[..., None]]
        win = np.nan_to_num(win.astype(np.float64), nan=0.0).reshape(*iy.shape, 3, 3)

        # quarter step towards the higher neighbour of the argmax cell (0 at the border);
        # inside the map the argmax sits at the window centre on that axis
        ry, rx = (iy - cy + 1)[..., None], (ix - cx + 1)[..., None]
        col = np.take_along_axis(win, rx[..., None], axis=-1)[..., 0]  # (..., 3) along y
        row = np.take_along_axis(win, ry[..., None], axis=-2)[..., 0, :]  # (..., 3) along x
        quarter_y = 0.25 * np.sign(np.where((iy > 0) & (iy < h - 1), col[..., 2] - col[..., 0], 0.0))
        quarter_x = 0.25 * np.sign(np.where((ix > 0) & (ix < w - 1), row[..., 2] - row[..., 0], 0.0))
        if method == "quarter":
            return fy + quarter_y, fx + quarter_x

        # DARK: quadratic fit to log(h) on the window
        positive = (win > _EPS).all(axis=(-1, -2))
        l = np.log(np.maximum(win, _EPS))  # [..., y, x]
        dx = 0.5 * (l[..., 1, 2] - l[..., 1, 0])
        dy = 0.5 * (l[..., 2, 1] - l[..., 0, 1])
        dxx = l[..., 1, 2] - 2 * l[..., 1, 1] + l[..., 1, 0]
        dyy = l[..., 2, 1] - 2 * l[..., 1, 1] + l[..., 0, 1]
        dxy = 0.25 * (l[..., 2, 2] - l[..., 2, 0] - l[..., 0, 2] + l[..., 0, 0])
        det = dxx * dyy - dxy * dxy
        ok = positive & (det > 1e-12) & (dxx < 0)
        safe = np.where(ok, det, 1.0)
        off_x = -(dyy * dx - dxy * dy) / safe
        off_y = -(dxx * dy - dxy * dx) / safe
        ry, rx = cy + off_y, cx + off_x
        ok &= (np.abs(ry - iy) <= 1.0) & (np.abs(rx - ix) <= 1.0)
        return (np.where(ok, ry, fy + quarter_y), np.where(ok, rx, fx + quarter_x))

    @staticmethod
    def _quarter(at, iy, ix, h, w):
        """A quarter cell towards the higher neighbour on each axis (0 at the border)."""
        def step(lo_ok, hi_ok, lo, hi):
            diff = np.where(lo_ok & hi_ok, hi - lo, 0.0)
            return 0.25 * np.sign(diff)

        ym, yp = np.maximum(iy - 1, 0), np.minimum(iy + 1, h - 1)
        xm, xp = np.maximum(ix - 1, 0), np.minimum(ix + 1, w - 1)
        qy = step(iy > 0, iy < h - 1, at(ym, ix), at(yp, ix))
        qx = step(ix > 0, ix < w - 1, at(iy, xm), at(iy, xp))
        return qy, qx
