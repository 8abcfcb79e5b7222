"""Keras vs TFLite parity: metrics per variant, pass/fail against the recipe tolerances, JUnit.

Shapes: N samples, K keypoints, H x W heatmaps with K+1 channels (background last).
Keypoint distances are in input pixels of the variant's own size; heatmap errors are taken
after dequantisation, over all K+1 channels.

Two layers, so a caller with outputs from elsewhere (a phone) can use the comparison alone:
- `compare_outputs(reference_heatmaps, candidate_outputs, tolerances, ...)`: pure numpy, no
  interpreter: the metrics and the verdict for one variant.
- `run_parity(model_path, tflite_paths, data, count)`: loads the Keras model and each .tflite,
  runs both on the same evaluation crops and calls `compare_outputs`. Each .tflite gets its
  crops through the host runtime's own input path (`runtime.HandRuntime.preprocess`: crop,
  resize, the metadata's normalisation, its quantisation and rounding), so parity checks the
  pipeline users ship; the Keras side comes from `reference.KerasReference`.
A variant with NaN or Inf in its outputs always fails, whatever the tolerances say.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from handlite.codec import DecodeSettings, HeatmapCodec
from handlite.config import DEFAULTS
from handlite.errors import HandliteError, ModelError, UsageError
from handlite.keypoints import KEYPOINT_NAMES
from handlite.reference import KerasReference
from handlite.tflite_session import TFLiteSession, dequantize as _dequantize
from handlite.variants import Tolerances, get_variant, tolerances as precision_tolerances
from handlite.io import atomic_write_bytes
from handlite.metadata import read_metadata
from handlite.metrics import keypoint_metrics

#: A keypoint whose Keras softmax peak reaches this has one clear maximum; below it the map is
#: flat enough that re-rounding may move the argmax to another weak peak (no conversion bug).
#: Deliberately not the decoder's fallback threshold (0.005, calibrated for accuracy): the
#: parity bound needs keypoints whose position is well defined.
CONFIDENT_SCORE = 0.05

@dataclass
class ParityResult:
    """Metrics and verdict of one variant."""

    variant: str
    passed: bool
    samples: int
    output_kind: str
    keypoint_epe_mean_px: float
    keypoint_epe_p95_px: float
    keypoint_epe_max_px: float
    #: max over the keypoints the Keras decode itself found with confidence (score >=
    #: CONFIDENT_SCORE); the recipe's max tolerance applies to these
    keypoint_epe_max_confident_px: float
    confident_fraction: float
    heatmap_max_abs: float | None
    heatmap_mean_abs: float | None
    cosine_min: float | None
    cosine_mean: float | None
    auc_keras: float | None
    auc_tflite: float | None
    finite: bool
    failures: list[str]
    tolerances: dict
    per_keypoint: list[dict]
    file: str | None = None
    precision: str | None = None
    seconds: float = 0.0
    #: whether the .tflite's metadata names this Keras file as its source (None: unknown)
    source_model_match: bool | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def auc(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray | None = None) -> float | None:
    """AUC of PCK over 0..30 px (hand3d convention, `handlite.metrics`); None when no
    keypoint is visible."""

    vis = np.ones(np.shape(gt)[:2], bool) if visible is None else np.asarray(visible) > 0
    if not (vis & np.isfinite(np.asarray(gt)).all(axis=-1)).any():
        return None
    return float(keypoint_metrics(pred, gt, visible)["auc"])


def dequantize(values: np.ndarray, scale: float | None, zero_point: int | None) -> np.ndarray:
    """Integer tensor -> float32 ((q - zero_point) * scale); float tensors pass through."""
    values = np.asarray(values)
    if np.issubdtype(values.dtype, np.integer) and not scale:
        raise UsageError("integer outputs need their scale and zero point to dequantise")
    return _dequantize(values, scale, zero_point)


def _resolve_tolerances(tol) -> tuple[Tolerances, str | None]:
    if isinstance(tol, Tolerances):
        return tol, None
    if isinstance(tol, dict):
        return Tolerances(**tol), None
    if isinstance(tol, str):
        # "int8" (a precision) or "224_int8" (a variant name)
        if "_" in tol:
            precision = get_variant(tol).precision
        else:
            precision = tol
        return precision_tolerances(precision), precision
    raise UsageError(f"tolerances must be Tolerances, a dict, a precision or a variant name, "
                     f"got {type(tol).__name__}")


def compare_outputs(reference_heatmaps: np.ndarray, candidate_outputs, tolerances, *,
                    variant: str = "candidate", input_size: int | None = None,
                    stride: int = DEFAULTS.codec.stride,
                    settings: DecodeSettings | None = None,
                    quantization: tuple[float, int] | None = None,
                    ground_truth: np.ndarray | None = None,
                    visible: np.ndarray | None = None) -> ParityResult:
    """Compare a candidate's outputs to the Keras reference heatmaps of the same N inputs.

    reference_heatmaps: (N, H, W, K+1) float from the Keras model.
    candidate_outputs: (N, H, W, K+1) heatmaps (float, or integer with `quantization` =
      (scale, zero_point)), or a dict with "heatmaps", or with "keypoints" (N, K, 2) input px
      [and "scores" (N, K)] for in-graph-decode variants. Those are compared with the codec's
      decode without the low-confidence fallback, which the graph does not have.
    tolerances: a `Tolerances`, its dict, a precision ("int8") or a variant name ("224_int8").
    ground_truth, visible: (N, K, 2) px and (N, K) labels, for AUC of both models.
    """
    tol, precision = _resolve_tolerances(tolerances)
    ref = np.asarray(reference_heatmaps, np.float32)
    if ref.ndim != 4:
        raise UsageError(f"reference heatmaps must be (N, H, W, K+1), got {ref.shape}")
    n, h = ref.shape[0], ref.shape[1]
    size = int(input_size or h * stride)
    settings = settings or DecodeSettings()
    k = ref.shape[-1] - 1

    cand = candidate_outputs
    if isinstance(cand, dict):
        if "heatmaps" in cand:
            cand = cand["heatmaps"]
        elif "keypoints" not in cand:
            raise UsageError("candidate outputs need 'heatmaps' or 'keypoints'")
    kind = "keypoints" if isinstance(cand, dict) else "heatmaps"
    if kind == "heatmaps":
        cand_maps = dequantize(cand, *(quantization or (None, None)))
        if cand_maps.shape != ref.shape:
            raise UsageError(f"candidate heatmaps {cand_maps.shape} do not match the reference "
                             f"{ref.shape}")
        finite = bool(np.isfinite(cand_maps).all())
        codec = HeatmapCodec(size, stride, settings=settings, num_keypoints=k)
        ref_kp, ref_scores = codec.decode(ref)
        cand_kp, _ = codec.decode(cand_maps)
        diff = np.abs(cand_maps.astype(np.float64) - ref)
        hm_max = float(diff.max()) if finite else float("inf")
        hm_mean = float(diff.mean()) if finite else float("inf")
        a = ref.reshape(n, -1).astype(np.float64)
        b = cand_maps.reshape(n, -1).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        cos = np.where(np.isfinite(cos), cos, -1.0)
        cos_min, cos_mean = float(cos.min()), float(cos.mean())
    else:
        cand_kp = np.asarray(cand["keypoints"], np.float32).reshape(n, k, 2)
        scores = cand.get("scores")
        finite = bool(np.isfinite(cand_kp).all() and (
            scores is None or np.isfinite(np.asarray(scores, np.float32)).all()))
        no_fallback = DecodeSettings(**{**settings.to_dict(), "min_confidence": 0.0})
        ref_kp, ref_scores = HeatmapCodec(size, stride, settings=no_fallback,
                                          num_keypoints=k).decode(ref)
        hm_max = hm_mean = cos_min = cos_mean = None

    dist = np.linalg.norm(cand_kp.astype(np.float64) - ref_kp, axis=-1)  # (N, K)
    dist = np.where(np.isfinite(dist), dist, np.inf)
    epe_mean = float(dist.mean())
    epe_p95 = float(np.percentile(dist, 95))
    epe_max = float(dist.max())
    # Where the reference map is flat (occluded or unsure joints) its argmax is decided by
    # noise, and any re-rounding may move it to another, equally weak peak far away. Those
    # jumps are no conversion bug, so the hard max bound is on the confident keypoints;
    # mean, p95 and the AUC against ground truth still see every keypoint.
    confident = ref_scores >= CONFIDENT_SCORE
    epe_max_conf = float(dist[confident].max()) if confident.any() else 0.0
    names = KEYPOINT_NAMES if k == len(KEYPOINT_NAMES) else [f"k{i}" for i in range(k)]
    per_kp = [{"keypoint": names[i], "epe_mean_px": float(dist[:, i].mean()),
               "epe_max_px": float(dist[:, i].max()),
               "confident_fraction": float(confident[:, i].mean())} for i in range(k)]

    auc_ref = auc_cand = None
    if ground_truth is not None:
        gt = np.asarray(ground_truth, np.float32)
        if gt.shape != (n, k, 2):
            raise UsageError(f"ground truth must be ({n}, {k}, 2), got {gt.shape}")
        auc_ref, auc_cand = auc(ref_kp, gt, visible), auc(cand_kp, gt, visible)

    failures: list[str] = []
    if not finite:
        failures.append("outputs contain NaN or Inf")

    def over(name, value, limit):
        if value is not None and not value <= limit:  # NaN fails too
            failures.append(f"{name} {value:.4g} > {limit:.4g}")

    over("keypoint_epe_mean_px", epe_mean, tol.keypoint_epe_mean_px)
    over("keypoint_epe_p95_px", epe_p95, tol.keypoint_epe_p95_px)
    over("keypoint_epe_max_confident_px", epe_max_conf, tol.keypoint_epe_max_px)
    over("heatmap_max_abs", hm_max, tol.heatmap_max_abs)
    over("heatmap_mean_abs", hm_mean, tol.heatmap_mean_abs)
    if cos_min is not None and not cos_min >= tol.cosine_min:
        failures.append(f"cosine_min {cos_min:.6f} < {tol.cosine_min}")
    if auc_ref is not None and auc_cand is not None:
        over("auc_drop", auc_ref - auc_cand, tol.auc_drop_max)

    return ParityResult(
        variant=variant, passed=not failures, samples=int(n), output_kind=kind,
        keypoint_epe_mean_px=epe_mean, keypoint_epe_p95_px=epe_p95,
        keypoint_epe_max_px=epe_max, keypoint_epe_max_confident_px=epe_max_conf,
        confident_fraction=float(confident.mean()), heatmap_max_abs=hm_max, heatmap_mean_abs=hm_mean,
        cosine_min=cos_min, cosine_mean=cos_mean, auc_keras=auc_ref, auc_tflite=auc_cand,
        finite=finite, failures=failures, tolerances=tol.to_dict(), per_keypoint=per_kp,
        precision=precision)


# ---------------------------------------------------------------------------- running models
class ParityCandidate:
    """A .tflite under test: its session and handlite metadata, run through the host runtime's
    input path; outputs come back as float32 (dequantised) by role."""

    def __init__(self, path: str | Path, threads: int = 2):

        self.path = Path(path)
        self.meta = read_metadata(self.path, required=True)
        self.session = TFLiteSession(self.path, threads)
        self._runtime = None

    @property
    def kind(self) -> str:
        return self.meta["output"]["kind"]

    @property
    def variant(self) -> str:
        suffix = "_keypoints" if self.kind == "keypoints" else ""
        return f"{self.meta['variant']}{suffix}"

    @property
    def input_size(self) -> int:
        return int(self.meta["input_size"])

    def check_input(self) -> None:
        """One-line ModelError naming the file and both shapes when the model's input does
        not take the crops its own metadata asks for."""
        want = tuple(int(v) for v in self.session.image_input["shape"])
        got = (1, self.input_size, self.input_size, 3)
        if want != got:
            raise ModelError(f"{self.path}: the model's input shape {want} does not match "
                             f"its metadata (input_size {self.meta.get('input_size')} -> "
                             f"crops {got})")

    @property
    def runtime(self):
        """The host runtime on this session (set up on first use, after `check_input`)."""
        if self._runtime is None:
            from handlite.runtime import HandRuntime

            self.check_input()
            self._runtime = HandRuntime(self.session, allow_nan=True)
        return self._runtime

    def input_tensor(self, image_u8: np.ndarray) -> np.ndarray:
        """What the runtime writes into the input tensor for one (S, S, 3) uint8 crop (its
        whole-image square is the crop itself): a copy, (1, S, S, 3) of the input's dtype."""
        self.runtime.preprocess(image_u8)
        return self.session.input_array().copy()

    def run(self, images_u8: np.ndarray) -> dict[str, np.ndarray]:
        """(N, S, S, 3) uint8 -> {"heatmaps": (N, H, W, K+1)} or {"keypoints", "scores"}."""
        runtime = self.runtime
        collected: dict[str, list] = {}
        for image in images_u8:
            runtime.preprocess(image)
            runtime.invoke()
            for role, value in self.session.read_outputs().items():
                collected.setdefault(role, []).append(value[0])
        return {name: np.stack(v) for name, v in collected.items()}


