"""The freeze property of the shared training loop, and the Keras 3 fact behind it.

A G step must leave every D variable (trainable weights, BatchNorm moving
statistics, the Dropout RNG state) bit-identical, and a D step every G variable.
"""
import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from gancli import losses
from gancli.config import DistConfig
from gancli.training.setup import make_trainer
from gancli.training.trainer import GANTrainer

LATENT, DIM = 4, 3


class GaussianSource:
    """A trivial in-graph real source: N(2, 0.5) vectors of DIM values."""

    num_classes = 0
    variables: list = []

    class_cdf = None  # uniform fake labels

    def sample(self, rng, n):
        return rng.normal([n, DIM], 2.0, 0.5), None


def tiny_models(batchnorm=True, dropout=True):
    G = keras.Sequential([keras.Input((LATENT,)), layers.Dense(8)]
                         + ([layers.BatchNormalization()] if batchnorm else [])
                         + [layers.Activation("relu"), layers.Dense(DIM)], name="G")
    D = keras.Sequential([keras.Input((DIM,)), layers.Dense(8)]
                         + ([layers.BatchNormalization()] if batchnorm else [])
                         + ([layers.Dropout(0.5)] if dropout else [])
                         + [layers.Activation("relu"), layers.Dense(1)], name="D")
    return G, D


def make(loss=None, n_critic=1, n_gen=1, reuse_fake=False, lr_decay_end=0, **model_kw):
    keras.utils.set_random_seed(0)
    G, D = tiny_models(**model_kw)
    return GANTrainer(G, D, loss or losses.make_loss("bce"), keras.optimizers.Adam(1e-2),
                      keras.optimizers.Adam(1e-2), GaussianSource(), batch_size=8,
                      latent_dim=LATENT, noise=("uniform", -1.0, 1.0), n_critic=n_critic,
                      n_gen=n_gen, seed=1, reuse_fake=reuse_fake, lr_decay_end=lr_decay_end)


def snap(model):
    return [(v.path, v.trainable, np.array(v.numpy(), copy=True)) for v in model.variables]


def changed(before, model):
    """Paths of the variables whose value differs (bitwise) from the snapshot."""
    out = []
    for (path, _, old), v in zip(before, model.variables):
        new = v.numpy()
        if old.dtype != new.dtype or old.tobytes() != new.tobytes():
            out.append(path)
    return out


def kinds(model):
    """Sanity: the model holds each kind of state the property must cover."""
    paths = [v.path for v in model.variables]
    return {"trainable": any(v.trainable for v in model.variables),
            "moving": any("moving_mean" in p for p in paths) and
            any("moving_variance" in p for p in paths),
            "seed": any("seed_generator" in p for p in paths)}


def test_models_hold_batchnorm_stats_and_dropout_rng_state():
    tr = make()
    assert kinds(tr.D) == {"trainable": True, "moving": True, "seed": True}
    assert kinds(tr.G)["moving"] and kinds(tr.G)["trainable"]


def test_g_step_leaves_every_d_variable_bit_identical():
    tr = make()
    d0, g0 = snap(tr.D), snap(tr.G)
    tf.function(tr._g_step)()
    assert changed(d0, tr.D) == []
    g_changed = changed(g0, tr.G)
    # G trained: every trainable weight moved, and its BatchNorm statistics updated
    for path, trainable, _ in g0:
        if trainable or "moving" in path:
            assert path in g_changed, f"{path} did not change during a G step"
    assert int(tr.g_opt.iterations.numpy()) == 1
    assert int(tr.d_opt.iterations.numpy()) == 0


def test_d_step_leaves_every_g_variable_bit_identical():
    tr = make()
    d0, g0 = snap(tr.D), snap(tr.G)
    tf.function(tr._d_step)()
    assert changed(g0, tr.G) == []
    d_changed = changed(d0, tr.D)
    # D trained: weights, BatchNorm statistics and the Dropout RNG state all moved
    for path, trainable, _ in d0:
        if trainable or "moving" in path or "seed_generator" in path:
            assert path in d_changed, f"{path} did not change during a D step"
    assert int(tr.d_opt.iterations.numpy()) == 1
    assert int(tr.g_opt.iterations.numpy()) == 0


