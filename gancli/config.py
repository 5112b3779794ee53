"""Run configuration: typed, frozen dataclasses and one resolver.

Precedence, lowest first: schema defaults < preset < --config FILE < flags.
Unknown keys and wrong types raise ConfigError naming the key (with the
closest valid name), so a typo never silently falls back to a default.
This module imports no TensorFlow.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Mapping

from gancli.datasets import DATASETS
from gancli.errors import ConfigError

LOSSES = ("bce", "lsgan", "wgan", "wgan-gp", "hinge")
OPTIMIZERS = ("adam", "rmsprop", "sgd")
NOISES = ("uniform", "normal")
ACTIVATIONS = ("relu", "sigmoid", "tanh", "linear", "leaky_relu", "elu", "softplus")
STRATEGIES = ("auto", "one_device", "mirrored", "multiworker")
ON_NAN = ("stop", "skip")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
CONDITIONALS = ("none", "projection", "acgan")
AUGMENTATIONS = ("color", "translation", "cutout")  # gancli.training.augment's, in order
ADA_LOSSES = ("bce", "hinge")  # losses whose D output's sign means real / fake


def opt(default: Any, help: str, *, aliases: tuple[str, ...] = (), choices=None,
        minimum: float | None = None, cli: bool = True, unset: str = "",
        from_bool: tuple[str, str] | None = None) -> Any:
    """A config field: default, one-line help, CLI aliases and simple bounds; `unset`
    says what a None value means (shown by --help as the default). `from_bool`: a
    choice field that was once a bool -- (the value false meant, the value true meant):
    YAML false/true map to these, and its flag works as the bool's did (`--x` alone,
    `--no-x`) besides taking a value (`--x CHOICE`)."""
    meta = dict(help=help, aliases=aliases, choices=choices, minimum=minimum, cli=cli,
                unset=unset, from_bool=from_bool)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class TrainConfig:
    """Fields of the shared training loop, common to every train-* command."""

    preset: str = opt("", "preset the run started from", cli=False)
    seed: int | None = opt(None, "random seed; runs with the same seed repeat exactly on CPU",
                           unset="random, drawn at start and written to config.yaml")
    batch_size: int = opt(10, "real samples per discriminator step: the GLOBAL batch, split "
                          "evenly over the replicas of --strategy (per replica: batch_size / "
                          "replicas, noted in log.txt and config.yaml)", minimum=1)
    strategy: str = opt("auto", "devices to train on: one_device; mirrored (every local GPU, "
                        "tf.distribute.MirroredStrategy); multiworker (several machines, "
                        "cluster from TF_CONFIG; see docs/gpu.md); auto: mirrored when more "
                        "than one GPU is visible, else one_device", choices=STRATEGIES)
    jit: str = opt("auto", "XLA-compile the training loop: auto = on for one GPU; on CPU on "
                   "for train-dist (1.5x faster at batch 10; slower from batch ~256 on) and "
                   "off for train-mnist (its convolutions ran slower); off under "
                   "mirrored/multiworker (not supported)",
                   choices=("auto", "on", "off"))
    precision: str = opt("auto", "arithmetic of the networks: fp32; bf16 / fp16 = Keras mixed "
                         "precision (float32 weights, outputs and losses; fp16 with dynamic "
                         "loss scaling); auto = fp16 on GPUs of compute capability >= 7.0, "
                         "bf16 on CPUs with native bfloat16 (avx512_bf16 / amx_bf16), else "
                         "fp32 (emulated bf16 ran several times slower). config.yaml records "
                         "the resolved value, which --resume keeps on any device; pass "
                         "--precision with --resume to switch (checkpoints restore into "
                         "every precision)",
                         choices=PRECISIONS)
    steps: int = opt(30000, "generator steps to train (0: build and write config only)",
                     minimum=0)
    latent_dim: int = opt(100, "size of the generator's noise input", aliases=("input_dim",),
                          minimum=1)
    noise: str = opt("uniform:0,1", "generator noise: uniform:LO,HI or normal:MU,SD")
    loss: str = opt("bce", "adversarial loss", choices=LOSSES)
    real_label: float = opt(1.0, "D's target for real samples under bce (0.9 = seed 001's "
                            "label smoothing)")
    fake_label: float = opt(0.0, "D's target for generated samples under bce (0.1 in seed 001)")
    n_critic: int = opt(1, "discriminator steps per generator step (seed's n_iter_D)",
                        aliases=("n_iter_D",), minimum=1)
    n_gen: int = opt(1, "generator steps per iteration (seed's n_iter_G)",
                     aliases=("n_iter_G",), minimum=1)
    reuse_fake: bool = opt(True, "the generator step trains on the last discriminator "
                           "step's fake batch (same noise; one generator forward pass serves "
                           "both, as in PyTorch's DCGAN example) instead of drawing new "
                           "noise as the seeds did")
    clip_value: float = opt(0.01, "wgan: clip critic weights to [-c, c]", minimum=0)
    gp_weight: float = opt(10.0, "wgan-gp: gradient penalty weight", minimum=0)
    r1: float = opt(0.0, "R1 penalty weight gamma (Mescheder et al. 2018): gamma/2 x the mean "
                    "squared norm of grad_x D(x) on the real batch (through --augment, as D "
                    "sees it) is added to D's loss (0: off)", minimum=0)
    r1_every: int = opt(1, "lazy R1 (StyleGAN2): the penalty only on every N-th D step, "
                        "times N (1: every D step)", minimum=1)
    d_optimizer: str = opt("adam", "discriminator optimizer", choices=OPTIMIZERS)
    d_lr: float = opt(2e-4, "discriminator learning rate", minimum=0)
    d_beta1: float = opt(0.9, "discriminator adam beta1", minimum=0)
    d_beta2: float = opt(0.999, "discriminator adam beta2", minimum=0)
    d_momentum: float = opt(0.0, "discriminator sgd/rmsprop momentum", minimum=0)
    d_nesterov: bool = opt(False, "discriminator sgd: Nesterov momentum")
    g_optimizer: str = opt("adam", "generator optimizer", choices=OPTIMIZERS)
    g_lr: float = opt(2e-4, "generator learning rate", minimum=0)
    g_beta1: float = opt(0.9, "generator adam beta1", minimum=0)
    g_beta2: float = opt(0.999, "generator adam beta2", minimum=0)
    g_momentum: float = opt(0.0, "generator sgd/rmsprop momentum", minimum=0)
    g_nesterov: bool = opt(False, "generator sgd: Nesterov momentum")
    lr_decay: bool = opt(False, "decay both learning rates linearly to 0 at the last step; "
                         "the rate reached is saved in checkpoints, so a run resumed with a "
                         "larger --steps goes on from it to 0 at the new last step, without a "
                         "jump (a run that reached its last step is at rate 0)")
    ema: float = opt(0.0, "decay of the generator's exponential moving average used for "
                     "samples and the saved generator (0: off)", minimum=0)
    sample_every: int = opt(200, "steps between log lines, metrics rows and samples",
                            aliases=("show_every", "n_show"), minimum=1)
    checkpoint_every: int = opt(5000, "steps between checkpoints (one is always written at "
                                "the end)", minimum=1)
    keep_checkpoints: int = opt(3, "checkpoints kept on disk", minimum=1)
    tensorboard: bool = opt(True, "write TensorBoard event files to OUT/tb/ at every report: "
                            "metrics.csv's values, the sample grid (train-mnist) or value "
                            "histograms (train-dist), and config.yaml; watch several runs "
                            "with: tensorboard --logdir runs/")
    max_minutes: float = opt(0.0, "stop cleanly after this many minutes and save everything "
                             "(0: no limit)", minimum=0)
    eval_every: int = opt(0, "steps between quality evaluations (gancli eval's metrics on "
                          "--eval_samples samples) added to metrics.csv; the best generator "
                          "so far is kept in OUT/best/ (0: off)", minimum=0)
    on_nan: str = opt("stop", "a non-finite loss, gradient or weight: stop (exit 3 naming the "
                      "step; the last good checkpoint is kept) or skip (that update is not "
                      "applied, optimizer state included; skipped updates are counted in "
                      "metrics.csv, and the run stops anyway when no D, or no G, update "
                      "succeeds for 500 steps)", choices=ON_NAN)
    collapse_window: int = opt(2000, "warn (once per episode) when D(fake) stays within 0.01 "
                               "of fake_label or of real_label (below 0.01 or above 0.99 for "
                               "labels 0 and 1) for this many steps; bce only (0: off)",
                               minimum=0)
    deterministic: bool = opt(False, "TensorFlow op determinism: with a --seed, a run and a "
                              "run interrupted and resumed end bit-identical on CPU (may be "
                              "slower)")

    def validate(self) -> None:
        """Cross-field rules, each naming the key at fault."""
        parse_noise(self.noise, key="noise")
        if self.ema >= 1:
            raise ConfigError(f"ema must be in [0, 1), got {self.ema}")
        if self.loss == "bce" and not (0 <= self.fake_label < self.real_label <= 1):
            raise ConfigError("real_label and fake_label need 0 <= fake_label < real_label <= 1, "
                              f"got {self.real_label} and {self.fake_label}")


@dataclass(frozen=True)
class DistConfig(TrainConfig):
    """train-dist: a GAN that learns a 1-D distribution (seeds 000, 001, 004)."""

    target: str = opt("normal:4,1.25", "distribution to learn: normal:MU,SD or "
                      "mixture:MU,SD;MU,SD[;...] (equal weights)")
    vector_len: int = opt(100, "values per sample seen by D (seed's ni_D)", minimum=1)
    g_arch: str = opt("pointwise", "generator: pointwise (seed 000's Conv1D(k=1) stack, "
                      "latent = vector_len) or mlp (seed 001's Dense stack)",
                      choices=("pointwise", "mlp"))
    g_hidden: tuple[int, ...] = opt((50, 50), "generator hidden widths, comma separated")
    g_activation: tuple[str, ...] = opt(("relu", "sigmoid"), "generator hidden activations, "
                                        "one per hidden layer")
    d_hidden: tuple[int, ...] = opt((50, 50), "discriminator hidden widths, comma separated")
    d_activation: str = opt("relu", "discriminator hidden activation", choices=ACTIVATIONS)
    decorate: bool = opt(True, "D sees (x - mean(x))^2 beside x (seed's decorate layer; "
                         "--no-decorate is the seeds' 'pure' variant)")
    normalize: bool = opt(True, "both nets work in standardized units (x - mean) / std of "
                          "the target; fixed Rescaling layers convert (off: the seeds' raw "
                          "scale)")
    sort_values: bool = opt(False, "D sees each vector sorted, i.e. its empirical quantiles "
                            "(the values are i.i.d., so this loses nothing and shows D the "
                            "distribution's shape)")
    eval_samples: int = opt(10000, "generated values per metrics row and evaluation",
                            minimum=100)

    def validate(self) -> None:
        super().validate()
        parse_target(self.target, key="target")
        if self.g_arch == "pointwise" and self.latent_dim != self.vector_len:
            raise ConfigError(f"g_arch pointwise maps each noise value to one output, so "
                              f"latent_dim ({self.latent_dim}) must equal vector_len "
                              f"({self.vector_len})")
        if len(self.g_activation) != len(self.g_hidden):
            raise ConfigError(f"g_activation needs one entry per g_hidden layer "
                              f"({len(self.g_hidden)}), got {len(self.g_activation)}")
        for a in self.g_activation:
            if a not in ACTIVATIONS:
                raise ConfigError(f"g_activation: unknown activation {a!r}; "
                                  f"valid: {', '.join(ACTIVATIONS)}")
        for key in ("g_hidden", "d_hidden"):
            if any(h < 1 for h in getattr(self, key)):
                raise ConfigError(f"{key} widths must be positive, got {getattr(self, key)}")


# gancli.models.images builds them; dcgan-deep grows with the image size, dcgan-cifar is
# seed 002's CIFAR-10 pair (gancli.models.stages)
IMAGE_MODELS = ("seed-classic", "dcgan", "wgan", "dcgan-deep", "dcgan-cifar")
CROPS = ("center", "none")
DEFAULT_EPOCHS = 20  # train-mnist's length when neither --epochs, --steps nor --max_minutes is set
DEEP_SIDES = tuple(2 ** k for k in range(4, 11))  # dcgan-deep's image sides: 16 ... 1024


def image_sides_error(height: int, width: int, model: str = "dcgan") -> str | None:
    """Why `model` cannot make height x width images, or None: dcgan-deep makes square
    images of a side in DEEP_SIDES (from 4x4, x2 per stage); dcgan-cifar doubles four
    times from (H/16, W/16); the others double twice from (H/4, W/4)."""
    if model == "dcgan-deep":
        if height != width or height not in DEEP_SIDES:
            return (f"model dcgan-deep makes square images of side "
                    f"{', '.join(map(str, DEEP_SIDES[:-1]))} or {DEEP_SIDES[-1]}")
        return None
    if model == "dcgan-cifar":
        if height % 16 or width % 16:
            return "model dcgan-cifar needs sides divisible by 16 (seed 002's net: 32)"
        return None
    if height % 4 or width % 4:
        return "the networks need sides divisible by 4"
    return None


@dataclass(frozen=True)
class ImageConfig(TrainConfig):
    """train-mnist: convolutional GANs on MNIST-like images (seeds 000, 002, 003)."""

    steps: int | None = opt(None, "generator steps to train, capped by --epochs when that is "
                            "set (0: build and write config only)",
                            minimum=0, unset="none, --epochs decides")
    epochs: int | None = opt(None, "passes over the training images (each D step sees one "
                             "batch); a cap on --steps when both are set", minimum=1,
                             unset=f"none: {DEFAULT_EPOCHS} epochs, or no cap when --steps or "
                             "--max_minutes decides")
    dataset: str = opt("mnist", "mnist | fashion_mnist (Keras loader, or Debian's "
                       "dataset-fashion-mnist when installed) | cifar10 (Keras loader, or "
                       "--data) | folder (your images, --data)", choices=DATASETS)
    data: str | None = opt(None, "local data: a Keras-layout mnist.npz, a folder of IDX files "
                           "(*-images-idx3-ubyte[.gz]), with --dataset cifar10 the "
                           "cifar-10-batches-py folder or cifar-10-python.tar.gz, with "
                           "--dataset folder a folder of images",
                           unset="none, Keras downloads the dataset once")
    background: str = opt("white", "folder images with transparency (RGBA, LA, palette with a "
                          "transparent index) are composited onto this colour: white, black "
                          "or #RRGGBB")
    crop: str = opt("center", "folder images that are not square: center (crop the middle "
                    "square) or none (resize, distorting)", choices=CROPS)
    n_train: int = opt(0, "keep only the first N training images (0: all)", minimum=0)
    channels: int = opt(0, "1: grayscale, 3: RGB (0: as the data comes)", minimum=0)
    image_size: int = opt(0, "resize images to SIZE x SIZE: a multiple of 4 (dcgan-cifar: of "
                          "16; dcgan-deep: a power of two from 16) (0: keep)", minimum=0)
    model: str = opt("dcgan", "network pair: seed-classic, dcgan, wgan (MNIST-sized: two x2 "
                     "stages from H/4); dcgan-deep (the DCGAN paper's pair grown to the image "
                     "size: G from 4x4 doubling per stage, D mirroring it; square sides "
                     "16, 32, ... 1024); dcgan-cifar (seed 002's CIFAR-10 pair)",
                     choices=IMAGE_MODELS)
    width: int | None = opt(None, "dcgan-deep: channels of G's last hidden stage, doubling "
                            "toward 4x4 up to 8 x width (DCGAN's 64 px G, 1024-512-256-128, "
                            "is width 128); D's stages mirror G's", minimum=1,
                            unset="by image size: 4096 / side, kept in 16..64 (64 up to 64 px)")
    spectral_norm: bool = opt(False, "spectral normalization (SNGAN) on every Conv2D and Dense "
                              "of D (keras.layers.SpectralNormalization)")
    conditional: str = opt("none", "class-conditional training (needs labels; then `gancli "
                           "generate --label K`): projection = label embedding in G, "
                           "projection D (Miyato & Koyama 2018); acgan = label embedding in "
                           "G, D sees the image alone and also classifies it (auxiliary class "
                           "head, Odena et al. 2017); none = the labels are not used (then "
                           "--clusters decides). --conditional alone is projection, "
                           "--no-conditional is none",
                           choices=CONDITIONALS, from_bool=("none", "projection"))
    clusters: int = opt(0, "training without labels (data without them, or --conditional "
                        "none): G and D are conditioned (projection) on this many k-means "
                        "clusters of the training images instead, and generate / eval draw "
                        "clusters with their frequencies (Self-Conditioned GAN, Liu et al. "
                        "2020); 0: a plain unconditional pair", minimum=0)
    class_weight: float = opt(1.0, "acgan: weight of the auxiliary class cross-entropy in "
                              "both losses (D: on real and fake images, G: on its fakes)",
                              minimum=0)
    augment: str = opt("none", "differentiable augmentation of every image D sees (reals and "
                       "fakes, in the D and G steps and the penalties; DiffAugment, Zhao et "
                       "al. 2020): none, or a comma list of color (brightness, saturation, "
                       "contrast), translation (by up to 1/8 of the side, zero fill), cutout "
                       "(a half-side square set to 0); applied in that order")
    augment_p: float = opt(1.0, "probability of each --augment op per image (1: always, as "
                           "DiffAugment); with --ada_target, the value p starts from "
                           "(StyleGAN2-ADA starts from 0)", minimum=0)
    ada_target: float = opt(0.0, "adaptive augment_p (StyleGAN2-ADA): every 4 steps p rises "
                            "when the mean sign of D's outputs on reals since the last change "
                            "is above this target (D overfits), else falls, by up to 1 per "
                            "500k real images; 0.6 is ADA's target; p and that mean (ada_rt) "
                            "go to metrics.csv (0: p stays fixed; bce and hinge only)",
                            minimum=0)
    grid_size: int = opt(64, "images in the fixed-noise sample grid", minimum=1)
    eval_samples: int = opt(5000, "generated images per --eval_every evaluation",
                            minimum=100)

    @property
    def conditioning(self) -> str:
        """How G and D are conditioned: on the data's classes as `conditional` says, or,
        when that is none and `clusters` is set, on k-means clusters by projection."""
        if self.conditional == "none" and self.clusters:
            return "projection"
        return self.conditional

    def validate(self) -> None:
        super().validate()
        if self.channels not in (0, 1, 3):
            raise ConfigError(f"channels must be 0, 1 or 3, got {self.channels}")
        if self.image_size and (why := image_sides_error(self.image_size, self.image_size,
                                                         self.model)):
            raise ConfigError(f"image_size is {self.image_size}; {why}")
        if self.width is not None and self.model != "dcgan-deep":
            raise ConfigError(f"width sets dcgan-deep's channels; model {self.model} has "
                              "fixed ones")
        parse_color(self.background, key="background")
        if self.dataset == "folder" and not self.data:
            raise ConfigError("dataset folder needs --data PATH, a folder of images")
        names = parse_augment(self.augment)
        if self.augment_p > 1:
            raise ConfigError(f"augment_p is a probability, in [0, 1]; got {self.augment_p}")
        if self.ada_target:
            if not names:
                raise ConfigError("ada_target adapts the probability of --augment, which is "
                                  "none; name the ops, e.g. --augment color,translation,cutout")
            if self.ada_target >= 1:
                raise ConfigError(f"ada_target must be below 1 (the mean sign of D's outputs "
                                  f"on reals is at most 1), got {self.ada_target}")
            if self.loss not in ADA_LOSSES:
                raise ConfigError(f"ada_target reads the sign of D's outputs, which says real "
                                  f"or fake under {' and '.join(ADA_LOSSES)} only; loss is "
                                  f"{self.loss}")


def parse_augment(spec: str, key: str = "augment") -> tuple[str, ...]:
    """'none' or a comma list of AUGMENTATIONS -> the names, in AUGMENTATIONS' order."""
    names = [n.strip() for n in spec.split(",") if n.strip()]
    if names == ["none"]:
        return ()
    for name in names:
        if name not in AUGMENTATIONS:
            raise unknown_key(name, AUGMENTATIONS, "augmentation", where=f" in {key}",
                              list_valid=True)
    if not names:
        raise ConfigError(f"{key}: expected none or a comma list of {', '.join(AUGMENTATIONS)}")
    return tuple(n for n in AUGMENTATIONS if n in names)


