"""Run any handlite .tflite on the host: preprocess -> invoke -> decode, each step timed.

Shapes and units: an image is (H, W, 3) uint8 RGB; S is the model's input size; keypoints are
(K, 2) (x, y) in pixels with the pixel-centre convention (`keypoints.py`): pixel i covers
[i - 0.5, i + 0.5]. Times are milliseconds.

Pipeline (everything the model's `handlite.model/1` metadata says, nothing hard-coded):
1. crop: a square around a box (side = max(w, h) x `scale`, same centre) or around the whole
   image (side = max(H, W)), snapped to whole pixels; parts outside the image are filled with
   the metadata's `pad_value`;
2. resize to S x S with OpenCV (bilinear, pixel-centre aligned), mirrored for a left hand;
3. normalise (pixel - mean) / std and, for a quantised input tensor, quantise
   round(v / scale) + zero_point (half away from zero, as TFLite's QUANTIZE does) - all of it
   one 256-entry look-up table (one for all channels when they share it), written straight
   into the interpreter's input buffer; an int8 input pinned to hold pixel - 128 (handlite's
   own int8 exports) is resized straight into the buffer and XORed, a uint8 input holding the
   pixel itself needs nothing more;
4. invoke;
5. decode: quantised heatmap outputs are decoded from the interpreter's buffer by
   `HeatmapCodec.decode_quantized` (compiled with numba), float ones by `HeatmapCodec.decode`,
   with the metadata's decode settings; `keypoints` outputs (in-graph decode) are read as
   they are;
6. map back: crop pixel x_in -> image x = x0 - 0.5 + (x_in + 0.5) * side / S (and mirrored
   back first for a left hand), so a point at a pixel centre of the crop lands on the centre
   of the image pixel it came from.

Foreign models (no handlite metadata) load with `require_metadata=False`; they can only be
invoked (the benchmark's invoke-only mode).

Loading, tensor roles and (de)quantisation come from `handlite.tflite_session`; parity and
on-device parity feed their crops through this same pipeline (`HandRuntime.preprocess`), so
what they check is what users ship.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from handlite.draw import draw_skeleton
from handlite.errors import InputError, ModelError, NonFiniteOutput, UsageError
from handlite.tflite_session import TFLiteSession, dtype_name, quantize, tensor_to_float
from handlite.codec import DecodeSettings, HeatmapCodec
from handlite.io import atomic_write_bytes
from handlite.metadata import read_metadata

#: resize methods offered; bilinear is the default because area averaging costs ~8x more on
#: a 400 px crop (0.8 ms vs 0.1 ms here), which alone would exceed the 5% overhead budget.
INTERPOLATIONS = ("linear", "area")


def _cv2():
    import cv2
    return cv2


# ----------------------------------------------------------------------------- geometry
@dataclass(frozen=True)
class CropWindow:
    """A square window in image coordinates: columns x0 .. x0 + side - 1, rows y0 .. y0 + side - 1
    (may reach outside the image), resized to `size` x `size` network input pixels."""

    x0: int
    y0: int
    side: int
    size: int

    @property
    def scale(self) -> float:
        """Image pixels per network input pixel."""
        return self.side / self.size

    def to_image(self, points: np.ndarray) -> np.ndarray:
        """(..., 2) network input pixels -> image pixels (pixel-centre convention)."""
        pts = np.asarray(points, dtype=np.float64)
        out = np.empty_like(pts)
        out[..., 0] = self.x0 - 0.5 + (pts[..., 0] + 0.5) * self.scale
        out[..., 1] = self.y0 - 0.5 + (pts[..., 1] + 0.5) * self.scale
        return out

    def to_input(self, points: np.ndarray) -> np.ndarray:
        """(..., 2) image pixels -> network input pixels (inverse of `to_image`)."""
        pts = np.asarray(points, dtype=np.float64)
        out = np.empty_like(pts)
        out[..., 0] = (pts[..., 0] - self.x0 + 0.5) / self.scale - 0.5
        out[..., 1] = (pts[..., 1] - self.y0 + 0.5) / self.scale - 0.5
        return out

    def to_dict(self) -> dict:
        return {"x0": self.x0, "y0": self.y0, "side": self.side, "size": self.size}


def _round_half_up(value: float) -> int:
    return int(math.floor(value + 0.5))


def square_crop(image_shape: tuple[int, ...], size: int,
                box: tuple[float, float, float, float] | None = None,
                scale: float = 1.0) -> CropWindow:
    """The square crop for an image of `image_shape` (H, W, ...).

    `box` is (x, y, w, h) in image pixels: x, y the first column/row, w, h the extent. The
    square keeps the box centre, with side max(w, h) x `scale`; without a box it is the whole
    image's square (side max(H, W), centred, so a landscape image is padded above and below).
    """
    h_img, w_img = int(image_shape[0]), int(image_shape[1])
    if box is None:
        side = max(h_img, w_img) * scale
        cx, cy = w_img / 2.0, h_img / 2.0  # edge coordinates: [0, W] spans the image
    else:
        if len(box) != 4:
            raise UsageError(f"box must be x,y,w,h, got {box!r}")
        x, y, w, h = (float(v) for v in box)
        if not all(math.isfinite(v) for v in (x, y, w, h)):
            raise UsageError(f"box values must be finite numbers, got {box!r}")
        if w <= 0 or h <= 0:
            raise UsageError(f"box width and height must be positive, got {w:g} x {h:g}")
        side = max(w, h) * scale
        cx, cy = x + w / 2.0, y + h / 2.0
    if not (scale > 0 and math.isfinite(scale)):
        raise UsageError(f"crop scale must be a positive number, got {scale!r}")
    side_px = max(1, _round_half_up(side))
    return CropWindow(x0=_round_half_up(cx - side_px / 2.0),
                      y0=_round_half_up(cy - side_px / 2.0), side=side_px, size=int(size))


def extract_crop(image: np.ndarray, crop: CropWindow, pad_value: int,
                 out: np.ndarray | None = None, interpolation: str = "linear") -> np.ndarray:
    """Resize the crop's window of `image` (H, W, 3) uint8 into `out` (S, S, 3) uint8.

    A window inside the image is resized straight from a view (no copy); a window that reaches
    outside goes through a padded canvas so border pixels are interpolated against
    `pad_value`, exactly as if the image had been padded.
    """
    cv2 = _cv2()
    size = crop.size
    if out is None:
        out = np.empty((size, size, 3), np.uint8)
    flag = cv2.INTER_AREA if interpolation == "area" and crop.side > size else cv2.INTER_LINEAR
    h_img, w_img = image.shape[:2]
    x0, y0, side = crop.x0, crop.y0, crop.side
    x1, y1 = x0 + side, y0 + side
    if x0 >= 0 and y0 >= 0 and x1 <= w_img and y1 <= h_img:
        window = image[y0:y1, x0:x1]
    else:
        window = np.full((side, side, 3), pad_value, np.uint8)
        sx0, sy0 = max(x0, 0), max(y0, 0)
        sx1, sy1 = min(x1, w_img), min(y1, h_img)
        if sx1 > sx0 and sy1 > sy0:
            window[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = image[sy0:sy1, sx0:sx1]
    if side == size:
        np.copyto(out, window)
    else:
        cv2.resize(window, (size, size), dst=out, interpolation=flag)
    return out


def input_lut(mean, std, dtype: str, scale: float | None = None,
              zero_point: int | None = None) -> np.ndarray:
    """(1, 256, 3) table: pixel value -> the exact value the input tensor holds.

    float32: (p - mean) / std. uint8/int8: round(v / scale) + zero_point, rounded half away
    from zero like TFLite's QUANTIZE, clamped to the type's range. int8 tables are returned
    as their uint8 bit patterns so one `cv2.LUT` call (which writes 8-bit unsigned data) fills
    an int8 tensor through a uint8 view.
    """
    p = np.arange(256, dtype=np.float32)[:, None]
    mean = np.asarray(mean, dtype=np.float32).reshape(1, 3)
    std = np.asarray(std, dtype=np.float32).reshape(1, 3)
    if np.any(std == 0):
        raise ModelError("metadata normalisation has a zero std")
    v = (p - mean) / std  # float32 arithmetic, as the Java app and TFLite do
    if dtype == "float32":
        return v.astype(np.float32)[None]
    if dtype not in ("uint8", "int8"):
        raise ModelError(f"unsupported input dtype {dtype!r}")
    if not scale:
        raise ModelError(f"quantised ({dtype}) input without a scale in the model")
    q = quantize(v, np.dtype(dtype), scale, zero_point)
    return q.view(np.uint8)[None]


# ----------------------------------------------------------------------------- results
@dataclass
class Prediction:
    """One hand: (K, 2) keypoints in image pixels, (K,) scores, the crop, step times (ms)."""

    keypoints: np.ndarray
    scores: np.ndarray
    input_keypoints: np.ndarray  # (K, 2) in network input pixels, after un-mirroring
    crop: CropWindow
    left: bool
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self, names: list[str] | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "keypoints": [[float(x), float(y)] for x, y in self.keypoints],
            "scores": [float(s) for s in self.scores],
            "crop": self.crop.to_dict(),
            "left": self.left,
            "timings_ms": dict(self.timings_ms),
        }
        if names:
            doc["keypoint_names"] = list(names)
        return doc


def _now() -> int:
    return time.perf_counter_ns()


def _ms(t0: int, t1: int) -> float:
    return (t1 - t0) / 1e6


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 RGB; InputError if it cannot be read."""
    cv2 = _cv2()
    p = Path(path)
    if not p.is_file():
        raise InputError(f"image not found: {p}")
    data = np.fromfile(str(p), dtype=np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        raise InputError(f"cannot read {p} as an image (not a format OpenCV decodes)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def runtime_version() -> str:
    """The installed ai-edge-litert version (what ran the model)."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("ai-edge-litert")
    except PackageNotFoundError:  # pragma: no cover - the dependency is required
        return "unknown"


# ----------------------------------------------------------------------------- runtime
class HandRuntime:
    """One loaded .tflite with its metadata, buffers preallocated for repeated predictions.

    `threads` is the interpreter's CPU thread count (XNNPACK is the default CPU path).
    Not thread-safe: use one instance per thread.
    """

    def __init__(self, model: str | Path | bytes | TFLiteSession, threads: int = 1, *,
                 require_metadata: bool = True, interpolation: str = "linear",
                 allow_nan: bool = False):

        #: False: outputs with NaN/Inf raise NonFiniteOutput (exit 1) instead of decoding
        #: to made-up keypoints; True: decode them anyway, quietly (no numpy warnings)
        self.allow_nan = bool(allow_nan)
        if int(threads) <= 0:
            raise UsageError(f"threads must be positive, got {threads}")
        if interpolation not in INTERPOLATIONS:
            raise UsageError(f"interpolation must be one of {INTERPOLATIONS}, got "
                             f"{interpolation!r}")
        # an already loaded session (parity opens every file before it runs any) keeps its
        # own thread count
        session = model if isinstance(model, TFLiteSession) else None
        if session is not None:
            self.path, data, where = session.path, session.data, session.where
            threads = session.threads or threads
        else:
            from handlite.tflite_session import read_model_bytes
            data, self.path, where = read_model_bytes(model)
        self.where = where
        self.threads = int(threads)
        self.interpolation = interpolation
        self.metadata = read_metadata(self.path if self.path is not None else data)
        if self.metadata is None and require_metadata:
            raise ModelError(f"{where} has no handlite metadata; predict needs a model "
                             f"exported by handlite (benchmarks run foreign models invoke-only)")
        t0 = _now()
        #: the loaded model (tensors by role, quantisation, invoke)
        self.session = session or TFLiteSession(data, self.threads, path=self.path)
        self.init_ms = _ms(t0, _now())
        # the interpreter itself, bound once: preprocess/decode reach its buffers per frame
        self._interp = self.session.interpreter
        self.inputs = self.session.inputs
        self.outputs = self.session.outputs
        self._out_index = None
        if self.metadata is not None:
            self._setup_pipeline()

    # -------------------------------------------------------------- set-up from metadata
    def _setup_pipeline(self) -> None:

        meta = self.metadata
        size = int(meta["input_size"])
        self.input_size = size
        detail = self.session.image_input
        shape = [int(v) for v in detail["shape"]]
        if shape != [1, size, size, 3]:
            raise ModelError(f"{self.where}: input tensor shape {shape} does not match the "
                             f"metadata's input size ([1, {size}, {size}, 3])")
        dtype = dtype_name(detail["dtype"])
        if dtype not in ("float32", "uint8", "int8"):
            raise ModelError(f"{self.where}: unsupported input dtype {dtype}")
        scale, zero_point = detail["quantization"]
        norm = meta["normalization"]
        order = str(meta.get("channel_order", "RGB")).upper()
        if order not in ("RGB", "BGR"):
            raise ModelError(f"{self.where}: unknown channel order {order!r}")
        self._swap_rb = order == "BGR"
        self.pad_value = int(norm.get("pad_value", 128))
        # the tensor's own quantisation wins over the metadata copy: it is what runs
        self._lut = input_lut(norm["mean"], norm["std"], dtype, scale or meta["input"].get("scale"),
                              zero_point if scale else meta["input"].get("zero_point"))
        self._in_index = detail["index"]
        self._in_dtype = dtype
        # uint8 input whose quantisation undoes the normalisation (scale * std = 1, zero
        # point = mean): the tensor holds raw pixels, so the crop is resized straight into it
        # and the look-up pass disappears
        self._identity = dtype == "uint8" and np.array_equal(
            self._lut[0], np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1))
        self._resized = np.empty((size, size, 3), np.uint8)
        # One table for all three channels (handlite's normalisation is the same per channel):
        # cv2.LUT with a single-channel table on the (S, 3S) view runs ~2x faster than with a
        # three-channel table (43 vs 90 us at 224 here).
        same = all(np.array_equal(self._lut[0, :, 0], self._lut[0, :, c]) for c in (1, 2))
        self._lut1 = np.ascontiguousarray(self._lut[:, :, 0]) if same else None
        # int8 input holding pixel - 128 (an export with handlite's integer mean pins this,
        # `export.pin_input_quantization`): the table is "flip the top bit", done in place on
        # the resized crop with one XOR (~4 us at 224 instead of the 43 us look-up)
        self._xor = dtype == "int8" and self._lut1 is not None and np.array_equal(
            self._lut1[0], np.arange(256, dtype=np.uint8) ^ np.uint8(0x80))

        kind = meta["output"]["kind"]
        self.output_kind = kind
        k = int(meta["num_keypoints"])
        self.num_keypoints = k
        self.keypoint_names = list(meta.get("keypoint_names") or [])
        self.skeleton = [tuple(b) for b in meta.get("skeleton") or []]
        if kind == "heatmaps":
            if len(self.outputs) != 1:
                raise ModelError(f"{self.where}: heatmap model with {len(self.outputs)} outputs")
            out = self.outputs[0]
            hm = int(meta["heatmap_size"])
            oshape = [int(v) for v in out["shape"]]
            if oshape[:3] != [1, hm, hm] or oshape[3] not in (k, k + 1):
                raise ModelError(f"{self.where}: output shape {oshape} does not match the "
                                 f"metadata ([1, {hm}, {hm}, {k + 1}])")
            self._out_index = out["index"]
            self._out_scale, self._out_zp = out["quantization"]
            self._quantised_out = dtype_name(out["dtype"]) in ("uint8", "int8")
            if self._quantised_out and not self._out_scale:
                raise ModelError(f"{self.where}: quantised output without a scale")
            settings = DecodeSettings(**{key: meta["decode"][key]
                                         for key in DecodeSettings.__dataclass_fields__
                                         if key in meta["decode"]})
            self.codec = HeatmapCodec(size, int(meta["stride"]), float(meta["sigma"]), k,
                                      settings)
            # quantised maps: one decoder bound to this tensor (checks, tables, buffers and the
            # compiled kernel set up now, not per frame)
            self._decode_q = self.codec.quantized_decoder(
                out["dtype"], oshape[1:], self._out_scale, self._out_zp) \
                if self._quantised_out else None
        elif kind == "keypoints":
            roles = self.session.output_roles()
            by_shape = {tuple(int(v) for v in out["shape"]): out for out in self.outputs}
            kp, sc = roles.get("keypoints"), roles.get("scores")
            if kp is None or sc is None or [int(v) for v in kp["shape"]] != [1, k, 2] or \
                    [int(v) for v in sc["shape"]] != [1, k]:
                raise ModelError(f"{self.where}: keypoints model needs outputs (1, {k}, 2) and "
                                 f"(1, {k}); found {sorted(by_shape)}")
            self._kp_out, self._score_out = kp, sc
            self.codec = None
        else:  # validate_metadata already refuses this
            raise ModelError(f"{self.where}: unknown output kind {kind!r}")

    # -------------------------------------------------------------- pipeline steps
    def _require_pipeline(self) -> None:
        if self.metadata is None:
            raise ModelError(f"{self.where} has no handlite metadata: it can only be invoked")

    def crop_for(self, image_shape, box=None, scale: float = 1.0) -> CropWindow:
        self._require_pipeline()
        return square_crop(image_shape, self.input_size, box, scale)

    def preprocess(self, image: np.ndarray, box=None, left: bool = False,
                   scale: float = 1.0) -> CropWindow:
        """Crop, resize, (mirror), normalise/quantise `image` into the input tensor."""
        self._require_pipeline()
        check_image(image)
        cv2 = _cv2()
        crop = square_crop(image.shape, self.input_size, box, scale)
        # A view into the interpreter's own input buffer: valid only until the next invoke,
        # so it never leaves this function.
        target = self._interp.tensor(self._in_index)()[0]
        if self._in_dtype == "int8":
            target = target.view(np.uint8)
        resized = target if self._identity or self._xor else self._resized
        extract_crop(image, crop, self.pad_value, resized, self.interpolation)
        if left:
            cv2.flip(resized, 1, dst=resized)
        if self._swap_rb:
            cv2.cvtColor(resized, cv2.COLOR_RGB2BGR, dst=resized)
        if self._identity:
            pass
        elif self._xor:
            np.bitwise_xor(target, np.uint8(0x80), out=target)
        elif self._lut1 is not None:
            rows = (self.input_size, 3 * self.input_size)
            cv2.LUT(resized.reshape(rows), self._lut1, dst=target.reshape(rows))
        else:
            cv2.LUT(resized, self._lut, dst=target)
        del target, resized
        return crop

    def invoke(self) -> None:
        self._interp.invoke()

    def decode(self) -> tuple[np.ndarray, np.ndarray]:
        """The model's outputs -> ((K, 2) keypoints in input pixels, (K,) scores)."""
        self._require_pipeline()
        if self.codec is None:
            kp = self._read_float(self._kp_out)[0].astype(np.float32)
            sc = self._read_float(self._score_out)[0].astype(np.float32)
            self._check_finite(kp, "keypoints")
            self._check_finite(sc, "scores")
            return kp, sc
        # A view into the interpreter's output buffer: decoded before the next invoke, and
        # never kept. Quantised maps are decoded from their bytes (no float copy).
        raw = self._interp.tensor(self._out_index)()
        if self._quantised_out:
            kp, sc = self._decode_q(raw[0])
            kp, sc = kp.copy(), sc.copy()  # the bound decoder reuses its arrays
        else:
            # integer maps cannot hold NaN; float ones are checked before the softmax turns
            # a NaN into 21 keypoints at one made-up spot
            self._check_finite(raw[0], "heatmaps")
            with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
                kp, sc = self.codec.decode(raw[0])
        del raw
        return kp, sc

    def _check_finite(self, value: np.ndarray, what: str) -> None:
        if self.allow_nan:
            return
        finite = np.isfinite(value)
        if not finite.all():
            bad = int(value.size - np.count_nonzero(finite))
            raise NonFiniteOutput(
                f"{self.where}: the model's {what} output holds NaN or Inf ({bad} of "
                f"{value.size} values); its keypoints would be meaningless",
                hint="pass --allow-nan to decode them anyway")

    def _read_float(self, detail) -> np.ndarray:
        return tensor_to_float(self._interp.get_tensor(detail["index"]), detail)

    # -------------------------------------------------------------- raw outputs
    @property
    def output_quantization(self) -> tuple[float, int] | None:
        """(scale, zero_point) of a quantised heatmap output; None for float maps or an
        in-graph-decode model."""
        self._require_pipeline()
        if self.codec is None or not self._quantised_out:
            return None
        return float(self._out_scale), int(self._out_zp)

    def heatmap_tensor(self) -> np.ndarray:
        """A view of the heatmap output buffer as the model wrote it (1, H, W, K+1), raw
        (integer for quantised maps): valid only until the next invoke, never to be kept."""
        self._require_pipeline()
        if self._out_index is None:
            raise ModelError(f"{self.where}: an in-graph-decode model has no heatmap output")
        return self._interp.tensor(self._out_index)()

    def to_image(self, input_keypoints: np.ndarray, crop: CropWindow,
                 left: bool) -> np.ndarray:
        """(K, 2) network input pixels (of a possibly mirrored crop) -> image pixels."""
        pts = np.asarray(input_keypoints, dtype=np.float64)
        if left:
            pts = pts.copy()
            pts[:, 0] = (self.input_size - 1) - pts[:, 0]
        return crop.to_image(pts).astype(np.float32)

    def predict(self, image: np.ndarray, box=None, left: bool = False,
                scale: float = 1.0) -> Prediction:
        """The whole pipeline on one (H, W, 3) uint8 RGB image; see the module doc."""
        t0 = _now()
        crop = self.preprocess(image, box, left, scale)
        t1 = _now()
        self.invoke()
        t2 = _now()
        kp_in, scores = self.decode()
        kp_img = self.to_image(kp_in, crop, left)
        t3 = _now()
        if left:
            kp_in = kp_in.copy()
            kp_in[:, 0] = (self.input_size - 1) - kp_in[:, 0]
        return Prediction(keypoints=kp_img, scores=scores, input_keypoints=kp_in, crop=crop,
                          left=left, timings_ms={"preprocess": _ms(t0, t1),
                                                 "invoke": _ms(t1, t2), "decode": _ms(t2, t3)})

    # -------------------------------------------------------------- foreign models
    def fill_inputs(self, seed: int = 0) -> None:
        """Fill every input with random data of its own dtype and shape (invoke-only runs)."""
        rng = np.random.default_rng(seed)
        for detail in self.inputs:
            dtype = np.dtype(detail["dtype"])
            shape = tuple(int(v) for v in detail["shape"])
            if dtype.kind == "f":
                value = rng.uniform(-1.0, 1.0, shape).astype(dtype)
            elif dtype.kind in "iu":
                info = np.iinfo(dtype)
                lo, hi = max(int(info.min), -128), min(int(info.max), 255)
                value = rng.integers(lo, hi + 1, shape, dtype=np.int64).astype(dtype)
            elif dtype.kind == "b":
                value = rng.integers(0, 2, shape).astype(bool)
            else:
                raise ModelError(f"{self.where}: cannot make inputs of dtype {dtype}")
            self._interp.set_tensor(detail["index"], value)

    def describe(self) -> dict[str, Any]:
        """What is loaded: file, metadata variant, I/O tensors (for JSON output)."""
        def tensors(details):
            return [TFLiteSession.tensor_dict(d) for d in details]
        return {"path": str(self.path) if self.path else None,
                "variant": (self.metadata or {}).get("variant"),
                "threads": self.threads, "inputs": tensors(self.inputs),
                "outputs": tensors(self.outputs)}


def check_image(image: Any) -> None:
    """An RGB image must be (H, W, 3) uint8 with H, W >= 1."""
    if not isinstance(image, np.ndarray):
        raise InputError(f"image must be a numpy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise InputError(f"image must be (H, W, 3) RGB, got shape {tuple(image.shape)}")
    if image.dtype != np.uint8:
        raise InputError(f"image must be uint8, got {image.dtype}")


def predict_file(model: str | Path, image: str | Path, box=None, left: bool = False,
                 threads: int = 1, allow_nan: bool = False
                 ) -> tuple[Prediction, HandRuntime, np.ndarray]:
    """Load `model` and `image`, run the pipeline once; returns (prediction, runtime, image)."""
    runtime = HandRuntime(model, threads, allow_nan=allow_nan)
    rgb = load_image(image)
    return runtime.predict(rgb, box=box, left=left), runtime, rgb


def save_image(path: str | Path, rgb: np.ndarray) -> None:
    """Write an RGB image atomically (format from the suffix)."""

    cv2 = _cv2()
    p = Path(path)
    ok, encoded = cv2.imencode(p.suffix or ".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise UsageError(f"cannot encode an image as {p.suffix!r}; use .png or .jpg")
    atomic_write_bytes(p, encoded.tobytes())
