"""A generator's inputs drawn on the host: seeded noise from a --noise spec
('uniform:LO,HI' or 'normal:MU,SD', read by config.parse_noise) and class labels.
NumPy only.

Every fixed input set is drawn here: the training grids and reports, --eval_every,
`generate` and `eval` (draw_inputs), plot's density and the benchmarks' seed-style
loop. Each caller passes its own seeded NumPy Generator, so one purpose's draws never
shift another's. The trainer draws the same spec inside the graph (GANTrainer).
"""
from __future__ import annotations

import math

import numpy as np

from gancli.config import parse_noise
from gancli.errors import ConfigError

Spec = tuple[str, float, float]  # parse_noise's (kind, a, b)


def _spec(noise: str | Spec) -> Spec:
    return parse_noise(noise) if isinstance(noise, str) else noise


def check_truncate(truncate: float | None, noise: str) -> None:
    """--truncate T: positive and finite; with uniform noise at most 1 (see draw_noise)."""
    if truncate is None:
        return
    if not (truncate > 0 and math.isfinite(truncate)):
        raise ConfigError(f"--truncate must be positive, got {truncate:g}")
    if _spec(noise)[0] == "uniform" and truncate > 1:
        raise ConfigError(f"--truncate with uniform noise ({noise}) is the kept fraction of "
                          f"the range, in (0, 1]; got {truncate:g}")


def draw_noise(rng: np.random.Generator, shape, noise: str | Spec,
               truncate: float | None = None) -> np.ndarray:
    """float32 noise of `shape` from a spec string or its parse_noise tuple.

    Truncation trick (truncate=T):
      normal:MU,SD  every component farther than T standard deviations from MU is drawn
                    again until none is (a normal truncated to MU +- T*SD);
      uniform:LO,HI components are drawn from the central fraction T of the range:
                    z = C + T * (z - C), C = (LO + HI) / 2, so T = 1 changes nothing.
    """
    kind, a, b = _spec(noise)
    if kind == "uniform":
        z = rng.uniform(a, b, size=shape)
        if truncate is not None:
            c = (a + b) / 2
            z = c + truncate * (z - c)
    else:
        z = rng.standard_normal(size=shape)
        if truncate is not None:
            bad = np.abs(z) > truncate
            while bad.any():
                z[bad] = rng.standard_normal(int(bad.sum()))
                bad = np.abs(z) > truncate
        z = a + b * z
    return z.astype(np.float32)


def draw_labels(n: int, num_classes: int, rng: np.random.Generator | None = None, *,
                label: int | None = None, probs=None) -> np.ndarray | None:
    """(n,) int32 class labels, or None when the model takes none (num_classes 0).

    label: every sample of that class. probs: class frequencies (num_classes weights,
    normalized here): labels drawn from `rng` with them. Default: 0, 1, ..., C-1 in
    turn, every class equally often (a grid whose column count is a multiple of C then
    holds one class per column).
    """
    if not num_classes:
        return None
    if label is not None:
        return np.full(n, label, dtype=np.int32)
    if probs is None:
        return (np.arange(n) % num_classes).astype(np.int32)
    p = np.asarray(probs, dtype=np.float64)
    if p.shape != (num_classes,) or not np.all(p >= 0) or not p.sum() > 0:
        raise ValueError(f"probs must be {num_classes} non-negative weights, not all 0; "
                         f"got {probs!r}")
    if rng is None:
        raise ValueError("drawing labels with probs needs an rng")
    return rng.choice(num_classes, size=n, p=p / p.sum()).astype(np.int32)


def draw_inputs(n: int, latent_dim: int, noise: str | Spec, num_classes: int, seed, *,
                label: int | None = None, truncate: float | None = None, probs=None
                ) -> tuple[np.ndarray, np.ndarray | None]:
    """(noise (n, latent_dim) float32, labels (n,) int32 or None) from one Generator
    seeded with `seed` (an int or a sequence of ints): the noise first, then any labels
    drawn with `probs` (draw_labels)."""
    rng = np.random.default_rng(seed)
    z = draw_noise(rng, (n, latent_dim), noise, truncate)
    return z, draw_labels(n, num_classes, rng, label=label, probs=probs)
