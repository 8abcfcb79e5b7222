"""Keras -> TFLite variants (float32, float16, dynamic-range, full-int8 at each size) + metadata.

Shapes: image (1, S, S, 3) float32 normalised RGB (or uint8/int8 for int8 with quantised
I/O); heatmaps (1, S/4, S/4, K+1), background last; with `decode="keypoints"` the graph also
decodes and outputs keypoints (1, K, 2) in input px and scores (1, K).

The variant matrix and converter settings come from `handlite/recipes/variants.toml` via
`handlite.variants`. Each variant: rebuild the network at its size (it is fully convolutional)
and copy the weights, trace one concrete function with a fixed batch of 1, convert, embed the
`handlite.model/1` metadata, write atomically, then load the result in the LiteRT interpreter
to read back its I/O specs. `manifest.json` lists every file with sha256, bytes, specs and
conversion seconds. A variant that fails is reported in one line (ExportError) and the others
still run.
"""

from __future__ import annotations

import contextlib
import io as _io
import json
import logging
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from handlite.codec import DecodeSettings, decode_graph  # decode_graph: re-exported
from handlite.config import DEFAULTS, Normalization
from handlite.errors import ExportError, HandliteError, ModelError, UsageError
from handlite.io import atomic_write_bytes, debug_enabled, redirect_fds, sha256_file, utc_now
from handlite.metadata import build_metadata, embed_metadata, tensor_spec
from handlite.reference import KerasReference
from handlite.tflite_session import TFLiteSession, output_role
from handlite.variants import IO_TYPES, Precision, Variant, get_precision, select

DECODE_KINDS = ("heatmaps", "keypoints")
MANIFEST = "manifest.json"
MANIFEST_FORMAT = "handlite.export/1"


@dataclass
class VariantResult:
    """What one variant's export produced (or why it did not)."""

    variant: str
    size: int
    precision: str
    file: str | None = None
    ok: bool = False
    error: str | None = None
    seconds: float = 0.0
    bytes: int | None = None
    sha256: str | None = None
    decode: str = "heatmaps"
    io: str = "float32"
    inputs: list[dict] = field(default_factory=list)
    outputs: list[dict] = field(default_factory=list)
    calibration: dict | None = None
    source: str | None = None  # the .keras file this size's variants came from
    source_sha256: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ExportReport:
    source: str
    source_sha256: str
    out_dir: str
    manifest: str
    results: list[VariantResult]
    seconds: float
    warnings: list[str] = field(default_factory=list)
    sources: dict[int, str] = field(default_factory=dict)  # size -> .keras file

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def to_dict(self) -> dict:
        return {"source": self.source, "source_sha256": self.source_sha256,
                "out_dir": self.out_dir, "manifest": self.manifest, "ok": self.ok,
                "seconds": round(self.seconds, 3), "warnings": list(self.warnings),
                "sources": {str(k): v for k, v in sorted(self.sources.items())},
                "variants": [r.to_dict() for r in self.results]}


def variant_filename(variant: Variant, decode: str = "heatmaps") -> str:
    """handlite_{size}_{precision}.tflite; the in-graph-decode flavour gets `_keypoints`."""
    suffix = "" if decode == "heatmaps" else "_keypoints"
    return f"handlite_{variant.name}{suffix}.tflite"


@contextlib.contextmanager
def _quiet_converter():
    """Keep the converter's chatter off the terminal and out of `--json` stdout: its C++ side
    writes to fd 1 and fd 2 ("fully_quantize: 0, inference_type: 6 ..."), absl logs that
    the fast path is "deprecated" (chosen on purpose, see `convert`), and the calibrator
    warns about its own statistics. Errors still arrive as exceptions. HANDLITE_DEBUG shows
    everything (on stderr)."""
    if debug_enabled():
        with redirect_fds((1,), to=2):
            yield
        return
    absl = logging.getLogger("absl")
    level = absl.level
    absl.setLevel(logging.ERROR)
    try:
        with redirect_fds((1, 2)), contextlib.redirect_stdout(_io.StringIO()), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        absl.setLevel(level)


