"""Real samples for train-dist: vectors of draws from a normal or an equal-weight
normal mixture, drawn in-graph from the trainer's RNG."""
from __future__ import annotations

import tensorflow as tf


class DistSource:
    """Vectors of `vector_len` i.i.d. draws from the target."""

    num_classes = 0
    class_cdf = None
    variables: list = []

    def __init__(self, components: list[tuple[float, float]], vector_len: int):
        self.means = tf.constant([m for m, _ in components], tf.float32)
        self.stds = tf.constant([s for _, s in components], tf.float32)
        self.vector_len = vector_len

    def sample(self, rng: tf.random.Generator, n: int):
        shape = [n, self.vector_len]
        k = len(self.means.shape) and self.means.shape[0]
        if k == 1:
            return rng.normal(shape, self.means[0], self.stds[0]), None
        comp = rng.uniform(shape, 0, k, dtype=tf.int32)
        z = rng.normal(shape)
        return tf.gather(self.means, comp) + tf.gather(self.stds, comp) * z, None
