"""The map diff against a naive difference, and a slice's repeated items as a multiset."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from monitor.core.reconcile import diff_maps
from monitor.stores.ports import SliceRead

statuses = st.sampled_from(["Pending", "Committed", "Failed", None])
keys = st.one_of(st.integers(-(2**63), 2**63), st.text(max_size=4))
maps = st.dictionaries(keys, statuses, max_size=60)


@given(maps, maps)
def test_diff_matches_a_naive_diff(
    sql: dict[int | str, str | None], dynamo: dict[int | str, str | None]
) -> None:
    diff = diff_maps(sql, dynamo)
    assert {(e.key, e.status) for e in diff.missing_in_dynamodb} == {
        (k, sql[k]) for k in sql.keys() - dynamo.keys()
    }
    assert {(e.key, e.status) for e in diff.missing_in_sql} == {
        (k, dynamo[k]) for k in dynamo.keys() - sql.keys()
    }
    both = sql.keys() & dynamo.keys()
    assert diff.matched == len(both)
    assert sorted(
        ((a.key, a.status, b.status) for a, b in diff.status_divergent), key=repr
    ) == sorted(((k, sql[k], dynamo[k]) for k in both if sql[k] != dynamo[k]), key=repr)
    # Each key once: a finding is never named twice.
    named = [e.key for e in diff.missing_in_dynamodb + diff.missing_in_sql]
    named += [a.key for a, _ in diff.status_divergent]
    assert len(named) == len(set(named))


def test_keys_of_both_types_never_match() -> None:
    # A corrupt item can carry a text key in a numeric table: no key of the other type matches.
    diff = diff_maps({1: "Committed", "a": None}, {"1": "Committed", "a": "Pending"})
    assert [e.key for e in diff.missing_in_dynamodb] == [1]
    assert [e.key for e in diff.missing_in_sql] == ["1"]
    assert [(a.key, b.status) for a, b in diff.status_divergent] == [("a", "Pending")]


@given(st.lists(st.integers(0, 20), max_size=40), st.lists(st.integers(0, 20), max_size=40))
def test_repeated_items_diff_as_a_multiset(sql_keys: list[int], dynamo_keys: list[int]) -> None:
    read = SliceRead()
    for index, key in enumerate(dynamo_keys):
        read.add_plain(key, "Committed", f"sk{index}")
    sql = {k: "Committed" for k in sql_keys}
    diff = diff_maps(sql, read.statuses)
    missing_in_sql = Counter(e.key for e in diff.missing_in_sql)
    missing_in_sql.update(entry.key for entry, _ in read.duplicates)
    left, right = Counter(set(sql_keys)), Counter(dynamo_keys)
    assert Counter(e.key for e in diff.missing_in_dynamodb) == left - right
    assert missing_in_sql == right - left
    assert diff.matched == sum((left & right).values())
    assert read.readable == len(dynamo_keys)
    # A repeat keeps its own sort key; the map keeps the first item's.
    assert all(read.sort_keys[k] == f"sk{dynamo_keys.index(k)}" for k in read.statuses)
