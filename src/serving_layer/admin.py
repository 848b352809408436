"""`serving-layer clients …`: the operator's commands for clients, their keys and policies.

    serving-layer clients create andes-express --policy samples/clients/andes-express.json
    serving-layer clients create acme --scope 14,15 --endpoint count_orders_by_range
    serving-layer clients grant acme --endpoint all_orders_by_range --fields trackcode_id,creation
    serving-layer clients grant acme --table-grant orders=read,insert --expires-at 2027-01-01
    serving-layer clients list | show acme | rotate acme | revoke acme
    serving-layer clients --store dynamodb --table serving-layer-clients list

A client is named by its key id or its name. `create` and `rotate` print the new API key once;
it is stored only as a hash, so no command can show it again. Every change is checked by the
policy parser before it is stored, so a typo is refused with the name it should have been.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from serving_layer import config, keys
from serving_layer.endpoints import ENDPOINTS
from serving_layer.errors import BadRequestError, ConflictError, NoSuchClientError, ServingError
from serving_layer.policy import Policy, Status
from serving_layer.stores import ClientRecord, PolicyStore, format_instant, get_store, utc_now

SAMPLE_CLIENTS = config.PROJECT_ROOT / "samples" / "clients"
KEY_ID_ATTEMPTS = 5

logger = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    """The `clients` subcommands. Store options are accepted before or after the action."""
    store_options = argparse.ArgumentParser(add_help=False)
    _add_store_options(store_options, argparse.SUPPRESS)
    _add_store_options(parser, None)

    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        return actions.add_parser(
            name, help=help_text, description=help_text, parents=[store_options]
        )

    create = action("create", "create a client and print its new API key (shown once)")
    create.add_argument("name", help="the client's name, such as andes-express")
    _add_policy_options(create)

    action("list", "list every client (never its key)")

    show = action("show", "show one client's policy and the routes it opens")
    show.add_argument("client", metavar="KEY_ID_OR_NAME")

    grant = action("grant", "change a client's policy from a file or from flags")
    grant.add_argument("client", metavar="KEY_ID_OR_NAME")
    _add_policy_options(grant)
    grant.add_argument("--remove-endpoint", action="append", default=[], metavar="ENDPOINT")
    grant.add_argument("--status", choices=("active", "suspended"), help="suspend or resume")

    for name, help_text in (
        ("revoke", "revoke a client's key for good (the record stays, marked revoked)"),
        ("rotate", "give a client a new API key (printed once); the old key stops working"),
    ):
        action(name, help_text).add_argument("client", metavar="KEY_ID_OR_NAME")

    delete = action("delete", "remove a client's record altogether")
    delete.add_argument("client", metavar="KEY_ID_OR_NAME")
    delete.add_argument("--yes", action="store_true", help="confirm the deletion")

    seed = action("seed", "create or re-key the sample clients and print their keys")
    seed.add_argument("--from", dest="sample_dir", type=Path, default=SAMPLE_CLIENTS)

    action("create-table", "create the DynamoDB clients table (DynamoDB store only)")


def run(args: argparse.Namespace) -> int:
    out = sys.stdout
    try:
        store = open_store(args)
        try:
            return _COMMANDS[args.action](store, args, out)
        finally:
            store.close()
    except ServingError as error:
        print(f"error: {error.detail}", file=sys.stderr)
        return 2 if error.status < 500 else 1
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def open_store(args: argparse.Namespace) -> PolicyStore:
    """The store named by `--store`, else `SERVING_POLICY_STORE`, else the local one."""
    name = getattr(args, "store", None) or os.environ.get(config.POLICY_STORE.name) or "local"
    if name == "dynamodb":
        return get_store("dynamodb", table_name=getattr(args, "table", None))
    return get_store(name, data_dir=getattr(args, "data_dir", None))


def seed_samples(store: PolicyStore, directory: Path = SAMPLE_CLIENTS) -> list[tuple[str, str]]:
    """Store every sample policy of `directory` with a fresh key; (client, key) for each.

    A sample client already in the store gets the sample's policy and a new key (its old key
    stops working), so the keys returned are always the ones that work.
    """
    issued = []
    for path in sorted(directory.glob("*.json")):
        policy = Policy.from_json(path.read_text(encoding="utf-8"))
        existing = store.find_by_client(policy.client)
        if existing:
            for extra in existing[1:]:
                store.delete(extra.key_hash)
            key, _ = _rotate(store, existing[0], policy)
        else:
            key, _ = _create(store, policy)
        issued.append((policy.client, key))
    return issued


def describe(record: ClientRecord) -> dict[str, Any]:
    """What an operator may see of a record: everything but the key and its hash."""
    usable, reason = record.policy.is_usable()
    return {
        "client": record.client,
        "key_id": record.key_id,
        "status": record.status.value,
        "usable": usable,
        "reason": reason,
        "expires_at": format_instant(record.expires_at) if record.expires_at else None,
        "created_at": format_instant(record.created_at),
        "rotated_at": format_instant(record.rotated_at) if record.rotated_at else None,
        "policy": record.policy.to_dict(),
        "routes": [f"{method} {path}" for method, path in record.policy.routes()],
    }


def _create_command(store: PolicyStore, args: argparse.Namespace, out: TextIO) -> int:
    if store.find_by_client(args.name):
        raise ConflictError(
            f"a client named {args.name!r} exists; change it with `grant`, re-key it with "
            "`rotate`, or pick another name"
        )
    if args.policy is None and args.scope is None:
        raise _usage("give the new client a policy: --policy FILE, or at least --scope")

    document = _base_document(args.policy, args.name)
    policy = Policy.from_dict(_apply_flags(document, args))
    key, record = _create(store, policy)
    _print_key(out, args, record, key, "created")
    return 0


def _list_command(store: PolicyStore, args: argparse.Namespace, out: TextIO) -> int:
    records = store.list()
    if args.json:
        json.dump([describe(r) for r in records], out, indent=2)
        out.write("\n")
        return 0

    rows = [("KEY ID", "CLIENT", "STATUS", "EXPIRES", "SCOPE", "ENDPOINTS", "TABLES")]
    for record in records:
        _, reason = record.policy.is_usable()
        scope = record.policy.scope.client_ids
        rows.append(
            (
                record.key_id,
                record.client,
                reason,
                format_instant(record.expires_at) if record.expires_at else "never",
                "all" if scope is None else ",".join(map(str, sorted(scope))),
                str(len(record.policy.endpoints)),
                ",".join(sorted(record.policy.tables)) or "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        out.write("  ".join(cells).rstrip() + "\n")
    return 0


def _show_command(store: PolicyStore, args: argparse.Namespace, out: TextIO) -> int:
    record = _find(store, args.client)
    body = describe(record)
    if args.json:
        json.dump(body, out, indent=2)
        out.write("\n")
        return 0

    for name in ("client", "key_id", "status", "reason", "expires_at", "created_at", "rotated_at"):
        out.write(f"{name + ':':12} {body[name] if body[name] is not None else '-'}\n")
    out.write("policy:\n")
    out.write(json.dumps(body["policy"], indent=2) + "\n")
    out.write("routes:\n")
    out.writelines(f"  {route}\n" for route in body["routes"])
    return 0


def _grant_command(store: PolicyStore, args: argparse.Namespace, out: TextIO) -> int:
    record = _find(store, args.client)
    if record.status is Status.REVOKED:
        raise ConflictError(f"client {record.client!r} is revoked; create a new client instead")

    if args.policy is not None:
        document = _base_document(args.policy, record.client)
    else:
        document = record.policy.to_dict()
    document = _apply_flags(document, args)
    for name in args.remove_endpoint:
        if document["endpoints"].pop(name, None) is None:
            raise _usage(f"{record.client!r} has no grant of {name!r} to remove")
    if args.status is not None:
        document["status"] = args.status
    if document.get("client") != record.client:
        raise _usage(f"the policy names client {document.get('client')!r}, not {record.client!r}")

    policy = Policy.from_dict(document)
    store.put(replace(record, policy=policy))
    logger.info("client policy changed key_id=%s client=%s", record.key_id, record.client)
    return _report(out, args, replace(record, policy=policy), "changed the policy of")


def _revoke_command(store: PolicyStore, args: argparse.Namespace, out: TextIO) -> int:
    record = _find(store, args.client)
    revoked = replace(record, policy=replace(record.policy, status=Status.REVOKED))
    store.put(revoked)
    logger.info("client revoked key_id=%s client=%s", record.key_id, record.client)
    _report(out, args, revoked, "revoked")
    if not args.json:
        out.write(_propagation_note("The key"))
    return 0


def _rotate_command(store: PolicyStore, args: argparse.Namespace, out: TextIO) -> int:
    record = _find(store, args.client)
    if record.status is Status.REVOKED:
        raise ConflictError(f"client {record.client!r} is revoked; create a new client instead")
    key, new_record = _rotate(store, record, record.policy)
    _print_key(out, args, new_record, key, f"rotated (old key id {record.key_id})")
    if not args.json:
        out.write(_propagation_note("The old key"))
    return 0


def _delete_command(store: PolicyStore, args: argparse.Namespace, out: TextIO) -> int:
    record = _find(store, args.client)
    if not args.yes:
        raise _usage(f"deleting {record.client!r} ({record.key_id}) cannot be undone; add --yes")
    store.delete(record.key_hash)
    logger.info("client deleted key_id=%s client=%s", record.key_id, record.client)
    return _report(out, args, record, "deleted")


def _seed_command(store: PolicyStore, args: argparse.Namespace, out: TextIO) -> int:
    issued = seed_samples(store, args.sample_dir)
    if args.json:
        json.dump([{"client": c, "api_key": k} for c, k in issued], out, indent=2)
        out.write("\n")
        return 0
    out.write("Sample clients and their API keys (shown once; seeding again re-keys them):\n\n")
    width = max(len(client) for client, _ in issued) if issued else 0
    out.writelines(f"  {client:{width}}  {key}\n" for client, key in issued)
    return 0


def _create_table_command(store: PolicyStore, args: argparse.Namespace, out: TextIO) -> int:
    if store.name != "dynamodb":
        raise _usage("create-table is for the DynamoDB store: add --store dynamodb")
    from serving_layer.stores.dynamodb import DynamoDBPolicyStore, create_table

    assert isinstance(store, DynamoDBPolicyStore)
    created = create_table(store.table_name, client=store.client)
    out.write(f"table {store.table_name} {'created' if created else 'already exists'}\n")
    return 0


_COMMANDS = {
    "create": _create_command,
    "list": _list_command,
    "show": _show_command,
    "grant": _grant_command,
    "revoke": _revoke_command,
    "rotate": _rotate_command,
    "delete": _delete_command,
    "seed": _seed_command,
    "create-table": _create_table_command,
}


def _create(store: PolicyStore, policy: Policy) -> tuple[str, ClientRecord]:
    issued = _unused_key(store)
    record = ClientRecord(issued.key_hash, issued.key_id, policy, created_at=utc_now())
    store.put(record)
    logger.info("client created key_id=%s client=%s", record.key_id, record.client)
    return issued.key, record


def _rotate(store: PolicyStore, old: ClientRecord, policy: Policy) -> tuple[str, ClientRecord]:
    issued = _unused_key(store)
    record = ClientRecord(
        issued.key_hash, issued.key_id, policy, created_at=old.created_at, rotated_at=utc_now()
    )
    store.replace(old.key_hash, record)
    logger.info(
        "client key rotated key_id=%s old_key_id=%s client=%s",
        record.key_id,
        old.key_id,
        record.client,
    )
    return issued.key, record


def _unused_key(store: PolicyStore) -> keys.IssuedKey:
    """A new key whose public id no other record uses (ids are 32 bits, so clashes are rare)."""
    for _ in range(KEY_ID_ATTEMPTS):
        issued = keys.new_key()
        if store.find_by_key_id(issued.key_id) is None:
            return issued
    raise ConflictError("could not find an unused key id; try again")


def _find(store: PolicyStore, key_id_or_name: str) -> ClientRecord:
    record = store.find(key_id_or_name)
    if record is not None:
        return record
    if len(store.find_by_client(key_id_or_name)) > 1:
        raise ConflictError(f"several keys belong to {key_id_or_name!r}; name one by its key id")
    raise NoSuchClientError(
        f"no client has the key id or name {key_id_or_name!r}; `serving-layer clients list` "
        "shows them"
    )


def _base_document(path: str | None, name: str) -> dict[str, Any]:
    """The policy document of `--policy FILE` (`-` for stdin), else an empty one for `name`."""
    if path is None:
        return {"client": name, "scope": None, "endpoints": {}, "tables": {}}
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    try:
        document = json.loads(text)
    except ValueError:
        raise _usage(f"{path} is not valid JSON") from None
    if not isinstance(document, dict):
        raise _usage(f"{path} must hold a JSON object, a policy")
    document.pop("key_id", None)  # a key id belongs to a key, not to a policy file
    if document.setdefault("client", name) != name:
        raise _usage(f"{path} is the policy of {document['client']!r}, not of {name!r}")
    return document


def _apply_flags(document: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Apply `--scope`, `--endpoint` (with its grant options), `--table-grant`, `--expires-at`.

    Options of an endpoint already granted change only what is given; a new endpoint starts
    from the defaults. The result is checked by `Policy.from_dict` afterwards.
    """
    if args.scope is not None:
        document["scope"] = _scope(args.scope)
    if args.expires_at is not None:
        document["expires_at"] = None if args.expires_at == "never" else args.expires_at

    endpoints = document.setdefault("endpoints", {})
    names = list(ENDPOINTS) if "all" in args.endpoint else args.endpoint
    grant_options = (args.fields, args.mask, args.max_range_days, args.max_rows)
    if not names and any(option not in (None, []) for option in grant_options):
        raise _usage("--fields, --mask, --max-range-days and --max-rows need an --endpoint")
    for name in names:
        endpoints[name] = _grant(dict(endpoints.get(name) or {}), args)

    tables = document.setdefault("tables", {})
    for text in args.table_grant:
        table, _, operations = text.partition("=")
        if not operations:
            tables.pop(table, None)
        else:
            tables[table] = [op.strip() for op in operations.split(",") if op.strip()]
    return document


