"""gancli plot: run folders written by hand (no TensorFlow), plus one tiny train-dist run
for the two plots that load the saved models."""
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from helpers import run_cli

from gancli import cli, plotting
from gancli.commands import _runs

BASE = "step,epoch,d_loss,g_loss,d_real,d_fake"
DIST_COLS = "real_mean,real_std,fake_mean,fake_std,w1,ks,mass_0,mass_1"


def _metrics(path, n, *, images, extra=True, torn=False):
    """metrics.csv as the runner writes it ('\\r\\n' rows); eval columns every 2nd row."""
    rng = np.random.default_rng(0)
    if images:
        header = f"{BASE},images_per_s,steps_per_s,elapsed_s" + \
            (",classifier_score,frechet_distance" if extra else "")
    else:
        header = f"{BASE},values_per_s,steps_per_s,elapsed_s" + (f",{DIST_COLS}" if extra else "")
    lines = [header]
    for i in range(1, n + 1):
        base = [i * 100, i / 10 if images else "", 1.3 + 0.1 * rng.standard_normal(),
                0.8 + 0.1 * rng.standard_normal(), 0.6 + 0.05 * rng.standard_normal(),
                0.4 + 0.05 * rng.standard_normal(), 1000.0, 10.0, i * 1.5]
        if not extra:
            more = []
        elif images:
            more = [1 + 8 * (1 - np.exp(-i / 5)), 300 * np.exp(-i / 5)] if i % 2 == 0 else ["", ""]
        else:
            more = [4.0, 1.25, 4 - 3 * np.exp(-i / 4), 1.25 - np.exp(-i / 4),
                    3 * np.exp(-i / 4) + 0.05, 0.9 * np.exp(-i / 6) + 0.02, 0.5 + 0.1 / i,
                    0.5 - 0.1 / i]
        lines.append(",".join(f"{v:.6g}" if isinstance(v, float) else str(v)
                              for v in base + more))
    text = "\r\n".join(lines) + "\r\n"
    if torn:  # a row cut in the middle by a reader racing the writer
        text += "99999,,0.5,0.7,0.5"
    with open(path, "w", newline="") as fh:
        fh.write(text)


def _png(path, h, w, seed):
    img = np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)
    Image.fromarray(img).save(path)


def make_image_run(root, n=30, **kw):
    os.makedirs(os.path.join(root, "samples"))
    _metrics(os.path.join(root, "metrics.csv"), n, images=True, **kw)
    with open(os.path.join(root, "config.yaml"), "w") as fh:
        fh.write("preset: dcgan\nloss: bce\ndataset: mnist\nlatent_dim: 100\n")
    for step in (500, 1000):
        _png(os.path.join(root, "samples", f"step_{step:06d}.png"), 122, 122, step)
    _png(os.path.join(root, "samples", "reals.png"), 122, 122, 1)
    return str(root)


def make_dist_run(root, n=30, **kw):
    """An interrupted train-dist run: metrics and config, no generator files."""
    os.makedirs(os.path.join(root, "samples"))
    _metrics(os.path.join(root, "metrics.csv"), n, images=False, **kw)
    with open(os.path.join(root, "config.yaml"), "w") as fh:
        fh.write("preset: mixture\nloss: bce\ntarget: mixture:0,1;5,2\nvector_len: 1\n")
    return str(root)


def _check_png(path, min_w=300, min_h=200):
    assert os.path.isfile(path), path
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        w, h = im.size
        pixels = np.asarray(im.convert("L"))
    assert w >= min_w and h >= min_h, (path, im.size)
    assert os.path.getsize(path) > 5000, path
    assert pixels.std() > 5, f"{path} looks blank"


def _plot(capsys, *argv):
    rc, out, err = run_cli(["plot", *argv], capsys)
    return rc, out.splitlines(), err


