"""Argparse helpers shared by the commands: flags generated from a config schema,
and the common run-folder flags."""
from __future__ import annotations

import argparse
import typing

from gancli import config
from gancli.presets import DATASET_PRESET
from gancli.tfenv import GPU_MEMORY

_CLI_ONLY = ("config", "preset", "out", "resume", "overwrite", "quiet", "gpu_memory", "func",
             "command")


def _flag_type(tp):
    if typing.get_origin(tp) is tuple:
        return str  # comma-separated list, checked by config.coerce
    if typing.get_origin(tp) is not None:  # Optional[X]
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    return {int: int, float: float, str: str}[tp]


def _show(v, unset: str) -> str:
    if v is None:
        return unset or "none"
    if isinstance(v, (list, tuple)):
        return ",".join(str(x) for x in v)
    return str(v)


def add_config_flags(parser: argparse.ArgumentParser, cls: type, defaults: dict,
                     default_preset: str) -> None:
    """One flag per config field (seed spelling and dashed form), default SUPPRESS so
    only typed flags override; help states the default preset's value."""
    group = parser.add_argument_group(f"options (defaults shown are preset {default_preset!r})")
    for name, f in config.schema(cls).items():
        meta = f.metadata
        if not meta.get("cli", True):
            continue
        flags = [f"--{name}"] + [f"--{a}" for a in meta["aliases"]]
        flags += [x.replace("_", "-") for x in flags if "_" in x]
        value = defaults.get(name, f.default)
        choices = meta.get("choices")
        help_ = f"{meta['help']}" + (f" [{'|'.join(choices)}]" if choices else "") + \
            f" (default: {_show(value, meta.get('unset', ''))})"
        if f.type is bool:
            group.add_argument(*flags, dest=name, action=argparse.BooleanOptionalAction,
                               default=argparse.SUPPRESS, help=help_)
        elif meta.get("from_bool"):
            # a choice that was a bool: --x CHOICE, --x alone (true's value), --no-x
            off, on = meta["from_bool"]
            group.add_argument(*flags, dest=name, nargs="?", const=on,
                               default=argparse.SUPPRESS, help=help_, metavar=name.upper())
            group.add_argument(*[f"--no-{x[2:]}" for x in flags], dest=name,
                               action="store_const", const=off, default=argparse.SUPPRESS,
                               help=f"same as --{name} {off}")
        else:
            group.add_argument(*flags, dest=name, type=_flag_type(f.type),
                               default=argparse.SUPPRESS, help=help_,
                               metavar=name.upper())


def add_run_flags(parser: argparse.ArgumentParser, command: str, presets: dict,
                  default_preset: str) -> None:
    g = parser.add_argument_group("run")
    by_preset: dict[str, list[str]] = {}
    for dataset, name in DATASET_PRESET.get(command, {}).items():
        by_preset.setdefault(name, []).append(dataset)
    by_data = ", ".join(f"{name} for --dataset {' or '.join(sets)}"
                        for name, sets in by_preset.items())
    g.add_argument("--preset", choices=sorted(presets), metavar="NAME", default=None,
                   help=f"start from a named preset: {', '.join(sorted(presets))} "
                        f"(default: {default_preset}{'; ' + by_data if by_data else ''})")
    g.add_argument("--config", metavar="FILE", default=None,
                   help="start from a YAML config (e.g. configs/NAME.yaml or a run's "
                        "config.yaml); flags override it")
    g.add_argument("--out", "--output_fold", "--output-fold", dest="out", metavar="DIR",
                   default=None, help=f"output folder (default: runs/{command}-<time>)")
    g.add_argument("--resume", metavar="DIR", default=None,
                   help="continue the run in DIR from its last checkpoint; flags override "
                        "its config.yaml (a higher --steps extends a train-dist run, a "
                        "higher --epochs a train-mnist run)")
    g.add_argument("--overwrite", action="store_true",
                   help="replace an existing run folder given by --out")
    g.add_argument("--quiet", action="store_true",
                   help="no progress bar and no log lines on stdout (log.txt still written)")
    add_gpu_memory_flag(g)


def add_gpu_memory_flag(parser) -> None:
    """--gpu_memory, for every command that loads TensorFlow (it is not a run setting:
    config.yaml does not keep it); the command passes it to tfenv.set_gpu_memory."""
    parser.add_argument("--gpu_memory", "--gpu-memory", choices=GPU_MEMORY, default="grow",
                        help="grow: take GPU memory as needed, so eval/generate/plot run "
                             "beside a training on the same GPU; all: TensorFlow reserves "
                             "all of it at start (default: grow)")


def overrides(args: argparse.Namespace) -> dict:
    """The config values typed on the command line."""
    return {k: v for k, v in vars(args).items() if k not in _CLI_ONLY}


def add_label_flags(parser) -> None:
    """--label NAME|K and --labels data|uniform (generate, eval): which class labels a
    conditional generator is given; generation.labels_for reads them."""
    g = parser.add_mutually_exclusive_group()
    g.add_argument("--label", default=None, metavar="NAME|K",
                   help="conditional models: every sample of this class, by name (as in "
                        "generator.json's class_names, e.g. a folder's subfolder name) or by "
                        "index 0..C-1")
    g.add_argument("--labels", choices=("data", "uniform"), default="data",
                   help="conditional models: data draws labels with the training class "
                        "frequencies kept in generator.json (classes in turn when it has "
                        "none, as before gancli kept them); uniform gives classes 0, 1, "
                        "..., C-1 in turn, every class equally often (default: data)")
