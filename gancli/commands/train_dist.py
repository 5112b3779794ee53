"""gancli train-dist: a GAN that learns a 1-D probability distribution."""
from __future__ import annotations

import argparse

from gancli import tfenv
from gancli.commands import _args, _run
from gancli.config import DistConfig
from gancli.presets import DEFAULT_PRESET, PRESETS

NAME = "train-dist"


def add_parser(sub) -> None:
    presets, default = PRESETS[NAME], DEFAULT_PRESET[NAME]
    p = sub.add_parser(NAME, help="train a GAN on a 1-D distribution (seeds 000, 001)",
                       description="Train a GAN that turns noise into draws from a 1-D "
                       "distribution: seed 000's N(4, 1.25) machine (preset seed-normal) or "
                       "seed 001's two-normal mixture (preset mixture). Writes config.yaml, "
                       "metrics.csv (W1, KS), histograms under samples/, TensorBoard events under "
                       "tb/, checkpoints/ and generator.{h5,keras,json} to --out.")
    _args.add_run_flags(p, NAME, presets, default)
    p.add_argument("--mean", type=float, default=argparse.SUPPRESS,
                   help="shorthand: target normal:MEAN,SD keeping the preset's SD")
    p.add_argument("--std", type=float, default=argparse.SUPPRESS,
                   help="shorthand: target normal:MEAN,STD keeping the preset's mean")
    _args.add_config_flags(p, DistConfig, presets[default], default)
    p.set_defaults(func=run)


def build_models(cfg: DistConfig):
    """(G, D) as train-dist trains them, built in the caller's scope and dtype policy."""
    from gancli import distmetrics
    from gancli.config import parse_target
    from gancli.models import dist

    scale = (distmetrics.target_moments(parse_target(cfg.target)) if cfg.normalize
             else (0.0, 1.0))
    G = dist.build_generator(cfg.g_arch, cfg.latent_dim, cfg.vector_len, cfg.g_hidden,
                             cfg.g_activation, scale)
    D = dist.build_discriminator(cfg.vector_len, cfg.d_hidden, cfg.d_activation,
                                 cfg.decorate, cfg.sort_values, scale)
    return G, D


def run(args: argparse.Namespace) -> int:
    # --mean/--std are not config keys: they edit the target of the resolved config
    shorthand = {k: vars(args).pop(k) for k in ("mean", "std") if k in vars(args)}
    cfg, out = _run.resolve(args, NAME, DistConfig)
    session = _run.prepare(args, NAME, _normal_shorthand(cfg, **shorthand), out)
    cfg = session.cfg
    tfenv.set_gpu_memory(args.gpu_memory)  # applied as TensorFlow loads
    tfenv.import_quietly()  # TensorFlow loads only once the config is good

    from gancli.config import parse_target
    from gancli.data.dist import DistSource
    from gancli.reporters.dist import DistReporter
    from gancli.training import distribute, precision, runner
    from gancli.training.setup import make_trainer, seed_everything

    tfenv.warn_gpus_unseen(NAME)
    strategy = distribute.make_strategy(cfg.strategy)  # before any other TensorFlow work
    seed_everything(cfg.seed, cfg.deterministic)
    cfg, why = _run.settle_precision(session)  # auto -> this machine's, in config.yaml
    with distribute.scope(strategy), precision.policy(cfg.precision):
        G, D = build_models(cfg)
        source = DistSource(parse_target(cfg.target), cfg.vector_len)
        trainer = make_trainer(cfg, G, D, source, strategy=strategy,
                               jit_compile=distribute.use_jit(cfg.jit, strategy, on_cpu=True))
    reporter = DistReporter(cfg, session.out, cfg.seed)
    evaluator = None
    if cfg.eval_every:
        from gancli.evaluation.during import DistTrainEval

        evaluator = DistTrainEval(cfg.target, cfg.eval_samples, cfg.noise, cfg.latent_dim,
                                  cfg.vector_len, cfg.seed)
    runner.fit(trainer, cfg, session.out, reporter, resume=session.resume, quiet=args.quiet,
               command=NAME, evaluator=evaluator, precision_why=why)
    return 0


def _normal_shorthand(cfg: DistConfig, mean: float | None = None,
                      std: float | None = None) -> DistConfig:
    """--mean/--std edit the resolved normal target."""
    if mean is None and std is None:
        return cfg
    import dataclasses

    from gancli.config import parse_target
    from gancli.errors import ConfigError

    comps = parse_target(cfg.target)
    if len(comps) != 1:
        raise ConfigError("--mean/--std apply to a normal target; give a mixture with "
                          "--target mixture:MU,SD;MU,SD")
    m, s = comps[0]
    cfg = dataclasses.replace(
        cfg, target=f"normal:{m if mean is None else mean:g},{s if std is None else std:g}")
    cfg.validate()
    return cfg
