"""gancli train-mnist: convolutional GANs on MNIST-like images."""
from __future__ import annotations

import argparse
import dataclasses
import math
import sys

from gancli import tfenv
from gancli.commands import _args, _run
from gancli.config import DEFAULT_EPOCHS, ImageConfig
from gancli.errors import ConfigError
from gancli.presets import DEFAULT_PRESET, PRESETS

NAME = "train-mnist"
ALIAS = "train-images"  # the same command, by what it trains on: any images


def add_parser(sub) -> None:
    presets, default = PRESETS[NAME], DEFAULT_PRESET[NAME]
    p = sub.add_parser(NAME, aliases=[ALIAS],
                       help="train a convolutional GAN on images",
                       description="Train a convolutional GAN on MNIST, Fashion-MNIST, "
                       "CIFAR-10 or a "
                       f"folder of your images. Presets: {', '.join(presets)}; the default, "
                       f"{default!r}, gives the best samples per minute on MNIST, and "
                       "'folder' (configs/folder.yaml) on --dataset folder "
                       "and cifar10. Writes config.yaml, "
                       "metrics.csv, samples/step_NNNNNN.png grids from one fixed noise "
                       "batch, samples/progress.gif, TensorBoard events under tb/, checkpoints/ "
                       "and generator.{h5,keras,json} to --out.")
    _args.add_run_flags(p, NAME, presets, default)
    _args.add_config_flags(p, ImageConfig, presets[default], default)
    p.set_defaults(func=run)


def _load_data(cfg: ImageConfig, asked_conditional: bool, asked_clusters: bool = False):
    """The training images, checked against the config -> (config, data, generator
    steps per epoch). A preset's `conditional` gives way on data without labels (the
    config that is written says conditional: none); an explicit --conditional
    (projection or acgan) there is an error. Unconditional with --clusters K: the
    data's labels are K k-means clusters (gancli.data.clusters); a preset's K is cut
    to fit a small dataset (the config that is written says how many), a K typed on
    the command line (or a resumed run's) is kept or refused."""
    from gancli.config import image_sides_error
    from gancli.data import clusters
    from gancli.data.images import load_images
    from gancli.errors import DataError

    data = load_images(cfg.dataset, cfg.data, cfg.n_train, cfg.channels, cfg.image_size,
                       cfg.background, cfg.crop)
    h, w = data.images.shape[1:3]
    if why := image_sides_error(h, w, cfg.model):
        raise DataError(f"images are {h}x{w}; {why}: pass --image_size to resize them")
    unlabelled = cfg.conditional != "none" and not data.num_classes
    if unlabelled:
        if asked_conditional:
            raise DataError(f"--conditional {cfg.conditional} needs labels, and {data.name} "
                            "has none")
        cfg = dataclasses.replace(cfg, conditional="none")
    n, cut = len(data.images), ""
    if cfg.conditional == "none" and cfg.clusters:
        if asked_clusters and n < 2 * cfg.clusters:
            raise DataError(f"--clusters {cfg.clusters} needs at least {2 * cfg.clusters} "
                            f"images; {data.name} has {n}")
        if not asked_clusters and (k := clusters.count_for(cfg.clusters, n)) != cfg.clusters:
            cut = f"; the preset's {cfg.clusters} cut to fit {n} images"
            cfg = dataclasses.replace(cfg, clusters=k)
    if unlabelled or cfg.conditioning != cfg.conditional or cut:
        classes = f"--conditional: its {data.num_classes} classes; " if data.num_classes else ""
        how = (f"on {cfg.clusters} k-means clusters of the images ({classes}--clusters 0: "
               "none)" if cfg.clusters else "unconditional")
        labels = f"{data.name} has no labels: " if unlabelled else ""
        print(f"gancli: note: {labels}training {cfg.model} {how}{cut}", file=sys.stderr)
    if cfg.conditioning != cfg.conditional:  # unconditional on clusters
        data = clusters.cluster(data, cfg.clusters)
    per_epoch = len(data.images) // (cfg.batch_size * cfg.n_critic)
    if per_epoch < 1:
        raise DataError(f"only {len(data.images)} images: fewer than one batch of "
                        f"{cfg.batch_size * cfg.n_critic}; lower --batch_size")
    return cfg, data, per_epoch


