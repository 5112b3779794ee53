"""--conditional acgan (Odena et al. 2017): D's auxiliary class head, the class loss
as the trainer adds it, the --conditional flag's forms and older configs' booleans,
and a train-mnist run through the CLI that resumes and feeds `generate --label/--nice`."""
import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from helpers import assert_one_line_error, main, run_cli
from test_train_mnist import TINY, digits, write_idx_folder

from gancli import config
from gancli.config import IMAGE_MODELS, ImageConfig
from gancli.presets import PRESETS

PREFIX = "gancli train-mnist: error:"
SHAPE = (28, 28, 1)
SHAPES = {"dcgan-deep": (32, 32, 3), "dcgan-cifar": (32, 32, 3)}  # the others: SHAPE


def _config(run):
    return yaml.safe_load(Path(run, "config.yaml").read_text(encoding="utf-8"))


def _resolve(preset="cdcgan", **kw):
    return config.resolve(ImageConfig, PRESETS["train-mnist"], "cdcgan", preset=preset, **kw)


# ------------------------------------------------------------------------ the builder

@pytest.mark.parametrize("arch", IMAGE_MODELS)
def test_acgan_discriminator_sees_the_image_alone_and_classifies_it(arch):
    from gancli.models.images import build_discriminator

    shape = SHAPES.get(arch, SHAPE)
    D = build_discriminator(arch, shape, 10, conditional="acgan")
    assert [t.name for t in D.inputs] == ["image"]  # ACGAN's D is not given the label
    x = np.random.default_rng(0).uniform(-1, 1, (4, *shape)).astype(np.float32)
    logit, class_logits = D(x, training=False)
    assert logit.shape == (4, 1) and class_logits.shape == (4, 10)
    # both heads read the same feature vector
    assert D.get_layer("class_logits").input is D.get_layer("logit").input
    # none: the unconditional D whatever the class count
    plain = build_discriminator(arch, shape, 10, conditional="none")
    assert [t.name for t in plain.inputs] == ["image"] and len(plain.outputs) == 1


def test_acgan_heads_are_float32_under_mixed_precision():
    import keras

    from gancli.models.images import build_discriminator

    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        D = build_discriminator("dcgan", SHAPE, 10, conditional="acgan")
    finally:
        keras.config.set_dtype_policy(policy)
    assert D.get_layer("conv1").compute_dtype == "bfloat16"
    assert [t.dtype for t in D.outputs] == ["float32", "float32"]


def test_unknown_conditional_is_refused_by_the_builder():
    from gancli.models.images import build_discriminator

    with pytest.raises(ValueError, match="unknown conditional 'acgn'"):
        build_discriminator("dcgan", SHAPE, 10, conditional="acgn")


def test_sped_up_acgan_discriminator_saves_as_stock_layers(tmp_path):
    # seed-classic's D gets every swap (TransposedDense, FastGradConv2D); saved, it is
    # stock Keras layers with both outputs, which generate --nice loads and checks
    import keras

    from gancli import saved_models
    from gancli.models import fastconv, layers
    from gancli.models.images import build_discriminator
    from gancli.models.speedups import speed_up
    from gancli.training import export

    keras.utils.set_random_seed(0)
    D = speed_up(build_discriminator("seed-classic", SHAPE, 10, conditional="acgan"), gpu=False)
    x = np.random.default_rng(1).uniform(-1, 1, (3, *SHAPE)).astype(np.float32)
    want = [np.asarray(o) for o in D(x, training=False)]
    fast = (layers.TransposedDense, layers.UpConv2D, fastconv.FastGradConv2D)
    for suffix in (".keras", ".h5"):
        path = str(tmp_path / f"discriminator{suffix}")
        export.save_model(export.stock(D), path)
        back = saved_models.load_model(path, max_outputs=2)
        assert not any(isinstance(la, fast) for la in back.layers)
        for got, ref in zip(back(x, training=False), want):
            np.testing.assert_allclose(np.asarray(got), ref, rtol=1e-5, atol=1e-5)
        info = saved_models.GeneratorInfo(path="g.keras", latent_dim=8, noise="uniform:-1,1",
                                          kind="images", num_classes=10, value_range=(-1, 1),
                                          image_shape=SHAPE, output_shape=SHAPE)
        assert saved_models.check_discriminator(back, path, info) == (0, None)


# ------------------------------------------------------------------------ the class loss

def test_class_loss_is_the_mean_softmax_cross_entropy():
    from gancli.losses import class_loss

    # [0, 0] for class 0: -log(1/2); [log 3, 0] for class 0: -log(3/4)
    logits = np.array([[0.0, 0.0], [math.log(3.0), 0.0]], np.float32)
    got = float(class_loss(logits, np.array([0, 0])))
    assert got == pytest.approx((math.log(2.0) + math.log(4.0 / 3.0)) / 2, rel=1e-6)


