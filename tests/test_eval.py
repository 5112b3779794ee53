"""gancli eval / train-classifier: metrics on known inputs, then the commands end to end
on 2,000 Fashion-MNIST images (Debian's dataset-fashion-mnist) with a 1-epoch classifier."""
import json
import math
import os

import numpy as np
import pytest

from helpers import run_cli

from gancli import cli, distmetrics, evaluation
from gancli.commands._runs import read_metrics
from gancli.data import images as image_data
from gancli.data import mnist_files
from gancli.evaluation import image_metrics as im

FASHION = image_data.FASHION_MNIST_DIR
needs_fashion = pytest.mark.skipif(not mnist_files.find_idx_images(FASHION),
                                   reason=f"Fashion-MNIST not installed in {FASHION}")


# ---------------------------------------------------------------------------- metrics

def test_classifier_score_extremes():
    onehot = np.eye(10)[np.arange(1000) % 10]
    assert im.classifier_score(onehot) == pytest.approx(10, rel=1e-6)
    assert im.classifier_score(np.tile(onehot[3], (100, 1))) == pytest.approx(1)
    assert im.classifier_score(np.full((100, 10), 0.1)) == pytest.approx(1)


def test_class_histogram_modes_entropy_confidence():
    probs = np.eye(4)[[0, 0, 0, 1, 1, 2, 0, 0, 0, 0] * 10] * 0.9 + 0.025
    hist = im.class_histogram(probs, 4)
    np.testing.assert_allclose(hist, [0.7, 0.2, 0.1, 0.0])
    assert im.modes_covered(hist) == 3 and im.modes_covered(hist, 0.15) == 2
    assert im.entropy(np.full(10, 0.1)) == pytest.approx(math.log(10))
    assert im.entropy([0, 1.0, 0]) == 0
    assert im.mean_confidence(probs) == pytest.approx(0.925)


def test_frechet_distance_closed_form():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4000, 16))
    shift = np.full(16, 0.5)
    assert im.frechet_distance(a, a) == pytest.approx(0, abs=1e-6)
    # same covariance, means apart by `shift`: exactly |shift|^2
    assert im.frechet_distance(a, a + shift) == pytest.approx(shift @ shift, rel=1e-6)
    b = rng.standard_normal((4000, 16)) + shift  # independent draws: sampling noise only
    assert im.frechet_distance(a, b) == pytest.approx(shift @ shift, abs=0.3)
    assert im.frechet_distance(a, 3 * b) > 10 * im.frechet_distance(a, b)


def test_precision_recall_identical_and_disjoint():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((600, 8))
    assert im.precision_recall(a, a, chunk=128) == (1.0, 1.0)
    assert im.precision_recall(a, a + 100, chunk=128) == (0.0, 0.0)
    # fakes collapsed onto a quarter of the reals: precise, poor recall
    p, r = im.precision_recall(a, a[a[:, 0] > 0.7].repeat(4, 0)[:600])
    assert p == 1.0 and r < 0.5


@pytest.fixture(scope="module")
def fashion():
    if not mnist_files.find_idx_images(FASHION):
        pytest.skip(f"Fashion-MNIST not installed in {FASHION}")
    x, y = mnist_files.load_idx_pair(os.path.join(FASHION, "train-images-idx3-ubyte.gz"))
    xt, yt = mnist_files.load_idx_pair(os.path.join(FASHION, "t10k-images-idx3-ubyte.gz"))
    return x[:2000, ..., None], y[:2000], xt[:2000, ..., None], yt[:2000]


def test_sliced_wasserstein_and_copies(fashion):
    x, _, xt, _ = fashion
    noise = np.random.default_rng(0).integers(0, 256, xt.shape).astype(np.uint8)
    same = im.sliced_wasserstein(xt[:1000], xt[1000:], patches_per_image=8)
    far = im.sliced_wasserstein(xt[:1000], noise[:1000], patches_per_image=8)
    assert len(same) == len(far) == 3  # 28x28, 14x14 and the 7x7 low-pass level
    assert np.mean(far) > 5 * np.mean(same)
    real_nn = im.nearest_distances(xt[:300], x)
    new = im.copy_stats(im.nearest_distances(xt[300:600], x), real_nn)
    copies = im.copy_stats(im.nearest_distances(x[:300], x), real_nn)
    assert 0.8 < new["copies_ratio"] < 1.25 and new["copies_fraction"] < 0.05
    assert copies["copies_ratio"] < 0.05 and copies["copies_fraction"] == 1.0


