"""Forward-pass FLOPs per sample, counted from layer shapes (for the benchmarks' GFLOP/s
and % of peak)."""
from __future__ import annotations

import math

import keras
from keras import layers

from gancli.models.layers import TransposedDense, UpConv2D


def flops_by_kind(model: keras.Model) -> dict[str, int]:
    """Forward-pass FLOPs for one sample, 2 x multiply-adds, split into {"matmul": Dense,
    "conv": Conv1D/2D/2DTranspose}, the two kinds whose peak rates a benchmark compares
    against. gancli's UpConv2D and TransposedDense count the FLOPs they run.

    A SpectralNormalization wrapper counts as the layer it wraps (its power iteration,
    one matrix-vector product each way, is left out). Biases, activations,
    normalization, pooling, embeddings and the projection's inner product are left out
    (a small fraction for these models). Nested models are counted through. Dense on a
    rank > 2 input counts once per leading position.
    """
    out = {"matmul": 0, "conv": 0}
    for outer in model.layers:
        # shapes from the model's layer, weights from the layer that holds them
        layer = outer.layer if isinstance(outer, layers.SpectralNormalization) else outer
        if isinstance(layer, keras.Model):
            for kind, n in flops_by_kind(layer).items():
                out[kind] += n
        elif isinstance(layer, UpConv2D):
            # a T x T conv to 4 x filters at the input's resolution
            hin, win, c_in = outer.input.shape[1:4]
            out["conv"] += 2 * hin * win * layer.taps ** 2 * c_in * 4 * layer.filters
        elif isinstance(layer, layers.Conv2DTranspose):
            # every input pixel scatters a kh x kw x c_out patch: kernel is (kh, kw, out, in)
            kh, kw, c_out, c_in = layer.kernel.shape
            hin, win = outer.input.shape[1:3]
            out["conv"] += 2 * hin * win * kh * kw * c_in * c_out
        elif isinstance(layer, layers.Conv2D):
            # every output pixel is a kh x kw x (c_in/groups) dot product per output channel
            kh, kw, c_in_g, c_out = layer.kernel.shape
            hout, wout = outer.output.shape[1:3]
            out["conv"] += 2 * hout * wout * kh * kw * c_in_g * c_out
        elif isinstance(layer, layers.Conv1D):
            k, c_in_g, c_out = layer.kernel.shape
            out["conv"] += 2 * outer.output.shape[1] * k * c_in_g * c_out
        elif isinstance(layer, TransposedDense):
            n_out, n_in = layer.kernel_t.shape
            out["matmul"] += 2 * n_in * n_out
        elif isinstance(layer, layers.Dense):
            n_in, n_out = layer.kernel.shape
            positions = math.prod(outer.output.shape[1:-1])
            out["matmul"] += 2 * positions * n_in * n_out
    return {kind: int(n) for kind, n in out.items()}
