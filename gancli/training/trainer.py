"""The one shared GAN training loop: alternating D and G steps, compiled.

`GANTrainer.train(n)` runs n iterations inside one tf.function call (a
tf.while_loop), so no Python runs between steps. Each iteration takes `n_critic`
discriminator steps and `n_gen` generator steps. With `reuse_fake` the last D step and
the first G step share one generator forward pass (PyTorch's DCGAN example does the
same): the D step trains on G(z) with the gradient stopped, and the G step then takes
its gradient through the updated D on that same G(z) -- exactly a D step and a G step
on the same noise, for one G forward less per iteration. Gradients are taken only for the
network being trained, and the other network is run through `stateless_call`, so
a G step leaves every D variable (BatchNorm statistics and RNG state included)
bit-identical, and a D step leaves G's likewise. The seeds' `trainable = False`
trick does not freeze anything in Keras 3; this does.

With an `augment` pipeline (gancli.training.augment, --augment) D sees every image
through it: reals and fakes in the D step, fakes in the G step, and the images of both
penalties (wgan-gp's interpolates lie between the augmented reals and fakes; R1's
gradient is taken w.r.t. the reals through the augmentation, as DiffAugment's and
StyleGAN2-ADA's code do). Each D call gets its own draw.

The trainer knows nothing of configs or files: it gets models, a loss, two
optimizers and a `source` of real samples that draws batches inside the graph.
A D with two outputs is an ACGAN D (models/images.py `_head`): it sees the image
alone and returns [logit, class logits]; `_split` is the one place that separates
them: the adversarial loss gets the logit, and `class_weight` x the class
cross-entropy is added to both losses (so d_loss and g_loss report it too).
"""
from __future__ import annotations

import math
from typing import Protocol

import keras
import numpy as np
import tensorflow as tf

from gancli.losses import Loss, class_loss
from gancli.training import guards, optimizers, penalties


class RealSource(Protocol):
    """Draws real batches inside the graph. `variables` is state to checkpoint.
    `class_cdf`: the training labels' cumulative class frequencies (num_classes
    floats ending at 1), which G's labels are drawn with; None: uniform classes."""

    num_classes: int
    variables: list
    class_cdf: tuple[float, ...] | None

    def sample(self, rng: tf.random.Generator, n: int):
        """-> (x, labels or None), both tensors with leading dimension n."""


def sample_noise(rng: tf.random.Generator, shape, noise: tuple[str, float, float]):
    """Noise of `shape` for a parse_noise spec, drawn in the graph (the host-side
    draws, for fixed inputs, are gancli.latents.draw_noise)."""
    kind, a, b = noise
    if kind == "uniform":
        return rng.uniform(shape, a, b)
    return rng.normal(shape, a, b)


