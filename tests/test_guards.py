"""Runs that survive bad numbers and a full disk: --on_nan stop|skip, the collapse
warning, and a checkpoint write that fails with ENOSPC."""
import csv
import errno
import os
import re
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import main

from gancli.data.dist import DistSource
from gancli.losses import make_loss
from gancli.training import checkpoint, guards
from gancli.training.trainer import GANTrainer

pytestmark = pytest.mark.slow  # each test trains until a guard fires

TINY = ["--vector_len", "8", "--latent_dim", "8", "--g_hidden", "16,16", "--d_hidden",
        "16,16", "--eval_samples", "200", "--seed", "5", "--quiet"]
NAN_EVERY = 17  # under the `nan_batches` fixture every 17th real batch is all NaN
# D without ReLU for the NaN tests: oneDNN's ReLU turns NaN into 0, so a NaN batch gives a
# finite loss with NaN gradients (the weight check catches that; here we want the loss)
NAN_D = ["--d_activation", "tanh"]


def rows(out):
    with open(Path(out, "metrics.csv"), newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def npz(path):
    with np.load(path) as z:
        return {k: z[k] for k in z.files if k != "__meta__"}


def ckpt_steps(out):
    return [s for s, _ in checkpoint.list_checkpoints(str(Path(out, "checkpoints")))]


@pytest.fixture
def nan_batches(monkeypatch):
    """Every NAN_EVERY-th real batch (so D step) is all NaN, counted in the graph."""
    original, calls = DistSource.sample, tf.Variable(0)

    def sample(self, rng, n):
        x, y = original(self, rng, n)
        bad = calls.assign_add(1) % NAN_EVERY == 0
        return tf.where(bad, tf.fill(tf.shape(x), float("nan")), x), y

    monkeypatch.setattr(DistSource, "sample", sample)


# --- the guarded update on its own ---------------------------------------------------------

class Source:
    """N(0, 1) vectors, all NaN while `nan` is set (a variable: compiled calls see it)."""

    num_classes, variables = 0, []

    def __init__(self):
        self.nan = tf.Variable(False)

    class_cdf = None  # uniform fake labels

    def sample(self, rng, n):
        x = rng.normal([n, 3])
        return tf.where(self.nan, x * float("nan"), x), None


def trainer(on_nan):
    keras.utils.set_random_seed(0)
    layers = keras.layers
    G = keras.Sequential([keras.Input((4,)), layers.Dense(8), layers.BatchNormalization(),
                          layers.Activation("relu"), layers.Dense(3)])
    D = keras.Sequential([keras.Input((3,)), layers.Dense(8), layers.BatchNormalization(),
                          layers.Dropout(0.5), layers.Activation("relu"), layers.Dense(1)])
    return GANTrainer(G, D, make_loss("bce"), keras.optimizers.Adam(1e-2),
                      keras.optimizers.Adam(1e-2), Source(), batch_size=8, latent_dim=4,
                      noise=("uniform", -1.0, 1.0), seed=1, on_nan=on_nan)


def state(tr):
    return [v.numpy().tobytes() for v in
            tr.D.variables + tr.G.variables + tr.d_opt.variables + tr.g_opt.variables]


def test_skipped_d_step_leaves_weights_statistics_and_optimizer_untouched():
    tr = trainer("skip")
    tr.source.nan.assign(True)
    before = state(tr)
    out = tf.function(tr._d_step)().numpy()
    assert np.isnan(out[0]) and out[3] == 1.0  # reported, and counted as skipped
    assert state(tr) == before  # BatchNorm stats, dropout RNG, Adam moments, iterations
    tr.source.nan.assign(False)
    out = tf.function(tr._d_step)().numpy()
    assert np.isfinite(out[0]) and out[3] == 0.0
    assert int(tr.d_opt.iterations.numpy()) == 1


def test_chunk_counts_skips_and_stop_ends_the_chunk_at_the_bad_step():
    tr = trainer("skip")
    tr.source.nan.assign(True)
    stats = tr.train(3)
    assert tr.last_chunk == {"steps": 3, "skipped": (3, 0)}
    assert np.isnan(stats["d_loss"]) and np.isfinite(stats["g_loss"])
    tr = trainer("stop")
    tr.train(2)
    tr.source.nan.assign(True)
    stats = tr.train(5)
    assert tr.last_chunk["steps"] == 1 and int(tr.step.numpy()) == 3  # step 3 diverged
    assert np.isnan(stats["d_loss"])


# --- --on_nan through the CLI --------------------------------------------------------------

def test_on_nan_stop_exits_3_naming_step_and_loss_and_keeps_good_checkpoints(
        tmp_path, capsys, nan_batches):
    out = tmp_path / "run"
    code, err = main(["train-dist", "--out", out, "--steps", "200", "--sample_every", "5",
                      "--checkpoint_every", "5", *NAN_D, *TINY], capsys)
    assert code == 3, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"gancli train-dist: error: training diverged at step "
                               f"{NAN_EVERY}: d_loss is nan")
    assert ckpt_steps(out) == [5, 10, 15]
    assert lines[0].endswith(f"the last good checkpoint is kept: {out}/checkpoints/"
                             "ckpt-00000015.npz")
    for _, path in checkpoint.list_checkpoints(str(out / "checkpoints")):
        assert all(np.isfinite(a).all() for a in npz(path).values() if a.dtype.kind == "f")
    assert "training diverged at step" in (out / "log.txt").read_text()
    assert not (out / "generator.keras").exists()  # no export of a broken model


