"""Checkpoints and --resume: the run continues exactly where it stopped."""
import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from helpers import assert_one_line_error, main

from gancli.errors import CheckpointError
from gancli.training import checkpoint

PREFIX = "gancli train-dist: error:"
TINY = ["--sample_every", "10", "--checkpoint_every", "10", "--keep_checkpoints", "3",
        "--eval_samples", "200", "--vector_len", "8", "--latent_dim", "8",
        "--g_hidden", "16,16", "--d_hidden", "16,16", "--seed", "11", "--quiet"]
TIMING = ("_per_s", "elapsed_s")
# columns computed from the weights alone (the loss columns are interval averages,
# whose last float32 bits depend on how the interval was split into compiled calls)
FROM_WEIGHTS = ("fake_mean", "fake_std", "w1", "ks", "real_mean", "real_std")


def rows(run):
    with open(Path(run, "metrics.csv"), newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def npz(path):
    with np.load(path) as z:
        return {k: z[k] for k in z.files if k != "__meta__"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A: 60 steps straight. B: 30 steps, then --resume to 60. C: B's state at 30."""
    root = tmp_path_factory.mktemp("resume")
    a, b, c = root / "A", root / "B", root / "C"
    assert main(["train-dist", "--out", str(a), "--steps", "60", *TINY])[0] == 0
    assert main(["train-dist", "--out", str(b), "--steps", "30", *TINY])[0] == 0
    shutil.copytree(b, c)
    assert main(["train-dist", "--resume", str(b), "--steps", "60", "--quiet"])[0] == 0
    return a, b, c


@pytest.mark.slow
def test_resume_metrics_continue_without_duplicates(runs):
    a, b, c = runs
    first = rows(c)
    assert [int(r["step"]) for r in first] == [10, 20, 30]
    got = rows(b)
    assert [int(r["step"]) for r in got] == [10, 20, 30, 40, 50, 60]
    assert got[:3] == first  # the rows written before the resume are kept as they were


@pytest.mark.slow
def test_resume_continues_the_step_count(runs):
    import yaml

    a, b, c = runs
    log = (b / "log.txt").read_text(encoding="utf-8")
    assert "resumed from checkpoints/ckpt-00000030.npz at step 30" in log
    assert yaml.safe_load((b / "config.yaml").read_text(encoding="utf-8"))["steps"] == 60
    assert checkpoint.read_meta(b / "checkpoints" / "ckpt-00000060.npz")["step"] == 60
    import json

    assert json.loads((b / "generator.json").read_text(encoding="utf-8"))["step"] == 60


@pytest.mark.slow
def test_resumed_final_generator_equals_straight_run(runs):
    import keras

    a, b, c = runs
    for name in ("generator.keras", "generator.h5"):
        wa = keras.models.load_model(a / name, compile=False).get_weights()
        wb = keras.models.load_model(b / name, compile=False).get_weights()
        assert len(wa) == len(wb) > 0
        for x, y in zip(wa, wb):
            assert x.dtype == y.dtype and x.shape == y.shape
            assert x.tobytes() == y.tobytes(), f"{name}: max |diff| {np.abs(x - y).max()}"


@pytest.mark.slow
def test_resumed_full_state_equals_straight_run(runs):
    a, b, c = runs
    sa = npz(a / "checkpoints" / "ckpt-00000060.npz")
    sb = npz(b / "checkpoints" / "ckpt-00000060.npz")
    assert sa.keys() == sb.keys()
    groups = {k.split("/")[0] for k in sa}
    assert {"G", "D", "g_opt", "d_opt", "step", "rng"} <= groups
    diff = [k for k in sa if sa[k].tobytes() != sb[k].tobytes()]
    assert diff == []


@pytest.mark.slow
def test_resumed_metrics_equal_straight_run(runs):
    a, b, c = runs
    ra, rb = rows(a), rows(b)
    assert [r["step"] for r in ra] == [r["step"] for r in rb]
    for x, y in zip(ra, rb):
        assert {k: x[k] for k in FROM_WEIGHTS} == {k: y[k] for k in FROM_WEIGHTS}, x["step"]
        for k in ("d_loss", "g_loss", "d_real", "d_fake"):
            assert float(x[k]) == pytest.approx(float(y[k]), rel=1e-4, abs=1e-6), (x["step"], k)


@pytest.mark.slow
def test_damaged_newest_checkpoint_falls_back_to_previous(runs, tmp_path):
    a, b, c = runs
    d = tmp_path / "D"
    shutil.copytree(c, d)
    newest = d / "checkpoints" / "ckpt-00000030.npz"
    size = newest.stat().st_size
    with open(newest, "r+b") as fh:
        fh.truncate(size // 2)
    code, err = main(["train-dist", "--resume", str(d), "--steps", "40", "--quiet"])
    assert code == 0
    log = (d / "log.txt").read_text(encoding="utf-8")
    assert "resumed from checkpoints/ckpt-00000020.npz at step 20" in log
    assert [int(r["step"]) for r in rows(d)] == [10, 20, 30, 40]  # row 30 redone, not doubled
    # and it continued exactly: step 40 is the straight run's step 40
    sa = npz(a / "checkpoints" / "ckpt-00000040.npz")
    sd = npz(d / "checkpoints" / "ckpt-00000040.npz")
    assert [k for k in sa if sa[k].tobytes() != sd[k].tobytes()] == []


@pytest.mark.slow
def test_resume_of_a_finished_run_with_same_steps_changes_nothing(runs, tmp_path, capsys):
    a, b, c = runs
    d = tmp_path / "D"
    shutil.copytree(c, d)
    before = npz(d / "checkpoints" / "ckpt-00000030.npz")
    code, err = main(["train-dist", "--resume", str(d), "--quiet"], capsys)
    assert code == 0, err
    assert [int(r["step"]) for r in rows(d)] == [10, 20, 30]
    after = npz(d / "checkpoints" / "ckpt-00000030.npz")
    assert [k for k in before if before[k].tobytes() != after[k].tobytes()] == []


# --- --resume errors ----------------------------------------------------------------------

def test_resume_on_a_folder_with_no_run(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, err = main(["train-dist", "--resume", str(empty)], capsys)
    assert_one_line_error(code, err, "no gancli run", prefix=PREFIX)
    assert list(empty.iterdir()) == []
    code, err = main(["train-dist", "--resume", str(tmp_path / "missing")], capsys)
    assert_one_line_error(code, err, "missing", prefix=PREFIX)
    assert not (tmp_path / "missing").exists()


def test_resume_on_a_run_without_checkpoints(tmp_path, capsys):
    out = tmp_path / "run"
    code, err = main(["train-dist", "--out", str(out), "--steps", "0", *TINY], capsys)
    assert code == 0, err
    code, err = main(["train-dist", "--resume", str(out), "--steps", "10"], capsys)
    assert_one_line_error(code, err, "checkpoint", prefix=PREFIX)


@pytest.mark.slow
def test_resume_with_preset_or_config_is_refused(runs, tmp_path, capsys):
    a, b, c = runs
    code, err = main(["train-dist", "--resume", str(c), "--preset", "mixture"], capsys)
    assert_one_line_error(code, err, "--resume", prefix=PREFIX)
    code, err = main(["train-dist", "--resume", str(c), "--out", str(tmp_path / "x")], capsys)
    assert_one_line_error(code, err, "--resume", prefix=PREFIX)


@pytest.mark.parametrize("change", ["rename", "drop"])
def test_resume_names_a_variable_the_checkpoint_lacks(runs, tmp_path, capsys, change):
    """Variables are restored by path: a renamed or missing one is named in one line,
    and nothing is trained or written."""
    a, b, c = runs
    run = tmp_path / "run"
    shutil.copytree(c, run)
    ckpt = run / "checkpoints" / "ckpt-00000030.npz"
    with np.load(ckpt) as z:
        arrays = {k: z[k] for k in z.files}
    kernel = arrays.pop("D/dense2/kernel")
    if change == "rename":
        arrays["D/dense9/kernel"] = kernel
    np.savez(ckpt, **arrays)
    before = (run / "metrics.csv").read_bytes()
    code, err = main(["train-dist", "--resume", str(run), "--steps", "60", "--quiet"], capsys)
    assert_one_line_error(code, err, "does not match", "missing from the checkpoint: "
                          "D/dense2/kernel", prefix=PREFIX)
    assert ("not in this model: D/dense9/kernel" in err) == (change == "rename")
    assert (run / "metrics.csv").read_bytes() == before


# --- the checkpoint module on its own -----------------------------------------------------

class Var:
    def __init__(self, value, path):
        self.value, self.path = np.asarray(value), path
        self.shape = self.value.shape

    def numpy(self):
        return self.value

    def assign(self, v):
        self.value = np.array(v)


def groups(scale=1.0):
    return {"G": [Var(np.arange(6.0).reshape(2, 3) * scale, "g/k"), Var([scale], "g/b")],
            "step": [Var(np.int64(5), "step")]}


def test_save_prunes_to_keep_and_latest_skips_damage(tmp_path):
    for step in (10, 20, 30, 40, 50):
        checkpoint.save(groups(step), str(tmp_path), step, {"elapsed": 1.0}, keep=2)
    assert [s for s, _ in checkpoint.list_checkpoints(str(tmp_path))] == [40, 50]
    assert checkpoint.latest(str(tmp_path)).endswith("ckpt-00000050.npz")
    Path(checkpoint.path_for(str(tmp_path), 50)).write_bytes(b"PK\x03\x04 not really")
    assert checkpoint.latest(str(tmp_path)).endswith("ckpt-00000040.npz")
    Path(checkpoint.path_for(str(tmp_path), 40)).write_bytes(b"")
    assert checkpoint.latest(str(tmp_path)) is None
    assert checkpoint.latest(str(tmp_path / "nowhere")) is None


def test_restore_round_trip_and_mismatch_named(tmp_path):
    path = checkpoint.save(groups(3.0), str(tmp_path), 7, {"elapsed": 2.5})
    target = groups(0.0)
    meta = checkpoint.restore(target, path)
    assert meta["step"] == 7 and meta["elapsed"] == 2.5
    np.testing.assert_array_equal(target["G"][0].value, np.arange(6.0).reshape(2, 3) * 3)
    other = {"G": [Var(np.zeros((3, 2)), "g/k"), Var([0.0], "g/b")],
             "step": [Var(np.int64(0), "step")]}
    with pytest.raises(CheckpointError, match=r"does not match this model: G/0 is \[2, 3\] "
                                              r"there, \[3, 2\] here"):
        checkpoint.restore(other, path)
    # nothing was half-assigned
    np.testing.assert_array_equal(other["G"][1].value, [0.0])
    fewer = {"G": [Var(np.zeros((2, 3)), "g/k")], "step": [Var(np.int64(0), "step")]}
    with pytest.raises(CheckpointError, match="not in this model: G/1$"):
        checkpoint.restore(fewer, path)
    Path(path).write_bytes(Path(path).read_bytes()[:40])
    with pytest.raises(CheckpointError, match="unreadable"):
        checkpoint.restore(groups(), path)