class GANTrainer:
    """Owns G, D, their optimizers, the EMA generator, the step counter and the RNG.

    `precision` names the models' arithmetic (fp32, bf16, fp16: setup.make_trainer reads
    it from their dtype policy); it is logged and saved in generator.json."""

    STATS = ("d_loss", "g_loss", "d_real", "d_fake")
    LAZY_R1_SKIPS = True  # lazy R1 skips D's extra passes off its steps (a tf.cond)

    def __init__(self, generator: keras.Model, discriminator: keras.Model, loss: Loss,
                 g_optimizer, d_optimizer, source: RealSource, *, batch_size: int,
                 latent_dim: int, noise: tuple[str, float, float], n_critic: int = 1,
                 n_gen: int = 1, ema: float = 0.0, seed: int = 0, jit_compile: bool = False,
                 on_nan: str = "stop", reuse_fake: bool = False, precision: str = "fp32",
                 lr_decay_end: int = 0, class_weight: float = 1.0, augment=None,
                 r1: float = 0.0, r1_every: int = 1):
        self.G, self.D, self.loss = generator, discriminator, loss
        # ACGAN: D returns [logit, class logits] and takes no label (see _split)
        self.acgan = len(getattr(discriminator, "outputs", None) or ()) == 2
        self.class_weight = class_weight
        self.precision = precision
        # on_nan 'skip': updates with a non-finite loss or gradient are not applied
        # (gancli.training.guards); 'stop': the chunk ends at the first non-finite stat
        self.skip_nonfinite = on_nan == "skip"
        self.last_chunk = {"steps": 0, "skipped": (0, 0)}
        self.g_opt, self.d_opt = g_optimizer, d_optimizer
        self.source = source
        self.batch_size, self.latent_dim, self.noise = batch_size, latent_dim, noise
        self.n_critic, self.n_gen, self.ema = n_critic, n_gen, ema
        self.reuse_fake = reuse_fake
        # lr_decay: both rates fall linearly to 0 at this step (0: constant rates)
        self.lr_decay_end = lr_decay_end
        self.augment = augment  # an augment.Augment, or None: D sees the images as they are
        # R1: gamma; lazy (r1_every > 1): only every r1_every-th D step, times r1_every
        self.r1, self.r1_every = r1, r1_every
        self.num_classes = source.num_classes
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.rng = tf.random.Generator.from_seed(seed)
        self.g_opt.build(self.G.trainable_variables)
        self.d_opt.build(self.D.trainable_variables)
        self.G_ema = None
        if ema > 0:
            self.G_ema = keras.models.clone_model(generator)
            self.G_ema.set_weights(generator.get_weights())
        self._train = tf.function(self._train_chunk, jit_compile=jit_compile)
        self._generate = tf.function(self._generate_fn)

    # --- the loop ----------------------------------------------------------------------

    @property
    def sampler(self) -> keras.Model:
        """The generator used for samples and export: the EMA copy when there is one."""
        return self.G_ema if self.G_ema is not None else self.G

    def train(self, n: int) -> dict[str, float]:
        """Run n iterations; return the stats averaged over them (under on_nan 'skip',
        over the iterations where each was finite: NaN if none was). `last_chunk` says
        how many iterations ran -- fewer than n only when on_nan 'stop' met a
        non-finite stat, so `step` is the step that diverged -- and how many D and G
        updates were skipped."""
        sums, counts, skipped, done = self._train(tf.constant(n, tf.int64))
        self.last_chunk = {"steps": int(done), "skipped": tuple(int(k) for k in skipped)}
        return {k: float(s / c) if c else math.nan
                for k, s, c in zip(self.STATS, sums.numpy(), counts.numpy())}

    def _train_chunk(self, n):
        # float64 sums: a run's averages do not depend on how it was cut into calls
        sums, counts = tf.zeros([4], tf.float64), tf.zeros([4], tf.float64)
        skipped, done = tf.zeros([2], tf.float64), tf.constant(0, tf.int64)
        # a while loop, not `for _ in tf.range(n)`: AutoGraph gives a range loop
        # maximum_iterations=n, which XLA (jit_compile) must know at compile time, so
        # every new chunk size n was a fresh multi-second compile
        while done < n:
            # loss, D(real), D(fake), updates skipped, mean sign of D(real)'s raw output
            d_stats = tf.zeros([5])
            g_stats = tf.zeros([2])  # loss, updates skipped
            shared = 1 if self.reuse_fake else 0
            for k in range(self.n_critic - shared):
                d_stats += self._d_step(self._r1_due(k))
            if shared:
                d, g = self._shared_step(self._r1_due(self.n_critic - 1))
                d_stats, g_stats = d_stats + d, g_stats + g
            for _ in range(self.n_gen - shared):
                g_stats += self._g_step()
            stats = tf.cast(tf.stack([d_stats[0] / self.n_critic, g_stats[0] / self.n_gen,
                                      d_stats[1] / self.n_critic, d_stats[2] / self.n_critic]),
                            tf.float64)
            finite = tf.math.is_finite(stats)
            if self.skip_nonfinite:
                sums += tf.where(finite, stats, tf.zeros_like(stats))
                counts += tf.cast(finite, tf.float64)
            else:
                sums += stats
                counts += 1.0
            skipped += tf.cast(tf.stack([d_stats[3], g_stats[1]]), tf.float64)
            self.step.assign_add(1)
            if self.augment is not None:  # ADA: p follows D's confidence on the reals
                self.augment.observe(d_stats[4] / self.n_critic, self.step)
            if self.lr_decay_end:
                for opt in (self.d_opt, self.g_opt):
                    optimizers.decay_linearly(opt, self.step, self.lr_decay_end)
            done += 1
            if not self.skip_nonfinite:
                if not tf.reduce_all(finite):
                    break
        return sums, counts, skipped, done

    def _r1_due(self, k):
        """Whether D step k of this iteration takes the R1 penalty: None = every step."""
        if not self.r1 or self.r1_every == 1:
            return None
        return (self.step * self.n_critic + k) % self.r1_every == 0

    def _augment_draw(self, n):
        return None if self.augment is None else self.augment.draw(self.rng, n)

    def _seen(self, x, draw):
        """x as D sees it: through the augmentation `draw` (None: as it is)."""
        return x if draw is None else self.augment.apply(x, draw)

    def _noise_and_labels(self, n):
        z = sample_noise(self.rng, [n, self.latent_dim], self.noise)
        if not self.num_classes:
            return z, None
        cdf = self.source.class_cdf
        if cdf is None:
            return z, self.rng.uniform([n], 0, self.num_classes, dtype=tf.int32)
        # the classes as often as the training data has them (an imbalanced folder's
        # rare classes stay rare, as in eval's and generate's draws): inverse CDF
        u = self.rng.uniform([1, n])
        y = tf.searchsorted(tf.constant([cdf], tf.float32), u, side="right")[0]
        return z, tf.minimum(tf.cast(y, tf.int32), self.num_classes - 1)

    @staticmethod
    def _inputs(x, y):
        return x if y is None else [x, y]

    def _d_inputs(self, x, y):
        # an ACGAN D sees the image alone; a projection D the image and its label
        return x if self.acgan else self._inputs(x, y)

    def _logit(self, out):
        return out[0] if self.acgan else out

    def _split(self, out, labels, n=None):
        """D's output -> (the adversarial logit, the class term). ACGAN: class_weight x
        the class cross-entropy against `labels`; with `n`, rows [:n] are real and [n:]
        fake, and the term is the sum of the two halves' means (Odena et al.'s L_C).
        Any other D: (out, 0)."""
        if not self.acgan:
            return out, 0.0
        logits = out[1]
        if n is None:
            term = class_loss(logits, labels)
        else:
            term = class_loss(logits[:n], labels[:n]) + class_loss(logits[n:], labels[n:])
        return self._logit(out), self.class_weight * term

    @staticmethod
    def _frozen_call(model, inputs):
        # Run `model` in training mode without touching any of its variables: moving
        # statistics and RNG state it would update are computed and thrown away. The
        # weights go in as the variables themselves, so a tape still differentiates
        # through to them (the gradient penalty's second-order gradient does).
        out, _ = model.stateless_call([v.value for v in model.trainable_variables],
                                      [v.value for v in model.non_trainable_variables],
                                      inputs, training=True)
        return out

    def _report(self, out):
        out = tf.cast(out, tf.float32)
        return tf.reduce_mean(tf.sigmoid(out) if self.loss.probability else out)

    def _d_step(self, r1_due=None):
        return self._d_update(*self._d_draws(self.batch_size), r1_due=r1_due)

    def _d_draws(self, n):
        """A D step's random inputs, in a fixed order: real batch, noise (and labels),
        gradient-penalty mixing weights, augmentation draws for the reals and the fakes.
        tf.distribute draws these for the global batch
        (gancli.training.distribute) and each replica trains on its slice.
        Conditional wgan-gp: the fakes are drawn with the real batch's labels, as
        conditional WGAN-GP implementations do, so both ends of every penalty
        interpolate -- and so the interpolate itself -- carry one label."""
        real, y_real = self.source.sample(self.rng, n)
        z, y_fake = self._noise_and_labels(n)
        eps = None
        if self.loss.gp_weight:
            eps = self.rng.uniform([n] + [1] * (len(real.shape) - 1))
            if y_real is not None:
                y_fake = y_real
        aug = None
        if self.augment is not None:
            aug = (self._augment_draw(n), self._augment_draw(n))
        return real, y_real, z, y_fake, eps, aug

    def _d_update(self, real, y_real, z, y_fake, eps, aug=None, scale=None, fake=None,
                  r1_due=None):
        """One D update on the given inputs. `aug`: the augmentation draws (reals, fakes).
        `scale` multiplies only the loss that is differentiated (a replica's
        1/num_replicas share), not the loss reported.
        `fake`: G(z) already computed (reuse_fake), else G runs here, frozen.
        `r1_due`: lazy R1's verdict for this step (None: R1, if on, every step).
        Returns [loss, D(real), D(fake), 1 if the update was skipped else 0, mean sign
        of D(real)]."""
        saved = self._snapshot(self.D)
        if fake is None:
            fake = self._frozen_call(self.G, self._inputs(z, y_fake))
        n = tf.shape(real)[0]
        aug_real, aug_fake = (None, None) if aug is None else aug
        seen_real = self._seen(real, aug_real)
        seen_fake = self._seen(tf.cast(fake, real.dtype), aug_fake)
        both = tf.concat([seen_real, seen_fake], axis=0)
        labels = None if y_real is None else tf.concat([y_real, y_fake], axis=0)
        with tf.GradientTape() as tape:
            # penalties first: their D calls see the D (weights and state) the main call sees
            penalty = (self.loss.gp_weight
                       * self._gradient_penalty(seen_real, seen_fake, y_real, eps)
                       if self.loss.gp_weight else 0.0)
            if self.r1:
                penalty += self._r1(real, y_real, aug_real, r1_due)
            # one D call on [real; fake], as the seeds' train_on_batch did: half the ops
            out, class_term = self._split(self.D(self._d_inputs(both, labels), training=True),
                                          labels, n)
            real_out, fake_out = out[:n], out[n:]
            loss = self.loss.d_loss(real_out, fake_out) + class_term + penalty
            scaled = self._scale_loss(self.d_opt, loss if scale is None else loss * scale)
        weights = self.D.trainable_variables
        skipped = self._apply(self.d_opt, tape.gradient(scaled, weights), weights, loss, saved)
        if self.loss.clip:
            # WGAN's weight clipping bounds the critic's slope in x. Every D weight is
            # clipped, the projection embedding (label_projection) included: <e_y, h(x)>
            # scales h(x) as Dense(1)'s kernel does, and the critic loss is linear in
            # e_y, so an unclipped e_y would grow without bound and the slope with it.
            for w in weights:
                w.assign(tf.clip_by_value(w, -self.loss.clip, self.loss.clip))
        sign = tf.reduce_mean(tf.sign(tf.cast(real_out, tf.float32)))
        return tf.stack([tf.cast(loss, tf.float32), self._report(real_out),
                         self._report(fake_out), skipped, sign])

    def _critic(self, labels, draw=None):
        """x -> D's logit for the penalties: D frozen (`_frozen_call`: its statistics
        and RNG state stay as the main D call finds them), on x through the
        augmentation `draw`, with `labels` (an ACGAN D is given none)."""
        return lambda x: self._logit(self._frozen_call(
            self.D, self._d_inputs(self._seen(x, draw), labels)))

    def _gradient_penalty(self, real, fake, labels, eps):
        return penalties.gradient_penalty(self._critic(labels), real, fake, eps,
                                          self._loss_scale(self.d_opt))

    def _r1(self, real, labels, draw=None, due=None):
        """R1 on the reals (with their labels), its gradient w.r.t. the reals before
        the augmentation, as StyleGAN2-ADA takes it. Lazy (`due` given): r1_every x R1
        on the due steps, else 0 (without D's extra passes if LAZY_R1_SKIPS)."""
        def penalty(gamma):
            return penalties.r1(self._critic(labels, draw), real, gamma,
                                self._loss_scale(self.d_opt))
        if due is None:
            return penalty(self.r1)
        if not self.LAZY_R1_SKIPS:
            return tf.cast(due, tf.float32) * penalty(self.r1 * self.r1_every)
        return tf.cond(due, lambda: penalty(self.r1 * self.r1_every), lambda: tf.constant(0.0))

    def _g_step(self):
        return self._g_update(*self._g_draws(self.batch_size))

    def _g_draws(self, n):
        """A G step's random inputs: noise, labels, the augmentation draw for the fakes."""
        return (*self._noise_and_labels(n), self._augment_draw(n))

    def _g_update(self, z, y, aug=None, scale=None, d_update=None):
        """One G update (and EMA) on given noise and labels, D seeing the fakes through
        the augmentation draw `aug`; `scale` as in _d_update.
        `d_update(fake)`, if given, runs between G's forward pass and the G loss, off
        the tape: the shared step's D update on this very G(z), gradient stopped.
        Returns [loss, 1 if the update was skipped else 0] (and d_update's result)."""
        saved = self._snapshot(self.G)
        with tf.GradientTape() as tape:
            fake = self.G(self._inputs(z, y), training=True)
            if d_update is not None:
                with tape.stop_recording():
                    d_stats = d_update(tf.stop_gradient(fake))
            out, class_term = self._split(self._frozen_call(
                self.D, self._d_inputs(self._seen(fake, aug), y)), y)
            loss = self.loss.g_loss(out) + class_term
            scaled = self._scale_loss(self.g_opt, loss if scale is None else loss * scale)
        weights = self.G.trainable_variables
        skipped = self._apply(self.g_opt, tape.gradient(scaled, weights), weights, loss, saved)
        if self.G_ema is not None:
            self._update_ema()
        g_stats = tf.stack([tf.cast(loss, tf.float32), skipped])
        return g_stats if d_update is None else (d_stats, g_stats)

    def _shared_step(self, r1_due=None):
        return self._shared_update(*self._shared_draws(self.batch_size), r1_due=r1_due)

    def _shared_draws(self, n):
        """_d_draws, then the G part's own augmentation draw for the fakes."""
        return (*self._d_draws(n), self._augment_draw(n))

    def _shared_update(self, real, y_real, z, y_fake, eps, aug=None, g_aug=None, scale=None,
                       r1_due=None):
        """reuse_fake: a D update and then a G update on the same noise z, with one G
        forward pass for both. Returns (D stats, G stats) as _d_update, _g_update."""
        return self._g_update(z, y_fake, g_aug, scale, d_update=lambda fake: self._d_update(
            real, y_real, z, y_fake, eps, aug, scale, fake=fake, r1_due=r1_due))

    @staticmethod
    def _scale_loss(opt, loss):
        """--precision fp16: differentiate loss x the dynamic loss scale, which the
        LossScaleOptimizer's `apply` divides back out of the gradients."""
        if isinstance(opt, keras.optimizers.LossScaleOptimizer):
            return opt.scale_loss(loss)
        return loss

    @staticmethod
    def _loss_scale(opt):
        """The dynamic loss scale of a LossScaleOptimizer (float32), else None."""
        if isinstance(opt, keras.optimizers.LossScaleOptimizer):
            return tf.cast(opt.dynamic_scale, tf.float32)
        return None

    def _snapshot(self, model):
        """on_nan 'skip': the state the coming forward pass changes, to put back."""
        return guards.snapshot(model.non_trainable_variables) if self.skip_nonfinite else []

    def _apply(self, opt, grads, weights, loss, saved):
        """opt.apply; under on_nan 'skip' only when the loss and gradients are finite.
        Returns 1.0 when the update was skipped, else 0.0."""
        if self.skip_nonfinite:
            return guards.guarded_apply(opt, grads, weights, loss, saved)
        opt.apply(grads, weights)
        return tf.constant(0.0)

    def _update_ema(self):
        # warm-up: early on the average follows G closely instead of its random init
        t = tf.cast(self.step, tf.float32)
        beta = tf.minimum(self.ema, (1.0 + t) / (10.0 + t))
        for e, w in zip(self.G_ema.trainable_variables, self.G.trainable_variables):
            e.assign(beta * e + (1.0 - beta) * w)
        for e, w in zip(self.G_ema.non_trainable_variables, self.G.non_trainable_variables):
            e.assign(w)

    # --- sampling ----------------------------------------------------------------------

    def _generate_fn(self, z, y):
        return self.sampler(self._inputs(z, y), training=False)

    def generate(self, z: np.ndarray, labels: np.ndarray | None = None,
                 batch: int = 1024) -> np.ndarray:
        """Samples from the sampler generator for fixed noise (and labels)."""
        outs = []
        for i in range(0, len(z), batch):
            y = None if labels is None else tf.constant(labels[i:i + batch], tf.int32)
            outs.append(self._generate(tf.constant(z[i:i + batch], tf.float32), y).numpy())
        return np.concatenate(outs).astype(np.float32)

    # --- what the runner asks every trainer (DistributedTrainer answers otherwise) -------

    def describe(self) -> str | None:
        """A line for the log about where the training runs; None: nothing to add."""
        return None

    def agree(self, chunk: int, stop: bool) -> tuple[int, bool]:
        """The next chunk size and whether to stop, agreed with any other workers; one
        process decides alone: as given."""
        return chunk, stop

    # --- state for checkpoints ---------------------------------------------------------

    def state_variables(self) -> dict:
        """Every variable a resumed run needs, by group: the models and optimizers
        themselves (checkpoint.py names their variables by path), lists of the rest."""
        groups = {
            "G": self.G, "D": self.D, "g_opt": self.g_opt, "d_opt": self.d_opt,
            "step": [self.step], "rng": [self.rng.state],
            "source": list(self.source.variables),
        }
        if self.G_ema is not None:
            groups["G_ema"] = self.G_ema
        if self.augment is not None:
            groups["augment"] = self.augment.variables  # p (and ADA's running sums)
        return groups

    def state_stats(self) -> dict[str, float]:
        """The trainer's own state for the metrics row: augment_p (and ADA's ada_rt)
        with --augment, else nothing."""
        return {} if self.augment is None else self.augment.stats()
