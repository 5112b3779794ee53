"""What keeps a run honest about numbers: --on_nan and the collapse warning.

In the graph (called by GANTrainer's D and G updates under `--on_nan skip`):
`snapshot` the state a forward pass changes (BatchNorm statistics, dropout RNG), then
`guarded_apply` applies the update only when the loss and every gradient are finite;
otherwise nothing moves -- weights, optimizer moments and iteration count, and the
snapshotted state are put back -- and the update counts as skipped.

In the runner, `Watch` looks at every compiled chunk: a non-finite loss (`stop`), a
non-finite weight (either mode) or a long run of skipped updates ends the run with
DivergenceError (exit 3) before anything is written; a D(fake) stuck near bce's fake or
real label (0 or 1 unless smoothed) for `collapse_window` steps gives one warning per
episode.
"""
from __future__ import annotations

import math

import keras
import tensorflow as tf

from gancli.errors import DivergenceError
from gancli.training import checkpoint

SKIP_LIMIT = 500            # steps in a row with no update applied: --on_nan skip gives up
COLLAPSE = 0.01             # D(fake) within this of bce's fake or real label counts
                            # towards a collapse: below 0.01 / above 0.99 for labels 0 / 1


# --- in the graph -------------------------------------------------------------------------

def snapshot(variables) -> list:
    """(variable, its current value) pairs, to put back when an update is skipped."""
    return [(v, tf.identity(v.value if hasattr(v, "value") else v)) for v in variables]


def _restore(saved, keep=None) -> None:
    for v, old in saved:
        v.assign(old if keep is None else tf.where(keep, v.value, old))


def all_finite(loss, grads, check_grads: bool = True):
    checks = [tf.reduce_all(tf.math.is_finite(loss))]
    if check_grads:
        checks += [tf.reduce_all(tf.math.is_finite(g)) for g in grads if g is not None]
    return tf.reduce_all(tf.stack(checks))


def guarded_apply(opt, grads, weights, loss, saved):
    """opt.apply(grads, weights) if the loss and every gradient are finite; else leave
    everything as it was and put `saved` back. Returns 1.0 if skipped, else 0.0."""
    # a LossScaleOptimizer skips non-finite (scaled) gradients itself and must see
    # them to lower its scale: only the loss is ours to judge then
    ok = all_finite(loss, grads,
                    check_grads=not isinstance(opt, keras.optimizers.LossScaleOptimizer))
    ctx = tf.distribute.get_replica_context()
    if ctx is not None and ctx.num_replicas_in_sync > 1:
        # Every replica must decide alike, and the optimizer's gradient all-reduce
        # cannot sit inside tf.cond: apply everywhere, then put back what changed.
        bad = ctx.all_reduce(tf.distribute.ReduceOp.SUM, 1.0 - tf.cast(ok, tf.float32))
        ok = bad < 0.5
        before = snapshot(list(weights) + list(opt.variables))
        opt.apply(grads, weights)
        _restore(before + saved, keep=ok)
        return 1.0 - tf.cast(ok, tf.float32)

    def update():
        opt.apply(grads, weights)
        return tf.constant(0.0)

    def skip():
        _restore(saved)
        return tf.constant(1.0)

    return tf.cond(ok, update, skip)


# --- in the runner ------------------------------------------------------------------------

def collapse_bounds(real_label: float = 1.0, fake_label: float = 0.0) -> tuple[float, float]:
    """(lo, hi): D(fake) below lo or above hi counts towards a collapse. They follow
    bce's targets: with label smoothing a D that wins settles at D(fake) ~ fake_label,
    not 0 (real_label 0.9, fake_label 0.1: below 0.11 or above 0.89)."""
    return fake_label + COLLAPSE, real_label - COLLAPSE


class Watch:
    """Checks every chunk the runner gets back from GANTrainer.train."""

    def __init__(self, cfg, trainer, ckpt_dir: str, log, warn):
        self.trainer, self.ckpt_dir, self.log, self.warn = trainer, ckpt_dir, log, warn
        self.skip = cfg.on_nan == "skip"
        self.window = cfg.collapse_window if trainer.loss.probability else 0
        self.bounds = collapse_bounds(getattr(trainer.loss, "real_label", 1.0),
                                      getattr(trainer.loss, "fake_label", 0.0))
        self.per_step = {"discriminator": trainer.n_critic, "generator": trainer.n_gen}
        self.skipped = 0            # updates skipped since the last report
        self.dead = dict.fromkeys(self.per_step, 0)  # steps in a row with no update applied
        self.collapse: tuple[str, int] | None = None  # (side, first step) of this episode
        self.warned = False
        self._finite = None

    def after_chunk(self, stats: dict, step: int, n: int, skipped: tuple[int, int]) -> None:
        """Raise DivergenceError, or count skipped (D, G) updates and watch for collapse."""
        bad = {k: v for k, v in stats.items() if not math.isfinite(v)}
        if bad and not self.skip:
            self._diverged(step, ", ".join(f"{k} is {v}" for k, v in bad.items()))
        broken = [name for name, ok in self._weights_finite().items() if not bool(ok)]
        if broken:
            self._diverged(step, f"the {' and '.join(broken)} weights are no longer finite")
        self.skipped += sum(skipped)
        for (net, per_step), k in zip(self.per_step.items(), skipped):
            self.dead[net] = self.dead[net] + n if k >= n * per_step else 0
            if self.dead[net] >= SKIP_LIMIT:
                self._diverged(step, f"no {net} update could be applied for {self.dead[net]} "
                                     "steps in a row (--on_nan skip: its loss or gradients "
                                     "were never finite)")
        if self.window:
            self._collapse(stats.get("d_fake", math.nan), step, n)

    def _weights_finite(self) -> dict:
        if self._finite is None:  # one compiled reduction over both nets' weights
            nets = {"generator": self.trainer.G, "discriminator": self.trainer.D}
            self._finite = tf.function(lambda: {
                name: tf.reduce_all([tf.reduce_all(tf.math.is_finite(v))
                                     for v in m.trainable_variables])
                for name, m in nets.items()})
        return self._finite()

    def take_skipped(self) -> int:
        """Updates skipped since the last call (one metrics row's worth)."""
        k, self.skipped = self.skipped, 0
        return k

    def _diverged(self, step: int, what: str):
        found = checkpoint.list_checkpoints(self.ckpt_dir)
        kept = (f"the last good checkpoint is kept: {found[-1][1]}" if found
                else "no checkpoint had been written yet")
        message = f"training diverged at step {step}: {what}; {kept}"
        self.log(message)
        raise DivergenceError(message)

    def _collapse(self, d_fake: float, step: int, n: int) -> None:
        lo, hi = self.bounds
        side = "below" if d_fake < lo else "above" if d_fake > hi else None
        if side is None or (self.collapse and self.collapse[0] != side):
            self.collapse, self.warned = None, False
        if side is None:
            return
        if self.collapse is None:
            self.collapse = (side, step - n)
        start = self.collapse[1]
        if step - start >= self.window and not self.warned:
            self.warned = True
            why = ("D rejects every generated sample: it overpowers the generator, which may "
                   "have collapsed" if side == "below" else
                   "D takes every generated sample for real: it has stopped learning")
            self.warn(f"D(fake) has stayed {side} {lo if side == 'below' else hi:g} for "
                      f"{step - start} steps (steps {start}-{step}, collapse_window "
                      f"{self.window}); {why}")
