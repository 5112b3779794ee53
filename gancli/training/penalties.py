"""Gradient penalties on D's input gradient: wgan-gp's (Gulrajani et al. 2017) and R1
(Mescheder et al. 2018). Each takes `critic`, a function x -> D's output that the
trainer builds: D run frozen (so the penalty leaves D's BatchNorm statistics and RNG
state alone), through the augmentation D sees, with the batch's labels.

Under --precision fp16 the input gradient is taken of D's output times the
optimizer's loss scale and divided back (PyTorch's AMP recipe for gradient penalties),
so it does not underflow in float16; if the scale is too high for it, the penalty is
not finite, nor are D's scaled gradients: the LossScaleOptimizer skips that update and
lowers its scale.
"""
from __future__ import annotations

import tensorflow as tf


def grad_sq_norms(critic, x, loss_scale=None):
    """||grad_x sum critic(x)||^2 per sample ([n]); `loss_scale`: fp16's (float32)."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = tf.reduce_sum(tf.cast(critic(x), tf.float32))
        if loss_scale is not None:
            out *= loss_scale
    grads = tape.gradient(out, x)
    if loss_scale is not None:
        grads /= loss_scale
    return tf.reduce_sum(tf.square(grads), axis=list(range(1, len(x.shape))))


def gradient_penalty(critic, real, fake, eps, loss_scale=None):
    """wgan-gp: mean (||grad_x D(x_hat)|| - 1)^2 on x_hat = eps real + (1 - eps) fake."""
    x_hat = eps * real + (1.0 - eps) * tf.cast(fake, real.dtype)
    norm = tf.sqrt(grad_sq_norms(critic, x_hat, loss_scale) + 1e-12)
    return tf.reduce_mean(tf.square(norm - 1.0))


def r1(critic, real, gamma: float, loss_scale=None):
    """R1: gamma/2 x mean ||grad_x D(x)||^2 on the reals."""
    return 0.5 * gamma * tf.reduce_mean(grad_sq_norms(critic, real, loss_scale))
