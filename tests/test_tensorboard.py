"""TensorBoard event files in RUN/tb, read back with TensorBoard's own loader: the
scalars equal metrics.csv, grids and histograms at every report, config.yaml as
text, --no-tensorboard, and a resume that leaves one point per step."""
import io
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import main, read_csv
from test_train_dist import TINY as DIST_TINY
from test_train_mnist import TINY as MNIST_TINY
from test_train_mnist import digits, write_idx_folder

from gancli.training.tensorboard import tag


def events(run, purge=True):
    """TensorBoard's loader on RUN/tb (every point kept; `purge`: drop what a later
    session's START event orphans, as TensorBoard does)."""
    from tensorboard.backend.event_processing import plugin_event_accumulator as pea

    acc = pea.EventAccumulator(str(Path(run, "tb")), size_guidance={pea.TENSORS: 0},
                               purge_orphaned_data=purge)
    acc.Reload()
    return acc


def series(acc, name):
    """[(step, value)] of a scalar tag."""
    import tensorflow as tf

    return [(e.step, float(tf.make_ndarray(e.tensor_proto))) for e in acc.Tensors(name)]


def assert_scalars_match_csv(run, acc):
    """Every numeric metrics.csv cell is its tag's point at the row's step (the CSV
    keeps 6 significant digits), and no tag has a point the CSV lacks."""
    header, rows = read_csv(Path(run, "metrics.csv"))
    for col in header[1:]:
        cells = [(int(r["step"]), float(r[col])) for r in rows if r[col] != ""]
        want = [(s, v) for s, v in cells if math.isfinite(v)]
        if not want:
            continue
        got = series(acc, tag(col))
        assert [s for s, _ in got] == [s for s, _ in want], col
        np.testing.assert_allclose([v for _, v in got], [v for _, v in want], rtol=2e-5,
                                   atol=1e-30, err_msg=col)


def text(acc, name):
    import tensorflow as tf

    return [tf.make_ndarray(e.tensor_proto).item().decode() for e in acc.Tensors(name)]


@pytest.fixture(scope="module")
def dist_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tb") / "dist"
    code, err = main(["train-dist", "--out", out, *DIST_TINY, "--seed", "3",
                      "--eval_every", "20"])
    assert code == 0, err
    return out


@pytest.mark.slow
def test_dist_scalars_histograms_and_config(dist_run):
    acc = events(dist_run)
    tags = set(acc.Tags()["tensors"])
    for t in ("loss/d", "loss/g", "D/real", "D/fake", "speed/steps_per_s",
              "speed/values_per_s", "progress/elapsed_s", "quality/w1", "quality/ks",
              "quality/mean_error", "values/fake_mean"):  # the documented names
        assert t in tags, t
    assert_scalars_match_csv(dist_run, acc)
    steps = [0, 10, 20, 30, 40]  # the untrained baseline, then every report
    for name in ("values/real", "values/generated", "values/input"):
        assert [e.step for e in acc.Tensors(name)] == steps, name
        assert acc.SummaryMetadata(name).plugin_data.plugin_name == "histograms"
    (cfg,) = text(acc, "config")
    assert Path(dist_run, "config.yaml").read_text(encoding="utf-8").strip() in cfg
    assert cfg.startswith("```yaml\n")
    assert "_hparams_/session_start_info" in tags


@pytest.mark.slow
def test_resume_leaves_one_point_per_step(dist_run, tmp_path):
    """The newest checkpoint lost: --resume restarts at step 30 and rewrites metrics.csv
    from there; the old session's points after 30 are orphaned, not shown twice."""
    import shutil

    run = tmp_path / "dist"
    shutil.copytree(dist_run, run)
    Path(run, "checkpoints", "ckpt-00000040.npz").unlink()
    code, err = main(["train-dist", "--resume", run, "--quiet"])
    assert code == 0, err
    assert len(list(Path(run, "tb").glob("events.out.tfevents.*"))) == 2
    stale = series(events(run, purge=False), "loss/d")
    assert [s for s, _ in stale] == [10, 20, 30, 40, 40]  # what a naive reader shows
    acc = events(run)
    assert [s for s, _ in series(acc, "loss/d")] == [10, 20, 30, 40]
    assert_scalars_match_csv(run, acc)  # the resumed run's values at step 40


@pytest.mark.slow
def test_mnist_grid_image_at_every_report(tmp_path):
    data = write_idx_folder(tmp_path / "idx", *digits(64))
    run = tmp_path / "m"
    code, err = main(["train-mnist", "--out", run, *MNIST_TINY, "--steps", "4",
                      "--seed", "2", "--data", data])
    assert code == 0, err
    acc = events(run)
    assert_scalars_match_csv(run, acc)
    assert "progress/epoch" in acc.Tags()["tensors"]
    grids = acc.Tensors("samples/fixed_noise")
    assert [e.step for e in grids] == [0, 2, 4]
    for e in grids:
        width, height, png = e.tensor_proto.string_val
        with Image.open(Path(run, "samples", f"step_{e.step:06d}.png")) as im:
            on_disk = np.asarray(im)
        assert (int(width), int(height)) == (on_disk.shape[1], on_disk.shape[0])
        with Image.open(io.BytesIO(png)) as im:  # the same pixels as the PNG file
            np.testing.assert_array_equal(np.asarray(im).reshape(on_disk.shape), on_disk)


@pytest.mark.slow
def test_no_tensorboard_writes_no_folder(tmp_path):
    run = tmp_path / "off"
    code, err = main(["train-dist", "--out", run, *DIST_TINY, "--steps", "10",
                      "--no-tensorboard"])
    assert code == 0, err
    assert Path(run, "metrics.csv").exists() and not Path(run, "tb").exists()
