"""--strategy: one training loop on several devices or machines with tf.distribute.

`one_device` (what `auto` means unless more than one GPU is visible) uses no strategy
object at all: the plain GANTrainer, unchanged. `mirrored` (MirroredStrategy over the
local GPUs, or over logical CPUs when there is none) and `multiworker`
(MultiWorkerMirroredStrategy, cluster from TF_CONFIG) use DistributedTrainer:

- `batch_size` is the global batch. Each D and G step draws the global real batch,
  noise, labels and gradient-penalty weights in the cross-replica context from the
  trainer's one RNG -- exactly the draws a single device makes -- and `strategy.run`s
  the ordinary update on slice `replica_id_in_sync_group` (batch_size / replicas rows).
- Each replica differentiates its slice's mean loss / replicas; Keras 3's TF optimizer
  all-reduces gradients with SUM inside `apply` (TFOptimizer._all_reduce_sum_gradients)
  and applies the sum on every replica, so the step is the gradient of the global-batch
  mean loss. The gradient penalty is per sample, so slices give the same mean.
- Weight clipping and the EMA update run on each replica's own copy (variables keep
  TF's default aggregation NONE, so replica-context writes stay local); the values are
  the same on every replica, so nothing is copied between devices.
- The stats returned are the mean over replicas: the global-batch means.
- BatchNorm normalizes each replica's slice with that slice's statistics and keeps
  per-replica moving statistics (checkpoints and exports read replica 0's). Use
  models without BatchNorm when multi-device runs must match one device exactly.

Models, optimizers, the step counter, the RNG, the EMA copy and the data source's
state must all be created under `scope(strategy)`; commands build them there.
"""
from __future__ import annotations

import contextlib
import os

import tensorflow as tf

from gancli.errors import ConfigError
from gancli.training.trainer import GANTrainer

# Testing aid (docs/gpu.md): split the CPU into N logical devices before TensorFlow
# initializes, so `--strategy mirrored` has N replicas on a machine without GPUs.
LOGICAL_CPUS_ENV = "GANCLI_LOGICAL_CPUS"


def make_strategy(name: str):
    """The tf.distribute strategy for --strategy NAME, or None for one device.

    Call it before any other TensorFlow work: logical devices and the multi-worker
    runtime can only be configured before TensorFlow initializes."""
    _split_cpu()
    name = resolve_strategy(name)[0]
    if name == "multiworker":
        from gancli import cluster

        if cluster.tf_config() is None:
            raise ConfigError("--strategy multiworker reads the cluster from the TF_CONFIG "
                              "environment variable, which is not set (see docs/gpu.md)")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "one_device":
        return None
    if name != "mirrored":
        raise ConfigError(f"unknown strategy {name!r}")
    if has_gpu():
        return tf.distribute.MirroredStrategy()  # every visible GPU
    return tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])


def resolve_strategy(name: str) -> tuple[str, str]:
    """--strategy NAME -> (the strategy it means here, why): auto is mirrored when more
    than one GPU is visible, else one_device."""
    if name != "auto":
        return name, "as set"
    n = len(tf.config.list_physical_devices("GPU"))
    if n > 1:
        return "mirrored", f"auto: {n} GPUs visible"
    return "one_device", f"auto: {'one GPU' if n else 'no GPU'} visible"


def use_jit(setting: str, strategy, on_cpu: bool = False) -> bool:
    """--jit: whether to XLA-compile the whole multi-step loop (GANTrainer jit_compile);
    `strategy` is make_strategy's result (see resolve_jit)."""
    if setting == "on" and strategy is not None:
        raise ConfigError("--jit on compiles the whole training loop with XLA, which "
                          "tf.distribute strategies do not support; use --jit off (or auto) "
                          "with --strategy mirrored/multiworker")
    return resolve_jit(setting, strategy is not None, on_cpu)[0]


def resolve_jit(setting: str, distributed: bool, on_cpu: bool) -> tuple[bool, str]:
    """--jit SETTING -> (XLA on?, why). auto: on for one GPU, off under a tf.distribute
    strategy; on CPU, `on_cpu` (train-dist's small dense nets ran 1.5x faster with XLA
    at batch 10, the image nets' convolutions slower: benchmarks/bench_train.py --xla)."""
    if setting != "auto":
        return setting == "on", "as set"
    if distributed:
        return False, "auto: off under mirrored/multiworker (XLA cannot compile one loop " \
            "over several devices)"
    if has_gpu():
        return True, "auto: on for one GPU"
    if on_cpu:
        return True, "auto: on CPU on for train-dist (its small dense nets ran 1.5x " \
            "faster under XLA at batch 10)"
    return False, "auto: off on CPU for image models (their convolutions ran slower " \
        "under XLA)"


def has_gpu() -> bool:
    """Whether TensorFlow sees a GPU (the runs then train on it)."""
    return bool(tf.config.list_physical_devices("GPU"))


