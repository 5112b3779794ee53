"""generate and eval on a tiny trained run of an imbalanced folder (3 classes, 70/20/10 %):
generator.json's class names and frequencies, labels drawn with them (or --label NAME|K,
--labels uniform; in turn for older sidecars), and latent walks (--interpolate)."""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from helpers import main, run_cli

from gancli.sampling import to_uint8

pytestmark = pytest.mark.slow  # every test shares a trained run (~5-10 s to make)

CLASSES = {"cats": 42, "dogs": 12, "people-body": 6}  # 70 / 20 / 10 % of 60 images
NAMES = list(CLASSES)
FREQS = [0.7, 0.2, 0.1]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 2-step conditional run on 60 coloured 16x16 squares, trained at 8x8."""
    root = tmp_path_factory.mktemp("imbalanced")
    rng = np.random.default_rng(0)
    for c, (name, count) in enumerate(CLASSES.items()):
        (root / "data" / name).mkdir(parents=True)
        for i in range(count):
            a = np.full((16, 16, 3), 255, np.uint8)
            y, x = rng.integers(0, 8, 2)
            a[y:y + 8, x:x + 8, c] = 40
            Image.fromarray(a).save(root / "data" / name / f"{i}.png")
    code, err = main(["train-mnist", "--dataset", "folder", "--data", root / "data",
                      "--out", root / "run", "--steps", "2", "--batch_size", "8", "--quiet",
                      "--image_size", "8", "--latent_dim", "8", "--grid_size", "4",
                      "--seed", "0", "--preset", "cdcgan"])  # MNIST's small pair: 8x8 works
    assert code == 0, err
    return root / "run"


def _gen(capsys, *argv):
    code, out, err = run_cli(["generate", *argv], capsys)
    assert code == 0, err
    return out.split()


def _labels(capsys, weights, tmp_path, *argv, n=3000):
    out = tmp_path / f"s{len(os.listdir(tmp_path))}"
    _gen(capsys, "-g", weights, "--n", n, "--seed", 1, "--npz", "--out", out, *argv)
    return np.load(out / "samples.npz")["labels"]


# --------------------------------------------------------------------- labels

def test_generator_json_keeps_class_names_and_training_frequencies(run):
    meta = json.loads((run / "generator.json").read_text())
    assert meta["class_names"] == NAMES
    np.testing.assert_allclose(meta["class_frequencies"], FREQS, rtol=1e-12)
    assert sum(meta["class_frequencies"]) == pytest.approx(1.0, abs=1e-12)


def test_generate_draws_labels_as_the_data_has_them(run, capsys, tmp_path):
    y = _labels(capsys, run, tmp_path)
    np.testing.assert_allclose(np.bincount(y, minlength=3) / len(y), FREQS, atol=0.03)
    assert not np.array_equal(y[:9], np.arange(9) % 3)  # drawn, not in turn
    np.testing.assert_array_equal(_labels(capsys, run, tmp_path), y)  # same seed, same

    assert _labels(capsys, run, tmp_path, "--labels", "uniform", n=7).tolist() \
        == [0, 1, 2, 0, 1, 2, 0]
    assert set(_labels(capsys, run, tmp_path, "--label", "people-body", n=5)) == {2}
    assert set(_labels(capsys, run, tmp_path, "--label", "1", n=5)) == {1}

    # --nice keeps the drawn class mix (slot i: candidate i's class), best first per class
    out = tmp_path / "nice"
    _gen(capsys, "-g", run, "--n", 300, "--seed", 2, "--nice", "--npz", "--out", out)
    a = np.load(out / "samples.npz")
    np.testing.assert_allclose(np.bincount(a["labels"], minlength=3) / 300, FREQS, atol=0.07)
    for c in range(3):
        s = a["scores"][a["labels"] == c]
        assert len(s) and np.all(np.diff(s) <= 0)


def test_unknown_class_name_is_one_line_listing_the_names(run, capsys, tmp_path):
    code, out, err = run_cli(["generate", "-g", run, "--label", "people", "--out",
                              tmp_path / "x"], capsys)
    assert code == 2 and out == "" and not (tmp_path / "x").exists()
    assert err.strip() == ("gancli generate: error: --label people: no such class; the "
                           "classes are: cats, dogs, people-body")


def test_older_generator_json_keeps_classes_in_turn(run, capsys, tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    shutil.copy(run / "generator.keras", old / "generator.keras")
    meta = json.loads((run / "generator.json").read_text())
    for key in ("class_names", "class_frequencies"):
        del meta[key]
    (old / "generator.json").write_text(json.dumps(meta))
    assert _labels(capsys, old, tmp_path, n=7).tolist() == [0, 1, 2, 0, 1, 2, 0]
    assert set(_labels(capsys, old, tmp_path, "--label", "2", n=4)) == {2}


def test_eval_draws_labels_as_the_data_has_them(run, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("GANCLI_CACHE", str(tmp_path / "cache"))
    report = {}
    for mode in ("data", "uniform"):
        out = tmp_path / mode
        code, stdout, err = run_cli(["eval", run, "--n", 600, "--labels", mode, "--out", out,
                                     "--classifier_epochs", 1], capsys)
        assert code == 0, err
        report[mode] = json.loads((out / "eval.json").read_text())
        assert f"labels given: {report[mode]['labels']}" in stdout
    assert report["data"]["labels"] == "training frequencies"
    np.testing.assert_allclose(report["data"]["label_fractions"], FREQS, atol=0.04)
    assert report["uniform"]["labels"] == "in turn"
    np.testing.assert_allclose(report["uniform"]["label_fractions"], [1 / 3] * 3, atol=1e-9)


# --------------------------------------------------------------------- walks

def _gif_frames(path):
    with Image.open(path) as im:
        assert im.info.get("loop") == 0  # loops forever
        frames = []
        for i in range(im.n_frames):
            im.seek(i)
            frames.append(np.asarray(im.convert("RGB")))
    return frames


def test_walk_writes_a_looping_gif_and_a_strip_per_class(run, capsys, tmp_path):
    import keras

    out = tmp_path / "walk"
    paths = _gen(capsys, "-g", run, "--interpolate", 3, "--frames", 4, "--seed", 7,
                 "--npz", "--out", out)
    assert paths == [str(out / f"walk.{ext}") for ext in ("gif", "png", "npz")]
    a = np.load(out / "walk.npz")
    frames, points, labels = a["frames"], a["points"], a["labels"]
    assert frames.shape == (3 * 4, 3, 8, 8, 3) and frames.dtype == np.uint8
    assert labels.tolist() == [0, 1, 2]  # one row per class ...
    assert points.shape == (3, 3, 8)
    np.testing.assert_array_equal(points[0], points[1])  # ... sharing the walk's noise
    np.testing.assert_array_equal(points[0], points[2])
    assert points.min() >= -1 and points.max() <= 1  # uniform:-1,1 noise: lerp

    # frame 4k is G at point k, exactly the drawn noise
    G = keras.models.load_model(run / "generator.keras", compile=False)
    for k in range(3):
        want = to_uint8(np.asarray(G([points[:, k], labels], training=False)))
        assert np.abs(frames[4 * k].astype(int) - want.astype(int)).max() <= 1
    assert len({f.tobytes() for f in frames}) > 3  # it moves between the points

    gif = _gif_frames(out / "walk.gif")
    assert len(gif) == 12
    assert gif[0].shape == (16 + 2 * 2, 3 * 16 + 4 * 2, 3)  # 8x8 tiles at 2x, a class each
    strip = np.asarray(Image.open(out / "walk.png"))
    assert strip.shape == (3 * 16 + 4 * 2, 9 * 16 + 10 * 2, 3)  # 3 rows, 2 x 4 steps + 1
    tile = lambda img, r, c: img[2 + 18 * r:18 + 18 * r:2, 2 + 18 * c:18 + 18 * c:2]  # noqa: E731
    for r in range(3):
        assert np.abs(tile(strip, r, 0).astype(int) - frames[0, r]).max() <= 1
        assert np.abs(tile(strip, r, 4).astype(int) - frames[4, r]).max() <= 1
        assert np.abs(tile(strip, r, 8).astype(int) - frames[8, r]).max() <= 1


def test_walk_same_seed_same_files(run, capsys, tmp_path):
    made = {}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        _gen(capsys, "-g", run, "--interpolate", 4, "--seed", seed, "--out", tmp_path / name)
        made[name] = [(tmp_path / name / f).read_bytes() for f in ("walk.gif", "walk.png")]
    assert made["a"] == made["b"]
    assert made["a"][0] != made["c"][0] and made["a"][1] != made["c"][1]
    assert len(_gif_frames(tmp_path / "a" / "walk.gif")) == 4 * 16  # default --frames 16
    strip = np.asarray(Image.open(tmp_path / "a" / "walk.png"))
    assert strip.shape[1] == (3 * 8 + 1) * 18 + 2  # the strip: 8 steps per segment


def test_walk_in_one_class_with_out_png(run, capsys, tmp_path):
    paths = _gen(capsys, "-g", run, "--interpolate", 2, "--frames", 3, "--label", "dogs",
                 "--n", 2, "--seed", 1, "--npz", "--out", tmp_path / "dogs.png")
    assert paths == [str(tmp_path / "dogs.gif"), str(tmp_path / "dogs.png"),
                     str(tmp_path / "dogs.npz")]
    a = np.load(tmp_path / "dogs.npz")
    assert a["labels"].tolist() == [1, 1] and a["frames"].shape == (6, 2, 8, 8, 3)
    assert not np.array_equal(a["points"][0], a["points"][1])  # two walks of their own
    assert np.asarray(Image.open(tmp_path / "dogs.png")).shape[:2] == (2 * 18 + 2,
                                                                       4 * 18 + 2)
