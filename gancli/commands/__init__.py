"""One module per subcommand, each with add_parser(subparsers) and run(args) -> int.
Modules here import no TensorFlow at import time (help and argument errors stay fast)."""
from __future__ import annotations

from gancli.config import DistConfig, ImageConfig

SCHEMAS = {"train-dist": DistConfig, "train-mnist": ImageConfig}
