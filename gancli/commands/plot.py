"""gancli plot: PNG charts of one or more run folders, under RUN/plots/.

Every run gets losses.png, d_outputs.png and metrics.png from metrics.csv; 1-D runs
add density.png and discriminator.png (seed 001's two result plots), drawn from the
saved generator and discriminator; image runs add samples.png (the latest grid beside
the reals). Several runs also get comparison charts, one line per run, under --out.

A run may still be training (metrics.csv is read once and a torn last line dropped)
or may have been interrupted (plots needing generator files are skipped with a note).
TensorFlow is imported only to draw the two 1-D model plots.
"""
from __future__ import annotations

import argparse
import os
import re
import sys

import numpy as np

from gancli import distmetrics, plotting, tfenv
from gancli.commands import _args
from gancli.commands._runs import Run, default_labels, quality_columns
from gancli.errors import ConfigError, RunDirError

NAME = "plot"
GENERATORS = ("generator.keras", "generator.h5")
DISCRIMINATORS = ("discriminator.keras", "discriminator.h5")
N_VECTORS = 200  # vectors per side in the per-sample discriminator plot
KNOWN = {  # metrics.csv column (reporters/dist.py, evaluation/during.py) -> (title, reading)
    "w1": ("Wasserstein-1 distance to the target", "lower is better"),
    "ks": ("Kolmogorov-Smirnov statistic", "lower is better"),
    "frechet_distance": ("Fréchet distance (classifier features)", "lower is better"),
    "classifier_score": ("classifier score", "higher is better"),
    "mean_confidence": ("mean top-class confidence", "higher is better"),
    "precision": ("precision (k = 3)", "higher is better"),
    "recall": ("recall (k = 3)", "higher is better"),
    "modes_covered": ("classes with >= 5 % of samples", "higher is better"),
    "class_entropy": ("entropy of the class histogram", "higher is better"),
    "swd": ("sliced Wasserstein distance", "lower is better"),
}


class NothingToPlot(RunDirError):
    exit_code = 1


def add_parser(sub) -> None:
    p = sub.add_parser(NAME, help="draw loss, D-output and quality charts of runs as PNGs",
                       description="Draw PNG charts of run folders under RUN/plots/ and print "
                       "their paths: losses.png (D and G loss, raw and smoothed), "
                       "d_outputs.png (D(real), D(fake)), metrics.png (every quality metric in "
                       "metrics.csv); for 1-D runs density.png (real vs generated: histogram, "
                       "KDE, exact target pdf) and discriminator.png (D's output); for image "
                       "runs samples.png (latest grid beside the reals). Several runs also "
                       "get comparison charts (compare_*.png) under --out. Works on runs that "
                       "are still training or were interrupted.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folder(s) holding metrics.csv")
    p.add_argument("--label", action="append", metavar="NAME", default=None,
                   help="legend name of a run; repeat once per RUN, in order "
                        "(default: the folder name)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="folder for the comparison charts when several runs are given "
                        "(default: RUN[0]/plots)")
    p.add_argument("--smooth", type=float, default=0.9, metavar="F",
                   help="EMA smoothing factor of the curves, 0 (none) to below 1 "
                        "(default: 0.9)")
    _args.add_gpu_memory_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not 0.0 <= args.smooth < 1.0:
        raise ConfigError(f"--smooth must be in [0, 1), got {args.smooth:g}")
    labels = args.label or default_labels(args.runs)
    if len(labels) != len(args.runs):
        raise ConfigError(f"got {len(labels)} --label for {len(args.runs)} runs; "
                          "give one --label per RUN, in order")
    runs = [Run(path, label, _note) for path, label in zip(args.runs, labels)]  # all checked first
    tfenv.set_gpu_memory(args.gpu_memory)  # applied if the D plots load TensorFlow
    written: list[str] = []
    for r in runs:
        for path in _plot_run(r, args.smooth):
            print(path, flush=True)
            written.append(path)
    if len(runs) > 1:
        for path in _compare(runs, args.out or os.path.join(args.runs[0], "plots"),
                             args.smooth):
            print(path, flush=True)
            written.append(path)
    elif args.out:
        _note(f"--out is for comparison charts of several runs; {runs[0].path}'s own charts "
              "are in its plots/ folder")
    if not written:
        raise NothingToPlot("nothing to plot yet: " + ", ".join(r.path for r in runs) +
                            " hold no metrics rows and no samples")
    return 0


def _note(msg: str) -> None:
    print(f"gancli {NAME}: note: {msg}", file=sys.stderr, flush=True)


# --- one run ------------------------------------------------------------------------------

