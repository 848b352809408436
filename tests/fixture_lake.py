"""A small hand-made Iceberg lake and the answer of every endpoint over it, worked out by hand.

Every row below is written by hand, and every expected answer is derived by hand from these rows
(the comments show the arithmetic), never by running the code under test. The data is shaped to
exercise the edges of the contract:

- trackcode 1001 is created exactly at the range's start (included), 1009 exactly at its end
  (excluded), 1000 a second before the start and 1010 after the end;
- trackcode 1003 has service 9, which the service table lacks (null `service_name`, row kept);
- client 103 lives in city 77 and route 503 runs in city 99, neither in the city table (null
  `city_name`, row kept);
- trackcode 1001 has two orders on route 501 (one visit to Bogota, not two) and one on 502;
- trackcodes 1004 and 1005 share a creation instant (ordered by id);
- trackcode 1008's creation has a fraction of a second (rendered with its microseconds);
- trackcode 1007 has no order at all (never "lost").

The main range is RANGE = [2025-03-01, 2025-03-04); EMPTY_RANGE holds no trackcode.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

RANGE = ("2025-03-01", "2025-03-04")
EMPTY_RANGE = ("2025-01-01", "2025-01-08")

COUNTRIES = [
    {"id": 1, "name": "Colombia", "region": "Andean", "prefix_phone": "+57", "currency_iso": "COP"},
]
CITIES = [
    {"id": 10, "name": "Bogota", "country_id": 1, "timezone": "America/Bogota", "point": None},
    {"id": 20, "name": "Medellin", "country_id": 1, "timezone": "America/Bogota", "point": None},
]
CLIENTS = [
    {
        "id": 101,
        "commercial_name": "Andes Express",
        "business_name": "Andes Express SAS",
        "city_id": 10,
        "address": "Calle 26 #68-10 Bogota",
        "service_ids": [1, 2],
        "enterprise_key": "ek-101-secret",
    },
    {
        "id": 102,
        "commercial_name": "Rio Cargo",
        "business_name": "Rio Cargo Ltda",
        "city_id": 20,
        "address": "Carrera 43A #1-50 Medellin",
        "service_ids": [1, 2],
        "enterprise_key": "ek-102-secret",
    },
    {
        "id": 103,
        "commercial_name": "Pacifico Envios",
        "business_name": "Pacifico Envios SA",
        "city_id": 77,  # not in the city table: city_name is null
        "address": "Avenida 6N #23-45 Cali",
        "service_ids": [1],
        "enterprise_key": "ek-103-secret",
    },
]
SERVICES = [{"id": 1, "name": "standard"}, {"id": 2, "name": "express"}]
PRODUCT_SIZES = [{"id": 1, "name": "small", "dim_x": 20.0, "dim_y": 15.0, "dim_z": 10.0}]
ROUTES = [
    # id, code, official, original, incentive, distance, city
    {
        "id": 501,
        "code": "R-BOG-1",
        "price_official": 10.0,
        "price_original": 12.0,
        "price_incentive": None,
        "distance": 5.5,
        "city_id": 10,
    },
    {
        "id": 502,
        "code": "R-MED-1",
        "price_official": None,  # price falls back to price_original, 8.0
        "price_original": 8.0,
        "price_incentive": 1.0,
        "distance": 3.0,
        "city_id": 20,
    },
    {
        "id": 503,
        "code": "R-XXX-1",
        "price_official": 7.0,
        "price_original": 9.0,
        "price_incentive": None,
        "distance": 2.0,
        "city_id": 99,  # not in the city table: city_name is null
    },
]


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _trackcode(
    id_: int, creation: str, client_id: int, service_id: int, crossdocking: bool, price: float
) -> dict[str, Any]:
    return {
        "id": id_,
        "creation": _t(creation),
        "crossdocking": crossdocking,
        "pickup_address": f"Pickup street {id_} #10-20",
        "drop_address": f"Drop avenue {id_} #30-40",
        "service_id": service_id,
        "product_description": f"parcel {id_}",
        "product_price": price,
        "product_size_id": 1,
        "product_weight": 1.25,
        "pickup_point": "POINT (-74.07 4.71)",
        "drop_point": "POINT (-74.08 4.72)",
        "client_id": client_id,
    }


TRACKCODES = [
    _trackcode(1000, "2025-02-28T23:59:59", 101, 1, False, 10.0),  # before start
    _trackcode(1001, "2025-03-01T00:00:00", 101, 1, False, 11.0),  # exactly at start: in
    _trackcode(1002, "2025-03-01T09:30:00", 102, 2, True, 12.0),
    _trackcode(1003, "2025-03-01T12:00:00", 101, 9, False, 13.0),  # unknown service 9
    _trackcode(1004, "2025-03-02T08:00:00", 101, 2, False, 14.0),
    _trackcode(1005, "2025-03-02T08:00:00", 103, 1, True, 15.0),  # same instant as 1004
    _trackcode(1006, "2025-03-02T17:45:00", 102, 1, False, 16.0),
    _trackcode(1007, "2025-03-03T06:15:00", 101, 1, False, 17.0),  # no order
    _trackcode(1008, "2025-03-03T23:59:59.500000", 102, 2, False, 18.0),
    _trackcode(1009, "2025-03-04T00:00:00", 101, 1, False, 19.0),  # exactly at end: out
    _trackcode(1010, "2025-03-05T10:00:00", 101, 1, False, 20.0),  # after end
]

# Each trackcode's client, written out again for leak checks that must not trust the engine.
TRACKCODE_CLIENT = {
    1000: 101,
    1001: 101,
    1002: 102,
    1003: 101,
    1004: 101,
    1005: 103,
    1006: 102,
    1007: 101,
    1008: 102,
    1009: 101,
    1010: 101,
}


def _order(
    id_: int,
    route_id: int | None,
    trackcode_id: int,
    promise: str,
    start: str | None,
    end: str | None,
) -> dict[str, Any]:
    return {
        "id": id_,
        "route_id": route_id,
        "trackcode_id": trackcode_id,
        "promise_time": _t(promise),
        "start_time": _t(start) if start else None,
        "end_time": _t(end) if end else None,
    }


ORDERS = [
    #      id  route trackcode promise               start                 end
    _order(1, 501, 1000, "2025-03-01T12:00:00", "2025-03-01T08:00:00", "2025-03-01T10:00:00"),
    _order(2, 501, 1001, "2025-03-02T12:00:00", "2025-03-01T10:00:00", "2025-03-02T11:00:00"),
    _order(3, 502, 1001, "2025-03-02T12:00:00", "2025-03-01T11:00:00", "2025-03-02T13:00:00"),
    _order(4, None, 1002, "2025-03-02T12:00:00", None, None),
    _order(5, 503, 1003, "2025-03-03T12:00:00", "2025-03-02T09:00:00", None),
    _order(6, 501, 1004, "2025-03-03T12:00:00", None, None),
    _order(7, 502, 1005, "2025-03-03T12:00:00", "2025-03-02T10:00:00", "2025-03-03T12:00:00"),
    _order(8, 501, 1006, "2025-03-03T18:00:00", None, None),
    _order(9, 501, 1006, "2025-03-04T18:00:00", "2025-03-03T09:00:00", "2025-03-04T10:00:00"),
    _order(10, 502, 1008, "2025-03-04T12:00:00", None, None),
    _order(11, 501, 1009, "2025-03-05T12:00:00", "2025-03-04T08:00:00", "2025-03-04T09:00:00"),
    _order(12, 501, 1001, "2025-03-02T12:00:00", "2025-03-01T12:00:00", None),
]

ROWS_BY_TABLE: dict[str, list[dict[str, Any]]] = {
    "country": COUNTRIES,
    "city": CITIES,
    "client": CLIENTS,
    "service": SERVICES,
    "product_size": PRODUCT_SIZES,
    "route": ROUTES,
    "trackcode": TRACKCODES,
    "orders": ORDERS,
}


def build(path: str | Path, namespace: str = "lake") -> Path:
    """Write the lake's rows into a fresh Iceberg warehouse at `path`; answer the folder."""
    import pyarrow as pa

    from serving_layer import warehouse

    catalog = warehouse.open_catalog(path)
    tables = warehouse.create_tables(catalog, namespace, replace=True)
    for name, rows in ROWS_BY_TABLE.items():
        table = tables[name]
        table.append(pa.Table.from_pylist(rows, schema=table.schema().as_arrow()))
    return Path(path)


