"""The one DynamoDB wire decoder: exact, lossless both ways, and never raising on a bad value."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from monitor.config import settings_from_dict
from monitor.core.item import Attribute, AttributeType, item_key_label
from monitor.core.mapping import KeyKind
from monitor.stores.ports import SliceRead
from monitor.stores.wire import (
    decode_attribute,
    decode_general,
    decode_item,
    encode_attribute,
    encode_item,
    plain_key_statuses,
)

_MAPPING = settings_from_dict({}).table_mapping()

_text = st.text(max_size=20)
_numbers = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40),
    st.decimals(allow_nan=False, allow_infinity=False, places=6).filter(
        lambda d: d != d.to_integral_value()
    ),
)
_scalars = st.one_of(
    _text.map(Attribute.string),
    _numbers.map(Attribute.number),
    st.binary(max_size=8).map(lambda b: Attribute(AttributeType.B, b)),
    st.booleans().map(lambda b: Attribute(AttributeType.BOOL, b)),
    st.just(Attribute(AttributeType.NULL)),
    st.frozensets(_text, min_size=1, max_size=3).map(lambda s: Attribute(AttributeType.SS, s)),
    st.frozensets(st.integers(), min_size=1, max_size=3).map(
        lambda s: Attribute(AttributeType.NS, s)
    ),
)
_attributes = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.dictionaries(_text, inner, max_size=3).map(lambda m: Attribute(AttributeType.M, m)),
        st.lists(inner, max_size=3).map(lambda v: Attribute(AttributeType.L, tuple(v))),
    ),
    max_leaves=8,
)


@given(st.dictionaries(_text, _attributes, max_size=5))
def test_an_item_survives_encoding_and_decoding(item: dict[str, Attribute]) -> None:
    assert decode_item(encode_item(item)) == item


@given(st.recursive(st.one_of(st.none(), st.integers(), _text, st.binary()), st.lists))
def test_decoding_never_raises(anything: Any) -> None:
    decode_attribute(anything)
    decode_attribute({"S": anything})
    decode_attribute({"M": {"a": anything}})


def test_numbers_are_exact() -> None:
    big = 2**53 + 1
    assert decode_attribute({"N": str(big)}) == Attribute.number(big)
    assert decode_attribute({"N": "1e2"}).value == 100
    assert decode_attribute({"N": "-0.50"}).value == Decimal("-0.50")
    for bad in ("abc", "NaN", "Infinity", "", 5):
        assert decode_attribute({"N": bad}).type is None


def test_malformed_values_have_no_type() -> None:
    for bad in ({"X": 1}, {"S": 1}, {"S": "a", "N": "1"}, "x", None, {"BOOL": "yes"}, {"L": "x"}):
        assert decode_attribute(bad).type is None
    nested = decode_attribute({"M": {"a": {"Q": 1}}})
    assert nested.type is AttributeType.M and nested.value["a"].type is None


def test_a_bad_key_is_named_by_its_type_never_its_content() -> None:
    secret = {"M": {"x": {"S": "card 4111 1111 1111 1111"}}}
    assert item_key_label(decode_attribute(secret)) == "<M key>"
    assert item_key_label(None) == "<no key>"
    assert item_key_label(decode_attribute({"N": "x"})) == "<malformed key>"
    # A number or text key is a key, not a value: shown as stored, text cut to 64 characters.
    assert item_key_label(decode_attribute({"N": "1.5"})) == "1.5"
    assert item_key_label(decode_attribute({"S": "k" * 100})) == "k" * 64


def test_sets_encode_in_a_stable_order() -> None:
    encoded = encode_attribute(Attribute(AttributeType.NS, frozenset({3, 1, 2})))
    assert encoded == {"NS": ["1", "2", "3"]}


_tags = st.sampled_from(["S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS", "X"])
_payloads = st.one_of(
    st.none(), st.booleans(), st.integers(), _text, st.binary(), st.lists(_text, max_size=3)
)


@given(st.one_of(st.dictionaries(_tags, _payloads, max_size=2), _payloads))
def test_the_fast_path_decodes_exactly_as_the_general_one(wire: Any) -> None:
    assert decode_attribute(wire) == decode_general(wire)


@given(st.one_of(_text, st.integers().map(str), st.decimals(allow_nan=False).map(str)))
def test_strings_and_numbers_take_the_fast_path_to_the_same_value(text: str) -> None:
    for wire in ({"S": text}, {"N": text}):
        assert decode_attribute(wire) == decode_general(wire)


# --- the narrow read's fast path ------------------------------------------------------------

_tag_values = st.one_of(
    st.text(max_size=6),
    st.from_regex(r"-?[0-9]{1,22}(\.[0-9]{1,3})?", fullmatch=True),
    st.integers(),
    st.none(),
)
_wire_attributes = st.one_of(
    st.none(),  # absent
    st.builds(
        lambda tag, value: {tag: value}, st.sampled_from(["S", "N", "B", "BOOL"]), _tag_values
    ),
    st.just({"S": "a", "N": "1"}),
    st.just({}),
    st.text(max_size=3),
)


@given(
    st.sampled_from([KeyKind.NUMBER, KeyKind.TEXT, None]),
    st.lists(st.tuples(_wire_attributes, _wire_attributes, _wire_attributes), max_size=8),
)
def test_the_fast_path_reads_a_slice_as_the_general_path_does(
    kind: KeyKind | None, triples: list[tuple[Any, Any, Any]]
) -> None:
    mapping = replace(_MAPPING, key_kind=kind)
    wires = [
        {
            name: value
            for name, value in (
                (mapping.key_attribute, key),
                (mapping.status_attribute, status),
                (mapping.sort_key, sk),
            )
            if value is not None
        }
        for key, status, sk in triples
    ]
    general = SliceRead()
    for wire in wires:
        general.add(mapping, decode_item(wire))
    # The adapter's order: the plain items of a page first, then the rest.
    plain, rest = plain_key_statuses(wires, mapping)
    fast = SliceRead()
    fast.add_plain_items(plain)
    for wire in rest:
        fast.add(mapping, decode_item(wire))
    # Which item of a repeated key comes first may differ (plain ones are taken first); the
    # multiset of what was read may not.
    assert _everything(fast) == _everything(general)
    assert fast.statuses.keys() == general.statuses.keys()
    assert sorted(fast.invalid, key=repr) == sorted(general.invalid, key=repr)


def _everything(read: SliceRead) -> list[tuple[Any, Any, str]]:
    pairs = [(k, s, read.sort_keys[k]) for k, s in read.statuses.items()]
    pairs += [(e.key, e.status, sk) for e, sk in read.duplicates]
    return sorted(pairs, key=repr)


def test_an_export_items_attributes_decode_from_their_json_text() -> None:
    from monitor.stores.export_items import decode_json_attributes

    item = decode_json_attributes(
        {
            "LogId": '{"N": "5.002E3"}',
            "WriteStatus": '{"S": "Pending"}',
            "Gone": None,
            "Nil": "null",
        }
    )
    assert item == {"LogId": Attribute.number(5002), "WriteStatus": Attribute.string("Pending")}
    assert decode_json_attributes({"LogId": '{"Q": 1}'})["LogId"].type is None
