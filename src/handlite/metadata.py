"""Model metadata inside each exported .tflite (`handlite.model/1`, see docs/CONTRACTS.md).

The JSON lives in the TFLite flatbuffer's `metadata` table under the name `handlite`, as UTF-8
in the buffer that entry points at. The exporter writes it; the host runtime, `handlite
inspect` and the Android app read it instead of hard-coding input size, normalisation, stride,
keypoint names or decode settings.

Three verbs: `build_metadata` (a dict that follows the contract), `embed_metadata` (bytes of a
.tflite with the entry added or replaced) and `read_metadata` (the dict back, or None for a
model that has none, e.g. a foreign one).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from handlite import __version__
from handlite.codec import DecodeSettings
from handlite.config import DEFAULTS, Normalization
from handlite.errors import ModelError
from handlite.io import atomic_write_bytes, utc_now
from handlite.keypoints import BONES, KEYPOINT_NAMES, NUM_KEYPOINTS

FORMAT = "handlite.model/1"
METADATA_NAME = "handlite"
TFLITE_IDENTIFIER = b"TFL3"
OUTPUT_KINDS = ("heatmaps", "keypoints")
IO_DTYPES = ("float32", "uint8", "int8")
#: Keys a reader may rely on; `validate_metadata` checks they are present.
REQUIRED_KEYS = ("format", "handlite_version", "variant", "input_size", "precision",
                 "channel_order", "normalization", "input", "output", "stride", "heatmap_size",
                 "num_keypoints", "keypoint_names", "skeleton", "sigma", "decode",
                 "source_model_sha256", "created_utc")


def tensor_spec(name: str, shape, dtype: str, scale: float | None = None,
                zero_point: int | None = None) -> dict:
    """One input/output description; scale/zero point are None for float tensors."""
    return {"name": name, "shape": [int(v) for v in shape], "dtype": dtype,
            "scale": None if scale is None else float(scale),
            "zero_point": None if zero_point is None else int(zero_point)}


def build_metadata(*, variant: str, input_size: int, precision: str, input: dict,
                   output: dict, source_model_sha256: str | None,
                   stride: int = DEFAULTS.codec.stride, sigma: float = DEFAULTS.codec.sigma,
                   decode: DecodeSettings | None = None,
                   normalization: Normalization = DEFAULTS.normalization,
                   created_utc: str | None = None) -> dict:
    """The `handlite.model/1` document for one exported variant.

    `input` is a `tensor_spec` of the image tensor (1, S, S, 3); `output` carries `kind`
    ("heatmaps" or "keypoints") plus dtype/scale/zero point of the (first) output tensor.
    """
    if output.get("kind") not in OUTPUT_KINDS:
        raise ModelError(f"output kind must be one of {OUTPUT_KINDS}, got {output.get('kind')!r}")
    if input_size % stride:
        raise ModelError(f"input size {input_size} is not a multiple of the stride {stride}")
    norm = normalization.to_dict()
    return {
        "format": FORMAT,
        "handlite_version": __version__,
        "variant": variant,
        "input_size": int(input_size),
        "precision": precision,
        "channel_order": norm.pop("channel_order"),
        "normalization": {"mean": list(norm["mean"]), "std": list(norm["std"]),
                          "pad_value": norm["pad_value"]},
        "input": dict(input),
        "output": dict(output),
        "stride": int(stride),
        "heatmap_size": int(input_size) // int(stride),
        "num_keypoints": NUM_KEYPOINTS,
        "keypoint_names": list(KEYPOINT_NAMES),
        "skeleton": [list(bone) for bone in BONES],
        "sigma": float(sigma),
        "decode": (decode or DecodeSettings()).to_dict(),
        "source_model_sha256": source_model_sha256,
        "created_utc": created_utc or utc_now(),
    }


def validate_metadata(meta: Any, where: str = "metadata") -> dict:
    """Check a metadata document enough that readers can trust its fields; returns it."""
    if not isinstance(meta, dict):
        raise ModelError(f"{where}: handlite metadata is not a JSON object")
    if meta.get("format") != FORMAT:
        raise ModelError(f"{where}: unsupported metadata format {meta.get('format')!r} "
                         f"(this handlite reads {FORMAT})")
    missing = [key for key in REQUIRED_KEYS if key not in meta]
    if missing:
        raise ModelError(f"{where}: handlite metadata lacks {', '.join(missing)}")
    if meta["output"].get("kind") not in OUTPUT_KINDS:
        raise ModelError(f"{where}: unknown output kind {meta['output'].get('kind')!r}")
    return meta


def _check_tflite(data: bytes | bytearray | memoryview, where: str) -> None:
    if len(data) < 8 or bytes(data[4:8]) != TFLITE_IDENTIFIER:
        raise ModelError(f"{where} is not a TFLite model (no TFL3 identifier)")


def embed_metadata(tflite: bytes | bytearray, meta: dict, where: str = "model") -> bytearray:
    """Return the .tflite bytes with `meta` stored under `handlite` (an old entry is replaced,
    other metadata entries are kept)."""
    from ai_edge_litert.tools import flatbuffer_utils as fbu

    validate_metadata(meta, where)
    _check_tflite(tflite, where)
    try:
        model = fbu.read_model_from_bytearray(bytearray(tflite))
    except Exception as exc:  # flatbuffers raises assorted types on corrupt input
        raise ModelError(f"{where}: cannot parse the TFLite flatbuffer ({type(exc).__name__})"
                         ) from exc
    payload = json.dumps(meta, sort_keys=False, separators=(",", ":")).encode("utf-8")
    buffer = fbu.BufferT()
    buffer.data = list(payload)
    entries = [m for m in (model.metadata or []) if _name(m.name) != METADATA_NAME]
    model.buffers.append(buffer)
    entry = fbu.schema_fb.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata = entries + [entry]
    # The replaced entry's old buffer stays as an orphan of a few hundred bytes; compacting
    # buffer indices would mean rewriting every tensor that points past it.
    return fbu.convert_object_to_bytearray(model)


def _name(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")


def read_metadata_entries(data: bytes | bytearray | memoryview, where: str = "model"
                          ) -> dict[str, bytes]:
    """All metadata entries of a .tflite as name -> raw bytes (without unpacking weights)."""
    from ai_edge_litert import schema_py_generated as fb

    _check_tflite(data, where)
    buf = bytes(data)
    try:
        model = fb.Model.GetRootAs(buf, 0)
        entries: dict[str, bytes] = {}
        for i in range(model.MetadataLength()):
            entry = model.Metadata(i)
            index = entry.Buffer()
            if index < 0 or index >= model.BuffersLength():
                raise ModelError(f"{where}: metadata entry points at buffer {index}, which "
                                 f"does not exist")
            buffer = model.Buffers(index)
            if buffer.Offset() > 1:  # large models keep buffers after the flatbuffer
                start, size = buffer.Offset(), buffer.Size()
                if start + size > len(buf):
                    raise ModelError(f"{where}: metadata buffer lies past the end of the file")
                raw = buf[start:start + size]
            else:
                raw = buffer.DataAsNumpy().tobytes() if buffer.DataLength() else b""
            entries[_name(entry.Name())] = raw
        return entries
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"{where}: corrupt TFLite flatbuffer ({type(exc).__name__})") from exc


def read_metadata(source: str | Path | bytes | bytearray, *, required: bool = False
                  ) -> dict | None:
    """The handlite metadata of a .tflite (path or bytes), validated; None when absent
    (unless `required`, which raises ModelError)."""
    if isinstance(source, (str, Path)):
        where = str(source)
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise ModelError(f"cannot read {where}: {exc.strerror or exc}") from exc
    else:
        where, data = "model", source
    raw = read_metadata_entries(data, where).get(METADATA_NAME)
    if raw is None:
        if required:
            raise ModelError(f"{where} has no handlite metadata (was it exported by handlite?)")
        return None
    return decode_metadata(raw, where)


def decode_metadata(raw: bytes, where: str = "model") -> dict:
    """The validated document from the raw bytes of a `handlite` metadata entry."""
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{where}: handlite metadata is not valid UTF-8 JSON") from exc
    return validate_metadata(meta, where)


def sniff_metadata(data: bytes | bytearray) -> dict | None:
    """Best effort, never raises: the handlite metadata of .tflite bytes, or None.

    A model the flatbuffer reader accepts is read by `read_metadata` (validated). For bytes
    it refuses (a truncated or hand-made file) the `handlite.model/1` JSON is looked for in
    the raw bytes instead, since the exporter stores it verbatim; such a document is returned
    as found, unvalidated, so that callers take only the fields they need from it.
    """
    try:
        return read_metadata(bytes(data))
    except ModelError:
        return _scan_metadata(bytes(data))


def _scan_metadata(data: bytes) -> dict | None:
    marker = FORMAT.encode("ascii")
    at = data.find(marker)
    if at < 0:
        return None
    decoder = json.JSONDecoder()
    start = at
    for _ in range(64):  # the opening brace is at most a few fields before the format key
        start = data.rfind(b"{", max(0, at - 65536), start)
        if start < 0:
            return None
        try:
            obj, _end = decoder.raw_decode(data[start:].decode("utf-8", errors="replace"))
        except ValueError:
            continue
        if isinstance(obj, dict) and obj.get("format") == FORMAT:
            return obj
    return None


def write_metadata(path: str | Path, meta: dict) -> None:
    """Store `meta` inside the .tflite at `path` (rewritten atomically)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc.strerror or exc}") from exc
    atomic_write_bytes(path, embed_metadata(data, meta, str(path)))
