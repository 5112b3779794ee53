"""TensorFlow's environment: the settings gancli wants before it loads, and an
import without its C++ start-up chatter.

`configure()` (run by `import gancli`) sets defaults that only work before TensorFlow
loads; a value already in the environment wins:
- TF_CPP_MIN_LOG_LEVEL=3: no C++ info or warning logs.
- TF_ENABLE_ONEDNN_OPTS=1 on x86-64: TensorFlow's oneDNN kernels. TF 2.21 leaves
  them off by default on CPUs without AVX-512 neural-network instructions (VNNI, BF16,
  AMX), so an AVX2 machine gets Eigen's kernels, whose convolution gradients are half
  as fast: on a 2-core AVX2 EPYC the 5x5 conv backprop to the input ran at 82 GFLOP/s
  with Eigen and 154 with oneDNN, and a seed-classic training step at batch 16 took
  0.57 of the time (165 -> 93 ms). Set it to 0 to get TensorFlow's own choice back.

TF 2.21 prints oneDNN notes, CUDA probing errors ("failed call to cuInit" on a
machine without a GPU) and absl banners straight to file descriptor 2, before
and regardless of TF_CPP_MIN_LOG_LEVEL. gancli's stderr is for its own one-line
messages, so the import and the first device query run with fd 2 pointed at
/dev/null. Python exceptions still propagate (and print once fd 2 is back).
"""
from __future__ import annotations

import os
import platform
import sys


def configure() -> None:
    """Environment defaults for TensorFlow; no effect once it has been imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if platform.machine().lower() in ("x86_64", "amd64"):
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


def import_quietly() -> None:
    """Import tensorflow and keras once, silencing what they print while doing so."""
    if "tensorflow" in sys.modules:
        return
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 to protect
        saved = None
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        sys.stderr.flush()
        os.dup2(null, 2)
        import keras  # noqa: F401
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")  # CUDA probing prints here
    finally:
        if saved is not None:
            os.dup2(saved, 2)
            os.close(saved)
        os.close(null)
