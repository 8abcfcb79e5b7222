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
Android app (`HeatmapDecoder.java`: `decode` and, for quantised outputs, `decodeQuantized`,
both pinned by golden vectors from tests/app/make_golden.py) all follow it.

Two entry points, one semantics: `decode` takes float maps (one frame or a batch) and returns
bit for bit what the plain definition above gives; `decode_quantized` takes one frame of a
quantised model's raw int8/uint8 output and finds the same cells from the bytes (the
per-frame cost that matters for the host pipeline), compiled with numba when it imports
(`handlite._decode_jit`, ~50 us a frame at 224) and in numpy otherwise;
`quantized_decoder` binds it to one output tensor. tests/codec pins every path to a frozen
copy of the straightforward implementation.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from handlite import _decode_jit as _jit
from handlite.config import DEFAULTS
from handlite.errors import UsageError
from handlite.keypoints import NUM_KEYPOINTS, adjacency

REFINE_METHODS = ("dark", "quarter", "none")
_EPS = 1e-10
_ADJ = adjacency()
_ADJ_C = np.ascontiguousarray(_ADJ, dtype=np.bool_)  # the compiled decode's copy
_WIN_DY = np.repeat(np.arange(-1, 2), 3)  # 3x3 window offsets, row-major
_WIN_DX = np.tile(np.arange(-1, 2), 3)
# quarter steps: [x, y] neighbours of the argmax cell at window row ry / column rx are cells
# 3 ry + (0, 2) and rx + (0, 6)
_LO_MUL, _HI_ADD = np.array([[3], [1]]), np.array([[2], [6]])


@dataclass(frozen=True)
class DecodeSettings:
    """Everything decode depends on besides the maps; stored in exported model metadata."""

    softmax_beta: float = DEFAULTS.codec.softmax_beta
    min_confidence: float = DEFAULTS.codec.min_confidence
    fallback_peaks: int = DEFAULTS.codec.fallback_peaks
    refine: str = DEFAULTS.codec.refine

    def to_dict(self) -> dict:
        return asdict(self)


_FAR = 1 << 40  # "no candidate": beyond any squared distance on a map
#: the quantised fast path ranks peaks by quantisation step, which is the probability's order
#: only while exp(-beta * scale * 255) and the division by the softmax sum stay normal float32
#: numbers (exp(-87) is the smallest): beyond this span, distinct steps could tie at zero.
_MAX_EXP_SPAN = 70.0


def _cv2():
    """OpenCV, imported on first use (codec is imported by tools that never decode) and kept
    in a global: the import statement costs microseconds per frame on a cold cache."""
    global _CV2
    if _CV2 is None:
        import cv2

        _CV2 = cv2
    return _CV2


_CV2 = None


def _top_local_maxima(keys: np.ndarray, offset: int, wide, m: int):
    """The m strongest local maxima of each map: keys (L, H, W) integers ordered as the map
    values, keys + offset >= 1 in the integer type `wide` -> (L, m) cells (index y * W + x),
    (L, m) their keys + offset (0: missing; a map with fewer than m maxima may also repeat
    one).

    A local maximum is >= its in-map 3x3 neighbours (plateaus count every cell). Strongest
    first, ties by lower cell index (a stable descending sort's order, as in the Java decoder).
    """
    n, h, w = keys.shape
    # each row gets a 0 cell after it, below every key: on the flattened map a shift by one or
    # by a padded row never reaches a cell outside the map (the definition's -inf padding)
    wp = w + 1
    flat = np.zeros((n, h, wp), dtype=wide)
    np.add(keys, offset, out=flat[:, :, :w], dtype=wide)
    flat = flat.reshape(n, h * wp)
    across = flat.copy()  # 3x3 maximum: rows, then columns
    np.maximum(across[:, 1:], flat[:, :-1], out=across[:, 1:])
    np.maximum(across[:, :-1], flat[:, 1:], out=across[:, :-1])
    grown = across.copy()
    np.maximum(grown[:, wp:], across[:, :-wp], out=grown[:, wp:])
    np.maximum(grown[:, :-wp], across[:, wp:], out=grown[:, :-wp])
    peak = flat >= grown
    # the key at maxima, 0 elsewhere and on the padding (arithmetic beats np.where ~5x here)
    masked = flat * peak
    # m rounds of argmax (first index on ties) beat sorting: plateaus of a quantised map make
    # thousands of maxima, and only m of them are wanted. A map out of maxima yields cell 0:
    # a non-maximum (key 0) or an earlier pick again, which changes no choice (ties in
    # distance go to the first candidate)
    rows = np.arange(n)[:, None]
    m = min(m, h * w)
    cells = np.empty((n, m), dtype=np.int64)
    for j in range(m):
        cells[:, j] = cell = masked.argmax(axis=1)
        masked[rows[:, 0], cell] = 0
    top = flat[rows, cells] * peak[rows, cells]
    return cells - cells // wp, top  # padded index y * (W + 1) + x -> y * W + x