# ---------------------------------------------------------------------------------------------
# Expected answers over RANGE with every field, in each endpoint's column order.
# In range: trackcodes 1001..1008 (1000 is a second early, 1009 sits exactly on `end`).
# ---------------------------------------------------------------------------------------------

ALL_ORDERS_COLUMNS = [
    "trackcode_id",
    "creation",
    "crossdocking",
    "pickup_address",
    "drop_address",
    "product_description",
    "product_price",
    "product_weight",
    "service_name",
    "client_id",
    "business_name",
    "commercial_name",
    "city_name",
]


def _all_orders_row(
    id_: int, creation: str, crossdocking: bool, price: float, service: str | None, client: int
) -> list[Any]:
    business, commercial, city = {
        101: ("Andes Express SAS", "Andes Express", "Bogota"),
        102: ("Rio Cargo Ltda", "Rio Cargo", "Medellin"),
        103: ("Pacifico Envios SA", "Pacifico Envios", None),  # city 77 is unknown
    }[client]
    return [
        id_,
        creation,
        crossdocking,
        f"Pickup street {id_} #10-20",
        f"Drop avenue {id_} #30-40",
        f"parcel {id_}",
        price,
        1.25,
        service,
        client,
        business,
        commercial,
        city,
    ]


# Ordered by creation, then id (1004 before 1005 at the same instant).
ALL_ORDERS = [
    _all_orders_row(1001, "2025-03-01T00:00:00Z", False, 11.0, "standard", 101),
    _all_orders_row(1002, "2025-03-01T09:30:00Z", True, 12.0, "express", 102),
    _all_orders_row(1003, "2025-03-01T12:00:00Z", False, 13.0, None, 101),  # service 9 unknown
    _all_orders_row(1004, "2025-03-02T08:00:00Z", False, 14.0, "express", 101),
    _all_orders_row(1005, "2025-03-02T08:00:00Z", True, 15.0, "standard", 103),
    _all_orders_row(1006, "2025-03-02T17:45:00Z", False, 16.0, "standard", 102),
    _all_orders_row(1007, "2025-03-03T06:15:00Z", False, 17.0, "standard", 101),
    _all_orders_row(1008, "2025-03-03T23:59:59.500000Z", False, 18.0, "express", 102),
]


