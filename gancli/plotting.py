"""Matplotlib (Agg, headless) figures. Imports no TensorFlow; figures are built with
the object API (no pyplot state), so they can be drawn from any thread."""
from __future__ import annotations

import io

import numpy as np

from gancli import rundir


def _figure(w=6.4, h=4.0):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=80, layout="tight")
    return fig, fig.add_subplot(1, 1, 1)


def save_figure(fig, path: str) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    rundir.write_bytes(path, buf.getvalue())


def dist_histogram(path: str, real: np.ndarray, fake: np.ndarray, noise: np.ndarray,
                   title: str) -> None:
    """Seed 000's show_hist: step histograms of real, generated and input values."""
    fig, ax = _figure()
    lo = min(np.percentile(real, 0.1), np.percentile(fake, 0.1), noise.min())
    hi = max(np.percentile(real, 99.9), np.percentile(fake, 99.9), noise.max())
    bins = np.linspace(lo, hi, 80)
    for data, label in ((real, "Real"), (fake, "Generated"), (noise, "Input")):
        ax.hist(np.ravel(data), bins=bins, histtype="step", density=True, label=label,
                linewidth=1.4)
    ax.set_xlabel("value")
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend(loc="upper right")
    save_figure(fig, path)
