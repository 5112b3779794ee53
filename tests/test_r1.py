"""--r1: the R1 penalty (gancli.training.penalties.r1 through GANTrainer._r1) against
hand-computed values on linear discriminators -- whose input gradient is their weight
vector -- with labels (projection), through the augmentation, lazy, and under fp16."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from gancli import losses
from gancli.training import augment, precision
from gancli.training.augment import Augment
from gancli.training.trainer import GANTrainer

GAMMA, DIM, K = 10.0, 6, 3


class Source:
    num_classes, variables = 0, []


def trainer(D, prec="fp32", n_critic=1, **kw):
    G = keras.Sequential([keras.Input((4,)), keras.layers.Dense(DIM)])
    opts = [precision.wrap_optimizer(keras.optimizers.SGD(0.1), prec) for _ in range(2)]
    return GANTrainer(G, D, losses.make_loss("hinge"), *opts, Source(), batch_size=5,
                      latent_dim=4, noise=("uniform", -1.0, 1.0), n_critic=n_critic,
                      r1=GAMMA, **kw)


def linear_d(shape=(DIM,)):
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input(shape), keras.layers.Flatten(), keras.layers.Dense(1)])


def reals(shape=(DIM,), n=5):
    return tf.constant(np.random.default_rng(1).normal(size=(n, *shape)), tf.float32)


def test_r1_of_a_linear_d_is_half_gamma_times_its_squared_weights():
    D = linear_d()
    tr = trainer(D)
    w = D.layers[-1].kernel
    with tf.GradientTape() as tape:
        r1 = tr._r1(reals(), None)
    assert float(r1) == pytest.approx(GAMMA / 2 * float(tf.reduce_sum(w * w)), rel=1e-5)
    # and it trains D's weights: d R1 / d w = gamma w, through the frozen D call
    np.testing.assert_allclose(tape.gradient(r1, w), GAMMA * w.numpy(), rtol=1e-5)


def test_r1_of_a_projection_d_uses_each_real_images_label():
    """D(x, y) = w.x + b + <e_y, x>: grad_x = w + e_y, so R1 = gamma/2 mean ||w + e_y||^2."""
    keras.utils.set_random_seed(0)
    x, y = keras.Input((DIM,)), keras.Input((), dtype="int32")
    e = keras.layers.Embedding(K, DIM)(y)
    out = keras.layers.Add()([keras.layers.Dense(1)(x), keras.layers.Dot(axes=1)([e, x])])
    D = keras.Model([x, y], out)
    tr = trainer(D)
    labels = tf.constant([0, 2, 2, 1, 0])
    w = next(layer for layer in D.layers if isinstance(layer, keras.layers.Dense)).kernel
    emb = next(layer for layer in D.layers if isinstance(layer, keras.layers.Embedding))
    rows = w.numpy()[:, 0] + emb.embeddings.numpy()[labels.numpy()]
    want = GAMMA / 2 * np.mean(np.sum(rows ** 2, axis=1))
    assert float(tr._r1(reals(), labels)) == pytest.approx(want, rel=1e-5)


def test_r1_takes_the_gradient_through_the_augmentation():
    """Brightness adds a constant (gradient unchanged); cutout zeroes a square, so the
    gradient w.r.t. the un-augmented reals is w with that square zeroed."""
    shape = (8, 8, 1)
    D = linear_d(shape)
    aug = Augment(("color", "cutout"), shape)
    aug.ops = ("brightness", "cutout")
    tr = trainer(D, augment=aug)
    draw = aug.draw(tf.random.Generator.from_seed(0), 5)
    w = D.layers[-1].kernel.numpy().reshape(shape)
    on, centre = draw["cutout"]
    assert on.numpy().all()  # p = 1
    mask = augment.cutout(tf.ones((5, *shape)), centre).numpy()
    want = GAMMA / 2 * np.mean(np.sum((mask * w) ** 2, axis=(1, 2, 3)))
    assert float(tr._r1(reals(shape), None, draw)) == pytest.approx(want, rel=1e-5)
    assert want < GAMMA / 2 * np.sum(w ** 2)  # the cutout did bite


def test_lazy_r1_is_every_nth_d_step_scaled_by_n():
    D = linear_d()
    tr = trainer(D, n_critic=2, r1_every=4)
    every = float(tr._r1(reals(), None))
    assert float(tr._r1(reals(), None, due=tf.constant(True))) == pytest.approx(4 * every)
    assert float(tr._r1(reals(), None, due=tf.constant(False))) == 0.0
    due = []
    for step in range(4):  # D steps step * 2 + k, k = 0, 1: due at 0, 4
        tr.step.assign(step)
        due += [bool(tr._r1_due(k)) for k in range(2)]
    assert due == [True, False, False, False, True, False, False, False]
    assert trainer(D)._r1_due(0) is None  # r1_every 1: every step, no cond


def test_fp16_r1_equals_fp32():
    """Under fp16 R1's input gradient is loss-scaled, so it equals fp32's although each
    entry is ~1e-8, below float16's smallest subnormal (6e-8) where an unscaled
    float16 gradient is 0."""
    rng = np.random.default_rng(0)
    # D(x) = w2 . (W1 x): grad_x D = W1 w2, each entry a sum of 8 products ~1e-8
    w1 = rng.uniform(0.5, 1.5, (DIM, 8)).astype(np.float16).astype(np.float32) * 1e-4
    w2 = rng.uniform(0.5, 1.5, (8, 1)).astype(np.float16).astype(np.float32) * 1e-4
    want = GAMMA / 2 * float(np.sum((w1 @ w2) ** 2))
    got = {}
    for prec in ("fp32", "fp16"):
        with precision.policy(prec):
            D = keras.Sequential([keras.Input((DIM,)), keras.layers.Dense(8, use_bias=False),
                                  keras.layers.Dense(1, use_bias=False, dtype="float32")])
        D.set_weights([w1, w2])
        got[prec] = float(trainer(D, prec)._r1(reals(), None))
    assert D.layers[0].compute_dtype == "float16"
    assert got["fp32"] == pytest.approx(want, rel=1e-4)
    assert got["fp16"] == pytest.approx(got["fp32"], rel=1e-2)


@pytest.mark.slow
def test_a_d_step_with_r1_descends_loss_plus_penalty():
    """One D update (SGD, lr 0.1): reported loss = hinge + R1, and the kernel moves by
    -0.1 x the gradient of both (R1's part: gamma w)."""
    D = linear_d()
    tr = trainer(D)
    real, fake = reals(), -reals()
    kernel = D.layers[-1].kernel
    with tf.GradientTape() as tape:
        want = tr.loss.d_loss(D(real), D(fake)) + GAMMA / 2 * tf.reduce_sum(kernel * kernel)
    step = 0.1 * tape.gradient(want, kernel).numpy()
    before = kernel.numpy().copy()
    stats = tf.function(lambda: tr._d_update(real, None, None, None, None, fake=fake))()
    assert float(stats[0]) == pytest.approx(float(want), rel=1e-5)
    np.testing.assert_allclose(kernel.numpy(), before - step, rtol=1e-5, atol=1e-7)
