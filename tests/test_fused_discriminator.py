"""seed-classic's fused discriminator (models.speedups): tanh after each max-pool and a
TransposedDense compute the seed's function, from the seed's initial weights, with
the seed's gradients; saved, it is stock Keras layers; checkpoints hold the stock
layout, old ones (by position, before format 2) still restore."""
import json
import os
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from gancli.models.images import build_discriminator
from gancli.models.layers import TransposedDense
from gancli.models.speedups import speed_up
from gancli.training import checkpoint, export
from helpers import assert_close_to_scale, derivatives, seed_classic_trainer

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks"))
from _flops import flops_by_kind  # noqa: E402


def _like(arrays, reference):
    """`arrays` in the layout of `reference` (TransposedDense stores its kernel as the
    transpose of Dense's)."""
    return [np.asarray(a) if np.shape(a) == np.shape(r) else np.asarray(a).T
            for a, r in zip(arrays, reference)]


def test_transposed_dense_is_dense_with_its_kernel_stored_transposed(tmp_path):
    keras.utils.set_random_seed(4)
    dense = keras.layers.Dense(24, activation="tanh")
    dense.build((None, 40))
    keras.utils.set_random_seed(4)
    mine = TransposedDense(24, activation="tanh")
    mine.build((None, 40))
    assert tuple(mine.kernel_t.shape) == (24, 40)
    # the same initial values for the same seed
    np.testing.assert_array_equal(np.asarray(mine.kernel_t), np.asarray(dense.kernel).T)
    dense.bias.assign(np.linspace(-1, 1, 24).astype(np.float32))
    mine.bias.assign(dense.bias)
    x = tf.constant(np.random.default_rng(0).normal(size=(6, 40)), tf.float32)
    want, got = derivatives(dense, x), derivatives(mine, x)
    np.testing.assert_allclose(got[0], want[0], atol=1e-6)
    assert_close_to_scale([got[1]] + _like(got[2], want[2]), [want[1]] + list(want[2]), 1e-5)
    assert_close_to_scale(_like(got[3], want[3]), want[3], 1e-5)

    (stock,) = mine.stock_layers()
    assert type(stock) is keras.layers.Dense and tuple(stock.kernel.shape) == (40, 24)
    np.testing.assert_allclose(stock(x), mine(x), atol=1e-6)
    with pytest.raises(ValueError, match="batch, features"):
        TransposedDense(3).build((None, 5, 4))

    # a model holding it round-trips through .keras (registered, get_config)
    inp = keras.Input((40,))
    model = keras.Model(inp, mine(inp))
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras", compile=False)
    assert isinstance(again.layers[-1], TransposedDense)
    np.testing.assert_array_equal(again(x), model(x))


@pytest.mark.slow
@pytest.mark.parametrize("gpu", [True, False])
def test_fused_seed_classic_d_has_the_seed_d_function_and_gradients(gpu):
    keras.utils.set_random_seed(7)
    seed_d = build_discriminator("seed-classic", (28, 28, 1))
    fused = speed_up(seed_d, gpu=gpu)
    names = [type(layer).__name__ for layer in fused.layers]
    assert names.count("Activation") == 2 and "TransposedDense" in names
    assert "Activation" not in [type(layer).__name__ for layer in seed_d.layers]
    # built from the same seed, the same starting weights
    for a, b in zip(seed_d.get_weights(), _like(fused.get_weights(),
                                                  seed_d.get_weights())):
        np.testing.assert_array_equal(a, b)
    assert flops_by_kind(fused) == flops_by_kind(seed_d)

    # large conv weights drive many tanh units to exactly +-1, where max-then-tanh and
    # tanh-then-max could pick different maxima: the gradients must still agree
    seed_d.layers[1].kernel.assign(seed_d.layers[1].kernel * 300.0)
    fused.set_weights(_like(seed_d.get_weights(), fused.get_weights()))
    x = tf.constant(np.random.default_rng(1).uniform(-1, 1, (5, 28, 28, 1)), tf.float32)
    saturated = float(tf.reduce_mean(tf.cast(tf.abs(seed_d.layers[1](x)) == 1.0,
                                             tf.float32)))
    assert saturated > 0.2, saturated
    want, got = derivatives(seed_d, x), derivatives(fused, x)
    np.testing.assert_allclose(got[0], want[0], atol=1e-5)
    assert_close_to_scale([got[1]] + _like(got[2], want[2]) + _like(got[3], want[3]),
           [want[1]] + list(want[2]) + list(want[3]), 5e-5)


