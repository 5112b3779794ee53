"""The run folder: creation rules, atomic writes and metrics.csv. No TensorFlow.

Every file gancli writes goes to a temporary name in the same folder and is then
renamed over the old one (os.replace is atomic on POSIX), so a kill at any
instant leaves the previous complete version readable.
"""
from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import tempfile
from typing import Iterator, Sequence

from gancli.errors import RunDirError

MARKER = "config.yaml"  # a folder holding this is a gancli run
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yield a temporary path (same folder, same suffix) that replaces `path` on success."""
    folder, name = os.path.split(os.path.abspath(path))
    root, ext = os.path.splitext(name)
    if root.endswith(".weights"):  # keras insists on the full '.weights.h5' suffix
        root, ext = root[:-8], ".weights" + ext
    fd, tmp = tempfile.mkstemp(prefix=f".{root}.", suffix=f".tmp{ext}", dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give files the usual mode
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text(path: str, text: str) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)


def write_bytes(path: str, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)


def prepare(out: str, *, resume: bool = False, overwrite: bool = False) -> str:
    """Make `out` ready for a run and return its absolute path.

    A non-empty folder is used only with `resume` (it must hold a run) or replaced
    only with `overwrite` (and only if it holds a gancli run, never any other folder).
    """
    out = os.path.abspath(out)
    if os.path.exists(out) and not os.path.isdir(out):
        raise RunDirError(f"output path {out} is a file, not a folder")
    is_run = os.path.isfile(os.path.join(out, MARKER))
    if resume:
        if not is_run:
            raise RunDirError(f"cannot resume {out}: no gancli run there ({MARKER} missing)")
    elif os.path.isdir(out) and os.listdir(out):
        if not overwrite:
            raise RunDirError(f"{out} exists and is not empty; use --resume {out} to continue "
                              "it or --overwrite to replace it")
        if not is_run:
            raise RunDirError(f"refusing to --overwrite {out}: it is not a gancli run folder")
        for name in os.listdir(out):
            p = os.path.join(out, name)
            shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.remove(p)
    try:
        os.makedirs(os.path.join(out, "samples"), exist_ok=True)
        os.makedirs(os.path.join(out, "checkpoints"), exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=out, prefix=".probe", delete=True)
        probe.close()
    except OSError as e:
        raise RunDirError(f"cannot write to output folder {out}: {e.strerror or e}") from None
    return out


class MetricsLog:
    """metrics.csv: a header, then one row per report; safe across resume.

    On resume, rows past the checkpoint's step (written after it, then lost with
    the run) are dropped, so continued training appends without duplicates.
    """

    def __init__(self, path: str, columns: Sequence[str], resume_step: int | None = None):
        self.path, self.columns = path, list(columns)
        rows: list[dict] = []
        if resume_step is not None and os.path.exists(path):
            with open(path, newline="", encoding="utf-8") as fh:
                rows = [r for r in csv.DictReader(fh) if int(r["step"]) <= resume_step]
        self._text = io.StringIO()
        self._writer = csv.DictWriter(self._text, self.columns, extrasaction="ignore")
        self._writer.writeheader()
        for r in rows:
            self._writer.writerow(r)
        write_text(self.path, self._text.getvalue())

    def append(self, row: dict) -> None:
        self._writer.writerow({k: _fmt(row.get(k, "")) for k in self.columns})
        write_text(self.path, self._text.getvalue())


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.6g}"
    return v
