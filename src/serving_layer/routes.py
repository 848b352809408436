"""Every HTTP route of the API and the function that serves it, listed once.

`template.yaml` declares the same routes for API Gateway, and a test holds the two equal; the
local gateway reads its routes from the template, so a route missing there is missing locally.
`authorized` is False only for the OpenAPI document, which describes the API and holds no data.
"""

from __future__ import annotations

from dataclasses import dataclass

QUERY_FUNCTION = "QueryFunction"
MANAGE_FUNCTION = "ManageFunction"


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str
    authorized: bool = True

    @property
    def key(self) -> str:
        """API Gateway's route key, such as `GET /v1/me`."""
        return f"{self.method} {self.path}"


ROUTES: tuple[Route, ...] = (
    Route("GET", "/v1/queries/{endpoint}", QUERY_FUNCTION),
    Route("GET", "/v1/me", QUERY_FUNCTION),
    Route("GET", "/v1/openapi.json", QUERY_FUNCTION, authorized=False),
    Route("POST", "/v1/tables/{table}/rows", MANAGE_FUNCTION),
    Route("PUT", "/v1/tables/{table}/rows", MANAGE_FUNCTION),
    Route("GET", "/v1/tables/{table}/rows/{id}", MANAGE_FUNCTION),
    Route("PATCH", "/v1/tables/{table}/rows/{id}", MANAGE_FUNCTION),
    Route("DELETE", "/v1/tables/{table}/rows/{id}", MANAGE_FUNCTION),
    Route("GET", "/v1/tables/{table}/snapshots", MANAGE_FUNCTION),
)
