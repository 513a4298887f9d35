"""`[verify] export_overlap`: whether the snapshot's COPY runs while DuckDB reads the export."""

from __future__ import annotations

import pytest

from monitor.config import settings_from_dict
from monitor.errors import ConfigError
from monitor.verify.export_run import overlaps


@pytest.mark.parametrize(
    ("mode", "dsn", "beside"),
    [
        ("auto", "postgresql://monitor@127.0.0.1:5432/loans", False),
        ("auto", "postgresql:///loans", False),
        ("auto", "postgresql://monitor@db.internal:5432/loans", True),
        ("always", "postgresql://monitor@127.0.0.1:5432/loans", True),
        ("never", "postgresql://monitor@db.internal:5432/loans", False),
    ],
)
def test_the_copy_runs_beside_the_read_only_when_postgresql_is_elsewhere_unless_told(
    mode: str, dsn: str, beside: bool
) -> None:
    settings = settings_from_dict({"postgres": {"dsn": dsn}, "verify": {"export_overlap": mode}})
    assert overlaps(settings) is beside


def test_another_mode_is_a_configuration_error_naming_the_key() -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_dict({"verify": {"export_overlap": "sometimes"}})
    assert caught.value.key == "verify.export_overlap"
