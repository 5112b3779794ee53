"""--precision: mixed precision through the CLI (bf16, fp16 with loss scaling), the
float32 outputs of saved generators, auto's resolution on faked hardware (and
`gancli info` showing the same pick), config.yaml recording what auto resolved to,
--resume in the run's precision or switched into any other (every pair of
fp32/bf16/fp16), and Keras 3's LossScaleOptimizer (scale_loss + apply) as the trainer
uses it."""
import json
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml

from helpers import main, read_csv, run_cli

from gancli.training import checkpoint, precision

DIST = ["--steps", "6", "--sample_every", "3", "--checkpoint_every", "6", "--batch_size", "8",
        "--vector_len", "8", "--latent_dim", "8", "--g_hidden", "16,16", "--d_hidden", "16,16",
        "--eval_samples", "200", "--seed", "3", "--quiet"]
MNIST = ["--steps", "4", "--batch_size", "8", "--latent_dim", "16", "--grid_size", "4",
         "--sample_every", "2", "--checkpoint_every", "4", "--n_train", "64", "--seed", "3",
         "--no-conditional", "--clusters", "0", "--quiet"]  # G takes noise alone


def run(argv):
    code, err = main(argv)
    assert code == 0, err
    assert keras.config.dtype_policy().name == "float32"  # the policy does not leak


@pytest.fixture(scope="module")
def mnist_npz(tmp_path_factory):
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("data") / "mnist.npz"
    np.savez(path, x_train=rng.integers(0, 256, (64, 28, 28), dtype=np.uint8),
             y_train=rng.integers(0, 10, 64, dtype=np.uint8))
    return path


def check_run(out, prec, latent, out_shape):
    cfg = yaml.safe_load(Path(out, "config.yaml").read_text(encoding="utf-8"))
    assert cfg["precision"] == prec
    rows = Path(out, "metrics.csv").read_text(encoding="utf-8").splitlines()
    head = rows[0].split(",")
    for row in rows[1:]:
        values = dict(zip(head, row.split(",")))
        for k in ("d_loss", "g_loss", "d_real", "d_fake"):
            assert np.isfinite(float(values[k])), (k, row)
    meta = json.loads(Path(out, "generator.json").read_text(encoding="utf-8"))
    assert meta["precision"] == prec
    assert f"precision {prec} (as set)" in Path(out, "log.txt").read_text(encoding="utf-8")
    z = np.random.default_rng(0).uniform(0, 1, (5, latent)).astype(np.float32)
    for name in ("generator.keras", "generator.h5"):
        G = keras.models.load_model(Path(out, name), compile=False)
        x = G(z)
        assert x.dtype == tf.float32 and tuple(x.shape) == (5, *out_shape)
        assert np.all(np.isfinite(x.numpy()))
        if prec == "bf16":  # the hidden layers really compute in 16 bits
            assert any(layer.compute_dtype == "bfloat16" for layer in G.layers)


@pytest.mark.slow
@pytest.mark.parametrize("prec", ["bf16", "fp16"])
def test_train_dist_mixed_precision(tmp_path, prec):
    out = tmp_path / "run"
    run(["train-dist", "--out", out, "--precision", prec, *DIST])
    check_run(out, prec, 8, (8,))


@pytest.mark.slow
@pytest.mark.parametrize("prec, model", [("bf16", "dcgan"), ("fp16", "seed-classic")])
def test_train_mnist_mixed_precision(tmp_path, mnist_npz, prec, model):
    out = tmp_path / "run"
    run(["train-mnist", "--out", out, "--data", mnist_npz, "--model", model,
         "--precision", prec, *MNIST])
    check_run(out, prec, 16, (28, 28, 1))


