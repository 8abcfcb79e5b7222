"""One loaded .tflite in the LiteRT interpreter: tensors by role, (de)quantisation, invoke.

Everything in handlite that runs a TFLite model goes through `TFLiteSession`: the host runtime
(`runtime.HandRuntime`), parity, on-device parity's input and output handling, export's
post-conversion read-back and the stand-in `benchmark_model`. So there is one place that
- loads a model (a file that is no TFLite model, or one LiteRT refuses, is one ModelError line),
- names tensors by role: the image input, and outputs as "heatmaps" (rank 4, (1, H, W, K+1)),
  "keypoints" (rank 3, (1, K, 2)) or "scores" (rank 2, (1, K)) — `output_role`,
- quantises and dequantises with the tensor's own quantisation parameters: q = round(v /
  scale) + zero_point, rounded half away from zero as TFLite's QUANTIZE does, clamped to the
  type's range; v = (q - zero_point) * scale in float32.

Shapes keep the batch dimension of 1 that handlite's exports have.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from handlite.errors import ModelError
from handlite.io import quiet as io_quiet
from handlite import _quiet

#: output role by tensor rank (batch dimension included)
_ROLE_BY_RANK = {4: "heatmaps", 3: "keypoints", 2: "scores"}
ROLES = tuple(_ROLE_BY_RANK.values())


def output_role(shape, name: str | None = None) -> str | None:
    """The role of an output tensor of `shape` (batch included): "heatmaps", "keypoints",
    "scores"; other ranks have none and keep `name` (None when not given)."""
    return _ROLE_BY_RANK.get(len(tuple(shape)), name)


def dtype_name(dtype) -> str:
    return np.dtype(dtype).name


def is_quantized(detail: dict) -> bool:
    """An integer tensor with a quantisation scale."""
    return np.dtype(detail["dtype"]).kind in "iu" and bool(detail["quantization"][0])


def quantize(values: np.ndarray, dtype, scale: float, zero_point: int) -> np.ndarray:
    """float -> integer tensor values: round(v / scale) + zero_point, half away from zero
    (TFLite's QUANTIZE), clamped to the range of `dtype`; float32 arithmetic."""
    if not scale:
        raise ModelError(f"quantised ({dtype_name(dtype)}) tensor without a scale")
    info = np.iinfo(dtype)
    x = np.asarray(values, np.float32) / np.float32(scale)
    q = np.sign(x) * np.floor(np.abs(x) + np.float32(0.5)) + int(zero_point or 0)
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(values: np.ndarray, scale: float | None, zero_point: int | None) -> np.ndarray:
    """Integer tensor -> float32 ((q - zero_point) * scale); float tensors pass through."""
    values = np.asarray(values)
    if np.issubdtype(values.dtype, np.integer):
        if not scale:
            raise ModelError("integer outputs need their scale and zero point to dequantise")
        return (values.astype(np.float32) - np.float32(zero_point or 0)) * np.float32(scale)
    return values.astype(np.float32, copy=False)


def tensor_to_float(value: np.ndarray, detail: dict) -> np.ndarray:
    """A tensor's values as float32, dequantised with `detail`'s parameters when quantised."""
    if is_quantized(detail):
        return dequantize(value, *detail["quantization"])
    return np.asarray(value).astype(np.float32)


def read_model_bytes(model: str | Path | bytes) -> tuple[bytes, Path | None, str]:
    """(bytes, path or None, how to name it in messages); ModelError for a missing file or
    one that is not a TFLite flatbuffer."""
    if isinstance(model, (str, Path)):
        path: Path | None = Path(model)
        if not path.is_file():
            raise ModelError(f"model file not found: {path}")
        data, where = path.read_bytes(), str(path)
    else:
        path, data, where = None, bytes(model), "model"
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelError(f"{where} is not a TFLite model (no TFL3 identifier)")
    return data, path, where


class TFLiteSession:
    """A .tflite (path or bytes) loaded and allocated in the LiteRT interpreter.

    `threads`: the interpreter's CPU threads (None: LiteRT's default). `quiet`: keep LiteRT's
    load-time chatter off stderr. `interpreter_options`: extra keyword arguments for the
    interpreter (e.g. the op resolver). `path`: the file that bytes given as `model` were
    read from (named in messages). Not thread-safe: one session per thread.
    """

    def __init__(self, model: str | Path | bytes, threads: int | None = 1, *,
                 quiet: bool = True, interpreter_options: dict | None = None,
                 path: str | Path | None = None):
        self.data, self.path, self.where = read_model_bytes(model)
        if path is not None and self.path is None:
            self.path, self.where = Path(path), str(path)
        self.threads = threads
        self.interpreter = self._load(quiet, dict(interpreter_options or {}))
        self.inputs: list[dict] = self.interpreter.get_input_details()
        self.outputs: list[dict] = self.interpreter.get_output_details()

    def _load(self, quiet: bool, options: dict):
        import contextlib

        if quiet:
            _quiet.install()
        from ai_edge_litert.interpreter import Interpreter

        if self.threads is not None:
            options.setdefault("num_threads", int(self.threads))
        try:
            with io_quiet((2,)) if quiet else contextlib.nullcontext():
                interp = Interpreter(model_content=self.data, **options)
                interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            text = str(exc).strip()
            first = text.splitlines()[0] if text else type(exc).__name__
            raise ModelError(f"{self.where}: LiteRT cannot load it: {first}") from exc
        return interp

    # -------------------------------------------------------------- tensors by role
    @property
    def image_input(self) -> dict:
        """The one image input's details; ModelError when the model has several inputs."""
        if len(self.inputs) != 1:
            raise ModelError(f"{self.where}: expected one image input, found "
                             f"{len(self.inputs)}")
        return self.inputs[0]

    def output_roles(self) -> dict[str, dict]:
        """{role or tensor name: output details}, in output order (`output_role`)."""
        return {output_role(d["shape"], d["name"]): d for d in self.outputs}

    # -------------------------------------------------------------- running
    def input_array(self) -> np.ndarray:
        """A view of the image input's buffer (1, S, S, 3): valid until the next invoke, never
        to be kept."""
        return self.interpreter.tensor(self.image_input["index"])()

    def output_array(self, detail: dict) -> np.ndarray:
        """A view of an output's buffer (raw values): valid until the next invoke."""
        return self.interpreter.tensor(detail["index"])()

    def set_input(self, values: np.ndarray, detail: dict | None = None) -> None:
        """Copy `values` (already the tensor's dtype and shape) into an input (default: the
        image input)."""
        self.interpreter.set_tensor((detail or self.image_input)["index"], values)

    def invoke(self) -> None:
        self.interpreter.invoke()

    def read_outputs(self) -> dict[str, np.ndarray]:
        """Every output as float32 (dequantised), batch kept, by role (`output_roles`)."""
        return {role: tensor_to_float(self.interpreter.get_tensor(d["index"]), d)
                for role, d in self.output_roles().items()}

    def split_output_dump(self, raw: bytes) -> dict[str, np.ndarray]:
        """Raw bytes of every output tensor in output order (what `benchmark_model
        --output_filepath` writes) -> float32 arrays by role, batch kept. ModelError when the
        sizes do not add up."""
        sizes = [int(np.prod(d["shape"])) * np.dtype(d["dtype"]).itemsize for d in self.outputs]
        if len(raw) != sum(sizes):
            name = self.path.name if self.path is not None else self.where
            raise ModelError(f"output dump has {len(raw)} bytes, {name}'s outputs "
                             f"need {sum(sizes)}")
        outputs, offset = {}, 0
        for d, size in zip(self.outputs, sizes):
            dtype = np.dtype(d["dtype"])
            value = np.frombuffer(raw, dtype, count=size // dtype.itemsize,
                                  offset=offset).reshape(d["shape"])
            offset += size
            outputs[output_role(d["shape"], d["name"])] = tensor_to_float(value, d)
        return outputs

    # -------------------------------------------------------------- description
    @staticmethod
    def tensor_dict(detail: dict) -> dict[str, Any]:
        """name, shape, dtype, scale and zero point (None for unquantised tensors)."""
        scale, zero_point = detail["quantization"]
        return {"name": detail["name"], "shape": [int(v) for v in detail["shape"]],
                "dtype": dtype_name(detail["dtype"]), "scale": float(scale) or None,
                "zero_point": int(zero_point) if scale else None}

    def ops(self) -> list[dict]:
        """The interpreter's op list (node type, input and output tensor indices)."""
        return self.interpreter._get_ops_details()  # noqa: SLF001 - LiteRT has no public one

    def tensors(self) -> list[dict]:
        return self.interpreter.get_tensor_details()


__all__ = ["ROLES", "TFLiteSession", "dequantize", "dtype_name", "is_quantized",
           "output_role", "quantize", "read_model_bytes", "tensor_to_float"]
