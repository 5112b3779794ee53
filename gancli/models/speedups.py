"""The one pass that swaps faster CPU layers into a built stock model.

The builders (models/images.py) make the seeds' stock Keras layers; `speed_up`
returns the same function, holding the same weights, with these swaps where the
model has the pattern (all measured by benchmarks/bench_train.py):

- UpSampling2D(2) then a 'same' stride-1 Conv2D (seed-classic's G) -> one UpConv2D
  (layers.py): the conv at the input's resolution, ~0.36 of the FLOPs.
- Conv2D(tanh) whose only consumer is a MaxPooling2D (seed-classic's D) -> the conv
  without activation, the pool, then tanh: tanh is increasing, so the two commute,
  and the tanh runs on a quarter of the values, forward and backward.
- a narrowing Dense on (batch, features), units < features and units > 1 (seed-classic
  D's 3200 -> 1024) -> TransposedDense (layers.py): its kernel stored (units, in),
  whose matmuls oneDNN ran 24 % faster. Widening ones (G's 1024 -> 6272) ran faster
  stock, and a Dense(1) logit is a matrix-vector product either way.
- without a GPU: a Conv2D whose gradients have a faster route (fastconv.pays:
  stride 1, one or >= 32 input channels; seed-classic's D) -> FastGradConv2D.

Every swapped-in layer is a layers.StockForm: it keeps the stock layer's name and
maps its weights to and from the stock layer's, so gancli.training.export.stock
undoes the swaps for saved models and gancli.training.checkpoint stores the stock
layout (a CPU run and a GPU run read each other's checkpoints).
"""
from __future__ import annotations

import keras
import numpy as np
from keras import layers

from gancli.models import fastconv
from gancli.models.fastconv import FastGradConv2D
from gancli.models.layers import TransposedDense, UpConv2D


def speed_up(model: keras.Model, gpu: bool) -> keras.Model:
    """`model` with the swaps above (FastGradConv2D only when `gpu` is False): a new
    model holding the same weights, or `model` itself when nothing applies. Call it
    where the model was built (same distribution scope and dtype policy)."""
    swaps, folded, moved = _plan(model, gpu)
    if not (swaps or folded or moved):
        return model

    def clone(layer):
        if layer.name in swaps:
            return swaps[layer.name]
        return layer.__class__.from_config(layer.get_config())

    def call(layer, *args, **kwargs):
        if layer.name in folded:
            return args[0]  # the UpConv2D after it upsamples
        y = layer(*args, **kwargs)
        if layer.name in moved:
            activation, name = moved[layer.name]
            y = layers.Activation(activation, name=name, dtype=layer.dtype_policy)(y)
        return y

    fast = keras.models.clone_model(model, clone_function=clone, call_function=call)
    for layer in fast.layers:
        if layer.weights:
            _copy_weights(model.get_layer(layer.name), layer)
    return fast


def _plan(model, gpu: bool):
    """-> ({conv / dense name: the layer replacing it}, {UpSampling2D names folded into
    the UpConv2D after them}, {pool name: (activation moved after it, its layer name)})."""
    producers, consumers = _graph(model)
    swaps, folded, moved = {}, set(), {}
    for layer in model.layers:
        if type(layer) is layers.Conv2D:
            (src,) = producers[layer.name]
            if _upsamples_into(src, layer, consumers):
                folded.add(src.name)
                swaps[layer.name] = UpConv2D(layer.filters, layer.kernel_size[0],
                                             activation=layer.activation, name=layer.name,
                                             dtype=layer.dtype_policy)
                continue
            after = consumers[layer.name]
            move = (layer.activation is keras.activations.tanh and len(after) == 1
                    and type(after[0]) is layers.MaxPooling2D)
            fast_grads = not gpu and fastconv.pays(layer)
            if move or fast_grads:
                config = layer.get_config()
                if move:
                    config["activation"] = None
                    moved[after[0].name] = (layer.activation, f"{layer.name}_tanh")
                cls = FastGradConv2D if fast_grads else layers.Conv2D
                swaps[layer.name] = cls.from_config(config)
        elif type(layer) is layers.Dense and layer.use_bias and len(layer.input.shape) == 2:
            n_in = layer.kernel.shape[0]
            if 1 < layer.units < n_in:
                swaps[layer.name] = TransposedDense(
                    layer.units, activation=layer.activation, name=layer.name,
                    dtype=layer.dtype_policy)
    return swaps, folded, moved


def _graph(model):
    """{layer name: the layers it reads}, {layer name: the layers reading it}."""
    producers = {layer.name: [] for layer in model.layers}
    consumers = {layer.name: [] for layer in model.layers}
    for layer in model.layers:
        for node in layer._inbound_nodes:
            for tensor in node.input_tensors:
                src = tensor._keras_history.operation
                producers[layer.name].append(src)
                consumers.setdefault(src.name, []).append(layer)
    return producers, consumers


def _upsamples_into(up, conv, consumers) -> bool:
    k = conv.kernel_size
    return (type(up) is layers.UpSampling2D and tuple(up.size) == (2, 2)
            and up.interpolation == "nearest" and up.data_format == "channels_last"
            and consumers[up.name] == [conv]
            and k[0] == k[1] and k[0] % 2 == 1 and conv.padding == "same"
            and tuple(conv.strides) == (1, 1) and tuple(conv.dilation_rate) == (1, 1)
            and conv.groups == 1 and conv.use_bias)


def _copy_weights(src, dst) -> None:
    """dst's weights from src's, through the stock layout (either may be a StockForm)."""
    own = {w.name: w for w in dst.weights}
    for w in src.weights:
        name, value = w.name, np.asarray(w)
        if hasattr(src, "to_stock"):
            name, value = src.to_stock(name, value)
        if hasattr(dst, "from_stock"):
            name, value = dst.from_stock(name, value)
        own[name].assign(value)
