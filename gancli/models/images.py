"""Generators and discriminators for images (seeds 000, 002, 003).

seed-classic, dcgan and wgan are MNIST-sized (two x2 stages from H/4); dcgan-deep, which
grows with the image size, and seed 002's CIFAR-10 pair (dcgan-cifar) have their bodies
in gancli.models.stages. With `spectral_norm`, every Conv2D and Dense of D is wrapped
in keras.layers.SpectralNormalization under the layer's own name (weights stay at
LAYER/kernel, plus LAYER/vector_u, the power iteration's state); the projection's
Embedding is not wrapped (the wrapper casts outputs to its input's dtype: int labels).

Channels-last throughout; generators end in tanh, so images live in [-1, 1].
Discriminators end in a linear Dense(1): one raw logit (or critic value) per
sample, and the losses apply any sigmoid themselves.

With `num_classes > 0` the models are class-conditional:
- G([noise, label]): the label is embedded (Embedding(num_classes, 50)) and
  concatenated with the noise before the first Dense (the cGAN/ACGAN input).
- D's head on its feature vector h (`_head`, shared by every image D), by
  `conditional` (config.CONDITIONALS):
  - projection: D([image, label]) (Miyato & Koyama 2018):
    logit = Dense(1)(h) + <Embedding(num_classes, |h|)(label), h>; the inner product
    is a stock `Dot(axes=1)` layer.
  - acgan: D(image) -> [logit, class_logits] (Odena et al. 2017): D is not given the
    label; an auxiliary Dense(num_classes) on h classifies the image (the trainer adds
    its cross-entropy to both losses).
The builders make stock Keras layers only, with names that are stable (checkpoints
restore by layer / weight name). For training, gancli.models.speedups swaps in
faster CPU forms of some of them; saved models hold the stock layers again
(gancli.training.export.stock), so they open with `keras.models.load_model` alone.

Built under a mixed-precision policy (--precision bf16/fp16), the layers compute in
16 bits except the ones that make the outputs -- G's "image" layer, D's logit (and
the projection, the class logits) -- which are pinned to float32: images and logits
are float32.
"""
from __future__ import annotations

import keras
from keras import layers

from gancli.config import CONDITIONALS, IMAGE_MODELS, image_sides_error
from gancli.models import stages

LABEL_EMBED_DIM = 50  # width of G's label embedding, as in the Keras cGAN/ACGAN examples


def _check(arch: str, image_shape) -> tuple[int, int, int]:
    if arch not in IMAGE_MODELS:
        raise ValueError(f"unknown image model {arch!r}; valid: {', '.join(IMAGE_MODELS)}")
    shape = tuple(image_shape)
    if len(shape) != 3 or not all(isinstance(d, int) and d > 0 for d in shape):
        raise ValueError(f"image_shape must be (height, width, channels) of positive ints, "
                         f"got {image_shape!r}")
    h, w, c = shape
    if why := image_sides_error(h, w, arch):
        raise ValueError(f"image_shape {h}x{w}: {why}")
    return h, w, c


def _label_input():
    # one int32 class index per sample, shape () -- what the trainer feeds
    return keras.Input((), dtype="int32", name="label")


def _embed(label, num_classes: int, dim: int, name: str):
    # Flatten turns (n, dim) -- or (n, 1, dim) for labels fed as (n, 1) -- into (n, dim)
    e = layers.Embedding(num_classes, dim, name=name)(label)
    return layers.Flatten(name=f"{name}_flat")(e)


def _generator_input(latent_dim: int, num_classes: int):
    """-> (model inputs, tensor fed to G's first Dense)."""
    if latent_dim < 1:
        raise ValueError(f"latent_dim must be positive, got {latent_dim}")
    z = keras.Input((latent_dim,), name="noise")
    if num_classes <= 0:
        return z, z
    y = _label_input()
    e = _embed(y, num_classes, LABEL_EMBED_DIM, "label_embedding")
    return [z, y], layers.Concatenate(name="noise_and_label")([z, e])


