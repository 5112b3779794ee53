"""Bad input, tried as a new user would, and the one line gancli answers with.

Each Case builds its own scratch folder (bad files and all) and a command line.
tests/test_errors.py runs every case through `gancli.cli.main` and checks: the exit
code, exactly one line on stderr naming the mistake, no traceback, and every file that
was there before untouched. docs/errors.md is this module's rendering, with the scratch
folder shown as DIR:

    python tests/error_cases.py > docs/errors.md

(a test fails when the file differs from a fresh rendering).
"""
from __future__ import annotations

import contextlib
import dataclasses
import errno
import gzip
import io
import json
import os
import shutil
import struct
import sys
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

TINY = ["--vector_len", "8", "--latent_dim", "8", "--g_hidden", "16,16", "--d_hidden",
        "16,16", "--eval_samples", "200", "--seed", "1", "--quiet"]


@dataclasses.dataclass
class Case:
    what: str                            # the mistake, in a user's words
    argv: Callable[[Path], list]         # makes the bad files in DIR, returns the command
    expect: str                          # part of the one stderr line
    code: int = 2
    patch: Callable[[Path], contextlib.AbstractContextManager] | None = None  # simulations
    writes: bool = False                 # it trains first, so the run folder is created


@dataclasses.dataclass
class Result:
    code: int
    lines: list                          # non-empty stderr lines
    changed: list                        # files there before that changed or vanished
    created: list                        # new top-level entries in DIR


# --- bad files ----------------------------------------------------------------------------

def _idx(array, magic=None) -> bytes:
    array = np.asarray(array, np.uint8)
    magic = 0x800 | array.ndim if magic is None else magic
    return struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + \
        array.tobytes()