@pytest.mark.slow
def test_auto_is_resolved_logged_and_written(tmp_path):
    out = tmp_path / "run"
    run(["train-dist", "--out", out, *DIST])
    resolved, why = precision.resolve("auto")
    assert resolved in ("fp32", "bf16", "fp16") and why.startswith("auto:")
    text = Path(out, "config.yaml").read_text(encoding="utf-8")
    assert yaml.safe_load(text)["precision"] == resolved  # what auto resolved to, and why
    assert f"\nprecision: {resolved}  # {why}\n" in text
    log = Path(out, "log.txt").read_text(encoding="utf-8")
    assert f"precision {resolved} ({why})" in log
    meta = json.loads(Path(out, "generator.json").read_text(encoding="utf-8"))
    assert meta["precision"] == resolved


# auto on faked hardware: (GPU compute capabilities, CPU flags) -> what auto picks
HARDWARE = {"cpu": ([], {"avx2", "fma"}), "cpu-bf16": ([], {"avx512f", "avx512_bf16"}),
            "cpu-amx": ([], {"amx_tile", "amx_bf16"}), "gpu-7.5": ([(7, 5)], {"avx2"}),
            "gpus-8.0+6.1": ([(8, 0), (6, 1)], {"avx512_bf16"})}
AUTO = {"cpu": "fp32", "cpu-bf16": "bf16", "cpu-amx": "bf16", "gpu-7.5": "fp16",
        "gpus-8.0+6.1": "fp32"}


def fake_hardware(mp, name):
    caps, flags = HARDWARE[name]
    mp.setattr(precision, "_gpu_capabilities", lambda: caps)
    mp.setattr(precision, "cpu_flags", lambda: set(flags))


