"""Samples from a saved generator: find and load it, learn what it expects (from
generator.json beside it, or from the model itself), draw noise, generate, optionally
rank candidates by the discriminator saved beside it, and write PNG / npz files.

Keras is imported inside the functions that need it, so the path and sidecar helpers
stay cheap. Noise comes from NumPy's PCG64 generator seeded with the user's seed, so the
same seed gives the same samples whichever file format the generator was saved in.
"""
from __future__ import annotations

import json
import math
import os
import zipfile
from dataclasses import dataclass, field

import numpy as np

from gancli import rundir, sampling
from gancli.config import parse_noise, parse_target
from gancli.errors import CheckpointError, ConfigError, GancliError, RunDirError

MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
DEFAULT_NOISE = "uniform:-1,1"  # SPEC §1: images and the mixture preset use U(-1, 1)
DEFAULT_VALUE_RANGE = (-1.0, 1.0)  # tanh output of every image generator
NICE_FACTOR = 20  # --nice draws this many candidates per kept sample (keras-dcgan)
BATCH = 256  # samples per generator / discriminator call


# --- finding and reading the files --------------------------------------------------------

def find_weights(path: str) -> str:
    """A model file, or the generator inside a run folder (generator.keras, else .h5)."""
    if os.path.isdir(path):
        for name in ("generator.keras", "generator.h5"):
            if os.path.isfile(os.path.join(path, name)):
                return os.path.join(path, name)
        raise CheckpointError(f"no generator.keras or generator.h5 in folder {path}")
    if not os.path.exists(path):
        raise CheckpointError(f"weights file {path} not found")
    if not path.lower().endswith(MODEL_SUFFIXES):
        raise CheckpointError(f"{path}: expected a .keras or .h5 model file (or a run folder)")
    return path


def sidecar_path(model_path: str) -> str:
    """generator.h5 -> generator.json (same folder, same stem)."""
    return os.path.splitext(model_path)[0] + ".json"


def read_sidecar(model_path: str) -> dict | None:
    """The JSON beside a model file, or None when there is none."""
    path = sidecar_path(model_path)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            meta = json.load(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path} is not readable JSON: {_one_line(e)}") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path} should hold a JSON object, got {type(meta).__name__}")
    return meta


def load_model(path: str):
    """keras.models.load_model with any failure turned into one CheckpointError line."""
    import keras

    import gancli.models.layers  # noqa: F401  (registers gancli's layers for D files)

    if path.lower().endswith(".keras") and not zipfile.is_zipfile(path):
        # keras reports this as "File not found", which misleads
        raise CheckpointError(f"cannot load {path}: not a readable Keras model (not a complete "
                              ".keras zip archive: truncated, or another kind of file)")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as e:  # keras, h5py, zipfile and OS errors alike
        raise CheckpointError(f"cannot load {path}: not a readable Keras model "
                              f"({_one_line(e)})") from None
    if not isinstance(model, keras.Model) or len(model.outputs) != 1:
        raise CheckpointError(f"{path} is not a single-output Keras model")
    return model


def _one_line(e: BaseException, limit: int = 160) -> str:
    lines = [s.strip() for s in str(e).splitlines() if s.strip()]
    text = lines[0] if lines else type(e).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- what the generator expects -----------------------------------------------------------

@dataclass
class GeneratorInfo:
    """What a generator takes and makes. Sidecar keys per SPEC §4."""

    path: str
    latent_dim: int
    noise: str  # "uniform:LO,HI" or "normal:MU,SD"
    kind: str  # "images" or "values"
    num_classes: int  # > 0: inputs are [noise, label]
    value_range: tuple[float, float] | None  # images: what the output layer produces
    image_shape: tuple[int, int, int] | None  # images only
    output_shape: tuple[int, ...] = ()  # one sample: (H, W, C) or (vector_len,)
    target: str | None = None  # values: the distribution it was trained on, if known
    notes: list[str] = field(default_factory=list)  # defaults assumed, for a stderr line

    @property
    def noise_params(self) -> tuple[str, float, float]:
        return parse_noise(self.noise)


def _is_label(t) -> bool:
    return t.name == "label" or ("int" in str(t.dtype) and len(t.shape) <= 2)