def _spectral_norm(layer):
    return layers.SpectralNormalization(layer, name=layer.name, dtype=layer.dtype_policy)


def _same(layer):
    return layer


def _deep_width(side: int, width: int | None) -> int:
    if width is not None and width < 1:
        raise ValueError(f"width must be positive, got {width}")
    return stages.default_width(side) if width is None else width


# seeds: seed-classic <- 000, dcgan <- 002, wgan <- 003 (dcgan G), dcgan-cifar <- 002
def build_generator(arch: str, latent_dim: int, image_shape: tuple[int, int, int],
                    num_classes: int = 0, width: int | None = None) -> keras.Model:
    """noise (latent_dim,) [+ label ()] -> image (H, W, C) in [-1, 1].

    Args:
      arch: one of config.IMAGE_MODELS; "wgan" uses the dcgan generator.
      latent_dim: length of the noise vector.
      image_shape: (H, W, C), sides as config.image_sides_error allows for arch.
      num_classes: > 0 makes G conditional: it takes [noise, label].
      width: dcgan-deep's channel knob (None: stages.default_width); others ignore it.
    Raises:
      ValueError: unknown arch, bad shape, sizes or width.
    """
    h, w, c = _check(arch, image_shape)
    sh, sw = h // 4, w // 4
    inputs, x = _generator_input(latent_dim, num_classes)
    if arch == "dcgan-deep":
        out = stages.deep_generator(x, h, c, _deep_width(h, width))
    elif arch == "dcgan-cifar":
        out = stages.cifar_generator(x, h, w, c)
    elif arch == "seed-classic":
        # seed 000: tanh everywhere, UpSampling2D + 'same' convs, one BatchNorm
        x = layers.Dense(1024, activation="tanh", name="dense1")(x)
        x = layers.Dense(128 * sh * sw, activation="tanh", name="dense2")(x)
        x = layers.BatchNormalization(name="bn")(x)
        x = layers.Reshape((sh, sw, 128), name="reshape")(x)
        x = layers.UpSampling2D(name="conv1_up")(x)
        x = layers.Conv2D(64, 5, padding="same", activation="tanh", name="conv1")(x)
        x = layers.UpSampling2D(name="image_up")(x)
        out = layers.Conv2D(c, 5, padding="same", activation="tanh", name="image",
                            dtype="float32")(x)
    else:
        # seed 002 (DCGAN guidelines); seed 003's WGAN uses the same G. Two stride-2
        # transposed convs from (H/4, W/4, 128): the TF tutorial's extra stride-1
        # 256->128 layer cost 4/5 of its FLOPs for little gain on 28x28 digits.
        # No bias before a BatchNorm: its beta does that job.
        x = layers.Dense(sh * sw * 128, use_bias=False, name="dense")(x)
        x = layers.ReLU(name="relu1")(layers.BatchNormalization(name="bn1")(x))
        x = layers.Reshape((sh, sw, 128), name="reshape")(x)
        x = layers.Conv2DTranspose(64, 5, strides=2, padding="same", use_bias=False,
                                   name="deconv")(x)
        x = layers.ReLU(name="relu2")(layers.BatchNormalization(name="bn2")(x))
        # the output layer keeps its bias: no BatchNorm follows it
        out = layers.Conv2DTranspose(c, 5, strides=2, padding="same", activation="tanh",
                                     name="image", dtype="float32")(x)
    return keras.Model(inputs, out, name="generator")