def _nearest(cand, valid, cell, conf, lk, w):
    """Which candidate peak each low-confidence keypoint takes (module doc, step 3).

    cand, valid (L, M): candidate cells (index y * w + x) of the L low keypoints (keypoint
    index lk); cell (2, L, K) the [x; y] argmax cells and conf (L, K) the confident mask of
    each one's sample (a dimension of 1 broadcasts). Returns (L,) best candidate and (L,)
    usable (False: nothing confident to be near, the argmax stays). Integer squared distances
    rank exactly as the Euclidean ones (sqrt is strictly monotonic on these integers); ties go
    to the first candidate.
    """
    neigh = _ADJ[lk] & conf
    ref = neigh | (conf & ~neigh.any(axis=1, keepdims=True))  # (L, K)
    cy, cx = np.divmod(cand, w)
    dy = cy[:, :, None] - cell[1][:, None, :]  # (L, M, K)
    dx = cx[:, :, None] - cell[0][:, None, :]
    d2 = dy * dy + dx * dx
    d2 += ~(ref[:, None, :] & valid[:, :, None]) * _FAR  # masks by arithmetic (cheaper)
    d2 = d2.min(axis=-1)  # (L, M)
    best = d2.argmin(axis=-1)
    return best, d2[np.arange(len(best)), best] < _FAR


