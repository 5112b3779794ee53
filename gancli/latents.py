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


# --- latent walks (`generate --interpolate`) ----------------------------------------------

def lerp(a, b, t) -> np.ndarray:
    """Straight line from a (t = 0) to b (t = 1), float32; t a scalar or an array that
    broadcasts against a[..., :1] (one weight per point).

    For uniform noise: the cube [LO, HI]^D is convex, so every point of the line is
    one the generator saw in training, and a flat density has no centre to avoid.
    Computed as (1 - t) a + t b, so t = 0 and t = 1 give a and b exactly, and clipped
    to the box a and b span, so rounding never steps out of the noise range.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    t = np.asarray(t, np.float64)
    z = (1.0 - t) * a + t * b
    return np.clip(z, np.minimum(a, b), np.maximum(a, b)).astype(np.float32)


def slerp(a, b, t) -> np.ndarray:
    """Spherical interpolation from a (t = 0) to b (t = 1), float32, for normal noise
    (vectors measured from the noise mean).

    p(t) = sin((1 - t) W) / sin W * a + sin(t W) / sin W * b, W the angle between a and
    b (White 2016, "Sampling generative networks"): p stays in the plane of a and b and
    turns from a's direction to b's at a constant rate; with |a| = |b| it runs along
    the arc of that sphere. A Gaussian in D dimensions puts nearly all its mass near
    the sphere of radius sqrt(D) * SD, so the walk keeps the typical norm where a
    straight line would cut through the improbable centre (its midpoint of two
    orthogonal draws has 0.71 x the norm). t = 0 and 1 give a and b exactly; (nearly)
    parallel or opposite a and b, whose plane is undefined, fall back to lerp.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    t = np.asarray(t, np.float64)
    na = np.linalg.norm(a, axis=-1, keepdims=True)
    nb = np.linalg.norm(b, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.clip(np.sum(a * b, axis=-1, keepdims=True) / (na * nb), -1.0, 1.0)
        w = np.arccos(cos)
        s = np.sin(w)
        ok = np.isfinite(cos) & (s > 1e-6)
        safe = np.where(ok, s, 1.0)
        z = np.sin((1.0 - t) * w) / safe * a + np.sin(t * w) / safe * b
    z = np.where(ok, z, (1.0 - t) * a + t * b)
    return z.astype(np.float32)


def walk(points, steps: int, noise: str | Spec, *, loop: bool) -> np.ndarray:
    """The path through points (..., K, D), `steps` points per segment, t = j / steps:
    slerp about the mean for normal noise, lerp for uniform noise.

    loop: K segments, the last one back to the first point, K * steps points that
    end just before the first one again (an animation that repeats without a jump);
    else K - 1 segments and the last point itself, (K - 1) * steps + 1 points.
    Returns (..., points on the path, D) float32; every input point is on it exactly.
    """
    points = np.asarray(points, np.float32)
    k = points.shape[-2]
    if k < 2 or steps < 1:
        raise ValueError(f"a walk needs at least 2 points and 1 step, got {k} and {steps}")
    kind, mean, _ = _spec(noise)
    start = points if loop else points[..., :-1, :]
    end = np.roll(points, -1, axis=-2) if loop else points[..., 1:, :]
    t = (np.arange(steps, dtype=np.float64) / steps)[:, None]  # (steps, 1)
    a, b = start[..., :, None, :], end[..., :, None, :]  # (..., segments, 1, D)
    if kind == "normal":
        path = slerp(a - mean, b - mean, t) + np.float32(mean)
        path = np.where(t == 0, a, path)  # exact start points, + mean - mean aside
    else:
        path = lerp(a, b, t)
    path = path.reshape(*points.shape[:-2], -1, points.shape[-1])
    if not loop:
        path = np.concatenate([path, points[..., -1:, :]], axis=-2)
    return path.astype(np.float32)