def _trainer(loss="bce", class_weight=0.5, n_classes=3):
    import keras

    from gancli.losses import make_loss
    from gancli.models.images import build_discriminator, build_generator
    from gancli.training.optimizers import make_optimizer
    from gancli.training.trainer import GANTrainer

    class Source:  # random 8x8 images, labels 0..n_classes-1
        num_classes, variables = n_classes, []
        class_cdf = None  # uniform fake labels

        def sample(self, rng, n):
            import tensorflow as tf

            return (rng.uniform([n, 8, 8, 1], -1.0, 1.0),
                    rng.uniform([n], 0, n_classes, dtype=tf.int32))

    keras.utils.set_random_seed(2)
    # "wgan" nets: no Dropout, so a D call in training mode is repeatable
    G = build_generator("wgan", 8, (8, 8, 1), n_classes)
    D = build_discriminator("wgan", (8, 8, 1), n_classes, conditional="acgan")
    return GANTrainer(G, D, make_loss(loss), make_optimizer("adam", 1e-3),
                      make_optimizer("adam", 1e-3), Source(), batch_size=4, latent_dim=8,
                      noise=("uniform", -1.0, 1.0), class_weight=class_weight)


def _ce(logits, labels):
    logits = np.asarray(logits, np.float64)
    logp = logits - logits.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    return -logp[np.arange(len(labels)), labels].mean()


def _softplus(v):
    return np.log1p(np.exp(np.asarray(v, np.float64)))


def test_split_sums_the_real_and_fake_class_terms():
    import tensorflow as tf

    tr = _trainer(class_weight=0.5)
    logit = tf.constant([[1.0], [2.0], [3.0], [4.0]])
    logits = tf.constant([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 5.0]])
    labels = tf.constant([0, 0, 1, 2])
    out, term = tr._split([logit, logits], labels, n=2)
    np.testing.assert_array_equal(out, logit)
    want = 0.5 * (_ce(logits[:2], [0, 0]) + _ce(logits[2:], [1, 2]))
    assert float(term) == pytest.approx(want, rel=1e-6)
    _, whole = tr._split([logit, logits], labels)  # no n: one mean (the G step)
    assert float(whole) == pytest.approx(0.5 * _ce(logits, [0, 0, 1, 2]), rel=1e-6)


def test_d_and_g_losses_add_the_class_terms():
    tr = _trainer(class_weight=0.5)
    rng = np.random.default_rng(3)
    real = rng.uniform(-1, 1, (4, 8, 8, 1)).astype(np.float32)
    y_real, y_fake = np.array([0, 1, 2, 0]), np.array([2, 2, 1, 0])
    z = rng.uniform(-1, 1, (4, 8)).astype(np.float32)
    fake = np.asarray(tr.G([z, y_fake], training=True))
    logit, logits = (np.asarray(o) for o in tr.D(np.concatenate([real, fake]), training=True))
    want = (_softplus(-logit[:4]).mean() + _softplus(logit[4:]).mean()
            + 0.5 * (_ce(logits[:4], y_real) + _ce(logits[4:], y_fake)))
    d_loss = float(tr._d_update(real, y_real, z, y_fake, None)[0])
    assert d_loss == pytest.approx(want, rel=1e-4)

    # the G step: D (now updated) frozen on G's fakes, the class term on G's labels
    fake = np.asarray(tr.G([z, y_fake], training=True))
    logit, logits = (np.asarray(o) for o in tr.D(fake, training=True))
    want = _softplus(-logit).mean() + 0.5 * _ce(logits, y_fake)
    assert float(tr._g_update(z, y_fake)[0]) == pytest.approx(want, rel=1e-4)


@pytest.mark.slow
def test_gradient_penalty_takes_the_logit_of_an_acgan_critic():
    tr = _trainer(loss="wgan-gp")
    stats = tr.train(2)
    assert tr.last_chunk["steps"] == 2 and all(map(math.isfinite, stats.values()))
    assert all(np.isfinite(np.asarray(w)).all() for w in tr.D.weights)


# ------------------------------------------------------------------------ flag and config

def _flags(*argv):
    from gancli.cli import build_parser
    from gancli.commands import _args

    args = build_parser().parse_args(["train-mnist", *argv])
    return _args.overrides(args)


@pytest.mark.parametrize("argv, want", [
    ([], "projection"),                          # the default preset, cdcgan
    (["--conditional"], "projection"),           # the old boolean flag
    (["--no-conditional"], "none"),
    (["--conditional", "acgan"], "acgan"),
    (["--conditional", "none"], "none"),
    (["--conditional", "projection", "--class_weight", "2"], "projection"),
])
def test_conditional_flag_forms(argv, want):
    assert _resolve(overrides=_flags(*argv)).conditional == want