def test_eval_every_draws_labels_with_the_training_frequencies():
    from types import SimpleNamespace

    from gancli.evaluation.during import ImageTrainEval

    stub = SimpleNamespace(main_metric="swd", model=None)
    freqs = [0.7, 0.2, 0.1]
    y = ImageTrainEval(stub, 3000, "uniform:-1,1", 8, 3, seed=0, probs=freqs).labels
    np.testing.assert_allclose(np.bincount(y, minlength=3) / 3000, freqs, atol=0.03)
    assert ImageTrainEval(stub, 5, "uniform:-1,1", 8, 3, seed=0).labels.tolist() \
        == [0, 1, 2, 0, 1]  # without frequencies: in turn


def test_one_dimensional_w1_via_distmetrics():
    rng = np.random.default_rng(0)
    target = [(0.0, 1.0)]
    v = distmetrics.sample(target, 20000, rng)
    assert distmetrics.wasserstein1(v, target) < 0.03
    assert distmetrics.wasserstein1(v + 1.5, target) == pytest.approx(1.5, abs=0.03)
    metrics, reference = evaluation.evaluate_values(v + 1.5, "normal:0,1")
    assert metrics["mean_error"] == pytest.approx(1.5, abs=0.03)
    assert metrics["w1"] == pytest.approx(1.5, abs=0.03) and reference["w1"] < 0.05
    mix, _ = evaluation.evaluate_values(np.r_[v - 5, v + 5], "mixture:-5,1;5,1")
    assert mix["mass_0"] == pytest.approx(0.5, abs=0.01) and mix["w1"] < 0.05


# ---------------------------------------------------------------------------- commands

@pytest.fixture(scope="module")
def trained(fashion, tmp_path_factory):
    """A Keras-layout npz of 2,000 train + 1,000 test images and a 1-epoch classifier
    trained on it by `gancli train-classifier`, cached in a temporary GANCLI_CACHE."""
    x, y, xt, yt = fashion
    root = tmp_path_factory.mktemp("eval")
    data = root / "fashion-2000.npz"
    np.savez(data, x_train=x[..., 0], y_train=y, x_test=xt[:1000, ..., 0], y_test=yt[:1000])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANCLI_CACHE", str(root / "cache"))
        code = cli.main(["train-classifier", "--dataset", "fashion_mnist", "--data", str(data),
                         "--epochs", "1"])
        assert code == 0
        yield root, data, xt


def _eval_samples(capsys, root, data, name, images, *extra):
    path = root / name / "samples.npz"
    path.parent.mkdir()
    np.savez(path, images=images)
    code, out, err = run_cli(["eval", "--samples", path, "--dataset", "fashion_mnist",
                              "--data", data, *extra], capsys)
    assert code == 0, err
    assert "training the feature classifier" not in err  # train-classifier's cache is used
    with open(path.parent / "eval.json") as fh:
        return json.load(fh), out


@pytest.mark.slow
def test_train_classifier_then_eval_real_vs_noise(trained, capsys, monkeypatch):
    root, data, xt = trained
    monkeypatch.setenv("GANCLI_CACHE", str(root / "cache"))
    cached = os.listdir(root / "cache")
    assert any(f.startswith("classifier-") and f.endswith(".keras") for f in cached)

    real, out = _eval_samples(capsys, root, data, "real", xt[1000:2000])
    assert out.splitlines()[0].split() == ["metric", "generated", "real"]
    assert "eval.json: " in out
    noise = np.random.default_rng(0).uniform(-1, 1, (1000, 28, 28)).astype(np.float32)
    fake, _ = _eval_samples(capsys, root, data, "noise", noise)

    for report in (real, fake):
        assert report["kind"] == "images" and report["main_metric"] == "frechet_distance"
        assert report["n_generated"] == report["n_real"] == 1000
        assert report["heldout"].startswith("x_test of ")
        m, ref = report["metrics"], report["reference"]
        for key in ("classifier_score", "mean_confidence", "modes_covered", "class_entropy",
                    "frechet_distance", "precision", "recall", "swd", "nn_train",
                    "copies_ratio", "copies_fraction"):
            assert math.isfinite(m[key]), key
        for key in ("classifier_score", "mean_confidence", "accuracy", "nn_train"):
            assert math.isfinite(ref[key]), key
        assert len(m["class_histogram"]) == len(ref["class_histogram"]) == 10
        assert len(m["swd_levels"]) == 3
    r, f = real["metrics"], fake["metrics"]
    assert r["classifier_score"] > 3 and r["modes_covered"] >= 8
    assert r["classifier_score"] == pytest.approx(real["reference"]["classifier_score"],
                                                  rel=0.2)
    assert f["frechet_distance"] > 10 * r["frechet_distance"]
    assert f["swd"] > 5 * r["swd"] and f["recall"] < 0.1 < r["recall"]
    assert 0.7 < r["copies_ratio"] < 1.4 and f["copies_ratio"] > 1.5


