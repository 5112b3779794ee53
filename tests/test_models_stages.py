"""dcgan-deep (grows with the image size), dcgan-cifar (seed 002's CIFAR-10 stack) and
--spectral_norm: builders, the trainer's frozen-D pattern, checkpoints, export, CLI."""
from __future__ import annotations

import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from gancli import config
from gancli.commands import train_mnist
from gancli.config import ImageConfig
from gancli.models import stages
from gancli.models.images import build_discriminator, build_generator
from gancli.presets import PRESETS
from helpers import assert_one_line_error, main
from test_models_images import LATENT, _call, _inputs


def _channels(model, kind):
    """(resolution, channels) of every layer of `kind` in model order."""
    return [(la.output.shape[1], la.output.shape[-1]) for la in model.layers
            if type(la) is kind or type(getattr(la, "layer", None)) is kind]


CASES = [(side, nc) for side in (16, 32, 64, 128) for nc in (0, 10)]


@pytest.mark.parametrize("side,num_classes", CASES, ids=[f"{s}px-c{n}" for s, n in CASES])
def test_deep_grows_from_4x4_and_d_mirrors_g(side, num_classes):
    width = stages.default_width(side)
    G = build_generator("dcgan-deep", LATENT, (side, side, 3), num_classes)
    D = build_discriminator("dcgan-deep", (side, side, 3), num_classes)
    assert G.get_layer("reshape").output.shape[1:3] == (4, 4)
    stages_g = _channels(G, keras.layers.Conv2DTranspose)
    # one x2 stage per doubling from 4x4 to the image, the last one makes the image
    assert [r for r, _ in stages_g] == [2 ** k for k in range(3, side.bit_length())]
    assert stages_g[-1] == (side, 3)
    g_maps = [(4, G.get_layer("reshape").output.shape[-1])] + stages_g[:-1]
    assert g_maps[-1] == (side // 2, width)  # width: G's last hidden stage
    # D mirrors G: at every resolution the channels G has there, from side/2 to 4x4
    assert _channels(D, keras.layers.Conv2D) == g_maps[::-1]
    assert not any(isinstance(la, keras.layers.BatchNormalization) for la in D.layers)
    z, y = _inputs(2, num_classes)
    x = _call(G, z, y)
    assert x.shape == (2, side, side, 3) and np.all(np.abs(x) <= 1)
    assert _call(D, x, y).shape == (2, 1)
    if num_classes:  # the label reaches both outputs
        y2 = (y + 1) % num_classes
        assert not np.allclose(_call(G, z, y2), x)
        assert not np.allclose(_call(D, x, y2), _call(D, x, y))


def test_width_knob_doubles_toward_4x4_capped_at_8x():
    assert stages.stage_widths(64, 128) == [1024, 512, 256, 128]  # DCGAN's 64 px G
    assert stages.stage_widths(32, 64) == [256, 128, 64]
    assert stages.stage_widths(128, 8) == [64, 64, 32, 16, 8]      # 4x4 capped at 8 x 8
    assert [stages.default_width(s) for s in (16, 32, 64, 128, 256)] == [64, 64, 64, 32, 16]
    G = build_generator("dcgan-deep", LATENT, (64, 64, 1), width=16)
    D = build_discriminator("dcgan-deep", (64, 64, 1), width=16)
    assert [c for _, c in _channels(G, keras.layers.Conv2DTranspose)] == [64, 32, 16, 1]
    assert [c for _, c in _channels(D, keras.layers.Conv2D)] == [16, 32, 64, 128]


@pytest.mark.parametrize("shape", [(48, 48, 3), (32, 64, 3), (8, 8, 3), (2048, 2048, 3)])
def test_deep_refuses_other_sides(shape):
    with pytest.raises(ValueError, match="16, 32, 64, 128, 256, 512 or 1024"):
        build_generator("dcgan-deep", LATENT, shape)
    with pytest.raises(ValueError, match="power of two|16, 32"):
        build_discriminator("dcgan-deep", shape)


def test_cli_refuses_a_deep_size_in_one_line(tmp_path, capsys):
    code, err = main(["train-mnist", "--model", "dcgan-deep", "--image_size", "48",
                      "--out", tmp_path / "o"], capsys)
    assert_one_line_error(code, err, "image_size is 48", "16, 32, 64",
                          prefix="gancli train-mnist: error:")
    code, err = main(["train-mnist", "--model", "dcgan", "--width", "32",
                      "--out", tmp_path / "o"], capsys)
    assert_one_line_error(code, err, "width", "dcgan-deep", prefix="gancli train-mnist: error:")
    assert not (tmp_path / "o").exists()


def _folder(root, n=24, side=40, seed=0):
    from PIL import Image

    rng = np.random.default_rng(seed)
    root.mkdir()
    for i in range(n):
        rgb = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
        Image.fromarray(rgb).save(root / f"{i:02d}.png")
    return root


def test_cli_refuses_folder_images_of_a_size_deep_cannot_make(tmp_path, capsys):
    data = _folder(tmp_path / "imgs", n=4)
    code, err = main(["train-mnist", "--dataset", "folder", "--data", data, "--model",
                      "dcgan-deep", "--out", tmp_path / "o", "--quiet"], capsys)
    assert_one_line_error(code, err, "40x40", "dcgan-deep", "--image_size",
                          prefix="gancli train-mnist: error:")


def test_dcgan_cifar_preset_builds_the_seeds_layer_stack():
    cfg = config.resolve(ImageConfig, PRESETS["train-mnist"], "dcgan-cifar",
                         preset="dcgan-cifar", overrides={"seed": 0})
    assert (cfg.model, cfg.dataset, cfg.batch_size, cfg.d_lr, cfg.d_beta1) == \
        ("dcgan-cifar", "cifar10", 64, 3e-4, 0.5)
    G, D = train_mnist.build_models(cfg, (32, 32, 3), 0)

    def stack(model):
        out = []
        for la in model.layers[1:]:
            kind = type(la).__name__
            filters = getattr(la, "filters", getattr(la, "units", None))
            out.append(kind if filters is None else f"{kind}({filters})")
        return out

    assert stack(G) == [
        "Dense(2048)", "Reshape", "BatchNormalization", "LeakyReLU",
        "Conv2DTranspose(256)", "BatchNormalization", "LeakyReLU",
        "Conv2DTranspose(128)", "BatchNormalization", "LeakyReLU",
        "Conv2DTranspose(64)", "BatchNormalization", "LeakyReLU",
        "Conv2DTranspose(3)"]
    assert stack(D) == [
        "Conv2D(64)", "LeakyReLU",
        "Conv2D(128)", "BatchNormalization", "LeakyReLU",
        "Conv2D(256)", "BatchNormalization", "LeakyReLU",
        "Conv2D(512)", "BatchNormalization", "LeakyReLU", "Flatten", "Dense(1)"]
    assert all(la.kernel_size == (5, 5) and la.strides == (2, 2) for la in G.layers + D.layers
               if isinstance(la, keras.layers.Conv2D))  # Conv2DTranspose is one too
    assert G.get_layer("image").activation is keras.activations.tanh
    # the notebook's model summaries: 4,516,739 and 4,312,193 parameters
    assert (G.count_params(), D.count_params()) == (4516739, 4312193)


# --- spectral normalization ---------------------------------------------------------------

def _sn_trainer(num_classes=0):
    from gancli.data.image_source import ImageSource
    from gancli.data.images import ImageData
    from gancli.training.setup import make_trainer

    cfg = config.resolve(ImageConfig, PRESETS["train-mnist"], "dcgan", preset="dcgan",
                         overrides={"seed": 3, "batch_size": 4, "latent_dim": LATENT,
                                    "model": "dcgan-deep", "width": 8,
                                    "spectral_norm": True, "ema": 0.0,
                                    "conditional": "projection" if num_classes else "none"})
    G, D = train_mnist.build_models(cfg, (16, 16, 3), num_classes)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, num_classes, 16) if num_classes else None
    data = ImageData(rng.integers(0, 256, (16, 16, 16, 3), dtype=np.uint8), labels,
                     num_classes, "synthetic")
    return make_trainer(cfg, G, D, ImageSource(data, bool(num_classes)), steps=10)