class HeatmapCodec:
    """Encode keypoints to (H, W, K+1) Gaussian targets and decode maps back to keypoints."""

    #: decode_quantized runs compiled (numba, `handlite._decode_jit`) when numba imports;
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

        keypoints = self._to_input(self._refine(maps, iy, ix, h, w))
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
        kind = raw.dtype.char  # dtype comparisons with np.int8 cost more than the decode's ops
        if kind not in ("b", "B"):
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
        if not (math.isfinite(scale) and scale > 0):
            raise UsageError(f"quantisation scale must be positive, got {scale}")
        beta = float(self.settings.softmax_beta)
        if h < 3 or w < 3 or not 0 < beta * scale * 255 <= _MAX_EXP_SPAN:
            # tiny maps, or a span where the step order may not be the probability order
            return self.decode(self._dequantize_table(raw.dtype, scale, zero_point)[
                np.ascontiguousarray(raw).view(np.uint8)])
        values, logs, expo, expo64 = self._quant_tables(kind, scale, zero_point)
        if self.use_jit and _jit.available():
            return _jit.decode(raw.reshape(h * w, c).view(np.uint8), h, w, k, kind == "b",
                               expo, expo64, values, logs, self.settings.min_confidence,
                               self.settings.fallback_peaks,
                               _jit.REFINE_CODES[self.settings.refine], _ADJ_C, self.stride)
        cv2 = _cv2()
        data = raw.reshape(h * w, c).view(np.uint8)
        step = cv2.transpose(data)[:k]  # (K, H*W) raw bytes, one contiguous row per map
        signed = kind == "b"
        idx = (step.view(np.int8) if signed else step).argmax(axis=1)
        rows, last, offsets = self._frame_constants(h, w)
        top = step[rows, idx]
        # softmax sums: sum exp(beta (v - v_max)) = sum E[q] / E[q_max] with the table
        # E[q] = exp(beta (v(q) - v_top)) <= 1, normal float32 under _MAX_EXP_SPAN
        sums = cv2.reduce(cv2.LUT(step, expo), 1, cv2.REDUCE_SUM, dtype=cv2.CV_64F)[:, 0]
        total = sums / expo64[top]
        scores = (1.0 / total).astype(np.float32)
        cell = np.empty((2, k), dtype=np.int64)  # [x; y] integer cells
        np.divmod(idx, w, out=(cell[1], cell[0]))

        if self.settings.min_confidence > 0:
            low = scores < self.settings.min_confidence
            if low.any():
                lk = low.nonzero()[0]
                # the quantised values rank the probabilities (strictly, see
                # _MAX_EXP_SPAN), ties included
                keys = (step.view(np.int8) if signed else step)[lk].reshape(len(lk), h, w)
                cand, ranks = _top_local_maxima(keys, 129 if signed else 1, np.int16,
                                                self.settings.fallback_peaks)
                best, usable = _nearest(cand, ranks > 0, cell[:, None], ~low[None], lk, w)
                pick, lk = cand[usable, best[usable]], lk[usable]
                cell[1, lk], cell[0, lk] = np.divmod(pick, w)
                scores[lk] = expo64[step[lk, pick]] / sums[lk]

        if self.settings.refine == "none":
            return self._to_input(cell.astype(np.float64)), scores
        centre = np.minimum(np.maximum(cell, 1), last - 1)
        win = step[rows, (centre[1] * w + centre[0]) + offsets]  # (9, K) window bytes
        return self._to_input(self._refine_core(values[win], logs[win], cell, centre, h, w)), \
            scores

    def quantized_decoder(self, dtype, shape, scale: float, zero_point: int):
        """A decoder for one model's output tensor: `fn(raw) -> decode_quantized(raw, scale,
        zero_point)` for raw frames of `dtype` (int8/uint8) and `shape` (H, W, C), with the
        checks, tables and output buffers set up once here instead of per frame (the runtime
        decodes every frame of a model from the same tensor). The returned arrays are reused
        by the next call: copy them to keep them."""
        dtype = np.dtype(dtype)
        h, w, c = (int(v) for v in shape)
        probe = np.zeros((h, w, c), dtype)
        self.decode_quantized(probe, scale, zero_point)  # validates; compiles the kernel once
        span_ok = 0 < float(self.settings.softmax_beta) * float(scale) * 255 <= _MAX_EXP_SPAN
        size = h * w
        if self.use_jit and _jit.available() and h >= 3 and w >= 3 and span_ok:
            values, logs, expo, expo64 = self._quant_tables(dtype.char, float(scale),
                                                            int(zero_point))
            kernel = _jit.bound(h, w, self.num_keypoints, dtype.char == "b", expo, expo64,
                                values, logs, self.settings.min_confidence,
                                self.settings.fallback_peaks,
                                _jit.REFINE_CODES[self.settings.refine], _ADJ_C, self.stride)

            def call(raw):
                return kernel(raw.reshape(size, c).view(np.uint8))
        else:
            def call(raw):
                return self.decode_quantized(raw, scale, zero_point)

        def decode(raw):
            if raw.shape != (h, w, c) or raw.dtype != dtype:
                raise UsageError(f"decoder set up for {(h, w, c)} {dtype}, got {raw.shape} "
                                 f"{raw.dtype}")
            return call(raw)

        return decode

    def _quant_tables(self, dtype: str, scale: float, zero_point: int):
        """Per raw byte (dtype "b" int8 or "B" uint8): the dequantised value as float32 computes it, its log as the
        refinement takes it, and E = exp(beta * (value - highest value)) in float32 and
        float64 (the softmax numerators up to a per-map factor). Cached per quantisation."""
        key = (dtype, scale, zero_point)
        tables = self._tables.get(key)
        if tables is None:
            values = self._dequantize_table(dtype, scale, zero_point).astype(np.float64)
            steps = np.arange(256, dtype=np.uint8).view(dtype).astype(np.float64)
            expo64 = np.exp(float(self.settings.softmax_beta) * scale * (steps - steps.max()))
            logs = np.log(np.where(values > _EPS, values, np.nan))
            tables = (values, logs, expo64.astype(np.float32), expo64)
            if len(self._tables) >= 64:  # one codec fed many models' outputs: stay small
                self._tables.clear()
            self._tables[key] = tables
        return tables

    def _frame_constants(self, h: int, w: int):
        """Per map size: keypoint rows (K,), the last cell [[w - 1], [h - 1]] and the 3x3
        window's cell offsets (9, 1). Cached."""
        key = (h, w)
        constants = self._tables.get(key)
        if constants is None:
            constants = (np.arange(self.num_keypoints), np.array([[w - 1], [h - 1]]),
                         (_WIN_DY * w + _WIN_DX)[:, None])
            self._tables[key] = constants
        return constants

    @staticmethod
    def _dequantize_table(dtype, scale: float, zero_point: int) -> np.ndarray:
        """(256,) float32 value of each raw byte, computed as the runtime dequantises (float32
        (q - zero_point) * scale), so the refinement windows are bit for bit the same."""
        q = np.arange(256, dtype=np.uint8).view(dtype).astype(np.float32)
        return (q - np.float32(zero_point)) * np.float32(scale)

    def _to_input(self, cells: np.ndarray) -> np.ndarray:
        """(2, ...) float cells [x; y] -> (..., 2) float32 input pixels."""
        return ((cells.transpose(*range(1, cells.ndim), 0) + 0.5) * self.stride
                - 0.5).astype(np.float32)

    def _fallback(self, expo, total, iy, ix, scores, low, h, w):
        """Re-pick low-confidence keypoints among their strongest local peaks (see module doc)."""
        ln, lk = np.nonzero(low)  # the L low-confidence (sample, keypoint) pairs
        prob = (expo[ln, lk] / total[ln, lk, None]).reshape(-1, h, w)  # (L, H, W)
        # low rows hold finite probabilities: a NaN total gives a NaN score, never "low"
        # non-negative float32 values order as their bit patterns do
        cand, top = _top_local_maxima(prob.view(np.int32), 1, np.int32,
                                      self.settings.fallback_peaks)
        best, usable = _nearest(cand, top > 0, np.stack([ix[ln], iy[ln]]), ~low[ln], lk, w)
        iy, ix, scores = iy.copy(), ix.copy(), scores.copy()
        sel = np.flatnonzero(usable)
        ln, lk, top = ln[sel], lk[sel], top[sel, best[sel]] - 1
        iy[ln, lk], ix[ln, lk] = np.divmod(cand[sel, best[sel]], w)
        scores[ln, lk] = top.astype(np.int32).view(np.float32)
        return iy, ix, scores

    def _refine(self, maps, iy, ix, h, w):
        """Sub-pixel positions (2, N, K) [x; y] float cells around integer cells (iy, ix) of
        maps (N, H, W, C)."""
        cell = np.stack([ix, iy])
        if self.settings.refine == "none":
            return cell.astype(np.float64)
        n_idx, k_idx = np.indices(iy.shape)
        if h < 3 or w < 3:  # no 3x3 window fits: quarter steps only
            def at(y, x):
                return np.nan_to_num(maps[n_idx, y, x, k_idx].astype(np.float64), nan=0.0)
            quarter_y, quarter_x = self._quarter(at, iy, ix, h, w)
            return np.stack([ix + quarter_x, iy + quarter_y])

        # one gather of the 3x3 window around the centre clamped inside the map
        cy, cx = np.clip(iy, 1, h - 2), np.clip(ix, 1, w - 2)
        win = maps[n_idx[..., None], cy[..., None] + _WIN_DY, cx[..., None] + _WIN_DX,
                   k_idx[..., None]]
        win = np.nan_to_num(win.astype(np.float64), nan=0.0).reshape(-1, 9).T  # (9, N*K)
        logs = np.log(np.where(win > _EPS, win, np.nan))
        fine = self._refine_core(win, logs, cell.reshape(2, -1),
                                 np.stack([cx, cy]).reshape(2, -1), h, w)
        return fine.reshape(cell.shape)

    def _refine_core(self, win, logs, cell, centre, h, w):
        """Refinement (module doc, step 4) of P keypoints: win (9, P) float64 3x3 windows
        (row-major) around centre (2, P) [x; y], the argmax cell clamped inside the map;
        logs = log(win), NaN where win <= eps (the fit needs positive values: a NaN fails
        every test below, so no separate check). Returns (2, P) float cells [x; y]."""
        if self.settings.refine == "dark":
            # quadratic fit to log(h); each line computes the x and the y term at once
            plus, minus = logs[5:8:2], logs[3:0:-2]  # cells [5, 7] and [3, 1]
            grad = 0.5 * (plus - minus)  # [dx, dy]
            curv = plus - 2 * logs[4] + minus  # [dxx, dyy]
            dxy = 0.25 * (logs[8] - logs[6] - logs[2] + logs[0])
            det = curv[0] * curv[1] - dxy * dxy
            ok = (det > 1e-12) & (curv[0] < 0)
            # [-(dyy dx - dxy dy), -(dxx dy - dxy dx)] / det
            dark = centre + (dxy * grad[::-1] - curv[::-1] * grad) / np.where(ok, det, 1.0)
            near = np.abs(dark - cell) <= 1.0
            ok &= near[0] & near[1]
            if ok.all():  # a peak where the fit fails is the exception: skip quarter steps
                return dark
        # quarter step towards the higher neighbour of the argmax cell (0 at the border);
        # inside the map the argmax sits at the window centre on that axis
        lo = (cell - centre + 1)[::-1] * _LO_MUL  # window cell of the lower neighbour
        j = np.arange(win.shape[1])
        diff = win[lo + _HI_ADD, j] - win[lo, j]
        inside = (cell > 0) & (cell < [[w - 1], [h - 1]])
        fine = cell + 0.25 * np.sign(np.where(inside, diff, 0.0))
        return fine if self.settings.refine == "quarter" else np.where(ok, dark, fine)

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