def _split_inputs(model):
    """-> (index of the noise input, index of the label input or None)."""
    inputs = model.inputs
    if len(inputs) == 1:
        return 0, None
    if len(inputs) == 2:
        labels = [i for i, t in enumerate(inputs) if _is_label(t)]
        if len(labels) == 1:
            return 1 - labels[0], labels[0]
    names = ", ".join(t.name for t in inputs)
    raise CheckpointError(f"expected a generator taking noise (and optionally a label), "
                          f"but the model takes {len(inputs)} inputs ({names})")


def _looks_like_discriminator(model) -> bool:
    names = {t.name for t in model.inputs}
    if "noise" in names:
        return False
    takes_sample = bool(names & {"image", "values"}) or any(len(t.shape) > 2
                                                          for t in model.inputs)
    return takes_sample and tuple(model.outputs[0].shape)[1:] in ((1,), ())


def _embedding_classes(model) -> int | None:
    import keras

    embeddings = [layer for layer in model.layers if isinstance(layer, keras.layers.Embedding)]
    named = [e for e in embeddings if e.name == "label_embedding"]
    return (named or embeddings)[0].input_dim if embeddings else None


def describe(model, path: str, meta: dict | None) -> GeneratorInfo:
    """Check the model is a generator and combine what it and its sidecar say.

    Raises CheckpointError for a discriminator, a model of unexpected shape, or a
    sidecar that disagrees with the model.
    """
    side = os.path.basename(sidecar_path(path))
    what = meta or {}
    if what.get("model") == "discriminator" or _looks_like_discriminator(model):
        raise CheckpointError(f"{path} is a discriminator, not a generator; pass the generator "
                              "saved beside it (generator.h5 or generator.keras)")
    z_idx, y_idx = _split_inputs(model)
    z = model.inputs[z_idx]
    if len(z.shape) != 2 or z.shape[1] is None:
        raise CheckpointError(f"{path}: expected a noise input of shape (batch, latent_dim), "
                              f"got {tuple(z.shape)}")
    latent = int(z.shape[1])
    if "latent_dim" in what and what["latent_dim"] != latent:
        raise CheckpointError(f"{side} says latent_dim {what['latent_dim']} but the model "
                              f"takes {latent}")

    classes = _embedding_classes(model) if y_idx is not None else 0
    said = what.get("num_classes")
    if y_idx is None and said:
        raise CheckpointError(f"{side} says num_classes {said} but the model takes no label")
    if y_idx is not None:
        if said is not None and (not said or (classes is not None and said != classes)):
            raise CheckpointError(f"{side} says num_classes {said} but the model takes a label "
                                  f"with {classes if classes is not None else 'some'} classes")
        classes = classes if classes is not None else said
        if not classes:
            raise CheckpointError(f"{path} takes a label but its number of classes is unknown "
                                  f"(no {side} and no Embedding layer)")

    out = tuple(model.outputs[0].shape)[1:]
    inferred_kind = "images" if len(out) == 3 else "values" if len(out) == 1 else None
    kind = what.get("kind", inferred_kind)
    if kind not in ("images", "values") or kind != inferred_kind:
        raise CheckpointError(f"{path} makes outputs of shape {out}; expected images (H, W, C) "
                              "or values (n,)" + (f" ({side} says kind {kind!r})"
                                                  if "kind" in what else ""))
    image_shape = tuple(int(d) for d in out) if kind == "images" else None
    if kind == "images" and what.get("image_shape") is not None \
            and tuple(what["image_shape"]) != image_shape:
        raise CheckpointError(f"{side} says image_shape {list(what['image_shape'])} but the "
                              f"model makes {list(image_shape)}")

    assumed = []
    noise = what.get("noise")
    if noise is None:
        noise = DEFAULT_NOISE
        assumed.append(f"noise {noise}")
    try:
        parse_noise(noise)
    except ConfigError as e:
        raise CheckpointError(f"{side}: {e}") from None
    value_range = None
    if kind == "images":
        vr = what.get("value_range")
        if vr is None:
            vr = DEFAULT_VALUE_RANGE
            assumed.append(f"value range [{vr[0]:g}, {vr[1]:g}]")
        try:
            value_range = (float(vr[0]), float(vr[1]))
            ok = len(vr) == 2 and value_range[1] > value_range[0]
        except (TypeError, ValueError, IndexError):
            ok = False
        if not ok:
            raise CheckpointError(f"{side}: value_range must be [low, high], got {vr!r}")

    notes = []
    if assumed:
        where = f"no {side} beside {os.path.basename(path)}" if meta is None \
            else f"{side} lacks them"
        read = f"latent_dim {latent}" + (f", {classes} classes" if classes else "")
        notes.append(f"{where}: assumed {' and '.join(assumed)} ({read} read from the model)")
    return GeneratorInfo(path=path, latent_dim=latent, noise=noise, kind=kind,
                         num_classes=int(classes or 0), value_range=value_range,
                         image_shape=image_shape, output_shape=tuple(int(d) for d in out),
                         target=what.get("target"), notes=notes)


