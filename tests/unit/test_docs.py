"""The documentation cannot drift from the code: each test fails when a page and the code disagree.

Generated blocks (the configuration reference, the exit codes) must equal what `scripts/gen-docs`
writes now; the hand-written tables (metrics, runbook, commands, the README's data model and
worked example) are compared with the definitions they describe.
"""

from __future__ import annotations

import argparse
import json
import re
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from markdown.extensions.toc import slugify
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from monitor import errors
from monitor.alerts.wiring import build_rules
from monitor.checks.registry import REGISTRY
from monitor.cli import build_parser
from monitor.config import (
    MappingSettings,
    Settings,
    load_settings,
    parse_duration,
    settings_from_dict,
)
from monitor.model import CheckReport, Window
from monitor.reference import (
    ReferenceError,
    config_reference,
    format_duration,
    generated_blocks,
    pages,
    regenerate,
)
from monitor.setup import DEFAULT_COLUMNS
from monitor.stream.metrics import StreamMetrics
from monitor.telemetry.metrics import Metrics
from monitor.verify.background import VerifyMetrics
from tests.figures import figures_for
from tests.integration.test_other_mapping import MAPPING as OTHER_TEAMS_MAPPING
from tests.wire_items import wire_item

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
README = (REPO / "README.md").read_text()
CONFIG_TOML = (REPO / "config.toml").read_text()


def page(name: str) -> str:
    return (DOCS / name).read_text()


def snippet(text: str, name: str) -> str:
    """A `--8<-- [start:name]` ... `[end:name]` section (the docs include these from README)."""
    match = re.search(rf"\[start:{name}\] -->\n(.*?)<!-- --8<-- \[end:{name}\]", text, re.S)
    assert match, f"README.md has no section {name!r}"
    return match[1]


def table_rows(text: str) -> list[list[str]]:
    """The cells of every row of the Markdown tables in `text` (header and rule rows left out)."""
    rows = []
    for line in text.splitlines():
        if line.startswith("|") and not re.match(r"^\|[-| ]+\|$", line):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            rows.append(cells)
    return rows


# --- generated blocks --------------------------------------------------------------------


def test_generated_blocks_equal_what_the_code_generates() -> None:
    found = {name for p in pages() for name, _ in generated_blocks(p.read_text())}
    assert found >= {"config-reference", "exit-codes"}, "a generated block's markers are gone"
    for path in pages():
        text = path.read_text()
        assert regenerate(text) == text, f"{path.relative_to(REPO)} is stale: run scripts/gen-docs"


def test_the_reference_names_every_key_of_the_schema_with_its_default_and_comment() -> None:
    reference = config_reference(CONFIG_TOML)
    defaults = Settings()
    rows = {}
    section = ""
    for line in reference.splitlines():
        header = re.match(r"^### `\[([a-z_.]+)\]`", line)
        if header:
            section = header[1]
        elif line.startswith("| `"):
            key, _, default, meaning = table_rows(line)[0]
            rows[f"{section}.{key.strip('`')}"] = (default, meaning)
    assert rows["checks.counts.window"][0] == '`"10m"`'
    assert rows["dynamodb.max_read_units_per_second"][0] == "`500`"
    assert rows["alerts.thresholds.orphaned_records"][0] == "`{ target = 0.01, alert_above = 0.1 }`"
    assert defaults.checks.counts.window.total_seconds() == 600
    assert "Every statement the monitor sends is cancelled" in rows["postgres.statement_timeout"][1]
    # Every leaf of the schema is listed (sections descend, other keys are rows).
    for name, info in Settings.model_fields.items():
        for sub in info.annotation.model_fields:  # type: ignore[union-attr]
            assert any(k.startswith(f"{name}.{sub}") for k in rows), f"{name}.{sub} missing"


