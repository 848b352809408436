"""The small tables of the sample lake and the lookup arrays the large ones are drawn from.

Countries, cities, services and product sizes are the reference records as they are. Clients
and routes are generated from the reference data with their own random stream, so they depend
on the seed only, never on how many trackcodes are asked for.

Missing dimensions on purpose: about one route in two hundred names a city id that is not in
the city table (`MISSING_CITY_OFFSET` + the real id), so endpoints that join routes to cities
meet the null-name case the design asks them to keep.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from serving_layer import model
from serving_layer.sampling import arrays
from serving_layer.sampling.reference import Reference, point_coordinates

CLIENTS = 1_500
ROUTES = 4_000
MIN_ROUTES_PER_CITY = 20
MISSING_CITY_SHARE = 0.005
MISSING_CITY_OFFSET = 900
SERVICES_PER_CLIENT = (1, 2, 3, 4, 5, 6)
SERVICES_PER_CLIENT_WEIGHTS = (10, 25, 25, 18, 12, 10)


@dataclass(frozen=True)
class Places:
    """Cities by position (ids, centres, UTC offsets) and the streets their addresses use."""

    city_ids: np.ndarray
    city_names: list[str]
    city_country: np.ndarray
    city_lon: np.ndarray
    city_lat: np.ndarray
    city_utc_offset_hours: np.ndarray
    city_weights: np.ndarray
    city_usd_rate: np.ndarray
    country_grid_streets: np.ndarray
    streets: list[str]
    street_starts: np.ndarray
    street_sizes: np.ndarray

    def addresses(self, rng: np.random.Generator, city: np.ndarray) -> pa.Array:
        """A street address in each row's city, in the style of its country.

        Colombian cities number their streets on a grid ("Carrera 15 # 93-47"); the others
        name them ("Av. Corrientes 1834").
        """
        country = self.city_country[city]
        street = arrays.pick(
            self.streets, arrays.pick_in_groups(rng, self.street_starts, self.street_sizes, country)
        )
        first = arrays.digits(rng.integers(1, 180, city.size))
        cross = arrays.digits(rng.integers(1, 120, city.size))
        door = arrays.digits(rng.integers(1, 99, city.size))
        number = arrays.digits(rng.integers(100, 9_999, city.size))
        town = arrays.pick(self.city_names, city)

        grid = arrays.join(street, " ", first, " # ", cross, "-", door, ", ", town)
        named = arrays.join(street, " ", number, ", ", town)
        return pc.if_else(pa.array(self.country_grid_streets[country]), grid, named)

    def near(
        self, rng: np.random.Generator, city: np.ndarray, spread_degrees: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Longitudes and latitudes scattered around each row's city centre."""
        lon = self.city_lon[city] + rng.normal(0.0, spread_degrees, city.size)
        lat = self.city_lat[city] + rng.normal(0.0, spread_degrees, city.size)
        return lon, lat


@dataclass(frozen=True)
class Clients:
    """Clients by position: their city, shipping volume, pickup place and services."""

    ids: np.ndarray
    city: np.ndarray
    volume: np.ndarray
    address: pa.Array
    lon: np.ndarray
    lat: np.ndarray
    service_ids: np.ndarray
    service_starts: np.ndarray
    service_sizes: np.ndarray


@dataclass(frozen=True)
class Catalogue:
    """Services and parcel contents: promised hours by service id, products and their sizes."""

    sla_hours_by_service_id: np.ndarray
    product_descriptions: list[str]
    product_size_ids: np.ndarray
    product_usd_prices: np.ndarray
    min_kg_by_size_id: np.ndarray
    max_kg_by_size_id: np.ndarray


@dataclass(frozen=True)
class Dimensions:
    """The six small tables and what the trackcode and orders tables are drawn from."""

    tables: dict[str, pa.Table]
    places: Places
    clients: Clients
    catalogue: Catalogue
    route_ids: np.ndarray
    route_starts: np.ndarray
    route_sizes: np.ndarray


