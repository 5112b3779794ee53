"""A short `train-dist` run through cli.main: the files it writes, that they load
without gancli, run-folder safety and --seed reproducibility."""
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from helpers import assert_one_line_error, main, read_csv

from gancli import cli

PREFIX = "gancli train-dist: error:"
TINY = ["--steps", "40", "--sample_every", "10", "--checkpoint_every", "10",
        "--keep_checkpoints", "2", "--eval_samples", "200", "--vector_len", "8",
        "--latent_dim", "8", "--g_hidden", "16,16", "--d_hidden", "16,16", "--quiet"]
TIMING = ("_per_s", "elapsed_s")


def train(out, *extra):
    code = cli.main(["train-dist", "--out", str(out), *TINY, *extra])
    assert code == 0
    return Path(out)


def tree_state(folder):
    """relative path -> (bytes, mtime_ns) of every file below folder."""
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            p = os.path.join(root, name)
            out[os.path.relpath(p, folder)] = (Path(p).read_bytes(), os.stat(p).st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return train(tmp_path_factory.mktemp("dist") / "run", "--seed", "7")


@pytest.mark.slow
def test_config_yaml_written(run):
    import yaml

    cfg = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
    assert cfg["seed"] == 7 and cfg["steps"] == 40 and cfg["vector_len"] == 8
    assert cfg["preset"] == "seed-normal"


@pytest.mark.slow
def test_metrics_csv_one_row_per_sample_every(run):
    header, rows = read_csv(run / "metrics.csv")
    assert header[:6] == ["step", "epoch", "d_loss", "g_loss", "d_real", "d_fake"]
    for col in ("w1", "ks", "fake_mean", "fake_std", "real_mean", "real_std",
                "values_per_s", "steps_per_s", "elapsed_s"):
        assert col in header
    assert [int(r["step"]) for r in rows] == [10, 20, 30, 40]
    for r in rows:
        for col in ("d_loss", "g_loss", "d_real", "d_fake", "w1", "ks", "fake_mean",
                    "fake_std", "steps_per_s"):
            assert math.isfinite(float(r[col])), (col, r[col])
        assert 0 <= float(r["d_real"]) <= 1 and 0 <= float(r["d_fake"]) <= 1  # bce: D(x)
        assert 0 <= float(r["ks"]) <= 1 and float(r["w1"]) >= 0
        # the reporter's real draws are of the target N(4, 1.25)
        assert abs(float(r["real_mean"]) - 4) < 0.3 and abs(float(r["real_std"]) - 1.25) < 0.3
    assert float(rows[-1]["elapsed_s"]) >= float(rows[0]["elapsed_s"])


@pytest.mark.slow
def test_log_has_a_line_per_report(run):
    lines = (run / "log.txt").read_text(encoding="utf-8").splitlines()
    step_lines = [ln for ln in lines if ln.startswith("step ")]
    assert len(step_lines) == 4
    assert "W1" in step_lines[-1] and "KS" in step_lines[-1] and "d_loss" in step_lines[-1]


@pytest.mark.slow
def test_histograms_are_valid_pngs(run):
    pngs = sorted((run / "samples").glob("hist_*.png"))
    steps = {int(m.group(1)) for p in pngs
             for m in [re.fullmatch(r"hist_(\d+)\.png", p.name)] if m}
    assert {10, 20, 30, 40} <= steps
    for p in pngs:
        with Image.open(p) as im:
            im.verify()
        with Image.open(p) as im:
            assert im.format == "PNG" and im.size[0] > 100 and im.size[1] > 100


@pytest.mark.slow
def test_checkpoints_pruned_to_keep(run):
    ckpts = sorted(p.name for p in (run / "checkpoints").glob("ckpt-*.npz"))
    assert ckpts == ["ckpt-00000030.npz", "ckpt-00000040.npz"]
    assert not list((run / "checkpoints").glob("*.tmp*"))


@pytest.mark.slow
def test_model_files_and_sidecars(run):
    for name in ("generator.h5", "generator.keras", "generator.json",
                 "discriminator.h5", "discriminator.keras", "discriminator.json"):
        assert (run / name).is_file() and (run / name).stat().st_size > 0, name
    assert not [p.name for p in run.iterdir() if ".tmp" in p.name]
    meta = json.loads((run / "generator.json").read_text(encoding="utf-8"))
    assert meta["kind"] == "values"
    assert meta["latent_dim"] == 8
    assert meta["noise"] == "uniform:0,1"
    assert meta["target"] == "normal:4,1.25"
    assert meta["num_classes"] == 0
    assert meta["preset"] == "seed-normal"
    assert meta["step"] == 40
    assert set(meta["versions"]) >= {"gancli", "tensorflow", "keras"}
    import keras
    import tensorflow as tf

    assert meta["versions"]["keras"] == keras.__version__
    assert meta["versions"]["tensorflow"] == tf.__version__


LOADER = r"""
import json, os, sys
sys.modules["gancli"] = None          # any `import gancli...` now fails
import numpy as np
import keras
run = sys.argv[1]
meta = json.load(open(os.path.join(run, "generator.json")))
z = np.random.default_rng(0).uniform(0, 1, (5, meta["latent_dim"])).astype("float32")
outs = {}
for name in ("generator.h5", "generator.keras"):
    m = keras.models.load_model(os.path.join(run, name), compile=False)
    outs[name] = np.asarray(m.predict(z, verbose=0)).tolist()
try:
    import gancli  # noqa: F401
    outs["gancli_importable"] = True
except ImportError:
    outs["gancli_importable"] = False
print("RESULT " + json.dumps(outs))
"""


@pytest.mark.slow
def test_generator_loads_without_gancli(run):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([sys.executable, "-c", LOADER, str(run)], capture_output=True,
                          text=True, env=env, cwd=str(run), timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    outs = json.loads(line[len("RESULT "):])
    assert outs.pop("gancli_importable") is False
    import numpy as np

    h5, ks = np.array(outs["generator.h5"]), np.array(outs["generator.keras"])
    assert h5.shape == (5, 8) and np.all(np.isfinite(h5))
    np.testing.assert_allclose(h5, ks, rtol=1e-6, atol=1e-6)
    assert np.std(h5) > 0  # values, not a constant


@pytest.mark.slow
def test_discriminator_loads_with_gancli_layers(run):
    import keras
    import numpy as np

    import gancli.models.layers  # noqa: F401  (registers Decorate / SortValues)

    x = np.random.default_rng(0).normal(4, 1.25, (3, 8)).astype("float32")
    outs = []
    for name in ("discriminator.h5", "discriminator.keras"):
        m = keras.models.load_model(run / name, compile=False)
        y = np.asarray(m.predict(x, verbose=0))
        assert y.shape == (3, 1) and np.all(np.isfinite(y))
        outs.append(y)
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-6, atol=1e-6)


# --- the run folder is never clobbered ------------------------------------------------------

@pytest.mark.slow
def test_existing_run_without_resume_or_overwrite_is_refused(run, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    before = tree_state(copy)
    code, err = main(["train-dist", "--out", str(copy), *TINY], capsys)
    assert_one_line_error(code, err, "--resume", "--overwrite", prefix=PREFIX)
    assert tree_state(copy) == before


def test_existing_nonempty_non_run_folder_is_refused_too(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("precious", encoding="utf-8")
    code, err = main(["train-dist", "--out", str(out), *TINY], capsys)
    assert_one_line_error(code, err, str(out), prefix=PREFIX)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_overwrite_of_a_folder_that_is_not_a_run_is_refused(tmp_path, capsys):
    out = tmp_path / "mine"
    (out / "sub").mkdir(parents=True)
    (out / "notes.txt").write_text("precious", encoding="utf-8")
    (out / "sub" / "data.bin").write_bytes(b"\x00\x01")
    before = tree_state(out)
    code, err = main(["train-dist", "--out", str(out), "--overwrite", *TINY], capsys)
    assert_one_line_error(code, err, "not a gancli run", prefix=PREFIX)
    assert tree_state(out) == before


@pytest.mark.slow
def test_overwrite_replaces_a_gancli_run(run, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    (copy / "stale.txt").write_text("old", encoding="utf-8")
    code, err = main(["train-dist", "--out", str(copy), "--overwrite", "--steps", "0",
                      "--vector_len", "8", "--latent_dim", "8", "--quiet"], capsys)
    assert code == 0, err
    assert not (copy / "stale.txt").exists()
    assert not list((copy / "checkpoints").glob("*.npz"))
    assert not (copy / "generator.h5").exists()
    assert (copy / "config.yaml").is_file()


def test_output_path_that_is_a_file_is_one_line(tmp_path, capsys):
    f = tmp_path / "afile"
    f.write_text("keep me", encoding="utf-8")
    code, err = main(["train-dist", "--out", str(f), *TINY], capsys)
    assert_one_line_error(code, err, "afile", prefix=PREFIX)
    assert f.read_text(encoding="utf-8") == "keep me"


def test_output_below_a_file_is_one_line(tmp_path, capsys):
    f = tmp_path / "afile"
    f.write_text("keep me", encoding="utf-8")
    code, err = main(["train-dist", "--out", str(f / "run"), *TINY], capsys)
    assert_one_line_error(code, err, "afile", prefix=PREFIX)
    assert f.read_text(encoding="utf-8") == "keep me"


# --- --seed --------------------------------------------------------------------------------

@pytest.mark.slow
def test_same_seed_gives_identical_metrics(run, tmp_path):
    again = train(tmp_path / "again", "--seed", "7")
    h1, rows1 = read_csv(run / "metrics.csv")
    h2, rows2 = read_csv(again / "metrics.csv")
    assert h1 == h2
    keep = [c for c in h1 if not c.endswith(TIMING)]
    assert "d_loss" in keep and "w1" in keep
    assert len(rows1) == len(rows2) == 4
    for a, b in zip(rows1, rows2):
        assert {c: a[c] for c in keep} == {c: b[c] for c in keep}


@pytest.mark.slow
def test_reuse_fake_flag_is_recorded_and_changes_the_run(run, tmp_path):
    """train-dist's presets draw fresh noise for the G step (reuse_fake off, as the
    seeds did); --reuse_fake shares the D step's fake batch, is recorded, and changes
    the trajectory."""
    import yaml

    shared = train(tmp_path / "shared", "--seed", "7", "--reuse_fake")
    assert yaml.safe_load((run / "config.yaml").read_text())["reuse_fake"] is False
    assert yaml.safe_load((shared / "config.yaml").read_text())["reuse_fake"] is True
    _, fresh_rows = read_csv(run / "metrics.csv")
    _, shared_rows = read_csv(shared / "metrics.csv")
    assert len(shared_rows) == len(fresh_rows) == 4
    assert [r["g_loss"] for r in shared_rows] != [r["g_loss"] for r in fresh_rows]
    assert all(math.isfinite(float(r["g_loss"])) for r in shared_rows)
