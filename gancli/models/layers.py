"""gancli's own Keras layers, registered for .keras / .h5 (de)serialization.

UpConv2D and TransposedDense (and fastconv.FastGradConv2D) are faster CPU forms of
stock Keras layers (a `StockForm`): gancli.models.speedups swaps them in for training,
gancli.training.export.stock swaps them back out for saved models, and
gancli.training.checkpoint stores their state as the stock layers hold it."""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
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


class StockForm:
    """A layer that computes the same function as some stock Keras layers, from the same
    weights held in another layout. The stock layer that holds the weights has this
    layer's name, so a weight's path, layer name / weight name, is the same in both."""

    def stock_layers(self) -> list:
        """The stock layers, built, holding this layer's weights; applied in order."""
        raise NotImplementedError

    def to_stock(self, name: str, value: np.ndarray) -> tuple[str, np.ndarray]:
        """This layer's weight `name` (or an optimizer slot of it: the same shape) as the
        stock layer holds it: (the stock weight's name, its value)."""
        return name, value

    def from_stock(self, name: str, value: np.ndarray) -> tuple[str, np.ndarray]:
        """The inverse of to_stock: the stock weight `name` -> (this layer's name, value)."""
        return name, value


@keras.saving.register_keras_serializable(package="gancli")
class UpConv2D(StockForm, keras.layers.Layer):
    """UpSampling2D(2) (nearest) then Conv2D(filters, k, padding="same"), computed at
    the input's resolution: the same function and the same (k, k, in, filters) kernel,
    for about a third of the FLOPs.

    Output pixel (2i + a, 2j + b) of the upsampled conv only ever sees input pixels
    i - 1 .. i + 1 (k = 5), each through a sum of kernel taps: tap d of the k taps
    lands on input offset floor((a + d - k//2) / 2). So each of the four output phases
    (a, b) is a T x T conv of the small input with a kernel built from the k x k one,
    T = 2 ceil((k//2) / 2) + 1 (3 for k = 5). One conv with the four phase kernels
    side by side, then depth_to_space, gives the upsampled result: for seed 000's
    7x7x128 -> 14x14x64 layer, 9 x 4 taps per input pixel instead of 25 per output
    pixel (0.36 of the multiply-adds), and the same for the gradients.

    The kernel is the trainable variable, so optimizers and checkpoints see seed
    000's parameters; `stock_layers()` gives the UpSampling2D (named NAME_up) + Conv2D
    (named NAME) pair that a saved generator holds (gancli.training.export.stock).
    """

    def __init__(self, filters: int, kernel_size: int, activation=None, **kwargs):
        super().__init__(**kwargs)
        if kernel_size % 2 != 1:
            raise ValueError(f"UpConv2D needs an odd kernel size, got {kernel_size}")
        self.filters, self.kernel_size = int(filters), int(kernel_size)
        self.activation = keras.activations.get(activation)
        r = self.kernel_size // 2
        self.taps = 2 * (-(-r // 2)) + 1
        c = self.taps // 2
        # phase_map[a, d, s] = 1 when kernel tap d of output phase a falls on offset s - c
        m = np.zeros((2, self.kernel_size, self.taps), "float32")
        for a in range(2):
            for d in range(self.kernel_size):
                m[a, d, (a + d - r) // 2 + c] = 1.0
        # as one (4 T^2, k^2) 0/1 matrix, rows (a, b, i, j), columns (d, e): building the
        # phase kernels is then a single matmul (an einsum of m, m and the kernel was a
        # chain of contractions and transposes, ~3% of a seed-classic step at batch 16)
        self._phase_map = np.einsum("adi,bej->abijde", m, m).reshape(
            4 * self.taps ** 2, self.kernel_size ** 2)

    def build(self, input_shape):
        c_in = input_shape[-1]
        self.kernel = self.add_weight(
            name="kernel", shape=(self.kernel_size, self.kernel_size, c_in, self.filters),
            initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")

    def call(self, x):
        kernel = ops.cast(self.kernel, self.compute_dtype)
        t, k, c_in, f = self.taps, self.kernel_size, kernel.shape[2], self.filters
        phases = ops.matmul(ops.cast(self._phase_map, self.compute_dtype),
                            ops.reshape(kernel, (k * k, c_in * f)))
        # (a, b, T, T, in, out) -> (T, T, in, 4 out), phases in depth_to_space's order
        phases = ops.transpose(ops.reshape(phases, (2, 2, t, t, c_in, f)), (2, 3, 4, 0, 1, 5))
        phases = ops.reshape(phases, (t, t, c_in, 4 * f))
        y = ops.conv(x, phases, strides=1, padding="same")
        y = ops.depth_to_space(y, 2) + ops.cast(self.bias, self.compute_dtype)
        return self.activation(y)

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        return (n, None if h is None else 2 * h, None if w is None else 2 * w, self.filters)

    def get_config(self):
        return dict(super().get_config(), filters=self.filters, kernel_size=self.kernel_size,
                    activation=keras.activations.serialize(self.activation))

    def stock_layers(self) -> list:
        up = keras.layers.UpSampling2D(name=f"{self.name}_up", dtype=self.dtype_policy)
        conv = keras.layers.Conv2D(self.filters, self.kernel_size, padding="same",
                                   activation=self.activation, dtype=self.dtype_policy,
                                   name=self.name)
        conv.build((None, None, None, self.kernel.shape[2]))
        conv.set_weights([np.asarray(self.kernel), np.asarray(self.bias)])
        return [up, conv]


@keras.saving.register_keras_serializable(package="gancli")
class TransposedDense(StockForm, keras.layers.Layer):
    """keras.layers.Dense(units, activation) on rank-2 inputs, with the kernel stored
    (units, in) -- PyTorch's nn.Linear layout -- instead of Dense's (in, units).

    The same function, and the same initial values for the same seed (the initializer
    draws the (in, units) kernel and the layer stores its transpose). Why: on this
    machine oneDNN's matmul ran x @ K with a (3200, 1024) K at 62-68 GFLOP/s and
    x @ K_t^T with its (1024, 3200) transpose at 96-140: seed-classic D's Dense
    forward + both gradients take 24 % less time at batch 64 and 128. (For G's
    1024 -> 6272 Dense the stock layout was faster, so it stays a Dense.)
    `stock_layers()` gives the Dense that a saved discriminator holds; `to_stock`
    transposes "kernel_t" (and its optimizer slots) to Dense's "kernel"."""

    def __init__(self, units: int, activation=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = keras.activations.get(activation)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"TransposedDense takes (batch, features) inputs, got {input_shape}")
        n_in = input_shape[-1]

        def kernel_t(shape, dtype=None):
            return ops.transpose(self.kernel_initializer((n_in, self.units), dtype=dtype))

        self.kernel_t = self.add_weight(name="kernel_t", shape=(self.units, n_in),
                                        initializer=kernel_t)
        self.bias = self.add_weight(name="bias", shape=(self.units,),
                                    initializer=self.bias_initializer)

    def call(self, x):
        # the transposed read is TensorFlow's MatMul(transpose_b); its gradients are
        # dY @ K_t and dY^T @ X, both plain matmuls
        y = tf.matmul(x, ops.cast(self.kernel_t, self.compute_dtype), transpose_b=True)
        return self.activation(tf.nn.bias_add(y, ops.cast(self.bias, self.compute_dtype)))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return dict(super().get_config(), units=self.units,
                    activation=keras.activations.serialize(self.activation),
                    kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
                    bias_initializer=keras.initializers.serialize(self.bias_initializer))

    def to_stock(self, name, value):
        return ("kernel", np.transpose(value)) if name == "kernel_t" else (name, value)

    def from_stock(self, name, value):
        return ("kernel_t", np.transpose(value)) if name == "kernel" else (name, value)

    def stock_layers(self) -> list:
        dense = keras.layers.Dense(self.units, activation=self.activation,
                                   dtype=self.dtype_policy, name=self.name)
        dense.build((None, self.kernel_t.shape[1]))
        dense.set_weights([self.to_stock("kernel_t", np.asarray(self.kernel_t))[1],
                           np.asarray(self.bias)])
        return [dense]
