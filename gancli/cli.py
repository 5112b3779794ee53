"""gancli's single entry point: one parser, subcommands, errors as one line."""
from __future__ import annotations

import argparse
import difflib
import errno
import logging
import sys
import typing
from typing import Sequence

from gancli import __version__
from gancli.errors import GancliError

_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)  # the disk, not the program, failed


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (and a hint for mistyped flags)."""

    def error(self, message: str) -> typing.NoReturn:
        if message.startswith("unrecognized arguments:"):
            flags = [s for a in self._actions for s in a.option_strings]
            for word in message.split(":", 1)[1].split():
                if word.startswith("-"):
                    # 0.7, not difflib's 0.6: the shared "--" alone made --augment
                    # "close" to --mean
                    close = difflib.get_close_matches(word.split("=")[0], flags, n=1,
                                                      cutoff=0.7)
                    if close:
                        message += f" (did you mean {close[0]}?)"
                        break
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")



def build_parser() -> argparse.ArgumentParser:
    from gancli.commands import eval as eval_cmd
    from gancli.commands import generate, info, plot, train_classifier, train_dist, train_mnist

    parser = Parser(prog="gancli", description="Train GANs from the command line "
                    "(TensorFlow / Keras 3).",
                    formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--version", action="version", version=f"gancli {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for module in (train_dist, train_mnist, generate, plot, eval_cmd, train_classifier, info):
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # report it from the subcommand's parser: its flags make the suggestions
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        sub.choices[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    logging.getLogger("absl").setLevel(logging.ERROR)  # for when a command loads TensorFlow
    try:
        return int(args.func(args) or 0)
    except GancliError as e:
        print(f"gancli {args.command}: {e.prefix}{e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"gancli {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as e:
        if e.errno not in _FULL:
            raise
        # a full disk anywhere else than a checkpoint (those say which one is kept);
        # every file is written atomically (log.txt is appended to), so what was there
        # before is intact
        where = f" writing {e.filename}" if e.filename else ""
        print(f"gancli {args.command}: error: {e.strerror}{where}; files written before "
              "are intact", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
