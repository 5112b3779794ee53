"""TensorBoard event files in RUN/tb/, written by the runner at each report, in the
main thread, between compiled chunks (tf.summary writers are not shared with the
reporters' background thread). `tensorboard --logdir runs/` shows every run folder
below runs/ as one run, named after its folder (`NAME/tb`).

What is written, by tag:
- scalars, one per numeric metrics.csv column of each row, at the row's step
  (non-finite values are left out):
    d_loss, g_loss                    loss/d, loss/g
    d_real, d_fake                    D/real, D/fake
    images_per_s, values_per_s,       speed/images_per_s, speed/values_per_s,
    steps_per_s                       speed/steps_per_s
    epoch, elapsed_s, eval_s,         progress/epoch, progress/elapsed_s,
    skipped                           progress/eval_s, progress/skipped
    real_mean, real_std, fake_mean,   values/real_mean, ... (train-dist)
    fake_std, mass_K
    any other column                  quality/COLUMN (w1, ks; --eval_every's
                                      frechet_distance, classifier_score, ...)
- images and histograms from Reporter.summaries() at every report, step 0 included:
  samples/fixed_noise (train-mnist: the grid of samples/step_NNNNNN.png) and
  values/real, values/generated, values/input (train-dist: the histogram PNG's values);
- text `config`: config.yaml as a code block, at the step each session starts;
- the hparams plugin's session record: the config's scalar fields.

Resume: each session starts with a SessionLog START event at the first step it
trains (0 for a new run). A later START tells TensorBoard's Python loader to drop
every point of earlier sessions at steps >= its step: the points of rows that
--resume discarded from metrics.csv. TensorBoard's fast loader (the Rust data
server, the default) instead drops a series' points at steps >= each new point's
step, which removes the same points once the resumed run reports again.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import os
import time

import numpy as np

FOLDER = "tb"
_TAGS = {"d_loss": "loss/d", "g_loss": "loss/g", "d_real": "D/real", "d_fake": "D/fake"}
_PROGRESS = ("epoch", "elapsed_s", "eval_s", "skipped")
_VALUES = ("real_mean", "real_std", "fake_mean", "fake_std")


def tag(column: str) -> str:
    """The scalar tag of a metrics.csv column."""
    if column in _TAGS:
        return _TAGS[column]
    if column.endswith("_per_s"):
        return f"speed/{column}"
    if column in _PROGRESS:
        return f"progress/{column}"
    if column in _VALUES or column.startswith("mass_"):
        return f"values/{column}"
    return f"quality/{column}"


class Board:
    """One session's tf.summary writer on OUT/tb; starts at `step` (the checkpoint's
    step on resume, else 0) and records `config_text` (config.yaml) and `cfg`."""

    def __init__(self, out: str, step: int, config_text: str, cfg):
        import tensorflow as tf
        from tensorboard.plugins.hparams import api as hp

        self.tf = tf
        self.writer = tf.summary.create_file_writer(os.path.join(out, FOLDER))
        with self.writer.as_default(step=step):
            self._session_start(step + 1 if step else 0)
            tf.summary.text("config", f"```yaml\n{config_text}\n```")
            hp.hparams(_hparams(cfg))
        self.writer.flush()

    def _session_start(self, step: int) -> None:
        """Write a SessionLog START event (tf.summary has no public call for it: the
        raw ImportEvent op writes an Event proto through the writer's resource)."""
        tf = self.tf
        event = tf.compat.v1.Event(wall_time=time.time(), step=step,
                                   session_log=tf.compat.v1.SessionLog(
                                       status=tf.compat.v1.SessionLog.START))
        tf.raw_ops.ImportEvent(writer=self.writer._resource,
                               event=event.SerializeToString())

    def report(self, step: int, row: dict | None, summaries: dict) -> None:
        """The row's numeric values (None: no metrics row at this step, e.g. the
        untrained baseline), and the reporter's images and histograms, at `step`.

        Scalars and histograms are built as one Summary proto by TensorBoard's NumPy
        functions (the same records tf.summary.scalar / histogram write) and written
        in one op: ~5 ms per train-dist report instead of ~45 ms with an eager op
        per value."""
        from tensorboard.compat.proto import summary_pb2
        from tensorboard.plugins.histogram import summary_v2 as histogram
        from tensorboard.plugins.scalar import summary_v2 as scalar

        tf, proto = self.tf, summary_pb2.Summary()
        for column, value in (row or {}).items():
            if (column != "step" and isinstance(value, numbers.Real)
                    and not isinstance(value, bool) and math.isfinite(value)):
                proto.value.extend(scalar.scalar_pb(tag(column), float(value)).value)
        for name, values in summaries.get("histograms", {}).items():
            proto.value.extend(histogram.histogram_pb(name, np.asarray(values)).value)
        with self.writer.as_default(step=step):
            if proto.value:
                tf.summary.experimental.write_raw_pb(proto.SerializeToString())
            for name, image in summaries.get("images", {}).items():
                tf.summary.image(name, image[None], max_outputs=1)
        self.writer.flush()  # TensorBoard shows it now; a kill loses nothing

    def close(self) -> None:
        self.writer.close()


def _hparams(cfg) -> dict:
    """The config's fields as hparams values (bool, int, float or str): tuples joined
    with commas, unset (None) fields left out."""
    out = {}
    for key, value in dataclasses.asdict(cfg).items():
        if isinstance(value, (tuple, list)):
            value = ",".join(str(v) for v in value)
        if value is not None:
            out[key] = value
    return out
