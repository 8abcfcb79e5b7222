"""On-device parity: does the phone (with its delegate) compute what the Keras reference does?

Shapes: K keypoints, S x S input, H x W heatmaps with K+1 channels (background last).

For each benchmarked model (a handlite .tflite with `handlite.model/1` metadata) the sweep asks
`input_for(cell)` for a fixed input — the first crop of an evaluation set (`synth` by default)
through the host runtime's input path, exactly as the host parity feeds it — and the
runner hands it to `benchmark_model --input_layer_value_files`, dumps the outputs with
`--output_filepath` and pulls them. `check(cell, path)` splits the raw dump into the model's
output tensors (`TFLiteSession.split_output_dump`: output order, each tensor's dtype and
shape, named by role), dequantises them, and compares
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
from handlite.reference import KerasReference
from handlite.codec import DecodeSettings
from handlite.parity import ParityCandidate, compare_outputs

#: Metrics a record keeps (the per-keypoint table stays out: the record is one JSONL line).
_KEEP = ("passed", "precision", "output_kind", "keypoint_epe_mean_px", "keypoint_epe_p95_px",
         "keypoint_epe_max_px", "heatmap_max_abs", "heatmap_mean_abs", "cosine_min", "finite",
         "failures", "tolerances")


@dataclass
class _Prepared:
    """What one model needs for parity: its input bytes and the Keras reference outputs."""

    model: Any  # handlite.parity.ParityCandidate (metadata, session)
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
        self._reference = KerasReference(path=self.reference, data=data)
        self._models: dict[Path, _Prepared] = {}
        # device workers run in threads and share this object
        self._lock = threading.Lock()

    def prepare(self, models: list[Path]) -> None:
        """Load the reference and every model up front, so a model without metadata or a
        reference that does not fit is an input error before any device is touched."""
        for model in models:
            self._prepared(Path(model))

    def _prepared(self, path: Path) -> _Prepared:

        with self._lock:
            if path in self._models:
                return self._models[path]
            model = ParityCandidate(path, threads=1)
            size = model.input_size
            net = self._reference.net(size)
            out_shape = tuple(net.output_shape[1:])
            expected = (size // int(model.meta["stride"]),) * 2
            if out_shape[:2] != expected:
                raise ModelError(f"reference {self.reference.name} gives {out_shape} heatmaps "
                                 f"at {size} px, {path.name} expects {expected}")
            crop = self._reference.crops(size, 1).images[:1]
            # the same input the host parity feeds: the runtime's crop, normalisation and
            # quantisation, as the tensor holds it
            x = model.input_tensor(crop[0])
            reference = self._reference.heatmaps(size, 1)[:1]
            prepared = _Prepared(model, np.ascontiguousarray(x).tobytes(), reference)
            self._models[path] = prepared
            return prepared

    def input_for(self, cell: Cell) -> ParityInput:
        """The fixed input of `cell`'s model; the pulled outputs go to a fresh temp file."""
        prepared = self._prepared(Path(cell.model))
        fd, local = tempfile.mkstemp(prefix="handlite-parity-", suffix=".bin")
        os.close(fd)
        return ParityInput(input_name=prepared.model.session.image_input["name"],
                           input_bytes=prepared.input_bytes, output_local=Path(local))

    def split_outputs(self, path: Path, raw: bytes) -> dict[str, np.ndarray]:
        """Raw `--output_filepath` bytes -> {"heatmaps"} or {"keypoints", "scores"}, float32,
        batch dimension kept (1, ...). Raises ModelError when the sizes do not add up."""
        return self._prepared(path).model.session.split_output_dump(raw)

    def check(self, cell: Cell, output_local: Path) -> dict[str, Any]:
        """The record's parity block for `cell` from its pulled output dump (deleted after)."""

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
