"""`gancli train-mnist` end to end through cli.main on tiny data made here: the files a
run writes, the presets, --epochs/--steps/--max_minutes, exact resume, the seed's
flags, `generate` on the result, folder datasets and one-line errors."""
import gzip
import json
import math
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import assert_one_line_error, main, read_csv

PREFIX = "gancli train-mnist: error:"
N = 128  # training images in the IDX folder
TINY = ["--batch_size", "16", "--latent_dim", "16", "--grid_size", "16",
        "--sample_every", "2", "--checkpoint_every", "4", "--quiet"]
# a safety net for runs whose step count is under test: a wrong count ends in
# seconds instead of running tens of thousands of steps
SAFETY = ["--max_minutes", "0.25"]


# ------------------------------------------------------------------------ helpers


def train(out, *extra, data=None, capsys=None):
    argv = ["train-mnist", "--out", out, *TINY, *extra]
    if data is not None:
        argv += ["--data", data]
    code, err = main(argv, capsys)
    assert code == 0, err
    return Path(out)


def steps_of(run):
    return [int(r["step"]) for r in read_csv(Path(run, "metrics.csv"))[1]]


def sidecar(run, name="generator"):
    return json.loads(Path(run, f"{name}.json").read_text(encoding="utf-8"))


def config(run):
    import yaml

    return yaml.safe_load(Path(run, "config.yaml").read_text(encoding="utf-8"))


def pixels(path):
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def idx_bytes(array, magic=None):
    array = np.asarray(array, np.uint8)
    magic = 0x00000800 | array.ndim if magic is None else magic
    return (struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
            + array.tobytes())