def test_finished_image_run(tmp_path, capsys):
    run = make_image_run(tmp_path / "img")
    rc, lines, err = _plot(capsys, run)
    assert rc == 0, err
    names = ["losses.png", "d_outputs.png", "metrics.png", "samples.png"]
    assert lines == [os.path.join(run, "plots", n) for n in names]
    for p in lines:
        _check_png(p)


@pytest.mark.slow
def test_partial_dist_run_skips_model_plots_without_tensorflow(tmp_path):
    run = make_dist_run(tmp_path / "dist", torn=True)
    code = ("import sys\nfrom gancli import cli\n"
            f"rc = cli.main(['plot', {run!r}])\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
            "sys.exit(rc)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines == [os.path.join(run, "plots", n)
                     for n in ("losses.png", "d_outputs.png", "metrics.png")]
    assert "no generator.keras" in res.stderr and "density.png" in res.stderr
    for p in lines:
        _check_png(p)


@pytest.mark.slow
def test_unreadable_generator_skips_its_plots_with_a_note(tmp_path, capsys):
    run = make_dist_run(tmp_path / "dist")
    with open(os.path.join(run, "generator.h5"), "wb") as fh:
        fh.write(b"not an HDF5 file")
    rc, lines, err = _plot(capsys, run)
    assert rc == 0, err
    assert lines == [os.path.join(run, "plots", n)
                     for n in ("losses.png", "d_outputs.png", "metrics.png")]
    assert "cannot load" in err and "generator.h5" in err
    assert "skipping the plots that need it" in err


@pytest.mark.slow
def test_train_dist_run_density_and_discriminator(tmp_path, capsys):
    out = str(tmp_path / "r")
    assert cli.main(["train-dist", "--steps", "20", "--sample_every", "10",
                     "--checkpoint_every", "10", "--vector_len", "8", "--latent_dim", "8",
                     "--eval_samples", "200", "--out", out, "--quiet", "--seed", "1"]) == 0
    capsys.readouterr()
    rc, lines, err = _plot(capsys, out, "--smooth", "0.5")
    assert rc == 0, err
    names = ["losses.png", "d_outputs.png", "metrics.png", "density.png", "discriminator.png"]
    assert lines == [os.path.join(out, "plots", n) for n in names]
    for p in lines:
        _check_png(p)


def test_still_training_run(tmp_path, capsys):
    """Header-only metrics.csv (first report not written yet) but a sample grid."""
    run = make_image_run(tmp_path / "young", n=0)
    rc, lines, err = _plot(capsys, run)
    assert rc == 0
    assert lines == [os.path.join(run, "plots", "samples.png")]
    assert "no rows yet" in err


@pytest.mark.slow
def test_two_runs_compared_with_labels(tmp_path, capsys, monkeypatch):
    a = make_dist_run(tmp_path / "a")
    b = make_dist_run(tmp_path / "b", n=12)
    seen = []
    real = plotting.compare_runs

    def spy(path, panels, **kw):
        seen.append((os.path.basename(path), [[r[0] for r in p["runs"]] for p in panels]))
        real(path, panels, **kw)

    monkeypatch.setattr(plotting, "compare_runs", spy)
    cmp = str(tmp_path / "cmp")
    rc, lines, err = _plot(capsys, a, b, "--label", "baseline", "--label", "wide D",
                           "--out", cmp, "--smooth", "0")
    assert rc == 0, err
    compare = [p for p in lines if p.startswith(cmp)]
    expected = ["losses", "fake_mean", "fake_std", "w1", "ks", "mass_0", "mass_1"]
    assert compare == [os.path.join(cmp, f"compare_{n}.png") for n in expected]
    assert len(lines) == len(compare) + 6  # 3 own charts per run
    for p in compare[:2]:
        _check_png(p)
    for _, panel_labels in seen:
        assert all(labels == ["baseline", "wide D"] for labels in panel_labels)


