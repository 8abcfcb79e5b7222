"""The paper's network: MobileNetV2 encoder (stride 16) + depthwise decoder -> K+1 heatmaps.

Shapes: input (S, S, 3) normalised RGB (see `config.Normalization`), output (S/4, S/4, K+1)
with the background map last: 56x56x22 at 224, 28x28x22 at 112.

Encoder (paper sec. 3.1): the 17 inverted-residual blocks of Keras' MobileNetV2 (alpha 1.0),
named exactly as in `keras.applications.MobileNetV2` (`Conv1`, `expanded_conv_*`,
`block_1_*` ... `block_16_*`) so ImageNet weights load by layer name (`backbone` converts
torchvision's). Stride-2 convolutions pad like PyTorch (one pixel each side, explicit
ZeroPadding) so those weights compute what they were trained to; networks saved with Keras'
bottom/right padding keep it (`model_padding`). Paper block 14 = Keras `block_13`: its stride
2 is removed (no ZeroPadding, depthwise padding "same"), so the encoder stops at output
stride 16. The final 1x1 `Conv_1` (1280 channels) of the classifier is not
used: the decoder reads block_16's 320 channels.

Decoder (the authors' figure, VNect-inspired, convolutions made depthwise):
  A: 1x1 -> depthwise 3x3 -> 1x1     B: 1x1           (both on the encoder output)
  A + B -> LeakyReLU -> 1x1 -> depthwise 3x3 -> 1x1 -> transposed conv x2 -> transposed conv x2
  -> depthwise 3x3 -> 1x1 conv to K+1 maps (linear).
Channel widths are not published; ours are in `config.ModelDefaults` and reported by
`summarize`.

Heatmap smoothing (shipped models; not trained): a fixed depthwise Gaussian after the last
1x1 conv, the distribution modulation of DARK (Zhang et al., CVPR 2020) done inside the
network, so every runtime (TFLite at each precision, the in-graph decode, the Android app)
reads maps already smoothed and no decoder twin changes. Keypoint maps are blurred with
sigma `s` heatmap cells and scaled by (t^2 + s^2) / t^2 (t: the training target's sigma), which
keeps the peak of a target-shaped map; the background map passes through. `handlite train`
trains the raw network and saves it with the smoothing attached (`with_smoothing`);
`raw_network` strips it.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from handlite import backbone
from handlite.config import DEFAULTS
from handlite.errors import ModelError, UsageError
from handlite.keypoints import NUM_KEYPOINTS

# (expansion, output channels, stride, block_id) of MobileNetV2's 17 blocks, with block_13's
# stride already set to 1 (the paper's change).
_BLOCKS = (
    (1, 16, 1, 0),
    (6, 24, 2, 1), (6, 24, 1, 2),
    (6, 32, 2, 3), (6, 32, 1, 4), (6, 32, 1, 5),
    (6, 64, 2, 6), (6, 64, 1, 7), (6, 64, 1, 8), (6, 64, 1, 9),
    (6, 96, 1, 10), (6, 96, 1, 11), (6, 96, 1, 12),
    (6, 160, 1, 13), (6, 160, 1, 14), (6, 160, 1, 15),
    (6, 320, 1, 16),
)
ENCODER_STRIDE = 16
OUTPUT_STRIDE = 4
ENCODER_OUTPUT = "block_16_project_BN"
OUTPUT_NAME = "heatmaps"
#: the fixed Gaussian after OUTPUT_NAME in shipped models (see the module doc)
SMOOTHING_NAME = "heatmap_smoothing"
#: Stride-2 padding of new networks: PyTorch's symmetric one, which reproduces the ImageNet
#: weights' own computation (torchvision); see `backbone` and benchmarks/imagenet_check.py.
ENCODER_PADDING = "torch"


def _keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    return keras


def check_input_size(input_size: int) -> int:
    if not isinstance(input_size, int) or input_size < 32 or input_size % ENCODER_STRIDE:
        raise UsageError(f"input size must be a multiple of {ENCODER_STRIDE} and >= 32, got "
                         f"{input_size}")
    return input_size


def _stride2_pad(padding: str):
    """Zero padding in front of a valid stride-2 3x3 convolution: Keras' MobileNetV2 pads
    bottom/right only, PyTorch one pixel on every side (see `backbone`)."""
    if padding == "keras":
        return ((0, 1), (0, 1))
    if padding == "torch":
        return ((1, 1), (1, 1))
    raise UsageError(f"encoder padding must be 'keras' or 'torch', got {padding!r}")


def _inverted_residual(x, expansion: int, filters: int, stride: int, block_id: int,
                       padding: str = "keras"):
    layers = _keras().layers
    in_channels = x.shape[-1]
    prefix = f"block_{block_id}_" if block_id else "expanded_conv_"
    inputs = x
    if block_id:
        x = layers.Conv2D(expansion * in_channels, 1, padding="same", use_bias=False,
                          name=f"{prefix}expand")(x)
        x = layers.BatchNormalization(epsilon=1e-3, momentum=0.999, name=f"{prefix}expand_BN")(x)
        x = layers.ReLU(6.0, name=f"{prefix}expand_relu")(x)
    if stride == 2:
        x = layers.ZeroPadding2D(padding=_stride2_pad(padding), name=f"{prefix}pad")(x)
    x = layers.DepthwiseConv2D(3, strides=stride, use_bias=False,
                               padding="same" if stride == 1 else "valid",
                               name=f"{prefix}depthwise")(x)
    x = layers.BatchNormalization(epsilon=1e-3, momentum=0.999, name=f"{prefix}depthwise_BN")(x)
    x = layers.ReLU(6.0, name=f"{prefix}depthwise_relu")(x)
    x = layers.Conv2D(filters, 1, padding="same", use_bias=False, name=f"{prefix}project")(x)
    x = layers.BatchNormalization(epsilon=1e-3, momentum=0.999, name=f"{prefix}project_BN")(x)
    if in_channels == filters and stride == 1:
        x = layers.Add(name=f"{prefix}add")([inputs, x])
    return x


def _head_unit(x, kind: str, filters: int, name: str, act: str | None = "relu"):
    """conv (1x1 / depthwise 3x3 / transposed 4x4 stride 2) + BN (+ activation)."""
    layers = _keras().layers
    if kind == "pw":
        x = layers.Conv2D(filters, 1, use_bias=False, name=name)(x)
    elif kind == "dw":
        x = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=name)(x)
    elif kind == "up":
        x = layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=False,
                                   name=name)(x)
    else:  # pragma: no cover - programming error
        raise ValueError(kind)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    if act == "relu":
        x = layers.ReLU(6.0, name=f"{name}_relu")(x)
    return x


def encoder(inputs, padding: str = ENCODER_PADDING, imagenet_strides: bool = False):
    """MobileNetV2's stem and 17 blocks on `inputs`; `imagenet_strides` keeps block_13's
    stride 2 (the ImageNet classifier, for checking weights) instead of the paper's 1."""
    layers = _keras().layers
    if padding == "keras":  # "same" with stride 2 on even inputs pads bottom/right
        x = layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False, name="Conv1")(inputs)
    else:
        x = layers.ZeroPadding2D(_stride2_pad(padding), name="Conv1_pad")(inputs)
        x = layers.Conv2D(32, 3, strides=2, padding="valid", use_bias=False, name="Conv1")(x)
    x = layers.BatchNormalization(epsilon=1e-3, momentum=0.999, name="bn_Conv1")(x)
    x = layers.ReLU(6.0, name="Conv1_relu")(x)
    for expansion, filters, stride, block_id in _BLOCKS:
        if imagenet_strides and block_id == 13:
            stride = 2
        x = _inverted_residual(x, expansion, filters, stride, block_id, padding)
    return x