# ---------------------------------------------------------------------------- one variant
def _concrete_function(model, size: int):
    import tensorflow as tf

    spec = tf.TensorSpec([1, size, size, 3], tf.float32, name="image")
    fn = tf.function(lambda image: model(image, training=False), input_signature=[spec])
    return fn.get_concrete_function()


def _decode_tflite(shape, stride: int, settings: DecodeSettings) -> bytes:
    """The decode alone as a float32 TFLite graph: (1, H, W, K+1) maps -> keypoints, scores."""
    import tensorflow as tf

    def both(heatmaps):
        keypoints, scores = decode_graph(heatmaps, stride, settings)
        return {"keypoints": keypoints, "scores": scores}

    spec = tf.TensorSpec([1, *shape], tf.float32, name="heatmaps")
    fn = tf.function(both, input_signature=[spec]).get_concrete_function()
    with _quiet_converter():
        converter = tf.lite.TFLiteConverter.from_concrete_functions([fn])
        return bytes(converter.convert())


def stitch(network: bytes, decoder: bytes) -> bytes:
    """One TFLite graph: `network`'s (float32) heatmap output feeds `decoder`'s input.

    Converting the decode apart and splicing it on keeps it float32 whatever the network's
    precision: converted in one piece, full-int8 quantises parts of the decode too (LOG,
    GATHER, the DARK arithmetic) and the sub-pixel refinement drowns in rounding.
    """
    from ai_edge_litert.tools import flatbuffer_utils as fbu

    a = fbu.read_model_from_bytearray(bytearray(network))
    b = fbu.read_model_from_bytearray(bytearray(decoder))
    if len(a.subgraphs) != 1 or len(b.subgraphs) != 1:
        raise ExportError("cannot splice the decode onto a multi-subgraph model")
    ga, gb = a.subgraphs[0], b.subgraphs[0]
    (a_out,) = ga.outputs
    (b_in,) = gb.inputs
    if a.buffers is None or b.buffers is None:
        raise ExportError("cannot splice the decode: a graph without buffers")
    # buffer 0 is the shared empty sentinel; every other buffer of b moves behind a's
    buffer_map = {0: 0}
    for i, buf in enumerate(b.buffers):
        if i:
            buffer_map[i] = len(a.buffers)
            a.buffers.append(buf)
    codes = {}
    for i, code in enumerate(a.operatorCodes):
        codes.setdefault((code.builtinCode, code.deprecatedBuiltinCode, code.customCode,
                          code.version), i)
    code_map = {}
    for i, code in enumerate(b.operatorCodes):
        key = (code.builtinCode, code.deprecatedBuiltinCode, code.customCode, code.version)
        if key not in codes:
            codes[key] = len(a.operatorCodes)
            a.operatorCodes.append(code)
        code_map[i] = codes[key]
    offset = len(ga.tensors)

    def tensor(i):
        return a_out if i == b_in else (i if i < 0 else i + offset)  # -1: optional input

    for t in gb.tensors:
        t.buffer = buffer_map[t.buffer]
        ga.tensors.append(t)
    for op in gb.operators:
        op.opcodeIndex = code_map[op.opcodeIndex]
        op.inputs = [tensor(i) for i in op.inputs]
        op.outputs = [tensor(i) for i in op.outputs]
        if op.intermediates:
            op.intermediates = [tensor(i) for i in op.intermediates]
        ga.operators.append(op)
    ga.outputs = [tensor(i) for i in gb.outputs]
    # the signature still names the old output tensor; the runtime reads input/output
    # details, which the subgraph defines
    a.signatureDefs = []
    return bytes(fbu.convert_object_to_bytearray(a))


