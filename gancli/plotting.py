"""Matplotlib (Agg, headless) figures. Imports no TensorFlow; figures are built with
the object API (no pyplot state), so they can be drawn from any thread."""
from __future__ import annotations

import io

import numpy as np

from gancli import rundir


def _figure(w=6.4, h=4.0, tight=True):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=80, layout="tight" if tight else None)
    if not tight:  # fixed margins: the tight layout engine was 60% of a histogram's cost
        fig.subplots_adjust(left=0.1, right=0.97, top=0.92, bottom=0.12)
    return fig, fig.add_subplot(1, 1, 1)


def save_figure(fig, path: str) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    rundir.write_bytes(path, buf.getvalue())


def dist_histogram(path: str, real: np.ndarray, fake: np.ndarray, noise: np.ndarray,
                   title: str) -> None:
    """Seed 000's show_hist: step histograms of real, generated and input values.
    Drawn every sample_every steps during train-dist, so kept cheap (~0.1 s)."""
    fig, ax = _figure(tight=False)
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


# --- gancli plot: training curves, densities, D outputs, samples (NumPy + matplotlib) ----

REAL_COLOR, FAKE_COLOR = "tab:blue", "tab:red"  # seed 001: REAL blue, FAKE red
D_COLOR, G_COLOR = "tab:blue", "tab:orange"


