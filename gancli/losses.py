"""Adversarial losses on raw discriminator outputs (logits): one `Loss` subclass each.

`make_loss(name, ...)` builds one from the config; its `d_loss(real_out, fake_out)` is
the discriminator step's loss and `g_loss(fake_out)` the generator step's, and its
`clip` / `gp_weight` tell the trainer about weight clipping and the gradient penalty.
D never ends in a sigmoid; bce applies it inside a numerically stable softplus form.
`class_loss` is ACGAN's auxiliary classification term, which the trainer adds to both.
"""
from __future__ import annotations

import tensorflow as tf


def _bce(logits, target):
    # -t log sigmoid(l) - (1 - t) log(1 - sigmoid(l)), stable for any logit
    return target * tf.nn.softplus(-logits) + (1.0 - target) * tf.nn.softplus(logits)


class Loss:
    """An adversarial objective. `clip` and `gp_weight` are read by the trainer."""

    name = ""
    clip = 0.0        # wgan: clip critic weights to [-clip, clip] after each D step
    gp_weight = 0.0   # wgan-gp: weight of the gradient penalty
    probability = False  # True: D's output is a logit and D(x) is reported as sigmoid

    def d_loss(self, real_out, fake_out):
        raise NotImplementedError

    def g_loss(self, fake_out):
        raise NotImplementedError


class BCE(Loss):
    name, probability = "bce", True

    def __init__(self, real_label=1.0, fake_label=0.0):
        self.real_label, self.fake_label = float(real_label), float(fake_label)

    def d_loss(self, real_out, fake_out):
        return (tf.reduce_mean(_bce(real_out, self.real_label))
                + tf.reduce_mean(_bce(fake_out, self.fake_label)))

    def g_loss(self, fake_out):
        # non-saturating: G wants D to call its samples real (target 1)
        return tf.reduce_mean(tf.nn.softplus(-fake_out))


class LSGAN(Loss):
    name = "lsgan"

    def d_loss(self, real_out, fake_out):
        return 0.5 * (tf.reduce_mean(tf.square(real_out - 1.0))
                      + tf.reduce_mean(tf.square(fake_out)))

    def g_loss(self, fake_out):
        return 0.5 * tf.reduce_mean(tf.square(fake_out - 1.0))


class WGAN(Loss):
    name = "wgan"

    def __init__(self, clip=0.01):
        self.clip = float(clip)

    def d_loss(self, real_out, fake_out):
        return tf.reduce_mean(fake_out) - tf.reduce_mean(real_out)

    def g_loss(self, fake_out):
        return -tf.reduce_mean(fake_out)


class WGANGP(WGAN):
    name = "wgan-gp"

    def __init__(self, gp_weight=10.0):
        self.clip, self.gp_weight = 0.0, float(gp_weight)


class Hinge(Loss):
    name = "hinge"

    def d_loss(self, real_out, fake_out):
        return (tf.reduce_mean(tf.nn.relu(1.0 - real_out))
                + tf.reduce_mean(tf.nn.relu(1.0 + fake_out)))

    def g_loss(self, fake_out):
        return -tf.reduce_mean(fake_out)


def class_loss(class_logits, labels):
    """ACGAN's auxiliary class term: the mean softmax cross-entropy of D's class logits
    (n, C) against the int labels (n,); D minimizes it on real and fake images, G on
    its fakes (Odena et al. 2017)."""
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(labels, tf.int32), logits=tf.cast(class_logits, tf.float32)))


def make_loss(name: str, *, real_label=1.0, fake_label=0.0, clip_value=0.01,
              gp_weight=10.0) -> Loss:
    """Loss by config name."""
    if name == "bce":
        return BCE(real_label, fake_label)
    if name == "lsgan":
        return LSGAN()
    if name == "wgan":
        return WGAN(clip_value)
    if name == "wgan-gp":
        return WGANGP(gp_weight)
    if name == "hinge":
        return Hinge()
    raise ValueError(f"unknown loss {name!r}")