def write_idx_folder(folder, x, y=None):
    os.makedirs(folder, exist_ok=True)
    Path(folder, "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(x)))
    if y is not None:
        Path(folder, "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(y)))
    return Path(folder)


def digits(n, seed=0):
    """n 28x28 uint8 images (a bright bar whose position is the label) and labels 0..9."""
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 10).astype(np.uint8)
    x = rng.integers(0, 40, (n, 28, 28), dtype=np.uint8)
    for i, k in enumerate(y):
        x[i, 4:24, 2 + 2 * k:4 + 2 * k] = 255
    return x, y


def ckpt_arrays(path):
    with np.load(path) as z:
        return {k: z[k] for k in z.files if k != "__meta__"}


# ------------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """An IDX folder (gzip) of N labelled 28x28 images."""
    return write_idx_folder(tmp_path_factory.mktemp("idx"), *digits(N))


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def run_a(root, data):
    """One epoch of the default preset: N // 16 = 8 steps."""
    return train(root / "A", "--epochs", "1", "--seed", "5", data=data)


@pytest.fixture(scope="module")
def resumed(root, data):
    """B: 4 steps, then --resume to 8. Returns (B, step_000000.png bytes before resume)."""
    b = train(root / "B", "--steps", "4", "--seed", "5", data=data)
    assert steps_of(b) == [2, 4]
    before = (b / "samples" / "step_000000.png").read_bytes()
    code, _ = main(["train-mnist", "--resume", b, "--steps", "8", "--quiet"])
    assert code == 0
    return b, before


# ------------------------------------------------------------------------ 1. files

@pytest.mark.slow
def test_one_epoch_writes_every_file(run_a):
    for name in ("config.yaml", "metrics.csv", "log.txt", "samples/reals.png",
                 "samples/progress.gif", "generator.h5", "generator.keras", "generator.json",
                 "discriminator.h5", "discriminator.keras"):
        assert (run_a / name).is_file(), name
        assert (run_a / name).stat().st_size > 0, name
    grids = sorted(p.name for p in (run_a / "samples").glob("step_*.png"))
    assert grids == [f"step_{s:06d}.png" for s in (0, 2, 4, 6, 8)]
    assert sorted(p.name for p in (run_a / "checkpoints").glob("ckpt-*.npz"))[-1] \
        == "ckpt-00000008.npz"
    with Image.open(run_a / "samples" / "progress.gif") as gif:
        assert gif.format == "GIF" and getattr(gif, "n_frames", 1) == len(grids)
    # 16 grid images of 28x28: the grid is bigger than one image
    assert min(pixels(run_a / "samples" / "step_000008.png").shape[:2]) > 28


@pytest.mark.slow
def test_metrics_csv_rows_every_sample_every(run_a):
    header, rows = read_csv(run_a / "metrics.csv")
    for col in ("step", "epoch", "d_loss", "g_loss", "d_real", "d_fake", "images_per_s"):
        assert col in header, col
    assert [int(r["step"]) for r in rows] == [2, 4, 6, 8]
    assert [float(r["epoch"]) for r in rows] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    for r in rows:
        for col in ("d_loss", "g_loss", "d_real", "d_fake", "images_per_s"):
            assert np.isfinite(float(r[col])), (col, r)
        assert 0 <= float(r["d_real"]) <= 1 and 0 <= float(r["d_fake"]) <= 1
        assert float(r["images_per_s"]) > 0
    log = (run_a / "log.txt").read_text(encoding="utf-8")
    assert "step 8/8" in log and "generator.h5" in log


@pytest.mark.slow
def test_generator_sidecar(run_a):
    meta = sidecar(run_a)
    assert meta["kind"] == "images"
    assert meta["latent_dim"] == 16
    assert meta["noise"] == "uniform:-1,1"
    assert meta["value_range"] == [-1, 1]
    assert meta["image_shape"] == [28, 28, 1]
    assert meta["num_classes"] == 10  # the default cdcgan is conditional on labeled data
    assert meta["class_names"] == [str(k) for k in range(10)]  # MNIST-like: the digits
    np.testing.assert_allclose(meta["class_frequencies"],
                               np.bincount(digits(N)[1], minlength=10) / N, rtol=1e-12)
    assert meta["preset"] == "cdcgan"
    assert meta["step"] == 8
    assert set(meta["versions"]) >= {"gancli", "tensorflow", "keras"}
    assert config(run_a)["preset"] == "cdcgan" and config(run_a)["seed"] == 5
    assert config(run_a)["conditional"] == "projection"


@pytest.mark.slow
def test_grid_changes_and_grid_noise_is_fixed_by_seed(run_a, root, data):
    first, last = (pixels(run_a / "samples" / f"step_{s:06d}.png") for s in (0, 8))
    assert first.shape == last.shape and not np.array_equal(first, last)
    # the same seed, another run (and explicitly the default preset): the same start grid
    again = train(root / "A2", "--preset", "cdcgan", "--steps", "2", "--seed", "5", data=data)
    assert steps_of(again) == [2]
    assert np.array_equal(pixels(again / "samples" / "step_000000.png"), first)
    assert sidecar(again)["preset"] == "cdcgan"


# ------------------------------------------------------------------------ 2. presets

@pytest.mark.slow
@pytest.mark.parametrize("preset", ["seed-classic", "wgan", "wgan-gp", "lsgan"])
def test_preset_trains_two_steps(preset, root, data):
    run = train(root / preset, "--preset", preset, "--steps", "2", "--seed", "1", data=data)
    assert steps_of(run) == [2]
    assert config(run)["preset"] == preset
    meta = sidecar(run)
    assert meta["preset"] == preset and meta["step"] == 2 and meta["image_shape"] == [28, 28, 1]
    assert (run / "generator.keras").is_file() and (run / "discriminator.h5").is_file()


@pytest.mark.slow
def test_conditional_then_generate_label(root, data, capsys):
    run = train(root / "cond", "--conditional", "--steps", "2", "--seed", "1", data=data)
    assert sidecar(run)["num_classes"] == 10
    out = root / "cond_gen"
    code, err = main(["generate", "--weights", run, "--label", "1", "--n", "8", "--seed", "2",
                      "--npz", "--out", out], capsys)
    assert code == 0, err
    with np.load(out / "samples.npz") as z:
        assert z["images"].shape == (8, 28, 28, 1) and z["images"].dtype == np.uint8
        assert z["labels"].tolist() == [1] * 8
    assert (out / "grid.png").is_file()


# ------------------------------------------------------------------------ 3. epochs, steps, time

@pytest.mark.slow
def test_epochs_count_passes_with_n_critic(root, data):
    # N // (B * k) = 128 // (32 * 2) = 2 steps per epoch, 3 epochs
    run = train(root / "critic", "--batch_size", "32", "--n_critic", "2", "--epochs", "3",
                "--seed", "1", *SAFETY, data=data)
    assert steps_of(run) == [2, 4, 6]
    assert float(read_csv(run / "metrics.csv")[1][-1]["epoch"]) == pytest.approx(3.0)


@pytest.mark.slow
def test_steps_caps_epochs(root, data):
    # one epoch is 128 // 32 = 4 steps; --steps 50 only caps it
    run = train(root / "cap", "--batch_size", "32", "--epochs", "1", "--steps", "50",
                "--seed", "1", *SAFETY, data=data)
    assert steps_of(run)[-1] == 4
    assert sidecar(run)["step"] == 4


@pytest.mark.slow
def test_epochs_decide_under_the_wgan_presets_steps(root, data):
    # wgan sets steps 40000 (seed 003) and n_critic 5: --epochs 2 is 2 * (128 // 80) = 2
    run = train(root / "wgan-epochs", "--preset", "wgan", "--epochs", "2", "--seed", "1",
                *SAFETY, data=data)
    assert steps_of(run)[-1] == 2
    assert sidecar(run)["step"] == 2


@pytest.mark.slow
def test_max_minutes_stops_cleanly_and_saves(root, data):
    run = train(root / "limit", "--epochs", "1000", "--max_minutes", "0.01", "--seed", "1",
                data=data)
    meta = sidecar(run)
    assert 1 <= meta["step"] < 1000 * (N // 16)
    for name in ("generator.h5", "generator.keras", "discriminator.h5", "samples/progress.gif"):
        assert (run / name).is_file(), name
    assert sorted(run.glob("checkpoints/ckpt-*.npz"))[-1].name == f"ckpt-{meta['step']:08d}.npz"
    assert steps_of(run)[-1] == meta["step"]
    assert "time limit" in (run / "log.txt").read_text(encoding="utf-8")


def test_run_length_rules():
    from gancli.commands.train_mnist import run_length
    from gancli.config import DEFAULT_EPOCHS, ImageConfig

    def length(**kw):
        return run_length(ImageConfig(**kw), per_epoch=10)

    assert length() == DEFAULT_EPOCHS * 10                   # nothing set: 20 epochs
    assert length(max_minutes=5) == math.inf                 # the time alone decides
    assert length(steps=500) == 500                          # --steps alone: no epoch cap
    assert length(steps=500, epochs=3) == 30                 # --epochs caps --steps
    assert length(epochs=3, max_minutes=5) == 30
    assert length(steps=0, max_minutes=5) == 0


@pytest.mark.slow
def test_max_minutes_alone_runs_past_the_default_epochs(root, data, capsys):
    # the length is unbounded (run_length: math.inf, tested above): the step lines show no
    # total and the time limit ends the run, however fast this machine is
    run = train(root / "time-alone", "--n_train", "32", "--max_minutes", "0.15", "--seed", "1",
                "--sample_every", "1", "--checkpoint_every", "1000", data=data)
    meta = sidecar(run)
    assert meta["step"] >= 1 and meta["epochs"] == meta["step"] // 2
    log = (run / "log.txt").read_text(encoding="utf-8")
    assert "time limit of 0.15 min reached" in log
    step_lines = [ln for ln in log.splitlines() if ln.startswith("step ")]
    assert step_lines and all(ln.split()[1].isdigit() for ln in step_lines), step_lines[:3]
    code, err = main(["train-mnist", "--out", root / "decay", *TINY, "--data", data,
                      "--max_minutes", "1", "--lr_decay"], capsys)
    assert_one_line_error(code, err, "--lr_decay", "--steps or --epochs", prefix=PREFIX)
    assert not (root / "decay").exists()


# ------------------------------------------------------------------------ 4. resume

@pytest.mark.slow
def test_resume_appends_metrics_once(resumed):
    b, _ = resumed
    assert steps_of(b) == [2, 4, 6, 8]
    assert "resumed from" in (b / "log.txt").read_text(encoding="utf-8")
    assert sidecar(b)["step"] == 8


@pytest.mark.slow
def test_resume_gives_the_straight_runs_generator(resumed, run_a):
    import keras

    b, _ = resumed
    for name in ("generator.keras", "generator.h5"):
        straight = keras.models.load_model(run_a / name, compile=False).get_weights()
        continued = keras.models.load_model(b / name, compile=False).get_weights()
        assert len(straight) == len(continued)
        for i, (s, c) in enumerate(zip(straight, continued)):
            assert np.array_equal(s, c), (name, i, float(np.max(np.abs(s - c))))


@pytest.mark.slow
def test_resume_full_state_matches_straight_run(resumed, run_a):
    b, _ = resumed
    a_state = ckpt_arrays(run_a / "checkpoints" / "ckpt-00000008.npz")
    b_state = ckpt_arrays(b / "checkpoints" / "ckpt-00000008.npz")
    assert a_state.keys() == b_state.keys()
    differ = [k for k in a_state if not np.array_equal(a_state[k], b_state[k])]
    assert not differ, differ


@pytest.mark.slow
def test_resume_keeps_the_fixed_grid_noise(resumed, run_a):
    b, before = resumed
    assert (b / "samples" / "step_000000.png").read_bytes() == before
    for step in (0, 8):
        name = f"step_{step:06d}.png"
        assert np.array_equal(pixels(b / "samples" / name), pixels(run_a / "samples" / name))
    with Image.open(b / "samples" / "progress.gif") as gif:
        assert gif.n_frames == 5  # the whole history, not just the resumed part


# ------------------------------------------------------------------------ 5. seed flags

@pytest.mark.slow
def test_seed_flags(root, data):
    out = root / "seedflags"
    code, err = main(["train-mnist", "--data", data, "--output_fold", out, "--input_dim", "16",
                      "--n_train", "64", "--batch-size", "32", "--epochs", "1",
                      "--grid_size", "16", "--sample_every", "1", "--seed", "3", "--quiet",
                      *SAFETY])
    assert code == 0, err
    cfg = config(out)
    assert cfg["latent_dim"] == 16 and cfg["n_train"] == 64 and cfg["batch_size"] == 32
    # 64 kept images // 32 per step = 2 steps for one epoch
    assert steps_of(out) == [1, 2]
    assert [float(r["epoch"]) for r in read_csv(out / "metrics.csv")[1]] == [0.5, 1.0]
    assert sidecar(out)["latent_dim"] == 16


# ------------------------------------------------------------------------ 6. generate

@pytest.mark.slow
def test_generate_h5_and_keras_give_the_same_grid(run_a, tmp_path, capsys):
    grids = []
    for name in ("generator.h5", "generator.keras"):
        png = tmp_path / f"{name}.png"
        code, err = main(["generate", "--weights", run_a / name, "--n", "16", "--seed", "3",
                          "--out", png], capsys)
        assert code == 0, err
        grids.append(pixels(png))
    assert np.array_equal(*grids)
    assert grids[0].std() > 0


@pytest.mark.slow
def test_generate_nice_uses_the_discriminator_beside(run_a, tmp_path, capsys):
    # run_a is conditional (the default preset): one class, so one ranking
    code, err = main(["generate", "--weights", run_a, "--nice", "--n", "4", "--seed", "3",
                      "--label", "3", "--npz", "--out", tmp_path / "nice"], capsys)
    assert code == 0, err
    with np.load(tmp_path / "nice" / "samples.npz") as z:
        assert z["images"].shape == (4, 28, 28, 1)
        scores = z["scores"]
    assert scores.shape == (4,) and np.all(np.diff(scores) <= 0)


# ------------------------------------------------------------------------ 7. folder dataset

def _save(folder, name, size, mode, seed):
    rng = np.random.default_rng(seed)
    h, w = size
    shape = (h, w) if mode == "L" else (h, w, 3)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(folder / name)


@pytest.mark.slow
def test_folder_mixed_sizes_skips_non_image_with_one_warning(tmp_path, capsys):
    folder = tmp_path / "imgs"
    folder.mkdir()
    kinds = [("png", (28, 28), "L"), ("png", (40, 40), "RGB"), ("jpg", (20, 24), "RGB"),
             ("jpeg", (24, 20), "L"), ("png", (20, 24), "L")]
    for i in range(20):
        ext, size, mode = kinds[i % len(kinds)]
        _save(folder, f"img{i:02d}.{ext}", size, mode, i)
    (folder / "notes.txt").write_text("not a picture\n", encoding="utf-8")
    out = tmp_path / "run"
    code, err = main(["train-mnist", "--dataset", "folder", "--data", folder, "--image_size",
                      "28", "--channels", "1", "--out", out, "--batch_size", "4", "--steps",
                      "2", "--latent_dim", "16", "--grid_size", "16", "--sample_every", "2",
                      "--quiet", "--preset", "cdcgan"], capsys)
    assert code == 0, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 2, err
    assert "warning" in lines[0] and "notes.txt" in lines[0]
    # the default preset is conditional; images without labels train unconditionally
    # (the preset's 100 k-means clusters are cut to 0 for 20 images: 1 per 20 images)
    assert "no labels" in lines[1] and "unconditional" in lines[1]
    assert config(out)["conditional"] == "none" and config(out)["clusters"] == 0
    meta = sidecar(out)
    assert meta["image_shape"] == [28, 28, 1] and meta["step"] == 2
    assert meta["num_classes"] == 0
    assert (out / "samples" / "reals.png").is_file()
    # asked for explicitly, conditional training without labels is an error
    (folder / "notes.txt").unlink()
    code, err = main(["train-mnist", "--dataset", "folder", "--data", folder, "--image_size",
                      "16", "--conditional", "--out", tmp_path / "cond"], capsys)
    assert_one_line_error(code, err, "--conditional projection needs labels",
                          prefix=PREFIX)
    assert not (tmp_path / "cond").exists()


def test_folder_without_images_is_one_line_error(tmp_path, capsys):
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a picture\n", encoding="utf-8")
    (folder / "table.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    code, err = main(["train-mnist", "--dataset", "folder", "--data", folder, "--out",
                      tmp_path / "run", "--quiet"], capsys)
    assert_one_line_error(code, err, str(folder), prefix=PREFIX)


def test_folder_size_not_multiple_of_4_needs_image_size(tmp_path, capsys):
    folder = tmp_path / "odd"
    folder.mkdir()
    for i in range(8):
        _save(folder, f"img{i}.png", (30, 30), "L", i)
    code, err = main(["train-mnist", "--dataset", "folder", "--data", folder, "--out",
                      tmp_path / "run", "--quiet"], capsys)
    assert_one_line_error(code, err, "--image_size", prefix=PREFIX)


# ------------------------------------------------------------------------ 8. errors

def test_missing_data_path(tmp_path, capsys):
    code, err = main(["train-mnist", "--data", tmp_path / "nowhere.npz", "--out",
                      tmp_path / "run", "--quiet"], capsys)
    assert_one_line_error(code, err, "nowhere.npz", prefix=PREFIX)


def test_truncated_gz_idx(tmp_path, capsys):
    folder = tmp_path / "trunc"
    write_idx_folder(folder, *digits(32))
    gz = folder / "train-images-idx3-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[: gz.stat().st_size // 2])
    code, err = main(["train-mnist", "--data", folder, "--out", tmp_path / "run", "--quiet"],
                     capsys)
    assert_one_line_error(code, err, "train-images-idx3-ubyte.gz", prefix=PREFIX)


def test_wrong_magic(tmp_path, capsys):
    folder = tmp_path / "magic"
    folder.mkdir()
    x, _ = digits(32)
    Path(folder, "train-images-idx3-ubyte").write_bytes(idx_bytes(x, magic=0x00000801))
    code, err = main(["train-mnist", "--data", folder, "--out", tmp_path / "run", "--quiet"],
                     capsys)
    assert_one_line_error(code, err, "magic", prefix=PREFIX)


def test_download_failure_points_at_data(tmp_path, capsys, monkeypatch):
    import keras

    def fail(*args, **kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/mnist.npz")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", fail)
    code, err = main(["train-mnist", "--dataset", "mnist", "--out", tmp_path / "run",
                      "--quiet"], capsys)
    assert_one_line_error(code, err, "--data", "MNIST", prefix=PREFIX)


@pytest.mark.slow
def test_run_folder_is_reused_only_with_resume(run_a, tmp_path, capsys):
    out = tmp_path / "copy"
    shutil.copytree(run_a, out)
    code, err = main(["train-mnist", "--out", out, "--steps", "2", "--quiet"], capsys)
    assert code == 2 and "Traceback" not in err
    assert len([ln for ln in err.splitlines() if ln.strip()]) == 1, err
