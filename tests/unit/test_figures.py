"""Typed figures <-> the JSON `summary` (monitor/core/figures.py): one serialiser, one parser,
the keys and values of CONTRACT §4 in their order, and an exact round trip for every report."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.checks.counts import CountsFigures
from monitor.checks.orphans import OrphansFigures
from monitor.checks.quality import QualityFigures
from monitor.checks.registry import CHECKS, OTHER_REPORTS, RULE_FIGURES
from monitor.checks.sampling import SampleFigures
from monitor.checks.slices import TallyFigures
from monitor.core.figures import Figures
from monitor.core.stats import Interval
from monitor.stream.report import StreamFigures
from monitor.verify.report import Coverage, VerifyFigures
from tests.figures import NEUTRAL

EVERY = (
    CountsFigures,
    OrphansFigures,
    SampleFigures,
    QualityFigures,
    StreamFigures,
    VerifyFigures,
)

_names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_floats = st.floats(allow_nan=False, allow_infinity=False)


def _strategy(hint: Any) -> st.SearchStrategy[Any]:
    """Values of a figure's declared type, as a check could produce them."""
    origin = typing.get_origin(hint)
    if origin is types.UnionType or origin is typing.Union:
        return st.one_of(*(_strategy(option) for option in typing.get_args(hint)))
    if hint is type(None):
        return st.none()
    if hint is Interval:
        return st.builds(Interval, _floats, _floats, _floats)
    if isinstance(hint, type) and issubclass(hint, Figures):
        return figures_of(hint)
    if origin is not None and issubclass(origin, Mapping):
        return st.dictionaries(_names, _strategy(typing.get_args(hint)[1]), max_size=4)
    if origin is tuple:
        return st.lists(_strategy(typing.get_args(hint)[0]), max_size=4).map(tuple)
    if hint is Any:  # details one path adds: JSON values under keys no figure has
        return st.just({})
    return {int: st.integers(), float: _floats, str: _names, bool: st.booleans()}[hint]


