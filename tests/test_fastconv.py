"""FastGradConv2D: the stock Conv2D's function and gradients (first and second order)
by other routes; seed-classic's discriminator trains with it on CPU and is saved as
stock Conv2D layers."""
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from gancli import cli
from gancli.models import fastconv
from gancli.models.fastconv import FastGradConv2D
from gancli.models.images import build_discriminator
from gancli.models.speedups import speed_up
from gancli.training import export
from helpers import assert_close_to_scale, derivatives, seed_classic_trainer

# (height, in channels, out channels, kernel, padding, strides): the first four take
# the fast routes (one input channel; >= 32 input channels), the last falls back
CASES = [(28, 1, 64, 5, "same", 1), (14, 64, 128, 5, "valid", 1),
         (9, 32, 16, 3, "same", 1), (9, 1, 8, 4, "same", 1), (12, 2, 8, 3, "same", 2)]


def _pair(h, c_in, c_out, k, padding, strides, seed=0):
    x = tf.constant(np.random.default_rng(seed).normal(size=(3, h, h, c_in)), tf.float32)
    stock = keras.layers.Conv2D(c_out, k, strides=strides, padding=padding,
                                activation="tanh")
    fast = FastGradConv2D(c_out, k, strides=strides, padding=padding, activation="tanh")
    stock.build(x.shape)
    fast.build(x.shape)
    weights = stock.get_weights()
    fast.set_weights([weights[0], np.linspace(-0.5, 0.5, c_out).astype(np.float32)])
    stock.set_weights(fast.get_weights())
    return x, stock, fast


@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c)))
def test_same_function_and_gradients_as_conv2d(case):
    x, stock, fast = _pair(*case)
    assert fast._fast(x) == (case[5] == 1)
    want, got = derivatives(stock, x), derivatives(fast, x)
    np.testing.assert_array_equal(got[0], want[0])  # the forward pass is the stock conv
    assert_close_to_scale(tf.nest.flatten(got[1:]), tf.nest.flatten(want[1:]), 2e-5)


def test_filter_route_is_a_conv_over_the_batch():
    """The helper alone equals TensorFlow's Conv2DBackpropFilter, 'same' and 'valid'."""
    rng = np.random.default_rng(3)
    x = tf.constant(rng.normal(size=(5, 10, 11, 32)), tf.float32)
    for padding, (ho, wo) in (("VALID", (6, 7)), ("SAME", (10, 11))):
        dy = tf.constant(rng.normal(size=(5, ho, wo, 4)), tf.float32)
        want = tf.raw_ops.Conv2DBackpropFilter(input=x, filter_sizes=[5, 5, 32, 4],
                                               out_backprop=dy, strides=[1, 1, 1, 1],
                                               padding=padding)
        got = fastconv.filter_grad(x, dy, 5, 5, padding)
        np.testing.assert_allclose(got, want, atol=1e-4 * float(tf.reduce_max(tf.abs(want))))


def test_under_bfloat16_policy_as_close_to_float32_as_conv2d():
    """--precision bf16: the fast routes' rounding error is of the stock one's size."""
    x, stock, _ = _pair(14, 64, 32, 5, "valid", 1, seed=1)
    exact = derivatives(stock, x)
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        layers = [cls(32, 5, activation="tanh") for cls in (keras.layers.Conv2D, FastGradConv2D)]
        for layer in layers:
            layer.build(x.shape)
            layer.set_weights(stock.get_weights())
        assert layers[1]._fast(tf.cast(x, tf.bfloat16))
        results = [derivatives(layer, x) for layer in layers]
    finally:
        keras.config.set_dtype_policy(policy)
    assert results[1][0].dtype == tf.bfloat16
    for i, want in enumerate(tf.nest.flatten(exact[:3])):
        errors = [float(tf.reduce_max(tf.abs(tf.cast(tf.nest.flatten(r[:3])[i], tf.float32)
                                             - want))) for r in results]
        scale = float(tf.reduce_max(tf.abs(want)))
        assert errors[1] <= 2 * errors[0] + 0.01 * scale, (i, errors, scale)