def _money_row(route: int, trackcode: int, creation: str, service: str | None) -> list[Any]:
    code, price, distance, city = {
        501: ("R-BOG-1", 10.0, 5.5, "Bogota"),  # official 10.0
        502: ("R-MED-1", 8.0, 3.0, "Medellin"),  # official null → original 8.0
        503: ("R-XXX-1", 7.0, 2.0, None),  # official 7.0; city 99 unknown
    }[route]
    return [
        route,
        code,
        trackcode,
        price,
        distance,
        f"Pickup street {trackcode} #10-20",
        f"Drop avenue {trackcode} #30-40",
        service,
        creation,
        city,
    ]


# Routed orders of in-range trackcodes, by creation, trackcode, route, order id:
# 1001: orders 2 (501), 12 (501), 3 (502); 1002: order 4 has no route (dropped);
# 1003: 5 (503); 1004: 6 (501); 1005: 7 (502); 1006: 8, 9 (501); 1007: none; 1008: 10 (502).
# 3 + 1 + 1 + 1 + 2 + 1 = 9 rows.
MONEY = [
    _money_row(501, 1001, "2025-03-01T00:00:00Z", "standard"),  # order 2
    _money_row(501, 1001, "2025-03-01T00:00:00Z", "standard"),  # order 12
    _money_row(502, 1001, "2025-03-01T00:00:00Z", "standard"),  # order 3
    _money_row(503, 1003, "2025-03-01T12:00:00Z", None),  # order 5
    _money_row(501, 1004, "2025-03-02T08:00:00Z", "express"),  # order 6
    _money_row(502, 1005, "2025-03-02T08:00:00Z", "standard"),  # order 7
    _money_row(501, 1006, "2025-03-02T17:45:00Z", "standard"),  # order 8
    _money_row(501, 1006, "2025-03-02T17:45:00Z", "standard"),  # order 9
    _money_row(502, 1008, "2025-03-03T23:59:59.500000Z", "express"),  # order 10
]

