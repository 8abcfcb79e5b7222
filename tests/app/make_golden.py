"""Golden vectors that pin the Android app's Java decoder and statistics to the Python ones.

Writes into android_app/core/src/test/resources/golden/ (or --out DIR):
- `<name>.f32`: heatmaps (H, W, C) as little-endian float32, row-major, channel-last;
- `index.json`: per case the file, shape, stride, decode settings and the keypoints (K, 2)
  in input pixels and scores (K,) that `handlite.codec.HeatmapCodec.decode` returns (null for
  a non-finite value); under `quantized_cases` the same for raw int8/uint8 maps `<name>.q8`
  (the float maps quantised with a given scale and zero point, as a quantised model's output
  tensor holds them) and what `HeatmapCodec.decode_quantized` returns; latency samples with the `handlite.bench.stats.latency_stats` block
  they give; and crops of `image_37x29.rgb` (uint8 RGB) with the crop window and the resized
  pixels `pre_<name>.u8` that the host runtime (`square_crop`, `extract_crop`) produces;
- with --model: `tiny_model.tflite`, a small converted model (16x16x3 -> 4x4x22) carrying
  `handlite` metadata written by `handlite.metadata.embed_metadata`, and `tiny_model.json`,
  the exact JSON stored. Needs TensorFlow; run it only when
  the model has to change.

Every case is checked to be unambiguous for an independent implementation: no score within
a hair of the confidence threshold, and in the fallback no tie at the edge of the top peaks,
no near-tie between neighbouring cells, no tie in distance. `handlite.codec` and the Java
decoder break such ties by the same rule (equal peaks: the lower cell first; equal distances:
the stronger peak), but a case that hinges on a tie, or on a near-tie that float rounding may
flip, would pin that rule rather than the decode.

    python tests/app/make_golden.py [--out DIR] [--model]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from handlite.bench.stats import latency_stats
from handlite.codec import HeatmapCodec
from handlite.config import DEFAULTS
from handlite.keypoints import NUM_KEYPOINTS, adjacency

ROOT = Path(__file__).resolve().parents[2]
GOLDEN_DIR = ROOT / "android_app" / "core" / "src" / "test" / "resources" / "golden"
FORMAT = "handlite.golden/1"
K = NUM_KEYPOINTS
SEED = 20240608


# ---------------------------------------------------------------------------- heatmaps

def _gauss(size: int, stride: int, point_px, sigma: float = DEFAULTS.codec.sigma) -> np.ndarray:
    """(H, W) unit Gaussian at an input-pixel point, with the codec's own encode."""
    codec = HeatmapCodec(input_size=size * stride, stride=stride, sigma=sigma, min_confidence=0)
    kps = np.zeros((K, 2))
    kps[0] = point_px
    vis = np.zeros(K)
    vis[0] = 1
    return codec.encode(kps, vis)[..., 0].astype(np.float64)


def _with_background(kp_maps: np.ndarray) -> np.ndarray:
    """(H, W, K) -> (H, W, K+1) float32 with the paper's background 1 - max_k."""
    bg = 1.0 - np.nan_to_num(kp_maps, nan=0.0, posinf=1.0).max(axis=-1, keepdims=True)
    return np.concatenate([kp_maps, bg], axis=-1).astype(np.float32)


def _cell_to_px(cell: float, stride: int) -> float:
    return (cell + 0.5) * stride - 0.5


