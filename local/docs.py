"""The emulator's API docs page: Swagger UI over the query function's OpenAPI document.

`/docs` is the emulator's own page, not a route of the API (the cloud stack has no such
route). Its script and style come from the installed PyPI package `openapi-ui-bundles` (Swagger
UI 5, which reads OpenAPI 3.1), served from the package's files under `/docs/assets/`, so the
page needs no network: nothing is fetched from a CDN. The page asks the running API for
`/v1/openapi.json`, the route the query function answers without a key, so what it shows is
always what the handlers serve.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from serving_layer.errors import NotFoundError, ServingError

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets/"
OPENAPI_PATH = "/v1/openapi.json"

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Serving Layer API (local)</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
"""

# Swagger UI's own settings: the document of this server, operations listed (not expanded),
# and "Try it out" sending to this same origin, so the key typed into "Authorize" is only ever
# sent to 127.0.0.1.
_INIT = """window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "OPENAPI_PATH",
    dom_id: "#swagger-ui",
    deepLinking: true,
    docExpansion: "list",
    defaultModelsExpandDepth: 0,
    persistAuthorization: false,
    layout: "BaseLayout"
  });
});
""".replace("OPENAPI_PATH", OPENAPI_PATH)

_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".png": "image/png"}


@dataclass(frozen=True)
class Page:
    """One answer of the docs page: status, content type and body."""

    status: int
    content_type: str
    body: bytes
    cache_seconds: int = 0


def is_docs_path(path: str) -> bool:
    return path == DOCS_PATH or path.startswith(DOCS_PATH + "/")


@cache
def assets_dir() -> Path | None:
    """The folder of Swagger UI's files inside the installed package, or None without it."""
    try:
        from openapi_ui_bundles import swagger_ui
    except ImportError:
        return None
    return Path(swagger_ui.static_path)


class DocsUnavailableError(ServingError):
    status = 503
    slug = "docs-unavailable"
    title = "The docs page is unavailable"


def answer(path: str) -> Page:
    """The docs page, its start script, or one asset file; a `ServingError` when none."""
    directory = assets_dir()
    if directory is None:
        raise DocsUnavailableError(
            "the docs page needs the local extras: pip install -e '.[local]' (or make venv)"
        )
    if path in (DOCS_PATH, DOCS_PATH + "/"):
        return Page(200, "text/html; charset=utf-8", _PAGE.encode())
    if path == DOCS_PATH + "/init.js":
        return Page(200, "text/javascript; charset=utf-8", _INIT.encode())
    if path.startswith(ASSETS_PATH):
        return _asset(directory, path[len(ASSETS_PATH) :])
    raise NotFoundError(f"no page at {path}; the docs are at {DOCS_PATH}")


def _asset(directory: Path, name: str) -> Page:
    # Only a plain file name of the package's own folder: nothing with a separator or dots
    # leading up, so no request can read outside it.
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise NotFoundError(f"no docs asset {name!r}")
    path = directory / name
    if not path.is_file():
        raise NotFoundError(f"no docs asset {name!r}")
    suffix = path.suffix.lower()
    content_type = _TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    return Page(200, content_type, path.read_bytes(), cache_seconds=3600)
