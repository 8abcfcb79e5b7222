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


_KERNEL3 = np.ones((3, 3), np.uint8)
#: the quantised fast path ranks peaks by quantisation step, which is the probability's order
#: only while exp(-beta * scale * 255) and the division by the softmax sum stay normal float32
#: numbers (exp(-87) is the smallest): beyond this span, distinct steps could tie at zero.
_MAX_EXP_SPAN = 70.0


def _cv2():
    import cv2  # imported on first decode: codec is imported by tools that never decode

    return cv2


def _top_local_maxima(values: np.ndarray, m: int, floor):
    """The m strongest local maxima of each map: values (L, H, W) -> (L, m) cell indices,
    (L, m) values, (L, m) valid.

    A local maximum is >= its in-map 3x3 neighbours (plateaus count every cell). Strongest
    first, ties by lower cell index (a stable descending sort's order, as in the Java decoder);
    maps with fewer than m maxima are padded with `floor`, which lies below every value.
    """
    cv2 = _cv2()
    n, h, w = values.shape
    # one dilation for all maps: each map gets a `floor` row below it so maps never see each
    # other's cells; the replicated border adds only a cell's own row or column, so out-of-map
    # cells are ignored, like the -inf padding of the definition
    stack = np.full((n, h + 1, w), floor, dtype=values.dtype)
    stack[:, :h] = values
    grown = cv2.dilate(stack.reshape(n * (h + 1), w), _KERNEL3,
                       borderType=cv2.BORDER_REPLICATE).reshape(n, h + 1, w)[:, :h]
    masked = np.where(values >= grown, values, floor).reshape(n, h * w)
    # m rounds of argmax (first index on ties) beat sorting: plateaus of a quantised map make
    # thousands of maxima, and only m of them are wanted
    rows = np.arange(n)
    m = min(m, h * w)
    cells = np.empty((n, m), dtype=np.int64)
    top = np.empty((n, m), dtype=values.dtype)
    for j in range(m):
        cell = masked.argmax(axis=1)
        cells[:, j] = cell
        top[:, j] = masked[rows, cell]
        masked[rows, cell] = floor
    return cells, top, top > floor