# (day, route city): distinct trackcodes with a routed order there.
# 03-01: 1001 → Bogota (orders 2 and 12: one visit), Medellin (order 3); 1003 → city 99.
# 03-02: 1004, 1006 → Bogota (2); 1005 → Medellin (1).   03-03: 1008 → Medellin (1).
# Ordered by day, visits desc, city name (null last), city id.
VISITS = [
    ["2025-03-01", 10, "Bogota", 1],
    ["2025-03-01", 20, "Medellin", 1],
    ["2025-03-01", 99, None, 1],
    ["2025-03-02", 10, "Bogota", 2],
    ["2025-03-02", 20, "Medellin", 1],
    ["2025-03-03", 20, "Medellin", 1],
]

# 03-01: 1001, 1002, 1003 = 3; 03-02: 1004, 1005, 1006 = 3; 03-03: 1007, 1008 = 2.
TRACKCODES_PER_DAY = [["2025-03-01", 3], ["2025-03-02", 3], ["2025-03-03", 2]]

# Orders of 1001..1008: 3 (1001) + 1 + 1 + 1 + 1 + 2 (1006) + 0 (1007) + 1 = 10.
ORDERS_COUNT = [[10]]

# With an order and none started: 1002 (order 4), 1004 (order 6), 1008 (order 10) = 3.
# Not lost: 1001, 1003, 1005 (started), 1006 (order 9 started), 1007 (no order).
LOST = [[3]]

# standard: 1001, 1005, 1006, 1007 = 4; express: 1002, 1004, 1008 = 3; service 9: 1003 = 1.
SERVICES_RANKED = [[1, "standard", 4], [2, "express", 3], [9, None, 1]]

# Orders 2, 3, 12, 4, 5, 6, 7, 8, 9, 10 = 10; delivered (end set): 2, 3, 7, 9 = 4;
# on time: 2 (11:00 <= 12:00), 7 (12:00 <= 12:00, equal counts), 9 (03-04 10:00 <= 18:00) = 3;
# order 3 ended 13:00 after its 12:00 promise.
DELIVERED = [[10, 4, 3]]

EXPECTED: dict[str, list[list[Any]]] = {
    "all_orders_by_range": ALL_ORDERS,
    "get_money_from_routes_by_range": MONEY,
    "most_visited_location_from_trackcode_by_range": VISITS,
    "count_trackcode_by_range": TRACKCODES_PER_DAY,
    "count_orders_by_range": ORDERS_COUNT,
    "count_trackcode_lost_by_range": LOST,
    "most_required_service_by_range": SERVICES_RANKED,
    "count_delivered_trackcode_before_promise_time_by_range": DELIVERED,
}

