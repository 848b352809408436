"""The large tables of the sample lake: a year of trackcodes and their delivery orders.

Trackcodes are created between `YEAR_START` and `YEAR_END` (UTC), more on weekdays than at
weekends (fewest on Sundays, most midweek), more as the year goes on and around Black Friday
and December, and at the local office hours of the client's city. They come out sorted by
creation with ids in that order, so the trackcode table writes one data file per day.

Each trackcode has one order, or two when the first attempt failed (started, never ended) and a
second one followed a day later. The lake is a snapshot taken at `YEAR_END`: anything that
would have happened after it has not happened yet (null start or end time).

Shares of the interesting cases (seed-independent on average):
- orders without a route (`route_id` null, never started): `UNROUTED_SHARE` of last orders;
- routed orders never started: `NOT_STARTED_SHARE`;
- started last orders never delivered: `UNDELIVERED_SHARE`;
- delivered after the promise: about 12% (the delivery-time spread is tuned for it);
- trackcodes whose `service_id` is not in the service table (missing dimension):
  `MISSING_SERVICE_SHARE`, with ids from `MISSING_SERVICE_FIRST_ID` up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from serving_layer.sampling import arrays
from serving_layer.sampling.dimensions import Dimensions

YEAR_START = datetime(2025, 1, 1, tzinfo=UTC)
YEAR_END = datetime(2026, 1, 1, tzinfo=UTC)
TRACKCODE_ID_BASE = 7_000_000_000
ORDER_ID_BASE = 9_000_000_000

CROSSDOCKING_SHARE = 0.15
PICKUP_AT_CLIENT_SHARE = 0.8
MISSING_SERVICE_SHARE = 0.001
MISSING_SERVICE_FIRST_ID = 901
SECOND_ATTEMPT_SHARE = 0.2
UNROUTED_SHARE = 0.06
NOT_STARTED_SHARE = 0.02
UNDELIVERED_SHARE = 0.03
RETRY_HOURS = 24.0
# Delivery takes a lognormal share of the promised window: median 70%, late about 12% of times.
DELIVERY_SHARE_MEDIAN = 0.7
DELIVERY_SHARE_SIGMA = 0.3

# Monday first: fewest on Sundays, peaks midweek.
WEEKDAY_WEIGHTS = (1.05, 1.2, 1.25, 1.15, 1.0, 0.6, 0.3)
# Local hour of creation, midnight first: office hours with a dip at lunch.
# fmt: off
HOUR_WEIGHTS = (
    1.0, 0.5, 0.3, 0.3, 0.3, 0.6, 2.0, 5.0, 9.0, 11.0, 12.0, 11.0,
    8.0, 9.0, 10.0, 10.0, 9.0, 7.0, 5.0, 4.0, 3.0, 2.0, 1.5, 1.0,
)
# fmt: on
SECOND_US = 1_000_000
HOUR_US = 3_600 * SECOND_US
DAY_US = 24 * HOUR_US


@dataclass(frozen=True)
class Shipments:
    """What the orders of the trackcodes are drawn from, one entry per trackcode in id order."""

    creation_us: np.ndarray
    city: np.ndarray
    sla_hours: np.ndarray


def year_days() -> int:
    return (YEAR_END - YEAR_START).days


def day_weights() -> np.ndarray:
    """Relative volume of each day of the year: weekday, growth over the year, peak seasons."""
    days = np.arange(year_days())
    first = YEAR_START.date()
    weekday = np.array(WEEKDAY_WEIGHTS)[(days + first.weekday()) % 7]
    growth = 1.0 + 0.35 * days / days.size

    season = np.ones(days.size)
    for start, end, factor in (
        (date(2025, 5, 1), date(2025, 5, 11), 1.3),  # Mother's Day in Mexico and Colombia
        (date(2025, 11, 24), date(2025, 12, 2), 1.8),  # Black Friday to Cyber Monday
        (date(2025, 12, 2), date(2025, 12, 24), 1.4),  # Christmas shopping
        (date(2025, 12, 24), date(2025, 12, 26), 0.5),
        (date(2025, 12, 31), date(2026, 1, 1), 0.5),
        (date(2025, 1, 1), date(2025, 1, 2), 0.4),
    ):
        season[(start - first).days : (end - first).days] = factor
    return weekday * growth * season


def trackcodes(
    dims: Dimensions, rng: np.random.Generator, count: int
) -> tuple[pa.Table, Shipments]:
    """`count` trackcodes sorted by creation, with what their orders are drawn from."""
    clients, places, catalogue = dims.clients, dims.places, dims.catalogue
    creation, client = _creation_times(dims, rng, count)
    city = clients.city[client]

    service_id = clients.service_ids[
        arrays.pick_in_groups(rng, clients.service_starts, clients.service_sizes, client)
    ]
    missing = rng.random(count) < MISSING_SERVICE_SHARE
    unknown = MISSING_SERVICE_FIRST_ID + rng.integers(0, 99, count)
    service_id = np.where(missing, unknown, service_id)
    known_sla = catalogue.sla_hours_by_service_id[np.where(missing, 0, service_id)]
    sla_hours = np.where(missing, 30.0, known_sla)

    product = rng.integers(0, len(catalogue.product_descriptions), count)
    size_id = catalogue.product_size_ids[product]
    low, high = catalogue.min_kg_by_size_id[size_id], catalogue.max_kg_by_size_id[size_id]
    weight = np.round(low + (high - low) * rng.beta(2.0, 3.0, count), 2)
    usd_price = catalogue.product_usd_prices[product] * rng.lognormal(0.0, 0.35, count)
    price = _local_price(usd_price, places.city_usd_rate[city])

    # Most parcels are picked up at the client's own address; some at a store or a supplier.
    at_client = rng.random(count) < PICKUP_AT_CLIENT_SHARE
    elsewhere = places.addresses(rng, city)
    pickup_address = pc.if_else(
        pa.array(at_client), clients.address.take(pa.array(client)), elsewhere
    )
    near_lon, near_lat = places.near(rng, city, 0.04)
    pickup_lon = np.where(at_client, clients.lon[client], near_lon)
    pickup_lat = np.where(at_client, clients.lat[client], near_lat)
    drop_lon, drop_lat = places.near(rng, city, 0.06)

    table = arrays.table_of(
        "trackcode",
        {
            "id": TRACKCODE_ID_BASE + np.arange(1, count + 1, dtype=np.int64),
            "creation": arrays.timestamps(creation),
            "crossdocking": rng.random(count) < CROSSDOCKING_SHARE,
            "pickup_address": pickup_address,
            "drop_address": places.addresses(rng, city),
            "service_id": service_id,
            "product_description": arrays.pick(catalogue.product_descriptions, product),
            "product_price": price,
            "product_size_id": size_id,
            "product_weight": weight,
            "pickup_point": arrays.wkt_points(pickup_lon, pickup_lat),
            "drop_point": arrays.wkt_points(drop_lon, drop_lat),
            "client_id": clients.ids[client],
        },
    )
    return table, Shipments(creation_us=creation, city=city, sla_hours=sla_hours)


def _creation_times(
    dims: Dimensions, rng: np.random.Generator, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """Creation instants (µs since the epoch, sorted) and the client of each."""
    client = rng.choice(dims.clients.ids.size, size=count, p=dims.clients.volume)
    day = rng.choice(year_days(), size=count, p=arrays.probabilities(day_weights()))
    hour = rng.choice(24, size=count, p=arrays.probabilities(HOUR_WEIGHTS))
    second = rng.integers(0, 3_600, count)

    # Hours are local to the client's city; west of Greenwich, UTC is later by the offset.
    # NOTE: offsets are standard time all year (Chile's summer time is ignored); the hour
    # pattern is a shape, not a schedule, so an hour's shift for part of the year is harmless.
    offset = dims.places.city_utc_offset_hours[dims.clients.city[client]]
    start_us = int(YEAR_START.timestamp()) * SECOND_US
    creation = start_us + day * DAY_US + (hour - offset) * HOUR_US + second * SECOND_US

    # A late-evening parcel of the last day would fall after the year: move it a week back.
    end_us = int(YEAR_END.timestamp()) * SECOND_US
    creation = np.where(creation >= end_us, creation - 7 * DAY_US, creation)

    order = np.argsort(creation, kind="stable")
    return creation[order], client[order]


def _local_price(usd: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """Declared parcel values in local currency: cents where they count, else whole hundreds."""
    local = usd * rate
    return np.where(rate < 100, np.round(local, 2), np.round(local / 100.0) * 100.0)


def orders(dims: Dimensions, rng: np.random.Generator, shipments: Shipments) -> pa.Table:
    """The delivery orders of the trackcodes, sorted by trackcode id; routes in their city."""
    creation, sla_hours = shipments.creation_us, shipments.sla_hours
    count = creation.size
    attempts = np.where(rng.random(count) < SECOND_ATTEMPT_SHARE, 2, 1)
    trackcode = np.repeat(np.arange(count), attempts)
    total = trackcode.size
    last = np.ones(total, dtype=bool)
    first_of_two = np.repeat(attempts == 2, attempts) & (
        np.arange(total) == np.repeat(np.cumsum(attempts) - attempts, attempts)
    )
    last[first_of_two] = False
    second = np.zeros(total, dtype=bool)
    second[1:] = first_of_two[:-1]

    # A first attempt is promised the service's hours from creation; a retry a day after that.
    first_promise = creation + (sla_hours * HOUR_US).astype(np.int64)
    window_us = np.where(second, RETRY_HOURS * HOUR_US, sla_hours[trackcode] * HOUR_US)
    base = np.where(second, first_promise[trackcode], creation[trackcode])
    promise = base + window_us.astype(np.int64)

    delivery = rng.lognormal(np.log(DELIVERY_SHARE_MEDIAN), DELIVERY_SHARE_SIGMA, total)
    end = base + _whole_seconds(window_us * delivery)
    start = base + _whole_seconds((end - base) * rng.uniform(0.15, 0.6, total))

    unrouted = last & ~second & (rng.random(total) < UNROUTED_SHARE)
    not_started = unrouted | (rng.random(total) < NOT_STARTED_SHARE)
    undelivered = not_started | first_of_two | (last & (rng.random(total) < UNDELIVERED_SHARE))

    # The lake is a snapshot at the end of the year: later events have not happened yet.
    snapshot = int(YEAR_END.timestamp()) * SECOND_US
    not_started |= start > snapshot
    undelivered |= not_started | (end > snapshot)

    route = dims.route_ids[
        arrays.pick_in_groups(rng, dims.route_starts, dims.route_sizes, shipments.city[trackcode])
    ]
    return arrays.table_of(
        "orders",
        {
            "id": ORDER_ID_BASE + np.arange(1, total + 1, dtype=np.int64),
            "route_id": pa.array(route, type=pa.int32(), mask=unrouted),
            "trackcode_id": TRACKCODE_ID_BASE + 1 + trackcode,
            "promise_time": arrays.timestamps(promise),
            "start_time": arrays.timestamps(start, not_started),
            "end_time": arrays.timestamps(end, undelivered),
        },
    )


def _whole_seconds(micros: np.ndarray) -> np.ndarray:
    return (np.asarray(micros) // SECOND_US).astype(np.int64) * SECOND_US