@pytest.mark.parametrize("num_classes", [0, 10])
def test_seed_classic_discriminator_exports_stock_layers(num_classes):
    D = speed_up(build_discriminator("seed-classic", (28, 28, 1), num_classes), gpu=False)
    assert sum(isinstance(layer, FastGradConv2D) for layer in D.layers) == 2
    stock = export.stock(D)
    assert not any(isinstance(layer, FastGradConv2D) for layer in stock.layers)
    assert [layer.name for layer in stock.layers] == [layer.name for layer in D.layers]
    x = np.random.default_rng(0).uniform(-1, 1, (4, 28, 28, 1)).astype(np.float32)
    inputs = [x, np.arange(4, dtype=np.int32)] if num_classes else x
    # the Dense and the TransposedDense sum in different orders (1 float32 ulp apart on
    # an AVX512-BF16 CPU): equal to 1e-5 of the logits' scale
    assert_close_to_scale([stock(inputs)], [D(inputs)], 1e-5)


_RELOAD_D = """
import sys
sys.modules["gancli"] = None  # importing gancli now fails
import keras, numpy as np
for path in sys.argv[1:]:
    D = keras.models.load_model(path, compile=False)
    kinds = {type(layer).__module__.split(".")[0] for layer in D.layers}
    assert kinds == {"keras"}, (path, kinds)
    names = [layer.name for layer in D.layers if type(layer).__name__ == "Conv2D"]
    assert names == ["conv1", "conv2"], names
    assert tuple(D.get_layer("features").kernel.shape) == (3200, 1024)  # a stock Dense
    out = np.asarray(D(np.zeros((2, 28, 28, 1), np.float32), training=False))
    assert out.shape == (2, 1) and np.isfinite(out).all()
print("ok")
"""


@pytest.mark.slow
def test_train_mnist_seed_classic_saves_a_stock_discriminator(tmp_path):
    """Through the CLI on this CPU: seed-classic's D trains with FastGradConv2D; the
    saved discriminator opens with plain Keras, without gancli."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "tiny.npz", x_train=rng.integers(0, 255, (64, 28, 28), np.uint8),
             y_train=(np.arange(64) % 10).astype(np.uint8))
    out = tmp_path / "run"
    code = cli.main(["train-mnist", "--preset", "seed-classic", "--data",
                     str(tmp_path / "tiny.npz"), "--steps", "3", "--batch_size", "16",
                     "--grid_size", "4", "--quiet", "--out", str(out)])
    assert code == 0
    files = [str(out / "discriminator.h5"), str(out / "discriminator.keras")]
    r = subprocess.run([sys.executable, "-c", _RELOAD_D, *files], capture_output=True,
                       text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.startswith("ok")


@pytest.mark.slow
def test_seed_classic_trains_the_same_with_fast_gradients(tmp_path):
    """Five steps of the CLI's seed-classic trainer: with the stock Conv2D (as on a GPU
    box) and the FastGradConv2D discriminator (on a CPU) give the same weights within
    float tolerance; a checkpoint of the fast one restores into the stock one (a run
    moved from a CPU to a GPU box)."""
    from gancli.training import checkpoint

    def trainer(fast):
        return seed_classic_trainer(3, 8, 5, layers="cpu" if fast else "gpu")

    def weights(t):
        return [v.numpy() for v in t.G.trainable_variables + t.D.trainable_variables]

    stock, fast = trainer(False), trainer(True)
    start = [v.numpy() for v in stock.D.trainable_variables]
    stock.train(5)
    fast.train(5)
    for a, b in zip(weights(stock), weights(fast)):
        np.testing.assert_allclose(b, a, atol=1e-5, rtol=1e-4)
    # the comparison means something: each D weight moved further than the runs differ
    n_d = len(start)
    for w0, a, b in zip(start, weights(stock)[-n_d:], weights(fast)[-n_d:]):
        assert np.abs(b - a).max() < 0.01 * np.abs(a - w0).max()

    path = checkpoint.save(fast.state_variables(), str(tmp_path), 5, {})
    moved = trainer(False)
    checkpoint.restore(moved.state_variables(), path)
    for a, b in zip(weights(moved), weights(fast)):
        np.testing.assert_array_equal(a, b)
    moved.train(1)
    fast.train(1)
    for a, b in zip(weights(moved), weights(fast)):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-4)
