"""Assemble a GANTrainer from the shared TrainConfig fields (loss, optimizers,
schedules, noise, EMA, R1) and ImageConfig's --augment. Model builders and data
sources come from the command."""
from __future__ import annotations

import functools

import keras

from gancli.config import TrainConfig, parse_augment, parse_noise
from gancli.losses import make_loss
from gancli.training import precision
from gancli.training.optimizers import make_optimizer
from gancli.training.trainer import GANTrainer


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Python, NumPy, TF and Keras seeds (model initializers draw from these)."""
    keras.utils.set_random_seed(seed)
    if deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def make_trainer(cfg: TrainConfig, generator, discriminator, source, *,
                 steps: int | None = None, jit_compile: bool = False,
                 strategy=None) -> GANTrainer:
    """The trainer for `cfg`; `steps` (default cfg.steps) is where --lr_decay brings
    both learning rates to 0 (optimizers.decay_linearly).
    With a tf.distribute `strategy` (distribute.make_strategy) it is a
    DistributedTrainer: call this, and build G, D and the source, in its scope.
    Precision follows the models: built under `precision.policy("fp16")`, both
    optimizers get dynamic loss scaling (gancli.training.precision)."""
    steps = cfg.steps if steps is None else steps
    prec = precision.of_model(generator)
    d_opt = make_optimizer(cfg.d_optimizer, cfg.d_lr, beta1=cfg.d_beta1, beta2=cfg.d_beta2,
                           momentum=cfg.d_momentum, nesterov=cfg.d_nesterov)
    g_opt = make_optimizer(cfg.g_optimizer, cfg.g_lr, beta1=cfg.g_beta1, beta2=cfg.g_beta2,
                           momentum=cfg.g_momentum, nesterov=cfg.g_nesterov)
    d_opt, g_opt = precision.wrap_optimizer(d_opt, prec), precision.wrap_optimizer(g_opt, prec)
    loss = make_loss(cfg.loss, real_label=cfg.real_label, fake_label=cfg.fake_label,
                     clip_value=cfg.clip_value, gp_weight=cfg.gp_weight)
    names = parse_augment(getattr(cfg, "augment", "none"))  # an ImageConfig field
    augment = None
    if names:
        from gancli.training.augment import Augment

        augment = Augment(names, generator.output_shape[1:], p=cfg.augment_p,
                          target=cfg.ada_target, images_per_step=cfg.batch_size * cfg.n_critic)
    trainer_class = GANTrainer
    if strategy is not None:
        from gancli.training.distribute import DistributedTrainer

        trainer_class = functools.partial(DistributedTrainer, strategy)
    trainer = trainer_class(generator, discriminator, loss, g_opt, d_opt, source,
                            batch_size=cfg.batch_size, latent_dim=cfg.latent_dim,
                            noise=parse_noise(cfg.noise), n_critic=cfg.n_critic,
                            n_gen=cfg.n_gen, ema=cfg.ema, seed=cfg.seed,
                            jit_compile=jit_compile, on_nan=cfg.on_nan,
                            reuse_fake=cfg.reuse_fake, precision=prec,
                            lr_decay_end=steps if cfg.lr_decay else 0, augment=augment,
                            r1=cfg.r1, r1_every=cfg.r1_every,
                            class_weight=getattr(cfg, "class_weight", 1.0))  # ImageConfig's
    return trainer
