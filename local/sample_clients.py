"""The sample clients of `make local`: fresh keys in the local store, printed once, ready to paste.

Every `make local` re-keys the sample clients (`serving_layer.admin.seed_samples`), so the keys
on the screen are the ones that work and no key outlives the run that showed it for long. The
printout is the only place a key appears: it goes to the terminal, never to a log.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TextIO

# The client whose key becomes `$KEY`: the sample policy that may call every endpoint.
MAIN_CLIENT = "lake-operator"
EXAMPLE_RANGE = "start=2025-03-01&end=2025-04-01"


def seed(data_dir: str | None = None) -> list[tuple[str, str]]:
    """Store the sample clients with fresh keys in the local store; (client, key) for each."""
    from serving_layer.admin import seed_samples
    from serving_layer.stores import get_store

    return seed_samples(get_store("local", data_dir=data_dir))


def variable_name(client: str) -> str:
    """The shell variable a client's key is exported as: `KEY_ANDES_EXPRESS`."""
    return "KEY_" + re.sub(r"[^A-Z0-9]+", "_", client.upper()).strip("_")


def curl_examples(base_url: str, variable: str = "KEY") -> list[str]:
    """Three calls that work as pasted once `$KEY` is exported: who am I, a count, a table."""
    auth = f'-H "Authorization: Bearer ${variable}"'
    return [
        f"curl -s {auth} {base_url}/v1/me",
        f'curl -s {auth} "{base_url}/v1/queries/count_trackcode_by_range?{EXAMPLE_RANGE}"',
        f'curl -s {auth} "{base_url}/v1/queries/most_required_service_by_range?{EXAMPLE_RANGE}"',
    ]


def print_keys(issued: Sequence[tuple[str, str]], base_url: str, out: TextIO) -> None:
    """The keys, as export lines, and the curl calls that use them."""
    main = next((key for client, key in issued if client == MAIN_CLIENT), None)
    out.write("\nSample clients, with fresh API keys (shown once; the next run re-keys them).\n")
    out.write("Paste these into the terminal you call the API from:\n\n")
    if main is not None:
        out.write(f"  export KEY={main}   # {MAIN_CLIENT}: every endpoint and table\n")
    for client, key in issued:
        out.write(f"  export {variable_name(client)}={key}\n")
    out.write("\nThen, for example:\n\n")
    for line in curl_examples(base_url):
        out.write(f"  {line}\n")
    out.write(f"\nAPI docs: {base_url}/docs    OpenAPI: {base_url}/v1/openapi.json\n\n")
