"""The emulator's /docs page: Swagger UI from the installed package, over the API's own document.

The browser test loads the page in headless Chromium (Debian's `chromium`) from a real server
on 127.0.0.1 and reads the rendered DOM, so it proves the assets load without any network and
that Swagger UI renders the query function's OpenAPI document. Without Chromium it is skipped.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from collections.abc import Iterator

import pytest
import requests

from design import ENDPOINT_NAMES
from local import docs
from local.gateway import Gateway
from local.server import LocalServer
from local.template import TEMPLATE_FILE, load_stack
from serving_layer.errors import NotFoundError

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# The eight query endpoints, as the design names them.
ENDPOINTS = list(ENDPOINT_NAMES)


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    """The gateway of the real template, serving in this process (only the open routes and
    the docs page are called, so no lake, store or key is needed)."""
    gateway = Gateway(load_stack(TEMPLATE_FILE))
    running = LocalServer(("127.0.0.1", 0), gateway)
    thread = threading.Thread(target=running.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    yield running
    running.stop()
    thread.join()


def test_the_page_uses_only_its_own_assets():
    page = docs.answer("/docs").body.decode()

    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and all(s.startswith("/docs/") for s in sources)
    assert "http://" not in page and "https://" not in page


def test_every_asset_the_page_names_is_served(server):
    page = requests.get(f"{server.url}/docs", timeout=30)
    script = requests.get(f"{server.url}/docs/init.js", timeout=30)

    for source in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        assert requests.get(f"{server.url}{source}", timeout=30).status_code == 200, source
    assert '"/v1/openapi.json"' in script.text


@pytest.mark.parametrize("name", ["../__init__.py", "..%2F__init__.py", ".hidden", "", "nope.js"])
def test_an_asset_outside_the_packages_folder_is_not_found(name):
    with pytest.raises(NotFoundError):
        docs.answer(f"/docs/assets/{name}")


def test_a_missing_asset_is_a_problem_over_http(server):
    response = requests.get(f"{server.url}/docs/assets/nope.js", timeout=30)

    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="needs headless Chromium (apt-get install chromium)")
def test_the_page_renders_the_eight_endpoints_in_a_browser(server, tmp_path):
    # GIVEN the docs page of a running server
    url = f"{server.url}/docs"

    # WHEN headless Chromium loads it and runs its scripts
    assert CHROMIUM is not None
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )

    # THEN the rendered DOM lists every query endpoint's path
    dom = result.stdout
    assert "swagger-ui" in dom, result.stderr[-2000:]
    missing = [name for name in ENDPOINTS if f"/v1/queries/{name}" not in dom]
    assert missing == []