def _grant(grant: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    if args.fields is not None:
        grant["fields"] = "all" if args.fields == "all" else _names(args.fields)
    masks = dict(grant.get("masks") or {})
    for text in args.mask:
        field_name, _, kind = text.partition("=")
        if kind == "none":
            masks.pop(field_name, None)
        else:
            masks[field_name] = kind
    grant["masks"] = masks
    if args.max_range_days is not None:
        grant["max_range_days"] = args.max_range_days
    if args.max_rows is not None:
        grant["max_rows"] = args.max_rows
    return grant


def _scope(text: str) -> Any:
    if text == "all":
        return "all"
    try:
        return [int(part) for part in _names(text)]
    except ValueError:
        raise _usage(f'--scope is "all" or client ids separated by commas; got {text!r}') from None


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _print_key(
    out: TextIO, args: argparse.Namespace, record: ClientRecord, key: str, what: str
) -> None:
    if args.json:
        json.dump({**describe(record), "api_key": key}, out, indent=2)
        out.write("\n")
        return
    out.write(f"{what} client {record.client} (key id {record.key_id})\n\n")
    out.write(f"  API key: {key}\n\n")
    out.write(
        "This is the only time the key is shown; only its hash is stored. Hand it to the client "
        "now,\nwho sends it as `Authorization: Bearer <key>`.\n"
    )


def _report(out: TextIO, args: argparse.Namespace, record: ClientRecord, what: str) -> int:
    if args.json:
        json.dump(describe(record), out, indent=2)
        out.write("\n")
    else:
        out.write(f"{what} client {record.client} (key id {record.key_id})\n")
    return 0


def _propagation_note(which: str) -> str:
    return (
        f"{which} may still be accepted for up to {config.AUTH_CACHE_SECONDS.get()} s (the "
        "authorizer's cache)\nplus the gateway's authorizer cache TTL.\n"
    )


def _usage(detail: str) -> ServingError:
    return BadRequestError(detail)


def _add_store_options(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument(
        "--store",
        choices=("local", "dynamodb"),
        default=default,
        help="where client records live (default: SERVING_POLICY_STORE if set, else local)",
    )
    parser.add_argument(
        "--table",
        default=default,
        help="DynamoDB table (default: SERVING_CLIENTS_TABLE); endpoint from AWS_ENDPOINT_URL",
    )
    parser.add_argument("--data-dir", default=default, help="local store folder (SERVING_DATA_DIR)")
    parser.add_argument(
        "--json",
        action="store_true",
        default=default if default is not None else False,
        help="print JSON",
    )


def _add_policy_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", metavar="FILE", help="a policy JSON file (- for stdin)")
    parser.add_argument("--scope", help='"all" or client ids: 14,15')
    parser.add_argument(
        "--endpoint",
        action="append",
        default=[],
        help="grant this endpoint (repeat; `all` for every one) with the options below",
    )
    parser.add_argument("--fields", help='granted fields of those endpoints: a,b,c or "all"')
    parser.add_argument(
        "--mask",
        action="append",
        default=[],
        metavar="FIELD=KIND",
        help="mask a field: redact, partial or hash (`none` removes the mask)",
    )
    parser.add_argument("--max-range-days", type=int)
    parser.add_argument("--max-rows", type=int)
    parser.add_argument(
        "--table-grant",
        action="append",
        default=[],
        metavar="TABLE=OPS",
        help="table operations: trackcode=read,insert,upsert,update,delete (`TABLE=` removes)",
    )
    parser.add_argument("--expires-at", help='ISO 8601 date-time in UTC, or "never"')