# --- noise and labels ---------------------------------------------------------------------

def check_truncate(truncate: float | None, noise: str) -> None:
    if truncate is None:
        return
    kind = parse_noise(noise)[0]
    if not (truncate > 0 and math.isfinite(truncate)):
        raise ConfigError(f"--truncate must be positive, got {truncate:g}")
    if kind == "uniform" and truncate > 1:
        raise ConfigError(f"--truncate with uniform noise ({noise}) is the kept fraction of "
                          f"the range, in (0, 1]; got {truncate:g}")


def draw_noise(rng: np.random.Generator, shape, noise: str, truncate: float | None = None
               ) -> np.ndarray:
    """float32 noise of `shape` from 'uniform:LO,HI' or 'normal:MU,SD'.

    Truncation trick (truncate=T):
      normal:MU,SD  every component farther than T standard deviations from MU is drawn
                    again until none is (a normal truncated to MU +- T*SD);
      uniform:LO,HI components are drawn from the central fraction T of the range:
                    z = C + T * (z - C), C = (LO + HI) / 2, so T = 1 changes nothing.
    """
    kind, a, b = parse_noise(noise)
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


def draw_inputs(n: int, latent_dim: int, noise: str, num_classes: int, seed: int,
                label: int | None = None, truncate: float | None = None
                ) -> tuple[np.ndarray, np.ndarray | None]:
    """(noise (n, latent_dim) float32, labels (n,) int32 or None) for `seed`.

    Labels are all `label`, or 0, 1, ..., num_classes-1 repeated when label is None.
    """
    rng = np.random.default_rng(seed)
    z = draw_noise(rng, (n, latent_dim), noise, truncate)
    if not num_classes:
        return z, None
    if label is not None:
        return z, np.full(n, label, dtype=np.int32)
    return z, (np.arange(n) % num_classes).astype(np.int32)


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

    z_idx, y_idx = _split_inputs(model)
    out = []
    for i in range(0, len(z), BATCH):
        yb = None if y is None else y[i:i + BATCH]
        out.append(ops.convert_to_numpy(model(_feed(model, z[i:i + BATCH], yb, z_idx, y_idx),
                                              training=False)))
    return np.concatenate(out).astype(np.float32)


def find_discriminator(generator_path: str, explicit: str | None = None) -> str:
    """--discriminator FILE, else discriminator.{keras,h5} beside the generator
    (the generator's own format first)."""
    if explicit:
        if not os.path.isfile(explicit):
            raise CheckpointError(f"discriminator file {explicit} not found")
        return explicit
    folder = os.path.dirname(os.path.abspath(generator_path))
    ext = os.path.splitext(generator_path)[1].lower()
    for suffix in sorted((".keras", ".h5"), key=lambda s: s != ext):
        path = os.path.join(folder, "discriminator" + suffix)
        if os.path.isfile(path):
            return path
    raise CheckpointError(f"--nice needs the discriminator beside the generator, but "
                          f"{folder} has no discriminator.keras or discriminator.h5 "
                          "(give one with --discriminator FILE)")


def check_discriminator(D, path: str, info: GeneratorInfo) -> tuple[int, int | None]:
    """-> (sample input index, label input index or None) after checking D fits G."""
    inputs = D.inputs
    if len(inputs) == 1:
        x_idx, y_idx = 0, None
    elif len(inputs) == 2 and sum(_is_label(t) for t in inputs) == 1:
        y_idx = next(i for i, t in enumerate(inputs) if _is_label(t))
        x_idx = 1 - y_idx
    else:
        raise CheckpointError(f"{path} does not look like a discriminator "
                              f"(it takes {len(inputs)} inputs)")
    if inputs[x_idx].name == "noise":
        raise CheckpointError(f"{path} is a generator, not a discriminator")
    takes = tuple(inputs[x_idx].shape)[1:]
    if takes != info.output_shape:
        raise CheckpointError(f"{path} does not fit the generator: it takes {takes}, the "
                              f"generator makes {info.output_shape}")
    if y_idx is not None and not info.num_classes:
        raise CheckpointError(f"{path} takes a class label but the generator does not")
    out = tuple(D.outputs[0].shape)[1:]
    if out not in ((1,), ()):
        raise CheckpointError(f"{path} does not look like a discriminator: it returns {out}, "
                              "not one logit per sample")
    return x_idx, y_idx