@dataclass
class ParityReport:
    model: str
    data: str
    results: list[ParityResult] = field(default_factory=list)
    seconds: float = 0.0
    #: variants that could not be evaluated: {"file", "variant", "error"} (one line each)
    errors: list[dict] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.results) and not self.errors and all(r.passed for r in self.results)

    def to_dict(self) -> dict:
        return {"model": self.model, "data": self.data, "passed": self.passed,
                "seconds": round(self.seconds, 3),
                "variants": [r.to_dict() for r in self.results], "errors": list(self.errors)}


def run_parity(model_path: str | Path, tflite_paths: list[str | Path], *, data: str = "synth",
               count: int = 64, threads: int = 2, on_done=None,
               on_error=None, reference: KerasReference | None = None) -> ParityReport:
    """Run the Keras model and each .tflite on the same `count` crops and compare.

    Every file is opened (and its metadata checked) before anything runs, so a bad path is a
    ModelError up front rather than a half-finished report. A variant that then cannot run
    (its input shape disagrees with its metadata, the interpreter fails) is listed in
    `report.errors` with one line naming the file, and the others still run. `reference` may
    pass the Keras side already loaded (its crops and heatmaps are reused).
    """
    if not tflite_paths:
        raise UsageError("give at least one .tflite file")
    if count <= 0:
        raise UsageError(f"count must be positive, got {count}")
    start = time.perf_counter()
    candidates = [ParityCandidate(p, threads) for p in tflite_paths]
    if reference is None:
        reference = KerasReference(path=model_path, data=data)
    reference.load()  # a bad .keras file fails here, before any variant runs
    source_sha = reference.sha256
    report = ParityReport(str(model_path), data)
    for cand in candidates:
        try:
            _evaluate(cand, reference, source_sha, data, count, report, on_done)
        except (HandliteError, ValueError) as exc:
            # one variant that cannot run must not hide the others' results (or the JUnit)
            message = str(exc) if isinstance(exc, HandliteError) else \
                f"{cand.path}: {str(exc).strip().splitlines()[-1] if str(exc) else exc}"
            report.errors.append({"file": str(cand.path), "variant": cand.variant,
                                  "error": message})
            if on_error:
                on_error(report.errors[-1])
    report.seconds = time.perf_counter() - start
    return report