def _values(model):
    return {v.path: np.array(v) for v in model.variables}


def test_spectral_norm_wraps_every_conv_and_dense_of_d_under_its_name():
    D = build_discriminator("dcgan-deep", (16, 16, 3), 10, width=8, spectral_norm=True)
    wrapped = [la for la in D.layers if isinstance(la, keras.layers.SpectralNormalization)]
    assert [la.name for la in wrapped] == ["conv1", "conv2", "linear"]
    assert all(la.layer.name == la.name for la in wrapped)
    assert {v.name for v in D.get_layer("conv1").non_trainable_variables} == {"vector_u"}
    for arch, shape in (("dcgan", (28, 28, 1)), ("seed-classic", (28, 28, 1)),
                        ("dcgan-cifar", (32, 32, 3))):
        plain = build_discriminator(arch, shape)
        normed = build_discriminator(arch, shape, spectral_norm=True)
        assert [la.name for la in normed.layers] == [la.name for la in plain.layers]
        kinds = {type(la) for la in normed.layers}
        assert not kinds & {keras.layers.Conv2D, keras.layers.Dense}


@pytest.mark.slow
def test_spectral_norm_trains_in_the_frozen_pattern():
    """D steps advance the power iteration (non-trainable vector_u) and train D; a G
    step runs D through stateless_call and leaves every D variable bit-identical."""
    trainer = _sn_trainer(num_classes=3)
    D = trainer.D
    before = _values(D)
    trainer._d_step()
    after_d = _values(D)
    u = [k for k in before if k.endswith("vector_u")]
    assert len(u) == 3
    assert all(not np.array_equal(before[k], after_d[k]) for k in u)
    assert not np.array_equal(before["conv1/conv1/kernel"], after_d["conv1/conv1/kernel"])
    g_before = _values(trainer.G)
    trainer._g_step()
    after_g = _values(D)
    assert all(np.array_equal(after_d[k], after_g[k]) for k in after_d)
    assert any(not np.array_equal(g_before[k], v) for k, v in _values(trainer.G).items())
    stats = trainer.train(3)  # the compiled loop, shared fake pass and all
    assert all(np.isfinite(v) for v in stats.values())


