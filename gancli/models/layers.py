"""gancli's own Keras layers, registered for .keras / .h5 (de)serialization."""
from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="gancli")
class Decorate(keras.layers.Layer):
    """Seed 000's decorate layer: appends (x - mean(x))^2 to x along the last axis.

    It lets a per-vector discriminator see the spread of its input, the way
    minibatch statistics do. (batch, n) -> (batch, 2n).
    """

    def call(self, x):
        m = ops.mean(x, axis=-1, keepdims=True)
        return ops.concatenate([x, ops.square(x - m)], axis=-1)

    def compute_output_shape(self, input_shape):
        n = input_shape[-1]
        return tuple(input_shape[:-1]) + (None if n is None else 2 * n,)


@keras.saving.register_keras_serializable(package="gancli")
class SortValues(keras.layers.Layer):
    """Sorts each vector along the last axis.

    A train-dist vector holds i.i.d. draws, so their order carries no information
    and the sorted vector (the empirical quantiles) is a sufficient statistic.
    Given it, D's Dense layers can compare the whole shape of the distribution,
    not only the moments they can form from unordered values.
    """

    def call(self, x):
        return ops.sort(x, axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)