# Over RANGE for scope [101]: trackcodes 1001, 1003, 1004, 1007.
EXPECTED_SCOPE_101: dict[str, list[list[Any]]] = {
    "all_orders_by_range": [ALL_ORDERS[i] for i in (0, 2, 3, 6)],
    # 1001: orders 2, 12, 3; 1003: 5; 1004: 6.
    "get_money_from_routes_by_range": MONEY[:5],
    # 03-01: 1001 → Bogota, Medellin; 1003 → city 99. 03-02: 1004 → Bogota.
    "most_visited_location_from_trackcode_by_range": [
        ["2025-03-01", 10, "Bogota", 1],
        ["2025-03-01", 20, "Medellin", 1],
        ["2025-03-01", 99, None, 1],
        ["2025-03-02", 10, "Bogota", 1],
    ],
    # 03-01: 1001, 1003; 03-02: 1004; 03-03: 1007.
    "count_trackcode_by_range": [["2025-03-01", 2], ["2025-03-02", 1], ["2025-03-03", 1]],
    # 3 (1001) + 1 (1003) + 1 (1004) + 0 (1007) = 5.
    "count_orders_by_range": [[5]],
    # 1004 only.
    "count_trackcode_lost_by_range": [[1]],
    # standard: 1001, 1007 = 2; express: 1004 = 1; service 9: 1003 = 1 (tie: name, null last).
    "most_required_service_by_range": [[1, "standard", 2], [2, "express", 1], [9, None, 1]],
    # orders 2, 3, 12, 5, 6 = 5; delivered 2, 3 = 2; on time 2 = 1.
    "count_delivered_trackcode_before_promise_time_by_range": [[5, 2, 1]],
}

# Over RANGE for scope [102, 103]: trackcodes 1002, 1005, 1006, 1008.
EXPECTED_SCOPE_102_103: dict[str, list[list[Any]]] = {
    "all_orders_by_range": [ALL_ORDERS[i] for i in (1, 4, 5, 7)],
    # 1002: order 4 unrouted; 1005: 7; 1006: 8, 9; 1008: 10.
    "get_money_from_routes_by_range": MONEY[5:],
    # 03-02: 1006 → Bogota 1, 1005 → Medellin 1 (tie: by name); 03-03: 1008 → Medellin.
    "most_visited_location_from_trackcode_by_range": [
        ["2025-03-02", 10, "Bogota", 1],
        ["2025-03-02", 20, "Medellin", 1],
        ["2025-03-03", 20, "Medellin", 1],
    ],
    # 03-01: 1002; 03-02: 1005, 1006; 03-03: 1008.
    "count_trackcode_by_range": [["2025-03-01", 1], ["2025-03-02", 2], ["2025-03-03", 1]],
    # 1 + 1 + 2 + 1 = 5.
    "count_orders_by_range": [[5]],
    # 1002, 1008 = 2 (1005 and 1006 have started orders).
    "count_trackcode_lost_by_range": [[2]],
    # express: 1002, 1008 = 2; standard: 1005, 1006 = 2 (tie: by name).
    "most_required_service_by_range": [[2, "express", 2], [1, "standard", 2]],
    # orders 4, 7, 8, 9, 10 = 5; delivered 7, 9 = 2; on time 7, 9 = 2.
    "count_delivered_trackcode_before_promise_time_by_range": [[5, 2, 2]],
}

# Over EMPTY_RANGE: count endpoints answer one row of zeros, the others no rows.
EXPECTED_EMPTY: dict[str, list[list[Any]]] = {
    "all_orders_by_range": [],
    "get_money_from_routes_by_range": [],
    "most_visited_location_from_trackcode_by_range": [],
    "count_trackcode_by_range": [],
    "count_orders_by_range": [[0]],
    "count_trackcode_lost_by_range": [[0]],
    "most_required_service_by_range": [],
    "count_delivered_trackcode_before_promise_time_by_range": [[0, 0, 0]],
}
