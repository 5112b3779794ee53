"""--augment: DiffAugment's ops (gancli.training.augment) checked one by one against
what they promise, the per-image probability, ADA's adaptive p fed synthetic D
outputs, and train-mnist with augmentation, R1 and ADA through the CLI, resumed."""
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from helpers import main, read_csv

from gancli.config import AUGMENTATIONS
from gancli.training import augment
from gancli.training.augment import ADA_INTERVAL, Augment

N, H, W, C = 6, 16, 24, 3  # H != W: the axes must not be mixed up
ALL = ("color", "translation", "cutout")


def images(seed=0, c=C):
    return tf.constant(np.random.default_rng(seed).uniform(-1, 1, (N, H, W, c)), tf.float32)


def pipeline(names=ALL, **kw):
    return Augment(names, (H, W, C), **kw)


def test_the_config_names_are_the_modules_in_order():
    assert tuple(augment.OPS) == AUGMENTATIONS
    assert pipeline().ops == ("brightness", "saturation", "contrast", "translation", "cutout")
    assert pipeline(("cutout", "color")).ops == ("brightness", "saturation", "contrast",
                                                 "cutout")


def test_every_op_keeps_shape_and_dtype_and_changes_the_images():
    x = images()
    aug = pipeline()
    out = aug.apply(x, aug.draw(tf.random.Generator.from_seed(1), N))
    assert out.shape == x.shape and out.dtype == x.dtype
    for op in aug.ops:
        one = Augment(ALL, (H, W, C))
        one.ops = (op,)
        y = one.apply(x, one.draw(tf.random.Generator.from_seed(2), N)).numpy()
        assert y.shape == x.shape and np.isfinite(y).all()
        assert not np.array_equal(y, x.numpy()), op


def test_p_zero_is_the_identity_bit_for_bit():
    x = images()
    aug = pipeline(p=0.0)
    out = aug.apply(x, aug.draw(tf.random.Generator.from_seed(3), N))
    assert out.numpy().tobytes() == x.numpy().tobytes()


def test_p_applies_each_op_to_about_that_share_of_images():
    aug = pipeline(p=0.3)
    draw = aug.draw(tf.random.Generator.from_seed(4), 4000)
    for op, (on, _) in draw.items():
        assert on.numpy().mean() == pytest.approx(0.3, abs=0.03), op
    x = tf.zeros([4000, H, W, C]) + 0.25
    out = aug.apply(x, draw).numpy()
    touched = np.zeros(4000, bool)
    for on, _ in draw.values():
        touched |= on.numpy()
    assert np.all(out[~touched] == 0.25)  # images no op applies to are left alone
    changes = draw["brightness"][0].numpy() | draw["cutout"][0].numpy()
    assert np.all(np.any(out[changes] != 0.25, (1, 2, 3)))


def test_colour_ops_follow_diffaugment():
    x = images()
    u = tf.constant(np.linspace(0.05, 0.95, N), tf.float32)
    uu = u.numpy()[:, None, None, None]
    np.testing.assert_allclose(augment.brightness(x, u), x.numpy() + uu - 0.5, atol=1e-6)
    sat = augment.saturation(x, u).numpy()
    m = x.numpy().mean(3, keepdims=True)
    np.testing.assert_allclose(sat, (x.numpy() - m) * 2 * uu + m, atol=1e-6)
    np.testing.assert_allclose(sat.mean(3), m[..., 0], atol=1e-6)  # grey stays grey
    grey = images(c=1)
    assert np.array_equal(augment.saturation(grey, u).numpy(), grey.numpy())
    con = augment.contrast(x, u).numpy()
    np.testing.assert_allclose(con.mean((1, 2, 3)), x.numpy().mean((1, 2, 3)), atol=1e-6)
    spread = con.std((1, 2, 3)) / x.numpy().std((1, 2, 3))
    np.testing.assert_allclose(spread, uu.ravel() + 0.5, rtol=1e-5)


def shifted(x, dy, dx):
    """NumPy reference: out[i, j] = x[i - dy, j - dx], 0 outside."""
    out = np.zeros_like(x)
    h, w = x.shape[:2]
    for i in range(h):
        for j in range(w):
            if 0 <= i - dy < h and 0 <= j - dx < w:
                out[i, j] = x[i - dy, j - dx]
    return out