def test_on_nan_skip_finishes_with_finite_weights_and_counts_skips(tmp_path, capsys,
                                                                     nan_batches):
    out = tmp_path / "run"
    code, err = main(["train-dist", "--out", out, "--steps", "60", "--sample_every", "20",
                      "--checkpoint_every", "60", "--on_nan", "skip", *NAN_D, *TINY], capsys)
    assert code == 0, err
    got = rows(out)
    assert [int(r["step"]) for r in got] == [20, 40, 60]
    skipped = sum(int(r["skipped"]) for r in got)
    assert [int(r["skipped"]) for r in got] == [1, 1, 1]  # D steps 17, 34 and 51
    assert all(np.isfinite(float(r["d_loss"])) for r in got)  # skipped steps left out
    assert "skipped" in (out / "log.txt").read_text()
    state = npz(out / "checkpoints" / "ckpt-00000060.npz")
    assert all(np.isfinite(a).all() for a in state.values() if a.dtype.kind == "f")
    # a skipped update leaves the optimizer alone: D's Adam counted only the others
    assert int(state["d_opt/iteration"]) == 60 - skipped
    G = keras.models.load_model(out / "generator.keras", compile=False)
    assert all(np.isfinite(w).all() for w in G.get_weights())


def test_on_nan_skip_gives_up_when_no_update_can_be_applied(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(guards, "SKIP_LIMIT", 30)
    out = tmp_path / "run"
    code, err = main(["train-dist", "--out", out, "--steps", "400", "--sample_every", "10",
                      "--checkpoint_every", "10", "--d_lr", "1e30", "--on_nan", "skip",
                      *TINY], capsys)
    assert code == 3, err
    # D's first step blows its weights up; then neither net's loss is finite (which one
    # reaches the limit first depends on op order: XLA or not)
    assert re.search(r"no (discriminator|generator) update could be applied for", err), err
    assert len(err.strip().splitlines()) == 1 and max(ckpt_steps(out)) < 400


# --- collapse warning ----------------------------------------------------------------------

def test_collapse_warning_once_per_episode(tmp_path, capsys):
    out = tmp_path / "run"
    # G never learns, D learns fast: D(fake) drops below 0.01 and stays there
    code, err = main(["train-dist", "--out", out, "--steps", "100", "--sample_every", "10",
                      "--checkpoint_every", "100", "--g_lr", "0", "--d_lr", "0.02",
                      "--collapse_window", "40", *TINY], capsys)
    assert code == 0, err
    warnings = [ln for ln in err.splitlines() if ln.strip()]
    assert len(warnings) == 1, err
    assert warnings[0].startswith("gancli train-dist: warning: D(fake) has stayed below 0.01")
    log = (out / "log.txt").read_text()
    assert log.count("warning: D(fake) has stayed below 0.01") == 1


def test_collapse_warning_follows_smoothed_labels(tmp_path, capsys):
    """With seed 001's smoothing (real 0.9, fake 0.1) a D that wins settles at D(fake)
    ~0.1, never below 0.01: the bounds follow the labels, 0.1 + 0.01 = 0.11."""
    out = tmp_path / "run"
    code, err = main(["train-dist", "--out", out, "--steps", "100", "--sample_every", "10",
                      "--checkpoint_every", "100", "--g_lr", "0", "--d_lr", "0.02",
                      "--real_label", "0.9", "--fake_label", "0.1", "--collapse_window", "40",
                      *TINY], capsys)
    assert code == 0, err
    assert min(float(r["d_fake"]) for r in rows(out)) > 0.05  # smoothed: never near 0
    warnings = [ln for ln in err.splitlines() if ln.strip()]
    assert len(warnings) == 1, err
    assert warnings[0].startswith("gancli train-dist: warning: D(fake) has stayed below 0.11 ")
    assert guards.collapse_bounds() == (0.01, 0.99)
    assert guards.collapse_bounds(0.9, 0.1) == pytest.approx((0.11, 0.89))


class _Loss:
    probability = True


def test_collapse_episodes_rearm_and_wgan_is_not_judged():
    got = []
    watch = guards.Watch(type("Cfg", (), {"on_nan": "stop", "collapse_window": 100}),
                         type("T", (), {"loss": _Loss, "n_critic": 1, "n_gen": 1}),
                         "/nonexistent", print, got.append)
    watch._weights_finite = dict  # no nets here: nothing to check
    step = 0
    for d_fake in [0.5, 0.001, 0.002, 0.003, 0.004, 0.001, 0.5, 0.999, 0.995, 0.5,
                   0.005, 0.005, 0.005]:
        step += 40
        watch.after_chunk({"d_fake": d_fake}, step, 40, (0, 0))
    assert len(got) == 2, got
    assert "below 0.01 for 120 steps (steps 40-160" in got[0]
    assert "below" in got[1] and "(steps 400-520" in got[1]  # 0.999 x2 = 80 steps: no warning

    class Wgan(_Loss):
        probability = False
    watch = guards.Watch(type("Cfg", (), {"on_nan": "stop", "collapse_window": 10}),
                         type("T", (), {"loss": Wgan, "n_critic": 1, "n_gen": 1}),
                         "/nonexistent", print, got.append)
    assert watch.window == 0


# --- a full disk while checkpointing -------------------------------------------------------

def test_full_disk_during_checkpoint_keeps_the_previous_one_and_resumes(tmp_path, capsys,
                                                                       monkeypatch):
    out = tmp_path / "run"
    real_write, calls = checkpoint._write_npz, []

    def full_on_third(path, arrays):
        calls.append(path)
        if len(calls) == 3:
            with open(path, "wb") as fh:  # half a file, then the disk is full
                fh.write(b"PK\x03\x04" + b"\0" * 100)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        real_write(path, arrays)

    monkeypatch.setattr(checkpoint, "_write_npz", full_on_third)
    code, err = main(["train-dist", "--out", out, "--steps", "40", "--sample_every", "10",
                      "--checkpoint_every", "10", *TINY], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0] == (
        "gancli train-dist: error: cannot write the checkpoint for step 30: No space left on "
        f"device; the previous checkpoint {out}/checkpoints/ckpt-00000020.npz is kept; make "
        f"room, then resume with: gancli train-dist --resume {out}")
    assert sorted(os.listdir(out / "checkpoints")) == ["ckpt-00000010.npz",
                                                       "ckpt-00000020.npz"]  # no temp left
    monkeypatch.setattr(checkpoint, "_write_npz", real_write)
    code, err = main(["train-dist", "--resume", out, "--quiet"], capsys)
    assert code == 0, err
    assert "resumed from checkpoints/ckpt-00000020.npz at step 20" in (out / "log.txt").read_text()
    assert [int(r["step"]) for r in rows(out)] == [10, 20, 30, 40]
    assert ckpt_steps(out)[-1] == 40 and (out / "generator.keras").exists()


def test_full_disk_elsewhere_is_one_line_too(tmp_path, capsys, monkeypatch):
    from gancli import rundir

    def full(self, row):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "metrics.csv"))

    monkeypatch.setattr(rundir.MetricsLog, "append", full)
    code, err = main(["train-dist", "--out", tmp_path / "run", "--steps", "10",
                      "--sample_every", "5", *TINY], capsys)
    assert code == 2 and "Traceback" not in err, err
    assert err.strip().splitlines() == [
        f"gancli train-dist: error: No space left on device writing {tmp_path}/metrics.csv; "
        "files written before are intact"]