# --- distribution specs ("uniform:0,1", "normal:4,1.25", "mixture:0,1;5,2") -------------

def _floats(text: str, key: str, n: int) -> tuple[float, ...]:
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        vals = ()
    if len(vals) != n or not all(math.isfinite(v) for v in vals):
        raise ConfigError(f"{key}: expected {n} comma-separated numbers, got {text!r}")
    return vals


def parse_noise(spec: str, key: str = "noise") -> tuple[str, float, float]:
    """'uniform:LO,HI' or 'normal:MU,SD' -> (kind, a, b)."""
    kind, _, args = spec.partition(":")
    if kind not in NOISES:
        raise ConfigError(f"{key}: unknown noise {kind!r}; valid: uniform:LO,HI, normal:MU,SD")
    a, b = _floats(args, key, 2)
    if (kind == "uniform" and b <= a) or (kind == "normal" and b <= 0):
        raise ConfigError(f"{key}: empty range in {spec!r}")
    return kind, a, b


COLORS = {"white": (255, 255, 255), "black": (0, 0, 0)}


def parse_color(spec: str, key: str = "background") -> tuple[int, int, int]:
    """'white', 'black' or '#RRGGBB' -> (r, g, b) in 0..255."""
    text = spec.strip().lower()
    if text in COLORS:
        return COLORS[text]
    if re.fullmatch(r"#[0-9a-f]{6}", text):
        return tuple(int(text[i:i + 2], 16) for i in (1, 3, 5))
    raise ConfigError(f"{key}: expected white, black or #RRGGBB, got {spec!r}")


