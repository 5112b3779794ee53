"""FastGradConv2D: a stock Conv2D whose gradients take a faster route on CPUs.

The layer computes the same function with the same weights as `keras.layers.Conv2D`;
only two of its gradients are computed by other formulations of the same sums,
which oneDNN runs faster on this machine (2-core AMD EPYC, AVX2, TF 2.21):

- filter gradient, for convs with >= FILTER_TRICK_MIN_CHANNELS input channels:
  dK[i, j, c, o] = sum over b, y, x of X[b, y + i, x + j, c] dY[b, y, x, o] is a VALID
  forward convolution that contracts the batch instead of the channels: X as
  (C, H, W, B) images, dY as a (Ho, Wo, B, O) kernel, giving (C, kh, kw, O).
  seed-classic D's 14x14x64 -> 128 5x5 conv at batch 32 / 64 / 128: 22 / 31 / 29 %
  less time than Conv2DBackpropFilter; slower when C is small (C = 1: 2-3x slower).
- input gradient when there is one input channel (a grayscale discriminator's first
  conv, whose input gradient the G step needs): dX is the sum over the kh x kw taps
  of dY @ K^T shifted by the tap's offset -- one (B Ho Wo, O) x (O, kh kw) matmul
  and kh kw shifted adds ("col2im"), about half the time of Conv2DBackpropInput.

Anything else -- strides or dilation other than 1, groups, channels-first, shapes
not known when traced -- keeps the stock gradient. The forward pass is the stock
conv, so TensorFlow still fuses it with the bias and activation.

gancli.models.speedups swaps it in for the Conv2D layers where a fast route applies
(`pays`), on CPUs only: GPUs' cuDNN gradients were not measured against it. Saved
discriminators hold stock Conv2D layers (gancli.training.export.stock). Measured by
benchmarks/bench_train.py (the "seed layers" row trains gancli's loop without it).
"""
from __future__ import annotations

import keras
import tensorflow as tf

from gancli.models.layers import StockForm

FILTER_TRICK_MIN_CHANNELS = 32


def _same_pads(k: int) -> tuple[int, int]:
    # TensorFlow's 'same' padding at stride 1: the extra row / column goes after
    return (k - 1) // 2, (k - 1) - (k - 1) // 2


def filter_grad(x, dy, kh: int, kw: int, padding: str):
    """Conv2DBackpropFilter(x, dy) at stride 1 as one forward conv over the batch."""
    if padding == "SAME":
        x = tf.pad(x, [[0, 0], list(_same_pads(kh)), list(_same_pads(kw)), [0, 0]])
    x_t = tf.transpose(x, (3, 1, 2, 0))      # (C, Hp, Wp, B): channels as the batch
    dy_t = tf.transpose(dy, (1, 2, 0, 3))    # (Ho, Wo, B, O): the batch as in-channels
    return tf.transpose(tf.nn.conv2d(x_t, dy_t, 1, "VALID"), (1, 2, 0, 3))


def input_grad_one_channel(dy, kernel, padding: str, height: int, width: int):
    """Conv2DBackpropInput for a one-channel input at stride 1: matmul, then col2im."""
    kh, kw, _, c_out = kernel.shape
    ho, wo = dy.shape[1], dy.shape[2]
    taps = tf.reshape(tf.matmul(tf.reshape(dy, [-1, c_out]),
                                tf.reshape(kernel, [kh * kw, c_out]), transpose_b=True),
                      [-1, ho, wo, kh * kw])
    dx = None
    for t in range(kh * kw):
        i, j = divmod(t, kw)
        shifted = tf.pad(taps[..., t], [[0, 0], [i, kh - 1 - i], [j, kw - 1 - j]])
        dx = shifted if dx is None else dx + shifted
    if padding == "SAME":
        top, left = _same_pads(kh)[0], _same_pads(kw)[0]
        dx = dx[:, top:top + height, left:left + width]
    return dx[..., None]


def conv2d(x, kernel, padding: str):
    """tf.nn.conv2d(x, kernel, 1, padding) with the gradients described above.
    x: (B, H, W, C) with H, W, C known; kernel (kh, kw, C, O); padding 'SAME'/'VALID'."""

    @tf.custom_gradient
    def conv(x, kernel):
        y = tf.nn.conv2d(x, kernel, 1, padding)

        def grad(dy):
            kh, kw, c_in, _ = kernel.shape
            if c_in == 1:
                dx = input_grad_one_channel(dy, kernel, padding, x.shape[1], x.shape[2])
            else:
                dx = tf.raw_ops.Conv2DBackpropInput(
                    input_sizes=tf.shape(x), filter=kernel, out_backprop=dy,
                    strides=[1, 1, 1, 1], padding=padding)
            if c_in >= FILTER_TRICK_MIN_CHANNELS:
                dk = filter_grad(x, dy, kh, kw, padding)
            else:
                dk = tf.raw_ops.Conv2DBackpropFilter(
                    input=x, filter_sizes=tf.shape(kernel), out_backprop=dy,
                    strides=[1, 1, 1, 1], padding=padding)
            return dx, dk

        return y, grad

    return conv(x, kernel)


def pays(conv: keras.layers.Conv2D) -> bool:
    """Whether a built Conv2D's gradients would take a fast route above."""
    c_in = conv.kernel.shape[2]
    return (keras.backend.backend() == "tensorflow"
            and tuple(conv.strides) == (1, 1) and tuple(conv.dilation_rate) == (1, 1)
            and conv.groups == 1 and conv.data_format == "channels_last"
            and (c_in == 1 or c_in >= FILTER_TRICK_MIN_CHANNELS))


@keras.saving.register_keras_serializable(package="gancli")
class FastGradConv2D(StockForm, keras.layers.Conv2D):
    """keras.layers.Conv2D (same config, same weights) with the gradients above."""

    def _fast(self, inputs) -> bool:
        return pays(self) and None not in tuple(inputs.shape[1:])

    def convolution_op(self, inputs, kernel):
        if not self._fast(inputs):
            return super().convolution_op(inputs, kernel)
        return conv2d(keras.ops.cast(inputs, self.compute_dtype),
                      keras.ops.cast(kernel, self.compute_dtype), self.padding.upper())

    def stock_layers(self) -> list:
        conv = keras.layers.Conv2D.from_config(self.get_config())
        conv.build((None, None, None, self.kernel.shape[2]))
        conv.set_weights(self.get_weights())
        return [conv]