def pin_input_quantization(tflite: bytes, io: str,
                           norm: Normalization = DEFAULTS.normalization) -> bytes:
    """Give an int8/uint8 image input the quantisation that holds every pixel exactly.

    The converter picks the input's scale and zero point from the calibration crops' range,
    which rounds pixels together (and clamps ones darker or brighter than any calibration
    pixel). With an integer mean m and one std s for all channels, scale 1/s and zero point
    m - 128 (int8) or m (uint8) represent (p - m) / s for every p in 0..255 exactly: the tensor
    holds p - 128 (int8) or p itself (uint8). The first op reads the input's scale and zero
    point when it is prepared, so this changes no other tensor. A normalisation that cannot
    be pinned this way leaves the converter's choice.
    """
    from ai_edge_litert.tools import flatbuffer_utils as fbu

    means, stds = set(norm.mean), set(norm.std)
    if len(means) != 1 or len(stds) != 1:
        return tflite
    mean, std = float(next(iter(means))), float(next(iter(stds)))
    if mean != round(mean) or std <= 0 or io not in ("int8", "uint8"):
        return tflite
    zero_point = int(mean) - 128 if io == "int8" else int(mean)
    lo, hi = (-128, 127) if io == "int8" else (0, 255)
    if not lo <= zero_point <= hi:
        return tflite
    model = fbu.read_model_from_bytearray(bytearray(tflite))
    graph = model.subgraphs[0]
    (index,) = graph.inputs
    q = graph.tensors[index].quantization
    if q is None or q.scale is None or len(q.scale) != 1:
        raise ExportError("int8 export: the image input has no per-tensor quantisation")
    q.scale = np.array([1.0 / std], np.float32)
    q.zeroPoint = np.array([zero_point], np.int64)
    return bytes(fbu.convert_object_to_bytearray(model))


def make_converter(model, variant: Variant, recipe: Precision, calibration=None):
    """The TFLite converter for `model` (already at `variant.size`) set up as `recipe` says
    (optimisation, float16 weights, int8 calibration on `calibration` crops and int8 ops),
    with float I/O: `convert` sets the int8 I/O types, `benchmarks/int8_layer_error.py`
    hands it to TFLite's QuantizationDebugger."""
    import tensorflow as tf

    fn = _concrete_function(model, variant.size)
    # Without a trackable object the converter freezes the variables into constants; with one
    # it goes through a SavedModel, which took ~6x longer here (14 s vs 2.3 s at 224) for the
    # same flatbuffer. TF 2.21 calls this path deprecated; it is the one that scales.
    with _quiet_converter():
        converter = tf.lite.TFLiteConverter.from_concrete_functions([fn])
    if recipe.optimize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if recipe.weights == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if recipe.representative:
        if calibration is None or len(calibration) == 0:
            raise ExportError(f"{variant.name}: int8 needs calibration samples")
        data = np.asarray(calibration, np.float32)

        def representative():
            for i in range(len(data)):
                yield [data[i:i + 1]]

        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter


def convert(model, variant: Variant, *, io: str | None = None, decode: str = "heatmaps",
            calibration: np.ndarray | None = None, stride: int = DEFAULTS.codec.stride,
            settings: DecodeSettings | None = None, recipe: Precision | None = None) -> bytes:
    """The .tflite bytes of `model` (already at `variant.size`) in `variant.precision`.

    `calibration` (N, S, S, 3) float32 normalised crops is required for int8. `io` sets int8's
    input/output tensor types (other precisions are float32 only). The keypoints flavour keeps
    float32 outputs: int8 keypoints would round away the sub-pixel refinement. `recipe` is the
    variant's precision recipe (looked up when not given).
    """
    import tensorflow as tf

    recipe = recipe or get_precision(variant.precision)
    io = io or recipe.io
    if io not in IO_TYPES:
        raise UsageError(f"unknown I/O type {io!r}; choose from {', '.join(IO_TYPES)}")
    if io != "float32" and variant.precision != "int8":
        raise UsageError(f"--io {io} needs int8 precision ({variant.name} has float inputs)")
    if decode not in DECODE_KINDS:
        raise UsageError(f"unknown decode {decode!r}; choose from {', '.join(DECODE_KINDS)}")
    settings = settings or DecodeSettings()
    converter = make_converter(model, variant, recipe, calibration)
    if recipe.representative:
        tf_type = {"float32": tf.float32, "uint8": tf.uint8, "int8": tf.int8}[io]
        converter.inference_input_type = tf_type
        converter.inference_output_type = tf_type if decode == "heatmaps" else tf.float32
    with _quiet_converter():
        network = bytes(converter.convert())
    if recipe.representative:  # float I/O is left as it is
        network = pin_input_quantization(network, io)
    if decode == "heatmaps":
        return network
    return stitch(network, _decode_tflite(model.output_shape[1:], stride, settings))


