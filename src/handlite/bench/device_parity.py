"""On-device parity: does the phone (with its delegate) compute what the Keras reference does?

Shapes: K keypoints, S x S input, H x W heatmaps with K+1 channels (background last).

For each benchmarked model (a handlite .tflite with `handlite.model/1` metadata) the sweep asks
`input_for(cell)` for a fixed input — the first crop of an evaluation set (`synth` by default),
normalised and, for integer inputs, quantised exactly as the host parity feeds it — and the
runner hands it to `benchmark_model --input_layer_value_files`, dumps the outputs with
`--output_filepath` and pulls them. `check(cell, path)` splits the raw dump into the model's
output tensors (output order, each tensor's dtype and shape), dequantises them, and compares
them with the Keras reference on the same crop through `handlite.parity.compare_outputs` under
the tolerances of the variant's precision (`handlite/recipes/variants.toml`) — the same code and
limits as host parity, so a GPU delegate's fp16 drift shows on the phone itself.

The result is the record's `parity` block: the verdict, the metrics (keypoint distances in
input pixels, heatmap errors), the broken limits, and a one-line `error` when the dump could
not be read (which fails the check too).
"""

from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from handlite.bench.runners import Cell, ParityInput
from handlite.errors import HandliteError, ModelError

#: Metrics a record keeps (the per-keypoint table stays out: the record is one JSONL line).
_KEEP = ("passed", "precision", "output_kind", "keypoint_epe_mean_px", "keypoint_epe_p95_px",
         "keypoint_epe_max_px", "heatmap_max_abs", "heatmap_mean_abs", "cosine_min", "finite",
         "failures", "tolerances")


@dataclass
class _Prepared:
    """What one model needs for parity: its input bytes and the Keras reference outputs."""

    model: Any  # handlite.parity.TFLiteModel (metadata, input/output tensor details)
    input_bytes: bytes
    reference: np.ndarray  # (1, H, W, K+1) float32


class DeviceParity:
    """The sweep's parity hook (see the module docstring).

    reference: the Keras model (.keras) the .tflite files were exported from.
    data: the evaluation set whose first crop is the fixed input ("synth" or a data spec).
    """

    def __init__(self, reference: str | os.PathLike, data: str = "synth"):
        self.reference = Path(reference)
        if not self.reference.is_file():
            raise ModelError(f"reference model not found: {self.reference}",
                             hint="--reference MODEL.keras (the model the variants came from)")
        self.data = data
        self._keras = None
        self._nets: dict[int, Any] = {}
        self._crops: dict[int, np.ndarray] = {}
        self._models: dict[Path, _Prepared] = {}
        # device workers run in threads and share this object
        self._lock = threading.Lock()

    def prepare(self, models: list[Path]) -> None:
        """Load the reference and every model up front, so a model without metadata or a
        reference that does not fit is an input error before any device is touched."""
        for model in models:
            self._prepared(Path(model))

    def _net(self, size: int):
        from handlite.model import load_model, rebuild

        if self._keras is None:
            self._keras = load_model(self.reference)
        if size not in self._nets:
            net = self._keras
            self._nets[size] = net if net.input_shape[1] == size else rebuild(net, size)
        return self._nets[size]

    def _crop(self, size: int) -> np.ndarray:
        from handlite.data import load_eval_set

        if size not in self._crops:
            self._crops[size] = load_eval_set(self.data, size, 1).images[:1]
        return self._crops[size]

    def _prepared(self, path: Path) -> _Prepared:
        from handlite.data.pipeline import normalize
        from handlite.parity import TFLiteModel

        with self._lock:
            if path in self._models:
                return self._models[path]
            model = TFLiteModel(path, threads=1)
            size = int(model.meta["input_size"])
            net = self._net(size)
            out_shape = tuple(net.output_shape[1:])
            expected = (size // int(model.meta["stride"]),) * 2
            if out_shape[:2] != expected:
                raise ModelError(f"reference {self.reference.name} gives {out_shape} heatmaps "
                                 f"at {size} px, {path.name} expects {expected}")
            crop = self._crop(size)
            # the same input the host parity feeds: normalised, quantised for integer inputs
            x = model._input(crop[0])  # noqa: SLF001 - parity's one definition of the input
            reference = np.asarray(net(normalize(crop), training=False), np.float32)
            prepared = _Prepared(model, np.ascontiguousarray(x).tobytes(), reference)
            self._models[path] = prepared
            return prepared

    def input_for(self, cell: Cell) -> ParityInput:
        """The fixed input of `cell`'s model; the pulled outputs go to a fresh temp file."""
        prepared = self._prepared(Path(cell.model))
        fd, local = tempfile.mkstemp(prefix="handlite-parity-", suffix=".bin")
        os.close(fd)
        return ParityInput(input_name=prepared.model.input["name"],
                           input_bytes=prepared.input_bytes, output_local=Path(local))

    def split_outputs(self, path: Path, raw: bytes) -> dict[str, np.ndarray]:
        """Raw `--output_filepath` bytes -> {"heatmaps"} or {"keypoints", "scores"}, float32,
        batch dimension kept (1, ...). Raises ModelError when the sizes do not add up."""
        from handlite.parity import dequantize

        details = self._prepared(path).model.outputs
        sizes = [int(np.prod(d["shape"])) * np.dtype(d["dtype"]).itemsize for d in details]
        if len(raw) != sum(sizes):
            raise ModelError(f"output dump has {len(raw)} bytes, {path.name}'s outputs "
                             f"need {sum(sizes)}")
        outputs, offset = {}, 0
        for d, size in zip(details, sizes):
            value = np.frombuffer(raw, np.dtype(d["dtype"]), count=size // np.dtype(
                d["dtype"]).itemsize, offset=offset).reshape(d["shape"])
            offset += size
            # the names parity uses, by rank (as TFLiteModel.run names them)
            name = {4: "heatmaps", 3: "keypoints", 2: "scores"}.get(value.ndim, d["name"])
            outputs[name] = dequantize(value, *d["quantization"]) if d["quantization"][0] \
                else value.astype(np.float32)
        return outputs

    def check(self, cell: Cell, output_local: Path) -> dict[str, Any]:
        """The record's parity block for `cell` from its pulled output dump (deleted after)."""
        from handlite.codec import DecodeSettings
        from handlite.parity import compare_outputs

        path = Path(cell.model)
        prepared = self._prepared(path)
        meta = prepared.model.meta
        block: dict[str, Any] = {"reference": self.reference.name, "input": f"{self.data}[0]",
                                 "delegate": cell.delegate}
        try:
            raw = Path(output_local).read_bytes()
            outputs = self.split_outputs(path, raw)
            result = compare_outputs(
                prepared.reference, outputs, meta["precision"], variant=meta["variant"],
                input_size=int(meta["input_size"]), stride=int(meta["stride"]),
                settings=DecodeSettings(**meta["decode"]))
        except (OSError, HandliteError) as exc:
            message = str(exc) if isinstance(exc, HandliteError) else \
                f"no output dump from the device ({exc.strerror})"
            return {**block, "passed": False, "error": message, "failures": [message]}
        finally:
            Path(output_local).unlink(missing_ok=True)
        metrics = result.to_dict()
        return {**block, **{k: metrics[k] for k in _KEEP}, "error": None}


__all__ = ["DeviceParity"]
