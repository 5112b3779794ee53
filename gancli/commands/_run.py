"""The start of every train-* command: resolve the config, prepare the run folder,
write config.yaml. No TensorFlow here: the command loads it after `start` returns, so
a config error answers without it (a `check` that downloads MNIST loads it early)."""
from __future__ import annotations

import argparse
import dataclasses
import os
import secrets
import time
from typing import Callable

from gancli import cluster, config, rundir
from gancli.commands import _args
from gancli.errors import ConfigError
from gancli.presets import DEFAULT_PRESET, PRESETS


@dataclasses.dataclass
class Session:
    cfg: object
    out: str
    resume: bool
    checked: object = None  # what start's `check` returned


def start(args: argparse.Namespace, command: str, cls: type,
          edit: Callable[[dict, object], dict] | None = None,
          check: Callable[[object], tuple[object, object]] | None = None) -> Session:
    """Resolve config (preset < --config < flags, or the run's own config.yaml on
    --resume), run `check(cfg) -> (cfg, checked)` (e.g. load the data: a bad input must
    fail before the output folder is created, overwritten or given a new config.yaml;
    it may settle config values that depend on the data), prepare the output folder
    and write the resolved config.yaml."""
    presets, default = PRESETS[command], DEFAULT_PRESET[command]
    values = _args.overrides(args)
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
    if edit:
        base = config.resolve(cls, presets, default, preset=preset, config_path=path)
        values = edit(values, base)
    cfg = config.resolve(cls, presets, default, preset=preset, config_path=path,
                         overrides=values)
    if cfg.seed is None:
        cfg = dataclasses.replace(cfg, seed=secrets.randbelow(2**31))
    checked = None
    if check:
        cfg, checked = check(cfg)
    if getattr(cfg, "strategy", None) == "multiworker" and not cluster.is_chief(required=True):
        out = cluster.worker_folder(args.resume)  # the chief owns --out
    else:
        out = rundir.prepare(out, resume=bool(args.resume), overwrite=args.overwrite)
    rundir.write_text(os.path.join(out, rundir.MARKER),
                      f"# gancli {command}; reproduce with: gancli {command} --config "
                      f"{os.path.join(out, rundir.MARKER)} --out NEW_DIR\n"
                      + config.dump_yaml(cfg))
    return Session(cfg, out, bool(args.resume), checked)