@pytest.mark.slow
def test_eval_generator_file_and_run_values(trained, capsys, monkeypatch, tmp_path):
    import keras

    from gancli.models import dist as dist_models
    from gancli.models import images as image_models

    root, data, _ = trained
    monkeypatch.setenv("GANCLI_CACHE", str(root / "cache"))
    keras.utils.set_random_seed(0)
    run = tmp_path / "run"  # a run folder: real data from its config.yaml
    run.mkdir()
    (run / "config.yaml").write_text(f"{{dataset: fashion_mnist, data: '{data}', n_train: 0, "
                                     "channels: 0, image_size: 0}\n")
    g = image_models.build_generator("dcgan", 16, (28, 28, 1), num_classes=10)
    g.save(run / "generator.keras")
    side = {"kind": "images", "latent_dim": 16, "noise": "uniform:-1,1", "value_range": [-1, 1],
            "image_shape": [28, 28, 1], "num_classes": 10, "model": "generator"}
    (run / "generator.json").write_text(json.dumps(side))
    code, out, err = run_cli(["eval", run, "--n", 200], capsys)
    assert code == 0, err
    report = json.loads((run / "eval.json").read_text())
    assert report["n_generated"] == 200 and report["generator"].endswith("generator.keras")
    assert report["dataset"] == f"npz:{data}"

    # --blurred: the run's real training images down-and-up resized, scored beside
    # (never over) the run's eval.json; more blur reads worse
    blurred = {}
    for f in (4, 2):
        code, out, err = run_cli(["eval", run, "--blurred", f, "--n", 500], capsys)
        assert code == 0, err
        assert f"training images resized down {f}x and back up" in out
        blurred[f] = json.loads((run / f"eval-blurred{f}.json").read_text())
        assert blurred[f]["blurred"] == f and blurred[f]["n_generated"] == 500
        assert blurred[f]["generator"] is None
    assert json.loads((run / "eval.json").read_text()) == report
    fd = {f: b["metrics"]["frechet_distance"] for f, b in blurred.items()}
    assert fd[4] > fd[2] > blurred[2]["reference"]["frechet_distance"]
    assert blurred[4]["metrics"]["swd"] > blurred[2]["metrics"]["swd"]

    g1 = dist_models.build_generator("mlp", 8, 50, (16,), ("relu",), scale=(0.0, 5.0))
    g1.save(tmp_path / "v.h5")
    (tmp_path / "v.json").write_text(json.dumps({
        "kind": "values", "latent_dim": 8, "noise": "normal:0,1", "target": "mixture:-5,1;5,1",
        "vector_len": 50, "value_range": None, "num_classes": 0, "model": "generator"}))
    code, out, err = run_cli(["eval", tmp_path / "v.h5", "--n", 1000,
                              "--out", tmp_path / "values"], capsys)
    assert code == 0, err
    assert "mass of component 1" in out
    report = json.loads((tmp_path / "values" / "eval.json").read_text())
    assert report["kind"] == "values" and report["n_generated"] == 1000
    assert {"w1", "ks", "mean_error", "std_error", "mass_0", "mass_1"} <= set(report["metrics"])
    assert report["reference"]["w1"] < report["metrics"]["w1"]
    code, _, err = run_cli(["eval", tmp_path / "v.h5", "--blurred", 2], capsys)
    assert code == 2 and "1-D values" in err and err.count("\n") == 1