def test_many_g_steps_in_one_compiled_call_leave_d_identical():
    tr = make(n_critic=1)
    d0 = snap(tr.D)

    @tf.function
    def g_steps():
        for _ in tf.range(5):
            tr._g_step()

    g_steps()
    assert changed(d0, tr.D) == []
    assert int(tr.g_opt.iterations.numpy()) == 5


@pytest.mark.slow
def test_keras3_trainable_false_trick_does_not_freeze_d():
    """The seeds' trick: D.trainable = False, compile the stacked GD, D.trainable = True
    to train D, then GD.train_on_batch for G. Keras 2 froze D's weights at compile time.
    Keras 3 reads `trainable` when the train function is first built, so D is trained
    through GD too (SPEC §3), and even a D that stays frozen has its Dropout RNG state
    advanced. This is why the trainer takes gradients per network instead."""
    keras.utils.set_random_seed(0)
    G, D = tiny_models()
    D.trainable = False
    GD = keras.Sequential([G, D])
    GD.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy")
    D.trainable = True  # as the seeds do before D's own train_on_batch
    before = snap(D)
    z = np.random.default_rng(0).uniform(-1, 1, (16, LATENT)).astype(np.float32)
    GD.train_on_batch(z, np.ones((16, 1), np.float32))
    moved = changed(before, D)
    # Keras 3.15: every D variable changes -- weights, BN statistics, RNG state
    assert moved == [p for p, _, _ in before]

    # Left at trainable = False, D's weights and BN statistics stay put, but the
    # Dropout seed state still advances: not bit-identical either.
    keras.utils.set_random_seed(0)
    G, D = tiny_models()
    D.trainable = False
    GD = keras.Sequential([G, D])
    GD.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy")
    before = snap(D)
    GD.train_on_batch(z, np.ones((16, 1), np.float32))
    moved = changed(before, D)
    assert moved and all("seed_generator" in p for p in moved)


def test_wgan_clipping_keeps_d_weights_within_clip():
    clip = 0.01
    tr = make(losses.make_loss("wgan", clip_value=clip))
    assert max(np.abs(w.numpy()).max() for w in tr.D.trainable_variables) > clip
    tr.train(2)
    for w in tr.D.trainable_variables:
        assert np.all(np.abs(w.numpy()) <= clip), w.path
    # and clipping actually bit: some weight sits at the bound
    assert any(np.isclose(np.abs(w.numpy()).max(), clip) for w in tr.D.trainable_variables)


@pytest.mark.slow
def test_wgan_gp_does_not_clip():
    tr = make(losses.make_loss("wgan-gp"))
    tr.train(2)
    assert max(np.abs(w.numpy()).max() for w in tr.D.trainable_variables) > 0.05


@pytest.mark.slow
def test_shared_step_is_a_d_step_then_a_g_step_on_the_same_noise():
    """reuse_fake: one G forward serves the D update (gradient stopped) and the G
    update (through the updated D). Every variable must end as after _d_update then
    _g_update on the same draws -- G's BatchNorm statistics updated once, by G's step."""
    shared, plain = make(reuse_fake=True), make()
    draws = shared._d_draws(8)
    d1, g1 = tf.function(lambda: shared._shared_update(*draws))()
    d2 = tf.function(lambda: plain._d_update(*draws))()
    g2 = tf.function(lambda: plain._g_update(draws[2], draws[3]))()
    np.testing.assert_allclose(d1.numpy(), d2.numpy(), rtol=1e-6)
    np.testing.assert_allclose(g1.numpy(), g2.numpy(), rtol=1e-6)
    for a, b in zip(shared.G.variables + shared.D.variables + shared.d_opt.variables
                    + shared.g_opt.variables,
                    plain.G.variables + plain.D.variables + plain.d_opt.variables
                    + plain.g_opt.variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7, err_msg=a.path)
    # and both updates happened
    assert int(shared.d_opt.iterations.numpy()) == int(shared.g_opt.iterations.numpy()) == 1