def build(ref: Reference, rng: np.random.Generator) -> Dimensions:
    """Every small table, generated from the reference data with `rng`."""
    places = _places(ref)
    catalogue = _catalogue(ref)
    tables = {
        "country": _reference_table("country", ref.countries),
        "city": _reference_table("city", ref.cities),
        "service": _reference_table("service", ref.services),
        "product_size": _reference_table("product_size", ref.product_sizes),
    }

    client_table, clients = _clients(ref, places, rng)
    route_table, route_city = _routes(ref, places, rng)
    route_starts, route_sizes = arrays.group_bounds(route_city, len(ref.cities))
    tables["client"] = client_table
    tables["route"] = route_table

    return Dimensions(
        tables=tables,
        places=places,
        clients=clients,
        catalogue=catalogue,
        route_ids=np.asarray(route_table.column("id").to_numpy(), dtype=np.int64),
        route_starts=route_starts,
        route_sizes=route_sizes,
    )


def _reference_table(name: str, records: list[dict[str, Any]]) -> pa.Table:
    """A table of reference records, keeping only the columns the model gives it."""
    names = model.table(name).column_names
    return arrays.table_of(name, {column: [r[column] for r in records] for column in names})


def _places(ref: Reference) -> Places:
    countries = ref.country_index()
    centres = np.array([point_coordinates(city["point"]) for city in ref.cities])

    streets: list[str] = []
    street_country: list[int] = []
    for position, country in enumerate(ref.countries):
        names = ref.vocabulary["streets"][country["code"]]
        streets.extend(names)
        street_country.extend([position] * len(names))
    street_starts, street_sizes = arrays.group_bounds(np.array(street_country), len(countries))

    city_country = np.array([countries[city["country_id"]] for city in ref.cities])
    rates = np.array([country["usd_rate"] for country in ref.countries], dtype=np.float64)
    return Places(
        city_ids=np.array([city["id"] for city in ref.cities], dtype=np.int32),
        city_names=[city["name"] for city in ref.cities],
        city_country=city_country,
        city_lon=centres[:, 0],
        city_lat=centres[:, 1],
        city_utc_offset_hours=np.array([c["utc_offset_hours"] for c in ref.cities], np.int64),
        city_weights=arrays.probabilities([city["weight"] for city in ref.cities]),
        city_usd_rate=rates[city_country],
        country_grid_streets=np.array([c["street_style"] == "grid" for c in ref.countries]),
        streets=streets,
        street_starts=street_starts,
        street_sizes=street_sizes,
    )


def _catalogue(ref: Reference) -> Catalogue:
    sla = np.zeros(max(s["id"] for s in ref.services) + 1, dtype=np.float64)
    for service in ref.services:
        sla[service["id"]] = service["sla_hours"]

    size_count = max(s["id"] for s in ref.product_sizes) + 1
    min_kg, max_kg = np.zeros(size_count), np.zeros(size_count)
    for size in ref.product_sizes:
        min_kg[size["id"]], max_kg[size["id"]] = size["min_kg"], size["max_kg"]

    products = ref.vocabulary["products"]
    return Catalogue(
        sla_hours_by_service_id=sla,
        product_descriptions=[p[0] for p in products],
        product_size_ids=np.array([p[1] for p in products], dtype=np.int64),
        product_usd_prices=np.array([p[2] for p in products], dtype=np.float64),
        min_kg_by_size_id=min_kg,
        max_kg_by_size_id=max_kg,
    )


def _clients(ref: Reference, places: Places, rng: np.random.Generator) -> tuple[pa.Table, Clients]:
    """About 1,500 shippers: a shop name, a legal name, an address, the services they buy."""
    words = ref.vocabulary
    city = rng.choice(len(ref.cities), size=CLIENTS, p=places.city_weights)
    country = places.city_country[city]

    # Distinct commercial names: a sample without replacement of the word combinations.
    prefixes, cores = words["commercial_prefixes"], words["commercial_cores"]
    suffixes = words["commercial_suffixes"]
    combos = rng.choice(len(prefixes) * len(cores) * len(suffixes), CLIENTS, replace=False)
    prefix, rest = np.divmod(combos, len(cores) * len(suffixes))
    core, suffix = np.divmod(rest, len(suffixes))
    commercial = [
        " ".join(w for w in (prefixes[p], cores[c], suffixes[s]) if w)
        for p, c, s in zip(prefix, core, suffix, strict=True)
    ]

    business = [
        _business_name(rng, words, cores[core[i]], ref.countries[country[i]]["legal_suffixes"])
        for i in range(CLIENTS)
    ]
    address = places.addresses(rng, city)
    lon, lat = places.near(rng, city, 0.03)

    # Services: each client buys a few, the popular ones more often.
    popularity = arrays.probabilities(1.0 / np.arange(1, len(ref.services) + 1) ** 0.9)
    service_order = rng.permutation(np.array([s["id"] for s in ref.services]))
    counts = rng.choice(
        SERVICES_PER_CLIENT, CLIENTS, p=arrays.probabilities(SERVICES_PER_CLIENT_WEIGHTS)
    )
    service_lists = [
        sorted(int(s) for s in service_order[rng.choice(service_order.size, n, False, popularity)])
        for n in counts
    ]
    flat_services = np.array([s for services in service_lists for s in services], np.int64)
    service_starts = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)

    # A few large shippers and a long tail of small ones, as in any parcel business.
    volume = arrays.probabilities(rng.lognormal(0.0, 1.3, CLIENTS))
    ids = np.arange(1, CLIENTS + 1, dtype=np.int64)
    keys = [f"ek_{rng.bytes(16).hex()}" for _ in range(CLIENTS)]

    table = arrays.table_of(
        "client",
        {
            "id": ids,
            "commercial_name": commercial,
            "business_name": business,
            "city_id": places.city_ids[city],
            "address": address,
            "service_ids": service_lists,
            "enterprise_key": keys,
        },
    )
    clients = Clients(
        ids=ids,
        city=city,
        volume=volume,
        address=address,
        lon=lon,
        lat=lat,
        service_ids=flat_services,
        service_starts=service_starts,
        service_sizes=counts.astype(np.int64),
    )
    return table, clients