def figures_of(cls: type[Figures]) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls)
    return st.builds(
        cls,
        **{f.name: _strategy(hints[f.name]) for f in dataclasses.fields(cls)},  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("cls", EVERY, ids=lambda c: c.__name__)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_figures_survive_the_summary_and_json_exactly(cls: type[Figures], data: Any) -> None:
    figures = data.draw(figures_of(cls))
    summary = figures.to_summary()
    assert cls.from_summary(json.loads(json.dumps(summary))) == figures
    # And the summary of what was read back is the same text, key for key, in order.
    assert json.dumps(cls.from_summary(summary).to_summary()) == json.dumps(summary)


def test_the_counts_summary_keeps_its_keys_and_order() -> None:
    figures = NEUTRAL["counts"]
    assert list(figures.to_summary()) == [
        "sql_count",
        "dynamodb_count",
        "variance_percent",
        "missing_in_dynamodb",
        "missing_in_sql",
        "status_divergence",
        "invalid_data",
        "agreed_absent",
        "consistency",
        "threshold_percent",
        "slices",
        "partitions",
        "read_units",
        "discovery_last_run",
        "discovery_progress",
        "discovery_coverage",
    ]


#: The summary keys each report wrote, in order, before its figures were typed (CONTRACT §4).
SUMMARY_KEYS = {
    "orphans": [
        "records",
        "sql_pending",
        "dynamodb_pending",
        "missing_in_dynamodb",
        "missing_in_sql",
        "status_divergence",
        "stuck_pending",
        "invalid_data",
        "orphans",
        "orphan_ratio",
        "write_success",
        "transaction_completion",
        "pending_source",
        "read_units",
    ],
    "sample": [
        "sampled",
        "window_records",
        "accuracy",
        "bad_records",
        "missing_in_dynamodb",
        "invalid_records",
        "agreed_absent",
        "mismatches_by_field",
        "samples_needed",
        "target_percent",
        "alert_below_percent",
        "sampling",
        "keep_probability",
        "read_units",
    ],
    "quality": [
        "sampled",
        "window_records",
        "grade",
        "min_grade",
        "clean_records",
        "records_with_findings",
        "clean_share",
        "invalid_data",
        "index_integrity",
        "rule_violation",
        "violations_by_rule",
        "findings_by_attribute",
        "missing_in_dynamodb",
        "agreed_absent",
        "rules_checked",
        "indexes_checked",
        "sampling",
        "read_units",
    ],
    "stream": [
        "records_checked",
        "verified",
        "verified_by_direction",
        "records_with_findings",
        "accuracy",
        "findings_by_kind",
        "lag_s",
    ],
}


@pytest.mark.parametrize("check", sorted(SUMMARY_KEYS))
def test_each_summary_keeps_its_keys_and_order(check: str) -> None:
    assert list(NEUTRAL[check].to_summary()) == SUMMARY_KEYS[check]


def test_a_sampled_ratio_is_an_object_and_a_tuple_a_list() -> None:
    quality = dataclasses.replace(
        NEUTRAL["quality"],  # type: ignore[type-var]
        clean_share=Interval(0.9, 0.8, 0.95),
        indexes_checked=("StatusIndex",),
    )
    summary = quality.to_summary()
    assert summary["clean_share"] == {"point": 0.9, "lower": 0.8, "upper": 0.95}
    assert summary["indexes_checked"] == ["StatusIndex"]
    assert list(summary)[7:10] == ["invalid_data", "index_integrity", "rule_violation"]


def test_verify_adds_what_its_path_knows_beside_the_counts_figures() -> None:
    tally = NEUTRAL["counts"].tally  # type: ignore[attr-defined]
    coverage = Coverage(windows_done=2, windows_total=2, windows_resumed=1, records=9)
    online = VerifyFigures(
        tally=tally,
        slices=4,
        slices_equal_by_checksum=3,
        read_units=1.5,
        run_id=7,
        shards=2,
        details={},
        coverage=coverage,
    )
    assert list(online.to_summary())[10:] == [
        "slices",
        "slices_equal_by_checksum",
        "read_units",
        "run_id",
        "shards",
        "coverage",
    ]
    exported = dataclasses.replace(online, run_id=None, shards=None, details={"engine": "local"})
    summary = exported.to_summary()
    assert list(summary)[12:] == ["read_units", "engine", "coverage"]
    assert summary["coverage"] == {
        "windows_done": 2,
        "windows_total": 2,
        "windows_resumed": 1,
        "records": 9,
    }
    assert VerifyFigures.from_summary(summary) == exported


@pytest.mark.parametrize(
    ("summary", "error"),
    [
        ({"sql_count": "3"}, "'sql_count' is not int"),
        ({"consistency": True}, "'consistency' is not a number"),
        ({"surplus": 1}, "no figure 'surplus'"),
    ],
)
def test_a_malformed_summary_is_refused_naming_the_figure(
    summary: dict[str, Any], error: str
) -> None:
    base = NEUTRAL["counts"].to_summary()
    with pytest.raises(ValueError, match=error):
        CountsFigures.from_summary(base | summary)
    missing = {k: v for k, v in base.items() if k != "partitions"}
    with pytest.raises(ValueError, match="no figure 'partitions'"):
        CountsFigures.from_summary(missing)


def test_every_spec_reads_its_own_figures_type() -> None:
    for spec in (*CHECKS, *OTHER_REPORTS.values()):
        assert issubclass(spec.figures, Figures)
        assert dataclasses.is_dataclass(spec.figures)
        assert spec.figures.__dataclass_params__.frozen  # type: ignore[attr-defined]
    # Each rule's figure reads the figures of the report it is declared for.
    for figure in RULE_FIGURES.values():
        assert figure.reads is not None
    assert issubclass(TallyFigures, Figures)