def classifier(size: int = 224, padding: str = "torch"):
    """The full ImageNet MobileNetV2 (original strides, Conv_1, pooling, 1000-way softmax
    logits) built from the encoder blocks, for checking `backbone`'s weight conversion."""
    keras = _keras()
    layers = keras.layers
    inputs = keras.Input((size, size, 3), name="image")
    x = encoder(inputs, padding=padding, imagenet_strides=True)
    x = layers.Conv2D(1280, 1, use_bias=False, name="Conv_1")(x)
    x = layers.BatchNormalization(epsilon=backbone.KERAS_BN_EPS, name="Conv_1_bn")(x)
    x = layers.ReLU(6.0, name="out_relu")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dense(1000, name="predictions")(x)
    return keras.Model(inputs, x, name=f"mobilenet_v2_{padding}")


def model_padding(model) -> str:
    """The stride-2 padding a built network uses ('torch' when the stem is padded apart)."""
    return "torch" if any(layer.name == "Conv1_pad" for layer in model.layers) else "keras"


def build_model(input_size: int = DEFAULTS.model.input_size, backbone_weights: str | Path | None
                = None, num_keypoints: int = NUM_KEYPOINTS,
                head_width: int = DEFAULTS.model.head_width,
                up_widths: tuple[int, int] = DEFAULTS.model.up_widths,
                name: str = "handlite", padding: str = ENCODER_PADDING):
    """Build the network for `input_size` (multiple of 16).

    `backbone_weights`: None (random encoder), "imagenet", or a local weights file (see
    `load_backbone_weights`). Nothing is downloaded.
    """
    check_input_size(input_size)
    keras = _keras()
    layers = keras.layers
    inputs = keras.Input((input_size, input_size, 3), name="image")
    encoded = encoder(inputs, padding=padding)

    w = head_width
    a = _head_unit(encoded, "pw", w, "head_a_pw1")
    a = _head_unit(a, "dw", w, "head_a_dw")
    a = _head_unit(a, "pw", w, "head_a_pw2", act=None)
    b = _head_unit(encoded, "pw", w, "head_b_pw", act=None)
    x = layers.Add(name="head_add")([a, b])
    x = layers.LeakyReLU(negative_slope=0.1, name="head_leaky")(x)
    x = _head_unit(x, "pw", w, "head_pw1")
    x = _head_unit(x, "dw", w, "head_dw1")
    x = _head_unit(x, "pw", w, "head_pw2")
    x = _head_unit(x, "up", up_widths[0], "head_up1")
    x = _head_unit(x, "up", up_widths[1], "head_up2")
    x = _head_unit(x, "dw", up_widths[1], "head_dw2")
    outputs = layers.Conv2D(num_keypoints + 1, 1, name=OUTPUT_NAME)(x)
    model = keras.Model(inputs, outputs, name=name)
    if backbone_weights is not None and str(backbone_weights) != "none":
        load_backbone_weights(model, backbone_weights)
    return model


