"""Generators and discriminators for images (seeds 000, 002, 003).

Channels-last throughout; generators end in tanh, so images live in [-1, 1].
Discriminators end in a linear Dense(1): one raw logit (or critic value) per
sample, and the losses apply any sigmoid themselves.

Both sides take a class label when `num_classes > 0`:
- G([noise, label]): the label is embedded (Embedding(num_classes, 50)) and
  concatenated with the noise before the first Dense (the cGAN/ACGAN input).
- D([image, label]) is a projection discriminator (Miyato & Koyama 2018):
  logit = Dense(1)(h) + <Embedding(num_classes, |h|)(label), h>, where h is the
  feature vector that feeds D's final Dense. The inner product is a stock
  `Dot(axes=1)` layer.
Only stock Keras layers are saved (no Lambda, no gancli layers), so a saved
generator or discriminator opens with `keras.models.load_model` alone. seed-classic's
generator trains with gancli's UpConv2D (the seed's UpSampling2D + Conv2D computed at
the lower resolution), its discriminator with tanh after each max-pool and a
TransposedDense (Dense with its kernel stored (units, in)) and, on CPUs, with
FastGradConv2D (Conv2D with faster gradients). Each of these layers gives its stock
Keras equivalent through `stock_layers()`, which training/export.py saves.

Built under a mixed-precision policy (--precision bf16/fp16), the layers compute in
16 bits except the ones that make the outputs -- G's "image" layer, D's logit (and
the projection) -- which are pinned to float32: images and logits are float32.
"""
from __future__ import annotations

import math

import keras
from keras import layers

from gancli.models.fastconv import FastGradConv2D
from gancli.models.layers import TransposedDense, UpConv2D

ARCHS = ("seed-classic", "dcgan", "wgan")  # names used by config

LABEL_EMBED_DIM = 50  # width of G's label embedding, as in the Keras cGAN/ACGAN examples


def _check(arch: str, image_shape) -> tuple[int, int, int]:
    if arch not in ARCHS:
        raise ValueError(f"unknown image model {arch!r}; valid: {', '.join(ARCHS)}")
    shape = tuple(image_shape)
    if len(shape) != 3 or not all(isinstance(d, int) and d > 0 for d in shape):
        raise ValueError(f"image_shape must be (height, width, channels) of positive ints, "
                         f"got {image_shape!r}")
    h, w, c = shape
    # every generator doubles its resolution twice from (H/4, W/4)
    if h % 4 or w % 4:
        raise ValueError(f"image height and width must be divisible by 4, got {h}x{w}")
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


