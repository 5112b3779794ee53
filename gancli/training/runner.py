"""Drives a GANTrainer through a run: chunks of compiled steps, reports (metrics.csv,
TensorBoard), checkpoints, time limit, resume, and the final export. Shared by every
train-* command; what a report contains (metrics, pictures) comes from the command's
Reporter.
"""
from __future__ import annotations

import math
import os
import signal
import sys
import time
from typing import Protocol

from gancli import cluster, rundir
from gancli.errors import CheckpointError, Interrupted
from gancli.reporters import Reporter
from gancli.training import checkpoint, export, guards, precision, tensorboard
from gancli.training.trainer import GANTrainer

CHUNK_SECONDS = 0.5  # one compiled call runs about this long: bar and stops stay responsive


class Evaluator(Protocol):
    """--eval_every: quality metrics of the sampler generator (gancli.evaluation.during)."""

    columns: list[str]          # metrics.csv columns it fills
    main: str                   # name of the value it returns, minimized for best/

    def __call__(self, trainer: GANTrainer) -> tuple[dict, float]: ...


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

    def warn(self, text: str, command: str) -> None:
        """A warning: 'warning: TEXT' in log.txt, 'gancli CMD: warning: TEXT' on stderr."""
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(f"warning: {text}\n")
        line = f"gancli {command}: warning: {text}"
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr, flush=True)


class StopSignals:
    """SIGINT/SIGTERM set a flag that the loop reads between compiled calls, so the
    current chunk finishes and the state is saved. A second SIGINT stops at once
    (every file on disk is written atomically, so nothing is left half-written)."""

    CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}

    def __init__(self):
        self.received: int | None = None
        self._old: dict = {}

    def _handle(self, signum, frame):
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.received = signum

    def __enter__(self):
        for sig in self.CODES:
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave the defaults
                pass
        return self

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


def fit(trainer: GANTrainer, cfg, out: str, reporter: Reporter, *, steps: int | None = None,
        resume: bool = False, quiet: bool = False, sidecar: dict | None = None,
        command: str = "train-dist", evaluator: Evaluator | None = None,
        precision_why: str = "as set") -> dict:
    """Train to `steps` (default cfg.steps; math.inf: until the time limit) or the time
    limit; return the last metrics row.

    With an `evaluator`, every cfg.eval_every steps (and at the end) its metrics join
    the row and the best generator so far is saved in OUT/best/. `precision_why`: why
    the models have their precision (commands/_run.settle_precision), for the log.

    Raises DivergenceError on a non-finite loss and Interrupted after SIGINT/SIGTERM,
    both after the state on disk is consistent.
    """
    meta = {**reporter.sidecar(), **(sidecar or {}),
            "precision": trainer.precision}  # what --precision (auto) resolved to
    run = _Run(trainer, cfg, out, reporter, cfg.steps if steps is None else steps,
               quiet=quiet, evaluator=evaluator, meta=meta, command=command)
    line = trainer.describe()  # tf.distribute: replicas, global and per-replica batch
    if line:
        marker = os.path.join(out, rundir.MARKER)
        run.log(line)
        with open(marker, encoding="utf-8") as fh:  # and a comment at the end of config.yaml
            rundir.write_text(marker, fh.read() + f"# {line}\n")
    run.log(f"precision {trainer.precision} ({precision_why})")
    if resume:
        run.restore()
    run.board = _board(cfg, out, run.step)
    with StopSignals() as signals:
        try:
            stop = run.loop(signals)
        finally:  # DivergenceError, a full disk: the error line must not land in the bar
            run.close_bar()
            if run.board is not None:
                run.board.close()
    if signals.received is not None:
        name = signal.Signals(signals.received).name
        run.log(f"stopped by {name} at step {run.step}; state saved in {run.ckpt_dir}")
        raise Interrupted(f"interrupted by {name} at step {run.step}; checkpoint and metrics "
                          f"saved; resume with: gancli {command} --resume {out}",
                          StopSignals.CODES[signals.received])
    if stop:
        run.log(f"stopped at step {run.step}: {stop}; continue with --resume {out}")
    if run.total == 0:
        return run.row
    reporter.finish(trainer)
    epochs = reporter.epoch(run.step)
    if epochs is not None:  # passes over the training data completed
        run.meta["epochs"] = math.floor(epochs)
    export.save_models(trainer, out, dict(run.meta, step=run.step))
    run.log(f"saved {os.path.join(out, 'generator.h5')} (+ .keras, .json) at step {run.step}")
    return run.row


