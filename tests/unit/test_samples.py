"""The sample lake generator writes a real Iceberg warehouse that is deterministic and realistic.

Every property is computed here from the rows read back through pyiceberg (or DuckDB), never
taken from the generator's own figures. Lakes are small (2,000 trackcodes) and written once per
module where a test only reads them.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from serving_layer import cli, config, samples, warehouse
from serving_layer.engines.duckdb import DuckDBEngine
from serving_layer.errors import EngineUnavailableError
from serving_layer.sampling import dimensions, facts, reference

TRACKCODES = 2_000
SEED = 11
TABLE_NAMES = ("country", "city", "service", "product_size", "client", "route", "trackcode")


def read_tables(lake: Path) -> dict[str, pa.Table]:
    """Every table of the lake as pyiceberg reads it, rows sorted by id."""
    catalog = warehouse.open_catalog(lake)
    namespace = config.NAMESPACE.get()
    names = (*TABLE_NAMES, "orders")
    return {
        name: catalog.load_table(f"{namespace}.{name}").scan().to_arrow().sort_by("id")
        for name in names
    }


def rows(table: pa.Table) -> list[dict[str, Any]]:
    return table.to_pylist()


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lake")
    samples.generate(path, TRACKCODES, SEED)
    return path


@pytest.fixture(scope="module")
def tables(lake: Path) -> dict[str, pa.Table]:
    return read_tables(lake)


# Determinism


def test_the_same_seed_gives_identical_tables(tmp_path: Path, tables: dict[str, pa.Table]) -> None:
    # GIVEN a lake generated with SEED (the module's) WHEN another is generated with it
    samples.generate(tmp_path, TRACKCODES, SEED)

    # THEN every table holds the same rows
    again = read_tables(tmp_path)
    for name, table in tables.items():
        assert again[name].equals(table), name


def test_another_seed_gives_other_rows(tmp_path: Path, tables: dict[str, pa.Table]) -> None:
    # GIVEN a lake of the same size WHEN generated with another seed
    samples.generate(tmp_path, TRACKCODES, SEED + 1)

    # THEN its facts and generated dimensions differ; the reference tables do not
    other = read_tables(tmp_path)
    for name in ("trackcode", "orders", "client", "route"):
        assert not other[name].equals(tables[name]), name
    for name in ("country", "city", "service", "product_size"):
        assert other[name].equals(tables[name]), name


# Sizes and keys


def test_row_counts_are_those_asked_for_and_documented(lake: Path) -> None:
    # GIVEN the lake WHEN each table is counted through DuckDB THEN the sizes are the documented
    engine = DuckDBEngine(warehouse_path=lake)
    counted = {n: engine.raw(f'SELECT count(*) FROM "{n}"')[0][0] for n in TABLE_NAMES}

    routes = counted.pop("route")
    assert 3_900 <= routes <= 4_100
    assert counted == {
        "country": 5,
        "city": 20,
        "service": 70,
        "product_size": 7,
        "client": 1_500,
        "trackcode": TRACKCODES,
    }


def test_generate_answers_the_rows_it_wrote(tmp_path: Path, tables: dict[str, pa.Table]) -> None:
    # GIVEN a small lake WHEN generated THEN the answered counts are the rows read back
    counts = samples.generate(tmp_path, 40, SEED)

    written = read_tables(tmp_path)
    assert counts == {name: written[name].num_rows for name in counts}
    assert counts["trackcode"] == 40
    assert set(counts) == set(tables)


def test_ids_are_unique_in_every_table(tables: dict[str, pa.Table]) -> None:
    for name, table in tables.items():
        ids = table.column("id").to_pylist()
        assert len(set(ids)) == len(ids), name


def test_trackcode_ids_exceed_32_bits(tables: dict[str, pa.Table]) -> None:
    assert min(tables["trackcode"].column("id").to_pylist()) > 2**31


# Relations


def test_every_order_belongs_to_a_trackcode_that_has_one_or_two(
    tables: dict[str, pa.Table],
) -> None:
    trackcode_ids = set(tables["trackcode"].column("id").to_pylist())
    per_trackcode = Counter(tables["orders"].column("trackcode_id").to_pylist())

    assert set(per_trackcode) == trackcode_ids
    assert set(per_trackcode.values()) == {1, 2}


def test_clients_and_their_services_exist(tables: dict[str, pa.Table]) -> None:
    client_ids = set(tables["client"].column("id").to_pylist())
    service_ids = set(tables["service"].column("id").to_pylist())
    city_ids = set(tables["city"].column("id").to_pylist())

    assert set(tables["trackcode"].column("client_id").to_pylist()) <= client_ids
    for client in rows(tables["client"]):
        assert client["service_ids"], client["id"]
        assert set(client["service_ids"]) <= service_ids
        assert client["city_id"] in city_ids
        assert client["enterprise_key"].startswith("ek_") and len(client["enterprise_key"]) == 35


def test_routed_orders_name_a_route_of_the_clients_city(tables: dict[str, pa.Table]) -> None:
    # GIVEN each route's city (an unknown city id is the real one plus 900)
    route_city = {r["id"]: r["city_id"] % 900 for r in rows(tables["route"])}
    client_city = {c["id"]: c["city_id"] for c in rows(tables["client"])}
    trackcode_city = {t["id"]: client_city[t["client_id"]] for t in rows(tables["trackcode"])}

    # THEN every routed order runs in its trackcode's city
    for order in rows(tables["orders"]):
        if order["route_id"] is not None:
            assert route_city[order["route_id"]] == trackcode_city[order["trackcode_id"]]


def test_a_few_routes_name_a_city_that_does_not_exist(tables: dict[str, pa.Table]) -> None:
    city_ids = set(tables["city"].column("id").to_pylist())
    route_cities = tables["route"].column("city_id").to_pylist()

    unknown = [city for city in route_cities if city not in city_ids]
    assert 0 < len(unknown) < 0.02 * len(route_cities)


def test_a_few_trackcodes_name_a_service_that_does_not_exist() -> None:
    # GIVEN 50,000 trackcodes built in memory (2,000 would hold about two such cases)
    ref = reference.load()
    dims = dimensions.build(ref, np.random.default_rng(1))
    trackcode, _ = facts.trackcodes(dims, np.random.default_rng(2), 50_000)

    # THEN about one in a thousand names a service outside the reference list
    known = {service["id"] for service in ref.services}
    unknown = [s for s in trackcode.column("service_id").to_pylist() if s not in known]
    assert 10 <= len(unknown) <= 150


# Business realism


def test_orders_cover_unrouted_unstarted_late_and_undelivered(tables: dict[str, pa.Table]) -> None:
    orders = rows(tables["orders"])
    total = len(orders)

    unrouted = [o for o in orders if o["route_id"] is None]
    unstarted = [o for o in orders if o["start_time"] is None]
    delivered = [o for o in orders if o["end_time"] is not None]
    late = [o for o in delivered if o["end_time"] > o["promise_time"]]

    assert 0.01 * total < len(unrouted) < 0.15 * total
    assert len(unrouted) < len(unstarted) < 0.2 * total
    assert 0.6 * total < len(delivered) < 0.95 * total
    assert 0.03 * len(delivered) < len(late) < 0.3 * len(delivered)
    assert all(o["start_time"] is None and o["end_time"] is None for o in unrouted)


def test_order_times_follow_each_other(tables: dict[str, pa.Table]) -> None:
    creation = {t["id"]: t["creation"] for t in rows(tables["trackcode"])}
    for order in rows(tables["orders"]):
        created = creation[order["trackcode_id"]]
        assert order["promise_time"] > created
        if order["start_time"] is not None:
            assert created <= order["start_time"]
        if order["end_time"] is not None:
            assert order["start_time"] is not None
            assert order["start_time"] <= order["end_time"]


def test_creation_is_within_2025(tables: dict[str, pa.Table]) -> None:
    creation = tables["trackcode"].column("creation").to_pylist()

    assert min(creation) >= datetime(2025, 1, 1)
    assert max(creation) < datetime(2026, 1, 1)


def test_nothing_happens_after_the_snapshot_at_the_end_of_2025(
    tables: dict[str, pa.Table],
) -> None:
    snapshot = datetime(2026, 1, 1)
    for order in rows(tables["orders"]):
        assert order["start_time"] is None or order["start_time"] <= snapshot
        assert order["end_time"] is None or order["end_time"] <= snapshot


def test_route_prices_fall_back_and_incentives_are_optional(tables: dict[str, pa.Table]) -> None:
    routes = rows(tables["route"])

    assert all(r["price_original"] > 0 and r["distance"] > 0 for r in routes)
    assert any(r["price_official"] is None for r in routes)
    assert any(r["price_official"] is not None for r in routes)
    assert any(r["price_incentive"] is None for r in routes)
    assert any(r["price_incentive"] is not None for r in routes)
    assert all(r["code"][:3].isupper() and r["code"][3] == "-" for r in routes)


def test_weekdays_outnumber_weekends_and_sundays_are_quietest() -> None:
    # GIVEN 100,000 trackcodes built in memory
    dims = dimensions.build(reference.load(), np.random.default_rng(1))
    trackcode, _ = facts.trackcodes(dims, np.random.default_rng(3), 100_000)

    # WHEN counted by UTC weekday (Monday is 0)
    creation = trackcode.column("creation").to_pylist()
    per_weekday = Counter(moment.weekday() for moment in creation)

    # THEN Sunday is the quietest day, Saturday next, and midweek the busiest
    ranked = [day for day, _ in per_weekday.most_common()]
    assert ranked[-2:] == [5, 6]
    assert set(ranked[:3]) <= {1, 2, 3}


def test_points_are_wkt_near_their_city(tables: dict[str, pa.Table]) -> None:
    centres = {c["id"]: reference.point_coordinates(c["point"]) for c in rows(tables["city"])}
    client_city = {c["id"]: c["city_id"] for c in rows(tables["client"])}

    for trackcode in rows(tables["trackcode"])[:200]:
        lon, lat = reference.point_coordinates(trackcode["drop_point"])
        centre_lon, centre_lat = centres[client_city[trackcode["client_id"]]]
        assert abs(lon - centre_lon) < 0.5 and abs(lat - centre_lat) < 0.5


# Iceberg layout


def test_trackcode_is_partitioned_by_day_with_one_file_per_day(lake: Path) -> None:
    table = warehouse.open_catalog(lake).load_table(f"{config.NAMESPACE.get()}.trackcode")

    # GIVEN the table's spec: the day of `creation`
    [field] = table.spec().fields
    assert str(field.transform) == "day"
    assert table.schema().find_column_name(field.source_id) == "creation"

    # WHEN its data files are listed with their partition values
    files = table.inspect.files().to_pylist()
    days = Counter(f["partition"]["creation_day"] for f in files)

    # THEN each day of creation has exactly one file, holding that day's trackcodes
    creation = table.scan().to_arrow().column("creation").to_pylist()
    per_day = Counter(moment.date() for moment in creation)
    assert set(days.values()) == {1}
    assert set(days) == set(per_day)
    for f in files:
        assert f["record_count"] == per_day[f["partition"]["creation_day"]]


def test_orders_are_one_unpartitioned_file_sorted_by_trackcode(lake: Path) -> None:
    table = warehouse.open_catalog(lake).load_table(f"{config.NAMESPACE.get()}.orders")

    assert table.spec().is_unpartitioned()
    assert len(table.inspect.files()) == 1
    trackcode_ids = table.scan().to_arrow().column("trackcode_id").to_pylist()
    assert trackcode_ids == sorted(trackcode_ids)


def test_duckdb_reads_the_lake(lake: Path) -> None:
    engine = DuckDBEngine(warehouse_path=lake)

    assert engine.raw("SELECT count(*) FROM trackcode") == [(TRACKCODES,)]
    assert engine.raw("SELECT count(*) FROM orders o JOIN trackcode t ON t.id = o.trackcode_id")


# Replacing a lake


def test_generating_again_replaces_the_lake_and_its_files(tmp_path: Path) -> None:
    # GIVEN a lake of 300 trackcodes
    samples.generate(tmp_path, 300, SEED)

    # WHEN a lake of 30 is generated in the same folder
    samples.generate(tmp_path, 30, SEED)

    # THEN only the new one is there, with no data file left from the old
    engine = DuckDBEngine(warehouse_path=tmp_path)
    assert engine.raw("SELECT count(*) FROM trackcode") == [(30,)]
    table = warehouse.open_catalog(tmp_path).load_table(f"{config.NAMESPACE.get()}.trackcode")
    on_disk = set((tmp_path / config.NAMESPACE.get() / "trackcode" / "data").rglob("*.parquet"))
    listed = {
        Path(f["file_path"].removeprefix("file://")) for f in table.inspect.files().to_pylist()
    }
    assert on_disk == listed
    assert not (tmp_path / warehouse.BUILDING_MARKER).exists()


def test_a_generation_that_stops_midway_leaves_a_lake_readers_refuse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a complete lake
    samples.generate(tmp_path, 30, SEED)

    # WHEN the next generation fails while writing the orders (a crash, emulated by an error)
    from pyiceberg.table import Table

    append = Table.append

    def failing_append(self: Table, df: pa.Table, *args: Any, **kwargs: Any) -> None:
        if self.name()[-1] == "orders":
            raise OSError("disk full")
        append(self, df, *args, **kwargs)

    monkeypatch.setattr(Table, "append", failing_append)
    with pytest.raises(OSError, match="disk full"):
        samples.generate(tmp_path, 40, SEED)
    monkeypatch.undo()

    # THEN readers refuse the half-written lake and say how to fix it
    with pytest.raises(warehouse.WarehouseIncompleteError, match="make samples"):
        warehouse.metadata_locations(tmp_path)
    with pytest.raises(EngineUnavailableError, match="stopped midway"):
        DuckDBEngine(warehouse_path=tmp_path).raw("SELECT 1")

    # AND generating again gives a whole lake
    samples.generate(tmp_path, 40, SEED)
    assert DuckDBEngine(warehouse_path=tmp_path).raw("SELECT count(*) FROM trackcode") == [(40,)]


# Command line


def test_the_command_writes_the_lake_and_prints_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = cli.main(
        ["samples", "--trackcodes", "25", "--seed", "3", "--warehouse", str(tmp_path)]
    )

    out = capsys.readouterr().out
    assert status == 0
    assert str(tmp_path) in out
    assert any(line.split() == ["trackcode", "25", "rows"] for line in out.splitlines())
    assert any(line.split() == ["client", "1,500", "rows"] for line in out.splitlines())


@pytest.mark.parametrize("value", ["-1", "many"])
def test_the_command_rejects_a_count_that_is_not_a_whole_number(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["samples", "--trackcodes", value, "--warehouse", str(tmp_path)])

    assert exit_info.value.code == 2
    assert "expected a whole number of 0 or more" in capsys.readouterr().err
    assert not (tmp_path / warehouse.CATALOG_FILE).exists()