def _evaluate(cand: ParityCandidate, reference: KerasReference, source_sha, data, count,
              report, on_done) -> None:
    meta = cand.meta
    size = cand.input_size
    samples = reference.crops(size, count, data)
    expected = reference.heatmaps(size, count, data)
    t0 = time.perf_counter()
    outputs = cand.run(samples.images)
    result = compare_outputs(
        expected, outputs, meta["precision"], variant=cand.variant, input_size=size,
        stride=int(meta["stride"]), settings=DecodeSettings(**meta["decode"]),
        ground_truth=samples.keypoints, visible=samples.visible)
    result.file = str(cand.path)
    if meta.get("source_model_sha256"):
        result.source_model_match = meta["source_model_sha256"] == source_sha
    result.precision = meta["precision"]
    result.seconds = round(time.perf_counter() - t0, 3)
    report.results.append(result)
    if on_done:
        on_done(result)


# ---------------------------------------------------------------------------- JUnit
def junit_xml(report: ParityReport, suite: str = "handlite.parity") -> str:
    """One <testcase> per variant; failures carry the broken checks, system-out the metrics."""
    import json

    failures = sum(not r.passed for r in report.results)
    errors = len(report.errors)
    tests = len(report.results) + errors
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             f'<testsuites name={quoteattr(suite)} tests="{tests}" '
             f'failures="{failures}" errors="{errors}" time="{report.seconds:.3f}">',
             f'  <testsuite name={quoteattr(suite)} tests="{tests}" '
             f'failures="{failures}" errors="{errors}" skipped="0" '
             f'time="{report.seconds:.3f}">']
    for e in report.errors:
        lines.append(f'    <testcase classname={quoteattr(suite)} name={quoteattr(e["variant"])} '
                     'time="0.000">')
        lines.append(f'      <error message={quoteattr(e["error"])} type="ModelError">'
                     f'{escape(e["error"])}</error>')
        lines.append("    </testcase>")
    for r in report.results:
        lines.append(f'    <testcase classname={quoteattr(suite)} name={quoteattr(r.variant)} '
                     f'time="{r.seconds:.3f}">')
        if not r.passed:
            message = "; ".join(r.failures)
            lines.append(f'      <failure message={quoteattr(message)} type="ParityFailed">'
                         f'{escape(message)}</failure>')
        metrics = {key: value for key, value in r.to_dict().items() if key != "per_keypoint"}
        lines.append(f"      <system-out>{escape(json.dumps(metrics, default=str))}"
                     f"</system-out>")
        lines.append("    </testcase>")
    lines += ["  </testsuite>", "</testsuites>", ""]
    return "\n".join(lines)


def write_junit(report: ParityReport, path: str | Path) -> None:

    atomic_write_bytes(path, junit_xml(report).encode("utf-8"))