def load_backbone_weights(model, source: str | Path) -> int:
    """Fill the encoder from ImageNet weights; returns how many layers were set.

    `source`: "imagenet" (torchvision's checkpoint that the setup installs, see `backbone`),
    a torch checkpoint (.pth/.pt) of torchvision's MobileNetV2, or a local Keras MobileNetV2
    (no top) weights file read through `keras.applications.MobileNetV2`. Nothing is
    downloaded; a file that does not fit raises ModelError.
    """
    if str(source) == "imagenet" or Path(source).suffix in (".pth", ".pt"):
        path = None if str(source) == "imagenet" else Path(source)
        if path is not None and not path.is_file():
            raise ModelError(f"backbone weights file not found: {path}")
        return set_weights_by_name(model, backbone.imagenet_weights(path))
    path = Path(source)
    if not path.is_file():
        raise ModelError(f"backbone weights file not found: {path}")
    if model_padding(model) != "keras":
        raise ModelError(f"{path}: Keras MobileNetV2 weights fit the Keras-padded encoder; "
                         "this network pads like torchvision (use 'imagenet' or a .pth)")
    keras = _keras()
    size = model.input_shape[1]
    reference = keras.applications.MobileNetV2(input_shape=(size, size, 3), include_top=False,
                                               weights=None)
    try:
        reference.load_weights(str(path))
    except Exception as exc:  # keras raises several types for a mismatched file
        raise ModelError(f"{path} is not a Keras MobileNetV2 (alpha 1.0, no top) weights file: "
                         f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                         ) from exc
    return copy_weights_by_name(reference, model)


def set_weights_by_name(target, weights: dict) -> int:
    """Set every layer of `target` named in `weights` ({layer name: weight arrays in Keras
    order}); returns how many were set. A layer whose shapes do not fit raises ModelError (no
    silent partial load)."""
    copied = 0
    for layer in target.layers:
        theirs = weights.get(layer.name)
        if theirs is None or not layer.weights:
            continue
        mine = layer.get_weights()
        if len(theirs) != len(mine) or any(a.shape != b.shape for a, b in zip(theirs, mine)):
            raise ModelError(f"layer {layer.name!r}: weight shapes "
                             f"{[a.shape for a in theirs]} do not fit {[b.shape for b in mine]}")
        layer.set_weights(theirs)
        copied += 1
    return copied


