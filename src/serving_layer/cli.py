"""The `serving-layer` command: each subcommand lives in the module that owns its work.

Subcommand modules are imported only when their command runs, so `serving-layer clients …`
never loads pyarrow and `--help` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from serving_layer import config

# name: (module, one-line help). Each module has `configure(parser)` and `run(args) -> int`.
COMMANDS: dict[str, tuple[str, str]] = {
    "samples": ("serving_layer.samples", "generate the local sample Iceberg lake"),
    "clients": ("serving_layer.admin", "create, list, show, grant, revoke and rotate clients"),
}


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="serving-layer", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        # Only the chosen command's module is imported to configure its options.
        if name in argv:
            importlib.import_module(module_name).configure(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=config.LOG_LEVEL.get(), format="%(levelname)s %(name)s %(message)s")
    args = build_parser(argv).parse_args(argv)
    module = importlib.import_module(COMMANDS[args.command][0])
    result: int = module.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
