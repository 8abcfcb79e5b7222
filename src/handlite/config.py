"""Defaults in one typed place. The CLI reads these; nothing else hard-codes them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from handlite.keypoints import NUM_KEYPOINTS


@dataclass(frozen=True)
class Normalization:
    """How pixels become network input. Written into every exported model's metadata.

    RGB, (x - 128) / 127.5: MobileNetV2's scale with an integer mean, half a grey level off
    its x / 127.5 - 1 (ImageNet backbone weights still apply; the shipped models, trained with
    127.5, score the same either way: README, "The network", gives the measured AUCs). The
    integer mean lets a full-int8 model's input tensor hold every pixel exactly (scale
    1 / 127.5, zero point 0: the tensor value is the pixel - 128), so preprocessing writes the
    crop with one XOR instead of a table look-up. Crops that reach outside the image are padded
    with `pad_value` (grey, as the authors' demo does), which normalises to exactly 0.
    """

    channel_order: str = "RGB"
    mean: tuple[float, float, float] = (128.0, 128.0, 128.0)
    std: tuple[float, float, float] = (127.5, 127.5, 127.5)
    pad_value: int = 128

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class CodecDefaults:
    """Heatmap targets and decoding (paper sec. 3.2-3.3)."""

    stride: int = 4  # output stride of the network: 56x56 maps at 224
    sigma: float = 2.0  # Gaussian sigma in heatmap pixels (8 input px at stride 4)
    #: spatial softmax temperature: p = softmax(beta * h). The network regresses maps in [0, 1];
    #: beta turns a clean unit peak into a probability of ~0.3 and a flat map into ~1/(H*W).
    softmax_beta: float = 10.0
    #: below this max probability a keypoint is "low confidence" and the fallback runs.
    #: Calibrated with benchmarks/fallback_threshold.py: the share of keypoints it sends
    #: through the fallback and the AUC at each threshold are in
    #: benchmarks/results/fallback_threshold.json (README, "Heatmap codec").
    min_confidence: float = 0.005
    #: how many of the strongest local peaks the fallback considers.
    fallback_peaks: int = 3
    #: sub-pixel refinement: "dark" (Taylor expansion of the log-heatmap), "quarter", "none".
    refine: str = "dark"


@dataclass(frozen=True)
class ModelDefaults:
    input_size: int = 224
    num_keypoints: int = NUM_KEYPOINTS
    encoder_stride: int = 16
    # Decoder widths (not published by the paper). Chosen by int8 invoke time at 224 on the
    # host's XNNPACK, 1 thread: 128/(64, 32) took 6.1 ms, 64/(32, 32) 5.1 ms, against 8.4 ms
    # for MediaPipe's hand_landmark_full (benchmarks/head_widths.py, one quiet-machine run in
    # benchmarks/results/head_widths.json; narrower heads gain little more: the encoder
    # dominates).
    head_width: int = 64  # channels in the decoder before the first upsampling
    up_widths: tuple[int, int] = (32, 32)  # channels after each x2 transposed convolution
    # Heatmap smoothing of saved models (`model.with_smoothing`), sigma in heatmap cells. On
    # 256 validation renders (seed 12) the phase-4 224 model's AUC went 0.749 raw -> 0.760 /
    # 0.761 / 0.763 / 0.762 at sigma 1.0 / 1.3 / 1.6 / 2.0 (the phase-3 model's 0.667 -> 0.687
    # at 1.6, its int8 export's 0.649 -> 0.666).
    heatmap_smoothing: float = 1.6


@dataclass(frozen=True)
class Defaults:
    model: ModelDefaults = field(default_factory=ModelDefaults)
    codec: CodecDefaults = field(default_factory=CodecDefaults)
    normalization: Normalization = field(default_factory=Normalization)


DEFAULTS = Defaults()
