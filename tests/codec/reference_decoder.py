"""The heatmap decoder as it stood at b1cea02 (before the single-frame fast paths), frozen
as the oracle the fast paths are tested against. Do not edit: it is the reference semantics
(the module doc of `handlite.codec` and the Java `HeatmapDecoder` describe the same thing).

`ReferenceDecoder(codec).decode(maps)` decodes with `codec`'s geometry and settings.
"""

from __future__ import annotations

import numpy as np

from handlite.errors import UsageError
from handlite.keypoints import adjacency

_EPS = 1e-10
_ADJ = adjacency()
_WIN_DY = np.repeat(np.arange(-1, 2), 3)
_WIN_DX = np.tile(np.arange(-1, 2), 3)


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


class ReferenceDecoder:
    def __init__(self, codec):
        self.settings = codec.settings
        self.num_keypoints = codec.num_keypoints
        self.stride = codec.stride

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
