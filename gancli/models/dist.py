"""Generators and discriminators for 1-D distributions (seeds 000, 001, 004)."""
from __future__ import annotations

from typing import Sequence

import keras
from keras import layers

from gancli.models.layers import Decorate, SortValues

# --precision bf16/fp16 builds under a mixed policy; the layers that form the values,
# D's view of them (scaling, sorting, the decorate statistics) and the logit stay float32
F32 = "float32"


def _act(name: str, layer_name: str):
    if name == "leaky_relu":
        return layers.LeakyReLU(0.2, name=layer_name)
    return layers.Activation(name, name=layer_name)


def build_generator(arch: str, latent_dim: int, vector_len: int, hidden: Sequence[int],
                    activations: Sequence[str], scale: tuple[float, float] = (0.0, 1.0)
                    ) -> keras.Model:
    """noise (latent_dim,) -> values (vector_len,).

    pointwise: seed 000's Reshape -> Conv1D(h, 1) ... -> Conv1D(1, 1) -> Flatten, which
      maps every noise value through the same small network (latent_dim == vector_len);
      built with Dense layers acting on each value, the same function as Conv1D(k=1).
    mlp: seed 001's Dense stack ending in a linear Dense(vector_len).
    scale=(mu, sd): the network works in standardized units and a final fixed
      Rescaling maps its output to mu + sd * out (a stock layer: the saved model
      produces values on the target's scale and loads without gancli).
    """
    z = keras.Input((latent_dim,), name="noise")
    if arch == "pointwise":
        # Dense on the last axis of (latent_dim, 1) is seed 000's Conv1D(h, 1): the same
        # function and the same initial weights (kernel (1, h), not (1, 1, h)), and at
        # the seed's batch of 10 its training step ran ~2x faster on CPU (bench_train)
        h = layers.Reshape((latent_dim, 1), name="reshape")(z)
        for i, (width, act) in enumerate(zip(hidden, activations), 1):
            h = layers.Dense(width, name=f"dense{i}")(h)
            h = _act(act, f"act{i}")(h)
        h = layers.Dense(1, dtype=F32, name="out")(h)
        out = layers.Flatten(dtype=F32, name="flatten")(h)
    elif arch == "mlp":
        h = z
        for i, (width, act) in enumerate(zip(hidden, activations), 1):
            h = _act(act, f"act{i}")(layers.Dense(width, name=f"dense{i}")(h))
        out = layers.Dense(vector_len, dtype=F32, name="out")(h)
    else:
        raise ValueError(f"unknown generator arch {arch!r}")
    out = layers.Rescaling(scale[1], offset=scale[0], name="values", dtype=F32)(out)
    return keras.Model(z, out, name="generator")


def build_discriminator(vector_len: int, hidden: Sequence[int], activation: str,
                        decorate: bool, sort: bool = False,
                        scale: tuple[float, float] = (0.0, 1.0)) -> keras.Model:
    """values (vector_len,) -> logit (1,). Seed 000: Decorate -> Dense(50) x2 -> Dense(1).
    `sort` first sorts each vector (see SortValues); scale=(mu, sd) standardizes the
    input, (x - mu) / sd, the inverse of the generator's output scaling."""
    x = keras.Input((vector_len,), name="values")
    h = layers.Rescaling(1.0 / scale[1], offset=-scale[0] / scale[1], name="standardize",
                         dtype=F32)(x)
    h = SortValues(dtype=F32, name="sort")(h) if sort else h
    if decorate:
        h = Decorate(dtype=F32, name="decorate")(h)
    for i, width in enumerate(hidden, 1):
        h = _act(activation, f"act{i}")(layers.Dense(width, name=f"dense{i}")(h))
    out = layers.Dense(1, name="logit", dtype=F32)(h)
    return keras.Model(x, out, name="discriminator")
