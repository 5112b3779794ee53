"""The start of every train-* command: resolve the config, prepare the run folder,
write config.yaml. No TensorFlow here: the command loads it after `start` returns, so
a config error answers without it (a `check` that downloads MNIST loads it early)."""
from __future__ import annotations

import argparse
import dataclasses
import os
import secrets
import time

from gancli import cluster, config, rundir
from gancli.commands import _args
from gancli.errors import ConfigError
from gancli.presets import DEFAULT_PRESET, PRESETS


@dataclasses.dataclass
class Session:
    cfg: object
    out: str
    resume: bool


def resolve(args: argparse.Namespace, command: str, cls: type) -> tuple[object, str]:
    """(config, output folder) of a train-* command, resolved once: preset < --config <
    flags, or on --resume the run's own config.yaml < flags; a seed is drawn when none
    is given. Nothing is written yet: the command checks its inputs (a bad input must
    fail before the output folder is created, overwritten or given a new config.yaml;
    the check may settle config values that depend on the data), then calls prepare."""
    presets, default = PRESETS[command], DEFAULT_PRESET[command]
    if args.resume:
        if args.preset or args.config:
            raise ConfigError("--resume reads the run's own config.yaml; drop --preset/--config")
        if args.out and os.path.abspath(args.out) != os.path.abspath(args.resume):
            raise ConfigError("--out and --resume name different folders; give only --resume")
        out, path = args.resume, os.path.join(args.resume, rundir.MARKER)
        rundir.prepare(out, resume=True)
        preset = None
    else:
        out = args.out or os.path.join("runs", f"{command}-{time.strftime('%Y%m%d-%H%M%S')}")
        path, preset = args.config, args.preset
    cfg = config.resolve(cls, presets, default, preset=preset, config_path=path,
                         overrides=_args.overrides(args))
    if cfg.seed is None:
        cfg = dataclasses.replace(cfg, seed=secrets.randbelow(2**31))
    return cfg, out


def prepare(args: argparse.Namespace, command: str, cfg, out: str) -> Session:
    """Make the output folder ready (a multiworker worker other than the chief gets a
    temporary one) and write the resolved config.yaml to it."""
    if getattr(cfg, "strategy", None) == "multiworker" and not cluster.is_chief(required=True):
        out = cluster.worker_folder(args.resume)  # the chief owns --out
    else:
        out = rundir.prepare(out, resume=bool(args.resume), overwrite=args.overwrite)
    rundir.write_text(os.path.join(out, rundir.MARKER),
                      f"# gancli {command}; reproduce with: gancli {command} --config "
                      f"{os.path.join(out, rundir.MARKER)} --out NEW_DIR\n"
                      + config.dump_yaml(cfg))
    return Session(cfg, out, bool(args.resume))