def copy_weights_by_name(source, target) -> int:
    """Copy weights of every layer of `target` that has a same-named, same-shaped layer in
    `source`. Returns the number of layers copied; shape mismatches raise ModelError."""
    return set_weights_by_name(target, {layer.name: layer.get_weights()
                                        for layer in source.layers if layer.weights})


def smoothing_kernel(sigma: float, channels: int,
                     target_sigma: float = DEFAULTS.codec.sigma) -> np.ndarray:
    """(k, k, channels, 1) depthwise kernel of the heatmap smoothing: a sampled Gaussian of
    `sigma` cells (radius ceil(3 sigma)), summing to (t^2 + s^2) / t^2 on the keypoint maps;
    the identity on the last (background) map."""
    if not (math.isfinite(sigma) and sigma > 0):
        raise UsageError(f"smoothing sigma must be positive, got {sigma}")
    if not (math.isfinite(target_sigma) and target_sigma > 0):
        raise UsageError(f"target sigma must be positive, got {target_sigma}")
    radius = math.ceil(3 * sigma)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-x ** 2 / (2 * sigma ** 2))
    g /= g.sum()
    gain = (target_sigma ** 2 + sigma ** 2) / target_sigma ** 2
    kernel = np.zeros((2 * radius + 1, 2 * radius + 1, channels, 1), np.float32)
    kernel[:, :, :channels - 1, 0] = (np.outer(g, g) * gain)[:, :, None]
    kernel[radius, radius, channels - 1, 0] = 1.0
    return kernel


def smoothing_of(model) -> dict | None:
    """{"sigma", "gain", "kernel"} of a model's heatmap smoothing (None without one); sigma
    is read back from the sampled Gaussian's centre row."""
    if not _has_smoothing(model):
        return None
    kernel = np.asarray(model.get_layer(SMOOTHING_NAME).get_weights()[0], np.float64)
    radius = kernel.shape[0] // 2
    row = kernel[radius, :, 0, 0]
    ratio = row[radius] / row[radius + 1] if radius else math.inf
    sigma = math.sqrt(1.0 / (2.0 * math.log(ratio))) if ratio > 1 else 0.0
    return {"sigma": sigma, "gain": float(kernel[:, :, 0, 0].sum()),
            "kernel": kernel.astype(np.float32)}


def _has_smoothing(model) -> bool:
    return any(layer.name == SMOOTHING_NAME for layer in model.layers)


def raw_network(model):
    """`model` without its heatmap smoothing (the trainable network; itself when it has none)."""
    if not _has_smoothing(model):
        return model
    keras = _keras()
    return keras.Model(model.inputs[0], model.get_layer(OUTPUT_NAME).output, name=model.name)


def with_smoothing(model, sigma: float | None = None, *, kernel: np.ndarray | None = None,
                   target_sigma: float = DEFAULTS.codec.sigma):
    """`model` (its raw network) followed by the heatmap smoothing of `sigma` cells, or by
    the given depthwise `kernel`; sigma 0 returns the raw network. Weights are shared with
    `model`, not copied."""
    raw = raw_network(model)
    if kernel is None:
        if sigma is None:
            raise UsageError("give a smoothing sigma or a kernel")
        if sigma == 0:
            return raw
        kernel = smoothing_kernel(sigma, int(raw.output_shape[-1]), target_sigma)
    kernel = np.asarray(kernel, np.float32)
    if kernel.ndim != 4 or kernel.shape[2] != raw.output_shape[-1] or kernel.shape[3] != 1:
        raise ModelError(f"smoothing kernel {kernel.shape} does not fit "
                         f"{raw.output_shape[-1]} heatmaps")
    keras = _keras()
    layer = keras.layers.DepthwiseConv2D(kernel.shape[0], padding="same", use_bias=False,
                                         trainable=False, name=SMOOTHING_NAME)
    smoothed = keras.Model(raw.inputs[0], layer(raw.output), name=raw.name)
    layer.set_weights([kernel])
    return smoothed


