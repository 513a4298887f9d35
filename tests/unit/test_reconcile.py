"""The sorted-merge diff against a naive multiset difference."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from monitor.core.reconcile import diff_sorted, sort_by_key
from monitor.model import KeyStatus

statuses = st.sampled_from(["Pending", "Committed", "Failed", None])
entries = st.lists(st.tuples(st.integers(-(2**63), 2**63), statuses), max_size=60)


def _unique(pairs: list[tuple[int, str | None]]) -> list[KeyStatus]:
    return sort_by_key([KeyStatus(k, s) for k, s in dict(pairs).items()])


@given(entries, entries)
def test_diff_matches_a_naive_set_diff(
    sql_pairs: list[tuple[int, str | None]], dynamo_pairs: list[tuple[int, str | None]]
) -> None:
    sql, dynamo = _unique(sql_pairs), _unique(dynamo_pairs)
    diff = diff_sorted(sql, dynamo)
    sql_map = {e.key: e.status for e in sql}
    dynamo_map = {e.key: e.status for e in dynamo}
    assert {e.key for e in diff.missing_in_dynamodb} == sql_map.keys() - dynamo_map.keys()
    assert {e.key for e in diff.missing_in_sql} == dynamo_map.keys() - sql_map.keys()
    both = sql_map.keys() & dynamo_map.keys()
    assert diff.matched == len(both)
    assert {(a.key, a.status, b.status) for a, b in diff.status_divergent} == {
        (k, sql_map[k], dynamo_map[k]) for k in both if sql_map[k] != dynamo_map[k]
    }


@given(st.lists(st.integers(0, 20), max_size=40), st.lists(st.integers(0, 20), max_size=40))
def test_duplicated_keys_diff_as_multisets(sql_keys: list[int], dynamo_keys: list[int]) -> None:
    sql = sort_by_key([KeyStatus(k, "Committed") for k in sql_keys])
    dynamo = sort_by_key([KeyStatus(k, "Committed") for k in dynamo_keys])
    diff = diff_sorted(sql, dynamo)
    left, right = Counter(sql_keys), Counter(dynamo_keys)
    assert Counter(e.key for e in diff.missing_in_dynamodb) == left - right
    assert Counter(e.key for e in diff.missing_in_sql) == right - left
    assert diff.matched == sum((left & right).values())


def test_text_keys() -> None:
    diff = diff_sorted(
        sort_by_key([KeyStatus("a", "Committed"), KeyStatus("c", "Committed")]),
        sort_by_key([KeyStatus("b", "Committed"), KeyStatus("c", "Pending")]),
    )
    assert [e.key for e in diff.missing_in_dynamodb] == ["a"]
    assert [e.key for e in diff.missing_in_sql] == ["b"]
    assert [(a.key, b.status) for a, b in diff.status_divergent] == [("c", "Pending")]


@given(
    st.lists(st.one_of(st.integers(), st.text(max_size=4)), max_size=30),
    st.lists(st.one_of(st.integers(), st.text(max_size=4)), max_size=30),
)
def test_keys_of_both_types_never_stop_the_diff(
    sql_keys: list[int | str], dynamo_keys: list[int | str]
) -> None:
    # A corrupt item can carry a text key in a numeric table: it is a key like any other,
    # which no key of the other type matches.
    sql = sort_by_key([KeyStatus(k, None) for k in set(sql_keys)])
    dynamo = sort_by_key([KeyStatus(k, None) for k in set(dynamo_keys)])
    diff = diff_sorted(sql, dynamo)
    assert diff.matched == len(set(sql_keys) & set(dynamo_keys))
    assert {e.key for e in diff.missing_in_sql} == set(dynamo_keys) - set(sql_keys)
    assert {e.key for e in diff.missing_in_dynamodb} == set(sql_keys) - set(dynamo_keys)