@pytest.mark.slow
def test_shared_step_leaves_d_untouched_by_the_g_part():
    """The G half of a shared step runs D frozen: D ends exactly as after the D update
    alone (the freeze property, with reuse_fake on)."""
    shared, d_only = make(reuse_fake=True), make()
    draws = shared._d_draws(8)
    tf.function(lambda: shared._shared_update(*draws))()
    tf.function(lambda: d_only._d_update(*draws))()
    assert changed(snap(d_only.D), shared.D) == []


@pytest.mark.slow
@pytest.mark.parametrize("n_critic, n_gen, reuse", [(3, 1, False), (1, 2, False),
                                                    (3, 1, True), (1, 2, True)])
def test_n_critic_and_n_gen_optimizer_iterations(n_critic, n_gen, reuse):
    tr = make(n_critic=n_critic, n_gen=n_gen, reuse_fake=reuse)
    stats = tr.train(4)
    assert set(stats) == set(GANTrainer.STATS)
    assert all(np.isfinite(v) for v in stats.values())
    assert int(tr.step.numpy()) == 4
    assert int(tr.d_opt.iterations.numpy()) == 4 * n_critic
    assert int(tr.g_opt.iterations.numpy()) == 4 * n_gen


def test_make_trainer_takes_optimizers_and_rates_per_network_from_config():
    keras.utils.set_random_seed(0)
    G, D = tiny_models()
    cfg = DistConfig(d_optimizer="rmsprop", d_lr=1e-3, g_optimizer="sgd", g_lr=5e-4,
                     loss="hinge", n_critic=2, batch_size=6, latent_dim=LATENT, seed=3)
    tr = make_trainer(cfg, G, D, GaussianSource())
    assert isinstance(tr.d_opt, keras.optimizers.RMSprop)
    assert isinstance(tr.g_opt, keras.optimizers.SGD)
    assert float(tr.d_opt.learning_rate.numpy()) == pytest.approx(1e-3)
    assert float(tr.g_opt.learning_rate.numpy()) == pytest.approx(5e-4)
    assert tr.loss.name == "hinge" and tr.n_critic == 2 and tr.batch_size == 6
    tr.train(1)
    assert int(tr.d_opt.iterations.numpy()) == 2


# --- the gradient penalty and weight clipping with a projection D ---------------------

CLASSES = 3


class LabelledSource:
    """Real vectors whose mean is their label: N(y, 0.5), y uniform over CLASSES."""

    num_classes = CLASSES
    variables: list = []

    class_cdf = None  # uniform fake labels

    def sample(self, rng, n):
        y = rng.uniform([n], 0, CLASSES, dtype=tf.int32)
        return rng.normal([n, DIM], 0.0, 0.5) + tf.cast(y[:, None], tf.float32), y


def conditional_models(dropout=False):
    """A label-embedding G and a projection D, logit = Dense(1)(h) + <e_y, h>, as
    gancli.models.images builds them, at toy size."""
    z, y = keras.Input((LATENT,)), keras.Input((), dtype="int32")
    h = layers.Concatenate()([z, layers.Embedding(CLASSES, 2)(y)])
    G = keras.Model([z, y], layers.Dense(DIM)(layers.Dense(8, activation="relu")(h)))
    x, label = keras.Input((DIM,)), keras.Input((), dtype="int32")
    h = layers.Dense(8, activation="tanh")(x)
    if dropout:
        h = layers.Dropout(0.5)(h)
    e = layers.Embedding(CLASSES, 8, name="label_projection")(label)
    D = keras.Model([x, label], layers.Add()([layers.Dense(1)(h), layers.Dot(axes=1)([h, e])]))
    return G, D


