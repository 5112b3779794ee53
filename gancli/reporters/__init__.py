"""What each train-* command reports every sample_every steps: metrics, pictures,
and the generator.json fields. Pictures are drawn on a background thread, which
overlaps with the compiled training call (TensorFlow releases the GIL there)."""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor


class Reporter:
    """The command-specific part of a run (gancli.training.runner.fit asks it every
    sample_every steps). Each method's default does nothing; subclasses override."""

    columns: list[str] = []     # extra metrics.csv columns this reporter fills
    unit = "sample"             # what one real sample is called: 'value', 'image'
    samples_per_step = 0        # real samples D sees per generator step

    def report(self, trainer, step: int) -> dict:
        """This step's extra metrics (and pictures, written in the background)."""
        return {}

    def describe(self, row: dict) -> str:
        """The reporter's part of the log line for a metrics row."""
        return ""

    def epoch(self, step: int) -> float | None:
        """Passes over the training data after `step` generator steps; None: no epochs."""
        return None

    def summaries(self) -> dict:
        """What the last report drew, for TensorBoard (gancli.training.tensorboard):
        {'images': {tag: uint8 H x W x C array}, 'histograms': {tag: 1-D values}};
        either key may be missing."""
        return {}

    def finish(self, trainer) -> None:
        """At the end of the run: wait for pending writes, write summaries."""

    def sidecar(self) -> dict:
        """generator.json's fields: what the generator makes and expects."""
        return {}


class Background:
    """One worker thread for file writes; errors surface on the next submit or wait."""

    def __init__(self):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gancli-writer")
        self._pending: list[Future] = []

    def submit(self, fn, *args) -> None:
        self._check()
        self._pending.append(self._pool.submit(fn, *args))

    def _check(self) -> None:
        done = [f for f in self._pending if f.done()]
        self._pending = [f for f in self._pending if not f.done()]
        for f in done:
            f.result()

    def wait(self) -> None:
        for f in self._pending:
            f.result()
        self._pending = []