def test_translation_moves_content_by_the_drawn_amount_with_zero_fill():
    x = images()
    aug = pipeline(("translation",))
    on, shift = aug.draw(tf.random.Generator.from_seed(5), N)["translation"]
    out = aug.apply(x, {"translation": (on, shift)}).numpy()
    for k, (dy, dx) in enumerate(shift.numpy()):
        np.testing.assert_array_equal(out[k], shifted(x.numpy()[k], dy, dx))
    # the range: up to 1/8 of each side, both ends reached
    many = aug.draw(tf.random.Generator.from_seed(6), 3000)["translation"][1].numpy()
    assert set(many[:, 0]) == set(range(-(H // 8), H // 8 + 1))
    assert set(many[:, 1]) == set(range(-(W // 8), W // 8 + 1))
    # values: only the image's own, and the zero fill
    assert set(np.unique(out)) <= set(np.unique(x.numpy())) | {0.0}


def test_cutout_zeroes_a_half_side_square_at_the_drawn_centre():
    x = images() + 5.0  # no zero anywhere before
    centre = tf.constant([[8, 12], [0, 0], [H, W], [5, 3], [10, 20], [7, 13]], tf.int32)
    out = augment.cutout(x, centre).numpy()
    for k, (cy, cx) in enumerate(centre.numpy()):
        rows = np.arange(H)[(np.arange(H) >= cy - H // 4) & (np.arange(H) < cy - H // 4 + H // 2)]
        cols = np.arange(W)[(np.arange(W) >= cx - W // 4) & (np.arange(W) < cx - W // 4 + W // 2)]
        want = x.numpy()[k].copy()
        want[np.ix_(rows, cols)] = 0.0
        np.testing.assert_array_equal(out[k], want)
    # fully inside: exactly an (H/2) x (W/2) square per channel
    assert (out[0] == 0).sum() == (H // 2) * (W // 2) * C
    assert (out[1] == 0).sum() == (H // 4) * (W // 4) * C  # over the corner: a quarter


def test_gradients_flow_through_every_op():
    x = images()
    weights = tf.constant(np.random.default_rng(7).normal(size=x.shape), tf.float32)
    for op in augment.FUNCTIONS:
        aug = pipeline()
        aug.ops = (op,)
        draw = aug.draw(tf.random.Generator.from_seed(8), N)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(weights * aug.apply(x, draw))
        g = tape.gradient(y, x).numpy()
        assert np.isfinite(g).all() and np.abs(g).sum() > 0, op
        # per image: every image's gradient is nonzero (cutout zeroes a quarter at most)
        assert np.all(np.abs(g).sum((1, 2, 3)) > 0), op


def test_same_rng_state_same_augmentation():
    x = images()
    aug = pipeline(p=0.5)
    outs = [aug.apply(x, aug.draw(tf.random.Generator.from_seed(9), N)).numpy()
            for _ in range(2)]
    assert outs[0].tobytes() == outs[1].tobytes()
    other = aug.apply(x, aug.draw(tf.random.Generator.from_seed(10), N)).numpy()
    assert not np.array_equal(other, outs[0])


@pytest.mark.slow
def test_draw_and_apply_compile_with_xla():
    """XLA (--jit on) compiles both; the ops give the same images as without it. (XLA's
    random floats are not TensorFlow's from the same state, so the draws differ.)"""
    x = images()
    aug = pipeline()
    draw = aug.draw(tf.random.Generator.from_seed(11), N)
    compiled = tf.function(lambda: aug.apply(x, draw), jit_compile=True)()
    np.testing.assert_allclose(compiled.numpy(), aug.apply(x, draw).numpy(), atol=1e-5)
    rng = tf.random.Generator.from_seed(12)
    xla_draw = tf.function(lambda: aug.draw(rng, N), jit_compile=True)()
    assert np.all(np.abs(xla_draw["translation"][1].numpy()) <= [H // 8, W // 8])


# ------------------------------------------------------------------------ ADA


def feed(aug, signs, start=0):
    """One observe per iteration, steps start+1, start+2, ...; -> p after each."""
    ps = []
    for i, s in enumerate(signs, start + 1):
        aug.observe(tf.constant(s, tf.float32), tf.constant(i, tf.int64))
        ps.append(float(aug.p.numpy()))
    return ps


def test_ada_raises_p_while_d_is_sure_of_the_reals_and_lowers_it_otherwise():
    aug = pipeline(p=0.5, target=0.6, images_per_step=64)
    step = 64 * ADA_INTERVAL / 500_000
    ps = feed(aug, [0.9, 0.8, 1.0, 0.7])  # D overfits: r_t = 0.85 > 0.6
    assert ps[:3] == [0.5] * 3  # p moves only every ADA_INTERVAL iterations
    assert ps[3] == pytest.approx(0.5 + step, abs=1e-7)
    assert float(aug.rt.numpy()) == pytest.approx(0.85)
    ps = feed(aug, [0.2, 0.5, 0.9, 0.3], start=4)  # r_t = 0.475 < 0.6: less augmentation
    assert ps[3] == pytest.approx(0.5, abs=1e-7)
    ps = feed(aug, [0.1, float("nan"), 0.1, 0.1], start=8)  # a diverged step is left out
    assert ps[3] == pytest.approx(0.5 - step, abs=1e-7)
    assert float(aug.rt.numpy()) == pytest.approx(0.1)


def test_ada_keeps_p_within_0_and_1():
    low = pipeline(p=0.0, target=0.6, images_per_step=200_000)
    assert feed(low, [-1.0] * 4)[-1] == 0.0
    high = pipeline(p=1.0, target=0.6, images_per_step=200_000)
    assert feed(high, [1.0] * 4)[-1] == 1.0


def test_fixed_p_does_not_move():
    aug = pipeline(p=0.3)
    assert feed(aug, [1.0] * 8) == [pytest.approx(0.3)] * 8
    assert aug.stats() == {"augment_p": pytest.approx(0.3)}


# ------------------------------------------------------------------------ CLI

RECIPE = ["--augment", "color,translation,cutout", "--r1", "10", "--loss", "hinge",
          "--ada_target", "0.6", "--augment_p", "0.5", "--batch_size", "8", "--latent_dim",
          "16", "--grid_size", "4", "--sample_every", "4", "--checkpoint_every", "4",
          "--n_train", "64", "--seed", "3", "--deterministic", "--quiet"]


@pytest.fixture(scope="module")
def recipe_runs(tmp_path_factory):
    """A: 8 steps straight; B: 4 steps, then --resume to 8."""
    root = tmp_path_factory.mktemp("recipe")
    rng = np.random.default_rng(0)
    data = root / "mnist.npz"
    np.savez(data, x_train=rng.integers(0, 256, (64, 28, 28), dtype=np.uint8),
             y_train=rng.integers(0, 10, 64, dtype=np.uint8))
    for name, steps in (("A", 8), ("B", 4)):
        code, err = main(["train-mnist", "--data", data, "--out", root / name, "--steps",
                          steps, *RECIPE])
        assert code == 0, err
    code, err = main(["train-mnist", "--resume", root / "B", "--steps", "8", "--quiet"])
    assert code == 0, err
    return root / "A", root / "B"


def augment_state(run):
    with np.load(Path(run, "checkpoints", "ckpt-00000008.npz")) as z:
        return [z[f"augment/{i}"] for i in range(4)]  # p, ADA's sums, r_t


@pytest.mark.slow
def test_train_mnist_with_the_recipe_logs_p_and_resumes_it_exactly(recipe_runs):
    a, b = recipe_runs
    head, rows = read_csv(a / "metrics.csv")
    assert head[-2:] == ["augment_p", "ada_rt"]
    assert [int(r["step"]) for r in rows] == [4, 8]
    for r in rows:
        assert all(np.isfinite(float(r[k])) for k in ("d_loss", "g_loss", "augment_p"))
    p = [float(r["augment_p"]) for r in rows]
    assert p[0] != 0.5 and p[1] != p[0]  # ADA moved it, at steps 4 and 8
    assert "augment_p" in (a / "log.txt").read_text(encoding="utf-8")
    straight, resumed = augment_state(a), augment_state(b)
    assert float(straight[0]) == pytest.approx(p[1], rel=1e-5)
    for s, r in zip(straight, resumed):
        assert s.tobytes() == r.tobytes()
    assert read_csv(b / "metrics.csv")[1][-1]["augment_p"] == rows[-1]["augment_p"]
