"""The multi-worker cluster as seen before TensorFlow loads: TF_CONFIG, who is the
chief, and where a non-chief worker writes. No TensorFlow here.

Under `--strategy multiworker` every worker runs the same command. The chief (task
type "chief", or worker 0 when the cluster has no "chief" entry -- TensorFlow's own
rule) owns --out: config.yaml, log.txt, metrics.csv, samples, checkpoints and the
exported models. Every other worker takes part in each training step but writes
its copies into a private temporary folder, deleted when it exits, so --out can be
the same path on a shared filesystem (TensorBoard's tb/: the chief only).
"""
from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile

from gancli.errors import ConfigError


def tf_config() -> dict | None:
    """The parsed TF_CONFIG, or None when it is not set."""
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        return None
    try:
        conf = json.loads(raw)
        task = conf["task"]
        workers = conf["cluster"]
        str(task["type"]), int(task["index"]), dict(workers)
    except (ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"TF_CONFIG is not valid: {e!r}; expected JSON like "
                          '{"cluster": {"worker": ["host1:port", "host2:port"]}, '
                          '"task": {"type": "worker", "index": 0}} (see docs/gpu.md)') from None
    return conf


def task() -> tuple[str, int]:
    """(task type, index) of this process; ('worker', 0) without TF_CONFIG."""
    conf = tf_config()
    if conf is None:
        return "worker", 0
    return str(conf["task"]["type"]), int(conf["task"]["index"])


def is_chief(required: bool = False) -> bool:
    """True for the process that writes the run folder. `required`: TF_CONFIG must be
    set (--strategy multiworker), else ConfigError."""
    conf = tf_config()
    if conf is None:
        if required:
            raise ConfigError("--strategy multiworker reads the cluster from the TF_CONFIG "
                              "environment variable, which is not set (see docs/gpu.md)")
        return True
    kind, index = task()
    if "chief" in conf["cluster"]:
        return kind == "chief"
    return kind == "worker" and index == 0


def worker_folder(resume_from: str | None) -> str:
    """A private run folder for a non-chief worker, removed at exit. On --resume the
    chief's newest checkpoint is copied in, so this worker restores the same state
    (the chief's run folder must be readable here: a shared filesystem)."""
    kind, index = task()
    out = tempfile.mkdtemp(prefix=f"gancli-{kind}{index}-")
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    for sub in ("samples", "checkpoints"):
        os.makedirs(os.path.join(out, sub))
    if resume_from:
        from gancli.training import checkpoint  # NumPy only

        src = checkpoint.latest(os.path.join(resume_from, "checkpoints"))
        if src is not None:
            shutil.copy(src, os.path.join(out, "checkpoints", os.path.basename(src)))
    return out
