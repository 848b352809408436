"""`serving-layer samples`: generate the local sample lake, a year of Latin-American parcels.

The lake is a local Iceberg warehouse (pyiceberg's SQL catalog on SQLite, see `warehouse`) with
every table of the data model: five countries, twenty real cities, seventy services, seven
parcel sizes, 1,500 clients and about 4,000 routes, then the requested number of trackcodes
spread over 2025 and their orders. The same seed always gives the same rows.

Replacing a lake is guarded by a marker file rather than built aside and renamed: Iceberg and
the SQL catalog record absolute file URIs, so a lake built in a temporary folder would point
into that folder after the rename. Instead all rows are generated in memory first, then the
`warehouse.BUILDING_MARKER` file is written into the warehouse, the old lake is removed and the
new one written, and the marker is deleted last. While the marker exists,
`warehouse.metadata_locations` (which every reader goes through) refuses the warehouse, so a
run that stops midway leaves a lake that says it is incomplete instead of one that looks whole.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from serving_layer import config, warehouse

logger = logging.getLogger(__name__)

DEFAULT_TRACKCODES = 200_000
DEFAULT_SEED = 7
PROGRESS_FROM_TRACKCODES = 100_000
# Independent random streams, so the small tables do not change with the number of trackcodes.
_STREAMS = ("dimensions", "trackcode", "orders")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trackcodes",
        type=_non_negative,
        default=DEFAULT_TRACKCODES,
        help=f"how many trackcodes to generate (default {DEFAULT_TRACKCODES:,})",
    )
    parser.add_argument(
        "--seed",
        type=_non_negative,
        default=DEFAULT_SEED,
        help=f"random seed; the same seed gives the same rows (default {DEFAULT_SEED})",
    )
    parser.add_argument(
        "--warehouse",
        default=None,
        help=f"warehouse folder, replaced if it exists (default ${config.WAREHOUSE_DIR.name} "
        "or samples/lake)",
    )


def run(args: argparse.Namespace) -> int:
    root = warehouse.warehouse_dir(args.warehouse)
    started = time.perf_counter()
    counts = generate(
        root, args.trackcodes, args.seed, progress=args.trackcodes > PROGRESS_FROM_TRACKCODES
    )
    seconds = time.perf_counter() - started

    print(f"sample lake in {root} (seed {args.seed}), {seconds:.1f} s")
    for name, rows in counts.items():
        print(f"  {name:<13} {rows:>12,} rows")
    return 0


def generate(
    warehouse_dir: str | Path | None = None,
    trackcodes: int = DEFAULT_TRACKCODES,
    seed: int = DEFAULT_SEED,
    *,
    namespace: str | None = None,
    progress: bool = False,
) -> dict[str, int]:
    """Replace the warehouse at `warehouse_dir` with a generated lake; answer rows per table."""
    import numpy as np
    from tqdm import tqdm

    from serving_layer.sampling import dimensions, facts, reference

    root = warehouse.warehouse_dir(None if warehouse_dir is None else str(warehouse_dir))
    namespace = config.NAMESPACE.get(namespace)
    streams = dict(zip(_STREAMS, np.random.SeedSequence(seed).spawn(len(_STREAMS)), strict=True))
    # `disable=None` lets tqdm stay quiet when stderr is not a terminal.
    bar = tqdm(total=6, unit="step", file=sys.stderr, disable=None if progress else True)

    with bar:
        bar.set_description("reference and clients")
        dims = dimensions.build(reference.load(), np.random.default_rng(streams["dimensions"]))
        bar.update()

        bar.set_description("trackcodes")
        trackcode, shipments = facts.trackcodes(
            dims, np.random.default_rng(streams["trackcode"]), trackcodes
        )
        bar.update()

        bar.set_description("orders")
        orders = facts.orders(dims, np.random.default_rng(streams["orders"]), shipments)
        tables = {**dims.tables, "trackcode": trackcode, "orders": orders}
        bar.update()

        with _building(root, seed, trackcodes):
            bar.set_description("clearing the old lake")
            _clear(root, namespace)
            iceberg = warehouse.create_tables(warehouse.open_catalog(root), namespace, replace=True)
            bar.update()

            # Trackcodes come sorted by creation, so pyiceberg's split by day partition writes one
            # data file per day; orders come sorted by trackcode id, in one file.
            for name, data in tables.items():
                bar.set_description(f"writing {name}")
                iceberg[name].append(data)
                if name in ("trackcode", "orders"):
                    bar.update()

    counts = {name: data.num_rows for name, data in tables.items()}
    logger.debug("sample lake generated", extra={"warehouse": str(root), "seed": seed, **counts})
    return counts


@contextmanager
def _building(root: Path, seed: int, trackcodes: int) -> Iterator[None]:
    """Mark the warehouse as being built for the duration; the mark stays if the build fails.

    NOTE: two generations into the same folder at once are not excluded (no lock is taken):
    the lake is a developer's local sample, rebuilt by hand; a lock file would lift this.
    """
    root.mkdir(parents=True, exist_ok=True)
    marker = root / warehouse.BUILDING_MARKER
    now = datetime.now(UTC).isoformat(timespec="seconds")
    marker.write_text(
        f"generation started at {now} (seed {seed}, {trackcodes} trackcodes); "
        "if no generation is running, this lake is incomplete: run `make samples` again\n"
    )
    yield
    marker.unlink()


def _clear(root: Path, namespace: str) -> None:
    """Remove the old lake: its catalog and its namespace's folder, nothing else in `root`.

    Deleting both outright, rather than dropping each table through the catalog, also clears a
    lake whose last build stopped midway (its catalog may name metadata that was never written).
    """
    catalog_file = root / warehouse.CATALOG_FILE
    if not catalog_file.exists():
        return
    catalog_file.unlink()
    shutil.rmtree(root / namespace, ignore_errors=True)


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number of 0 or more; got {text!r}")
    return value