def _nearest(cy, cx, valid, iy, ix, low, ln, lk):
    """Which candidate peak each low-confidence keypoint takes (module doc, step 3).

    cy, cx, valid (L, M): candidate cells of the L low keypoints (ln sample, lk keypoint);
    iy, ix, low (N, K): argmax cells and the low mask. Returns (L,) best candidate and (L,)
    usable (False: nothing confident to be near, the argmax stays). Integer squared distances
    rank exactly as Euclidean ones (sqrt is strictly monotonic on these integers), ties to the
    first candidate.
    """
    confident = ~low
    conf_l = confident[ln]  # (L, K)
    neigh = _ADJ[lk] & conf_l
    ref = np.where(neigh.any(axis=1, keepdims=True), neigh, conf_l)
    dy = cy[:, :, None] - iy[ln][:, None, :]  # (L, M, K)
    dx = cx[:, :, None] - ix[ln][:, None, :]
    d2 = dy * dy + dx * dx
    far = np.iinfo(d2.dtype).max
    d2 = np.where(ref[:, None, :] & valid[:, :, None], d2, far).min(axis=-1)  # (L, M)
    best = d2.argmin(axis=-1)
    return best, d2[np.arange(len(best)), best] < far


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
        self._tables: dict = {}  # decode_quantized look-up tables per (dtype, scale, zero point)

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

        Maps with exactly K channels (no background) are accepted too. For the raw output of a
        quantised model use `decode_quantized`: same result, no float copy of the maps.
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
        if single:  # OpenCV transposes the (H*W, C) matrix ~5x faster than numpy's copy
            frame = np.ascontiguousarray(maps[0], dtype=np.float32).reshape(h * w, c)
            flat = _cv2().transpose(frame)[None, :k]
        else:
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
        keypoints = self._to_input(fx, fy)
        if single:
            return keypoints[0], scores[0]
        return keypoints, scores

    def decode_quantized(self, raw: np.ndarray, scale: float,
                         zero_point: int) -> tuple[np.ndarray, np.ndarray]:
        """One frame of quantised maps -> ((K, 2) input px, (K,) scores), without a float copy.

        raw (H, W, C) int8 or uint8, C = K or K+1, holding maps (q - zero_point) * scale (a
        quantised model's output tensor). The result is `decode` of the float32 maps the
        runtime dequantises to: the same cells, fallback choices and refinement (keypoints
        equal to float rounding), scores equal to ~1e-6 relative (summed in another order).

        Why it is fast: dequantisation is monotonic, so argmax, ties and local maxima are
        found on the bytes; the softmax sum only ever sees 256 distinct steps below the
        maximum, so a 256-entry table replaces the H*W*K exponentials; refinement dequantises
        only the K 3x3 windows.
        """
        raw = np.asarray(raw)
        if raw.dtype not in (np.int8, np.uint8):
            raise UsageError(f"decode_quantized expects int8 or uint8 maps, got {raw.dtype}")
        if raw.ndim != 3:
            raise UsageError(f"decode_quantized expects one (H, W, C) frame, got {raw.shape}")
        h, w, c = raw.shape
        k = self.num_keypoints
        if c not in (k, k + 1):
            raise UsageError(f"decode expects {k} or {k + 1} channels, got {c}")
        if h < 1 or w < 1:
            raise UsageError(f"empty heatmap {raw.shape}")
        scale, zero_point = float(scale), int(zero_point)
        if not (np.isfinite(scale) and scale > 0):
            raise UsageError(f"quantisation scale must be positive, got {scale}")
        beta = float(self.settings.softmax_beta)
        if h < 3 or w < 3 or not 0 < beta * scale * 255 <= _MAX_EXP_SPAN:
            # tiny maps, or a span where the step order may not be the probability order
            return self.decode(self._dequantize_table(raw.dtype, scale, zero_point)[
                np.ascontiguousarray(raw).view(np.uint8)])
        cv2 = _cv2()
        values, expo, expo64 = self._quant_tables(raw.dtype, scale, zero_point)
        signed = raw.dtype == np.int8
        data = np.ascontiguousarray(raw).view(np.uint8).reshape(h * w, c)
        step = cv2.transpose(data)[:k]  # (K, H*W) raw bytes, one contiguous row per map
        idx = (step.view(np.int8) if signed else step).argmax(axis=1)  # first index on ties
        rows = np.arange(k)
        # steps below each map's maximum; uint8 arithmetic wraps, so for int8 bytes too the
        # difference is exactly q_max - q in 0..255
        below = np.subtract(step[rows, idx][:, None], step)
        total = cv2.reduce(cv2.LUT(below, expo), 1, cv2.REDUCE_SUM, dtype=cv2.CV_64F)[:, 0]
        scores = (1.0 / total).astype(np.float32)
        iy, ix = np.divmod(idx, w)

        if self.settings.min_confidence > 0:
            low = scores < self.settings.min_confidence
            if low.any():
                lk = np.nonzero(low)[0]
                ln = np.zeros_like(lk)
                # strength = -(steps below the maximum): the probability's order (see
                # _MAX_EXP_SPAN), so ranking on it ranks the probabilities, ties included
                strength = np.negative(below[lk].astype(np.int16)).reshape(len(lk), h, w)
                cells, _, valid = _top_local_maxima(strength, self.settings.fallback_peaks,
                                                    np.int16(-256))
                best, usable = _nearest(*np.divmod(cells, w), valid, iy[None], ix[None],
                                        low[None], ln, lk)
                sel = np.nonzero(usable)[0]
                cell = cells[sel, best[sel]]
                iy, ix, scores = iy.copy(), ix.copy(), scores.copy()
                iy[lk[sel]], ix[lk[sel]] = np.divmod(cell, w)
                scores[lk[sel]] = expo64[below[lk[sel], cell]] / total[lk[sel]]

        method = self.settings.refine
        if method == "none":
            fy, fx = iy.astype(np.float64), ix.astype(np.float64)
        else:
            cy, cx = np.clip(iy, 1, h - 2), np.clip(ix, 1, w - 2)
            cells = (cy[:, None] + _WIN_DY) * w + cx[:, None] + _WIN_DX  # (K, 9)
            win = values[step[rows[:, None], cells]].astype(np.float64)
            fy, fx = self._refine_windows(win, iy, ix, cy, cx, h, w)
        return self._to_input(fx, fy), scores

    def _quant_tables(self, dtype, scale: float, zero_point: int):
        """Per raw byte: the dequantised float32 value; per step d below the maximum: the
        softmax numerator exp(-beta * scale * d) in float32 and float64. Cached per scale."""
        key = (np.dtype(dtype).str, scale, zero_point)
        tables = self._tables.get(key)
        if tables is None:
            values = self._dequantize_table(dtype, scale, zero_point)
            expo64 = np.exp(-float(self.settings.softmax_beta) * scale * np.arange(256.0))
            tables = (values, expo64.astype(np.float32), expo64)
            self._tables[key] = tables
        return tables

    @staticmethod
    def _dequantize_table(dtype, scale: float, zero_point: int) -> np.ndarray:
        """(256,) float32 value of each raw byte, computed as the runtime dequantises (float32
        (q - zero_point) * scale), so the refinement windows are bit for bit the same."""
        q = np.arange(256, dtype=np.uint8).view(dtype).astype(np.float32)
        return (q - np.float32(zero_point)) * np.float32(scale)

    def _to_input(self, fx: np.ndarray, fy: np.ndarray) -> np.ndarray:
        keypoints = np.stack([fx, fy], axis=-1)
        return ((keypoints + 0.5) * self.stride - 0.5).astype(np.float32)

    def _fallback(self, expo, total, iy, ix, scores, low, h, w):
        """Re-pick low-confidence keypoints among their strongest local peaks (see module doc)."""
        ln, lk = np.nonzero(low)  # the L low-confidence (sample, keypoint) pairs
        prob = (expo[ln, lk] / total[ln, lk, None]).reshape(-1, h, w)  # (L, H, W)
        # low rows hold finite probabilities: a NaN total gives a NaN score, never "low"
        cells, top_val, valid = _top_local_maxima(prob, self.settings.fallback_peaks,
                                                  np.float32(-np.inf))
        cy, cx = np.divmod(cells, w)
        best, usable = _nearest(cy, cx, valid, iy, ix, low, ln, lk)
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
        win = np.nan_to_num(win.astype(np.float64), nan=0.0)
        return self._refine_windows(win, iy, ix, cy, cx, h, w)

    def _refine_windows(self, win, iy, ix, cy, cx, h, w):
        """Refinement from float64 windows win (..., 9), row-major 3x3 around (cy, cx), the
        argmax cell (iy, ix) clamped inside the map. Returns float cells (fy, fx)."""
        fy, fx = iy.astype(np.float64), ix.astype(np.float64)
        flat = win.reshape(-1, 9)
        j = np.arange(len(flat))
        # quarter step towards the higher neighbour of the argmax cell (0 at the border);
        # inside the map the argmax sits at the window centre on that axis
        rx, ry = (ix - cx + 1).ravel(), 3 * (iy - cy + 1).ravel()
        up, down = flat[j, rx].reshape(iy.shape), flat[j, rx + 6].reshape(iy.shape)
        left, right = flat[j, ry].reshape(iy.shape), flat[j, ry + 2].reshape(iy.shape)
        quarter_y = 0.25 * np.sign(np.where((iy > 0) & (iy < h - 1), down - up, 0.0))
        quarter_x = 0.25 * np.sign(np.where((ix > 0) & (ix < w - 1), right - left, 0.0))
        if self.settings.refine == "quarter":
            return fy + quarter_y, fx + quarter_x

        # DARK: quadratic fit to log(h) on the window; l[i] is window cell i (row-major)
        positive = (win > _EPS).all(axis=-1)
        l = np.moveaxis(np.log(np.maximum(win, _EPS)), -1, 0)
        dx = 0.5 * (l[5] - l[3])
        dy = 0.5 * (l[7] - l[1])
        dxx = l[5] - 2 * l[4] + l[3]
        dyy = l[7] - 2 * l[4] + l[1]
        dxy = 0.25 * (l[8] - l[6] - l[2] + l[0])
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