def make_conditional(loss, reuse_fake=False, **model_kw):
    keras.utils.set_random_seed(0)
    G, D = conditional_models(**model_kw)
    return GANTrainer(G, D, loss, keras.optimizers.Adam(1e-2), keras.optimizers.Adam(1e-2),
                      LabelledSource(), batch_size=8, latent_dim=LATENT,
                      noise=("uniform", -1.0, 1.0), seed=1, reuse_fake=reuse_fake)


@pytest.mark.parametrize("reuse", [False, True])
def test_conditional_gradient_penalty_interpolates_within_one_label(reuse):
    """The fakes of a wgan-gp D step are drawn with the real batch's labels, so each
    interpolate's two ends -- and the label D sees it with -- agree. The step's loss is
    the hand-computed critic loss plus the penalty on those interpolates."""
    tr = make_conditional(losses.make_loss("wgan-gp", gp_weight=10.0), reuse_fake=reuse)
    real, y_real, z, y_fake, eps, _ = tr._d_draws(8)
    assert np.array_equal(y_fake.numpy(), y_real.numpy())
    fake = tr.G([z, y_real], training=True)  # no BatchNorm / Dropout: as in the step
    x_hat = eps * real + (1.0 - eps) * fake
    with tf.GradientTape() as tape:
        tape.watch(x_hat)
        out = tf.reduce_sum(tr.D([x_hat, y_real]))
    norm = tf.norm(tape.gradient(out, x_hat), axis=1)
    want = (tf.reduce_mean(tr.D([fake, y_real])) - tf.reduce_mean(tr.D([real, y_real]))
            + 10.0 * tf.reduce_mean(tf.square(norm - 1.0)))
    if reuse:
        d_stats, _ = tf.function(lambda: tr._shared_update(real, y_real, z, y_fake, eps))()
    else:
        d_stats = tf.function(lambda: tr._d_update(real, y_real, z, y_fake, eps))()
    assert float(d_stats[0]) == pytest.approx(float(want), rel=1e-5)


def test_gradient_penalty_leaves_d_state_as_one_d_call_does():
    """Invariant: a D step advances D's non-trainable state (the Dropout seed, BatchNorm
    statistics) exactly as its one D call on [real; fake] does -- the penalty's own D
    call runs frozen, so wgan-gp moves the RNG no further than any other loss."""
    tr = make(losses.make_loss("wgan-gp"))
    assert kinds(tr.D) == {"trainable": True, "moving": True, "seed": True}
    draws = tr._d_draws(8)
    before = [np.array(v.numpy(), copy=True) for v in tr.D.variables]
    tf.function(lambda: tr._d_update(*draws))()
    after = [v.numpy() for v in tr.D.non_trainable_variables]
    for v, old in zip(tr.D.variables, before):  # back to the start, weights included
        v.assign(old)
    before = [np.array(v.numpy(), copy=True) for v in tr.D.non_trainable_variables]
    fake = tr._frozen_call(tr.G, draws[2])  # the D step left G as it was
    tr.D(tf.concat([draws[0], fake], axis=0), training=True)
    for v, got, old in zip(tr.D.non_trainable_variables, after, before):
        assert not np.array_equal(got, old), v.path  # the step did advance it
        if "seed_generator" in v.path:
            assert np.array_equal(got, v.numpy()), v.path
        else:  # moving statistics: the same batch, computed in a graph vs eagerly
            np.testing.assert_allclose(got, v.numpy(), rtol=1e-6, atol=1e-7, err_msg=v.path)


