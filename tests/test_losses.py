"""Each adversarial loss on small known logits, against numbers computed by hand."""
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from gancli import losses
from gancli.training.trainer import GANTrainer

REAL = [2.0, -1.0, 0.5]
FAKE = [0.5, -3.0]


def col(values):
    """D's output shape: (n, 1) logits."""
    return tf.constant(np.array(values, np.float32).reshape(-1, 1))


def mean(xs):
    return sum(xs) / len(xs)


def neg_log_sigmoid(x):
    """-log(sigmoid(x)) written out from the definition (x moderate)."""
    return -math.log(1.0 / (1.0 + math.exp(-x)))


def neg_log_one_minus_sigmoid(x):
    return -math.log(1.0 - 1.0 / (1.0 + math.exp(-x)))


def bce_by_hand(x, t):
    return t * neg_log_sigmoid(x) + (1 - t) * neg_log_one_minus_sigmoid(x)


def f(t):
    return float(t.numpy())


@pytest.mark.parametrize("real_label, fake_label", [(1.0, 0.0), (0.9, 0.1)])
def test_bce_matches_hand_computation(real_label, fake_label):
    loss = losses.make_loss("bce", real_label=real_label, fake_label=fake_label)
    assert loss.probability and loss.clip == 0 and loss.gp_weight == 0
    want_d = (mean([bce_by_hand(x, real_label) for x in REAL])
              + mean([bce_by_hand(x, fake_label) for x in FAKE]))
    assert f(loss.d_loss(col(REAL), col(FAKE))) == pytest.approx(want_d, rel=1e-5)
    # the generator loss is the non-saturating one with an unsmoothed target of 1
    want_g = mean([neg_log_sigmoid(x) for x in FAKE])
    assert f(loss.g_loss(col(FAKE))) == pytest.approx(want_g, rel=1e-5)


def test_bce_label_smoothing_changes_the_d_loss():
    plain = losses.make_loss("bce")
    smooth = losses.make_loss("bce", real_label=0.9, fake_label=0.1)
    a = f(plain.d_loss(col(REAL), col(FAKE)))
    b = f(smooth.d_loss(col(REAL), col(FAKE)))
    assert abs(a - b) > 0.05


def test_bce_seed_001_numbers():
    # seed 001: real target 0.9, fake target 0.1; logit 0 -> sigmoid 0.5 -> log 2 each
    loss = losses.make_loss("bce", real_label=0.9, fake_label=0.1)
    assert f(loss.d_loss(col([0.0]), col([0.0]))) == pytest.approx(2 * math.log(2), rel=1e-6)
    # logit ln(9): sigmoid = 0.9 exactly -> -(0.9 ln .9 + 0.1 ln .1), the entropy floor
    x = math.log(9.0)
    h = -(0.9 * math.log(0.9) + 0.1 * math.log(0.1))
    assert f(loss.d_loss(col([x]), col([-x]))) == pytest.approx(2 * h, rel=1e-5)


def test_bce_is_stable_for_huge_logits():
    loss = losses.make_loss("bce", real_label=0.9, fake_label=0.1)
    big = [100.0, -100.0]
    # -log sigmoid(100) ~ 0, -log(1 - sigmoid(100)) ~ 100 (and mirrored for -100)
    want_real = mean([0.1 * 100.0, 0.9 * 100.0])   # target 0.9
    want_fake = mean([0.9 * 100.0, 0.1 * 100.0])   # target 0.1
    d = f(loss.d_loss(col(big), col(big)))
    assert math.isfinite(d)
    assert d == pytest.approx(want_real + want_fake, rel=1e-5)
    g = f(loss.g_loss(col(big)))
    assert math.isfinite(g)
    assert g == pytest.approx(mean([0.0, 100.0]), rel=1e-5)
    # a confident correct D with hard labels costs ~0, not nan
    hard = losses.make_loss("bce")
    d0 = f(hard.d_loss(col([100.0]), col([-100.0])))
    assert math.isfinite(d0) and 0.0 <= d0 < 1e-6
    # and the gradient stays finite too
    x = tf.Variable(col(big))
    with tf.GradientTape() as tape:
        out = loss.d_loss(x, x) + loss.g_loss(x)
    assert np.all(np.isfinite(tape.gradient(out, x).numpy()))