# seeds: seed-classic <- 000, dcgan <- 002, wgan <- 003 (critic), dcgan-cifar <- 002
def build_discriminator(arch: str, image_shape: tuple[int, int, int],
                        num_classes: int = 0, width: int | None = None,
                        spectral_norm: bool = False,
                        conditional: str = "projection") -> keras.Model:
    """image (H, W, C) [+ label ()] -> logit (1,), linear [+ class logits].

    Args:
      arch: one of config.IMAGE_MODELS.
      image_shape: (H, W, C), sides as config.image_sides_error allows for arch
        (seed-classic: at least 12).
      num_classes: > 0 makes D conditional, as `conditional` says (see `_head`).
      width: dcgan-deep's channel knob, as for build_generator.
      spectral_norm: wrap every Conv2D and Dense in SpectralNormalization.
      conditional: projection | acgan | none, with num_classes > 0.
    Raises:
      ValueError: unknown arch or conditional, bad shape or width.
    """
    h, w, c = _check(arch, image_shape)
    wrap = _spectral_norm if spectral_norm else _same
    x_in = keras.Input((h, w, c), name="image")
    x = x_in
    if arch == "dcgan-deep":
        feat = stages.deep_discriminator(x, h, _deep_width(h, width), wrap)
    elif arch == "dcgan-cifar":
        feat = stages.cifar_discriminator(x, wrap)
    elif arch == "seed-classic":
        # seed 000: tanh convs with max-pooling; the second conv is 'valid' as in the seed,
        # so H/2 - 4 must still leave a 2x2 map for the second pool
        if h < 12 or w < 12:
            raise ValueError(f"seed-classic discriminator needs images of at least 12x12, "
                             f"got {h}x{w}")
        for i, (filters, padding) in enumerate(((64, "same"), (128, "valid")), 1):
            x = wrap(layers.Conv2D(filters, 5, padding=padding, activation="tanh",
                                   name=f"conv{i}"))(x)
            x = layers.MaxPooling2D(name=f"pool{i}")(x)
        x = layers.Flatten(name="flatten")(x)
        feat = wrap(layers.Dense(1024, activation="tanh", name="features"))(x)
    else:
        # dcgan: seed 002 / TF DCGAN tutorial, LeakyReLU + Dropout, no BatchNorm.
        # wgan: seed 003's critic family; no Dropout (noise in the critic) and no
        # BatchNorm (it couples samples in a batch, which breaks the per-sample
        # gradient penalty).
        dropout = arch == "dcgan"
        for i, filters in enumerate((64, 128), 1):
            x = wrap(layers.Conv2D(filters, 5, strides=2, padding="same", name=f"conv{i}"))(x)
            x = layers.LeakyReLU(negative_slope=0.2, name=f"lrelu{i}")(x)
            if dropout:
                x = layers.Dropout(0.3, name=f"dropout{i}")(x)
        feat = layers.Flatten(name="flatten")(x)
    outputs, labels = _head(feat, num_classes, conditional, wrap)
    return keras.Model([x_in, *labels] if labels else x_in, outputs, name="discriminator")


def _head(feat, num_classes: int, conditional: str = "projection", wrap=_same):
    """D's outputs from its feature vector `feat` -> (outputs, extra inputs), float32;
    `wrap` wraps the Dense layers (spectral norm):
    - num_classes 0 or conditional "none": Dense(1) "logit"; no extra input.
    - projection: "logit" = Dense(1)(h) + <Embedding(label), h>; the label input.
    - acgan: [Dense(1) "logit", Dense(num_classes) "class_logits"]; no extra input
      (ACGAN's D is not given the label).
    """
    if conditional not in CONDITIONALS:
        raise ValueError(f"unknown conditional {conditional!r}; valid: {', '.join(CONDITIONALS)}")
    if num_classes <= 0 or conditional == "none":
        return wrap(layers.Dense(1, name="logit", dtype="float32"))(feat), []
    if conditional == "acgan":
        return [wrap(layers.Dense(1, name="logit", dtype="float32"))(feat),
                wrap(layers.Dense(num_classes, name="class_logits", dtype="float32"))(feat)], []
    # projection: the label picks a direction in feature space and D adds h's component
    # along it to the unconditional logit
    y = _label_input()
    e = _embed(y, num_classes, feat.shape[-1], "label_projection")
    proj = layers.Dot(axes=1, name="projection", dtype="float32")([feat, e])
    out = layers.Add(name="logit", dtype="float32")(
        [wrap(layers.Dense(1, name="linear", dtype="float32"))(feat), proj])
    return out, [y]