def mixed_maps(size: int, stride: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Confident sub-pixel peaks plus, on chosen keypoints, every special case at once.

    Returns (H, W, K+1) float32 and {keypoint: what it exercises}.
    """
    n_px = size * stride
    lo, hi = 0.15 * n_px, 0.85 * n_px
    pos = rng.uniform(lo, hi, size=(K, 2))
    maps = np.stack([_gauss(size, stride, p) for p in pos], axis=-1)
    notes = {k: "confident sub-pixel peak" for k in range(K)}

    def put(k, m, note):
        maps[..., k] = m
        notes[k] = note

    put(4, _gauss(size, stride, (0.0, 0.0)), "peak in the top-left corner cell")
    put(8, _gauss(size, stride, (n_px + 3.0, rng.uniform(lo, hi))), "peak beyond the right edge")
    put(12, _gauss(size, stride, (rng.uniform(lo, hi), n_px - 1.0)), "peak on the bottom row")
    put(7, _gauss(size, stride, pos[7]) - 0.5, "negative values away from the peak")
    put(11, _gauss(size, stride, pos[11]) - 0.9, "non-positive DARK window -> quarter step")
    # two weak peaks: the stronger one far from the hand, the weaker one next to the parent
    # joint; the fallback must take the weaker, nearer one
    near = pos[19] + rng.uniform(2, 3, size=2) * stride
    far = np.array([lo, hi]) if pos[19][0] > n_px / 2 else np.array([hi, hi])
    put(20, 0.30 * _gauss(size, stride, near) + 0.36 * _gauss(size, stride, far),
        "fallback: two weak peaks, the nearer (weaker) one wins")
    # 15 and 16 both weak: 15 has a confident neighbour (14), 16 has none and measures
    # against every confident keypoint
    put(15, 0.33 * _gauss(size, stride, pos[14] + 3 * stride)
        + 0.35 * _gauss(size, stride, pos[14] - [0, 0.3 * n_px]),
        "fallback: nearest to the confident neighbour")
    put(16, 0.32 * _gauss(size, stride, pos[0] + [2 * stride, 0])
        + 0.36 * _gauss(size, stride, (hi, lo)),
        "fallback: no confident neighbour, nearest confident keypoint")
    put(3, 0.05 * rng.random((size, size)), "fallback: near-flat noise")
    # centred between two cells: equal maxima, the first in row-major order wins
    mid = size // 3 + 0.5
    put(9, _gauss(size, stride, (_cell_to_px(mid, stride), _cell_to_px(size // 2, stride))),
        "argmax tie between two cells")
    # a log-convex bowl in the top-left 3x3 block, corners highest: the DARK fit there is a
    # minimum (dxx > 0), which must be refused for the quarter step
    yy, xx = np.mgrid[0:3, 0:3]
    bowl = np.full((size, size), 0.0)
    bowl[:3, :3] = np.exp(0.5 * ((xx - 1) ** 2 + (yy - 1) ** 2) - 1.0)
    put(1, bowl, "DARK fit is a minimum (clamped corner window) -> quarter step")
    noise = 0.01 * rng.random(maps.shape)
    noise[..., 9] = 0.0  # keep the exact tie
    noise[:3, :3, 1] = 0.0  # keep the bowl exact
    maps = maps + noise
    peak13 = np.unravel_index(np.argmax(maps[..., 13]), maps.shape[:2])
    y, x = min(peak13[0] + 1, size - 1), min(peak13[1] + 1, size - 1)
    maps[y, x, 13] = np.nan
    notes[13] = "NaN beside the peak (DARK window) -> quarter step"
    maps[1, size - 2, 17] = np.inf
    notes[17] = "+inf cell"
    return _with_background(maps), notes


def lowconf_maps(size: int, stride: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Only keypoints 0 and 5 confident; every other map has two weak peaks."""
    n_px = size * stride
    lo, hi = 0.15 * n_px, 0.85 * n_px
    pos = rng.uniform(lo, hi, size=(K, 2))
    maps = np.empty((size, size, K))
    notes = {}
    for k in range(K):
        if k in (0, 5):
            maps[..., k] = _gauss(size, stride, pos[k])
            notes[k] = "confident"
            continue
        a, b = rng.uniform(0.25, 0.4, size=2)
        other = rng.uniform(lo, hi, size=2)
        maps[..., k] = a * _gauss(size, stride, pos[k]) + b * _gauss(size, stride, other)
        notes[k] = "fallback"
    maps += 0.01 * rng.random(maps.shape)
    return _with_background(maps), notes


def noise_maps(size: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Uniform noise: nothing is confident, so the fallback keeps every argmax."""
    return rng.random((size, size, K + 1)).astype(np.float32), {k: "no confident keypoint"
                                                                  for k in range(K)}


def flat_maps(size: int) -> tuple[np.ndarray, dict]:
    """Constant maps without a background channel: argmax 0, no refinement possible."""
    return np.full((size, size, K), 0.25, np.float32), {k: "flat map" for k in range(K)}


def random_maps(size: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Tiny maps: the decoder on 1x1, 2x2 and 3x3 grids."""
    return rng.random((size, size, K + 1)).astype(np.float32), {k: f"{size}x{size} map"
                                                                  for k in range(K)}


# ---------------------------------------------------------------------------- guard

def ambiguities(maps: np.ndarray, codec: HeatmapCodec) -> list[str]:
    """Reasons an independent decoder could legitimately differ on these maps (empty = fine).

    Works on the raw float32 values, whose order is the probabilities' order; a difference
    counts as a near-tie when beta * diff < 1e-5 (float32 exp is good to ~1e-7).
    """
    s = codec.settings
    k = codec.num_keypoints
    h, w = maps.shape[:2]
    beta = float(s.softmax_beta)
    probe = HeatmapCodec(input_size=codec.input_size, stride=codec.stride, sigma=codec.sigma,
                         num_keypoints=k, min_confidence=0, refine="none",
                         softmax_beta=s.softmax_beta)
    with np.errstate(over="ignore"):
        _, argmax_scores = probe.decode(maps)
    problems = []
    if s.min_confidence <= 0:
        return problems
    near = np.abs(argmax_scores - s.min_confidence) < 1e-4 * s.min_confidence
    problems += [f"keypoint {j}: score {argmax_scores[j]} at the threshold"
                 for j in np.nonzero(near)[0]]
    low = argmax_scores < s.min_confidence
    raw = np.nan_to_num(np.moveaxis(maps[..., :k], -1, 0).astype(np.float32), nan=-np.inf,
                        posinf=np.finfo(np.float32).max).astype(np.float64)
    adj = adjacency()
    cells = [np.unravel_index(int(np.argmax(raw[j])), (h, w)) for j in range(k)]
    confident = ~low
    for j in np.nonzero(low)[0]:
        ref = adj[j] & confident
        if not ref.any():
            ref = confident
        if not ref.any():
            continue  # nothing to be near: the argmax stays, whatever the peaks
        m = raw[j]
        pad = np.pad(m, 1, constant_values=-np.inf)
        neigh = np.stack([pad[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)
                          if (dy, dx) != (1, 1)])
        nb_max = neigh.max(axis=0)
        peaks = m >= nb_max
        values = np.sort(m[peaks])[::-1]
        n_top = min(s.fallback_peaks, values.size)
        floor = values[n_top] if values.size > n_top else -np.inf
        if values.size > n_top and beta * (values[n_top - 1] - floor) < 1e-5:
            problems.append(f"keypoint {j}: tie at the edge of the top {n_top} peaks")
        relevant = m >= floor - 1e-3
        gap = np.abs(neigh - m[None])
        close = ((gap > 0) & (beta * gap < 1e-5)).any(axis=0) & relevant
        if close.any():
            problems.append(f"keypoint {j}: near-tie between neighbouring cells")
        top = np.argwhere(peaks & (m >= values[n_top - 1]))
        d2 = [min((cy - cells[o][0]) ** 2 + (cx - cells[o][1]) ** 2 for o in np.nonzero(ref)[0])
              for cy, cx in top]
        if sorted(d2)[:2].count(min(d2)) > 1:
            problems.append(f"keypoint {j}: two candidate peaks at the same distance")
    return problems


# ---------------------------------------------------------------------------- writing

class AmbiguousCase(Exception):
    """A case an independent decoder could legitimately decode differently."""


def _floats(a: np.ndarray) -> list:
    """float32 values as JSON numbers (exact as doubles), null where non-finite."""
    return [float(np.float32(v)) if np.isfinite(v) else None for v in a]


def _case(name: str, file: str, maps: np.ndarray, stride: int, notes: dict,
          **settings) -> dict:
    h, w, c = maps.shape
    # the cases were built around a 0.05 confidence threshold; pin it, so a change of the
    # project's default (calibrated on the shipped model) does not silently drop fallbacks
    settings = {"min_confidence": 0.05, **settings}
    codec = HeatmapCodec(input_size=h * stride, stride=stride, **settings)
    problems = ambiguities(maps, codec)
    if problems:
        raise AmbiguousCase(f"case {name}: " + "; ".join(problems))
    with np.errstate(over="ignore"):  # the +inf case overflows beta * (h - peak) to -inf
        keypoints, scores = codec.decode(maps)
        plain = HeatmapCodec(input_size=h * stride, stride=stride,
                             **{**codec.settings.to_dict(), "min_confidence": 0.0})
        argmax_kps, argmax_scores = plain.decode(maps)
    fallback = [int(j) for j in np.nonzero(argmax_scores < codec.settings.min_confidence)[0]]
    moved = [j for j in fallback if not np.allclose(keypoints[j], argmax_kps[j], equal_nan=True)]
    return {
        "name": name,
        "file": file,
        "shape": [h, w, c],
        "stride": stride,
        "decode": codec.settings.to_dict(),
        "fallback_keypoints": fallback,
        "moved_by_fallback": moved,
        "notes": {str(k): v for k, v in sorted(notes.items())},
        "keypoints": [_floats(p) for p in keypoints],
        "scores": _floats(scores),
    }


def quantize(maps: np.ndarray, dtype: str, scale: float, zero_point: int) -> np.ndarray:
    """Float maps -> the raw tensor a quantised model would output: round(v / scale) + zp,
    saturated (NaN reads as 0, +-inf saturates)."""
    info = np.iinfo(dtype)
    clean = np.nan_to_num(maps.astype(np.float64), nan=0.0, posinf=1e6, neginf=-1e6)
    q = np.clip(np.round(clean / scale) + zero_point, info.min, info.max)
    return q.astype(dtype)


def _quant_case(name: str, file: str, raw: np.ndarray, quant: tuple, stride: int,
                **settings) -> dict:
    dtype, scale, zero_point = quant
    h, w, c = raw.shape
    settings = {"min_confidence": 0.05, **settings}
    codec = HeatmapCodec(input_size=h * stride, stride=stride, **settings)
    plain = HeatmapCodec(input_size=h * stride, stride=stride,
                         **{**codec.settings.to_dict(), "min_confidence": 0.0})
    _, argmax_scores = plain.decode_quantized(raw, scale, zero_point)
    threshold = codec.settings.min_confidence
    # ties on raw steps are exact and ordered (first cell): only a score at the threshold
    # could flip between two correct implementations (summation order)
    near = np.nonzero(np.abs(argmax_scores - threshold) < 1e-4 * threshold)[0]
    if threshold > 0 and near.size:
        raise AmbiguousCase(f"case {name}: scores of {near.tolist()} at the threshold")
    keypoints, scores = codec.decode_quantized(raw, scale, zero_point)
    argmax_kps, _ = plain.decode_quantized(raw, scale, zero_point)
    fallback = [int(j) for j in np.nonzero(argmax_scores < threshold)[0]] if threshold > 0 else []
    moved = [j for j in fallback if not np.allclose(keypoints[j], argmax_kps[j])]
    return {
        "name": name,
        "file": file,
        "shape": [h, w, c],
        "stride": stride,
        "dtype": dtype,
        "scale": scale,
        "zero_point": zero_point,
        "decode": codec.settings.to_dict(),
        "fallback_keypoints": fallback,
        "moved_by_fallback": moved,
        "keypoints": [_floats(p) for p in keypoints],
        "scores": _floats(scores),
    }


def _stats_cases(rng: np.random.Generator) -> list[dict]:
    samples = {
        "lognormal_61_with_spikes": np.concatenate([rng.lognormal(np.log(20), 0.1, 59),
                                                    [55.0, 80.0]]),
        "even_count_8": rng.uniform(5, 9, 8),
        "mostly_identical_mad0": np.array([4.0] * 7 + [4.5, 9.0]),
        "single": np.array([12.5]),
    }
    return [{"name": name, "samples_ms": [float(v) for v in x], "expected": latency_stats(x)}
            for name, x in samples.items()]


#: heatmap file -> generator(rng) -> (maps, notes)
FILES = {
    "mixed_56": lambda rng: mixed_maps(56, 4, rng),
    "mixed_28": lambda rng: mixed_maps(28, 4, rng),
    "lowconf_28": lambda rng: lowconf_maps(28, 4, rng),
    "noise_28": lambda rng: noise_maps(28, rng),
    "flat_28": lambda rng: flat_maps(28),
    "tiny_1": lambda rng: random_maps(1, rng),
    "tiny_2": lambda rng: random_maps(2, rng),
    "tiny_3": lambda rng: random_maps(3, rng),
}

#: (case name, heatmap file, decode settings besides the defaults)
CASES = [
    ("mixed_56", "mixed_56", {}),
    ("mixed_56_no_fallback", "mixed_56", {"min_confidence": 0.0}),
    ("mixed_28", "mixed_28", {}),
    ("mixed_28_quarter", "mixed_28", {"refine": "quarter"}),
    ("mixed_28_none", "mixed_28", {"refine": "none"}),
    ("mixed_28_beta20_peaks5", "mixed_28", {"softmax_beta": 20.0, "fallback_peaks": 5}),
    ("lowconf_28", "lowconf_28", {}),
    ("lowconf_28_one_peak", "lowconf_28", {"fallback_peaks": 1}),
    ("noise_28", "noise_28", {}),
    ("flat_28_no_background", "flat_28", {}),
    ("tiny_1x1", "tiny_1", {}),
    ("tiny_2x2", "tiny_2", {}),
    ("tiny_3x3", "tiny_3", {}),
]


def _f32(x: float) -> float:
    return float(np.float32(x))  # a scale both sides hold exactly (Java reads a float)


#: raw quantised file -> (float heatmap file it quantises, (dtype, scale, zero point)).
#: int8 over [-1, 1] maps, uint8 with the softmax-style [0, 1] range; one scale so coarse that
#: beta * scale * 255 > 70 (the decoders fall back to the float path on the dequantised maps)
QUANT_FILES = {
    "mixed_56_int8": ("mixed_56", ("int8", _f32(2.0 / 255), -13)),
    "mixed_28_int8": ("mixed_28", ("int8", _f32(2.0 / 255), -13)),
    "lowconf_28_int8": ("lowconf_28", ("int8", _f32(1.0 / 255), -128)),
    "lowconf_28_uint8": ("lowconf_28", ("uint8", _f32(1.0 / 255), 0)),
    "noise_28_int8": ("noise_28", ("int8", _f32(1.0 / 255), -128)),
    "mixed_28_int8_coarse": ("mixed_28", ("int8", _f32(0.05), 0)),
    "tiny_2_int8": ("tiny_2", ("int8", _f32(1.0 / 255), -128)),
}

#: (case name, raw file, decode settings besides the defaults)
QUANT_CASES = [
    ("mixed_56_int8", "mixed_56_int8", {}),
    ("mixed_28_int8", "mixed_28_int8", {}),
    ("mixed_28_int8_quarter", "mixed_28_int8", {"refine": "quarter"}),
    ("mixed_28_int8_none", "mixed_28_int8", {"refine": "none"}),
    ("mixed_28_int8_beta20_peaks5", "mixed_28_int8", {"softmax_beta": 20.0, "fallback_peaks": 5}),
    ("lowconf_28_int8", "lowconf_28_int8", {}),
    ("lowconf_28_int8_one_peak", "lowconf_28_int8", {"fallback_peaks": 1}),
    ("lowconf_28_uint8", "lowconf_28_uint8", {}),
    ("noise_28_int8", "noise_28_int8", {}),
    ("mixed_28_int8_coarse_float_path", "mixed_28_int8_coarse", {}),
    ("tiny_2x2_int8_float_path", "tiny_2_int8", {}),
]


def _quant_cases(out: Path, float_maps: dict) -> list[dict]:
    cases = []
    for file, (source, quant) in QUANT_FILES.items():
        raw = quantize(float_maps[source], *quant)
        (out / f"{file}.q8").write_bytes(np.ascontiguousarray(raw).tobytes())
        cases += [_quant_case(name, f"{file}.q8", raw, quant, 4, **settings)
                  for name, f, settings in QUANT_CASES if f == file]
    return cases


def _file_cases(file: str, maps: np.ndarray, notes: dict) -> list[dict] | None:
    """The decode cases of one heatmap file, or None when any of them is ambiguous."""
    try:
        return [_case(name, f"{file}.f32", maps, 4, notes, **settings)
                for name, f, settings in CASES if f == file]
    except AmbiguousCase:
        return None


#: (name, box (x, y, w, h) or None for the whole image, scale, input size, left hand)
PREPROCESS = [
    ("inside_down", (5, 4, 20, 18), 1.0, 16, False),
    ("upscale", (10, 10, 7, 5), 1.0, 24, False),
    ("partly_outside", (-6, 20, 16, 16), 1.3, 16, False),
    ("whole_image", None, 1.0, 16, False),
    ("left_mirrored", (8, 6, 14, 14), 1.0, 16, True),
    ("half_size", (0, 0, 32, 32), 1.0, 16, False),
]


def _preprocess_cases(out: Path, rng: np.random.Generator) -> dict:
    """A small RGB image and the host runtime's crops of it (before normalisation)."""
    from handlite.runtime import extract_crop, square_crop

    h, w = 29, 37
    yy, xx = np.mgrid[0:h, 0:w]
    image = np.stack([7 * xx, 8 * yy, 128 + 40 * np.sin(xx / 3.0)], axis=-1)
    image = np.clip(image + rng.integers(-20, 21, image.shape), 0, 255).astype(np.uint8)
    (out / "image_37x29.rgb").write_bytes(image.tobytes())
    cases = []
    for name, box, scale, size, left in PREPROCESS:
        crop = square_crop(image.shape, size, box, scale)
        resized = extract_crop(image, crop, DEFAULTS.normalization.pad_value).copy()
        if left:
            resized = resized[:, ::-1]
        (out / f"pre_{name}.u8").write_bytes(np.ascontiguousarray(resized).tobytes())
        cases.append({"name": name, "box": None if box is None else list(box), "scale": scale,
                      "size": size, "left": left, "file": f"pre_{name}.u8",
                      "crop": {"x0": crop.x0, "y0": crop.y0, "side": crop.side}})
    return {"image": "image_37x29.rgb", "width": w, "height": h,
            "pad_value": DEFAULTS.normalization.pad_value, "cases": cases}


def build(out: Path) -> dict:
    """Write every .f32 file and index.json into `out`; returns the index.

    Each file has its own random stream (seed, file number, attempt); an attempt whose maps
    make some case ambiguous is replaced by the next one, so the output is deterministic.
    """
    out.mkdir(parents=True, exist_ok=True)
    by_name = {}
    float_maps = {}
    for number, (file, generate) in enumerate(FILES.items()):
        for attempt in range(20):
            maps, notes = generate(np.random.default_rng([SEED, number, attempt]))
            cases = _file_cases(file, maps, notes)
            if cases is not None:
                break
        else:
            raise SystemExit(f"no unambiguous draw for {file} in 20 attempts")
        (out / f"{file}.f32").write_bytes(np.ascontiguousarray(maps, "<f4").tobytes())
        float_maps[file] = maps
        for case in cases:
            case["attempt"] = attempt
            by_name[case["name"]] = case
    index = {
        "format": FORMAT,
        "generator": "tests/app/make_golden.py",
        "seed": SEED,
        "layout": "little-endian float32, (H, W, C) row-major, channel-last",
        "tolerance": {"keypoints_px": 1e-4, "scores": 1e-5},
        "cases": [by_name[name] for name, _, _ in CASES],
        "quantized_layout": "raw int8/uint8 bytes, (H, W, C) row-major, channel-last; "
                            "value = (q - zero_point) * scale",
        "quantized_cases": _quant_cases(out, float_maps),
        "stats": _stats_cases(np.random.default_rng([SEED, len(FILES)])),
        "preprocess": _preprocess_cases(out, np.random.default_rng([SEED, len(FILES) + 1])),
    }
    (out / "index.json").write_text(json.dumps(index, indent=1, allow_nan=False) + "\n")
    return index


# ---------------------------------------------------------------------------- tiny model

def tiny_model_metadata(input_size: int = 16, stride: int = 4) -> dict:
    """`handlite.model/1` metadata for the tiny float32 test model, built by the exporter's
    own `handlite.metadata.build_metadata` (fixed time, so a rebuild differs only if the
    contract does)."""
    from handlite.metadata import build_metadata, tensor_spec

    return build_metadata(
        variant=f"{input_size}_float32", input_size=input_size, precision="float32",
        input=tensor_spec("image", (1, input_size, input_size, 3), "float32"),
        output={"kind": "heatmaps", "dtype": "float32", "scale": None, "zero_point": None},
        source_model_sha256=None, stride=stride, created_utc="2024-06-08T00:00:00Z")


def build_tiny_model(out: Path) -> Path:
    """Convert a 16x16 -> 4x4x22 conv model and write it with handlite metadata."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(SEED)
    inp = tf.keras.Input((16, 16, 3), batch_size=1, name="image")
    heat = tf.keras.layers.Conv2D(K + 1, 4, strides=4, name="heatmaps")(inp)
    model = tf.keras.Model(inp, heat)
    tflite = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    from handlite.metadata import embed_metadata, read_metadata_entries

    model_bytes = bytes(embed_metadata(tflite, tiny_model_metadata()))
    # the exact text stored, for the Java test to compare byte for byte
    (out / "tiny_model.json").write_bytes(read_metadata_entries(model_bytes)["handlite"])
    path = out / "tiny_model.tflite"
    path.write_bytes(model_bytes)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=GOLDEN_DIR)
    parser.add_argument("--model", action="store_true",
                        help="also rebuild tiny_model.tflite (needs TensorFlow)")
    args = parser.parse_args(argv)
    index = build(args.out)
    size = sum(p.stat().st_size for p in [*args.out.glob("*.f32"), *args.out.glob("*.q8")]) + (args.out / "index.json").stat().st_size
    print(f"{len(index['cases'])} decode cases, {len(index['quantized_cases'])} quantised, "
          f"{len(index['stats'])} stats cases, "
          f"{size / 1024:.0f} KiB in {args.out}", file=sys.stderr)
    if args.model:
        path = build_tiny_model(args.out)
        print(f"{path.name}: {path.stat().st_size} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