def parse_target(spec: str, key: str = "target") -> list[tuple[float, float]]:
    """'normal:MU,SD' or 'mixture:MU,SD;MU,SD' -> [(mu, sd), ...] (equal weights)."""
    kind, _, args = spec.partition(":")
    if kind == "normal":
        comps = [_floats(args, key, 2)]
    elif kind == "mixture":
        comps = [_floats(c, key, 2) for c in args.split(";")]
        if len(comps) < 2:
            raise ConfigError(f"{key}: a mixture needs at least two MU,SD components")
    else:
        raise ConfigError(f"{key}: unknown target {kind!r}; valid: normal:MU,SD, "
                          "mixture:MU,SD;MU,SD")
    if any(sd <= 0 for _, sd in comps):
        raise ConfigError(f"{key}: standard deviations must be positive in {spec!r}")
    return [(float(m), float(s)) for m, s in comps]


# --- schema introspection -----------------------------------------------------------------

def schema(cls: type) -> dict[str, dataclasses.Field]:
    """Field name -> Field, with resolved types in field.type."""
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        f.type = hints[f.name]
        out[f.name] = f
    return out


def type_name(tp: Any) -> str:
    if typing.get_origin(tp) is tuple:
        return f"list of {typing.get_args(tp)[0].__name__}"
    if typing.get_origin(tp) in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return f"{inner[0].__name__} or null"
    return tp.__name__