def _specs(tflite: bytes) -> tuple[list[dict], list[dict]]:
    """Input and output tensor specs, read by loading the model in the LiteRT interpreter
    (outputs named by role, `tflite_session.output_role`)."""
    session = TFLiteSession(tflite, threads=None)

    def spec(detail, name):
        scale, zero = detail["quantization"]
        quantised = detail["dtype"] in (np.uint8, np.int8) and scale != 0
        return tensor_spec(name, detail["shape"], np.dtype(detail["dtype"]).name,
                           scale if quantised else None, zero if quantised else None)

    inputs = [spec(d, "image") for d in session.inputs]
    outputs = [spec(d, output_role(d["shape"], d["name"])) for d in session.outputs]
    return inputs, outputs


def export_variant(model, variant: Variant, out_dir: Path, *, source_sha256: str,
                   io: str | None = None, decode: str = "heatmaps",
                   calibration: np.ndarray | None = None, calibration_info: dict | None = None,
                   settings: DecodeSettings | None = None,
                   recipe: Precision | None = None) -> VariantResult:
    """Convert, embed metadata, write atomically, read back specs. Never raises for a
    conversion failure: the result carries a one-line error instead. `recipe`: the variant's
    precision recipe (looked up when not given)."""
    recipe = recipe or get_precision(variant.precision)
    io = io if variant.precision == "int8" and io else recipe.io
    result = VariantResult(variant.name, variant.size, variant.precision, decode=decode, io=io,
                           calibration=calibration_info if recipe.representative else None)
    path = out_dir / variant_filename(variant, decode)
    start = time.perf_counter()
    try:
        stride = variant.size // int(model.output_shape[1])
        data = convert(model, variant, io=io, decode=decode, calibration=calibration,
                       stride=stride, settings=settings, recipe=recipe)
        inputs, outputs = _specs(data)
        out0 = outputs[0]
        meta = build_metadata(
            variant=variant.name, input_size=variant.size, precision=variant.precision,
            input=inputs[0], source_model_sha256=source_sha256, stride=stride,
            decode=settings,
            output={"kind": decode, "dtype": out0["dtype"], "scale": out0["scale"],
                    "zero_point": out0["zero_point"],
                    "tensors": [{"name": o["name"], "shape": o["shape"]} for o in outputs]})
        data = bytes(embed_metadata(data, meta, path.name))
        atomic_write_bytes(path, data)
    except UsageError:
        raise
    except HandliteError as exc:
        result.error = str(exc)
    except Exception as exc:  # the converter raises many types; one line for the user
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
        result.error = f"{variant.name}: conversion failed: {type(exc).__name__}: {first[:300]}"
    result.seconds = round(time.perf_counter() - start, 3)
    if result.error is None:
        result.ok = True
        result.file = path.name
        result.bytes = path.stat().st_size
        result.sha256 = sha256_file(path)
        result.inputs, result.outputs = inputs, outputs
    return result


