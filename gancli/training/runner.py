"""Drives a GANTrainer through a run: chunks of compiled steps, reports, checkpoints,
time limit, resume, and the final export. Shared by every train-* command; what
a report contains (metrics, pictures) comes from the command's Reporter.
"""
from __future__ import annotations

import math
import os
import sys
import time
from typing import Protocol

from gancli import rundir
from gancli.errors import CheckpointError, DivergenceError
from gancli.training import checkpoint, export
from gancli.training.trainer import GANTrainer

CHUNK_SECONDS = 0.5  # one compiled call runs about this long: bar and stops stay responsive


class Reporter(Protocol):
    """The command-specific part of a run."""

    columns: list[str]          # extra metrics.csv columns this reporter fills
    unit: str                   # what one real sample is called: 'value', 'image'
    samples_per_step: int       # real samples D sees per generator step

    def report(self, trainer: GANTrainer, step: int) -> dict: ...
    def describe(self, row: dict) -> str: ...
    def finish(self, trainer: GANTrainer) -> None: ...
    def sidecar(self) -> dict: ...


class Log:
    """Lines to stdout (above the progress bar) and to OUT/log.txt."""

    def __init__(self, out: str, quiet: bool):
        self.path, self.quiet, self.bar = os.path.join(out, "log.txt"), quiet, None

    def __call__(self, line: str) -> None:
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.write(line)
        else:
            print(line, flush=True)


def fit(trainer: GANTrainer, cfg, out: str, reporter: Reporter, *, steps: int | None = None,
        resume: bool = False, quiet: bool = False, sidecar: dict | None = None) -> dict:
    """Train to `steps` (default cfg.steps) or the time limit; return the last metrics row."""
    total = cfg.steps if steps is None else steps
    log = Log(out, quiet)
    ckpt_dir = os.path.join(out, "checkpoints")
    groups = trainer.state_variables()
    elapsed_before = 0.0
    if resume:
        path = checkpoint.latest(ckpt_dir)
        if path is None:
            raise CheckpointError(f"cannot resume {out}: no readable checkpoint in {ckpt_dir}")
        meta = checkpoint.restore(groups, path)
        elapsed_before = meta.get("elapsed", 0.0)
        log(f"resumed from {os.path.relpath(path, out)} at step {meta['step']}")
    step = int(trainer.step.numpy())
    base_cols = ["step", "epoch", "d_loss", "g_loss", "d_real", "d_fake",
                 f"{reporter.unit}s_per_s", "steps_per_s", "elapsed_s"]
    metrics = rundir.MetricsLog(os.path.join(out, "metrics.csv"),
                                base_cols + list(reporter.columns),
                                resume_step=step if resume else None)
    bar = _progress(total, step, quiet, reporter.unit)
    log.bar = bar
    started = time.perf_counter()
    deadline = started + cfg.max_minutes * 60 if cfg.max_minutes else math.inf
    sums, n_int, t_int = {k: 0.0 for k in GANTrainer.STATS}, 0, 0.0
    cap, stop_reason, row = 1, None, {}

    def save_checkpoint():
        checkpoint.save(groups, ckpt_dir, step,
                        {"elapsed": elapsed_before + time.perf_counter() - started},
                        keep=cfg.keep_checkpoints)

    if step == 0 and total > 0:
        row = reporter.report(trainer, 0)  # the untrained baseline: samples/step_00000000
    while step < total:
        next_event = min(_next(step, cfg.sample_every), _next(step, cfg.checkpoint_every),
                         total)
        n = max(1, min(next_event - step, cap))
        t0 = time.perf_counter()
        stats = trainer.train(n)
        dt = time.perf_counter() - t0
        step += n
        if not all(math.isfinite(v) for v in stats.values()):
            bad = ", ".join(f"{k} = {v}" for k, v in stats.items() if not math.isfinite(v))
            raise DivergenceError(f"training diverged by step {step}: {bad}; the last good "
                                  f"checkpoint is in {ckpt_dir}")
        cap = max(1, int(n / max(dt, 1e-6) * CHUNK_SECONDS))
        for k, v in stats.items():
            sums[k] += v * n
        n_int, t_int = n_int + n, t_int + dt
        if bar is not None:
            epoch = getattr(reporter, "epoch", None)
            if epoch is not None:
                bar.set_description(f"epoch {int(epoch(step)) + 1}", refresh=False)
            bar.set_postfix({"d_loss": f"{stats['d_loss']:.3f}",
                             "g_loss": f"{stats['g_loss']:.3f}",
                             f"{reporter.unit}s/s": f"{n / dt * reporter.samples_per_step:.0f}"},
                            refresh=False)
            bar.update(n)
        if time.perf_counter() > deadline:
            stop_reason = f"time limit of {cfg.max_minutes:g} min reached"
        if step % cfg.sample_every == 0 or step == total or stop_reason:
            rate = n_int / max(t_int, 1e-9)
            row = {"step": step, **{k: v / n_int for k, v in sums.items()},
                   f"{reporter.unit}s_per_s": rate * reporter.samples_per_step,
                   "steps_per_s": rate,
                   "elapsed_s": elapsed_before + time.perf_counter() - started}
            epoch = getattr(reporter, "epoch", None)
            if epoch is not None:
                row["epoch"] = epoch(step)
            row.update(reporter.report(trainer, step))
            metrics.append(row)
            log(f"step {step:>{len(str(total))}}/{total}  "
                f"d_loss {row['d_loss']:.4f}  g_loss {row['g_loss']:.4f}  "
                f"D(real) {row['d_real']:.3f}  D(fake) {row['d_fake']:.3f}  "
                f"{reporter.describe(row)}  {rate:.0f} steps/s")
            sums, n_int, t_int = {k: 0.0 for k in GANTrainer.STATS}, 0, 0.0
        if step % cfg.checkpoint_every == 0 or step == total or stop_reason:
            save_checkpoint()
        if stop_reason:
            break
    if bar is not None:
        bar.close()
        log.bar = None
    if stop_reason:
        log(f"stopped at step {step}: {stop_reason}; continue with --resume {out}")
    if total == 0:
        return row
    if not checkpoint.list_checkpoints(ckpt_dir):
        save_checkpoint()
    reporter.finish(trainer)
    export.save_models(trainer, out, dict(reporter.sidecar(), **(sidecar or {}), step=step))
    log(f"saved {os.path.join(out, 'generator.h5')} (+ .keras, .json) at step {step}")
    return row


def _next(step: int, every: int) -> int:
    return (step // every + 1) * every


def _progress(total: int, initial: int, quiet: bool, unit: str):
    if quiet or not sys.stdout.isatty() or total == 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, leave=False,
                desc="train")
