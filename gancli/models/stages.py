"""Network bodies built in x2 stages: dcgan-deep, which grows with the resolution, and
seed 002's CIFAR-10 pair (dcgan-cifar). gancli.models.images adds the inputs (noise,
labels) and D's head (logit, projection); these functions take and return tensors.

dcgan-deep, for square images of side 2^k (config.DEEP_SIDES: 16 ... 1024): the DCGAN paper's pair.
G projects its input to 4x4 (Dense, BatchNorm, ReLU) and doubles the resolution per
stage with a 4x4 stride-2 Conv2DTranspose, BatchNorm and ReLU; the last stage makes
the image (tanh). D mirrors it: 4x4 stride-2 Conv2D + LeakyReLU(0.2) from the image
down to 4x4, then Flatten. Channels come from one knob, `width`: the channels of G's
last hidden stage (at H/2), doubling toward 4x4 and capped at 8 x width; D's stage at
each resolution has the channels of G's there. DCGAN's 64 px G (1024-512-256-128) is
width 128. D has no BatchNorm: it would couple the samples of a batch (the trainer runs
D once on [real; fake]), which per-sample gradient penalties (wgan-gp) cannot have.
"""
from __future__ import annotations

from keras import layers

MAX_WIDTH_FACTOR = 8  # stage channels are capped at 8 x width (DCGAN's 1024 = 8 x 128)


def _identity(layer):
    return layer


def default_width(side: int) -> int:
    """dcgan-deep's width when --width is not given: 4096 / side, kept in [16, 64].
    64 up to 64 px: at 32 px G runs 256-128-64 (~36 MFLOP per image each way), which
    trains in minutes on two CPU cores; above 64 px halving the width per doubling keeps
    each stage's cost about the same (4x the pixels, 1/4 of the channel products)."""
    return max(16, min(64, 4096 // side))


def stage_widths(side: int, width: int) -> list[int]:
    """Channels of G's feature maps at 4x4, 8x8, ..., side/2 (D's at the same sizes)."""
    sizes = [2 ** k for k in range(2, side.bit_length() - 1)]  # 4 .. side / 2
    return [min(width * (side // 2) // r, MAX_WIDTH_FACTOR * width) for r in sizes]


def deep_generator(x, side: int, channels: int, width: int):
    """G's input tensor (noise, or noise and label embedding) -> image (side, side,
    channels) in [-1, 1]."""
    widths = stage_widths(side, width)
    # no bias before a BatchNorm: its beta does that job
    x = layers.Dense(4 * 4 * widths[0], use_bias=False, name="dense")(x)
    x = layers.BatchNormalization(name="bn0")(x)
    x = layers.ReLU(name="relu0")(x)
    x = layers.Reshape((4, 4, widths[0]), name="reshape")(x)
    for i, filters in enumerate(widths[1:], 1):
        x = layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=False,
                                   name=f"deconv{i}")(x)
        x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.ReLU(name=f"relu{i}")(x)
    return layers.Conv2DTranspose(channels, 4, strides=2, padding="same",
                                  activation="tanh", name="image", dtype="float32")(x)


def deep_discriminator(x, side: int, width: int, wrap=_identity):
    """image (side, side, C) -> D's feature vector (4 * 4 * widths[0]). `wrap` wraps
    each Conv2D (spectral normalization)."""
    for i, filters in enumerate(reversed(stage_widths(side, width)), 1):
        x = wrap(layers.Conv2D(filters, 4, strides=2, padding="same", name=f"conv{i}"))(x)
        x = layers.LeakyReLU(negative_slope=0.2, name=f"lrelu{i}")(x)
    return layers.Flatten(name="flatten")(x)


# seed 002's CIFAR-10 network, as its notebook builds it (mafda/generative_adversarial_
# networks_101, src/cifar10/02_DCGAN_CIFAR10.ipynb): G 100 -> Dense 2x2x512 -> 256, 128,
# 64 -> 3, each transposed conv 5x5 stride 2, BatchNorm and LeakyReLU(0.2) between, tanh
# out; D 64, 128, 256, 512 5x5 stride-2 convs with LeakyReLU(0.2), BatchNorm after all
# but the first, Flatten, Dense(1).
# N(0, 0.02) initializes the notebook's first layer of each net; the others keep Keras's
# default. For other sides than 32 the same stack starts at (H/16, W/16). The seed's
# summary gives the paper's 1024-512-256-128 and says the code differs by a factor of
# two: the notebook's widths are half the paper's.
CIFAR_WIDTHS = (512, 256, 128, 64)


def cifar_generator(x, height: int, width: int, channels: int):
    """seed 002's CIFAR-10 G: its input tensor -> image (height, width, channels)."""
    from keras import initializers

    sh, sw = height // 16, width // 16
    x = layers.Dense(sh * sw * CIFAR_WIDTHS[0], name="dense",
                     kernel_initializer=initializers.RandomNormal(stddev=0.02))(x)
    x = layers.Reshape((sh, sw, CIFAR_WIDTHS[0]), name="reshape")(x)
    x = layers.BatchNormalization(name="bn0")(x)
    x = layers.LeakyReLU(negative_slope=0.2, name="lrelu0")(x)
    for i, filters in enumerate(CIFAR_WIDTHS[1:], 1):
        x = layers.Conv2DTranspose(filters, 5, strides=2, padding="same",
                                   name=f"deconv{i}")(x)
        x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.LeakyReLU(negative_slope=0.2, name=f"lrelu{i}")(x)
    return layers.Conv2DTranspose(channels, 5, strides=2, padding="same", activation="tanh",
                                  name="image", dtype="float32")(x)


def cifar_discriminator(x, wrap=_identity):
    """seed 002's CIFAR-10 D: image -> its feature vector (the Flatten before the
    notebook's sigmoid Dense, which D's head makes a linear logit)."""
    from keras import initializers

    for i, filters in enumerate(reversed(CIFAR_WIDTHS), 1):
        init = initializers.RandomNormal(stddev=0.02) if i == 1 else "glorot_uniform"
        x = wrap(layers.Conv2D(filters, 5, strides=2, padding="same", name=f"conv{i}",
                               kernel_initializer=init))(x)
        if i > 1:
            x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.LeakyReLU(negative_slope=0.2, name=f"lrelu{i}")(x)
    return layers.Flatten(name="flatten")(x)