def test_lsgan():
    loss = losses.make_loss("lsgan")
    want_d = 0.5 * (mean([(x - 1) ** 2 for x in REAL]) + mean([x ** 2 for x in FAKE]))
    want_g = 0.5 * mean([(x - 1) ** 2 for x in FAKE])
    assert f(loss.d_loss(col(REAL), col(FAKE))) == pytest.approx(want_d, rel=1e-6)
    assert f(loss.g_loss(col(FAKE))) == pytest.approx(want_g, rel=1e-6)
    assert not loss.probability and loss.clip == 0 and loss.gp_weight == 0


def test_wgan():
    loss = losses.make_loss("wgan", clip_value=0.05)
    assert f(loss.d_loss(col(REAL), col(FAKE))) == pytest.approx(mean(FAKE) - mean(REAL),
                                                                 rel=1e-6)
    assert f(loss.g_loss(col(FAKE))) == pytest.approx(-mean(FAKE), rel=1e-6)
    assert loss.clip == pytest.approx(0.05) and loss.gp_weight == 0
    assert not loss.probability


def test_wgan_gp_parts():
    loss = losses.make_loss("wgan-gp", gp_weight=7.0, clip_value=0.05)
    # same critic objective as wgan, no clipping, a penalty weight for the trainer
    assert f(loss.d_loss(col(REAL), col(FAKE))) == pytest.approx(mean(FAKE) - mean(REAL),
                                                                 rel=1e-6)
    assert f(loss.g_loss(col(FAKE))) == pytest.approx(-mean(FAKE), rel=1e-6)
    assert loss.clip == 0
    assert loss.gp_weight == pytest.approx(7.0)


class _Source:
    num_classes = 0
    variables: list = []

    class_cdf = None  # uniform fake labels

    def sample(self, rng, n):
        return rng.normal([n, 2]), None


def test_wgan_gp_gradient_penalty_on_a_linear_critic():
    # D(x) = w . x + b has gradient w everywhere: penalty = (|w| - 1)^2 = (5 - 1)^2 = 16
    G = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    D = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    D.layers[0].set_weights([np.array([[3.0], [4.0]], np.float32), np.array([0.5], np.float32)])
    tr = GANTrainer(G, D, losses.make_loss("wgan-gp"), keras.optimizers.Adam(),
                    keras.optimizers.Adam(), _Source(), batch_size=4, latent_dim=2,
                    noise=("uniform", -1.0, 1.0))
    real = tf.constant(np.random.default_rng(0).normal(size=(6, 2)).astype(np.float32))
    fake = tf.constant(np.random.default_rng(1).normal(size=(6, 2)).astype(np.float32))
    eps = tf.constant(np.random.default_rng(2).uniform(size=(6, 1)).astype(np.float32))
    gp = float(tr._gradient_penalty(real, fake, None, eps).numpy())
    assert gp == pytest.approx(16.0, rel=1e-5)
    D.layers[0].set_weights([np.array([[0.6], [0.8]], np.float32), np.array([0.0], np.float32)])
    assert float(tr._gradient_penalty(real, fake, None, eps).numpy()) == pytest.approx(0.0,
                                                                                      abs=1e-6)


def test_hinge():
    loss = losses.make_loss("hinge")
    want_d = mean([max(0.0, 1 - x) for x in REAL]) + mean([max(0.0, 1 + x) for x in FAKE])
    assert want_d == pytest.approx(mean([0.0, 2.0, 0.5]) + mean([1.5, 0.0]))
    assert f(loss.d_loss(col(REAL), col(FAKE))) == pytest.approx(want_d, rel=1e-6)
    assert f(loss.g_loss(col(FAKE))) == pytest.approx(-mean(FAKE), rel=1e-6)


def test_make_loss_names_and_unknown():
    for name in ("bce", "lsgan", "wgan", "wgan-gp", "hinge"):
        assert losses.make_loss(name).name == name
    with pytest.raises(ValueError, match="nope"):
        losses.make_loss("nope")
