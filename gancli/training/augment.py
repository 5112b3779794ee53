"""Differentiable augmentation of every image D sees, with an optionally adaptive
probability.

DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN
Training"): D is trained and used on T(x) -- reals and fakes alike, in the D step, in
the G step and in the gradient penalties -- and T is made of differentiable ops, so G's
gradient passes through it. The ops, applied in this order (DiffAugment_tf.py's), each
with its own draw per image:

- color: brightness x + (u - 0.5); saturation (x - m_c) * 2u + m_c, m_c the mean over
  channels; contrast (x - m) * (u + 0.5) + m, m the image's mean; u ~ U[0, 1)
- translation: the image moves by (dy, dx) pixels, integers uniform in
  [-H//8, H//8] x [-W//8, W//8]; the uncovered border is 0 (mid-grey in [-1, 1])
- cutout: an (H//2) x (W//2) square centred at a uniform position (it may hang over
  the edge) is set to 0

Each op is applied to each image with probability p (StyleGAN2-ADA's per-op
probability; p = 1 is DiffAugment). With an ADA `target` (Karras et al. 2020, "Training
Generative Adversarial Networks with Limited Data"), p adapts: every ADA_INTERVAL
iterations, r_t = the mean sign of D's outputs on the (augmented) reals since the last
adjustment, and p += sign(r_t - target) * (real images in those iterations) /
(ADA_KIMG * 1000), kept in [0, 1]: p rises while D is sure of the reals (overfits).

Drawing (`draw`) and applying (`apply`) are apart: the trainer draws for the global
batch from its one tf.random.Generator, and each tf.distribute replica applies its
slice of the draw (a dict of tensors whose first dimension is the batch).
"""
from __future__ import annotations

import tensorflow as tf

from gancli.config import AUGMENTATIONS

# op names per --augment name, in the order they are applied
OPS = {"color": ("brightness", "saturation", "contrast"),
       "translation": ("translation",), "cutout": ("cutout",)}
ADA_INTERVAL = 4  # iterations between adjustments of p (StyleGAN2-ADA's ada_interval)
ADA_KIMG = 500    # p can move by 1 over this many thousand real images (its ada_kimg)


# --- the ops: x is [n, H, W, C], the draws have n rows ----------------------------------

def _per_image(v, x):
    return tf.reshape(tf.cast(v, x.dtype), [-1, 1, 1, 1])


def brightness(x, u):
    return x + _per_image(u - 0.5, x)


def saturation(x, u):
    mean = tf.reduce_mean(x, axis=3, keepdims=True)
    return (x - mean) * _per_image(2.0 * u, x) + mean


def contrast(x, u):
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    return (x - mean) * _per_image(u + 0.5, x) + mean


def _shift(x, d, axis):
    # out[..., i, ...] = x[..., i - d, ...], 0 where i - d falls outside: gather from x
    # padded by one zero on each side, every outside index clipped onto a padding zero
    size = x.shape[axis]
    pad = [[0, 0]] * 4
    pad[axis] = [1, 1]
    idx = tf.clip_by_value(tf.range(size)[None, :] - d[:, None] + 1, 0, size + 1)
    return tf.gather(tf.pad(x, pad), idx, axis=axis, batch_dims=1)


def translation(x, shift):
    """Move each image by shift[i] = (dy, dx) pixels (down and right), zero fill."""
    return _shift(_shift(x, shift[:, 0], 1), shift[:, 1], 2)


def cutout(x, centre):
    """Zero an (H//2) x (W//2) square centred at centre[i] = (cy, cx) in each image
    (DiffAugment's rows cy - H//4 .. cy - H//4 + H//2 - 1, clipped to the image)."""
    inside = []
    for axis in (1, 2):
        size = x.shape[axis] // 2
        start = centre[:, axis - 1:axis] - size // 2
        pos = tf.range(x.shape[axis])[None, :]
        inside.append((pos >= start) & (pos < start + size))
    square = inside[0][:, :, None] & inside[1][:, None, :]
    return x * tf.cast(~square, x.dtype)[..., None]