def test_metrics_chart_titles_the_columns_training_writes(tmp_path, capsys, monkeypatch):
    """--eval_every's columns (evaluation/during.py) get their named, read-this-way panels."""
    from gancli.commands import plot
    from gancli.evaluation.during import ImageTrainEval

    written = [*ImageTrainEval.LABELED, "swd", "copies_fraction", "eval_s"]
    assert set(plot.KNOWN) <= set(written) | {"w1", "ks"}  # no key that no column matches
    run = make_image_run(tmp_path / "img", extra=False)
    with open(os.path.join(run, "metrics.csv"), "w", newline="") as fh:
        fh.write(",".join([BASE, "images_per_s,steps_per_s,elapsed_s", *written]) + "\n")
        for i in range(1, 6):
            fh.write(",".join(str(v) for v in [i * 100, i / 10, 1.3, 0.8, 0.6, 0.4, 1000, 10,
                                               i * 1.5] + [1.0 / i] * len(written)) + "\n")
    seen = {}
    real = plotting.metric_panels

    def spy(path, panels, **kw):
        seen.update((p["lines"][0][0], p["title"]) for p in panels)
        real(path, panels, **kw)

    monkeypatch.setattr(plotting, "metric_panels", spy)
    rc, lines, err = _plot(capsys, run)
    assert rc == 0, err
    _check_png(os.path.join(run, "plots", "metrics.png"))
    assert set(seen) == set(ImageTrainEval.LABELED) | {"swd", "copies_fraction"}
    assert seen["frechet_distance"].startswith("Fréchet distance")
    assert seen["modes_covered"].startswith("classes with >= 5 % of samples")
    for c in ImageTrainEval.LABELED:
        assert seen[c] == "{}\n({})".format(*plot.KNOWN[c]), c


def test_not_a_run_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    for target in (tmp_path / "empty", tmp_path / "missing"):
        rc, lines, err = _plot(capsys, str(target))
        assert rc == 2 and lines == []
        assert err.startswith("gancli plot: error: ") and err.count("\n") == 1
        assert "metrics.csv" in err or "not a folder" in err


def test_bad_flags(tmp_path, capsys):
    run = make_image_run(tmp_path / "img", n=4)
    assert _plot(capsys, run, "--label", "x", "--label", "y")[0] == 2
    assert _plot(capsys, run, "--smooth", "1")[0] == 2


def test_nothing_to_plot(tmp_path, capsys):
    run = tmp_path / "new"
    run.mkdir()
    (run / "metrics.csv").write_text("step,epoch,d_loss\r\n")
    rc, lines, err = _plot(capsys, str(run))
    assert rc == 1 and lines == [] and "nothing to plot" in err


def test_read_metrics_tolerates_torn_and_empty_cells(tmp_path):
    p = tmp_path / "metrics.csv"
    p.write_text("step,d_loss,fid\r\n100,1.5,\r\n200,1.4,12\r\n300,1.3,nan\r\n400,1.")
    header, rows = _runs.read_metrics(str(p))
    assert header == ["step", "d_loss", "fid"]
    assert rows == [{"step": 100, "d_loss": 1.5}, {"step": 200, "d_loss": 1.4, "fid": 12},
                    {"step": 300, "d_loss": 1.3}]


def test_ema_kde_bandwidth():
    assert np.allclose(plotting.ema([3, 3, 3], 0.9), 3)  # debiased: no warm-up toward 0
    assert np.allclose(plotting.ema([1, 2, 3], 0.0), [1, 2, 3])
    x = np.random.default_rng(0).normal(2.0, 0.5, 4000)
    h = plotting.silverman_bandwidth(x)
    assert h == pytest.approx(0.9 * 0.5 * 4000 ** -0.2, rel=0.1)
    grid = np.linspace(-2, 6, 2001)
    dens = plotting.gaussian_kde(x, grid)
    assert np.trapezoid(dens, grid) == pytest.approx(1.0, abs=1e-3)
    true = np.exp(-0.5 * ((grid - 2.0) / 0.5) ** 2) / (0.5 * np.sqrt(2 * np.pi))
    assert np.abs(dens - true).max() < 0.1 * true.max()
    assert plotting.silverman_bandwidth(np.full(10, 3.0)) > 0  # a collapsed generator