@needs_fashion
def test_eval_errors_are_one_line(capsys, tmp_path):
    def fails(*argv):
        code, out, err = run_cli(["eval", *argv], capsys)
        assert code == 2 and err.count("\n") == 1 and err.startswith("gancli eval: error:")
        return err

    assert "does not exist" in fails("--samples", tmp_path / "nope.npz")
    assert "not found" in fails(tmp_path / "nope.keras")
    np.savez(tmp_path / "bad.npz", x=np.zeros(3))
    assert "no 'images' or 'values'" in fails("--samples", tmp_path / "bad.npz")
    np.savez(tmp_path / "big.npz", images=np.zeros((20, 32, 32), np.uint8))
    err = fails("--samples", tmp_path / "big.npz", "--dataset", "fashion_mnist")
    assert "32x32x1" in err and "28x28x1" in err and "--image_size 32" in err
    np.savez(tmp_path / "range.npz", images=np.full((20, 28, 28), 3.0))
    assert "[-1, 1]" in fails("--samples", tmp_path / "range.npz")
    assert "exactly one" in fails("--samples", tmp_path / "bad.npz", tmp_path / "g.keras")
    assert "factor of 2 or more" in fails("--blurred", "1")
    assert "no --samples" in fails("--blurred", "2", "--samples", tmp_path / "bad.npz")


# ---------------------------------------------------------------------------- --eval_every

def _best_matches_metrics(run, main):
    rows = [r for r in read_metrics(run / "metrics.csv")[1] if main in r]
    best = json.loads((run / "best" / "generator.json").read_text())
    assert best["metric"] == main
    top = min(rows, key=lambda r: r[main])
    assert best["step"] == top["step"] and best["value"] == pytest.approx(top[main], rel=1e-4)
    return rows, best


@pytest.mark.slow
def test_train_mnist_eval_every_adds_metrics_and_keeps_best(trained, capsys, monkeypatch,
                                                            tmp_path):
    import keras

    root, data, _ = trained
    monkeypatch.setenv("GANCLI_CACHE", str(root / "cache"))
    out = tmp_path / "run"
    code, stdout, err = run_cli(["train-mnist", "--dataset", "fashion_mnist", "--data",
                                 data, "--n_train", 256, "--batch_size", 32, "--steps", 6,
                                 "--sample_every", 3, "--eval_every", 2, "--eval_samples", 200,
                                 "--seed", 3, "--quiet", "--out", out], capsys)
    assert code == 0, err
    assert "training the feature classifier" not in err  # the cached classifier is used
    rows, best = _best_matches_metrics(out, "frechet_distance")
    assert [int(r["step"]) for r in rows] == [2, 4, 6]  # eval steps get rows of their own
    for r in rows:
        for key in ("classifier_score", "precision", "recall", "modes_covered", "swd",
                    "eval_s"):
            assert math.isfinite(r[key]) and r["eval_s"] > 0, key
    log = (out / "log.txt").read_text()
    assert log.count("eval at step") == 3 and "saved to best/" in log
    g = keras.models.load_model(out / "best" / "generator.keras")
    assert g.output_shape == (None, 28, 28, 1)
    code, _, err = run_cli(["generate", "--weights", out / "best", "--n", 4, "--out",
                            tmp_path / "g.png"], capsys)
    assert code == 0, err


@pytest.mark.slow
def test_train_dist_eval_every_and_resume_keeps_best(capsys, tmp_path):
    out = tmp_path / "run"
    argv = ["train-dist", "--steps", 400, "--sample_every", 100, "--eval_every", 200,
            "--seed", 2, "--quiet", "--out", out]
    code, _, err = run_cli(argv, capsys)
    assert code == 0, err
    code, _, err = run_cli(["train-dist", "--resume", out, "--steps", 800], capsys)
    assert code == 0, err
    _, rows = read_metrics(out / "metrics.csv")
    assert [int(r["step"]) for r in rows] == [100, 200, 300, 400, 500, 600, 700, 800]
    evals = [r for r in rows if "mean_error" in r]
    assert [int(r["step"]) for r in evals] == [200, 400, 600, 800]
    # the best generator is judged across the resume: by the W1 of every evaluation
    best = json.loads((out / "best" / "generator.json").read_text())
    log = (out / "log.txt").read_text()
    w1_at = {int(line.split()[3].rstrip(":")): float(line.split()[5])
             for line in log.splitlines() if line.startswith("eval at step")}
    assert sorted(w1_at) == [200, 400, 600, 800]
    assert best["metric"] == "w1" and best["step"] == min(w1_at, key=w1_at.get)
