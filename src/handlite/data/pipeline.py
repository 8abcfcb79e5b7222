"""Training batches: records -> augmented crops -> normalised images + heatmap targets, as numpy
and as a tf.data pipeline.

Shapes: images (N, S, S, 3) float32 normalised per `config.Normalization`; targets
(N, S/4, S/4, K+1) from `HeatmapCodec.encode` (background last).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from handlite.codec import HeatmapCodec
from handlite.config import DEFAULTS, Normalization
from handlite.data.crops import PAPER_AUGMENT, Augment, make_crop
from handlite.data.sources import HandRecord


def normalize(images: np.ndarray, norm: Normalization = DEFAULTS.normalization) -> np.ndarray:
    """uint8 RGB (..., 3) -> float32 network input, (x - mean) / std per channel."""
    x = np.asarray(images, np.float32)
    if norm.channel_order == "BGR":
        x = x[..., ::-1]
    return (x - np.asarray(norm.mean, np.float32)) / np.asarray(norm.std, np.float32)


def training_example(record: HandRecord, codec: HeatmapCodec, rng: np.random.Generator,
                     augment: Augment | None = PAPER_AUGMENT) -> tuple[np.ndarray, np.ndarray]:
    """One (normalised image (S, S, 3), target (S/4, S/4, K+1)) pair."""
    crop = make_crop(record, codec.input_size, rng=rng, augment=augment)
    return normalize(crop.image), codec.encode(crop.keypoints, crop.label_mask)


def iterate_examples(records: Sequence[HandRecord], codec: HeatmapCodec, seed: int,
                     augment: Augment | None = PAPER_AUGMENT, shuffle: bool = True,
                     repeat: bool = True) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Examples in a fresh shuffled order each pass; deterministic for a seed."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(records)) if shuffle else np.arange(len(records))
        for i in order:
            yield training_example(records[i], codec, rng, augment)
        if not repeat:
            return


def make_dataset(records: Sequence[HandRecord], codec: HeatmapCodec, batch_size: int,
                 seed: int = 0, augment: Augment | None = PAPER_AUGMENT, shuffle: bool = True,
                 repeat: bool = True, prefetch: int = 2):
    """A `tf.data.Dataset` of (images, targets) batches built by `iterate_examples`.

    Cropping and encoding run in numpy/OpenCV inside a generator (OpenCV releases the GIL), and
    `prefetch` overlaps them with the training step.
    """
    import tensorflow as tf

    s, hm = codec.input_size, codec.heatmap_size
    signature = (tf.TensorSpec((s, s, 3), tf.float32),
                 tf.TensorSpec((hm, hm, codec.num_keypoints + 1), tf.float32))
    ds = tf.data.Dataset.from_generator(
        lambda: iterate_examples(records, codec, seed, augment, shuffle, repeat),
        output_signature=signature)
    return ds.batch(batch_size, drop_remainder=False).prefetch(prefetch)
