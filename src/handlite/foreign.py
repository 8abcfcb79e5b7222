"""Foreign landmark models (MediaPipe-style .tflite) scored on handlite's own crops.

A foreign model here: one float32 input (1, S, S, 3), RGB scaled to [0, 1]; among its outputs
one with 63 values = 21 x (x, y, z), x and y in pixels of its S x S input, keypoints in
OpenPose order (= MediaPipe's). MediaPipe's `hand_landmark_full.tflite` is such a model: 224
input, outputs `Identity` (63: screen landmarks), `Identity_1` (hand presence),
`Identity_2` (handedness) and `Identity_3` (63: world landmarks in metres). With several
63-value outputs the first in the model's output order is taken (MediaPipe lists the screen
landmarks first); the chosen tensor's name is reported.

Input: the very crops handlite's network sees (`data.load_eval_set`: paper crop, left hands
mirrored), resized to S with cv2 (INTER_AREA when shrinking, INTER_LINEAR when enlarging).

Coordinates: handlite uses pixel centres (pixel i covers [i - 0.5, i + 0.5], a crop of side N
spans [-0.5, N - 0.5]). MediaPipe's landmark x, y are continuous with 0 at the image's left/top
edge and S at its right/bottom edge: its graph divides them by the input size to get [0, 1]
coordinates of the whole image, and multiplies those by an image's width and height to get
pixels. So a landmark u in the foreign input is u * N / S in edge units of an N px crop, and
u * N / S - 0.5 in handlite's. cv2.resize maps pixel centres the same way
((i + 0.5) * N / S - 0.5), so the resize itself adds no offset.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from handlite import _quiet
from handlite.errors import ModelError
from handlite.io import quiet
from handlite.keypoints import NUM_KEYPOINTS
from handlite.metrics import keypoint_metrics

LANDMARK_VALUES = 3 * NUM_KEYPOINTS  # 21 x (x, y, z)


@dataclass
class ForeignModel:
    """A loaded foreign landmark model and which of its tensors are used."""

    path: Path
    input_size: int
    output_name: str
    interpreter: object
    input_index: int
    output_index: int

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """(N, C, C, 3) uint8 RGB crops -> (N, 21, 2) float32 keypoints in crop pixels
        (pixel centres, see the module docstring)."""
        import cv2

        crops = np.asarray(crops)
        if crops.ndim != 4 or crops.shape[1] != crops.shape[2] or crops.shape[3] != 3:
            raise ModelError(f"crops must be (N, C, C, 3), got {crops.shape}")
        side, size = crops.shape[1], self.input_size
        interp = None if size == side else (cv2.INTER_AREA if size < side else cv2.INTER_LINEAR)
        out = np.empty((len(crops), NUM_KEYPOINTS, 2), np.float32)
        for i, crop in enumerate(crops):
            image = crop if interp is None else cv2.resize(crop, (size, size),
                                                        interpolation=interp)
            x = (image.astype(np.float32) / 255.0)[None]
            self.interpreter.set_tensor(self.input_index, x)
            self.interpreter.invoke()
            landmarks = self.interpreter.get_tensor(self.output_index).reshape(NUM_KEYPOINTS, 3)
            out[i] = to_crop_pixels(landmarks[:, :2], size, side)
        return out


def to_crop_pixels(landmarks: np.ndarray, model_size: int, crop_size: int) -> np.ndarray:
    """(..., 2) landmarks in foreign input px (edges: 0..S) -> handlite crop px (centres)."""
    return (np.asarray(landmarks, np.float64) * (crop_size / model_size) - 0.5).astype(
        np.float32)


def load_foreign(path: str | Path, threads: int = 1) -> ForeignModel:
    """Open a MediaPipe-style landmark .tflite; ModelError in one line when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"foreign model not found: {path}")
    _quiet.install()
    from ai_edge_litert.interpreter import Interpreter

    try:
        with quiet():  # LiteRT's "Created TensorFlow Lite XNNPACK delegate" notice
            interp = Interpreter(model_path=str(path), num_threads=threads)
            interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"{path}: not a loadable TFLite model ({first[:200]})") from None
    inputs = interp.get_input_details()
    if len(inputs) != 1:
        raise ModelError(f"{path}: expected one image input, found {len(inputs)}")
    (inp,) = inputs
    shape = [int(v) for v in inp["shape"]]
    if len(shape) != 4 or shape[0] != 1 or shape[1] != shape[2] or shape[3] != 3 \
            or np.dtype(inp["dtype"]) != np.float32:
        raise ModelError(f"{path}: input must be float32 [1, S, S, 3] (RGB in [0, 1]), got "
                         f"{np.dtype(inp['dtype']).name} {shape}")
    outputs = interp.get_output_details()
    landmark = [d for d in outputs if int(np.prod(d["shape"])) == LANDMARK_VALUES
                and np.dtype(d["dtype"]) == np.float32]
    if not landmark:
        found = ", ".join(f"{d['name']} {list(map(int, d['shape']))} "
                          f"{np.dtype(d['dtype']).name}" for d in outputs)
        raise ModelError(f"{path}: no float32 output with 63 values (21 x [x, y, z]); "
                         f"outputs: {found}")
    out = landmark[0]
    return ForeignModel(path, shape[1], str(out["name"]), interp, int(inp["index"]),
                        int(out["index"]))


def evaluate_foreign(path: str | Path, images: np.ndarray, keypoints: np.ndarray,
                     visible: np.ndarray, head_size: np.ndarray | None = None,
                     threads: int = 1) -> dict:
    """`metrics.keypoint_metrics` of a foreign model on the given crops (crop px)."""
    model = load_foreign(path, threads)
    start = time.perf_counter()
    pred = model.predict(images)
    seconds = time.perf_counter() - start
    result = keypoint_metrics(pred, keypoints, visible, head_size)
    return {"model": str(path), "input_size": model.input_size, "output": model.output_name,
            "coordinates": "landmark u in 0..S (edges) -> u * crop / S - 0.5 (pixel centres)",
            **result, "predict_seconds": round(seconds, 2)}