# ---------------------------------------------------------------------------- which model per size
def saved_input_size(path: str | Path) -> int:
    """The input size a .keras file was saved at (= trained at: `handlite train --size`), read
    from its config.json without loading the weights; ModelError when it cannot be read."""
    import zipfile


    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    try:
        with zipfile.ZipFile(path) as zf:
            config = json.loads(zf.read("config.json"))
        layers = config["config"]["layers"]
        shape = next(layer["config"]["batch_shape"] for layer in layers
                     if layer["class_name"] == "InputLayer")
        size = int(shape[1])
    except (OSError, KeyError, TypeError, ValueError, StopIteration, zipfile.BadZipFile) as exc:
        raise ModelError(f"{path}: cannot read its input size from the .keras config "
                         f"({type(exc).__name__}: {exc})") from None
    return size


def models_for_sizes(models, sizes, trained: dict | None = None
                     ) -> tuple[dict[int, Path], list[str]]:
    """(size -> the model to build that size's variants from, warning lines).

    A network does well only near the input size it was trained at (models/MODEL_CARD.md: the
    224 model rebuilt at 112 scores AUC 0.35 where the 112 model scores 0.57), so each size
    takes the first given model trained at it; a size no model was trained at takes the model
    trained nearest to it and a warning names it. `trained` may give known sizes (path ->
    size) instead of reading the files. Used by `handlite export` and `handlite demo`.
    """
    paths = [Path(m) for m in models]
    if not paths:
        raise UsageError("no model given")
    trained = dict(trained or {})
    at = {p: int(trained[p]) if p in trained else saved_input_size(p) for p in paths}
    chosen: dict[int, Path] = {}
    lacking: dict[Path, list[int]] = {}
    for size in sorted(set(int(s) for s in sizes)):
        exact = [p for p in paths if at[p] == size]
        if exact:
            chosen[size] = exact[0]
        else:
            best = min(paths, key=lambda p: abs(at[p] - size))  # first of the nearest
            chosen[size] = best
            lacking.setdefault(best, []).append(size)
    notes = [f"{p} was trained at {at[p]} px, not at {', '.join(map(str, s))}: those variants "
             f"are rebuilt from it and may score lower (give a model trained at "
             f"{' and '.join(map(str, s))} too)" for p, s in lacking.items()]
    return chosen, notes


# ---------------------------------------------------------------------------- the matrix
def _write_manifest(out_dir: Path, report: ExportReport) -> None:
    """Merge this run into out_dir/manifest.json (variants exported earlier stay listed)."""
    path = out_dir / MANIFEST
    entries: dict[str, dict] = {}
    if path.is_file():
        try:
            old = json.loads(path.read_text())
            if old.get("format") == MANIFEST_FORMAT:
                entries = {e["file"]: e for e in old.get("variants", []) if "file" in e}
        except (OSError, ValueError, TypeError, KeyError):
            entries = {}  # an unreadable old manifest is replaced, not trusted
    for r in report.results:
        if r.ok:
            entries[r.file] = {
                "variant": r.variant, "file": r.file, "size": r.size,
                "precision": r.precision, "decode": r.decode, "io": r.io,
                "sha256": r.sha256, "bytes": r.bytes, "inputs": r.inputs,
                "outputs": r.outputs, "conversion_seconds": r.seconds,
                "calibration": r.calibration,
                "source_model": r.source or report.source,
                "source_model_sha256": r.source_sha256 or report.source_sha256,
                "created_utc": utc_now()}
    doc = {"format": MANIFEST_FORMAT, "source": report.source,
           "source_sha256": report.source_sha256,
           "variants": sorted(entries.values(), key=lambda e: e["file"])}
    atomic_write_bytes(path, (json.dumps(doc, indent=2) + "\n").encode())


