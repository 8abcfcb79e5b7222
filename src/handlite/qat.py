"""Quantisation-aware fine-tuning: train the network as full-int8 TFLite will compute it.

Post-training int8 (`export`, precision int8) rounds every weight and every activation
tensor; on the shipped 224 model nearly every op's error is about the uniform-rounding floor
(`benchmarks/int8_layer_error.py`), so the loss is the sum of ~75 small errors rather than
one bad layer, and better calibration does not remove it.
Fine-tuning through simulated rounding lets the weights settle where rounding costs least.

`QuantizationSimulation(model)` wraps a trained network (layers and weights shared, nothing
copied) so that its forward pass rounds as the converter's full-int8 graph does:

- weights of Conv2D / DepthwiseConv2D / Conv2DTranspose: symmetric int8 per output channel
  ([-127, 127], scale max|w| / 127). The converter folds the following BatchNorm into the
  kernel, which scales each output channel by a constant; a per-channel symmetric grid is
  invariant to that, so rounding the unfolded kernel puts it on the same grid.
- activation tensors: asymmetric int8 per tensor (256 levels between a range that contains
  0), at the tensors the int8 graph keeps. A convolution's output feeding its BatchNorm, and
  a BatchNorm's output feeding a ReLU/ReLU6, are fused into one int8 op and not rounded
  between; zero padding keeps its input's grid; the input crop is already integral.
- ranges: the min / max of each tensor over calibration batches of the float network, as the
  converter's calibration takes them (`calibrate`, repeated as the weights move). A tensor
  whose only consumer is an Add gets the union of its range and the Add's output range:
  the converter widened 12 of the 13 such tensors of the shipped 112 model so (residual
  projections, the decoder's branch A); on the thirteenth the simulation rounds coarser than
  int8 does.
- BatchNorm runs on its moving statistics (frozen; gamma and beta still train), as the
  folded int8 graph does.

Gradients pass straight through the rounding (zero outside a tensor's range). The fixed
heatmap smoothing a saved model ends with is not part of the trained network (`train` strips
it and attaches it again), so its own int8 op is the one rounding not simulated. What ships is
still the float network: exported to int8 with the usual calibration, it lands on weights
trained for that rounding. `handlite train --qat` drives this.
"""

from __future__ import annotations

import numpy as np

_CONV_TYPES = ("Conv2D", "DepthwiseConv2D", "Conv2DTranspose")
#: layers whose output keeps the grid of their input in the int8 graph (not rounded again)
_PASS_THROUGH = ("InputLayer", "ZeroPadding2D")


def _kind(layer) -> str:
    return type(layer).__name__


def _is_plain_relu(layer) -> bool:
    """ReLU or ReLU6: the activations TFLite fuses into the op before it."""
    if _kind(layer) != "ReLU":
        return False
    return (layer.max_value in (None, 6.0) and float(layer.negative_slope) == 0.0
            and float(layer.threshold) == 0.0)


def _producers(model) -> dict[str, list[str]]:
    """layer name -> names of the layers feeding it, read from the functional config (only
    this model's graph, whatever other models share the layers)."""

    def histories(obj, found):
        if isinstance(obj, dict):
            config = obj.get("config")
            if obj.get("class_name") == "__keras_tensor__" and isinstance(config, dict):
                found.append(config["keras_history"][0])
            else:
                for value in obj.values():
                    histories(value, found)
        elif isinstance(obj, (list, tuple)):
            for value in obj:
                histories(value, found)
        return found

    return {entry["name"]: histories(entry.get("inbound_nodes", []), [])
            for entry in model.get_config()["layers"]}


def _consumers(model) -> dict[str, list[str]]:
    consumers: dict[str, list[str]] = {}
    for name, parents in _producers(model).items():
        for parent in parents:
            consumers.setdefault(parent, []).append(name)
    return consumers


