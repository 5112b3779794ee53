"""How close generated values are to a 1-D target: moments, Wasserstein-1, KS and
per-component mass. NumPy only; the target's CDF is exact, not sampled."""
from __future__ import annotations

import math

import numpy as np

_erf = np.vectorize(math.erf, otypes=[float])

Components = list  # [(mu, sd), ...], equal weights


def cdf(x: np.ndarray, comps: Components) -> np.ndarray:
    """CDF of the equal-weight normal mixture (one component: a normal)."""
    x = np.asarray(x, dtype=np.float64)
    return np.mean([0.5 * (1 + _erf((x - m) / (s * math.sqrt(2)))) for m, s in comps], axis=0)


def pdf(x: np.ndarray, comps: Components) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return np.mean([np.exp(-0.5 * ((x - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))
                    for m, s in comps], axis=0)


def sample(comps: Components, n: int, rng: np.random.Generator) -> np.ndarray:
    k = rng.integers(0, len(comps), n)
    mu, sd = np.array(comps).T
    return mu[k] + sd[k] * rng.standard_normal(n)


def wasserstein1(values: np.ndarray, comps: Components, grid: int = 20001) -> float:
    """W1 = integral |F_n(x) - F(x)| dx, on a fine grid over the union of supports."""
    v = np.sort(np.asarray(values, dtype=np.float64).ravel())
    lo = min(v[0], min(m - 8 * s for m, s in comps))
    hi = max(v[-1], max(m + 8 * s for m, s in comps))
    x = np.linspace(lo, hi, grid)
    fn = np.searchsorted(v, x, side="right") / len(v)
    return float(np.trapezoid(np.abs(fn - cdf(x, comps)), x))


def ks(values: np.ndarray, comps: Components) -> float:
    """Kolmogorov-Smirnov statistic sup |F_n - F|, exact at the sample points."""
    v = np.sort(np.asarray(values, dtype=np.float64).ravel())
    f = cdf(v, comps)
    n = len(v)
    return float(max(np.max(np.arange(1, n + 1) / n - f), np.max(f - np.arange(n) / n)))


def component_mass(values: np.ndarray, comps: Components) -> list[float]:
    """Share of the values each component explains (mean posterior responsibility);
    exactly 1/k for samples of the target itself, in expectation."""
    v = np.asarray(values, dtype=np.float64).ravel()[:, None]
    mu, sd = np.array(comps).T
    logp = -0.5 * ((v - mu) / sd) ** 2 - np.log(sd)
    logp -= logp.max(axis=1, keepdims=True)
    r = np.exp(logp)
    r /= r.sum(axis=1, keepdims=True)
    return [float(m) for m in r.mean(axis=0)]


def summarize(values: np.ndarray, comps: Components) -> dict[str, float]:
    """The metrics row for generated values against the target."""
    v = np.asarray(values, dtype=np.float64).ravel()
    out = {"fake_mean": float(v.mean()), "fake_std": float(v.std()),
           "w1": wasserstein1(v, comps), "ks": ks(v, comps)}
    if len(comps) > 1:
        for i, m in enumerate(component_mass(v, comps)):
            out[f"mass_{i}"] = m
    return out


def target_moments(comps: Components) -> tuple[float, float]:
    mu, sd = np.array(comps).T
    mean = float(mu.mean())
    return mean, float(math.sqrt(np.mean(sd ** 2 + mu ** 2) - mean ** 2))
