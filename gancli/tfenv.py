"""Import TensorFlow without its C++ start-up chatter.

TF 2.21 prints oneDNN notes, CUDA probing errors ("failed call to cuInit" on a
machine without a GPU) and absl banners straight to file descriptor 2, before
and regardless of TF_CPP_MIN_LOG_LEVEL. gancli's stderr is for its own one-line
messages, so the import and the first device query run with fd 2 pointed at
/dev/null. Python exceptions still propagate (and print once fd 2 is back).
"""
from __future__ import annotations

import os
import sys


def import_quietly() -> None:
    """Import tensorflow and keras once, silencing what they print while doing so."""
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
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
