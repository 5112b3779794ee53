"""Samples from a loaded generator (see gancli.saved_models): draw noise, generate,
optionally rank candidates by the discriminator saved beside it, walk between latent
points (--interpolate), and write PNG / npz files.

Keras and matplotlib are imported inside the functions that need them. Noise and labels
come from gancli.latents (draw_inputs, walk), NumPy's PCG64 generator seeded with the
user's seed, so the same seed gives the same samples whichever file format the
generator was saved in.
"""
from __future__ import annotations

import math
import os

import numpy as np

from gancli import rundir, sampling
from gancli.config import parse_target
from gancli.errors import GancliError, RunDirError
from gancli.latents import draw_inputs, draw_labels, draw_noise, walk
from gancli.saved_models import GeneratorInfo, split_inputs

NICE_FACTOR = 20  # --nice draws this many candidates per kept sample (keras-dcgan)
BATCH = 256  # samples per generator / discriminator call


# --- running the models -------------------------------------------------------------------

def _feed(model, x, y, x_idx, y_idx):
    if y_idx is None:
        return x
    feed = [None, None]
    feed[x_idx], feed[y_idx] = x, y
    return feed


def generate(model, z: np.ndarray, y: np.ndarray | None) -> np.ndarray:
    """G(z[, y]) in inference mode, BATCH samples per call, as float32 NumPy."""
    from keras import ops

    z_idx, y_idx = split_inputs(model)
    out = []
    for i in range(0, len(z), BATCH):
        yb = None if y is None else y[i:i + BATCH]
        out.append(ops.convert_to_numpy(model(_feed(model, z[i:i + BATCH], yb, z_idx, y_idx),
                                              training=False)))
    return np.concatenate(out).astype(np.float32)


def score(D, G, z: np.ndarray, y: np.ndarray | None, idx: tuple[int, int | None]
          ) -> np.ndarray:
    """D(G(z[, y])[, y]) logits, float32 (n,), batch by batch (images are not kept).
    An ACGAN D returns [logit, class logits]: the ranking uses the logit."""
    from keras import ops

    x_idx, y_idx = idx
    out = []
    for i in range(0, len(z), BATCH):
        yb = None if y is None else y[i:i + BATCH]
        x = generate(G, z[i:i + BATCH], yb)
        d = D(_feed(D, x, yb, x_idx, y_idx), training=False)
        out.append(ops.convert_to_numpy(d[0] if isinstance(d, (list, tuple)) else d))
    return np.concatenate(out).reshape(len(z)).astype(np.float32)


def pick_nice(scores: np.ndarray, labels: np.ndarray | None, n: int) -> np.ndarray:
    """Indices of the n candidates with the highest D logits, best first.

    With labels (a conditional model), slot i keeps the class of candidate i, so the
    kept samples have the class mix of the first n candidates (the mix `generate` draws
    without --nice: in turn, with the training frequencies, or one --label); each class
    fills its slots with its own best candidates, best first. NaN scores rank last.
    """
    s = np.where(np.isnan(scores), -np.inf, scores)
    if labels is None:
        return np.argsort(-s, kind="stable")[:n]
    slots = labels[:n]
    picked = np.empty(n, dtype=np.int64)
    for c in np.unique(slots):
        want = np.flatnonzero(slots == c)
        cand = np.flatnonzero(labels == c)  # holds the slots' own candidates at least
        picked[want] = cand[np.argsort(-s[cand], kind="stable")][: len(want)]
    return picked


def labels_for(info: GeneratorInfo, label: str | None, mode: str = "data"
               ) -> tuple[int | None, list[float] | None, str]:
    """--label NAME|K and --labels data|uniform -> (the one class or None, class
    frequencies to draw with or None for classes in turn, a phrase saying which)."""
    if label is not None:
        k = info.class_index(label)
        names = info.class_names
        return k, None, f"class {k}" + (f" ({names[k]})" if names else "")
    if not info.num_classes:
        return None, None, "none"
    if mode == "data" and info.class_frequencies:
        return None, info.class_frequencies, "training frequencies"
    return None, None, "in turn"


