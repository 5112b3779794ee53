"""Image GAN builders: shapes, ranges, labels, parameter counts, save/load."""
from __future__ import annotations

import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from gancli.models.images import build_discriminator, build_generator
from gancli.models.layers import UpConv2D
from gancli.models.speedups import speed_up
from gancli.training import export

# MNIST's nets (sides divisible by 4); dcgan-deep and dcgan-cifar: test_models_stages.py
ARCHS = ("seed-classic", "dcgan", "wgan")
LATENT = 16  # small noise vector: the builders do not care, and it keeps Dense layers small


def _inputs(n, num_classes, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.uniform(-1, 1, (n, LATENT)).astype(np.float32)
    y = rng.integers(0, num_classes, n).astype(np.int32) if num_classes else None
    return z, y


def _call(model, x, y):
    return np.asarray(model(x if y is None else [x, y], training=False))


CASES = [(a, s, nc) for a in ARCHS for s in [(28, 28, 1), (32, 32, 3)] for nc in (0, 10)]
CASES += [(a, s, 0) for a in ARCHS for s in [(28, 28, 3), (64, 64, 1)]]


@pytest.mark.parametrize("arch,shape,num_classes", CASES,
                         ids=[f"{a}-{'x'.join(map(str, s))}-c{nc}" for a, s, nc in CASES])
def test_shapes_range_and_names(arch, shape, num_classes):
    G = build_generator(arch, LATENT, shape, num_classes)
    D = build_discriminator(arch, shape, num_classes)
    assert (G.name, D.name) == ("generator", "discriminator")
    want_g = ["noise", "label"] if num_classes else ["noise"]
    want_d = ["image", "label"] if num_classes else ["image"]
    assert [t.name for t in G.inputs] == want_g
    assert [t.name for t in D.inputs] == want_d
    z, y = _inputs(3, num_classes)
    x = _call(G, z, y)
    assert x.shape == (3, *shape)
    assert np.all(np.abs(x) <= 1.0)
    assert _call(D, x, y).shape == (3, 1)
    assert D.get_layer("logit").output.shape == (None, 1)
    if num_classes:
        # the label must reach the output on both sides
        y2 = (y + 1) % num_classes
        assert not np.allclose(_call(G, z, y2), x)
        assert not np.allclose(_call(D, x, y2), _call(D, x, y))


def test_discriminator_output_is_linear():
    # a logit, not a probability: the losses apply the sigmoid
    D = build_discriminator("seed-classic", (28, 28, 1))
    assert D.layers[-1].activation is keras.activations.linear


@pytest.mark.parametrize("kwargs", [
    {"arch": "dcgan", "image_shape": (30, 28, 1)},
    {"arch": "dcgan", "image_shape": (28, 26, 1)},
    {"arch": "dcgan", "image_shape": (28, 28)},
    {"arch": "dcgan", "image_shape": (28, 28, 0)},
    {"arch": "nope", "image_shape": (28, 28, 1)},
])
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        build_generator(latent_dim=LATENT, **kwargs)
    with pytest.raises(ValueError):
        build_discriminator(**kwargs)


def test_bad_latent_and_small_seed_classic_raise():
    with pytest.raises(ValueError, match="latent_dim"):
        build_generator("dcgan", 0, (28, 28, 1))
    with pytest.raises(ValueError, match="12x12"):
        build_discriminator("seed-classic", (8, 8, 1))
    with pytest.raises(ValueError, match="seed-classic, dcgan, wgan"):
        build_discriminator("gan", (28, 28, 1))


def test_seed_classic_parameter_counts():
    G = build_generator("seed-classic", 100, (28, 28, 1))
    dense1 = 100 * 1024 + 1024
    dense2 = 1024 * 128 * 7 * 7 + 128 * 7 * 7
    bn = 4 * 128 * 7 * 7                       # gamma, beta, moving mean, moving variance
    conv1 = 5 * 5 * 128 * 64 + 64
    conv2 = 5 * 5 * 64 * 1 + 1
    assert G.count_params() == dense1 + dense2 + bn + conv1 + conv2
    assert sum(int(np.prod(w.shape)) for w in G.non_trainable_weights) == 2 * 128 * 7 * 7

    D = build_discriminator("seed-classic", (28, 28, 1))
    conv1 = 5 * 5 * 1 * 64 + 64                # 'same': 28x28 -> pool 14x14
    conv2 = 5 * 5 * 64 * 128 + 128             # 'valid': 10x10 -> pool 5x5
    dense1 = 5 * 5 * 128 * 1024 + 1024
    dense2 = 1024 + 1
    assert D.count_params() == conv1 + conv2 + dense1 + dense2


# Loads every saved generator in a fresh interpreter where importing gancli fails,
# and checks it reproduces the outputs recorded before saving.
_RELOAD = """
import json, sys
sys.modules["gancli"] = None  # any attempt to import gancli now raises ImportError
import keras, numpy as np
for case in json.load(open("cases.json")):
    x = [np.load(p) for p in case["inputs"]]
    want = np.load(case["output"])
    for path in case["files"]:
        m = keras.models.load_model(path, compile=False)
        got = np.asarray(m(x if len(x) > 1 else x[0], training=False))
        assert m.name == "generator", path
        assert np.array_equal(got, want), (path, float(np.abs(got - want).max()))
print("ok")
"""


@pytest.mark.slow
def test_generators_reload_without_gancli(tmp_path):
    cases = []
    for arch in ARCHS:
        for nc in (0, 10):
            shape = (28, 28, 1) if nc else (32, 32, 3)
            trained = speed_up(build_generator(arch, LATENT, shape, nc), gpu=False)
            G = export.stock(trained)  # what export saves: no gancli layer left
            name = f"{arch}-{nc}"
            z, y = _inputs(4, nc, seed=len(cases))
            np.testing.assert_allclose(_call(G, z, y), _call(trained, z, y), atol=1e-5)
            inputs = [z] if y is None else [z, y]
            paths = []
            for i, arr in enumerate(inputs):
                paths.append(str(tmp_path / f"{name}-in{i}.npy"))
                np.save(paths[-1], arr)
            np.save(tmp_path / f"{name}-out.npy", _call(G, z, y))
            files = [str(tmp_path / f"{name}.h5"), str(tmp_path / f"{name}.keras")]
            for f in files:
                G.save(f)
            cases.append({"inputs": paths, "output": str(tmp_path / f"{name}-out.npy"),
                          "files": files})
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    # check=False: on failure the assert below shows the child's traceback
    r = subprocess.run([sys.executable, "-c", _RELOAD], cwd=tmp_path, check=False,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.startswith("ok")


@pytest.mark.parametrize("num_classes", [0, 10])
def test_discriminators_roundtrip_keras(tmp_path, num_classes):
    for arch in ARCHS:
        D = build_discriminator(arch, (28, 28, 1), num_classes)
        rng = np.random.default_rng(1)
        x = rng.uniform(-1, 1, (4, 28, 28, 1)).astype(np.float32)
        y = rng.integers(0, 10, 4).astype(np.int32) if num_classes else None
        path = tmp_path / f"{arch}.keras"
        D.save(path)
        D2 = keras.models.load_model(path, compile=False)
        assert [t.name for t in D2.inputs] == [t.name for t in D.inputs]
        np.testing.assert_array_equal(_call(D2, x, y), _call(D, x, y))


@pytest.mark.parametrize("k, shape", [(3, (5, 6, 4)), (5, (7, 7, 8)), (7, (4, 9, 3))])
def test_upconv2d_is_upsampling_then_conv(k, shape):
    """The fused layer computes UpSampling2D + Conv2D(same): values and kernel gradients."""
    import tensorflow as tf

    x = np.random.default_rng(k).normal(size=(3, *shape)).astype(np.float32)
    fused = UpConv2D(5, k, activation="tanh")
    fused.build(x.shape)
    fused.bias.assign(np.linspace(-1, 1, 5).astype(np.float32))
    stock = keras.Sequential(fused.stock_layers())
    with tf.GradientTape(persistent=True) as tape:
        y_f, y_s = fused(x), stock(x)
        loss_f, loss_s = tf.reduce_sum(tf.sin(3 * y_f)), tf.reduce_sum(tf.sin(3 * y_s))
    assert y_f.shape == (3, 2 * shape[0], 2 * shape[1], 5)
    np.testing.assert_allclose(y_f, y_s, atol=1e-5)
    conv = stock.layers[-1]
    for mine, theirs in ((fused.kernel, conv.kernel), (fused.bias, conv.bias)):
        np.testing.assert_allclose(tape.gradient(loss_f, mine.value),
                                   tape.gradient(loss_s, theirs.value), rtol=1e-4, atol=1e-4)


def test_fused_generator_clones_and_roundtrips(tmp_path):
    """--ema clones G with keras.models.clone_model, and UpConv2D is a registered layer:
    both must rebuild the fused model exactly (Keras 3 uses get_config for each)."""
    G = speed_up(build_generator("seed-classic", LATENT, (28, 28, 1), 10), gpu=False)
    z, y = _inputs(4, 10, seed=3)
    clone = keras.models.clone_model(G)
    clone.set_weights(G.get_weights())
    np.testing.assert_array_equal(_call(clone, z, y), _call(G, z, y))
    G.save(tmp_path / "fused.keras")
    again = keras.models.load_model(tmp_path / "fused.keras", compile=False)
    assert any(isinstance(layer, UpConv2D) for layer in again.layers)
    np.testing.assert_array_equal(_call(again, z, y), _call(G, z, y))