FUNCTIONS = {"brightness": brightness, "saturation": saturation, "contrast": contrast,
             "translation": translation, "cutout": cutout}


# --- the pipeline and its probability ---------------------------------------------------

class Augment:
    """The --augment pipeline for images of `shape` (H, W, C): `draw` its random
    parameters, `apply` them; `p` (a variable, so checkpoints keep it) is the
    probability of each op per image. `target` > 0: ADA adapts p (`observe`);
    `images_per_step`: real images D sees per iteration (batch_size x n_critic)."""

    def __init__(self, names, shape, p: float = 1.0, target: float = 0.0,
                 images_per_step: int = 1):
        self.ops = tuple(op for name in AUGMENTATIONS if name in names for op in OPS[name])
        self.height, self.width = int(shape[0]), int(shape[1])
        self.target = float(target)
        self.rate = images_per_step * ADA_INTERVAL / (ADA_KIMG * 1000)
        self.p = tf.Variable(float(p), trainable=False, name="augment_p")
        self.variables = [self.p]
        if self.target:
            # since the last adjustment: sum and count of the per-iteration mean signs;
            # rt: the last r_t (reported)
            self.signs = tf.Variable(0.0, trainable=False, name="ada_signs")
            self.count = tf.Variable(0.0, trainable=False, name="ada_count")
            self.rt = tf.Variable(0.0, trainable=False, name="ada_rt")
            self.variables += [self.signs, self.count, self.rt]

    def draw(self, rng: tf.random.Generator, n) -> dict:
        """The random parameters for n images: {op: (applied [n] bool, values)}."""
        out = {}
        for op in self.ops:
            on = rng.uniform([n]) < self.p
            if op == "translation":
                dy, dx = self.height // 8, self.width // 8
                values = tf.stack([rng.uniform([n], -dy, dy + 1, dtype=tf.int32),
                                   rng.uniform([n], -dx, dx + 1, dtype=tf.int32)], axis=1)
            elif op == "cutout":
                # DiffAugment's range: an even-sided square's centre may also sit at H
                top_y = self.height + 1 - (self.height // 2) % 2
                top_x = self.width + 1 - (self.width // 2) % 2
                values = tf.stack([rng.uniform([n], 0, top_y, dtype=tf.int32),
                                   rng.uniform([n], 0, top_x, dtype=tf.int32)], axis=1)
            else:
                values = rng.uniform([n])
            out[op] = (on, values)
        return out

    def apply(self, x, draw: dict):
        """x [n, H, W, C] with each op of `draw` applied where it says so; an image no op
        applies to comes back bit-identical."""
        for op in self.ops:
            on, values = draw[op]
            x = tf.where(tf.reshape(on, [-1, 1, 1, 1]), FUNCTIONS[op](x, values), x)
        return x

    def observe(self, sign_mean, step) -> None:
        """ADA, in the graph, once per iteration after `step` moved on: add this
        iteration's mean sign of D(augmented reals); every ADA_INTERVAL steps move p by
        the rate towards more augmentation if r_t > target, else less. No-op without a
        target. A non-finite sign (a diverged step) is left out."""
        if not self.target:
            return
        ok = tf.math.is_finite(sign_mean)
        self.signs.assign_add(tf.where(ok, sign_mean, 0.0))
        self.count.assign_add(tf.cast(ok, tf.float32))
        due = tf.logical_and(step % ADA_INTERVAL == 0, self.count > 0)
        rt = self.signs / tf.maximum(self.count, 1.0)
        moved = tf.clip_by_value(self.p + tf.sign(rt - self.target) * self.rate, 0.0, 1.0)
        self.p.assign(tf.where(due, moved, self.p))
        self.rt.assign(tf.where(due, rt, self.rt))
        self.signs.assign(tf.where(due, 0.0, self.signs))
        self.count.assign(tf.where(due, 0.0, self.count))

    def stats(self) -> dict[str, float]:
        """metrics.csv's columns: augment_p, and under ADA the last r_t (ada_rt)."""
        out = {"augment_p": float(self.p.numpy())}
        if self.target:
            out["ada_rt"] = float(self.rt.numpy())
        return out