def _panels(n: int, cols: int = 3, w: float = 4.0, h: float = 3.0, dpi: int = 100):
    """A tight figure with n axes on a grid of `cols` columns (fewer if n is small)."""
    from matplotlib.figure import Figure

    cols = max(1, min(cols, n))
    rows = -(-n // cols)
    fig = Figure(figsize=(w * cols, h * rows), dpi=dpi, layout="tight")
    axes = [fig.add_subplot(rows, cols, i + 1) for i in range(n)]
    return fig, axes


def ema(values, factor: float) -> np.ndarray:
    """Debiased exponential moving average (TensorBoard's smoothing): factor 0 returns
    the values, 0.9 averages over roughly the last ten points."""
    v = np.asarray(values, dtype=np.float64)
    if factor <= 0 or v.size == 0:
        return v.copy()
    out = np.empty_like(v)
    acc = 0.0
    for i, x in enumerate(v):
        acc = factor * acc + (1.0 - factor) * x
        out[i] = acc / (1.0 - factor ** (i + 1))
    return out


def silverman_bandwidth(x) -> float:
    """0.9 min(sd, IQR / 1.34) n^(-1/5); positive even for constant samples."""
    x = np.asarray(x, dtype=np.float64).ravel()
    sd = x.std(ddof=1) if x.size > 1 else 0.0
    q75, q25 = np.percentile(x, [75, 25])
    spread = min(sd, (q75 - q25) / 1.34) or sd
    h = 0.9 * spread * x.size ** -0.2
    return float(h) if h > 0 else 1e-3 * max(1.0, float(np.abs(x).max(initial=0.0)))


def gaussian_kde(x, grid, bandwidth: float | None = None) -> np.ndarray:
    """Gaussian kernel density estimate of the samples `x` evaluated at `grid`."""
    x = np.asarray(x, dtype=np.float64).ravel()
    grid = np.asarray(grid, dtype=np.float64)
    h = silverman_bandwidth(x) if bandwidth is None else float(bandwidth)
    dens = np.zeros(grid.shape)
    for i in range(0, x.size, 2048):  # chunks keep the (grid, chunk) matrix small
        u = (grid[:, None] - x[None, i:i + 2048]) / h
        dens += np.exp(-0.5 * u * u).sum(axis=1)
    return dens / (x.size * h * np.sqrt(2 * np.pi))


def _step_axis(ax) -> None:
    """x axis of training steps: at most ~6 ticks, thousands as 'k' (no overlapping)."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax.set_xlabel("step")
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True, min_n_ticks=2))
    ax.xaxis.set_major_formatter(FuncFormatter(
        lambda v, _: f"{v / 1000:g}k" if abs(v) >= 1000 else f"{v:g}"))


def _marker(n: int) -> dict:
    return {"marker": "o", "markersize": 3} if n <= 40 else {}


def _curve(ax, steps, values, color, label, smooth):
    """Raw values thin and translucent, their EMA on top (or the raw line alone)."""
    steps, values = np.asarray(steps), np.asarray(values)
    if smooth > 0 and len(values) > 1:
        ax.plot(steps, values, color=color, linewidth=0.8, alpha=0.35)
        ax.plot(steps, ema(values, smooth), color=color, linewidth=1.8, label=label,
                **_marker(len(values)))
    else:
        ax.plot(steps, values, color=color, linewidth=1.5, label=label, **_marker(len(values)))


def _raw_key(ax, smooth):
    """A legend entry explaining the translucent lines."""
    if smooth > 0:
        ax.plot([], [], color="gray", linewidth=0.8, alpha=0.5, label="raw (per report)")


def loss_curves(path: str, steps, d_loss, g_loss, *, smooth: float, title: str,
                probability: bool = False) -> None:
    """D and G loss against step: raw and EMA-smoothed."""
    fig, ax = _figure(8.0, 4.5)
    suffix = f" (EMA {smooth:g})" if smooth > 0 else ""
    _curve(ax, steps, d_loss, D_COLOR, f"D loss{suffix}", smooth)
    _curve(ax, steps, g_loss, G_COLOR, f"G loss{suffix}", smooth)
    _raw_key(ax, smooth)
    if probability:  # bce at equilibrium, D(x) = 1/2 everywhere: D = 2 ln 2, G = ln 2
        ax.axhline(2 * np.log(2), color=D_COLOR, linestyle=":", linewidth=1,
                   label="D at equilibrium (2 ln 2)")
        ax.axhline(np.log(2), color=G_COLOR, linestyle=":", linewidth=1,
                   label="G at equilibrium (ln 2)")
    _step_axis(ax)
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    save_figure(fig, path)


def d_outputs(path: str, steps, d_real, d_fake, *, smooth: float, title: str,
              probability: bool = True) -> None:
    """Mean D(real) and D(fake) against step."""
    fig, ax = _figure(8.0, 4.5)
    suffix = f" (EMA {smooth:g})" if smooth > 0 else ""
    _curve(ax, steps, d_real, REAL_COLOR, f"D(real){suffix}", smooth)
    _curve(ax, steps, d_fake, FAKE_COLOR, f"D(fake){suffix}", smooth)
    _raw_key(ax, smooth)
    if probability:
        ax.axhline(0.5, color="gray", linestyle=":", linewidth=1, label="0.5: D cannot tell")
        ax.set_ylim(-0.02, 1.02)
    _step_axis(ax)
    ax.set_ylabel("mean D(x) = sigmoid(logit)" if probability else "mean critic output")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    save_figure(fig, path)


def _log_if_wide(ax, arrays) -> None:
    v = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])
    if v.size and v.min() > 0 and v.max() / v.min() > 20:
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())


def metric_panels(path: str, panels: list[dict], *, title: str) -> None:
    """Small multiples, one axes per panel. A panel is {"title", "ylabel", "lines":
    [(label, steps, values, color)], "refs": [(label, y, color)], "log": bool|None}."""
    fig, axes = _panels(len(panels), cols=3 if len(panels) > 4 else 2)
    for ax, panel in zip(axes, panels):
        for label, steps, values, color in panel["lines"]:
            ax.plot(steps, values, color=color, linewidth=1.5, label=label,
                    **_marker(len(values)))
        for label, y, color in panel.get("refs", ()):
            ax.axhline(y, color=color, linestyle="--", linewidth=1, label=label)
        if panel.get("log", True):
            _log_if_wide(ax, [v for _, _, v, _ in panel["lines"]])
        ax.set_title(panel["title"], fontsize="medium")
        _step_axis(ax)
        ax.set_ylabel(panel.get("ylabel", ""))
        ax.grid(alpha=0.3)
        if len(panel["lines"]) + len(panel.get("refs", ())) > 1:
            ax.legend(loc="best", fontsize="x-small")
    fig.suptitle(title)
    save_figure(fig, path)


def compare_runs(path: str, panels: list[dict], *, title: str, smooth: float = 0.0) -> None:
    """One line per run on each panel ({"title", "ylabel", "runs": [(label, steps,
    values)], "refs": [(label, y)]}); colours follow the run order on every panel."""
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    one = len(panels) == 1
    fig, axes = _panels(len(panels), cols=2, w=8.0 if one else 5.5, h=4.5 if one else 3.8)
    for ax, panel in zip(axes, panels):
        all_values = []
        for i, (label, steps, values) in enumerate(panel["runs"]):
            if len(values):
                _curve(ax, steps, values, cmap(i % 10), label, smooth)
                all_values.append(values)
        for i, (_label, y) in enumerate(panel.get("refs", ())):
            if np.isfinite(y):
                ax.axhline(y, color=cmap(i % 10), linestyle="--", linewidth=1, alpha=0.7)
        if not smooth and all_values and panel.get("log", True):
            _log_if_wide(ax, all_values)
        ax.set_title(panel["title"], fontsize="medium")
        _step_axis(ax)
        ax.set_ylabel(panel.get("ylabel", ""))
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    fig.suptitle(title + (f"  (thin: raw, thick: EMA {smooth:g})" if smooth else ""))
    save_figure(fig, path)


def value_range(*arrays, comps=None):
    lo = min(np.percentile(a, 0.5) for a in arrays)
    hi = max(np.percentile(a, 99.5) for a in arrays)
    if comps:
        lo = min(lo, min(m - 4 * s for m, s in comps))
        hi = max(hi, max(m + 4 * s for m, s in comps))
    pad = 0.05 * (hi - lo or 1.0)
    return lo - pad, hi + pad


def density(path: str, real, fake, target_pdf=None, *, comps=None, title: str) -> None:
    """Seed 001's REAL vs FAKE distribution: histograms, Gaussian KDEs (Silverman
    bandwidth) and, when given, the exact target pdf as a callable of x."""
    real, fake = np.ravel(real), np.ravel(fake)
    lo, hi = value_range(real, fake, comps=comps)
    bins = np.linspace(lo, hi, 81)
    x = np.linspace(lo, hi, 600)
    fig, ax = _figure(8.0, 5.0)
    ax.hist(real, bins=bins, density=True, color=REAL_COLOR, alpha=0.2,
            label=f"REAL histogram (n={real.size})")
    ax.hist(fake, bins=bins, density=True, color=FAKE_COLOR, alpha=0.2,
            label=f"FAKE histogram (n={fake.size})")
    k_real, k_fake = gaussian_kde(real, x), gaussian_kde(fake, x)
    ax.plot(x, k_real, color=REAL_COLOR, linewidth=1.8, label="REAL data (KDE)")
    ax.plot(x, k_fake, color=FAKE_COLOR, linewidth=1.8, label="FAKE data (KDE)")
    top = k_real.max()
    if target_pdf is not None:
        p = target_pdf(x)
        ax.plot(x, p, color="black", linestyle="--", linewidth=1.3, label="target pdf (exact)")
        top = max(top, p.max())
    # a collapsed generator is a spike: keep the real density readable beside it
    ax.set_ylim(0, 1.1 * max(top, min(k_fake.max(), 3 * top)))
    ax.set_xlim(lo, hi)
    ax.set_xlabel("value")
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize="small")
    save_figure(fig, path)


def discriminator_curve(path: str, grid, d_grid, real, fake, *, probability: bool,
                        title: str) -> None:
    """D's output along a grid of values (vector_len 1), over the real and generated
    densities for context."""
    fig, ax = _figure(8.0, 5.0)
    ax2 = ax.twinx()
    k_real, k_fake = gaussian_kde(real, grid), gaussian_kde(fake, grid)
    ax2.fill_between(grid, k_real, color=REAL_COLOR, alpha=0.15, label="REAL density")
    ax2.fill_between(grid, k_fake, color=FAKE_COLOR, alpha=0.15, label="FAKE density")
    ax2.set_ylim(0, 1.1 * max(k_real.max(), min(k_fake.max(), 3 * k_real.max())))
    ax2.set_ylabel("density (shaded)")
    ax.plot(grid, d_grid, color="black", linewidth=2,
            label="D(x) = sigmoid(logit)" if probability else "critic output D(x)")
    if probability:
        ax.axhline(0.5, color="gray", linestyle=":", linewidth=1, label="0.5: D cannot tell")
        ax.set_ylim(-0.02, 1.02)
    ax.set_zorder(ax2.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.set_xlabel("value x")
    ax.set_ylabel("D(x)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=4,
              fontsize="small", frameon=False)
    save_figure(fig, path)


def discriminator_samples(path: str, d_real, d_fake, *, probability: bool, title: str,
                          xlabel: str = "sample index") -> None:
    """Seed 001's Discriminator vs. Generator: D's output for each real and each
    generated sample, in draw order, with their means."""
    d_real, d_fake = np.ravel(d_real), np.ravel(d_fake)
    fig, ax = _figure(8.0, 5.0)
    ax.plot(d_real, color=REAL_COLOR, linewidth=1, label="Discriminated Real Data")
    ax.plot(d_fake, color=FAKE_COLOR, linewidth=1, label="Discriminated Fake Data")
    ax.axhline(d_real.mean(), color=REAL_COLOR, linestyle="--", linewidth=1.2,
               label=f"mean {d_real.mean():.3f}")
    ax.axhline(d_fake.mean(), color=FAKE_COLOR, linestyle="--", linewidth=1.2,
               label=f"mean {d_fake.mean():.3f}")
    if probability:
        ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("D(x) = sigmoid(logit)" if probability else "critic output D(x)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=4, fontsize="small",
              frameon=False)
    save_figure(fig, path)


def images_side_by_side(path: str, images: list, titles: list[str], *,
                        title: str | None = None) -> None:
    """Image arrays (H, W[, C], uint8) in one row, each titled, pixels unsmoothed."""
    aspect = max(img.shape[1] / img.shape[0] for img in images)
    fig, axes = _panels(len(images), cols=len(images), w=5.0 * aspect, h=5.4)
    for ax, img, t in zip(axes, images, titles):
        if img.ndim == 3 and img.shape[2] == 1:
            img = img[..., 0]
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=255,
                  interpolation="nearest")
        ax.set_title(t)
        ax.set_axis_off()
    if title:
        fig.suptitle(title)
    save_figure(fig, path)
