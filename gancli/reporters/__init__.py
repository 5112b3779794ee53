"""What each train-* command reports every sample_every steps: metrics, pictures,
and the generator.json fields. Pictures are drawn on a background thread, which
overlaps with the compiled training call (TensorFlow releases the GIL there)."""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor


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