def test_unconditional_presets_stay_none():
    assert _resolve(preset="dcgan").conditional == "none"
    assert _resolve(preset="dcgan", overrides=_flags("--conditional")).conditional \
        == "projection"


@pytest.mark.parametrize("text, want", [("true", "projection"), ("false", "none"),
                                        ("acgan", "acgan")])
def test_config_files_with_the_old_boolean_still_load(tmp_path, text, want):
    path = tmp_path / "config.yaml"
    path.write_text(f"preset: cdcgan\nconditional: {text}\nclass_weight: 2\n",
                    encoding="utf-8")
    cfg = _resolve(preset=None, config_path=str(path))
    assert cfg.conditional == want and cfg.class_weight == 2.0
    # and what is written back is the new spelling
    assert yaml.safe_load(config.dump_yaml(cfg))["conditional"] == want


def test_bad_conditional_is_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    code, err = main(["train-mnist", "--conditional", "acgn", "--out", out], capsys)
    assert_one_line_error(code, err, "conditional", "acgn", "projection, acgan", prefix=PREFIX)
    code, err = main(["train-mnist", "--conditional", "acgan", "--class_weight", "-1",
                      "--out", out], capsys)
    assert_one_line_error(code, err, "class_weight", prefix=PREFIX)
    assert not out.exists()


def test_acgan_without_labels_is_an_error(tmp_path, capsys):
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8), "L").save(
            folder / f"img{i}.png")
    out = tmp_path / "run"
    code, err = main(["train-mnist", "--dataset", "folder", "--data", folder,
                      "--conditional", "acgan", "--image_size", "16", "--out", out], capsys)
    assert_one_line_error(code, err, "--conditional acgan needs labels", prefix=PREFIX)
    assert not out.exists()


# ------------------------------------------------------------------------ through the CLI

@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_idx_folder(tmp_path_factory.mktemp("idx"), *digits(128))


@pytest.mark.slow
def test_acgan_trains_resumes_and_generates(tmp_path, data, capsys):
    import keras

    from gancli.training import checkpoint

    run = tmp_path / "acgan"
    code, err = main(["train-mnist", "--out", run, *TINY, "--conditional", "acgan",
                      "--steps", "4", "--seed", "1", "--data", data], capsys)
    assert code == 0, err
    assert _config(run)["conditional"] == "acgan"
    meta = json.loads((run / "generator.json").read_text(encoding="utf-8"))
    assert meta["num_classes"] == 10 and meta["step"] == 4
    D = keras.models.load_model(run / "discriminator.keras", compile=False)
    assert [t.name for t in D.inputs] == ["image"]
    assert [tuple(t.shape) for t in D.outputs] == [(None, 1), (None, 10)]
    _, last = checkpoint.list_checkpoints(str(run / "checkpoints"))[-1]
    with np.load(last) as z:
        assert z["D/class_logits/kernel"].shape[-1] == 10

    code, err = main(["train-mnist", "--resume", run, "--steps", "6", "--quiet"], capsys)
    assert code == 0, err
    rows = (run / "metrics.csv").read_text(encoding="utf-8").splitlines()
    assert [int(r.split(",")[0]) for r in rows[1:]] == [2, 4, 6]
    assert all(math.isfinite(float(v)) for r in rows[1:] for v in r.split(",")[2:4])

    out = tmp_path / "threes"
    code, _, err = run_cli(["generate", "-g", run, "--label", "3", "--n", "6", "--seed", "2",
                            "--npz", "--out", out], capsys)
    assert code == 0, err
    with np.load(out / "samples.npz") as z:
        assert z["labels"].tolist() == [3] * 6 and z["images"].shape == (6, *SHAPE)

    nice = tmp_path / "nice"
    code, _, err = run_cli(["generate", "-g", run, "--nice", "--n", "5", "--seed", "2",
                            "--labels", "uniform", "--npz", "--out", nice], capsys)
    assert code == 0, err
    with np.load(nice / "samples.npz") as z:
        scores, labels = z["scores"], z["labels"]
    assert scores.shape == (5,) and np.isfinite(scores).all()
    assert labels.tolist() == [0, 1, 2, 3, 4]  # --labels uniform: classes in turn


def test_an_old_boolean_config_trains_through_the_cli(tmp_path, data, capsys):
    old = tmp_path / "old.yaml"
    old.write_text("preset: cdcgan\nconditional: false\n", encoding="utf-8")
    run = tmp_path / "run"
    code, err = main(["train-mnist", "--config", old, "--out", run, *TINY, "--steps", "0",
                      "--data", data], capsys)
    assert code == 0, err
    assert _config(run)["conditional"] == "none"
