"""The in-graph source of training images for train-mnist. TensorFlow is imported
inside the methods, so importing this module stays cheap.
"""
from __future__ import annotations

import numpy as np

from gancli.data.images import ImageData


class ImageSource:
    """Training images resident on the device (uint8), shuffled once per epoch inside
    the graph; each call returns the next batch of the current permutation, scaled to
    [-1, 1]. The permutation and cursor are variables, so checkpoints carry them.
    `class_cdf`: the labels' cumulative class frequencies, for G's label draws."""

    def __init__(self, data: ImageData, conditional: bool = False):
        import tensorflow as tf

        self.n = len(data.images)
        self.num_classes = data.num_classes if conditional else 0
        self.x = tf.constant(data.images)
        self.y = tf.constant(data.labels, tf.int32) if self.num_classes else None
        self.class_cdf = None  # G's labels: the training labels' class frequencies
        if self.num_classes:
            self.class_cdf = tuple(float(c) for c in np.cumsum(data.class_frequencies()))
        self.perm = tf.Variable(tf.range(self.n, dtype=tf.int32), trainable=False, name="perm")
        self.cursor = tf.Variable(self.n, trainable=False, name="cursor")  # shuffle first
        self.variables = [self.perm, self.cursor]

    def sample(self, rng, n):
        import tensorflow as tf

        def shuffle():
            # an epoch ends when the next batch would run past the end (drop remainder)
            self.perm.assign(tf.cast(tf.argsort(rng.uniform([self.n])), tf.int32))
            self.cursor.assign(0)
            return tf.constant(0)

        tf.cond(self.cursor + n > self.n, shuffle, lambda: tf.constant(0))
        idx = self.perm[self.cursor:self.cursor + n]
        self.cursor.assign_add(n)
        x = tf.cast(tf.gather(self.x, idx), tf.float32) / 127.5 - 1.0
        y = None if self.y is None else tf.gather(self.y, idx)
        return x, y