def test_fused_seed_classic_d_exports_stock_keras_layers():
    D = speed_up(build_discriminator("seed-classic", (28, 28, 1), 10), gpu=False)
    stock = export.stock(D)
    kinds = {type(layer).__module__.split(".")[0] for layer in stock.layers}
    assert kinds == {"keras"}
    assert tuple(stock.get_layer("features").kernel.shape) == (3200, 1024)
    rng = np.random.default_rng(2)
    inputs = [rng.uniform(-1, 1, (4, 28, 28, 1)).astype(np.float32),
              np.arange(4, dtype=np.int32)]
    np.testing.assert_allclose(stock(inputs), D(inputs), atol=1e-5)


def _variables(groups):
    return [v for obj in groups.values() for v in (obj if isinstance(obj, list)
                                                   else obj.variables)]


def _state(t):
    return [np.asarray(v.numpy()) for v in _variables(t.state_variables())]


def _assert_states(a, b, compare):
    """a's and b's state, each pair compared in the layout of a (b's TransposedDense
    kernel and its slots transposed when a holds the stock Dense, and the other way)."""
    sa, sb = _state(a), _state(b)
    assert len(sa) == len(sb)
    for x, y in zip(sa, sb):
        compare(x, y if x.shape == y.shape else y.T)


@pytest.mark.slow
def test_checkpoints_move_between_the_seed_and_the_fast_layers(tmp_path):
    """A checkpoint holds the stock layout whichever layers wrote it: one from the fast
    layers (a CPU box) resumes into the stock layers (a GPU box) and trains on as the
    fast one does, and back; TransposedDense's kernel and its Adam slots transposed."""
    fast = seed_classic_trainer(5, 8, 5, layers="cpu")
    fast.train(3)
    path = checkpoint.save(fast.state_variables(), str(tmp_path), 3, {})
    with np.load(path) as z:
        assert z["D/features/kernel"].shape == (3200, 1024)
        assert z["d_opt/features/kernel/momentum"].shape == (3200, 1024)
        assert not [k for k in z.files if "kernel_t" in k]
    stock = seed_classic_trainer(5, 8, 5, layers="stock")
    checkpoint.restore(stock.state_variables(), path)
    _assert_states(fast, stock, np.testing.assert_array_equal)
    fast.train(2)
    stock.train(2)
    _assert_states(fast, stock, lambda x, y: np.testing.assert_allclose(y, x, atol=1e-5,
                                                                         rtol=1e-4))
    back = seed_classic_trainer(5, 8, 5, layers="cpu")
    checkpoint.restore(back.state_variables(),
                       checkpoint.save(stock.state_variables(), str(tmp_path), 5, {}))
    _assert_states(stock, back, np.testing.assert_array_equal)


def _save_by_position(groups, path):
    """A checkpoint as gancli wrote them before format 2: GROUP/I in variable order,
    the variables' Keras paths and shapes in the metadata."""
    arrays, names = {}, {}
    for group, obj in groups.items():
        variables = obj if isinstance(obj, list) else obj.variables
        names[group] = [f"{getattr(v, 'path', v.name)}{list(v.shape)}" for v in variables]
        arrays.update({f"{group}/{i}": np.asarray(v.numpy()) for i, v in enumerate(variables)})
    arrays["__meta__"] = np.frombuffer(json.dumps({"step": 3, "names": names}).encode(),
                                       np.uint8)
    np.savez(path, **arrays)


@pytest.mark.parametrize("old, new", [("cpu", "stock"), ("stock", "cpu")])
def test_checkpoints_from_before_paths_still_restore(tmp_path, old, new):
    """Old seed-classic runs resume: with the fused D (kernel_t, restored transposed
    into a stock Dense) or with the seed's stock D (into a TransposedDense)."""
    before = seed_classic_trainer(5, 8, 5, layers=old)
    before.train(2)
    _save_by_position(before.state_variables(), tmp_path / "ckpt-00000003.npz")
    after = seed_classic_trainer(5, 8, 5, layers=new)
    checkpoint.restore(after.state_variables(), str(tmp_path / "ckpt-00000003.npz"))
    _assert_states(before, after, np.testing.assert_array_equal)
