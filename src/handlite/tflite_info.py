"""What is inside a .tflite: size, hash, I/O tensors, ops, parameters, MACs, metadata, GPU fit.

Works on any TFLite flatbuffer, not only handlite's. (Named `tflite_info` so that
`handlite.inspect` never shadows the standard library's `inspect`.)

- parameters: elements of every constant tensor (tensors backed by a non-empty buffer);
- MACs: multiply-accumulates of CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED and
  TRANSPOSE_CONV, computed from their tensor shapes;
- GPU delegate: our own rules, not `tf.lite.experimental.Analyzer(gpu_compatibility=True)`.
  With TensorFlow 2.21 that analyzer printed "Your model looks compatible with GPU delegate"
  for a graph with TOPK_V2 and an int64 ARG_MAX, which the GPU delegate rejects, so
  its verdict cannot be trusted. The rules: the op must be one the GPU delegate has a parser
  for (`GPU_OPS`, from its op table in tensorflow/lite/delegates/gpu/common/model_builder.cc),
  and no non-constant tensor it touches may be of a type the GPU does not compute in
  (int64, bool, string, complex). They are a screen, not a guarantee: ops with unsupported
  attributes still fall back at run time; `handlite bench --delegate gpu` on a phone decides.
A file that is not a readable TFLite model raises ModelError (one line, exit 2).
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from handlite.errors import ModelError
from handlite.io import quiet
from handlite.metadata import METADATA_NAME, TFLITE_IDENTIFIER, decode_metadata, \
    read_metadata_entries

#: Builtin ops the TFLite GPU delegate can take (its operation parser table).
GPU_OPS = frozenset({
    "ABS", "ADD", "ADD_N", "AVERAGE_POOL_2D", "BATCH_MATMUL", "CAST", "CONCATENATION",
    "CONV_2D", "COS", "CUMSUM", "DENSIFY", "DEPTHWISE_CONV_2D", "DEPTH_TO_SPACE", "DEQUANTIZE", "DIV",
    "ELU", "EQUAL", "EXP", "FLOOR", "FLOOR_DIV", "FLOOR_MOD", "FULLY_CONNECTED", "GATHER",
    "GREATER", "GREATER_EQUAL", "HARD_SWISH", "LEAKY_RELU", "LESS", "LESS_EQUAL", "LOG",
    "LOGISTIC", "LSTM", "MAXIMUM", "MAX_POOL_2D", "MEAN", "MINIMUM", "MIRROR_PAD", "MUL",
    "NEG", "NOT_EQUAL", "ONE_HOT", "PACK", "PAD", "PADV2", "POW", "PRELU", "QUANTIZE",
    "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD", "RELU", "RELU6", "RELU_N1_TO_1", "RESHAPE",
    "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "RSQRT", "SELECT_V2", "SIGN", "SIN",
    "SLICE", "SOFTMAX", "SPACE_TO_DEPTH", "SPLIT", "SPLIT_V", "SQRT", "SQUARE",
    "SQUARED_DIFFERENCE", "STRIDED_SLICE", "SUB", "SUM", "TANH", "TILE", "TRANSPOSE",
    "TRANSPOSE_CONV",
})
#: Custom ops the GPU delegate knows (MediaPipe's).
GPU_CUSTOM_OPS = frozenset({"Convolution2DTransposeBias", "MaxPoolingWithArgmax2D",
                            "MaxUnpooling2D", "Resampler"})
_GPU_BAD_TYPES = {"INT64", "BOOL", "STRING", "COMPLEX64", "COMPLEX128", "UINT64"}


@dataclass
class TensorInfo:
    name: str
    shape: list[int]
    dtype: str
    scale: float | list[float] | None
    zero_point: int | list[int] | None


@dataclass
class ModelInfo:
    path: str
    bytes: int
    sha256: str
    subgraphs: int
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    ops: dict[str, int]
    op_count: int
    parameters: int
    macs: int
    metadata: dict | None
    metadata_names: list[str]
    gpu_unsupported: list[dict] = field(default_factory=list)
    gpu_rules: str = "handlite rules (GPU_OPS + tensor types); see handlite.tflite_info"

    def to_dict(self) -> dict:
        return asdict(self)


def _type_names() -> dict[int, str]:
    from ai_edge_litert import schema_py_generated as fb
    return {v: k for k, v in vars(fb.TensorType).items() if not k.startswith("_")}


def _op_names() -> dict[int, str]:
    from ai_edge_litert import schema_py_generated as fb
    return {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")


def _quant(q, dtype: str):
    """(scale, zero point) of a tensor: scalars for per-tensor, lists for per-channel."""
    if q is None or q.scale is None or len(q.scale) == 0 or dtype.startswith("FLOAT"):
        return None, None
    scale = [float(s) for s in np.asarray(q.scale).ravel()]
    zero = [int(z) for z in np.asarray(q.zeroPoint).ravel()] if q.zeroPoint is not None else [0]
    if len(scale) == 1:
        return scale[0], zero[0]
    return scale, zero


def _op_macs(name: str, op, tensors) -> int:
    def shape(i):
        return [int(v) for v in tensors[i].shape] if 0 <= i < len(tensors) and \
            tensors[i].shape is not None else []

    ins, outs = list(op.inputs), list(op.outputs)
    if not outs:
        return 0
    out = shape(outs[0])
    if name == "CONV_2D" and len(ins) >= 2:
        w = shape(ins[1])  # (Cout, kh, kw, Cin / groups)
        if len(w) == 4 and len(out) == 4:
            return math.prod(out) * w[1] * w[2] * w[3]
    elif name == "DEPTHWISE_CONV_2D" and len(ins) >= 2:
        w = shape(ins[1])  # (1, kh, kw, C * multiplier)
        if len(w) == 4 and len(out) == 4:
            return math.prod(out) * w[1] * w[2]
    elif name == "FULLY_CONNECTED" and len(ins) >= 2:
        w = shape(ins[1])  # (units, depth)
        if len(w) == 2:
            rows = math.prod(out) // max(w[0], 1)
            return rows * w[0] * w[1]
    elif name == "TRANSPOSE_CONV" and len(ins) >= 3:
        w, x = shape(ins[1]), shape(ins[2])  # weights (Cout, kh, kw, Cin), input (N, h, w, Cin)
        if len(w) == 4 and len(x) == 4:
            # every input pixel scatters a kh x kw x Cout patch
            return math.prod(x) * w[0] * w[1] * w[2]
    return 0


def read_bytes(path: str | Path) -> bytes:
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: no such file")
    if path.is_dir():
        raise ModelError(f"{path} is a folder, not a .tflite file")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc.strerror or exc}") from None


def inspect_tflite(path: str | Path) -> ModelInfo:
    """Everything `handlite inspect` reports about one .tflite file."""
    from ai_edge_litert.tools import flatbuffer_utils as fbu

    data = read_bytes(path)
    where = str(path)
    if len(data) < 8 or data[4:8] != TFLITE_IDENTIFIER:
        raise ModelError(f"{where} is not a TFLite model (no TFL3 identifier)")
    try:
        model = fbu.read_model_from_bytearray(bytearray(data))
        if not model.subgraphs:
            raise ValueError("no subgraphs")
    except Exception as exc:
        raise ModelError(f"{where}: corrupt or truncated TFLite flatbuffer "
                         f"({type(exc).__name__})") from None
    # The flatbuffer parser is lenient: a truncated file can still unpack. The interpreter
    # checks offsets and builds every op, so it is the arbiter of "readable".
    _check_loads(data, where)

    types, op_names = _type_names(), _op_names()
    graph = model.subgraphs[0]
    tensors = graph.tensors or []

    def info(i) -> TensorInfo:
        t = tensors[i]
        dtype = types.get(t.type, str(t.type))
        scale, zero = _quant(t.quantization, dtype)
        return TensorInfo(_text(t.name), [int(v) for v in (t.shape if t.shape is not None
                                                           else [])],
                          dtype.lower(), scale, zero)

    ops: Counter[str] = Counter()
    macs = params = 0
    gpu: dict[str, dict] = {}
    codes = model.operatorCodes or []
    for sg in model.subgraphs:
        sg_tensors = sg.tensors or []
        for op in sg.operators or []:
            code = codes[op.opcodeIndex]
            builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
            name = op_names.get(builtin, f"BUILTIN_{builtin}")
            if name == "CUSTOM":
                name = f"CUSTOM:{_text(code.customCode)}"
            ops[name] += 1
            macs += _op_macs(name, op, sg_tensors)
            reason = _gpu_reason(name, op, sg_tensors, model.buffers, types)
            if reason:
                entry = gpu.setdefault(name, {"op": name, "count": 0, "reason": reason})
                entry["count"] += 1
        for t in sg_tensors:
            buf = model.buffers[t.buffer] if 0 < t.buffer < len(model.buffers) else None
            if buf is not None and buf.data is not None and len(buf.data) and t.shape is not None:
                params += int(math.prod(int(v) for v in t.shape))

    entries = read_metadata_entries(data, where)
    meta = decode_metadata(entries[METADATA_NAME], where) if METADATA_NAME in entries else None
    return ModelInfo(
        path=where, bytes=len(data), sha256=hashlib.sha256(data).hexdigest(),
        subgraphs=len(model.subgraphs),
        inputs=[info(i) for i in graph.inputs], outputs=[info(i) for i in graph.outputs],
        ops=dict(ops.most_common()), op_count=sum(ops.values()), parameters=params,
        macs=macs, metadata=meta, metadata_names=sorted(entries),
        gpu_unsupported=sorted(gpu.values(), key=lambda e: e["op"]))


def _gpu_reason(name, op, tensors, buffers, types) -> str | None:
    if name.startswith("CUSTOM:"):
        return None if name[7:] in GPU_CUSTOM_OPS else "custom op unknown to the GPU delegate"
    if name not in GPU_OPS:
        return "no GPU delegate kernel"
    for i in list(op.inputs) + list(op.outputs):
        if i < 0 or i >= len(tensors):
            continue
        t = tensors[i]
        constant = 0 < t.buffer < len(buffers) and buffers[t.buffer].data is not None and \
            len(buffers[t.buffer].data) > 0
        dtype = types.get(t.type, "")
        if not constant and dtype in _GPU_BAD_TYPES:
            return f"{dtype.lower()} tensor"
    return None


def _check_loads(data: bytes, where: str) -> None:
    from ai_edge_litert.interpreter import Interpreter

    try:
        # LiteRT prints "INFO: Created TensorFlow Lite XNNPACK delegate" to fd 2 for every
        # interpreter; keep it out of the one-line-per-result output (HANDLITE_DEBUG shows it)
        with quiet((2,)):
            Interpreter(model_content=data).allocate_tensors()
    except Exception as exc:
        lines = [line for line in str(exc).strip().splitlines() if line.strip()]
        detail = lines[-1][:200] if lines else type(exc).__name__
        raise ModelError(f"{where}: the LiteRT interpreter cannot load it ({detail})") from None