# seeds: seed-classic <- 000, dcgan <- 002, wgan <- 003 (dcgan G)
def build_generator(arch: str, latent_dim: int, image_shape: tuple[int, int, int],
                    num_classes: int = 0, fused: bool = True) -> keras.Model:
    """noise (latent_dim,) [+ label ()] -> image (H, W, C) in [-1, 1].

    Args:
      arch: one of ARCHS; "wgan" uses the dcgan generator.
      latent_dim: length of the noise vector.
      image_shape: (H, W, C), H and W divisible by 4.
      num_classes: > 0 makes G conditional: it takes [noise, label].
      fused: seed-classic's UpSampling2D + Conv2D pairs as one UpConv2D each (the
        same function and weights, ~0.36 of the FLOPs); False builds the seed's stock
        layers. Saved generators always hold the stock layers (export.stock).
    Raises:
      ValueError: unknown arch, bad shape or sizes.
    """
    h, w, c = _check(arch, image_shape)
    sh, sw = h // 4, w // 4
    inputs, x = _generator_input(latent_dim, num_classes)
    if arch == "seed-classic":
        # seed 000: tanh everywhere, UpSampling2D + 'same' convs, one BatchNorm
        x = layers.Dense(1024, activation="tanh")(x)
        x = layers.Dense(128 * sh * sw, activation="tanh")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Reshape((sh, sw, 128))(x)
        if fused:
            x = UpConv2D(64, 5, activation="tanh", name="upconv")(x)
            out = UpConv2D(c, 5, activation="tanh", name="image", dtype="float32")(x)
        else:
            x = layers.UpSampling2D()(x)
            x = layers.Conv2D(64, 5, padding="same", activation="tanh")(x)
            x = layers.UpSampling2D()(x)
            out = layers.Conv2D(c, 5, padding="same", activation="tanh", name="image",
                                dtype="float32")(x)
    else:
        # seed 002 (DCGAN guidelines); seed 003's WGAN uses the same G. Two stride-2
        # transposed convs from (H/4, W/4, 128): the TF tutorial's extra stride-1
        # 256->128 layer cost 4/5 of its FLOPs for little gain on 28x28 digits.
        # No bias before a BatchNorm: its beta does that job.
        x = layers.Dense(sh * sw * 128, use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
        x = layers.Reshape((sh, sw, 128))(x)
        x = layers.Conv2DTranspose(64, 5, strides=2, padding="same", use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
        # the output layer keeps its bias: no BatchNorm follows it
        out = layers.Conv2DTranspose(c, 5, strides=2, padding="same", activation="tanh",
                                     name="image", dtype="float32")(x)
    return keras.Model(inputs, out, name="generator")


# seeds: seed-classic <- 000, dcgan <- 002, wgan <- 003 (critic)
def build_discriminator(arch: str, image_shape: tuple[int, int, int],
                        num_classes: int = 0, fused: bool = True,
                        fast_grads: bool = False) -> keras.Model:
    """image (H, W, C) [+ label ()] -> logit (1,), linear.

    Args:
      arch: one of ARCHS.
      image_shape: (H, W, C), H and W divisible by 4 (seed-classic: at least 12).
      num_classes: > 0 makes D a projection discriminator taking [image, label].
      fused: seed-classic computes the seed's function with less work: each conv's
        tanh after its 2x2 max-pool (tanh is increasing, so the two commute: a
        quarter of the tanh work, forward and backward), and the 1024-unit
        Dense as TransposedDense (the same kernel stored (units, in): faster matmuls
        on CPUs). The same weights; False builds the seed's layer stack.
      fast_grads: seed-classic's convs as FastGradConv2D (the same function and
        weights; gradients by routes that run faster on CPUs). Saved discriminators
        always hold stock layers (export.stock).
    Raises:
      ValueError: unknown arch or bad shape.
    """
    h, w, c = _check(arch, image_shape)
    x_in = keras.Input((h, w, c), name="image")
    x = x_in
    if arch == "seed-classic":
        # seed 000: tanh convs with max-pooling; the second conv is 'valid' as in the seed,
        # so H/2 - 4 must still leave a 2x2 map for the second pool
        if h < 12 or w < 12:
            raise ValueError(f"seed-classic discriminator needs images of at least 12x12, "
                             f"got {h}x{w}")
        conv = FastGradConv2D if fast_grads else layers.Conv2D
        for i, (filters, padding) in enumerate(((64, "same"), (128, "valid")), 1):
            x = conv(filters, 5, padding=padding, activation=None if fused else "tanh",
                     name=f"conv{i}")(x)
            x = layers.MaxPooling2D(name=f"pool{i}")(x)
            if fused:
                x = layers.Activation("tanh", name=f"tanh{i}")(x)
        x = layers.Flatten(name="flatten")(x)
        dense = TransposedDense if fused else layers.Dense
        feat = dense(1024, activation="tanh", name="features")(x)
    else:
        # dcgan: seed 002 / TF DCGAN tutorial, LeakyReLU + Dropout, no BatchNorm.
        # wgan: seed 003's critic family; no Dropout (noise in the critic) and no
        # BatchNorm (it couples samples in a batch, which breaks the per-sample
        # gradient penalty).
        dropout = arch == "dcgan"
        for filters in (64, 128):
            x = layers.Conv2D(filters, 5, strides=2, padding="same")(x)
            x = layers.LeakyReLU(negative_slope=0.2)(x)
            if dropout:
                x = layers.Dropout(0.3)(x)
        feat = layers.Flatten()(x)
    if num_classes <= 0:
        out = layers.Dense(1, name="logit", dtype="float32")(feat)
        return keras.Model(x_in, out, name="discriminator")
    # projection: the label picks a direction in feature space and D adds h's component
    # along it to the unconditional logit
    y = _label_input()
    e = _embed(y, num_classes, feat.shape[-1], "label_projection")
    proj = layers.Dot(axes=1, name="projection", dtype="float32")([feat, e])
    out = layers.Add(name="logit", dtype="float32")(
        [layers.Dense(1, name="linear", dtype="float32")(feat), proj])
    return keras.Model([x_in, y], out, name="discriminator")


def flops_per_image(model: keras.Model) -> int:
    """Forward-pass FLOPs for one sample: 2 x multiply-adds of Dense, Conv1D, Conv2D and
    Conv2DTranspose (the sum of `flops_by_kind`).

    Counted from kernel and output shapes; biases, activations, normalization,
    pooling, embeddings and the projection's inner product are left out (they are
    a small fraction for these models). Nested models are counted through.
    Dense on a rank > 2 input counts once per leading position.
    """
    return sum(flops_by_kind(model).values())


def flops_by_kind(model: keras.Model) -> dict[str, int]:
    """flops_per_image split into {"matmul": Dense, "conv": Conv1D/2D/2DTranspose},
    the two kinds whose peak rates a benchmark compares against."""
    out = {"matmul": 0, "conv": 0}
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            for kind, n in flops_by_kind(layer).items():
                out[kind] += n
        elif isinstance(layer, UpConv2D):
            # the FLOPs it runs: a T x T conv to 4 x filters at the input's resolution
            hin, win, c_in = layer.input.shape[1:4]
            out["conv"] += 2 * hin * win * layer.taps ** 2 * c_in * 4 * layer.filters
        elif isinstance(layer, layers.Conv2DTranspose):
            # every input pixel scatters a kh x kw x c_out patch: kernel is (kh, kw, out, in)
            kh, kw, c_out, c_in = layer.kernel.shape
            hin, win = layer.input.shape[1:3]
            out["conv"] += 2 * hin * win * kh * kw * c_in * c_out
        elif isinstance(layer, layers.Conv2D):
            # every output pixel is a kh x kw x (c_in/groups) dot product per output channel
            kh, kw, c_in_g, c_out = layer.kernel.shape
            hout, wout = layer.output.shape[1:3]
            out["conv"] += 2 * hout * wout * kh * kw * c_in_g * c_out
        elif isinstance(layer, layers.Conv1D):
            k, c_in_g, c_out = layer.kernel.shape
            out["conv"] += 2 * layer.output.shape[1] * k * c_in_g * c_out
        elif isinstance(layer, TransposedDense):
            n_out, n_in = layer.kernel_t.shape
            out["matmul"] += 2 * n_in * n_out
        elif isinstance(layer, layers.Dense):
            n_in, n_out = layer.kernel.shape
            positions = math.prod(layer.output.shape[1:-1])
            out["matmul"] += 2 * positions * n_in * n_out
    return {kind: int(n) for kind, n in out.items()}