def quantized_tensors(model) -> list[str]:
    """Names of the layers whose output tensor the full-int8 graph rounds (module doc)."""
    consumers = _consumers(model)
    outputs = {t._keras_history[0].name for t in model.outputs}
    names = []
    for layer in model.layers:
        kind = _kind(layer)
        if kind in _PASS_THROUGH:
            continue
        after = consumers.get(layer.name, [])
        if len(after) == 1 and layer.name not in outputs:
            nxt = model.get_layer(after[0])
            if kind in _CONV_TYPES and _kind(nxt) == "BatchNormalization":
                continue
            if kind in (*_CONV_TYPES, "BatchNormalization") and _is_plain_relu(nxt):
                continue
        names.append(layer.name)
    return names


def fake_quant_kernel(kernel, reduce_axes: tuple[int, ...]):
    """`kernel` rounded to a symmetric int8 grid per output channel (the channel axes are
    those not in `reduce_axes`); the gradient passes straight through."""
    from keras import ops

    peak = ops.max(ops.abs(kernel), axis=reduce_axes, keepdims=True)
    scale = ops.where(peak > 0, peak / 127.0, ops.ones_like(peak))
    rounded = ops.clip(ops.round(kernel / scale), -127.0, 127.0) * scale
    return kernel + ops.stop_gradient(rounded - kernel)


def int8_grid(lo: float, hi: float) -> tuple[float, float]:
    """(scale, zero point) of TFLite's asymmetric int8 quantisation of range [lo, hi]: the
    range is widened to contain 0 and the zero point is an integer in [-128, 127]."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo <= 0:
        return 1.0, 0.0
    scale = (hi - lo) / 255.0
    zero = float(np.clip(np.round(-128.0 - lo / scale), -128, 127))
    return scale, zero


def fake_quant_tensor(x, scale, zero):
    """`x` rounded to the int8 grid (scale, zero point); the gradient passes straight through
    inside the grid's range and is zero outside it."""
    from keras import ops

    lo = (-128.0 - zero) * scale
    hi = (127.0 - zero) * scale
    clipped = ops.clip(x, lo, hi)
    rounded = (ops.clip(ops.round(clipped / scale) + zero, -128.0, 127.0) - zero) * scale
    return clipped + ops.stop_gradient(rounded - clipped)


def _layers():
    """The two Keras layer classes of the simulation (defined on first use: keras loads
    lazily)."""
    import keras
    from keras import ops

    class QuantizedConv(keras.layers.Layer):
        """A convolution layer called with its kernel on the int8 grid (weights shared)."""

        def __init__(self, inner, **kwargs):
            super().__init__(name=f"{inner.name}_int8", **kwargs)
            if getattr(inner, "data_format", "channels_last") != "channels_last":
                raise ValueError(f"{inner.name}: only channels_last convolutions are simulated")
            self.inner = inner

        def call(self, x):
            inner = self.inner
            kind = _kind(inner)
            if kind == "DepthwiseConv2D":  # (kh, kw, in, multiplier): a channel per (in, m)
                y = ops.depthwise_conv(x, fake_quant_kernel(inner.kernel, (0, 1)),
                                       strides=inner.strides, padding=inner.padding,
                                       dilation_rate=inner.dilation_rate,
                                       data_format=inner.data_format)
            elif kind == "Conv2DTranspose":  # (kh, kw, out, in)
                y = ops.conv_transpose(x, fake_quant_kernel(inner.kernel, (0, 1, 3)),
                                       strides=list(inner.strides), padding=inner.padding,
                                       output_padding=inner.output_padding,
                                       dilation_rate=inner.dilation_rate,
                                       data_format=inner.data_format)
            else:  # Conv2D (kh, kw, in, out)
                y = inner.convolution_op(x, fake_quant_kernel(inner.kernel, (0, 1, 2)))
            if inner.use_bias:
                y = y + inner.bias
            return inner.activation(y) if inner.activation is not None else y

    class FrozenBatchNorm(keras.layers.Layer):
        """A BatchNormalization layer always on its moving statistics (weights shared): the
        functional model hands its own `training` flag to every layer that takes one."""

        def __init__(self, inner, **kwargs):
            super().__init__(name=f"{inner.name}_frozen", **kwargs)
            self.inner = inner

        def call(self, x):
            return self.inner(x, training=False)

    class FakeQuant(keras.layers.Layer):
        """Rounds a tensor to the int8 grid kept in its (scale, zero point) variable."""

        def __init__(self, name, **kwargs):
            super().__init__(name=name, **kwargs)
            self.grid = self.add_weight(name="grid", shape=(2,), trainable=False,
                                        initializer="zeros")

        def call(self, x):
            return fake_quant_tensor(x, self.grid[0], self.grid[1])

    return QuantizedConv, FrozenBatchNorm, FakeQuant


