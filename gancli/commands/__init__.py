"""One module per subcommand, each with add_parser(subparsers) and run(args) -> int.
Modules here import no TensorFlow at import time (help and argument errors stay fast)."""
