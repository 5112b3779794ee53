"""Reading gancli run folders for `gancli plot`: metrics.csv (tolerating a run that is
still writing it), config.yaml and generator.json, and which columns are quality
metrics. No drawing here, and no TensorFlow."""
from __future__ import annotations

import csv
import json
import math
import os

import numpy as np

from gancli.errors import RunDirError

BASE = ("step", "epoch", "d_loss", "g_loss", "d_real", "d_fake")  # the loop's own stats


class Run:
    """What a run folder holds, read once: metrics rows, config.yaml, generator.json.
    `note(msg)` reports a side file that could not be read (it is then ignored)."""

    def __init__(self, path: str, label: str, note=lambda msg: None):
        self.path, self.label, self._note = path, label, note
        csv_path = os.path.join(path, "metrics.csv")
        if not os.path.isdir(path):
            raise RunDirError(f"{path} is not a folder (expected a gancli run folder)")
        if not os.path.isfile(csv_path):
            raise RunDirError(f"{path} is not a gancli run: no metrics.csv in it")
        try:
            self.header, self.rows = read_metrics(csv_path)
        except OSError as e:
            raise RunDirError(f"cannot read {csv_path}: {e.strerror or e}") from None
        self.cfg = self._yaml("config.yaml")
        self.meta = self._json("generator.json")

    def series(self, col: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of the rows that have `col`."""
        pts = [(r["step"], r[col]) for r in self.rows if col in r]
        a = np.array(pts, dtype=np.float64).reshape(-1, 2)
        return a[:, 0], a[:, 1]

    def pair(self, a: str, b: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(steps, a values, b values) of the rows that have both columns."""
        pts = [(r["step"], r[a], r[b]) for r in self.rows if a in r and b in r]
        arr = np.array(pts, dtype=np.float64).reshape(-1, 3)
        return arr[:, 0], arr[:, 1], arr[:, 2]

    def has(self, col: str) -> bool:
        return any(col in r for r in self.rows)

    @property
    def probability(self) -> bool:
        """bce reports D(x) as sigmoid(logit); the other losses report raw critic output."""
        return self.cfg.get("loss", "bce") == "bce"

    @property
    def target(self) -> str | None:
        return self.meta.get("target") or self.cfg.get("target")

    def find(self, names) -> str | None:
        for name in names:
            if os.path.isfile(os.path.join(self.path, name)):
                return os.path.join(self.path, name)
        return None

    def _yaml(self, name: str) -> dict:
        import yaml

        return self._side_file(name, yaml.safe_load, yaml.YAMLError)

    def _json(self, name: str) -> dict:
        return self._side_file(name, json.load, json.JSONDecodeError)

    def _side_file(self, name: str, load, error) -> dict:
        """The mapping in file `name` of the run, or {} if it is missing or unreadable
        (with a note)."""
        path = os.path.join(self.path, name)
        if not os.path.isfile(path):
            return {}
        try:
            with open(path, encoding="utf-8") as fh:
                data = load(fh)
        except (OSError, UnicodeDecodeError, error) as e:
            self._note(f"{path}: unreadable, ignored ({str(e).splitlines()[0]})")
            return {}
        return data if isinstance(data, dict) else {}


def read_metrics(path: str) -> tuple[list[str], list[dict]]:
    """metrics.csv read once, tolerating a run that is writing it: a last line without
    its newline (torn write) is dropped, as are rows with the wrong number of cells;
    empty, non-numeric and non-finite cells are left out of their row. Rows are sorted
    by step."""
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        text = fh.read()
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines.pop()
    records = list(csv.reader(lines))
    if not records:
        return [], []
    header, rows = records[0], []
    for rec in records[1:]:
        if len(rec) != len(header):
            continue
        row = {}
        for key, cell in zip(header, rec):
            try:
                v = float(cell)
            except ValueError:
                continue
            if math.isfinite(v):
                row[key] = v
        if "step" in row:
            rows.append(row)
    rows.sort(key=lambda r: r["step"])
    return header, rows


def default_labels(paths) -> list[str]:
    names = [os.path.basename(os.path.normpath(os.path.abspath(p))) for p in paths]
    if len(set(names)) < len(names):  # a/run b/run: tell them apart by their parent
        names = [os.path.join(*os.path.normpath(os.path.abspath(p)).split(os.sep)[-2:])
                 for p in paths]
    return names


def is_timing(col: str) -> bool:
    return col.endswith("_per_s") or col.endswith("_s") or col in ("elapsed", "time")


def quality_columns(header) -> list[str]:
    """Columns that are neither the base stats nor timings, in file order."""
    return [c for c in header if c and c not in BASE and not is_timing(c)]
