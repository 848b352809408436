"""`python -m local`: serve the API of template.yaml on 127.0.0.1 with the local runtime.

    python -m local                          # 127.0.0.1:3000, the sample lake, the local store
    python -m local --port 0                 # any free port (the ready line says which)
    python -m local --seed-samples           # also re-key the sample clients and print the keys
    python -m local --parameter-overrides AuthorizerCacheSeconds=2

The ready line, `Serving … on http://HOST:PORT`, is printed once the port is open.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from local import environment, sample_clients, server
from local.gateway import Gateway
from local.template import TEMPLATE_FILE, TemplateError, load_stack
from serving_layer import config, warehouse

logger = logging.getLogger("local")


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=3000, help="port; 0 picks a free one")
    parser.add_argument("--template", type=Path, default=TEMPLATE_FILE, help="the SAM template")
    parser.add_argument(
        "--env-vars",
        type=Path,
        default=environment.ENV_FILE,
        help="variable overrides, in sam local's env.json format",
    )
    parser.add_argument(
        "--parameter-overrides",
        nargs="*",
        default=[],
        metavar="NAME=VALUE",
        help="template parameters, as sam deploy takes them",
    )
    parser.add_argument(
        "--seed-samples",
        action="store_true",
        help="store the sample clients with fresh keys and print them",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    logging.basicConfig(
        level=config.LOG_LEVEL.get(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    try:
        overrides = dict(_pair(text) for text in args.parameter_overrides)
        stack = load_stack(args.template, overrides)
        environments = environment.function_environments(
            stack, environment.read_env_file(args.env_vars), os.environ
        )
    except (TemplateError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    os.environ.update(environment.shared_environment(environments))
    gateway = Gateway(stack)
    failures = gateway.functions.load_all(environments)
    for function, reason in failures.items():
        print(f"warning: {function} cannot load ({reason}); its routes answer 502", file=sys.stderr)
    _check_warehouse()

    issued = sample_clients.seed() if args.seed_samples else []

    def ready(running: server.LocalServer) -> None:
        if issued:
            sample_clients.print_keys(issued, running.url, sys.stdout)
        routes = len(stack.routes)
        print(f"Serving {routes} routes of {args.template.name} on {running.url}  (Ctrl-C stops)")
        sys.stdout.flush()

    try:
        return server.serve(gateway, args.host, args.port, on_ready=ready)
    except OSError as error:
        print(f"error: cannot listen on {args.host}:{args.port}: {error.strerror}", file=sys.stderr)
        return 1


def _pair(text: str) -> tuple[str, str]:
    name, separator, value = text.partition("=")
    if not separator or not name:
        raise ValueError(f"a parameter override reads NAME=VALUE; got {text!r}")
    return name, value


def _check_warehouse() -> None:
    try:
        warehouse.metadata_locations()
    except Exception as error:  # any unreadable lake: say so, the API answers its own errors
        print(f"warning: {error}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
