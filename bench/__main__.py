"""Run every benchmark on a 1,000,000-trackcode sample lake and write one report.

The lake is generated once under `bench/results/` (ignored by git) and reused. Each part is a
module of this package with `run(...) -> dict` and, where it has one, `render(dict) -> str`;
the report lands in `bench/results/report.json` and is printed as Markdown.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
PARTS = ("engine", "query", "authorizer", "local", "manage")


def ensure_lake(path: Path, trackcodes: int, seed: int) -> Path:
    if not (path / "catalog.db").exists():
        from serving_layer import samples

        print(f"generating a {trackcodes:,}-trackcode lake in {path} …", file=sys.stderr)
        samples.generate(path, trackcodes, seed, progress=True)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--trackcodes", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--only", nargs="*", choices=PARTS, help="run only these parts")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    lake = ensure_lake(RESULTS / f"lake-{args.trackcodes}", args.trackcodes, args.seed)
    report: dict[str, Any] = {"trackcodes": args.trackcodes, "seed": args.seed}
    for part in args.only or PARTS:
        module = importlib.import_module(f"bench.{part}")
        wants_lake = "lake_dir" in inspect.signature(module.run).parameters
        started = time.perf_counter()
        result = module.run(lake_dir=lake) if wants_lake else module.run()
        report[part] = result
        render = getattr(module, "render", None)
        print(render(result) if render else json.dumps(result, indent=2, default=str))
        print(f"({part}: {time.perf_counter() - started:.0f} s)\n", file=sys.stderr)

    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "report.json").write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
