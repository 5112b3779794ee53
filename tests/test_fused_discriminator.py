"""seed-classic's fused discriminator: tanh after each max-pool and a TransposedDense
compute the seed's function, from the seed's initial weights, with the seed's
gradients; saved, it is stock Keras layers."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from gancli.models.images import build_discriminator, flops_by_kind
from gancli.models.layers import TransposedDense
from gancli.training import export
from helpers import assert_close_to_scale, derivatives, seed_classic_trainer


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

    stock = mine.stock_layers()
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
@pytest.mark.parametrize("fast_grads", [False, True])
def test_fused_seed_classic_d_has_the_seed_d_function_and_gradients(fast_grads):
    keras.utils.set_random_seed(7)
    seed_d = build_discriminator("seed-classic", (28, 28, 1), fused=False)
    keras.utils.set_random_seed(7)
    fused = build_discriminator("seed-classic", (28, 28, 1), fused=True,
                                fast_grads=fast_grads)
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
    D = build_discriminator("seed-classic", (28, 28, 1), 10, fused=True, fast_grads=True)
    stock = export.stock(D)
    kinds = {type(layer).__module__.split(".")[0] for layer in stock.layers}
    assert kinds == {"keras"}
    assert tuple(stock.get_layer("features").kernel.shape) == (3200, 1024)
    rng = np.random.default_rng(2)
    inputs = [rng.uniform(-1, 1, (4, 28, 28, 1)).astype(np.float32),
              np.arange(4, dtype=np.int32)]
    np.testing.assert_allclose(stock(inputs), D(inputs), atol=1e-5)


@pytest.mark.slow
def test_checkpoints_move_between_the_seed_and_the_fused_discriminator(tmp_path):
    """A seed-classic checkpoint written with the seed's stock D (gancli before the
    fused D) resumes into the fused one -- TransposedDense's kernel and its momentum
    restored transposed -- and trains on as the stock one does; and back."""
    from gancli.training import checkpoint

    def trainer(fused):
        return seed_classic_trainer(5, 8, 5, fused=fused)

    def state(t):
        return [v.numpy() for vs in t.state_variables().values() for v in vs]

    seed_layers = trainer(False)
    seed_layers.train(3)
    path = checkpoint.save(seed_layers.state_variables(), str(tmp_path), 3, {})
    fused = trainer(True)
    checkpoint.restore(fused.state_variables(), path)
    moved = [(a, b) for a, b in zip(state(seed_layers), state(fused)) if a.shape != b.shape]
    assert len(moved) == 2  # the kernel and its momentum
    for a, b in zip(state(seed_layers), state(fused)):
        np.testing.assert_array_equal(b, a if a.shape == b.shape else a.T)
    seed_layers.train(2)
    fused.train(2)
    for a, b in zip(state(seed_layers), state(fused)):
        np.testing.assert_allclose(b, a if a.shape == b.shape else a.T, atol=1e-5, rtol=1e-4)

    back = trainer(False)
    checkpoint.restore(back.state_variables(),
                       checkpoint.save(fused.state_variables(), str(tmp_path), 5, {}))
    for a, b in zip(state(back), state(fused)):
        np.testing.assert_array_equal(a, b if a.shape == b.shape else b.T)
