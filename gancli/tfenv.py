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

GPUs: by default TensorFlow reserves nearly all of a GPU's memory at the first op, so
a second process (`gancli eval` or `generate` beside a training) fails there. Every
command that loads TensorFlow calls `set_gpu_memory(--gpu_memory)`: `grow` (the
default) turns on memory growth for every GPU, `all` keeps TensorFlow's
reserve-everything behaviour. It applies when TensorFlow is imported here, or at once
when it already is, before any device work. `gpus_unseen()` says when nvidia-smi
lists GPUs that TensorFlow cannot use (CUDA libraries missing): train commands print
it as one warning, `gancli info` shows it.
"""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys

GPU_MEMORY = ("grow", "all")  # --gpu_memory choices; grow is the default
_gpu_memory = "grow"  # what set_gpu_memory asked for


def configure() -> None:
    """Environment defaults for TensorFlow; no effect once it has been imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if platform.machine().lower() in ("x86_64", "amd64"):
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


def import_quietly() -> None:
    """Import tensorflow and keras once, silencing what they print while doing so;
    then apply set_gpu_memory's setting."""
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
    _apply_gpu_memory()


def set_gpu_memory(mode: str) -> None:
    """--gpu_memory MODE: `grow` allocates GPU memory as needed (memory growth on for
    every GPU), `all` lets TensorFlow reserve it all. Applied now if TensorFlow is
    loaded, else by import_quietly; it must come before the first op touches a device
    (afterwards TensorFlow keeps what it had)."""
    global _gpu_memory
    if mode not in GPU_MEMORY:
        raise ValueError(f"unknown --gpu_memory {mode!r}")
    _gpu_memory = mode
    if "tensorflow" in sys.modules:
        _apply_gpu_memory()


def _apply_gpu_memory() -> None:
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, _gpu_memory == "grow")
        except RuntimeError:  # devices already initialized (an earlier command in this process)
            return


def nvidia_smi_gpus() -> list[str] | None:
    """The GPUs `nvidia-smi -L` lists ("GPU 0: NVIDIA A100 ..."), or None without a
    working nvidia-smi on PATH."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return [line.strip() for line in out.stdout.splitlines() if line.startswith("GPU ")]


def gpus_unseen() -> str | None:
    """Why TensorFlow trains on the CPU although nvidia-smi lists GPUs, or None when
    there is nothing to say (no nvidia-smi GPUs, TensorFlow sees a GPU, or
    CUDA_VISIBLE_DEVICES hides them all on purpose)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", "unset").strip() in ("", "-1"):
        return None
    import_quietly()
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return None
    listed = nvidia_smi_gpus()
    if not listed:
        return None
    return (f"nvidia-smi sees {len(listed)} GPU(s) but TensorFlow sees none: install with "
            "pip install 'gancli[gpu]' (tensorflow[and-cuda]: the CUDA and cuDNN libraries) "
            "or check CUDA_VISIBLE_DEVICES and the driver; training on the CPU")


def warn_gpus_unseen(command: str) -> None:
    """One stderr warning line for a train command when gpus_unseen() has something."""
    why = gpus_unseen()
    if why:
        print(f"gancli {command}: warning: {why}", file=sys.stderr, flush=True)
