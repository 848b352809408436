"""The eight query endpoints, each declared once: fields with their SQL, joins, grouping, order.

The SQL compiler, the OpenAPI document, policy validation and the template's routes all read
these specs. Every SQL fragment here is fixed text written by us; request values only ever reach
a query as bound parameters (see `compiler.py`). The fragments use only syntax that DuckDB and
Trino (Athena engine v3) read alike, which the test suite checks against Trino's grammar.

Table aliases: `t` trackcode, `o` orders, `r` route, `s` service, `c` client, `ci` city.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from serving_layer.errors import UnknownEndpointError, UnknownFieldError


class Shape(Enum):
    """How many rows an endpoint answers."""

    ROWS = "rows"  # one row per fact, paged
    GROUPED = "grouped"  # one row per group; no rows when nothing matched
    SINGLE = "single"  # exactly one row of counts, zeros when nothing matched


@dataclass(frozen=True)
class Field:
    """One output column: its name, SQL expression and result type (Trino's type names)."""

    name: str
    sql: str
    type: str
    doc: str = ""


@dataclass(frozen=True)
class EndpointSpec:
    """One named analytical query over the trackcodes created in a date range."""

    name: str
    summary: str
    shape: Shape
    fields: tuple[Field, ...]
    source: str  # FROM … JOINs, always starting from the trackcode table as `t`
    order_by: tuple[str, ...] = ()
    group_by: tuple[str, ...] = ()
    where: tuple[str, ...] = ()  # fixed conditions beyond range and scope

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        known = ", ".join(self.field_names)
        raise UnknownFieldError(
            f"unknown field {name!r} for endpoint {self.name!r}; the fields are: {known}",
            field=name,
        )


_DAY = "CAST(t.creation AS DATE)"
# NOTE: every endpoint that joins orders reads the whole orders table: it has no column that
# follows the trackcode's day, so no range prunes it (0.05-0.3 s per query at 1.2M orders on
# DuckDB, which may even build its hash table on orders). A day partition on orders would need
# the trackcode's creation copied into it; the data model does not have it yet.
_ORDER_ROUTE = (
    "trackcode t JOIN orders o ON o.trackcode_id = t.id LEFT JOIN route r ON r.id = o.route_id"
)

ENDPOINTS: dict[str, EndpointSpec] = {
    spec.name: spec
    for spec in (
        EndpointSpec(
            name="all_orders_by_range",
            summary="Every trackcode created in the range, with its service, client and city.",
            shape=Shape.ROWS,
            fields=(
                Field("trackcode_id", "t.id", "bigint"),
                Field("creation", "t.creation", "timestamp", "UTC"),
                Field("crossdocking", "t.crossdocking", "boolean"),
                Field("pickup_address", "t.pickup_address", "varchar"),
                Field("drop_address", "t.drop_address", "varchar"),
                Field("product_description", "t.product_description", "varchar"),
                Field("product_price", "t.product_price", "double"),
                Field("product_weight", "t.product_weight", "double"),
                Field("service_name", "s.name", "varchar"),
                Field("client_id", "t.client_id", "integer"),
                Field("business_name", "c.business_name", "varchar"),
                Field("commercial_name", "c.commercial_name", "varchar"),
                Field("city_name", "ci.name", "varchar", "the client's city"),
            ),
            source=(
                "trackcode t LEFT JOIN service s ON s.id = t.service_id"
                " LEFT JOIN client c ON c.id = t.client_id"
                " LEFT JOIN city ci ON ci.id = c.city_id"
            ),
            order_by=("t.creation", "t.id"),
        ),
        EndpointSpec(
            name="get_money_from_routes_by_range",
            summary="Every routed order of a trackcode created in the range, with its price.",
            shape=Shape.ROWS,
            fields=(
                Field("route_id", "o.route_id", "integer"),
                Field("route_code", "r.code", "varchar"),
                Field("trackcode_id", "t.id", "bigint"),
                Field(
                    "price",
                    "COALESCE(r.price_official, r.price_original)",
                    "double",
                    "price_official, else price_original",
                ),
                Field("distance", "r.distance", "double"),
                Field("pickup_address", "t.pickup_address", "varchar"),
                Field("drop_address", "t.drop_address", "varchar"),
                Field("service_name", "s.name", "varchar"),
                Field("creation", "t.creation", "timestamp", "UTC"),
                Field("city_name", "ci.name", "varchar", "the route's city"),
            ),
            source=(
                _ORDER_ROUTE + " LEFT JOIN service s ON s.id = t.service_id"
                " LEFT JOIN city ci ON ci.id = r.city_id"
            ),
            where=("o.route_id IS NOT NULL",),
            order_by=("t.creation", "t.id", "o.route_id", "o.id"),
        ),
        EndpointSpec(
            name="most_visited_location_from_trackcode_by_range",
            summary="Per day and route city, the trackcodes with an order on a route there.",
            shape=Shape.GROUPED,
            fields=(
                Field("date", _DAY, "date", "UTC day of creation"),
                Field("city_id", "r.city_id", "integer"),
                Field("city_name", "ci.name", "varchar"),
                Field("visits", "count(DISTINCT t.id)", "bigint"),
            ),
            source=_ORDER_ROUTE + " LEFT JOIN city ci ON ci.id = r.city_id",
            where=("o.route_id IS NOT NULL",),
            group_by=(_DAY, "r.city_id", "ci.name"),
            order_by=(_DAY, "count(DISTINCT t.id) DESC", "ci.name", "r.city_id"),
        ),
        EndpointSpec(
            name="count_trackcode_by_range",
            summary="Per day, the number of trackcodes created.",
            shape=Shape.GROUPED,
            fields=(
                Field("date", _DAY, "date", "UTC day of creation"),
                Field("trackcodes", "count(*)", "bigint"),
            ),
            source="trackcode t",
            group_by=(_DAY,),
            order_by=(_DAY,),
        ),
        EndpointSpec(
            name="count_orders_by_range",
            summary="The number of orders of the trackcodes created in the range.",
            shape=Shape.SINGLE,
            fields=(Field("orders", "count(o.id)", "bigint"),),
            source="trackcode t JOIN orders o ON o.trackcode_id = t.id",
        ),
        EndpointSpec(
            name="count_trackcode_lost_by_range",
            summary="Trackcodes with at least one order and no order ever started.",
            shape=Shape.SINGLE,
            fields=(
                Field(
                    "lost",
                    # Trackcodes with an order, less those with a started order.
                    "count(DISTINCT t.id)"
                    " - count(DISTINCT CASE WHEN o.start_time IS NOT NULL THEN t.id END)",
                    "bigint",
                ),
            ),
            source="trackcode t JOIN orders o ON o.trackcode_id = t.id",
        ),
        EndpointSpec(
            name="most_required_service_by_range",
            summary="Per service, the number of trackcodes created in the range.",
            shape=Shape.GROUPED,
            fields=(
                Field("service_id", "t.service_id", "integer"),
                Field("service_name", "s.name", "varchar"),
                Field("trackcodes", "count(*)", "bigint"),
            ),
            source="trackcode t LEFT JOIN service s ON s.id = t.service_id",
            group_by=("t.service_id", "s.name"),
            order_by=("count(*) DESC", "s.name", "t.service_id"),
        ),
        EndpointSpec(
            name="count_delivered_trackcode_before_promise_time_by_range",
            summary="Orders of the range's trackcodes, delivered, and delivered by the promise.",
            shape=Shape.SINGLE,
            fields=(
                Field("orders", "count(o.id)", "bigint"),
                Field("delivered", "count(o.end_time)", "bigint"),
                Field(
                    "delivered_on_time",
                    "count(CASE WHEN o.end_time <= o.promise_time THEN 1 END)",
                    "bigint",
                ),
            ),
            source="trackcode t JOIN orders o ON o.trackcode_id = t.id",
        ),
    )
}


def endpoint(name: str) -> EndpointSpec:
    """The endpoint called `name`, or an error that lists the endpoints that exist."""
    try:
        return ENDPOINTS[name]
    except KeyError:
        known = ", ".join(ENDPOINTS)
        raise UnknownEndpointError(
            f"unknown endpoint {name!r}; the endpoints are: {known}", endpoint=name
        ) from None