def _plot_run(r: Run, smooth: float) -> list[str]:
    out = os.path.join(r.path, "plots")
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        raise RunDirError(f"cannot create {out}: {e.strerror or e}") from None
    written = []

    def path(name):
        written.append(os.path.join(out, name))
        return written[-1]

    if not r.rows:
        _note(f"{r.path}: metrics.csv has no rows yet; skipping losses.png, d_outputs.png "
              "and metrics.png")
    else:
        s, d, g = r.pair("d_loss", "g_loss")
        if len(s):
            plotting.loss_curves(path("losses.png"), s, d, g, smooth=smooth,
                                 title=f"{r.label}: discriminator and generator loss",
                                 probability=r.probability)
        s, dr, df = r.pair("d_real", "d_fake")
        if len(s):
            plotting.d_outputs(path("d_outputs.png"), s, dr, df, smooth=smooth,
                               title=f"{r.label}: discriminator on real and generated "
                                     "batches", probability=r.probability)
        panels = metric_panels(r)
        if panels:
            plotting.metric_panels(path("metrics.png"), panels,
                                   title=f"{r.label}: quality metrics over training")
        else:
            _note(f"{r.path}: no quality metrics in metrics.csv; skipping metrics.png")
    if r.meta.get("kind") == "values" or r.target:
        written += _values_plots(r, out)
    elif r.meta.get("kind") == "images" or os.path.isdir(os.path.join(r.path, "samples")):
        p = _samples_plot(r, out)
        if p:
            written.append(p)
    return written


def metric_panels(r: Run) -> list[dict]:
    """metrics.png panels: fake_X against real_X, all mass_* together, one per other."""
    cols = [c for c in quality_columns(r.header) if r.has(c)]
    panels = []
    masses = [c for c in cols if re.fullmatch(r"mass_\d+", c)]
    for c in cols:
        if c.startswith("real_") and "fake_" + c[5:] in cols:
            continue  # drawn as the reference of fake_X
        if c in masses:
            if c == masses[0]:
                k = len(masses)
                panels.append({"title": "mass per target component (ideal 1/k)",
                               "ylabel": "share of generated values",
                               "lines": [(m, *r.series(m), None) for m in masses],
                               "refs": [(f"1/{k}", 1 / k, "gray")], "log": False})
            continue
        s, v = r.series(c)
        panel = {"title": c, "ylabel": c, "lines": [(c, s, v, "tab:red")], "refs": []}
        if c.startswith("fake_") and "real_" + c[5:] in cols:
            what = c[5:]
            rs, rv = r.series("real_" + what)
            panel.update(title=f"{what} of generated vs. real values", ylabel=what,
                         log=False, lines=[(f"generated ({c})", s, v, plotting.FAKE_COLOR)])
            if np.ptp(rv) <= 1e-9 * max(1.0, abs(rv[0])):
                panel["refs"] = [(f"real ({rv[0]:.3g})", rv[0], plotting.REAL_COLOR)]
            else:
                panel["lines"].append((f"real (real_{what})", rs, rv, plotting.REAL_COLOR))
        elif c in KNOWN:
            title, hint = KNOWN[c]
            panel.update(title=f"{title}\n({hint})", lines=[(c, s, v, "tab:purple")])
        panels.append(panel)
    return panels


def _samples_plot(r: Run, out: str) -> str | None:
    folder = os.path.join(r.path, "samples")
    steps = []
    for name in os.listdir(folder) if os.path.isdir(folder) else ():
        m = re.fullmatch(r"step_(\d+)\.png", name)
        if m:
            steps.append((int(m.group(1)), name))
    if not steps:
        _note(f"{r.path}: no samples/step_*.png yet; skipping samples.png")
        return None
    from PIL import Image

    step, name = max(steps)
    pairs = [(os.path.join(folder, name), f"generated, step {step} (fixed noise)"),
             (os.path.join(folder, "reals.png"), "real training images")]
    images, titles = [], []
    for p, title in pairs:
        if not os.path.isfile(p):
            continue
        try:
            with Image.open(p) as im:
                images.append(np.asarray(im.convert("L" if im.mode in ("L", "1", "I")
                                                    else "RGB")))
            titles.append(title)
        except OSError as e:
            _note(f"{p}: unreadable image, left out ({e})")
    if not images:
        return None
    path = os.path.join(out, "samples.png")
    plotting.images_side_by_side(path, images, titles, title=f"{r.label}: latest samples")
    return path


# --- 1-D runs: the saved models (the only place TensorFlow is loaded) ----------------------