class QuantizationSimulation:
    """`model` (a trained float network) and `.model`, the same network rounding as the
    full-int8 export does (module doc). Call `calibrate` before training `.model`."""

    def __init__(self, model):
        import keras

        QuantizedConv, FrozenBatchNorm, FakeQuant = _layers()
        self.float_model = model
        self.names = quantized_tensors(model)
        self.quantizers = {name: FakeQuant(f"{name}_grid") for name in self.names}
        consumers = _consumers(model)
        #: tensor -> the Add it alone feeds (its range widened to the Add's; module doc)
        self.add_of = {name: consumers[name][0] for name in self.names
                       if len(consumers.get(name, [])) == 1
                       and _kind(model.get_layer(consumers[name][0])) == "Add"
                       and consumers[name][0] in self.quantizers}
        wrapped = {layer.name: QuantizedConv(layer) for layer in model.layers
                   if _kind(layer) in _CONV_TYPES}
        # the folded int8 graph uses the moving statistics
        wrapped.update({layer.name: FrozenBatchNorm(layer) for layer in model.layers
                        if _kind(layer) == "BatchNormalization"})

        # the graph rebuilt layer by layer (not keras.models.clone_model, which would also
        # re-create the compiled loss from its name)
        producers = _producers(model)
        tensors = {}
        for layer in model.layers:
            if _kind(layer) == "InputLayer":
                tensors[layer.name] = model.inputs[0]
                continue
            inputs = [tensors[p] for p in producers[layer.name]]
            if len(inputs) != 1 and _kind(layer) != "Add":
                raise ValueError(f"{layer.name}: only single-input layers and Add are simulated")
            out = wrapped.get(layer.name, layer)(inputs[0] if len(inputs) == 1 else inputs)
            quantizer = self.quantizers.get(layer.name)
            tensors[layer.name] = quantizer(out) if quantizer is not None else out
        output = tensors[model.outputs[0]._keras_history[0].name]
        self.model = keras.Model(model.inputs, output, name=f"{model.name}_int8_simulation")
        self._probe = keras.Model(model.inputs,
                                  [model.get_layer(n).output for n in self.names])

    def calibrate(self, batches) -> int:
        """Set every tensor's int8 grid from the min / max of the float network's tensor over
        `batches` (iterable of input arrays). Returns the number of batches used."""
        lo = {n: np.inf for n in self.names}
        hi = {n: -np.inf for n in self.names}
        used = 0
        for x in batches:
            values = self._probe(x, training=False)
            values = values if isinstance(values, (list, tuple)) else [values]
            for name, value in zip(self.names, values):
                value = np.asarray(value)
                lo[name] = min(lo[name], float(value.min()))
                hi[name] = max(hi[name], float(value.max()))
            used += 1
        if not used:
            raise ValueError("calibration needs at least one batch")
        for name in self.names:
            add = self.add_of.get(name)
            if add is not None:
                lo[name], hi[name] = min(lo[name], lo[add]), max(hi[name], hi[add])
        for name in self.names:
            self.quantizers[name].grid.assign(np.array(int8_grid(lo[name], hi[name]),
                                                       np.float32))
        return used