def score(D, G, z: np.ndarray, y: np.ndarray | None, idx: tuple[int, int | None]
          ) -> np.ndarray:
    """D(G(z[, y])[, y]) logits, float32 (n,), batch by batch (images are not kept)."""
    from keras import ops

    x_idx, y_idx = idx
    out = []
    for i in range(0, len(z), BATCH):
        yb = None if y is None else y[i:i + BATCH]
        x = generate(G, z[i:i + BATCH], yb)
        out.append(ops.convert_to_numpy(D(_feed(D, x, yb, x_idx, y_idx), training=False)))
    return np.concatenate(out).reshape(len(z)).astype(np.float32)


def pick_nice(scores: np.ndarray, labels: np.ndarray | None, n: int, num_classes: int,
              cyclic: bool) -> np.ndarray:
    """Indices of the n candidates with the highest D logits, best first.

    With cyclic labels (conditional model, no --label), slot i needs class i % C, so
    each class keeps its own best candidates, best first, in the slots of that class.
    NaN scores rank last.
    """
    s = np.where(np.isnan(scores), -np.inf, scores)
    if not (cyclic and num_classes):
        return np.argsort(-s, kind="stable")[:n]
    slots = np.arange(n) % num_classes
    picked = np.empty(n, dtype=np.int64)
    for c in range(num_classes):
        want = np.flatnonzero(slots == c)
        cand = np.flatnonzero(labels == c)
        picked[want] = cand[np.argsort(-s[cand], kind="stable")][: len(want)]
    return picked


def sample(G, info: GeneratorInfo, n: int, seed: int, label: int | None = None,
           truncate: float | None = None, D=None, d_idx=None
           ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """-> (G's outputs (n, ...) float32, labels (n,) or None, D logits (n,) or None).

    With D (--nice): NICE_FACTOR * n candidates from the same seed, ranked by D.
    """
    if D is None:
        z, y = draw_inputs(n, info.latent_dim, info.noise, info.num_classes, seed, label,
                           truncate)
        return generate(G, z, y), y, None
    zc, yc = draw_inputs(n * NICE_FACTOR, info.latent_dim, info.noise, info.num_classes,
                         seed, label, truncate)
    scores = score(D, G, zc, yc, d_idx)
    keep = pick_nice(scores, yc, n, info.num_classes, cyclic=label is None)
    y = None if yc is None else yc[keep]
    # regenerated rather than kept from scoring: 20x the images need not fit in memory
    return generate(G, zc[keep], y), y, scores[keep]


# --- writing ------------------------------------------------------------------------------

def grid_rows(n: int, num_classes: int, cyclic: bool) -> tuple[int | None, int | None]:
    """(rows, cols) for a grid: near-square, or with cyclic labels a multiple of the class
    count per row so every column holds one class. (None, None) = make_grid's default."""
    if not (cyclic and num_classes):
        return None, None
    cols = min(n, num_classes * max(1, round(math.sqrt(n) / num_classes)))
    return math.ceil(n / cols), cols


def save_grid(path: str, images_u8: np.ndarray, rows: int | None, cols: int | None) -> None:
    h, w = images_u8.shape[1:3]
    scale = 2 if max(h, w) <= 32 else 1  # 28x28 digits are too small to judge at 1x
    tiles = np.repeat(np.repeat(images_u8, scale, axis=1), scale, axis=2)
    if rows is not None:  # blank tiles so make_grid keeps exactly `cols` columns
        blank = np.full((rows * cols - len(tiles),) + tiles.shape[1:], 255, np.uint8)
        tiles = np.concatenate([tiles, blank])
    sampling.save_png(path, sampling.make_grid(tiles, rows=rows))


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