def sample(G, info: GeneratorInfo, n: int, seed: int, label: int | None = None,
           truncate: float | None = None, D=None, d_idx=None, probs=None
           ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """-> (G's outputs (n, ...) float32, labels (n,) or None, D logits (n,) or None).

    Labels (conditional models): all `label`; else drawn with the class frequencies
    `probs` (labels_for: generator.json's class_frequencies); else classes 0, 1, ...,
    C-1 in turn.
    With D (--nice): NICE_FACTOR * n candidates from the same seed, ranked by D.
    """
    if D is None:
        z, y = draw_inputs(n, info.latent_dim, info.noise, info.num_classes, seed,
                           label=label, truncate=truncate, probs=probs)
        return generate(G, z, y), y, None
    zc, yc = draw_inputs(n * NICE_FACTOR, info.latent_dim, info.noise, info.num_classes,
                         seed, label=label, truncate=truncate, probs=probs)
    scores = score(D, G, zc, yc, d_idx)
    keep = pick_nice(scores, yc, n)
    y = None if yc is None else yc[keep]
    # regenerated rather than kept from scoring: 20x the images need not fit in memory
    return generate(G, zc[keep], y), y, scores[keep]


def interpolate(G, info: GeneratorInfo, points: int, frames: int, strip_steps: int, seed: int,
                walks: int = 1, label: int | None = None, truncate: float | None = None
                ) -> dict:
    """A latent walk (`generate --interpolate`): `walks` walks, each through `points`
    noise points drawn from `seed` (latents.walk: slerp for normal noise, lerp for
    uniform). A conditional model without `label` takes each walk once per class:
    rows = walks x C, walk-major, and the C rows of a walk share its noise, so they
    move together and differ only by class.

    Returns a dict of arrays: frames (points * frames, rows, ...) float32, the GIF's,
    looping back to the first point; strip (rows, S, ...) float32, the path from the
    first point to the last with strip_steps steps per segment; points
    (rows, points, latent_dim) float32; labels (rows,) int32 when conditional.
    """
    rng = np.random.default_rng(seed)
    z = draw_noise(rng, (walks, points, info.latent_dim), info.noise, truncate)
    c = info.num_classes
    if c and label is None:
        z = np.repeat(z, c, axis=0)
        y = np.tile(np.arange(c, dtype=np.int32), walks)
    else:
        y = draw_labels(walks, c, label=label)
    out = {"points": z}
    for key, path in (("frames", walk(z, frames, info.noise, loop=True)),
                      ("strip", walk(z, strip_steps, info.noise, loop=False))):
        rows, length = path.shape[:2]
        yy = None if y is None else np.repeat(y, length)
        x = generate(G, path.reshape(rows * length, -1), yy)
        out[key] = x.reshape(rows, length, *x.shape[1:])
    out["frames"] = np.swapaxes(out["frames"], 0, 1)
    if y is not None:
        out["labels"] = y
    return out


# --- writing ------------------------------------------------------------------------------

def grid_cols(n: int, num_classes: int, cyclic: bool) -> int | None:
    """Columns of a grid: with cyclic labels a multiple of the class count, so every
    column holds one class; else None (sampling.make_grid's near-square default)."""
    if not (cyclic and num_classes):
        return None
    return min(n, num_classes * max(1, round(math.sqrt(n) / num_classes)))


def save_separate(folder: str, images_u8: np.ndarray) -> list[str]:
    width = max(4, len(str(len(images_u8) - 1)))
    paths = []
    for i, img in enumerate(images_u8):
        path = os.path.join(folder, f"sample_{i:0{width}d}.png")
        sampling.save_png(path, img)
        paths.append(path)
    return paths


def save_npz(path: str, **arrays) -> None:
    with rundir.atomic_path(path) as tmp:
        np.savez(tmp, **arrays)


def save_histogram(path: str, values: np.ndarray, target: str | None, title: str) -> None:
    """Histogram of generated values, with the target density when the sidecar names it."""
    from matplotlib.figure import Figure

    from gancli import plotting

    fig = Figure(figsize=(6.4, 4.0), dpi=80, layout="tight")
    ax = fig.add_subplot(1, 1, 1)
    v = np.ravel(values)
    v = v[np.isfinite(v)]
    if v.size:
        ax.hist(v, bins=80, density=True, histtype="stepfilled", alpha=0.6, label="Generated")
    comps = None
    if target:
        try:
            comps = parse_target(target)
        except GancliError:
            comps = None
    if comps:
        lo = min([m - 4 * s for m, s in comps] + ([v.min()] if v.size else []))
        hi = max([m + 4 * s for m, s in comps] + ([v.max()] if v.size else []))
        xs = np.linspace(lo, hi, 400)
        pdf = sum(np.exp(-0.5 * ((xs - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))
                  for m, s in comps) / len(comps)
        ax.plot(xs, pdf, color="black", linewidth=1.2, label=f"target {target}")
    ax.set_xlabel("value")
    ax.set_ylabel("density")
    ax.set_title(title if v.size else f"{title} (no finite values)")
    if v.size or comps:
        ax.legend(loc="upper right")
    plotting.save_figure(fig, path)


def make_folder(folder: str) -> None:
    try:
        os.makedirs(folder, exist_ok=True)
        if not os.access(folder, os.W_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as e:
        raise RunDirError(f"cannot write to output folder {folder}: {e.strerror or e}"
                          ) from None
