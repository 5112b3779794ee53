"""gancli train-mnist: convolutional GANs on MNIST-like images."""
from __future__ import annotations

import argparse
import math

from gancli.commands import _args, _run
from gancli.config import ImageConfig
from gancli.presets import DEFAULT_PRESET, PRESETS

NAME = "train-mnist"


def add_parser(sub) -> None:
    presets, default = PRESETS[NAME], DEFAULT_PRESET[NAME]
    p = sub.add_parser(NAME, help="train a convolutional GAN on MNIST-like images",
                       description="Train a convolutional GAN on MNIST, Fashion-MNIST or a "
                       f"folder of your images. Presets: {', '.join(presets)}; the default, "
                       f"{default!r}, gives the best samples per minute. Writes config.yaml, "
                       "metrics.csv, samples/step_NNNNNN.png grids from one fixed noise "
                       "batch, samples/progress.gif, checkpoints/ and "
                       "generator.{h5,keras,json} to --out.")
    _args.add_run_flags(p, NAME, presets, default)
    _args.add_config_flags(p, ImageConfig, presets[default], default)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    session = _run.start(args, NAME, ImageConfig)
    cfg = session.cfg

    from gancli.data.images import ImageSource, load_images
    from gancli.errors import DataError

    data = load_images(cfg.dataset, cfg.data, cfg.n_train, cfg.channels, cfg.image_size)
    if data.images.shape[1] % 4 or data.images.shape[2] % 4:
        raise DataError(f"images are {data.images.shape[1]}x{data.images.shape[2]}; the "
                        "networks need sides divisible by 4: pass --image_size (e.g. 28 or 32)")
    if cfg.conditional and not data.num_classes:
        raise DataError(f"--conditional needs labels, and {data.name} has none")
    per_epoch = len(data.images) // (cfg.batch_size * cfg.n_critic)
    if per_epoch < 1:
        raise DataError(f"only {len(data.images)} images: fewer than one batch of "
                        f"{cfg.batch_size * cfg.n_critic}; lower --batch_size")
    steps = cfg.epochs * per_epoch if cfg.steps is None else min(cfg.steps, cfg.epochs * per_epoch)

    from gancli.models import images as models
    from gancli.reporters.images import ImageReporter
    from gancli.training import runner
    from gancli.training.setup import make_trainer, seed_everything

    seed_everything(cfg.seed)
    num_classes = data.num_classes if cfg.conditional else 0
    shape = tuple(int(d) for d in data.images.shape[1:])
    G = models.build_generator(cfg.model, cfg.latent_dim, shape, num_classes)
    D = models.build_discriminator(cfg.model, shape, num_classes)
    trainer = make_trainer(cfg, G, D, ImageSource(data, cfg.conditional), steps=steps)
    reporter = ImageReporter(cfg, session.out, data.images, num_classes)
    runner.fit(trainer, cfg, session.out, reporter, steps=steps, resume=session.resume,
               quiet=args.quiet, sidecar={"dataset": data.name,
                                          "epochs": math.floor(reporter.epoch(steps))},
               command=NAME)
    return 0