def test_a_key_missing_from_config_toml_or_without_a_comment_is_an_error() -> None:
    without_key = re.sub(r"^grace = .*\n", "", CONFIG_TOML, flags=re.M)
    with pytest.raises(ReferenceError, match=r"config.toml lacks checks.orphans.grace"):
        config_reference(without_key)
    without_comment = re.sub(r"^(pool_size = 8).*\n", r"\1\n", CONFIG_TOML, flags=re.M)
    without_comment = without_comment.replace(
        "# Connections in the monitor's pool (slices are read concurrently up to this many).\n", ""
    )
    with pytest.raises(ReferenceError, match=r"postgres.pool_size has no comment"):
        config_reference(without_comment)


def test_a_changed_comment_or_default_changes_the_reference() -> None:
    reference = config_reference(CONFIG_TOML)
    edited = CONFIG_TOML.replace("# how often the daemon runs it", "# how often it runs", 1)
    assert config_reference(edited) != reference
    # Defaults come from the schema, so the shipped file must hold them too.
    shipped = load_settings(REPO / "config.toml", environ={})
    defaults = Settings()
    for section in Settings.model_fields:
        if section == "mapping":  # key/status attributes default to PascalCase, written out
            assert shipped.table_mapping() == defaults.table_mapping()
        else:
            assert getattr(shipped, section) == getattr(defaults, section), section


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("250ms", 0.25), ("90s", 90), ("5m", 300), ("1h30m", 5400), ("2d", 172800)],
)
def test_durations_are_written_as_config_toml_writes_them(text: str, seconds: float) -> None:
    assert format_duration(parse_duration(text)) == format_duration(timedelta(seconds=seconds))
    assert format_duration(timedelta(minutes=5)) == "5m"


@given(st.integers(min_value=0, max_value=10**10).map(lambda ms: timedelta(milliseconds=ms)))
def test_a_written_duration_reads_back_as_itself(value: timedelta) -> None:
    assert parse_duration(format_duration(value)) == value


def test_exit_codes_cover_every_error_and_constant() -> None:
    constants = {v for k, v in vars(errors).items() if k.startswith("EXIT_") and k != "EXIT_CODES"}
    assert constants == set(errors.EXIT_CODES)
    for error in _subclasses(errors.MonitorError):
        assert error.exit_code in errors.EXIT_CODES, error
    documented = {int(row[0]) for row in table_rows(page("commands.md")) if row[0].isdigit()}
    assert documented == set(errors.EXIT_CODES)