def test_gradient_penalty_still_trains_the_critic_through_its_frozen_call():
    """The penalty's D call is stateless, yet its second-order gradient reaches D's
    weights: equal to the gradient through an ordinary D call (no Dropout here)."""
    tr = make(losses.make_loss("wgan-gp"), batchnorm=False, dropout=False)
    real, _, z, _, eps, _ = tr._d_draws(8)
    fake = tr.G(z)

    def grads(call):
        with tf.GradientTape() as outer:
            x_hat = eps * real + (1.0 - eps) * fake
            with tf.GradientTape() as inner:
                inner.watch(x_hat)
                out = tf.reduce_sum(call(x_hat))
            norm = tf.norm(inner.gradient(out, x_hat), axis=1)
            want = tf.reduce_mean(tf.square(norm - 1.0))
        return outer.gradient(want, tr.D.trainable_variables)

    with tf.GradientTape() as tape:
        penalty = tr._gradient_penalty(real, fake, None, eps)
    got = tape.gradient(penalty, tr.D.trainable_variables)
    want = grads(lambda x: tr.D(x, training=True))
    assert sum(g is not None for g in got) == 3  # every weight but the logit's bias
    for g, w, v in zip(got, want, tr.D.trainable_variables):
        assert (g is None) == (w is None), v.path
        if g is not None:
            np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-5, atol=1e-7)


def test_wgan_clipping_binds_on_the_projection_embedding_too():
    """--loss wgan clips every critic weight, the projection embedding included: the
    critic loss is linear in it, so each step pushes it outward and only clipping
    holds it (it scales D's slope in x as Dense(1)'s kernel does)."""
    clip = 0.01
    tr = make_conditional(losses.make_loss("wgan", clip_value=clip))
    emb = tr.D.get_layer("label_projection").embeddings
    assert np.abs(emb.numpy()).max() > clip
    tr.train(20)
    for w in tr.D.trainable_variables:
        assert np.all(np.abs(w.numpy()) <= clip), w.path
    assert np.mean(np.isclose(np.abs(emb.numpy()), clip)) > 0.5  # most entries at the bound


# --- lr_decay -----------------------------------------------------------------------------

def test_lr_decay_is_linear_and_continues_from_the_rate_reached():
    tr = make(lr_decay_end=10)
    tr.train(4)
    for opt in (tr.d_opt, tr.g_opt):
        assert float(opt.learning_rate.numpy()) == pytest.approx(1e-2 * 6 / 10, rel=1e-6)
    tr.train(8)  # past the end the rate stays 0
    assert float(tr.d_opt.learning_rate.numpy()) == float(tr.g_opt.learning_rate.numpy()) == 0
    # a resume at step 4 with a larger --steps (20): the checkpoint gives back the step
    # and the rate reached (6e-3), which goes on in a line to 0 at step 20
    tr = make(lr_decay_end=20)
    tr.step.assign(4)
    for opt in (tr.d_opt, tr.g_opt):
        opt.learning_rate.assign(6e-3)
    tr.train(8)
    assert float(tr.d_opt.learning_rate.numpy()) == pytest.approx(6e-3 * 8 / 16, rel=1e-6)


def test_fake_labels_follow_the_training_class_frequencies():
    """G's labels are drawn as the data has them (source.class_cdf), so a class that is
    70 % of the training images is 70 % of what G is trained to draw; without a cdf
    they are uniform. ImageSource derives the cdf from its labels."""
    from gancli.data.image_source import ImageSource
    from gancli.data.images import ImageData

    labels = np.repeat([0, 1, 2], [70, 20, 10])
    source = ImageSource(ImageData(np.zeros((100, 4, 4, 1), np.uint8), labels, 3, "t"), True)
    assert source.class_cdf == pytest.approx((0.7, 0.9, 1.0))
    tr = make_conditional(losses.make_loss("bce"))
    tr.source = source
    _, y = tr._noise_and_labels(20000)
    np.testing.assert_allclose(np.bincount(y.numpy(), minlength=3) / 20000, [0.7, 0.2, 0.1],
                               atol=0.015)
    tr.source = LabelledSource()
    _, y = tr._noise_and_labels(20000)
    np.testing.assert_allclose(np.bincount(y.numpy(), minlength=3) / 20000, [1 / 3] * 3,
                               atol=0.015)
