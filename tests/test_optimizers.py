"""The fused optimizers do Keras's arithmetic: same results, same variables."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from gancli.training.optimizers import FusedAdam, FusedSGD, make_optimizer

SHAPES = [(30, 20), (20,), (3, 3, 4, 5)]


def run(opt, steps=5, seed=0, jit=False):
    """`steps` updates of fresh variables with fixed random gradients; returns every
    variable's final value (the model's, then the optimizer's)."""
    rng = np.random.default_rng(seed)
    variables = [keras.Variable(rng.normal(size=s).astype("float32")) for s in SHAPES]
    grads = [[tf.constant(rng.normal(size=s).astype("float32")) for s in SHAPES]
             for _ in range(steps)]
    opt.build(variables)
    step = tf.function(lambda g: opt.apply(g, variables), jit_compile=jit)
    for g in grads:
        step(g)
    return [v.numpy() for v in variables] + [v.numpy() for v in opt.variables]


@pytest.mark.parametrize("kw", [dict(momentum=0.9, nesterov=True), dict(momentum=0.9),
                                dict(momentum=0.0)])
def test_fused_sgd_matches_keras_sgd(kw):
    # the same arithmetic in another kernel: bit-identical on the AVX2 machine this was
    # written on, but a CPU whose kernel fuses a multiply-add may round differently, so
    # the check is a few float32 ulps, not bits
    want = run(keras.optimizers.SGD(1e-2, **kw))
    got = run(FusedSGD(1e-2, **kw))
    assert len(got) == len(want)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("jit", [False, True])
def test_fused_adam_matches_keras_adam(jit):
    want = run(keras.optimizers.Adam(1e-2, beta_1=0.5), jit=jit)
    got = run(FusedAdam(1e-2, beta_1=0.5), jit=jit)
    assert len(got) == len(want)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # float32 rounding
    # and it trained: the weights moved from where they started
    start = run(FusedAdam(0.0))
    assert not np.allclose(got[0], start[0])


def test_fused_sgd_with_a_schedule_and_xla_matches_keras():
    lr = keras.optimizers.schedules.PolynomialDecay(1e-2, 10, end_learning_rate=0.0)
    want = run(keras.optimizers.SGD(lr, momentum=0.9, nesterov=True), jit=True)
    lr = keras.optimizers.schedules.PolynomialDecay(1e-2, 10, end_learning_rate=0.0)
    got = run(FusedSGD(lr, momentum=0.9, nesterov=True), jit=True)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("fused, stock", [(FusedAdam, keras.optimizers.Adam),
                                          (FusedSGD, keras.optimizers.SGD)])
def test_sparse_gradients_fall_back_to_keras(fused, stock):
    """An Embedding's gradient is IndexedSlices: the fused classes hand it to Keras."""
    def train(cls):
        keras.utils.set_random_seed(0)
        emb = keras.layers.Embedding(10, 4)
        emb.build((None,))
        opt = cls(0.1, momentum=0.9) if cls in (FusedSGD, keras.optimizers.SGD) else cls(0.1)

        @tf.function
        def step():
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(emb(tf.constant([1, 3, 3])) ** 2)
            grads = tape.gradient(loss, emb.trainable_variables)
            assert isinstance(grads[0], tf.IndexedSlices)
            opt.apply(grads, emb.trainable_variables)
        for _ in range(3):
            step()
        return emb.embeddings.numpy()

    np.testing.assert_allclose(train(fused), train(stock), rtol=1e-6)


def test_make_optimizer_fused_by_default_and_configs_round_trip():
    sgd = make_optimizer("sgd", 5e-4, momentum=0.9, nesterov=True)
    adam = make_optimizer("adam", 2e-4, beta1=0.5)
    assert type(sgd) is FusedSGD and type(adam) is FusedAdam
    assert type(make_optimizer("sgd", 1e-3, fused=False)) is keras.optimizers.SGD
    assert type(make_optimizer("adam", 1e-3, fused=False)) is keras.optimizers.Adam
    again = keras.optimizers.deserialize(keras.optimizers.serialize(sgd))
    assert type(again) is FusedSGD and again.nesterov and again.momentum == 0.9
    again = keras.optimizers.deserialize(keras.optimizers.serialize(adam))
    assert type(again) is FusedAdam and again.beta_1 == 0.5


# --- --lr_decay through the CLI -----------------------------------------------------------

def _rates(ckpt_dir, step):
    """(D's, G's) learning rate saved in the checkpoint of `step`."""
    from gancli.training import checkpoint

    with np.load(checkpoint.path_for(str(ckpt_dir), step)) as z:  # arrays stored by path
        return tuple(float(z[f"{group}/learning_rate"]) for group in ("d_opt", "g_opt"))


def test_lr_decay_extended_on_resume_continues_without_a_jump(tmp_path):
    """A 20-step run with --lr_decay, stopped at step 10 (its checkpoint there is its
    last: as after a kill), resumed with --steps 40: the rate goes on from the 1e-2 x
    10/20 it had reached, in a line to 0 at step 40 -- not 1e-2 x (1 - 10/40) as a
    schedule rebuilt from the new --steps would give."""
    from gancli import cli
    from gancli.training import checkpoint

    out, lr = tmp_path / "run", 1e-2
    flags = ["--sample_every", "10", "--checkpoint_every", "10", "--keep_checkpoints", "9",
             "--vector_len", "8", "--latent_dim", "8", "--g_hidden", "16,16", "--d_hidden",
             "16,16", "--eval_samples", "200", "--seed", "3", "--quiet"]
    assert cli.main(["train-dist", "--out", str(out), "--steps", "20", "--lr_decay",
                     "--d_lr", str(lr), "--g_lr", str(lr), *flags]) == 0
    ckpts = out / "checkpoints"
    assert _rates(ckpts, 10) == pytest.approx((lr / 2, lr / 2), rel=1e-5)
    assert _rates(ckpts, 20) == (0.0, 0.0)  # the run's end
    (ckpts / "ckpt-00000020.npz").unlink()
    assert cli.main(["train-dist", "--resume", str(out), "--steps", "40", "--quiet"]) == 0
    assert [s for s, _ in checkpoint.list_checkpoints(str(ckpts))] == [10, 20, 30, 40]
    for step in (20, 30, 40):  # lr/2 at step 10 -> 0 at step 40
        want = lr / 2 * (40 - step) / 30
        assert _rates(ckpts, step) == pytest.approx((want, want), rel=1e-5, abs=1e-12)
