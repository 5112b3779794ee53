"""The start of every train-* command: resolve the config, prepare the run folder,
write config.yaml; once TensorFlow is loaded, `settle_precision` records what
--precision auto resolved to. No TensorFlow before that: the command loads it after
`prepare` returns, so a config error answers without it (a `check` that downloads
MNIST loads it early)."""
from __future__ import annotations

import argparse
import dataclasses
import os
import secrets
import time

from gancli import cluster, config, rundir
from gancli.commands import _args
from gancli.errors import ConfigError
from gancli.presets import DATASET_PRESET, DEFAULT_PRESET, PRESETS


@dataclasses.dataclass
class Session:
    cfg: object
    out: str
    resume: bool
    command: str = ""
    precision_set: bool = False  # --precision was on the command line
    precision_note: str = ""  # on --resume: the comment config.yaml's precision line had


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
                         overrides=_args.overrides(args),
                         dataset_presets=DATASET_PRESET.get(command),
                         run_config=bool(args.resume))
    if cfg.seed is None:
        cfg = dataclasses.replace(cfg, seed=secrets.randbelow(2**31))
    return cfg, out


def prepare(args: argparse.Namespace, command: str, cfg, out: str) -> Session:
    """Make the output folder ready (a multiworker worker other than the chief gets a
    temporary one) and write the resolved config.yaml to it. On --resume without
    --precision, the comment of the run's precision line (why auto chose it) is kept."""
    precision_set = "precision" in _args.overrides(args)
    note = "" if precision_set or not args.resume else _comment(
        os.path.join(args.resume, rundir.MARKER), "precision")
    if getattr(cfg, "strategy", None) == "multiworker" and not cluster.is_chief(required=True):
        out = cluster.worker_folder(args.resume)  # the chief owns --out
    else:
        out = rundir.prepare(out, resume=bool(args.resume), overwrite=args.overwrite)
    _write_config(command, cfg, out, {"precision": note} if note else None)
    return Session(cfg, out, bool(args.resume), command, precision_set, note)


def _comment(path: str, key: str) -> str:
    """The comment after `key: value` in the YAML file at `path`, or ""."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.startswith(f"{key}:") and "  # " in line:
                return line.split("  # ", 1)[1].strip()
    return ""


def _write_config(command: str, cfg, out: str, notes: dict | None = None) -> None:
    """OUT/config.yaml: the resolved config; `notes` {key: text} become comments on
    their keys' lines."""
    lines = config.dump_yaml(cfg).splitlines()
    for key, text in (notes or {}).items():
        lines = [f"{ln}  # {text}" if ln.startswith(f"{key}:") else ln for ln in lines]
    path = os.path.join(out, rundir.MARKER)
    rundir.write_text(path, f"# gancli {command}; reproduce with: gancli {command} --config "
                      f"{path} --out NEW_DIR\n" + "\n".join(lines) + "\n")


def settle_precision(session: Session) -> tuple[object, str]:
    """The precision the run trains in -> (the config with it: fp32 | bf16 | fp16, why,
    for the log); session.cfg becomes that config. Call
    once TensorFlow is loaded (auto asks it for the GPUs). `auto` is resolved by this
    machine's hardware (training.precision.resolve) and config.yaml records the result
    with the reason as a comment (`precision: fp32  # auto: ...`), so `--resume`
    continues in the run's precision on any device, unless --precision is passed again
    (checkpoints restore into every precision)."""
    from gancli.training import precision

    setting = session.cfg.precision
    prec, why = precision.resolve(setting)
    if session.resume and not session.precision_set and setting != "auto":
        why = "the run's, from its config.yaml" + (
            f" ({session.precision_note})" if session.precision_note else "")
    if setting == "auto":
        session.cfg = dataclasses.replace(session.cfg, precision=prec)
        _write_config(session.command, session.cfg, session.out, {"precision": why})
    return session.cfg, why