def coerce(key: str, value: Any, tp: Any) -> Any:
    """Check a YAML/flag value against the field type; return it in canonical form."""
    origin = typing.get_origin(tp)
    if origin is not None and origin is not tuple:  # Optional[X]
        if value is None:
            return None
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
        origin = None
    if origin is tuple:
        elem = typing.get_args(tp)[0]
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
            if elem is int:
                try:
                    value = [int(v) for v in value]
                except ValueError:
                    raise ConfigError(f"{key}: expected a list of int, got {value!r}") from None
        if not isinstance(value, (list, tuple)) or not value or not all(
                _is(v, elem) for v in value):
            raise ConfigError(f"{key}: expected a non-empty {type_name(tp)}, got {value!r}")
        return tuple(value)
    if not _is(value, tp):
        raise ConfigError(f"{key}: expected {type_name(tp)}, got {type(value).__name__} "
                          f"{value!r}")
    return float(value) if tp is float else value


def _is(value: Any, tp: type) -> bool:
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) \
            and math.isfinite(value)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, tp)


def unknown_key(key: str, valid: typing.Iterable[str], what: str = "config key",
                where: str = "", list_valid: bool = False) -> ConfigError:
    """'unknown config key 'batchsize' in f.yaml; did you mean 'batch_size'?'"""
    valid = sorted(valid)
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    if list_valid:
        hint += f" (valid: {', '.join(valid)})"
    return ConfigError(f"unknown {what} {key!r}{where}{hint}")


