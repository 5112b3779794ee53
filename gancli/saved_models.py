"""Saved generators and discriminators, the reading side of training/export.py: find the
model file (a file or a run folder), read the generator.json beside it, load it with
Keras, and learn what it expects (from the sidecar, or from the model itself). Also finds
the discriminator saved beside a generator and checks that it fits (`generate --nice`).

Keras is imported inside the functions that need it, so the path and sidecar helpers
stay cheap.
"""
from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field

from gancli.config import parse_noise
from gancli.errors import CheckpointError, ConfigError

MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
DEFAULT_NOISE = "uniform:-1,1"  # SPEC §1: images and the mixture preset use U(-1, 1)
DEFAULT_VALUE_RANGE = (-1.0, 1.0)  # tanh output of every image generator


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


def load_model(path: str, max_outputs: int = 1):
    """keras.models.load_model with any failure turned into one CheckpointError line;
    a model with more than `max_outputs` outputs is refused (a discriminator may have
    two: an ACGAN D's logit and class logits)."""
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
    if not isinstance(model, keras.Model) or not 1 <= len(model.outputs) <= max_outputs:
        if isinstance(model, keras.Model) and _looks_like_discriminator(model):
            raise CheckpointError(_IS_DISCRIMINATOR.format(path=path))
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
    # conditional models trained since class names were kept: label i's name, and the
    # fraction of training images of class i (None for older generator.json files)
    class_names: list[str] | None = None
    class_frequencies: list[float] | None = None

    @property
    def noise_params(self) -> tuple[str, float, float]:
        return parse_noise(self.noise)

    def class_index(self, text: str, flag: str = "--label") -> int:
        """A class given by name, else by index 0..C-1 -> its index; ConfigError (one
        line, naming the valid classes) otherwise."""
        base = os.path.basename(self.path)
        if not self.num_classes:
            raise ConfigError(f"{flag}: {base} is not conditional (it takes no class label)")
        names = self.class_names or []
        if text in names:
            return names.index(text)
        try:
            k = int(text)
        except ValueError:
            valid = ", ".join(names) if names else f"0..{self.num_classes - 1} (unnamed)"
            raise ConfigError(f"{flag} {text}: no such class; the classes are: {valid}"
                              ) from None
        if not 0 <= k < self.num_classes:
            raise ConfigError(f"{flag} {k} is out of range: the model has {self.num_classes} "
                              f"classes (0..{self.num_classes - 1})")
        return k


def _is_label(t) -> bool:
    return t.name == "label" or ("int" in str(t.dtype) and len(t.shape) <= 2)


def split_inputs(model):
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


_IS_DISCRIMINATOR = ("{path} is a discriminator, not a generator; pass the generator saved "
                     "beside it (generator.h5 or generator.keras)")


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
        raise CheckpointError(_IS_DISCRIMINATOR.format(path=path))
    z_idx, y_idx = split_inputs(model)
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

    names, freqs = _class_keys(what, int(classes or 0), side)
    notes = []
    if assumed:
        where = f"no {side} beside {os.path.basename(path)}" if meta is None \
            else f"{side} lacks them"
        read = f"latent_dim {latent}" + (f", {classes} classes" if classes else "")
        notes.append(f"{where}: assumed {' and '.join(assumed)} ({read} read from the model)")
    return GeneratorInfo(path=path, latent_dim=latent, noise=noise, kind=kind,
                         num_classes=int(classes or 0), value_range=value_range,
                         image_shape=image_shape, output_shape=tuple(int(d) for d in out),
                         target=what.get("target"), notes=notes, class_names=names,
                         class_frequencies=freqs)


def _class_keys(what: dict, classes: int, side: str):
    """generator.json's class_names and class_frequencies, checked against the class
    count; (None, None) for an unconditional model or a sidecar without them."""
    if not classes:
        return None, None
    names, freqs = what.get("class_names"), what.get("class_frequencies")
    if names is not None and (not isinstance(names, list) or len(names) != classes
                              or not all(isinstance(n, str) for n in names)):
        raise CheckpointError(f"{side}: class_names must be {classes} strings, got {names!r}")
    if freqs is not None:
        try:
            ok = (len(freqs) == classes and all(float(f) >= 0 for f in freqs)
                  and sum(float(f) for f in freqs) > 0)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise CheckpointError(f"{side}: class_frequencies must be {classes} non-negative "
                                  f"numbers, not all 0; got {freqs!r}")
        freqs = [float(f) for f in freqs]
    return names, freqs


# --- the discriminator beside it ----------------------------------------------------------

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
    """-> (sample input index, label input index or None) after checking D fits G.
    D returns one logit per sample, or (an ACGAN D, which takes no label) [logit,
    class logits] over the generator's classes."""
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
    if len(D.outputs) == 2:
        classes = tuple(D.outputs[1].shape)[1:]
        if y_idx is not None or len(classes) != 1:
            raise CheckpointError(f"{path} does not look like a discriminator: its second "
                                  f"output is {classes}, not class logits")
        if classes[0] != info.num_classes:
            raise CheckpointError(f"{path} does not fit the generator: it classifies "
                                  f"{classes[0]} classes, the generator takes "
                                  + (f"{info.num_classes}" if info.num_classes else "no label"))
    return x_idx, y_idx