def _values_plots(r: Run, out: str) -> list[str]:
    from gancli.config import parse_noise, parse_target
    from gancli.errors import GancliError
    from gancli.latents import draw_noise

    g_path = r.find(GENERATORS)
    if g_path is None:
        _note(f"{r.path}: no generator.keras yet (training unfinished or interrupted); "
              "skipping density.png and discriminator.png")
        return []
    try:
        comps = parse_target(r.target or "")
        noise = parse_noise(r.meta.get("noise") or r.cfg.get("noise") or "uniform:0,1")
    except GancliError as e:
        _note(f"{r.path}: skipping density.png and discriminator.png: {e}")
        return []
    G = _load_model(g_path)
    if G is None:
        return []
    latent_dim = int(r.meta.get("latent_dim") or r.cfg.get("latent_dim")
                     or G.input_shape[-1])
    vector_len = int(G.output_shape[-1])
    n = int(r.cfg.get("eval_samples") or 10000)
    rng = np.random.default_rng([int(r.cfg.get("seed") or 0), 7])
    z = draw_noise(rng, (max(-(-n // vector_len), N_VECTORS), latent_dim), noise)
    fake_vecs = _predict(G, z)
    fake = fake_vecs.ravel()[:n]
    real = distmetrics.sample(comps, n, rng)
    stats = distmetrics.summarize(fake, comps)
    step = r.meta.get("step") or (int(r.rows[-1]["step"]) if r.rows else "?")
    written = [os.path.join(out, "density.png")]
    plotting.density(written[0], real, fake, lambda x: distmetrics.pdf(x, comps), comps=comps,
                     title=f"REAL vs. FAKE distribution: {r.label}, step {step}\n"
                           f"target {r.target}; W1 {stats['w1']:.3f}, KS {stats['ks']:.3f}")

    d_path = r.find(DISCRIMINATORS)
    if d_path is None:
        _note(f"{r.path}: no discriminator.keras; skipping discriminator.png")
        return written
    D = _load_model(d_path)
    if D is None:
        return written
    if D.input_shape[-1] != vector_len:
        _note(f"{d_path} takes vectors of {D.input_shape[-1]}, the generator makes "
              f"{vector_len}; skipping discriminator.png")
        return written
    prob = r.probability
    title = f"Discriminator vs. Generator: {r.label}, step {step}"
    path = os.path.join(out, "discriminator.png")
    if vector_len == 1:
        lo, hi = plotting.value_range(real, fake, comps=comps)
        grid = np.linspace(lo, hi, 400)
        d = _d_output(D, grid[:, None], prob)
        plotting.discriminator_curve(path, grid, d, real, fake, probability=prob,
                                     title=title + "\nD's output along the value axis")
    else:
        real_vecs = distmetrics.sample(comps, N_VECTORS * vector_len, rng)
        real_vecs = real_vecs.reshape(N_VECTORS, vector_len).astype(np.float32)
        plotting.discriminator_samples(
            path, _d_output(D, real_vecs, prob), _d_output(D, fake_vecs[:N_VECTORS], prob),
            probability=prob, xlabel=f"vector index (each vector: {vector_len} values)",
            title=title + f"\nD's output on {N_VECTORS} real and {N_VECTORS} generated vectors")
    written.append(path)
    return written


def _load_model(path: str):
    """The saved model at `path` (saved_models.load_model), or None with a note."""
    from gancli import saved_models
    from gancli.errors import CheckpointError
    from gancli.tfenv import import_quietly

    import_quietly()
    try:
        return saved_models.load_model(path)
    except CheckpointError as e:
        _note(f"{e}; skipping the plots that need it")
        return None


def _predict(model, x: np.ndarray) -> np.ndarray:
    out = [np.asarray(model(x[i:i + 4096], training=False)) for i in range(0, len(x), 4096)]
    return np.concatenate(out).astype(np.float64)


def _d_output(D, x: np.ndarray, probability: bool) -> np.ndarray:
    logit = _predict(D, x).ravel()
    return 1.0 / (1.0 + np.exp(-np.clip(logit, -60, 60))) if probability else logit


# --- several runs -------------------------------------------------------------------------

def _compare(runs: list[Run], out: str, smooth: float) -> list[str]:
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        raise RunDirError(f"cannot create {out}: {e.strerror or e}") from None
    written = []
    with_rows = [r for r in runs if r.rows]
    if len(with_rows) < 2:
        _note("fewer than two runs have metrics rows; no comparison charts")
        return written
    names = ", ".join(r.label for r in runs)
    panels = [{"title": f"{who} loss", "ylabel": "loss",
               "runs": [(r.label, *r.series(col)) for r in runs]}
              for who, col in (("discriminator", "d_loss"), ("generator", "g_loss"))]
    panels += [{"title": f"mean {who}", "ylabel": who,
                "runs": [(r.label, *r.series(col)) for r in runs]}
               for who, col in (("D(real)", "d_real"), ("D(fake)", "d_fake"))]
    written.append(os.path.join(out, "compare_losses.png"))
    plotting.compare_runs(written[-1], panels, title=f"losses and D outputs: {names}",
                          smooth=smooth)
    shared = []
    for c in dict.fromkeys(c for r in runs for c in quality_columns(r.header)):
        if sum(r.has(c) for r in runs) >= 2 and not (
                c.startswith("real_") and any(r.has("fake_" + c[5:]) for r in runs)):
            shared.append(c)
    for c in shared:
        title, hint = KNOWN.get(c, (c, ""))
        panel = {"title": f"{title} ({hint})" if hint else title, "ylabel": c,
                 "runs": [(r.label, *r.series(c)) for r in runs],
                 "log": not c.startswith(("fake_", "mass_"))}
        if c.startswith("fake_"):
            real = "real_" + c[5:]
            panel["title"] = f"{c[5:]} of generated values (dashed: real)"
            panel["refs"] = [(r.label, float(np.mean(r.series(real)[1])))
                             if r.has(real) else (r.label, np.nan) for r in runs]
        written.append(os.path.join(out, f"compare_{re.sub(r'[^A-Za-z0-9_.-]', '_', c)}.png"))
        plotting.compare_runs(written[-1], [panel], title=f"{c}: {names}")
    return written