def _split_cpu() -> None:
    raw = os.environ.get(LOGICAL_CPUS_ENV, "").strip()
    if not raw:
        return
    try:
        n = int(raw)
    except ValueError:
        raise ConfigError(f"{LOGICAL_CPUS_ENV} must be a whole number, got {raw!r}") from None
    if n > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)])
        except RuntimeError:  # already initialized (e.g. a second run in one process)
            pass


def scope(strategy):
    """`strategy.scope()`, or a no-op for one device."""
    return contextlib.nullcontext() if strategy is None else strategy.scope()


class DistributedTrainer(GANTrainer):
    """GANTrainer whose D and G updates run on every replica of a tf.distribute strategy
    (see the module docstring); `train(n)` is still one compiled call of n iterations."""

    # Lazy R1 in a tf.cond gave a projection D's embedding IndexedSlices gradients that
    # the replicas' all-gather refused (shape mismatch), so here R1 runs every D step
    # and weighs 0 off the due ones: lazy R1's values, without its saving.
    LAZY_R1_SKIPS = False

    def __init__(self, strategy, generator, discriminator, loss, g_optimizer, d_optimizer,
                 source, *, batch_size: int, **kwargs):
        """`strategy`, then GANTrainer's arguments."""
        self.strategy = strategy
        self.replicas = strategy.num_replicas_in_sync
        self.multiworker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        for opt in (g_optimizer, d_optimizer):
            if getattr(opt, "_distribution_strategy", strategy) is not strategy:
                raise ValueError("create the optimizers (and models) in strategy.scope()")
        if batch_size % self.replicas:
            raise ConfigError(f"batch_size {batch_size} is the global batch and must split "
                              f"evenly over {self.replicas} replicas; use a multiple of "
                              f"{self.replicas}")
        self.per_replica = batch_size // self.replicas
        with strategy.scope():
            super().__init__(generator, discriminator, loss, g_optimizer, d_optimizer, source,
                             batch_size=batch_size, **kwargs)
        self._agree = tf.function(self._agree_fn)

    def describe(self) -> str:
        """One log line: the strategy, its replicas and the global / per-replica batch."""
        kind = "mirrored"
        where = ", ".join(d.split("/device:")[-1] for d in self.strategy.extended.worker_devices)
        if self.multiworker:
            from gancli import cluster

            task, index = cluster.task()
            kind, where = "multiworker", f"this is {task} {index}" + (
                ", the chief: it writes the run folder" if cluster.is_chief() else
                ", not the chief: its files go to a temporary folder")
        return (f"strategy {kind}: {self.replicas} replicas ({where}); batch_size "
                f"{self.batch_size} is the global batch = {self.per_replica} per replica")

    def train(self, n: int) -> dict[str, float]:
        with self.strategy.scope():
            return super().train(n)

    def _slice(self, draws):
        """This replica's rows of globally drawn tensors, nested ones (augmentation
        draws) included; None stays None."""
        i = tf.distribute.get_replica_context().replica_id_in_sync_group
        k = self.per_replica
        return [tf.nest.map_structure(lambda t: None if t is None else t[i * k:(i + 1) * k], d)
                for d in draws]

    def _d_step(self, r1_due=None):
        draws = self._d_draws(self.batch_size)
        stats = self.strategy.run(lambda: self._d_update(
            *self._slice(draws), scale=1.0 / self.replicas, r1_due=r1_due))
        return self.strategy.reduce(tf.distribute.ReduceOp.MEAN, stats, axis=None)

    def _shared_step(self, r1_due=None):
        draws = self._shared_draws(self.batch_size)
        d_stats, g_stats = self.strategy.run(lambda: self._shared_update(
            *self._slice(draws), scale=1.0 / self.replicas, r1_due=r1_due))
        mean = tf.distribute.ReduceOp.MEAN
        return (self.strategy.reduce(mean, d_stats, axis=None),
                self.strategy.reduce(mean, g_stats, axis=None))

    def _g_step(self):
        draws = self._g_draws(self.batch_size)
        loss = self.strategy.run(
            lambda: self._g_update(*self._slice(draws), scale=1.0 / self.replicas))
        return self.strategy.reduce(tf.distribute.ReduceOp.MEAN, loss, axis=None)

    # --- keeping workers in step -------------------------------------------------------

    def agree(self, chunk: int, stop: bool) -> tuple[int, bool]:
        """Multi-worker: every worker must run the same sequence of compiled calls, so
        the chunk size (timed locally) and the decision to stop (time limit, signal)
        are agreed: the mean chunk, and stop if any worker stops. Elsewhere: as given."""
        if not self.multiworker:
            return chunk, stop
        total = self._agree(tf.constant([float(chunk), float(bool(stop))]))
        mean = total.numpy() / self.replicas
        return max(1, int(mean[0])), bool(mean[1] > 0)

    def _agree_fn(self, values):
        def replica(v):
            return tf.distribute.get_replica_context().all_reduce(
                tf.distribute.ReduceOp.SUM, tf.identity(v))
        per_replica = self.strategy.run(replica, args=(values,))
        return self.strategy.experimental_local_results(per_replica)[0]