def build(cls: type, values: Mapping[str, Any], source: str = "") -> Any:
    """Build and validate a config from a mapping; unknown keys and bad types raise."""
    fields_ = schema(cls)
    where = f" in {source}" if source else ""
    kwargs = {}
    for key, value in values.items():
        if key not in fields_:
            raise unknown_key(key, fields_, where=where)
        f = fields_[key]
        if isinstance(value, bool) and f.metadata.get("from_bool"):
            value = f.metadata["from_bool"][value]  # an older config's false / true
        v = coerce(key, value, f.type)
        if f.metadata.get("choices") and v not in f.metadata["choices"]:
            raise ConfigError(f"{key}: unknown value {v!r}; valid: "
                              f"{', '.join(f.metadata['choices'])}")
        minimum = f.metadata.get("minimum")
        if minimum is not None and v is not None and v < minimum:
            bound = "positive" if minimum == 1 else f">= {minimum}"
            raise ConfigError(f"{key} must be {bound}, got {v}")
        kwargs[key] = v
    cfg = cls(**kwargs)
    cfg.validate()
    return cfg


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain YAML-ready dict (tuples become lists), in field order."""
    return {k: list(v) if isinstance(v, tuple) else v
            for k, v in dataclasses.asdict(cfg).items()}


def resolve(cls: type, presets: Mapping[str, dict], default_preset: str, *,
            preset: str | None = None, config_path: str | None = None,
            overrides: Mapping[str, Any] | None = None,
            dataset_presets: Mapping[str, str] | None = None,
            run_config: bool = False) -> Any:
    """Defaults < preset < config file < overrides -> validated frozen config. Without a
    preset named, dataset_presets[dataset] (the dataset the file or overrides give) is
    the default, else default_preset. run_config: the file is a run's own config.yaml
    (--resume), complete when written: a key added since takes the schema default,
    which keeps the run's behaviour, not a preset's newer value."""
    file_values: dict[str, Any] = {}
    if config_path:
        file_values = load_yaml(config_path)
    dataset = (overrides or {}).get("dataset", file_values.get("dataset"))
    name = (preset or file_values.get("preset")
            or (dataset_presets or {}).get(dataset) or default_preset)
    if name not in presets:
        raise unknown_key(name, presets, "preset", list_valid=True)
    values = {} if run_config else dict(presets[name])
    values.update(file_values)
    values.update(overrides or {})
    values["preset"] = name
    return build(cls, values, source=config_path or "")


def load_yaml(path: str) -> dict[str, Any]:
    import yaml

    if not os.path.isfile(path):
        raise ConfigError(f"config file not found: {path}")
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" (line {mark.line + 1})" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{at}: "
                          f"{getattr(e, 'problem', None) or e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read config {path}: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of key: value, got {type(data).__name__}")
    return data


def dump_yaml(cfg: Any) -> str:
    """One `key: value` line per field, lists in flow style (`[16, 16]`). (PyYAML's
    default_flow_style=None would put a config of scalars alone in one flow mapping.)"""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    Dumper.add_representer(list, lambda dumper, value: dumper.represent_sequence(
        "tag:yaml.org,2002:seq", value, flow_style=True))
    return yaml.dump(to_dict(cfg), Dumper=Dumper, sort_keys=False, default_flow_style=False,
                     width=1000)
