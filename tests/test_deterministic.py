"""--deterministic through the real CLI: a run stopped by SIGTERM wherever it happens to be
and then resumed ends bit-identical, on CPU, to a straight run of as many steps."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from gancli.training import checkpoint

pytestmark = pytest.mark.slow  # the run trains twice, once interrupted

# The cut run is asked for far more steps than it can reach before SIGTERM (sent after its
# first metrics row), so it is always stopped mid-run: it cannot finish first and pass
# or fail by timing. Resumed with --steps stopped + MORE; the straight run, started once
# the stop is known, trains that many steps.
NEVER = 10**7
MORE = 200
ARGS = ["--sample_every", "100", "--checkpoint_every", "150", "--vector_len", "8",
        "--latent_dim", "8", "--g_hidden", "16,16", "--d_hidden", "16,16",
        "--eval_samples", "200", "--seed", "7", "--deterministic", "--quiet"]


def _gancli(*argv):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.Popen([sys.executable, "-m", "gancli", *map(str, argv)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _state(out, step):
    with np.load(checkpoint.path_for(str(out / "checkpoints"), step)) as z:
        return {k: z[k] for k in z.files if k != "__meta__"}


def test_sigterm_then_resume_is_bit_identical_to_a_straight_run(tmp_path):
    straight, cut = tmp_path / "straight", tmp_path / "cut"
    run = _gancli("train-dist", "--out", cut, "--steps", NEVER, *ARGS)
    metrics, end = cut / "metrics.csv", time.time() + 180
    while not (metrics.exists() and len(metrics.read_text().splitlines()) > 1):
        assert run.poll() is None and time.time() < end, run.communicate()
        time.sleep(0.05)
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=180)
    assert run.returncode == 143, err
    stopped = checkpoint.list_checkpoints(str(cut / "checkpoints"))[-1][0]
    assert 100 <= stopped < NEVER
    steps = stopped + MORE

    resumed = _gancli("train-dist", "--resume", cut, "--steps", steps, "--quiet")
    run = _gancli("train-dist", "--out", straight, "--steps", steps, *ARGS)
    _, err = resumed.communicate(timeout=180)
    assert resumed.returncode == 0, err
    _, err = run.communicate(timeout=180)
    assert run.returncode == 0, err

    # the whole state: G, D, the EMA generator, both optimizers, step, RNG
    a, b = _state(straight, steps), _state(cut, steps)
    assert a.keys() == b.keys() and any(k.startswith("G_ema/") for k in a)
    assert [k for k in a if not np.array_equal(a[k], b[k])] == [], f"stopped at {stopped}"
    # and the exported generator files
    for name in ("generator.h5", "generator.keras"):
        assert (straight / name).read_bytes() != b""
        import keras

        wa = keras.models.load_model(straight / name, compile=False).get_weights()
        wb = keras.models.load_model(cut / name, compile=False).get_weights()
        assert all(np.array_equal(x, y) for x, y in zip(wa, wb)) and len(wa) == len(wb)
    assert "deterministic: true" in (cut / "config.yaml").read_text()