@pytest.mark.slow
def test_spectral_norm_checkpoint_restores_by_path(tmp_path):
    from gancli.training import checkpoint

    trainer = _sn_trainer()
    trainer.train(2)
    path = checkpoint.save(trainer.state_variables(), str(tmp_path), 2, {})
    with np.load(path) as z:
        keys = set(z.files)
    assert {"D/conv1/kernel", "D/conv1/vector_u", "D/logit/vector_u",
            "d_opt/conv1/kernel/momentum"} <= keys
    want = _values(trainer.D)
    other = _sn_trainer()  # fresh weights and vectors
    assert not np.array_equal(_values(other.D)["conv1/vector_u"], want["conv1/vector_u"])
    checkpoint.restore(other.state_variables(), path)
    got = _values(other.D)
    assert all(np.array_equal(got[k], want[k]) for k in want)


_RELOAD = """
import sys
sys.modules["gancli"] = None  # any attempt to import gancli now raises ImportError
import keras, numpy as np
x = np.load("x.npy")
for name in ("discriminator.keras", "discriminator.h5", "generator.keras", "generator.h5"):
    m = keras.models.load_model(name, compile=False)
    if name.startswith("discriminator"):
        kinds = {type(la).__name__ for la in m.layers}
        assert "SpectralNormalization" in kinds, kinds
        print(name, float(np.asarray(m(x, training=False))[0, 0]))
    else:
        print(name, np.asarray(m(np.zeros((1, m.inputs[0].shape[1]), "float32"))).shape)
"""


@pytest.mark.slow
def test_train_a_colour_folder_at_32px_through_the_cli(tmp_path, capsys):
    data = _folder(tmp_path / "imgs")
    out = tmp_path / "run"
    code, err = main(["train-mnist", "--dataset", "folder", "--data", data, "--image_size",
                      "32", "--model", "dcgan-deep", "--width", "8", "--spectral_norm",
                      "--steps", "2", "--batch_size", "4", "--out", out, "--quiet"], capsys)
    assert code == 0, err
    assert "training dcgan-deep unconditional" in err  # 24 images: too few for clusters
    cfg = (out / "config.yaml").read_text()
    assert "model: dcgan-deep" in cfg and "spectral_norm: true" in cfg
    assert json.loads((out / "generator.json").read_text())["step"] == 2
    x = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    np.save(out / "x.npy", x)
    D = keras.models.load_model(out / "discriminator.keras", compile=False)
    r = subprocess.run([sys.executable, "-c", _RELOAD], cwd=out, check=False,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in r.stdout.splitlines())
    want = float(np.asarray(D(x, training=False))[0, 0])
    for name in ("discriminator.keras", "discriminator.h5"):
        assert abs(float(lines[name]) - want) <= 1e-5 * max(1.0, abs(want)), (name, lines)
    assert lines["generator.h5"] == "(1, 32, 32, 3)"


@pytest.mark.slow
def test_dcgan_cifar_preset_trains_on_cifar_through_the_cli(tmp_path, capsys):
    from test_colour_data import write_cifar

    folder, _ = write_cifar(tmp_path, n=8)
    out = tmp_path / "run"
    code, err = main(["train-mnist", "--preset", "dcgan-cifar", "--data", folder,
                      "--steps", "2", "--batch_size", "8", "--grid_size", "4", "--out", out,
                      "--quiet"], capsys)
    assert code == 0, err
    meta = json.loads((out / "generator.json").read_text())
    assert (meta["preset"], meta["step"], meta["image_shape"]) == ("dcgan-cifar", 2, [32, 32, 3])
    G = keras.models.load_model(out / "generator.keras", compile=False)
    assert G.count_params() == 4516739