def _subclasses(cls: type) -> Iterator[type[errors.MonitorError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


# --- metrics -----------------------------------------------------------------------------


class RecordingMeter:
    """Stands in for an OpenTelemetry Meter to list the instruments `Metrics` defines."""

    def __init__(self) -> None:
        self.instruments: dict[str, tuple[str, str]] = {}

    def _make(self, kind: str, name: str, unit: str = "", **_: Any) -> Any:
        assert name not in self.instruments, f"{name} defined twice"
        self.instruments[name] = (kind, unit)
        return self

    def create_gauge(self, name: str, **kw: Any) -> Any:
        return self._make("gauge", name, **kw)

    def create_counter(self, name: str, **kw: Any) -> Any:
        return self._make("counter", name, **kw)

    def create_histogram(self, name: str, **kw: Any) -> Any:
        return self._make("histogram", name, **kw)


def prometheus_name(name: str, kind: str, unit: str) -> str:
    base = name.replace(".", "_")
    if kind == "counter":
        return base + "_total"
    return base + ("_seconds" if unit == "s" else "")


def test_the_metrics_table_lists_every_instrument_with_its_kind_and_unit() -> None:
    meter = RecordingMeter()
    Metrics(meter)  # type: ignore[arg-type]
    StreamMetrics(meter)  # type: ignore[arg-type]
    VerifyMetrics(meter)  # type: ignore[arg-type]
    text = page("metrics.md")
    documented = {
        row[0].strip("`"): row[1]
        for row in table_rows(text)
        if len(row) >= 4 and re.fullmatch(r"`dualwrite\.[a-z_.]+`", row[0])
    }
    assert set(documented) == set(meter.instruments), "docs/metrics.md's instruments differ"
    for name, (kind, unit) in meter.instruments.items():
        words = [w.strip() for w in documented[name].split(",")]
        assert words[0] == kind, f"{name}: documented as {words[0]}, defined as {kind}"
        if unit not in ("", "1"):
            assert unit in words[1:], f"{name}: unit {unit} not documented"
        assert prometheus_name(name, kind, unit) in text, f"{name}: Prometheus series missing"


def test_the_metrics_table_names_the_attributes_each_instrument_is_recorded_with() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    metrics = Metrics(provider.get_meter("docs"))
    window = Window(
        datetime(2026, 11, 24, 10, tzinfo=UTC), datetime(2026, 11, 24, 10, 10, tzinfo=UTC)
    )
    summaries = {
        "counts": {"sql_count": 10, "dynamodb_count": 9, "consistency": 0.9},
        "orphans": {"orphan_ratio": 0.1, "write_success": 0.9, "transaction_completion": 1.0},
        "sample": {
            "accuracy": {"point": 1, "lower": 0.9, "upper": 1},
            "mismatches_by_field": {"A": 1},
        },
    }
    for check, summary in summaries.items():
        figures = figures_for(check, summary)
        metrics.record_report(CheckReport(check, "t", "log_id", window, True, figures, ()))
        metrics.record_run(check, "ok", 0.5)
    metrics.record_alert("data_consistency", "firing")
    metrics.set_leader(True)
    verify = VerifyMetrics(provider.get_meter("docs"))
    verify.coverage.set(0.5)
    verify.rate.set(1000.0)
    verify.eta.set(60.0)
    verify.cycles.add(1, {"outcome": "ok"})
    recorded: dict[str, set[str]] = {}
    data = reader.get_metrics_data()
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    recorded.setdefault(metric.name, set()).update(point.attributes or {})
    provider.shutdown()
    documented = {
        row[0].strip("`"): {a.split("=")[0].strip() for a in row[2].split(",") if a.strip()}
        for row in table_rows(page("metrics.md"))
        if len(row) >= 4 and re.fullmatch(r"`dualwrite\.[a-z_.]+`", row[0])
    }
    assert len(recorded) >= 14
    for name, keys in recorded.items():
        assert documented[name] == keys, f"{name}: documented {documented[name]}, recorded {keys}"


# --- runbook, commands -------------------------------------------------------------------


def anchors(text: str) -> set[str]:
    """Every id a page defines: explicit `{#id}`, `<a id>`, and headings' generated slugs."""
    ids = set(re.findall(r'<a id="([^"]+)"', text))
    fence = False
    for line in text.splitlines():
        if line.startswith("```"):
            fence = not fence
        heading = re.match(r"^#+ (.*)$", line)
        if heading and not fence:
            explicit = re.search(r"\{#([^}\s]+)\}\s*$", heading[1])
            title = re.sub(r"[`*]", "", heading[1])
            ids.add(explicit[1] if explicit else slugify(title, "-"))
    return ids


def test_the_runbook_has_an_anchor_for_every_alert_rule() -> None:
    ids = anchors(page("runbook.md"))
    rules = [rule.name for rule in build_rules(Settings(), REGISTRY)]
    assert {"store_unreachable", "check_failed:counts"} <= set(rules)
    for rule in rules:
        assert rule in ids, f"docs/runbook.md has no anchor #{rule}"
    prometheus = yaml.safe_load((REPO / "deploy/prometheus/rules.yml").read_text())
    for group in prometheus["groups"]:
        for rule in group["rules"]:
            assert rule["alert"] in ids, f"docs/runbook.md has no anchor #{rule['alert']}"


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[Any]:
    """(command words, its parser) for every subcommand, and its positional choices."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from commands(sub, (*path, name))
        elif not action.option_strings and action.choices and path:
            for choice in action.choices:
                yield (*path, str(choice)), None


def test_every_command_and_option_is_documented() -> None:
    text = page("commands.md")
    common = {"-h", "--help", "--config", "--format", "--debug"}
    for words, sub in commands(build_parser()):
        assert f"dualwrite-monitor {' '.join(words)}" in text, f"{' '.join(words)} undocumented"
        for action in sub._actions if sub else ():
            for option in set(action.option_strings) - common:
                if option.startswith("--"):
                    assert option in text, f"{' '.join(words)} {option} undocumented"


# --- the README --------------------------------------------------------------------------

#: The row behind the README's sample item: a failed credit check, still pending.
SAMPLE_ROW: dict[str, Any] = {
    "log_id": 1000123,
    "application_id": "APP-0042",
    "service_name": "CreditCheckService",
    "log_type": "Error",
    "log_timestamp": datetime(2026, 11, 24, 10, 2, 3, 250000, tzinfo=UTC),
    "request_data": '{"amount": 25000}',
    "response_data": None,
    "status_code": "503",
    "is_success": False,
    "error_message": "upstream timeout",
    "processing_time_ms": 912,
    "correlation_id": "corr-77",
    "transaction_id": "tx-77",
    "write_status": "Pending",
    "updated_at": datetime(2026, 11, 24, 10, 2, 3, 250000, tzinfo=UTC),
}


def test_the_readme_item_is_what_the_writer_puts() -> None:
    shown = json.loads(snippet(README, "item").strip().removeprefix("```json").removesuffix("```"))
    item = wire_item(SAMPLE_ROW, Settings().table_mapping())
    assert shown == item
    assert list(shown) == list(item)


def test_the_readme_columns_are_the_default_table() -> None:
    declared = {}
    for line in DEFAULT_COLUMNS.strip().splitlines():
        name, kind = line.strip().rstrip(",").split(" ", 1)
        declared[name] = kind.lower().replace(" default now()", "").replace(" primary key", "")
    shown = {}
    for row in table_rows(snippet(README, "sql")):
        kind = row[1].strip("`").split("`")[0].strip()
        for name in re.findall(r"`([a-z_]+)`", row[0]):
            shown[name] = kind
    assert list(shown) == list(declared)
    assert shown == declared


def test_the_readme_keys_are_the_default_templates() -> None:
    text = snippet(README, "keys")
    mapping = Settings().mapping
    assert mapping.pending_index is not None
    templates = [
        mapping.partition_key_template,
        mapping.sort_key_template,
        mapping.pending_index.partition_key_template,
        *(index.partition_key_template for index in Settings().checks.quality.indexes),
    ]
    for template in templates:
        assert template in text, template


def test_the_readme_mapping_keys_and_worked_example_match_the_code() -> None:
    keys = {
        name
        for row in table_rows(snippet(README, "mapping-keys"))
        for name in re.findall(r"`([a-z_]+)`", row[0])
    }
    assert keys == set(MappingSettings.model_fields)
    example = tomllib.loads(
        snippet(README, "mapping-example").strip().removeprefix("```toml").removesuffix("```")
    )
    settings_from_dict(example)  # a valid configuration
    assert example["mapping"] == tomllib.loads(OTHER_TEAMS_MAPPING)["mapping"]


def links(text: str) -> Iterator[str]:
    fence = False
    for line in text.splitlines():
        if line.startswith("```"):
            fence = not fence
        if not fence:
            yield from re.findall(r"\]\(([^)\s]+)\)", line)


@pytest.mark.parametrize("source", ["README.md", *sorted(p.name for p in DOCS.glob("*.md"))])
def test_relative_links_resolve(source: str) -> None:
    path = REPO / source if source == "README.md" else DOCS / source
    for link in links(path.read_text()):
        if re.match(r"^[a-z]+:", link):
            continue
        target, _, anchor = link.partition("#")
        file = (path.parent / target).resolve() if target else path
        assert file.exists(), f"{source}: {link} points at nothing"
        if anchor and file.suffix == ".md":
            assert anchor in anchors(file.read_text()), f"{source}: no anchor for {link}"


def test_the_readme_shows_the_two_commands_and_the_demo_picture() -> None:
    assert "\n./scripts/demo     # the product on this machine" in README
    assert "\n./scripts/test     # the whole test suite" in README
    assert (REPO / "docs/demo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "](docs/demo.png)" in README
    assert len(README.splitlines()) <= 220, "the README is the front door: details go to docs/"