def rebuild(model, input_size: int):
    """The same network and weights at another input size (the network is fully
    convolutional). The head widths and any heatmap smoothing are read from the model."""
    check_input_size(input_size)
    smoothing = smoothing_of(model)
    model = raw_network(model)
    head_width = model.get_layer("head_pw1").filters
    ups = (model.get_layer("head_up1").filters, model.get_layer("head_up2").filters)
    k = model.output_shape[-1] - 1
    new = build_model(input_size, num_keypoints=k, head_width=head_width, up_widths=ups,
                      name=model.name, padding=model_padding(model))
    copied = copy_weights_by_name(model, new)
    if copied != sum(1 for layer in new.layers if layer.weights):
        raise ModelError("rebuilt network does not match the source model's layers")
    return new if smoothing is None else with_smoothing(new, kernel=smoothing["kernel"])


def save_model(model, path: str | Path) -> None:
    """Write `model` as .keras atomically (a temporary file beside `path`, then a rename): an
    interrupted save leaves the previous file whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}.keras")
    try:
        model.save(str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_model(path: str | Path, input_size: int | None = None):
    """Load a saved handlite network (.keras), optionally rebuilt at `input_size`."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    keras = _keras()
    try:
        model = keras.saving.load_model(str(path), compile=False)
    except Exception as exc:
        raise ModelError(f"cannot load {path} as a Keras model: "
                         f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                         ) from exc
    if len(model.inputs) != 1 or len(model.output_shape) != 4:
        raise ModelError(f"{path} is not a handlite heatmap network "
                         f"(input {model.input_shape}, output {model.output_shape})")
    if input_size is not None and model.input_shape[1] != input_size:
        model = rebuild(model, input_size)
    return model


@dataclass(frozen=True)
class ModelSummary:
    input_size: int
    output_shape: tuple[int, int, int]
    encoder_stride: int
    output_stride: int
    params: int
    trainable_params: int
    macs: int
    head_width: int
    up_widths: tuple[int, int]
    #: sigma (heatmap cells) of the fixed heatmap smoothing; 0 without one
    smoothing_sigma: float = 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["output_shape"] = list(self.output_shape)
        d["up_widths"] = list(self.up_widths)
        return d


def count_macs(model) -> int:
    """Multiply-accumulates of one forward pass, counted from the conv/dense layers."""
    layers = _keras().layers
    total = 0
    for layer in model.layers:
        if isinstance(layer, layers.DepthwiseConv2D):
            kh, kw = layer.kernel_size
            _, h, w, c = layer.output.shape
            total += h * w * c * kh * kw
        elif isinstance(layer, layers.Conv2DTranspose):
            kh, kw = layer.kernel_size
            cin = layer.input.shape[-1]
            _, h, w, cout = layer.output.shape
            # each input pixel scatters a kh x kw x cout patch
            _, ih, iw, _ = layer.input.shape
            total += ih * iw * cin * cout * kh * kw
        elif isinstance(layer, layers.Conv2D):
            kh, kw = layer.kernel_size
            cin = layer.input.shape[-1]
            _, h, w, cout = layer.output.shape
            total += h * w * cout * cin * kh * kw // layer.groups
        elif isinstance(layer, layers.Dense):
            total += layer.input.shape[-1] * layer.units
    return int(total)


def encoder_stride(model) -> int:
    return model.input_shape[1] // model.get_layer(ENCODER_OUTPUT).output.shape[1]


def summarize(model) -> ModelSummary:
    size = model.input_shape[1]
    out = tuple(int(v) for v in model.output_shape[1:])
    return ModelSummary(
        input_size=int(size), output_shape=out, encoder_stride=int(encoder_stride(model)),
        output_stride=int(size // out[0]), params=int(model.count_params()),
        trainable_params=int(sum(int(w.numpy().size) for w in model.trainable_weights)),
        macs=count_macs(model), head_width=int(model.get_layer("head_pw1").filters),
        up_widths=(int(model.get_layer("head_up1").filters),
                   int(model.get_layer("head_up2").filters)),
        smoothing_sigma=round((smoothing_of(model) or {"sigma": 0.0})["sigma"], 4))
