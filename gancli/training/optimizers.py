"""Optimizers by config name, with TensorFlow's fused update kernels.

Keras 3's SGD and Adam update a variable with a chain of element-wise ops (multiply,
subtract, assign, ...), each a full pass over the variable's memory. For the 6.7M
parameters of seed-classic's generator one Nesterov SGD update took 30 ms on a
2-core CPU, a sixth of a training step. TensorFlow's training kernels
(ResourceApplyKerasMomentum, ResourceApplyAdam, which XLA compiles too) do the same
arithmetic, in the same order, in one pass: 4.8 ms.

FusedSGD and FusedAdam are Keras's SGD and Adam -- same slots, same config, same
checkpoints -- whose `update_step` calls those kernels for dense gradients on the
TensorFlow backend, and falls back to Keras's own step for anything else (sparse
IndexedSlices gradients from an Embedding, amsgrad, SGD without momentum).

`decay_linearly` is --lr_decay: one step of a straight line from the current rate to 0.
"""
from __future__ import annotations

import keras
import tensorflow as tf


def _handle(variable):
    """The resource handle of a Keras or tf variable (inside a tf.distribute update:
    of the current device's copy)."""
    if isinstance(variable, keras.Variable):
        variable = variable.value
    return variable.handle


def _dense(gradient) -> bool:
    return keras.backend.backend() == "tensorflow" and not isinstance(gradient,
                                                                      tf.IndexedSlices)


@keras.saving.register_keras_serializable(package="gancli")
class FusedSGD(keras.optimizers.SGD):
    """keras.optimizers.SGD, updated by ResourceApplyKerasMomentum when momentum > 0:
    m = momentum m - lr g; var += m (Nesterov: var += momentum m - lr g)."""

    def update_step(self, gradient, variable, learning_rate):
        if self.momentum == 0 or not _dense(gradient):
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        m = self.momentums[self._get_variable_index(variable)]
        tf.raw_ops.ResourceApplyKerasMomentum(
            var=_handle(variable), accum=_handle(m), lr=tf.cast(learning_rate, dtype),
            grad=tf.cast(gradient, dtype), momentum=tf.cast(self.momentum, dtype),
            use_nesterov=bool(self.nesterov))


@keras.saving.register_keras_serializable(package="gancli")
class FusedAdam(keras.optimizers.Adam):
    """keras.optimizers.Adam, updated by ResourceApplyAdam (without amsgrad):
    m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2);
    var -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps)."""

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad or not _dense(gradient):
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        i = self._get_variable_index(variable)
        t = tf.cast(self.iterations + 1, dtype)
        b1, b2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=_handle(variable), m=_handle(self._momentums[i]),
            v=_handle(self._velocities[i]), beta1_power=tf.pow(b1, t),
            beta2_power=tf.pow(b2, t), lr=tf.cast(learning_rate, dtype), beta1=b1, beta2=b2,
            epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(gradient, dtype))


def make_optimizer(name: str, lr, *, beta1=0.9, beta2=0.999, momentum=0.0,
                   nesterov=False, fused: bool = True) -> keras.optimizers.Optimizer:
    """Optimizer by config name; `lr` may be a float or a Keras schedule.
    fused=False gives Keras's own SGD / Adam (the benchmarks' seed-style reference)."""
    if name == "adam":
        cls = FusedAdam if fused else keras.optimizers.Adam
        return cls(lr, beta_1=beta1, beta_2=beta2)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(lr, momentum=momentum)
    if name == "sgd":
        cls = FusedSGD if fused else keras.optimizers.SGD
        return cls(lr, momentum=momentum, nesterov=nesterov)
    raise ValueError(f"unknown optimizer {name!r}")


def decay_linearly(opt: keras.optimizers.Optimizer, step, end: int) -> None:
    """--lr_decay, called after generator step `step` (1, 2, ...): the learning rate
    goes on in a straight line from its current value to 0 at step `end`,
    lr *= (end - step) / (end - step + 1) (0 from `end` on). From step 0 this is
    lr0 (1 - step / end). The rate is optimizer state, saved in checkpoints, so a run
    resumed with a later `end` (a larger --steps) continues from the rate it had
    reached, without a jump."""
    left = tf.cast(end, tf.int64) - tf.cast(step, tf.int64)
    factor = (tf.cast(tf.maximum(left, 0), tf.float32)
              / tf.cast(tf.maximum(left + 1, 1), tf.float32))
    lr = opt.learning_rate  # a LossScaleOptimizer's is its inner optimizer's
    lr.assign(lr * tf.cast(factor, lr.dtype))