@pytest.mark.parametrize("hardware", sorted(AUTO))
def test_auto_follows_the_hardware_and_info_shows_it(monkeypatch, capsys, hardware):
    """bf16 on CPUs with native bfloat16, fp16 on GPUs with tensor cores (all of them
    >= 7.0), else fp32; `gancli info` shows the same pick, through the same function."""
    fake_hardware(monkeypatch, hardware)
    prec, why = precision.resolve("auto")
    assert prec == AUTO[hardware] and why.startswith("auto: ")
    assert precision.resolve("bf16") == ("bf16", "as set")
    code, out, err = run_cli(["info", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["auto picks"]["--precision auto"] == {"pick": prec, "why": why}


def test_switch_note_names_what_happened_to_the_loss_scale():
    assert precision.switch_note("fp32", "fp32") == precision.switch_note(None, "fp16") == ""
    assert "loss scale starts fresh" in precision.switch_note("bf16", "fp16")
    assert "loss scale dropped" in precision.switch_note("fp16", "fp32")
    assert precision.switch_note("fp32", "bf16").startswith("fp32 checkpoint restored into bf16")


def test_checkpoint_moves_between_loss_scaled_and_plain_optimizers(tmp_path):
    """The precision switch at the checkpoint level: weights and Adam slots restore
    exactly both ways; fp16's loss scale starts at its initial value when the
    checkpoint has none and is skipped when the model has none; anything else missing
    is still an error naming it."""
    from gancli.errors import CheckpointError

    def state(prec, seed):
        with precision.policy(prec):
            model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
        opt = precision.wrap_optimizer(keras.optimizers.Adam(0.1), prec)
        opt.build(model.trainable_variables)
        rng = np.random.default_rng(seed)
        for v in model.variables + opt.variables:
            v.assign(rng.normal(size=v.shape).astype(v.dtype) if "float" in v.dtype
                     else np.full(v.shape, seed, v.dtype))
        return {"M": model, "opt": opt}

    def own(opt):  # a LossScaleOptimizer's own variables (the loss scale, its counter)
        inner = getattr(opt, "inner_optimizer", opt).variables
        return [v for v in opt.variables if all(v is not w for w in inner)]

    for saved, restored in (("fp32", "fp16"), ("fp16", "bf16"), ("bf16", "fp16")):
        src, dst = state(saved, 1), state(restored, 2)
        (tmp_path / saved).mkdir()
        path = checkpoint.save(src, str(tmp_path / saved), 7, {})
        before = [v.numpy().copy() for v in own(dst["opt"])]
        assert checkpoint.restore(dst, path)["precision"] == saved
        inner = [getattr(g["opt"], "inner_optimizer", g["opt"]) for g in (src, dst)]
        for a, b in zip(src["M"].variables + inner[0].variables,
                        dst["M"].variables + inner[1].variables, strict=True):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
        assert bool(before) == (restored == "fp16")
        for v, old in zip(own(dst["opt"]), before):  # not in the checkpoint: left as built
            np.testing.assert_array_equal(v.numpy(), old)
    bad = state("fp16", 3)
    bad["extra"] = [keras.Variable(1.0)]
    with pytest.raises(CheckpointError, match="missing from the checkpoint: extra/0"):
        checkpoint.restore(bad, checkpoint.latest(str(tmp_path / "fp32")))


# --- resume across precisions: 2 steps in X, resumed to 4 in Y, through the CLI -----------

# the default preset (cdcgan: conditional dcgan, projection D, Dropout, EMA, reuse_fake)
# on 8x8 images, as small as it goes
RESUMABLE = ["--batch_size", "8", "--latent_dim", "8", "--grid_size", "4", "--sample_every",
             "2", "--checkpoint_every", "2", "--seed", "4", "--quiet"]
SOURCE = {"fp32": "cpu", "bf16": "cpu-bf16", "fp16": "gpu-7.5"}


@pytest.fixture(scope="module")
def small_digits(tmp_path_factory):
    rng = np.random.default_rng(1)
    path = tmp_path_factory.mktemp("digits") / "digits.npz"
    np.savez(path, x_train=rng.integers(0, 256, (32, 8, 8), dtype=np.uint8),
             y_train=np.arange(32, dtype=np.uint8) % 10)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory, small_digits):
    """{precision: a run of 2 steps in it, started with --precision auto on hardware
    where auto picks it}."""
    base = tmp_path_factory.mktemp("trained")
    runs = {}
    for prec, hardware in SOURCE.items():
        with pytest.MonkeyPatch.context() as mp:
            fake_hardware(mp, hardware)
            run(["train-mnist", "--out", base / prec, "--data", small_digits, "--steps", "2",
                 *RESUMABLE])
        runs[prec] = base / prec
    return runs


def stored(run_dir, step):
    with np.load(Path(run_dir, "checkpoints", f"ckpt-{step:08d}.npz")) as z:
        return {k: z[k] for k in z.files if k != "__meta__"}, checkpoint.read_meta(z.fid.name)


@pytest.mark.slow
@pytest.mark.parametrize("saved", ["fp32", "bf16", "fp16"])
def test_auto_is_recorded_in_config_yaml(trained, saved):
    text = Path(trained[saved], "config.yaml").read_text(encoding="utf-8")
    assert yaml.safe_load(text)["precision"] == saved
    line = next(ln for ln in text.splitlines() if ln.startswith("precision:"))
    assert line.startswith(f"precision: {saved}  # auto: "), line
    assert stored(trained[saved], 2)[1]["precision"] == saved


@pytest.mark.slow
@pytest.mark.parametrize("saved, resumed", [(a, b) for a in ("fp32", "bf16", "fp16")
                                            for b in ("fp32", "bf16", "fp16") if a != b]
                         + [("fp32", "fp32")])
def test_resume_restores_into_any_precision(tmp_path, monkeypatch, trained, saved, resumed):
    """--resume --precision Y restores a checkpoint saved in X into Y: every stored
    weight and optimizer slot exactly, fp16's loss scale fresh (coming from fp32/bf16)
    or dropped (going to them); training then goes on with finite losses. Without
    --precision (fp32 -> fp32) a run started by auto on a CPU and resumed on a GPU,
    where auto picks fp16, keeps its recorded fp32 (issue 15)."""
    out = tmp_path / "run"
    shutil.copytree(trained[saved], out)
    arrays, _ = stored(out, 2)
    restored = {}
    real_restore = checkpoint.restore

    def spy(groups, path):
        meta = real_restore(groups, path)
        restored.update({k: to_stock(np.asarray(v.numpy()))
                         for k, (v, to_stock, _) in checkpoint._paths(groups).items()})
        return meta

    monkeypatch.setattr(checkpoint, "restore", spy)
    fake_hardware(monkeypatch, "gpu-7.5")
    switch = [] if saved == resumed else ["--precision", resumed]
    run(["train-mnist", "--resume", out, "--steps", "4", *switch])

    scale = {k for k in restored if "/loss_scale/" in k}
    assert {k for k in arrays if "/loss_scale/" not in k} == set(restored) - scale
    for k, v in restored.items():
        if k in arrays:
            assert np.array_equal(v, arrays[k]), k
    assert bool(scale) == (resumed == "fp16")
    if resumed == "fp16" and saved != "fp16":  # fresh: the initial dynamic scale
        assert restored["g_opt/loss_scale/dynamic_scale"] == 2.0 ** 15
        assert not any("/loss_scale/" in k for k in arrays)
    assert len(arrays) > 40  # G, D, G_ema, both optimizers' slots, step, rng, data order

    text = Path(out, "config.yaml").read_text(encoding="utf-8")
    assert yaml.safe_load(text)["precision"] == resumed
    lines = Path(out, "log.txt").read_text(encoding="utf-8").splitlines()
    prec_line = [ln for ln in lines if ln.startswith("precision ")][-1]  # the resumed run's
    resumed_line = [ln for ln in lines if ln.startswith("resumed from ")][-1]
    if saved == resumed:
        assert prec_line.startswith(f"precision {saved} (the run's, from its config.yaml "
                                    "(auto: "), prec_line
        assert f"\nprecision: {saved}  # auto: " in text  # the reason auto chose it is kept
        assert resumed_line.endswith("at step 2")
    else:
        assert prec_line == f"precision {resumed} (as set)"
        assert resumed_line.endswith(precision.switch_note(saved, resumed))
    rows = read_csv(Path(out, "metrics.csv"))[1]
    assert [r["step"] for r in rows] == ["2", "4"]
    assert all(np.isfinite(float(rows[-1][k])) for k in ("d_loss", "g_loss", "d_real"))
    after, meta = stored(out, 4)
    assert meta["precision"] == resumed
    assert all(np.isfinite(v).all() for v in after.values())
    assert not np.array_equal(after["g_opt/iteration"], arrays["g_opt/iteration"])


def test_loss_scale_optimizer_scale_loss_and_apply():
    """Keras 3: scale_loss multiplies by the dynamic scale; apply divides the gradients
    by it, so the step equals the unscaled optimizer's; an overflow skips the step and
    halves the scale."""
    w_ref = keras.Variable(np.array([1.0, -2.0], np.float32))
    w = keras.Variable(np.array([1.0, -2.0], np.float32))
    ref = keras.optimizers.SGD(0.1)
    opt = precision.wrap_optimizer(keras.optimizers.SGD(0.1), "fp16")
    assert isinstance(opt, keras.optimizers.LossScaleOptimizer)
    assert precision.wrap_optimizer(ref, "bf16") is ref
    opt.build([w])
    scale = float(opt.dynamic_scale.numpy())
    assert scale == 2.0 ** 15

    def grad(var, loss_fn):
        with tf.GradientTape() as tape:
            loss = loss_fn(tf.reduce_sum(tf.square(var)))
        return tape.gradient(loss, [var])

    g = grad(w, opt.scale_loss)
    assert np.allclose(g[0].numpy(), scale * 2 * w.numpy())
    opt.apply(g, [w])
    ref.apply(grad(w_ref, lambda x: x), [w_ref])
    np.testing.assert_allclose(w.numpy(), w_ref.numpy(), rtol=1e-6)
    assert int(opt.iterations.numpy()) == 1
    before = w.numpy().copy()
    opt.apply([tf.constant([np.inf, 1.0])], [w])
    assert np.array_equal(w.numpy(), before)
    assert float(opt.dynamic_scale.numpy()) == scale / 2


@pytest.mark.slow
def test_fp16_models_keep_float32_outputs_and_trainer_scales_losses():
    from gancli.config import ImageConfig
    from gancli.models import images
    from gancli.training.setup import make_trainer

    class Source:
        num_classes, variables = 0, []

        class_cdf = None  # uniform fake labels

        def sample(self, rng, n):
            return rng.uniform([n, 8, 8, 1], -1, 1), None

    with precision.policy("fp16"):
        G = images.build_generator("dcgan", 4, (8, 8, 1))
        D = images.build_discriminator("dcgan", (8, 8, 1))
    assert G.layers[1].compute_dtype == "float16"
    assert G.get_layer("image").compute_dtype == "float32"
    assert D.get_layer("logit").compute_dtype == "float32"
    cfg = ImageConfig(batch_size=4, latent_dim=4, seed=0, steps=10)
    tr = make_trainer(cfg, G, D, Source())
    assert tr.precision == "fp16"
    assert isinstance(tr.d_opt, keras.optimizers.LossScaleOptimizer)
    stats = tr.train(3)
    assert all(np.isfinite(v) for v in stats.values())
    assert int(tr.g_opt.iterations.numpy()) == 3  # no overflow: every step applied
    assert tr.generate(np.zeros((2, 4), np.float32)).dtype == np.float32


def test_fp16_gradient_penalty_equals_fp32():
    """wgan-gp under fp16: the penalty's inner gradient (of D w.r.t. the interpolates) is
    loss-scaled, so it equals fp32's although every value of it is ~1e-8 -- below
    float16's smallest subnormal (6e-8), where an unscaled float16 gradient is 0. The
    penalty and its (unscaled) gradient w.r.t. D's weights match fp32 to 1%."""
    from gancli import losses
    from gancli.training.trainer import GANTrainer

    class Source:
        num_classes, variables = 0, []

    rng = np.random.default_rng(0)
    # D(x) = w2 . (W1 x): grad_x D = W1^T w2, each entry a sum of 8 products ~1e-8
    w1 = rng.uniform(0.5, 1.5, (4, 8)).astype(np.float16).astype(np.float32) * 1e-4
    w2 = rng.uniform(0.5, 1.5, (8, 1)).astype(np.float16).astype(np.float32) * 1e-4
    real, fake = (tf.constant(rng.normal(size=(6, 4)), tf.float32) for _ in range(2))
    eps = tf.constant(rng.uniform(size=(6, 1)), tf.float32)
    results = {}
    for prec in ("fp32", "fp16"):
        with precision.policy(prec):
            G = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4)])
            D = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, use_bias=False),
                                  keras.layers.Dense(1, use_bias=False, dtype="float32")])
        D.set_weights([w1, w2])
        opt = precision.wrap_optimizer(keras.optimizers.SGD(0.1), prec)
        tr = GANTrainer(G, D, losses.make_loss("wgan-gp"), opt,
                        precision.wrap_optimizer(keras.optimizers.SGD(0.1), prec), Source(),
                        batch_size=6, latent_dim=4, noise=("uniform", -1.0, 1.0))
        with tf.GradientTape() as tape:
            penalty = tr._gradient_penalty(real, fake, None, eps)
            scaled = tr._scale_loss(tr.d_opt, penalty)  # as the D step differentiates it
        scale = float(opt.dynamic_scale.numpy()) if prec == "fp16" else 1.0
        grads = [g.numpy() / scale for g in tape.gradient(scaled, D.trainable_variables)]
        results[prec] = float(penalty), grads
    assert D.layers[0].compute_dtype == "float16" and scale == 2.0 ** 15
    (p32, g32), (p16, g16) = results["fp32"], results["fp16"]
    assert p16 == pytest.approx(p32, rel=1e-2)
    assert all(np.abs(g).max() > 1e-5 for g in g32)  # the penalty does train D's weights
    for a, b in zip(g16, g32):
        np.testing.assert_allclose(a, b, rtol=1e-2, atol=1e-2 * np.abs(b).max())
