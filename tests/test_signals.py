"""SIGINT / SIGTERM during training: state saved, exit 130 / 143, resume continues."""
import csv
import os
import signal
import subprocess
import sys
import time

import pytest

from gancli import cli

pytestmark = pytest.mark.slow  # each test trains in a subprocess until a signal

ARGS = ["--steps", "200000", "--sample_every", "50", "--checkpoint_every", "100000",
        "--vector_len", "8", "--latent_dim", "8", "--eval_samples", "200", "--seed", "3",
        "--quiet"]


def _start(out):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.Popen([sys.executable, "-m", "gancli", "train-dist", "--out", str(out),
                             *ARGS], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def _wait_for_rows(out, rows, timeout=120):
    path = out / "metrics.csv"
    end = time.time() + timeout
    while time.time() < end:
        if path.exists() and len(path.read_text().splitlines()) > rows:
            return
        time.sleep(0.2)
    raise AssertionError("training never produced metrics rows")


def _steps(out):
    with open(out / "metrics.csv", newline="") as fh:
        return [int(r["step"]) for r in csv.DictReader(fh)]


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_saves_state_and_exits_with_its_code(tmp_path, sig, code):
    out = tmp_path / "run"
    proc = _start(out)
    _wait_for_rows(out, 2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("gancli")]
    assert len(lines) == 1 and "--resume" in lines[0], err
    ckpts = sorted((out / "checkpoints").glob("ckpt-*.npz"))
    assert ckpts, "no checkpoint written on the signal"
    saved = int(ckpts[-1].stem.split("-")[1])
    steps = _steps(out)
    assert steps[-1] == saved  # the metrics so far end where the checkpoint is
    assert "stopped by" in (out / "log.txt").read_text()

    # resume continues from the saved step: rows continue without duplicates
    rc = cli.main(["train-dist", "--resume", str(out), "--steps", str(saved + 100), "--quiet"])
    assert rc == 0
    steps = _steps(out)
    assert steps == sorted(set(steps)) and steps[-1] == saved + 100
    assert (out / "generator.keras").exists()
