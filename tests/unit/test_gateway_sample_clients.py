"""`make local`'s sample clients: fresh keys in the local store, printed once, ready to paste."""

from __future__ import annotations

import io

from local.sample_clients import curl_examples, print_keys, seed, variable_name
from serving_layer import keys
from serving_layer.stores import get_store


def test_seeding_stores_every_sample_client_with_a_key_that_works(tmp_path):
    issued = seed(str(tmp_path))

    store = get_store("local", data_dir=tmp_path)
    clients = {client for client, _ in issued}
    assert {"andes-express", "lake-operator"} <= clients
    for client, key in issued:
        record = store.get(keys.hash_key(key))
        assert record is not None and record.client == client


def test_seeding_again_re_keys_so_old_keys_stop_working(tmp_path):
    first = dict(seed(str(tmp_path)))
    second = dict(seed(str(tmp_path)))

    store = get_store("local", data_dir=tmp_path)
    assert first.keys() == second.keys()
    assert all(first[c] != second[c] for c in first)
    assert all(store.get(keys.hash_key(k)) is None for k in first.values())


def test_the_printout_exports_each_key_and_shows_calls_that_use_them():
    issued = [("andes-express", "sl_aaaaaaaa_one"), ("lake-operator", "sl_bbbbbbbb_two")]
    out = io.StringIO()

    print_keys(issued, "http://127.0.0.1:3000", out)

    text = out.getvalue()
    assert "  export KEY=sl_bbbbbbbb_two" in text
    assert "  export KEY_ANDES_EXPRESS=sl_aaaaaaaa_one\n" in text
    assert "  export KEY_LAKE_OPERATOR=sl_bbbbbbbb_two\n" in text
    assert 'curl -s -H "Authorization: Bearer $KEY" http://127.0.0.1:3000/v1/me' in text
    assert "http://127.0.0.1:3000/docs" in text


def test_shell_variable_names_are_upper_case_words():
    assert variable_name("andes-express") == "KEY_ANDES_EXPRESS"
    assert variable_name("Lake Operator 2") == "KEY_LAKE_OPERATOR_2"


def test_the_curl_examples_name_the_query_routes_with_a_range():
    lines = curl_examples("http://127.0.0.1:3000")

    assert len(lines) == 3
    assert lines[1].endswith(
        '"http://127.0.0.1:3000/v1/queries/count_trackcode_by_range'
        '?start=2025-03-01&end=2025-04-01"'
    )