class _Run:
    """The state of one fit(): counters, the metrics file, the log, the bar."""

    def __init__(self, trainer: GANTrainer, cfg, out: str, reporter: Reporter, total: int, *,
                 quiet: bool, evaluator: Evaluator | None, meta: dict, command: str):
        self.trainer, self.cfg, self.out, self.reporter = trainer, cfg, out, reporter
        self.total, self.quiet, self.command = total, quiet, command
        self.evaluator, self.meta = evaluator, meta  # meta: generator.json's fields
        self.log = Log(out, quiet)
        self.ckpt_dir = os.path.join(out, "checkpoints")
        self.groups = trainer.state_variables()
        self.elapsed_before, self.resumed, self.row = 0.0, False, {}
        self.board: tensorboard.Board | None = None  # OUT/tb's writer, set by fit
        self.step = int(trainer.step.numpy())
        self.best_dir = os.path.join(out, "best")
        self.best = export.read_best(self.best_dir)  # {'step', 'metric', 'value'} or None

    def restore(self):
        path = checkpoint.latest(self.ckpt_dir)
        if path is None:
            raise CheckpointError(f"cannot resume {self.out}: no readable checkpoint in "
                                  f"{self.ckpt_dir}")
        meta = checkpoint.restore(self.groups, path)
        self.elapsed_before, self.resumed = meta.get("elapsed", 0.0), True
        self.step = int(self.trainer.step.numpy())
        if self.best is not None and self.best["step"] > self.step:
            self.best = None  # saved after the checkpoint, by training that is now undone
        note = precision.switch_note(meta.get("precision"), self.trainer.precision)
        self.log(f"resumed from {os.path.relpath(path, self.out)} at step {self.step}"
                 + (f"; {note}" if note else ""))

    def save_checkpoint(self):
        try:
            checkpoint.save(self.groups, self.ckpt_dir, self.step,
                            {"elapsed": self.elapsed_before + time.perf_counter() - self.started},
                            keep=self.cfg.keep_checkpoints)
        except OSError as e:  # a full disk, a quota, a folder gone read-only
            found = checkpoint.list_checkpoints(self.ckpt_dir)
            kept = (f"the previous checkpoint {found[-1][1]} is kept; make room, then resume "
                    f"with: gancli {self.command} --resume {self.out}" if found
                    else "no earlier checkpoint exists")
            raise CheckpointError(f"cannot write the checkpoint for step {self.step}: "
                                  f"{e.strerror or e}; {kept}") from None

    def close_bar(self):
        if self.log.bar is not None:
            self.log.bar.close()
            self.log.bar = None

    def loop(self, signals: StopSignals) -> str | None:
        """Train until the end, the time limit or a signal; return why it stopped early."""
        cfg, rep, trainer = self.cfg, self.reporter, self.trainer
        metrics = rundir.MetricsLog(
            os.path.join(self.out, "metrics.csv"),
            ["step", "epoch", "d_loss", "g_loss", "d_real", "d_fake", f"{rep.unit}s_per_s",
             "steps_per_s", "elapsed_s"] + list(rep.columns)
            + (list(self.evaluator.columns) if self.evaluator else [])
            + (["skipped"] if cfg.on_nan == "skip" else [])
            + list(trainer.state_stats()),  # --augment: augment_p (and ada_rt)
            resume_step=self.step if self.resumed else None)
        self.log.bar = _progress(self.total, self.step, self.quiet)
        self.started = time.perf_counter()
        deadline = self.started + cfg.max_minutes * 60 if cfg.max_minutes else math.inf
        sums, n_int, t_int = dict.fromkeys(GANTrainer.STATS, 0.0), 0, 0.0
        counts = dict.fromkeys(GANTrainer.STATS, 0)
        self.watch = guards.Watch(cfg, trainer, self.ckpt_dir, self.log,
                                  lambda text: self.log.warn(text, self.command))
        cap, stop = 1, None
        if self.step == 0 and self.total > 0:
            rep.report(trainer, 0)  # the untrained baseline picture
            if self.board is not None:
                self.board.report(0, None, rep.summaries())
        while self.step < self.total:
            next_event = min(_next(self.step, cfg.sample_every),
                             _next(self.step, cfg.checkpoint_every), self.total)
            if self.evaluator is not None:
                next_event = min(next_event, _next(self.step, cfg.eval_every))
            n = max(1, min(next_event - self.step, cap))
            t0 = time.perf_counter()
            stats = trainer.train(n)
            dt = time.perf_counter() - t0
            n = trainer.last_chunk["steps"]  # fewer than asked only when it diverged
            self.step += n
            # a non-finite loss or weight raises DivergenceError here, before any saving
            self.watch.after_chunk(stats, self.step, n, trainer.last_chunk["skipped"])
            cap = max(1, int(n / max(dt, 1e-6) * CHUNK_SECONDS))
            for k, v in stats.items():
                if math.isfinite(v):  # on_nan skip: NaN when every update was skipped
                    sums[k] += v * n
                    counts[k] += n
            n_int, t_int = n_int + n, t_int + dt
            self._update_bar(stats, n, dt)
            if time.perf_counter() > deadline:
                stop = f"time limit of {cfg.max_minutes:g} min reached"
            halt = stop or signals.received is not None
            cap, halt = trainer.agree(cap, bool(halt))  # multiworker: all chunk, stop alike
            if halt and not stop and signals.received is None:
                stop = "another worker stopped"
            evaluate = self.evaluator is not None and (
                self.step % cfg.eval_every == 0 or self.step == self.total or stop)
            if self.step % cfg.sample_every == 0 or self.step == self.total or halt or evaluate:
                self.row = self._row(sums, n_int, t_int, counts)
                if evaluate:
                    self.row.update(self._evaluate())
                metrics.append(self.row)
                if self.board is not None:
                    self.board.report(self.step, self.row, rep.summaries())
                sums, n_int, t_int = dict.fromkeys(GANTrainer.STATS, 0.0), 0, 0.0
                counts = dict.fromkeys(GANTrainer.STATS, 0)
            if self.step % cfg.checkpoint_every == 0 or self.step == self.total or halt:
                self.save_checkpoint()
            if halt:
                break
        if self.total and not checkpoint.list_checkpoints(self.ckpt_dir):
            self.save_checkpoint()
        return stop

    def _evaluate(self) -> dict:
        """The evaluator's row; saves OUT/best/ when its main value improved."""
        ev = self.evaluator
        row, value = ev(self.trainer)
        better = math.isfinite(value) and (self.best is None or value < self.best["value"])
        if better:
            self.best = {"step": self.step, "metric": ev.main, "value": value}
            export.save_best(self.trainer.sampler, self.best_dir, dict(self.meta, **self.best))
        shown = "  ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "eval_s")
        self.log(f"eval at step {self.step}: {ev.main} {value:.4g}"
                 f"{' (best so far, saved to best/)' if better else ''}  {shown}  "
                 f"({row.get('eval_s', 0):.1f} s)")
        return row

    def _row(self, sums, n_int, t_int, counts) -> dict:
        rep, rate = self.reporter, n_int / max(t_int, 1e-9)
        row = {"step": self.step,
               **{k: v / counts[k] if counts[k] else math.nan for k, v in sums.items()},
               f"{rep.unit}s_per_s": rate * rep.samples_per_step, "steps_per_s": rate,
               "elapsed_s": self.elapsed_before + time.perf_counter() - self.started}
        epoch = rep.epoch(self.step)
        if epoch is not None:
            row["epoch"] = epoch
        row.update(rep.report(self.trainer, self.step))
        state = self.trainer.state_stats()
        row.update(state)
        skipped = ""
        if self.cfg.on_nan == "skip":
            row["skipped"] = self.watch.take_skipped()
            skipped = f"  skipped {row['skipped']} updates"
        self.log(f"step {self._progress_text()}  "
                 f"d_loss {row['d_loss']:.4f}  g_loss {row['g_loss']:.4f}  "
                 f"D(real) {row['d_real']:.3f}  D(fake) {row['d_fake']:.3f}  "
                 f"{rep.describe(row)}  {rate:.0f} steps/s{skipped}"
                 + "".join(f"  {k} {v:.4g}" for k, v in state.items()))
        return row

    def _progress_text(self) -> str:
        """'  500/7080', or '500' when the time limit alone ends the run."""
        if self.total == math.inf:
            return str(self.step)
        return f"{self.step:>{len(str(self.total))}}/{self.total}"

    def _update_bar(self, stats, n, dt):
        bar, rep = self.log.bar, self.reporter
        if bar is None:
            return
        epoch = rep.epoch(self.step)
        if epoch is not None:
            bar.set_description(f"epoch {int(epoch) + 1}", refresh=False)
        bar.set_postfix({"d_loss": f"{stats['d_loss']:.3f}", "g_loss": f"{stats['g_loss']:.3f}",
                         f"{rep.unit}s/s": f"{n / dt * rep.samples_per_step:.0f}"},
                        refresh=False)
        bar.update(n)


def _board(cfg, out: str, step: int) -> tensorboard.Board | None:
    """OUT/tb's writer from `step` on, unless --no-tensorboard; under multiworker only
    the chief writes (the others' folders are temporary)."""
    if not cfg.tensorboard or (cfg.strategy == "multiworker" and not cluster.is_chief()):
        return None
    with open(os.path.join(out, rundir.MARKER), encoding="utf-8") as fh:
        return tensorboard.Board(out, step, fh.read(), cfg)


def _next(step: int, every: int) -> int:
    return (step // every + 1) * every


def _progress(total: int, initial: int, quiet: bool):
    if quiet or not sys.stdout.isatty() or total == 0:
        return None
    from tqdm import tqdm

    return tqdm(total=None if total == math.inf else total, initial=initial, unit="step",
                dynamic_ncols=True, leave=False, desc="train")