def _business_name(
    rng: np.random.Generator, words: dict[str, Any], core: str, legal: list[str]
) -> str:
    """A legal name: a trade word, then family names or the shop's own word, then the form."""
    trade = words["business_prefixes"][rng.integers(len(words["business_prefixes"]))]
    surnames = words["surnames"]
    style = rng.integers(3)
    if style == 0:
        owners = surnames[rng.integers(len(surnames))]
    elif style == 1:
        first, second = rng.choice(len(surnames), 2, replace=False)
        owners = f"{surnames[first]} y {surnames[second]}"
    else:
        owners = core.removeprefix("del ").removeprefix("La ").removeprefix("El ")
    return f"{trade} {owners} {legal[rng.integers(len(legal))]}"


def _routes(
    ref: Reference, places: Places, rng: np.random.Generator
) -> tuple[pa.Table, np.ndarray]:
    """Courier routes per city in proportion to its weight, coded like "BOG-000123".

    Prices are in the country's currency and grow with the distance; `price_official` is
    missing on about a quarter of routes (the endpoint then falls back to `price_original`)
    and `price_incentive` exists on about a third.
    """
    per_city = np.maximum(
        MIN_ROUTES_PER_CITY, np.round(places.city_weights * ROUTES).astype(np.int64)
    )
    city = np.repeat(np.arange(len(ref.cities)), per_city)
    count = city.size
    sequence = np.concatenate([np.arange(1, n + 1) for n in per_city])
    codes = [f"{ref.cities[c]['code']}-{s:06d}" for c, s in zip(city, sequence, strict=True)]

    distance = np.round(np.clip(rng.gamma(2.0, 11.0, count), 1.5, 160.0), 1)
    rate = places.city_usd_rate[city]
    original = _local_money((4.0 + 0.85 * distance) * rng.lognormal(0.0, 0.15, count), rate)
    adjustment = rng.choice([1.0, 1.0, 0.95, 1.05, 1.1], count)
    official = _local_money(original / rate * adjustment, rate)
    incentive = _local_money(original / rate * rng.uniform(0.05, 0.2, count), rate)

    city_id = places.city_ids[city].astype(np.int64)
    unknown_city = rng.random(count) < MISSING_CITY_SHARE
    city_id = np.where(unknown_city, MISSING_CITY_OFFSET + city_id, city_id)

    table = arrays.table_of(
        "route",
        {
            "id": np.arange(1, count + 1),
            "code": codes,
            "price_official": arrays.doubles(official, rng.random(count) < 0.25),
            "price_original": arrays.doubles(original),
            "price_incentive": arrays.doubles(incentive, rng.random(count) >= 0.35),
            "distance": distance,
            "city_id": city_id,
        },
    )
    return table, city


def _local_money(usd: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """Dollar amounts in local currency, rounded as prices there are written.

    Currencies worth cents (MXN, PEN) keep two decimals; those counted in hundreds or
    thousands per dollar (COP, CLP, ARS) round to the nearest hundred.
    """
    local = usd * rate
    return np.where(rate < 100, np.round(local, 2), np.round(local / 100.0) * 100.0)
