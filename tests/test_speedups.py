"""models.speedups: the one pass that swaps faster CPU layers into the builders' stock
models gives the same function from the same weights, and export.stock undoes it."""
import keras
import numpy as np
import pytest

from gancli import config
from gancli.commands import train_mnist
from gancli.config import IMAGE_MODELS, ImageConfig
from gancli.models.fastconv import FastGradConv2D
from gancli.models.images import build_discriminator, build_generator
from gancli.models.layers import TransposedDense, UpConv2D
from gancli.models.speedups import speed_up
from gancli.presets import PRESETS
from gancli.training import export
from helpers import assert_close_to_scale

SHAPE = (28, 28, 1)


def _inputs(model, n=4, seed=0):
    rng = np.random.default_rng(seed)
    first = model.inputs[0]
    x = (rng.uniform(-1, 1, (n, *first.shape[1:])).astype(np.float32))
    return [x, rng.integers(0, 10, n).astype(np.int32)] if len(model.inputs) > 1 else x


def _kinds(model):
    return [type(layer).__name__ for layer in model.layers]


@pytest.mark.parametrize("gpu", [True, False])
@pytest.mark.parametrize("num_classes", [0, 10])
def test_seed_classic_same_function_and_initial_weights(gpu, num_classes):
    for stock in (build_generator("seed-classic", 16, SHAPE, num_classes),
                  build_discriminator("seed-classic", SHAPE, num_classes)):
        fast = speed_up(stock, gpu=gpu)
        assert fast is not stock and fast.name == stock.name
        assert [t.name for t in fast.inputs] == [t.name for t in stock.inputs]
        swapped = {type(layer) for layer in fast.layers} & {UpConv2D, TransposedDense,
                                                             FastGradConv2D}
        if stock.name == "generator":
            assert swapped == {UpConv2D}
        else:
            assert swapped == ({TransposedDense} if gpu else {TransposedDense, FastGradConv2D})
            assert _kinds(fast).count("Activation") == 2  # tanh moved after each pool
        # the same initial weights: every stock weight, bit for bit, in the fast layer
        # of the same name (mapped to the stock layout)
        for layer in (la for la in stock.layers if la.weights):
            mine = fast.get_layer(layer.name)
            for w in mine.weights:
                name, value = w.name, np.asarray(w)
                if hasattr(mine, "to_stock"):
                    name, value = mine.to_stock(name, value)
                want = next(v for v in layer.weights if v.name == name)
                np.testing.assert_array_equal(value, np.asarray(want))
        # the same function, to float32 rounding of the other summation orders
        x = _inputs(stock)
        assert_close_to_scale([fast(x, training=False)], [stock(x, training=False)], 1e-5)
        # saved, it is stock layers again holding the same weights
        back = export.stock(fast)
        assert not {UpConv2D, TransposedDense, FastGradConv2D} & {type(la) for la in back.layers}
        if stock.name == "generator":  # the builder's layers exactly
            assert [(la.name, type(la)) for la in back.layers] == \
                [(la.name, type(la)) for la in stock.layers]
        for layer in (la for la in stock.layers if la.weights):
            for a, b in zip(back.get_layer(layer.name).get_weights(), layer.get_weights()):
                np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("arch", [a for a in IMAGE_MODELS if a != "seed-classic"])
def test_nothing_to_swap_returns_the_model_itself(arch):
    # dcgan / wgan / dcgan-deep / dcgan-cifar: stride-2 convs (no fast gradient route) and
    # no upsample or narrowing Dense; the model, its Dropout seeds and all, is left alone
    shape = SHAPE if arch in ("dcgan", "wgan") else (32, 32, 3)
    for model in (build_generator(arch, 16, shape, 10), build_discriminator(arch, shape, 10)):
        assert speed_up(model, gpu=False) is model


def test_swapped_layers_keep_the_mixed_precision_policy():
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        fast = speed_up(build_discriminator("seed-classic", SHAPE), gpu=False)
        gen = speed_up(build_generator("seed-classic", 16, SHAPE), gpu=False)
    finally:
        keras.config.set_dtype_policy(policy)
    assert fast.get_layer("features").dtype_policy.name == "mixed_bfloat16"
    assert fast.get_layer("conv1_tanh").compute_dtype == "bfloat16"
    assert fast.get_layer("logit").dtype_policy.name == "float32"
    assert gen.get_layer("image").dtype_policy.name == "float32"
    assert gen.get_layer("conv1").dtype_policy.name == "mixed_bfloat16"


def test_train_mnist_builds_through_the_pass():
    """The command's (and the benchmark's) models: every swap (FastGradConv2D when no
    GPU is seen); speed_up=False, the benchmark's seed-layers rows: the stock layers."""
    from gancli.training.distribute import has_gpu

    cfg = config.resolve(ImageConfig, PRESETS["train-mnist"], "seed-classic",
                         preset="seed-classic", overrides={"seed": 1})
    G, D = train_mnist.build_models(cfg, SHAPE, 0)
    assert "UpConv2D" in _kinds(G)
    assert "TransposedDense" in _kinds(D)
    assert ("FastGradConv2D" in _kinds(D)) == (not has_gpu())
    G, D = train_mnist.build_models(cfg, SHAPE, 0, speed_up=False)
    assert not {"UpConv2D", "TransposedDense", "FastGradConv2D"} & set(_kinds(G) + _kinds(D))
