"""gancli generate: both file formats, run folders, --separate/--npz/--label/--nice,
1-D generators, no-sidecar defaults, and one-line errors for every bad input."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from helpers import run_cli

from gancli.generation import pick_nice
from gancli.latents import draw_inputs, draw_noise
from gancli.sampling import to_uint8

LATENT, SHAPE, CLASSES = 8, (28, 28, 1), 3


def _sidecar(path, **extra):
    meta = {"latent_dim": LATENT, "noise": "uniform:-1,1", "kind": "images",
            "value_range": [-1, 1], "image_shape": list(SHAPE), "num_classes": 0,
            "preset": "dcgan", "step": 0, "versions": {}, "model": "generator"}
    meta.update(extra)
    with open(path, "w") as fh:
        json.dump(meta, fh)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """run/: unconditional G (.h5, .keras, json) + D; cond/: 3-class G (.keras) + D;
    acgan/: 3-class G + an ACGAN D (image -> [logit, class logits]);
    bare/: generator.h5 only; dist/: a 1-D (values) generator."""
    import keras

    from gancli.models import dist, images

    keras.utils.set_random_seed(0)
    root = tmp_path_factory.mktemp("gen")
    m = {"root": root}
    for name, nc in (("run", 0), ("cond", CLASSES), ("acgan", CLASSES)):
        d = root / name
        d.mkdir()
        G = images.build_generator("dcgan", LATENT, SHAPE, nc)
        D = images.build_discriminator(
            "dcgan", SHAPE, nc, conditional="acgan" if name == "acgan" else "projection")
        G.save(d / "generator.keras")
        if name == "run":
            G.save(d / "generator.h5")
        _sidecar(d / "generator.json", num_classes=nc)
        D.save(d / "discriminator.keras")
        _sidecar(d / "discriminator.json", num_classes=nc, model="discriminator")
        m[name] = (d, G, D)
    (root / "bare").mkdir()
    shutil.copy(root / "run" / "generator.h5", root / "bare" / "generator.h5")
    d = root / "dist"
    d.mkdir()
    G = dist.build_generator("mlp", 4, 10, (16,), ("relu",), (4.0, 1.25))
    G.save(d / "generator.keras")
    with open(d / "generator.json", "w") as fh:
        json.dump({"kind": "values", "latent_dim": 4, "noise": "uniform:0,1",
                   "target": "normal:4,1.25", "vector_len": 10, "value_range": None,
                   "num_classes": 0, "model": "generator"}, fh)
    m["dist"] = (d, G, None)
    return m


def _gen(capsys, *argv):
    rc, out, err = run_cli(["generate", *argv], capsys)
    return rc, out.splitlines(), err.strip().splitlines()


def _png(path):
    return np.asarray(Image.open(path))


def _g(G, z, y=None):
    return np.asarray(G(z if y is None else [z, y], training=False))


def test_formats_and_run_folder_give_the_same_grid(models, capsys, tmp_path):
    run = models["run"][0]
    grids = []
    for weights, out in ((run / "generator.h5", tmp_path / "a.png"),
                         (run / "generator.keras", tmp_path / "b.png"), (run, None)):
        rc, out_lines, err = _gen(capsys, "--weights", weights, "--n", 9, "--seed", 3,
                                  *(["--out", out] if out else []))
        assert rc == 0 and err == [] and len(out_lines) == 1
        expect = out or run / "generated" / "seed3" / "grid.png"
        assert os.path.samefile(out_lines[0], expect)
        grids.append(_png(expect))
    assert grids[0].shape == (3 * 56 + 4 * 2, 3 * 56 + 4 * 2)  # 3x3 tiles at 2x, 2 px pad
    np.testing.assert_array_equal(grids[0], grids[1])
    np.testing.assert_array_equal(grids[0], grids[2])
    _gen(capsys, "--weights", run / "generator.h5", "--n", 9, "--seed", 4,
         "--out", tmp_path / "c.png")
    assert not np.array_equal(grids[0], _png(tmp_path / "c.png"))


def test_separate_and_npz_match_the_generator(models, capsys, tmp_path):
    run, G, _ = models["run"]
    out = tmp_path / "many"
    rc, lines, err = _gen(capsys, "-g", run / "generator.keras", "--n", 5, "--seed", 1,
                          "--separate", "--npz", "--out", out)
    assert rc == 0 and err == []
    names = [f"sample_{i:04d}.png" for i in range(5)]
    assert lines == [str(out / n) for n in names] + [str(out / "samples.npz")]
    arrays = np.load(out / "samples.npz")
    assert sorted(arrays) == ["images"]
    images = arrays["images"]
    assert images.shape == (5, *SHAPE) and images.dtype == np.uint8
    for img, name in zip(images, names):
        np.testing.assert_array_equal(_png(out / name), img[..., 0])
    z, _ = draw_inputs(5, LATENT, "uniform:-1,1", 0, seed=1)
    expect = to_uint8(_g(G, z)).astype(int)
    assert np.abs(images.astype(int) - expect).max() <= 1
    assert images.min() < images.max()


def test_conditional_labels(models, capsys, tmp_path):
    cond, G, _ = models["cond"]
    rc, _, err = _gen(capsys, "-g", cond, "--n", 6, "--seed", 2, "--label", 2, "--npz",
                      "--out", tmp_path / "k.png")
    assert rc == 0 and err == []
    a = np.load(tmp_path / "k.npz")
    assert a["labels"].dtype == np.int32 and a["labels"].tolist() == [2] * 6
    assert a["images"].shape == (6, *SHAPE)
    z, y = draw_inputs(6, LATENT, "uniform:-1,1", CLASSES, seed=2, label=2)
    assert np.abs(a["images"].astype(int) - to_uint8(_g(G, z, y)).astype(int)).max() <= 1

    rc, _, _ = _gen(capsys, "-g", cond / "generator.keras", "--n", 7, "--seed", 2, "--npz",
                    "--out", tmp_path / "cyc")
    assert rc == 0
    assert np.load(tmp_path / "cyc" / "samples.npz")["labels"].tolist() == [0, 1, 2, 0, 1, 2, 0]
    # one class per column: 7 samples of 3 classes -> 3 rows x 3 columns
    assert _png(tmp_path / "cyc" / "grid.png").shape == (3 * 56 + 8, 3 * 56 + 8)


@pytest.mark.parametrize("which, label", [("run", None), ("cond", 1), ("acgan", 2)])
def test_nice_keeps_the_top_discriminator_scores(models, capsys, tmp_path, which, label):
    folder, G, D = models[which]
    n, nc = 4, (CLASSES if which != "run" else 0)
    extra = ["--label", label] if label is not None else []
    rc, _, err = _gen(capsys, "-g", folder / "generator.keras", "--n", n, "--seed", 5,
                      "--nice", "--npz", "--out", tmp_path / "nice.png", *extra)
    assert rc == 0 and err == []
    a = np.load(tmp_path / "nice.npz")
    z, y = draw_inputs(20 * n, LATENT, "uniform:-1,1", nc, seed=5, label=label)
    x = _g(G, z, y)
    if which == "acgan":  # ranked by the logit, D's first output; D takes no label
        logits = np.asarray(D(x, training=False)[0]).ravel()
    else:
        logits = np.asarray(D(x if y is None else [x, y], training=False)).ravel()
    top = np.argsort(-logits)[:n]
    np.testing.assert_allclose(a["scores"], logits[top], rtol=1e-4, atol=1e-6)
    assert np.all(np.diff(a["scores"]) <= 0)  # best first
    assert a["scores"].min() >= np.delete(logits, top).max()
    assert np.abs(a["images"].astype(int) - to_uint8(x[top]).astype(int)).max() <= 1
    if label is not None:
        assert a["labels"].tolist() == [label] * n


def test_pick_nice_keeps_the_class_mix_of_the_first_candidates():
    scores = np.array([5, 1, 9, 7, 3, 8, np.nan, 2, 4], np.float32)
    labels = np.arange(9) % 3
    np.testing.assert_array_equal(pick_nice(scores, None, 4), [2, 5, 3, 0])
    idx = pick_nice(scores, labels, 5)  # slots want classes 0 1 2 0 1
    np.testing.assert_array_equal(labels[idx], [0, 1, 2, 0, 1])
    np.testing.assert_array_equal(idx, [3, 4, 2, 0, 7])
    # labels drawn with frequencies: the slots keep the first n candidates' classes
    drawn = np.array([2, 2, 0, 2, 0, 0, 2, 1, 2])
    idx = pick_nice(scores, drawn, 4)
    np.testing.assert_array_equal(drawn[idx], [2, 2, 0, 2])
    np.testing.assert_array_equal(idx, [3, 0, 2, 8])  # class 2 by score: 7 5 4 1 nan; 0: 9


def test_truncation():
    rng = np.random.default_rng(0)
    z = draw_noise(rng, (2000, 8), "normal:1,2", truncate=0.5)
    assert np.abs(z - 1).max() <= 1.0 + 1e-6 and z.std() > 0.3
    u = draw_noise(np.random.default_rng(0), (2000, 8), "uniform:0,4", truncate=0.25)
    assert u.min() >= 1.5 - 1e-6 and u.max() <= 2.5 + 1e-6
    u1 = draw_noise(np.random.default_rng(0), (3, 2), "uniform:0,4", truncate=1.0)
    np.testing.assert_array_equal(u1, draw_noise(np.random.default_rng(0), (3, 2), "uniform:0,4"))


def test_values_generator(models, capsys, tmp_path):
    d = models["dist"][0]
    runs = []
    for out in ("v1", "v2"):
        rc, lines, err = _gen(capsys, "-g", d, "--n", 6, "--seed", 1, "--npz",
                              "--out", tmp_path / out)
        assert rc == 0 and err == []
        assert lines == [str(tmp_path / out / "histogram.png"),
                         str(tmp_path / out / "samples.npz")]
        assert _png(tmp_path / out / "histogram.png").ndim == 3
        runs.append(np.load(tmp_path / out / "samples.npz")["values"])
    assert runs[0].shape == (6, 10) and runs[0].dtype == np.float32
    np.testing.assert_array_equal(runs[0], runs[1])


def test_missing_sidecar_assumes_defaults_with_one_note(models, capsys, tmp_path):
    rc, lines, err = _gen(capsys, "-g", models["root"] / "bare", "--n", 2, "--seed", 0,
                          "--out", tmp_path / "b.png")
    assert rc == 0 and lines == [str(tmp_path / "b.png")]
    assert len(err) == 1 and "note" in err[0] and "uniform:-1,1" in err[0]
    assert "latent_dim 8" in err[0]


def _bad_files(root):
    bad = root / "bad"
    if bad.exists():
        return bad
    bad.mkdir()
    (bad / "empty").mkdir()
    (bad / "junk.h5").write_bytes(b"this is not a model\n" * 10)
    (bad / "notes.txt").write_text("hello")
    for ext in ("keras", "h5"):
        data = (root / "run" / f"generator.{ext}").read_bytes()
        (bad / f"cut.{ext}").write_bytes(data[: len(data) // 2])
    (bad / "lonely").mkdir()  # a discriminator with no sidecar, on its own
    shutil.copy(root / "run" / "discriminator.keras", bad / "lonely" / "d.keras")
    (bad / "latent").mkdir()
    shutil.copy(root / "run" / "generator.keras", bad / "latent" / "generator.keras")
    _sidecar(bad / "latent" / "generator.json", latent_dim=100)
    return bad


ERRORS = [
    (["-g", "{root}/nope.h5"], "weights file .*nope.h5 not found"),
    (["-g", "{bad}/empty"], "no generator.keras or generator.h5 in folder"),
    (["-g", "{bad}/notes.txt"], "expected a .keras or .h5 model file"),
    (["-g", "{bad}/junk.h5"], "cannot load .*junk.h5: not a readable Keras model"),
    (["-g", "{bad}/cut.keras"], "cannot load .*cut.keras: not a readable Keras model"),
    (["-g", "{bad}/cut.h5"], "cannot load .*cut.h5: not a readable Keras model"),
    (["-g", "{root}/run/discriminator.keras"], "is a discriminator, not a generator"),
    (["-g", "{bad}/lonely/d.keras"], "is a discriminator, not a generator"),
    (["-g", "{root}/acgan/discriminator.keras"], "is a discriminator, not a generator"),
    (["-g", "{root}/run", "--nice", "-d", "{root}/acgan/discriminator.keras"],
     "does not fit the generator: it classifies 3 classes, the generator takes no label"),
    (["-g", "{bad}/latent"], "generator.json says latent_dim 100 but the model takes 8"),
    (["-g", "{root}/run", "--label", "1"], "--label: generator.keras is not conditional"),
    (["-g", "{root}/cond", "--label", "3"], r"--label 3 is out of range: .* 3 classes \(0..2\)"),
    (["-g", "{root}/cond", "--label", "-1"], "--label -1 is out of range"),
    (["-g", "{root}/bare", "--nice"], "--nice needs the discriminator beside the generator"),
    (["-g", "{root}/run", "--n", "0"], "--n must be positive, got 0"),
    (["-g", "{root}/run", "--truncate", "2"], "--truncate with uniform noise"),
    (["-g", "{root}/run", "--separate", "--out", "{root}/x.png"], "give --out a folder"),
    (["-g", "{root}/dist", "--separate"], "--separate works on images"),
    (["-g", "{root}/dist", "--interpolate", "2"], "--interpolate works on images"),
    (["-g", "{root}/run", "--interpolate", "1"], "--interpolate needs at least 2 points"),
    (["-g", "{root}/run", "--interpolate", "3", "--frames", "0"], "--frames must be positive"),
    (["-g", "{root}/run", "--frames", "4"], "--frames is used only with --interpolate"),
    (["-g", "{root}/run", "--interpolate", "3", "--nice"], "--nice does not apply to"),
    (["-g", "{root}/run", "--interpolate", "3", "--separate"], "--separate does not apply"),
    (["-g", "{root}/run", "--out", "{root}/x.gif"], "a GIF is written only with --interpolate"),
    (["-g", "{root}/run", "--interpolate", "3", "--n", "0"], "--n must be positive"),
    (["-g", "{root}/cond", "--label", "cats"], r"--label cats: no such class; the classes "
                                               r"are: 0..2 \(unnamed\)"),
    (["-g", "{root}/cond", "--label", "1", "--labels", "uniform"], "not allowed with"),
]


@pytest.mark.parametrize("argv, message", ERRORS, ids=[m.split(" ")[0] + str(i)
                                                      for i, (_, m) in enumerate(ERRORS)])
def test_errors_are_one_line(models, capsys, argv, message):
    import re

    root = models["root"]
    bad = _bad_files(root)
    argv = [a.format(root=root, bad=bad) for a in argv]
    if "--out" not in argv:
        argv += ["--out", root / "err_out"]
    rc, lines, err = _gen(capsys, *argv, "--seed", 0)
    assert rc != 0 and lines == []
    assert len(err) == 1, err
    assert err[0].startswith("gancli generate: error: ") and "Traceback" not in err[0]
    assert re.search(message, err[0]), err[0]
    assert not (root / "err_out").exists()  # nothing written on error


def test_help_does_not_import_tensorflow():
    code = ("import sys; from gancli import cli\n"
            "try:\n    cli.main(['generate', '--help'])\nexcept SystemExit: pass\n"
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'\n"
            "assert 'keras' not in sys.modules, 'keras imported'\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