def _idx_folder(d: Path, name="mnist", magic=None, cut=False, gz=True) -> Path:
    folder = d / name
    folder.mkdir()
    data = _idx(np.random.default_rng(0).integers(0, 256, (32, 28, 28)), magic)
    data = gzip.compress(data) if gz else data
    if cut:
        data = data[: len(data) // 2]
    (folder / ("train-images-idx3-ubyte" + (".gz" if gz else ""))).write_bytes(data)
    return folder


def _unreadable(d: Path) -> Path:
    # works for root too, who may read any file: a folder cannot be opened as one
    (d / "mnist" / "train-images-idx3-ubyte.gz").mkdir(parents=True)
    return d / "mnist"


def _write(d: Path, name: str, data) -> Path:
    path = d / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


def _npz(d: Path, name: str, **arrays) -> Path:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return _write(d, name, buf.getvalue())


_MODELS: dict = {}


def _models(d: Path) -> Path:
    """DIR/models: a small 1-D generator (.keras, .h5, sidecar) and its discriminator."""
    if "dir" not in _MODELS:
        import keras

        from gancli.models import dist

        keras.utils.set_random_seed(0)
        src = Path(tempfile.mkdtemp(prefix="gancli-error-models-"))
        G = dist.build_generator("mlp", 4, 10, (16,), ("relu",), (4.0, 1.25))
        D = dist.build_discriminator(10, (16,), "relu", False, False, (4.0, 1.25))
        G.save(src / "generator.keras")
        G.save(src / "generator.h5")
        D.save(src / "discriminator.keras")
        meta = {"kind": "values", "latent_dim": 4, "noise": "uniform:0,1",
                "target": "normal:4,1.25", "vector_len": 10, "value_range": None,
                "num_classes": 0}
        (src / "generator.json").write_text(json.dumps(dict(meta, model="generator")))
        (src / "discriminator.json").write_text(json.dumps(dict(meta, model="discriminator")))
        _MODELS["dir"] = src
    dst = d / "models"
    shutil.copytree(_MODELS["dir"], dst)
    return dst


def _cut(path: Path) -> Path:
    out = path.with_name("cut" + path.suffix)
    data = path.read_bytes()
    out.write_bytes(data[: len(data) // 2])
    return out


def _other_latent(d: Path) -> Path:
    m = _models(d)
    folder = d / "latent100"
    folder.mkdir()
    shutil.copy(m / "generator.keras", folder / "generator.keras")
    meta = json.loads((m / "generator.json").read_text())
    (folder / "generator.json").write_text(json.dumps(dict(meta, latent_dim=100)))
    return folder


def _lonely_discriminator(d: Path) -> Path:
    folder = d / "downloads"
    folder.mkdir()
    shutil.copy(_models(d) / "discriminator.keras", folder / "model.keras")
    return folder / "model.keras"


def _run_folder(d: Path) -> Path:
    run = d / "run"
    run.mkdir()
    (run / "config.yaml").write_text("steps: 10\n")
    (run / "notes.txt").write_text("my notes\n")
    return run


# --- simulations --------------------------------------------------------------------------

@contextlib.contextmanager
def _read_only(d: Path):
    """DIR/readonly is mode 0555; root ignores modes, so refuse writes there as the
    kernel would for anyone else."""
    ro = d / "readonly"
    ro.mkdir(exist_ok=True)
    ro.chmod(0o555)
    real = os.makedirs

    def makedirs(name, *args, **kwargs):
        if str(os.path.abspath(name)).startswith(str(ro) + os.sep):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(name))
        return real(name, *args, **kwargs)

    try:
        with _patched(os, "makedirs", makedirs):
            yield
    finally:
        ro.chmod(0o755)


@contextlib.contextmanager
def _full_disk(d: Path):
    """The third checkpoint write runs out of space half way."""
    from gancli.training import checkpoint

    real, calls = checkpoint._write_npz, []

    def write(path, arrays):
        calls.append(path)
        if len(calls) == 3:
            Path(path).write_bytes(b"PK\x03\x04" + b"\0" * 64)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        real(path, arrays)

    with _patched(checkpoint, "_write_npz", write):
        yield


@contextlib.contextmanager
def _patched(obj, name, value):
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


# --- the cases ----------------------------------------------------------------------------

def _mnist(*argv):
    return ["train-mnist", *map(str, argv), "--batch_size", "8", "--steps", "0", "--quiet"]


def _dist(d, *argv):
    return ["train-dist", "--out", str(d / "out"), "--steps", "0", *TINY, *map(str, argv)]


def _gen(d, weights):
    return ["generate", "-g", str(weights), "--out", str(d / "out"), "--seed", "0"]


CASES = [
    # data
    Case("data path that does not exist",
         lambda d: _mnist("--data", d / "mnist.npz", "--out", d / "out"), "does not exist"),
    Case("data file that cannot be read (a folder where the file should be)",
         lambda d: _mnist("--data", _unreadable(d), "--out", d / "out"), "cannot read"),
    Case("truncated .gz IDX file",
         lambda d: _mnist("--data", _idx_folder(d, cut=True), "--out", d / "out"),
         "truncated"),
    Case(".gz file that is not gzip",
         lambda d: _mnist("--data", _write(d, "mnist/train-images-idx3-ubyte.gz",
                                           b"<html>404</html>").parent, "--out", d / "out"),
         "train-images-idx3-ubyte.gz"),
    Case("IDX file with the wrong magic number",
         lambda d: _mnist("--data", _idx_folder(d, magic=0x801, gz=False), "--out", d / "out"),
         "magic"),
    Case("npz whose x_train is not a stack of images",
         lambda d: _mnist("--data", _npz(d, "mnist.npz", x_train=np.zeros((32, 784), np.uint8)),
                          "--out", d / "out"), "images must have shape"),
    Case("images whose sides are not multiples of 4",
         lambda d: _mnist("--data", _npz(d, "mnist.npz", x_train=np.zeros((32, 30, 30),
                                                                         np.uint8)),
                          "--out", d / "out"), "--image_size"),
    Case("npz file that is not an npz",
         lambda d: _mnist("--data", _write(d, "mnist.npz", b"not a zip"), "--out", d / "out"),
         "mnist.npz"),
    Case("bad data given to --overwrite an existing run (the run stays as it was)",
         lambda d: _mnist("--data", d / "mnist.npz", "--out", _run_folder(d), "--overwrite"),
         "does not exist"),
    Case("empty image folder",
         lambda d: _mnist("--dataset", "folder", "--data", _write(d, "imgs/.keep", "").parent,
                          "--out", d / "out"), "imgs"),
    # weights for gancli generate
    Case("weights file that does not exist",
         lambda d: _gen(d, d / "generator.keras"), "not found"),
    Case("truncated .keras weights", lambda d: _gen(d, _cut(_models(d) / "generator.keras")),
         "not a readable Keras model"),
    Case("truncated .h5 weights", lambda d: _gen(d, _cut(_models(d) / "generator.h5")),
         "not a readable Keras model"),
    Case("a file that is not a Keras model",
         lambda d: _gen(d, _write(d, "generator.h5", b"GIF89a" + b"\0" * 200)),
         "not a readable Keras model"),
    Case("the discriminator instead of the generator",
         lambda d: _gen(d, _models(d) / "discriminator.keras"), "is a discriminator"),
    Case("a discriminator with no generator.json beside it",
         lambda d: _gen(d, _lonely_discriminator(d)), "is a discriminator"),
    Case("generator.json of another latent size", lambda d: _gen(d, _other_latent(d)),
         "latent_dim 100"),
    Case("a latent walk through one point",
         lambda d: _gen(d, _models(d)) + ["--interpolate", "1"], "at least 2 points"),
    Case("a latent walk of a 1-D generator",
         lambda d: _gen(d, _models(d)) + ["--interpolate", "3"], "works on images"),
    # configuration
    Case("YAML that does not parse",
         lambda d: _dist(d, "--config", _write(d, "cfg.yaml", "batch_size: [1, 2\n")),
         "not valid YAML"),
    Case("YAML that is a list, not key: value",
         lambda d: _dist(d, "--config", _write(d, "cfg.yaml", "- batch_size\n")), "mapping"),
    Case("unknown key in YAML",
         lambda d: _dist(d, "--config", _write(d, "cfg.yaml", "batchsize: 10\n")),
         "did you mean 'batch_size'"),
    Case("wrong type in YAML",
         lambda d: _dist(d, "--config", _write(d, "cfg.yaml", 'batch_size: "ten"\n')),
         "batch_size: expected int"),
    Case("config file that does not exist",
         lambda d: _dist(d, "--config", d / "cfg.yaml"), "config file not found"),
    Case("mistyped flag", lambda d: _dist(d, "--batchsize", "10"),
         "did you mean --batch_size"),
    Case("flag of the wrong type", lambda d: _dist(d, "--batch_size", "ten"), "batch_size"),
    Case("zero batch size", lambda d: _dist(d, "--batch_size", "0"), "batch_size must be"),
    Case("negative latent size", lambda d: _dist(d, "--latent_dim", "-8"),
         "latent_dim must be"),
    Case("zero-width hidden layer", lambda d: _dist(d, "--g_hidden", "0,16"), "g_hidden"),
    Case("--n_critic 0", lambda d: _dist(d, "--n_critic", "0"), "n_critic must be"),
    Case("unknown preset", lambda d: _dist(d, "--preset", "normal"), "invalid choice"),
    Case("--augment for 1-D samples (it augments images)",
         lambda d: _dist(d, "--augment", "color"), "unrecognized arguments: --augment"),
    Case("misspelt augmentation",
         lambda d: _mnist("--augment", "colour,cutout", "--out", d / "out"),
         "did you mean 'color'"),
    Case("adaptive augmentation with a loss whose D output has no real/fake sign",
         lambda d: _mnist("--augment", "color", "--ada_target", "0.6", "--loss", "wgan-gp",
                          "--out", d / "out"), "ada_target"),
    Case("more k-means clusters than the images allow",
         lambda d: _mnist("--data", _npz(d, "mnist.npz", x_train=np.zeros((30, 28, 28),
                                                                       np.uint8)),
                          "--no-conditional", "--clusters", "20", "--out", d / "out"),
         "--clusters 20 needs at least 40 images"),
    Case("--blurred with a factor below 2",
         lambda d: ["eval", "--blurred", "1", "--dataset", "mnist"],
         "--blurred must be a factor of 2 or more"),
    # output folder
    Case("output path that is a file",
         lambda d: ["train-dist", "--out", str(_write(d, "out", "x")), "--steps", "0", *TINY],
         "is a file"),
    Case("output folder that is not writable",
         lambda d: ["train-dist", "--out", str(d / "readonly" / "run"), "--steps", "0",
                    *TINY], "Permission denied", patch=_read_only),
    Case("existing folder, neither --resume nor --overwrite",
         lambda d: ["train-dist", "--out", str(_run_folder(d)), "--steps", "0", *TINY],
         "--resume"),
    Case("--resume of a folder that holds no run",
         lambda d: ["train-dist", "--resume", str(_write(d, "x/notes.txt", "").parent)],
         "no gancli run"),
    # during training
    Case("learning rate so large that training diverges",
         lambda d: ["train-dist", "--out", str(d / "out"), "--steps", "50", "--d_lr", "1e30",
                    *TINY], "training diverged at step", code=3, writes=True),
    Case("disk full while writing a checkpoint",
         lambda d: ["train-dist", "--out", str(d / "out"), "--steps", "40",
                    "--checkpoint_every", "10", "--sample_every", "10", *TINY],
         "No space left on device; the previous checkpoint", patch=_full_disk, writes=True),
]


# --- running and rendering ----------------------------------------------------------------

def _files(d: Path) -> dict:
    return {str(p.relative_to(d)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(d.rglob("*")) if p.is_file()}


def run(case: Case, d: Path) -> tuple[list, Result]:
    """Run `case` in the empty folder `d` -> (its command line, what happened)."""
    from gancli import cli

    argv = [str(a) for a in case.argv(d)]
    before, top = _files(d), set(os.listdir(d))
    err = io.StringIO()
    with contextlib.ExitStack() as stack:
        if case.patch:
            stack.enter_context(case.patch(d))
        stack.enter_context(contextlib.redirect_stderr(err))
        stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        try:
            code = cli.main(argv)
        except SystemExit as e:  # argparse
            code = e.code
    after = _files(d)
    changed = [p for p, v in before.items() if after.get(p) != v]
    created = sorted(set(os.listdir(d)) - top)
    return argv, Result(code, [ln for ln in err.getvalue().splitlines() if ln.strip()],
                        changed, created)


def render(results: list) -> str:
    """docs/errors.md from [(case, argv, result, DIR)]."""
    def show(text: str, d: Path) -> str:
        return text.replace(str(d), "DIR").replace("|", "\\|")

    out = ["# Bad input and what gancli says", "",
           "Every row is a mistake tried on purpose by `tests/test_errors.py`; the message is",
           "what gancli printed (DIR stands for the folder the case ran in). Each one is a",
           "single line on stderr, with no traceback, and leaves every existing file as it",
           "was. Generated: `python tests/error_cases.py > docs/errors.md`.", "",
           "| mistake | command | exit | message |", "| --- | --- | --- | --- |"]
    for case, argv, res, d in results:
        cmd = "gancli " + " ".join(_shorten(argv))
        msg = res.lines[0] if res.lines else "(nothing)"
        out.append(f"| {case.what} | `{show(cmd, d)}` | {res.code} | {show(msg, d)} |")
    return "\n".join(out) + "\n"


def _shorten(argv: list) -> list:
    """The command with the small-network flags shown as '...'."""
    n = len(TINY)
    for i in range(len(argv) - n + 1):
        if argv[i:i + n] == TINY:
            return argv[:i] + ["..."] + argv[i + n:]
    return argv


def run_all(root: Path) -> list:
    results = []
    for i, case in enumerate(CASES):
        d = root / f"case{i:02d}"
        d.mkdir()
        argv, res = run(case, d)
        results.append((case, argv, res, d))
    return results


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    with tempfile.TemporaryDirectory() as tmp:
        sys.stdout.write(render(run_all(Path(tmp))))