def export(model_path, out_dir: str | Path, *, sizes: list[int] | None = None,
           precisions: list[str] | None = None, calibration: str = "synth",
           calibration_count: int = 200, io: str | None = None, decode: str = "heatmaps",
           on_start: Callable[[Variant], None] | None = None,
           on_done: Callable[[VariantResult], None] | None = None,
           warn: Callable[[str], None] | None = None, model=None,
           reference: KerasReference | None = None) -> ExportReport:
    """Export the chosen variants (default: the whole recipe matrix) of saved .keras models.

    `model_path` is one .keras file or a list of them: each size's variants are built from the
    model trained at that size (`models_for_sizes`; a size none was trained at gets a warning).
    `model` may pass an already loaded Keras network for a single `model_path` (tests,
    benchmarks); the file is then still hashed for the metadata. `reference` may pass a
    `KerasReference` of that single model instead (its rebuilt networks and crops are reused).
    Returns an ExportReport; failed variants have `ok` False.
    """

    if decode not in DECODE_KINDS:
        raise UsageError(f"unknown decode {decode!r}; choose from {', '.join(DECODE_KINDS)}")
    if io is not None and io not in IO_TYPES:
        raise UsageError(f"unknown I/O type {io!r}; choose from {', '.join(IO_TYPES)}")
    chosen = select(sizes, precisions)
    if io not in (None, "float32") and not any(v.precision == "int8" for v in chosen):
        raise UsageError(f"--io {io} applies to int8 variants only; none was chosen")
    if calibration_count <= 0:
        raise UsageError(f"calibration count must be positive, got {calibration_count}")
    paths = ([Path(p) for p in model_path] if isinstance(model_path, (list, tuple))
             else [Path(model_path)])
    if reference is not None and model is None:
        model = reference.keras
    if model is not None and len(paths) != 1:
        raise UsageError("a loaded model goes with exactly one model path")
    # each precision recipe looked up once, passed down to the conversion
    recipe_of = {p: get_precision(p) for p in dict.fromkeys(v.precision for v in chosen)}
    start = time.perf_counter()
    known = {paths[0]: int(model.input_shape[1])} if model is not None else None
    sources, choice_notes = models_for_sizes(paths, [v.size for v in chosen], known)
    refs: dict[Path, KerasReference] = {}
    if model is not None:
        refs[paths[0]] = reference or KerasReference(model, path=paths[0], data=calibration)
    shas = {}
    for path in dict.fromkeys(sources.values()):
        if path not in refs:
            refs[path] = KerasReference(path=path, data=calibration)
        refs[path].load()  # every source loads before any conversion
        shas[path] = refs[path].sha256 or sha256_file(path)
    used = list(shas)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create output folder {out}: {exc.strerror or exc}") from None
    notes: list[str] = list(choice_notes)
    if warn:
        for msg in choice_notes:
            warn(msg)
    report = ExportReport(", ".join(map(str, used)), ", ".join(shas[p] for p in used),
                          str(out), str(out / MANIFEST), [], 0.0, notes,
                          {size: str(path) for size, path in sources.items()})
    by_size: dict[int, list[Variant]] = {}
    for v in chosen:
        by_size.setdefault(v.size, []).append(v)
    for size, group in by_size.items():
        src = sources[size]
        source_sha, ref = shas[src], refs[src]
        net = ref.net(size)
        calib = calib_info = None
        needs = [v for v in group if recipe_of[v.precision].representative]
        if needs:
            minimum = max(recipe_of[v.precision].min_calibration for v in needs)
            calib = ref.inputs(size, calibration_count, calibration)
            calib_info = {"source": calibration, "count": len(calib)}
            if len(calib) < minimum:
                msg = (f"calibrating {size} px int8 on {len(calib)} samples (< {minimum}): "
                       f"activation ranges may be poorly estimated")
                notes.append(msg)
                if warn:
                    warn(msg)
        for v in group:
            if on_start:
                on_start(v)
            result = export_variant(net, v, out, source_sha256=source_sha, io=io,
                                    decode=decode, calibration=calib,
                                    calibration_info=calib_info,
                                    recipe=recipe_of[v.precision])
            result.source, result.source_sha256 = str(src), source_sha
            report.results.append(result)
            if on_done:
                on_done(result)
    report.seconds = time.perf_counter() - start
    _write_manifest(out, report)
    return report