def run_length(cfg: ImageConfig, per_epoch: int) -> float:
    """Generator steps to train: --steps, capped by --epochs when that is set; with
    neither, --max_minutes alone decides (math.inf: until the time limit), else
    DEFAULT_EPOCHS epochs."""
    cap = math.inf if cfg.epochs is None else cfg.epochs * per_epoch
    if cfg.steps is not None:
        return min(cfg.steps, cap)
    if cfg.epochs is None:
        return math.inf if cfg.max_minutes else DEFAULT_EPOCHS * per_epoch
    return cap


def build_models(cfg: ImageConfig, shape: tuple[int, int, int], num_classes: int,
                 speed_up: bool = True):
    """(G, D) as train-mnist trains them, built in the caller's distribution scope and
    dtype policy: the stock builders, then models.speedups' faster CPU layers
    (FastGradConv2D only without a GPU). speed_up=False: the stock layers alone
    (the benchmark's "seed layers" rows)."""
    from gancli.models import images, speedups
    from gancli.training.distribute import has_gpu

    G = images.build_generator(cfg.model, cfg.latent_dim, shape, num_classes, cfg.width)
    D = images.build_discriminator(cfg.model, shape, num_classes, cfg.width,
                                   cfg.spectral_norm, cfg.conditioning)
    if not speed_up:
        return G, D
    gpu = has_gpu()
    return speedups.speed_up(G, gpu), speedups.speed_up(D, gpu)


def run(args: argparse.Namespace) -> int:
    # the data is loaded and checked before the run folder is touched
    # flags are absent unless given
    asked = getattr(args, "conditional", "none") != "none"
    cfg, out = _run.resolve(args, NAME, ImageConfig)
    # --clusters typed, or a resumed run's own: kept as it is (else a preset's, cut to fit)
    kept = hasattr(args, "clusters") or bool(args.resume)
    cfg, data, per_epoch = _load_data(cfg, asked, kept)
    steps = run_length(cfg, per_epoch)
    if cfg.lr_decay and steps == math.inf:
        raise ConfigError("--lr_decay decays to 0 at the last step, and a run that --max_minutes "
                          "alone ends has none: set --steps or --epochs too")
    session = _run.prepare(args, NAME, cfg, out)
    tfenv.set_gpu_memory(args.gpu_memory)  # applied as TensorFlow loads
    tfenv.import_quietly()  # TensorFlow loads only once the config and the data are good

    from gancli.data.image_source import ImageSource
    from gancli.reporters.images import ImageReporter
    from gancli.training import distribute, precision, runner
    from gancli.training.setup import make_trainer, seed_everything

    tfenv.warn_gpus_unseen(NAME)
    strategy = distribute.make_strategy(cfg.strategy)  # before any other TensorFlow work
    seed_everything(cfg.seed, cfg.deterministic)
    cfg, why = _run.settle_precision(session)  # auto -> this machine's, in config.yaml
    num_classes = data.num_classes if cfg.conditioning != "none" else 0
    shape = tuple(int(d) for d in data.images.shape[1:])
    with distribute.scope(strategy), precision.policy(cfg.precision):
        G, D = build_models(cfg, shape, num_classes)
        trainer = make_trainer(cfg, G, D, ImageSource(data, num_classes > 0), steps=steps,
                               strategy=strategy,
                               jit_compile=distribute.use_jit(cfg.jit, strategy))
    reporter = ImageReporter(cfg, session.out, data.images, num_classes)
    # generator.json: class names and training frequencies (generate / eval draw with them)
    classes = data.class_info(cfg.dataset) if num_classes else {}
    evaluator = None
    if cfg.eval_every:
        from gancli import evaluation
        from gancli.evaluation.during import ImageTrainEval

        split = evaluation.real_split(cfg.dataset, cfg.data, cfg.channels, cfg.image_size,
                                      cfg.n_train, background=cfg.background, crop=cfg.crop)
        evaluator = ImageTrainEval(evaluation.ImageEvaluator(split, seed=cfg.seed),
                                   cfg.eval_samples, cfg.noise, cfg.latent_dim, num_classes,
                                   cfg.seed, classes.get("class_frequencies"))
    runner.fit(trainer, cfg, session.out, reporter, steps=steps, resume=session.resume,
               quiet=args.quiet, precision_why=why, sidecar={"dataset": data.name, **classes},
               command=NAME, evaluator=evaluator)
    return 0
