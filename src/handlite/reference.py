"""The Keras reference of a handlite model: its network per input size, evaluation crops and
reference heatmaps, each made once and kept.

Export's int8 calibration, parity, the demo's accuracy figures and on-device parity all need
the same recipe: load the .keras file, rebuild the network at a variant's size (it is fully
convolutional), load evaluation crops at that size and run the network on them. One
`KerasReference` does it for all of them, so a caller that needs the same size twice (the
demo: parity, then accuracy) pays once.

Shapes: crops (N, S, S, 3) uint8 RGB (`handlite.data.EvalSet`); network inputs (N, S, S, 3)
float32 normalised (`data.pipeline.normalize`); heatmaps (N, S/stride, S/stride, K+1) float32.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

#: batch size of the reference predictions
BATCH = 16


class KerasReference:
    """One Keras model (loaded, or a .keras path loaded on first use) and what derives from it.

    `data` is the default evaluation set ("synth" or a data spec); every method can name
    another. Not thread-safe: callers that share one across threads hold their own lock.
    """

    def __init__(self, model: Any = None, *, path: str | Path | None = None,
                 data: str = "synth"):
        if model is None and path is None:
            from handlite.errors import UsageError
            raise UsageError("a Keras reference needs a loaded model or a .keras path")
        self.path = Path(path) if path is not None else None
        self.data = data
        self._keras = model
        self._nets: dict[int, Any] = {}
        self._crops: dict[tuple[str, int, int | None], Any] = {}
        self._heatmaps: dict[tuple[str, int, int | None], np.ndarray] = {}
        self._sha256: str | None = None

    @property
    def keras(self):
        """The Keras model as saved (loaded on first use)."""
        if self._keras is None:
            from handlite.model import load_model
            self._keras = load_model(self.path)
        return self._keras

    def load(self) -> KerasReference:
        """Load the Keras model now (a bad .keras file fails here); returns self."""
        self.keras  # noqa: B018 - the property loads it
        return self

    @property
    def sha256(self) -> str | None:
        """sha256 of the .keras file (None without a path)."""
        if self._sha256 is None and self.path is not None:
            from handlite.io import sha256_file
            self._sha256 = sha256_file(self.path)
        return self._sha256

    @property
    def trained_size(self) -> int:
        """The input size the model was saved at."""
        return int(self.keras.input_shape[1])

    def net(self, size: int):
        """The network at input `size`: the model itself at its own size, else rebuilt with
        the same weights."""
        size = int(size)
        if size not in self._nets:
            from handlite.model import rebuild
            model = self.keras
            self._nets[size] = model if model.input_shape[1] == size else rebuild(model, size)
        return self._nets[size]

    def crops(self, size: int, count: int | None = None, data: str | None = None):
        """The first `count` evaluation crops of `data` at `size` (`handlite.data.EvalSet`)."""
        key = (data or self.data, int(size), count)
        if key not in self._crops:
            from handlite.data import load_eval_set
            self._crops[key] = load_eval_set(key[0], key[1], count)
        return self._crops[key]

    def inputs(self, size: int, count: int | None = None, data: str | None = None
               ) -> np.ndarray:
        """The crops as network inputs: (N, S, S, 3) float32, normalised (not kept)."""
        from handlite.data.pipeline import normalize
        return normalize(self.crops(size, count, data).images)

    def heatmaps(self, size: int, count: int | None = None, data: str | None = None
                 ) -> np.ndarray:
        """The network's heatmaps on those crops: (N, H, W, K+1) float32."""
        key = (data or self.data, int(size), count)
        if key not in self._heatmaps:
            x = self.inputs(size, count, data)
            self._heatmaps[key] = np.asarray(
                self.net(size).predict(x, batch_size=BATCH, verbose=0), np.float32)
        return self._heatmaps[key]


__all__ = ["KerasReference"]
