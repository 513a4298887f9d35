"""The status page and its charts (monitor/telemetry/statuspage.py, charts.py): pure rendering."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

from hypothesis import given
from hypothesis import strategies as st

from monitor.alerts.wiring import build_rules
from monitor.checks.registry import RULE_FIGURES
from monitor.config import Settings
from monitor.core.phases import Phase
from monitor.core.plan import RepairFigures
from monitor.core.rules import Observation, RuleState, Silence
from monitor.model import CheckReport, Finding, FindingKind, Outcome, Window
from monitor.repair.status import RepairRun, RepairStatus
from monitor.scheduling import RunRecord
from monitor.telemetry.charts import sparkline
from monitor.telemetry.status import StatusBoard
from monitor.telemetry.statuspage import (
    AlertsView,
    CheckView,
    PhaseView,
    StatusPage,
    render_status_page,
)
from tests.figures import figures_for

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
SENTINEL = "S3NT1NEL-value"
RULES = build_rules(Settings(), ["orphans", "counts", "quality", "sample"])


class Text(HTMLParser):
    """Visible text, and every tag with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Text:
    parser = Text()
    parser.feed(html)
    return parser


def counts_run(i: int, consistency: float) -> RunRecord:
    findings = tuple(
        Finding(FindingKind.MISSING_IN_DYNAMODB, k, detail=SENTINEL, sql_status=SENTINEL)
        for k in (3, 4, 5, 6, 7, 8)
    ) + (Finding(FindingKind.MISSING_IN_SQL, 10, sk=SENTINEL),)
    report = CheckReport(
        check="counts",
        table="integration_logs",
        key_column="log_id",
        window=Window(T0 + timedelta(minutes=i), T0 + timedelta(minutes=i + 10)),
        ok=False,
        figures=figures_for(
            "counts", {"consistency": consistency, "variance_percent": 1.7, "sql_count": 58}
        ),
        findings=findings,
    )
    return RunRecord(
        "counts", f"r{i}", T0 + timedelta(minutes=i), 0.25, Outcome.INCONSISTENT, report
    )


def status(alerts: AlertsView | None = None, phase: PhaseView | None = None) -> StatusPage:
    failing = RunRecord("orphans", "e1", T0, 0.1, Outcome.ERROR, error=RuntimeError(SENTINEL))
    return StatusPage(
        version="0.1.0",
        table="integration_logs",
        role="single",
        started_at=T0,
        now=T0 + timedelta(minutes=5),
        checks=[
            CheckView(
                "counts",
                300,
                None,
                {"ok": 0, "inconsistent": 3, "error": 0},
                [counts_run(i, 0.99 - i / 100) for i in range(3)],
            ),
            CheckView("orphans", 300, None, {"ok": 0, "inconsistent": 0, "error": 1}, [failing]),
            CheckView("sample", 300, T0, {"ok": 0, "inconsistent": 0, "error": 0}, []),
        ],
        rules=RULES,
        figures=RULE_FIGURES,
        alerts=alerts,
        phase=phase,
    )


def test_a_failing_check_shows_its_figure_against_the_threshold_and_example_keys() -> None:
    html = render_status_page(status())
    page = parse(html)
    text = " ".join(page.text)
    assert "Needs attention" in text
    row = re.search(r'<tr class="breach" data-rule="data_consistency">(.*?)</tr>', html, re.S)
    assert row is not None, html
    assert "97 %" in row.group(1) and "alert below 99.5 %" in row.group(1)
    assert '<a href="/runbook#data_consistency">' in row.group(1)
    kinds = re.search(r'<tr data-kind="missing_in_dynamodb">(.*?)</tr>', html, re.S)
    assert kinds is not None
    assert "<td>6</td>" in kinds.group(1)
    # Up to five example keys, keys only.
    assert re.findall(r"<code>(log_id=\d+)</code>", kinds.group(1)) == [
        f"log_id={k}" for k in (3, 4, 5, 6, 7)
    ]
    assert "unexpected RuntimeError" in text  # the failed run's cause, by type only
    assert SENTINEL not in html
    assert "no run yet" in text


def test_the_page_needs_nothing_from_elsewhere() -> None:
    html = render_status_page(status())
    tags = parse(html).tags
    assert not [t for t, _ in tags if t in ("script", "img", "iframe", "link")]
    assert not [
        a
        for _, a in tags
        if any((v or "").startswith(("http:", "https:", "//")) for v in a.values())
    ]
    charts = [a for t, a in tags if t == "svg"]
    assert len(charts) >= 4  # consistency, variance, findings, duration for counts alone


def test_rules_states_resolved_incidents_and_silences_are_listed() -> None:
    firing = RuleState(
        state="firing",
        firing_since=T0,
        last_observation=Observation(0.97, example_keys=("log_id=3",)),
    )
    alerts = AlertsView(
        at=T0 + timedelta(minutes=4),
        states={
            "data_consistency": firing,
            "count_variance": RuleState(state="pending", streak_since=T0),
        },
        silences=[Silence("check_failed:*", T0, T0 + timedelta(hours=2), "maintenance", "alice")],
        resolved=[("orphaned_records", T0 + timedelta(minutes=1))],
    )
    html = render_status_page(status(alerts))
    assert re.search(r'data-rule="data_consistency" data-state="firing"', html)
    assert re.search(r'data-rule="count_variance" data-state="pending"', html)
    assert "orphaned_records</a> resolved" in html
    assert "<code>check_failed:*</code>" in html and "maintenance" in html
    assert 'rule <a href="/runbook#data_consistency">data_consistency</a>' in html


def test_markup_in_names_is_escaped() -> None:
    alerts = AlertsView(
        at=T0, silences=[Silence("<b>x</b>", T0, T0 + timedelta(hours=1), "<script>", "me")]
    )
    html = render_status_page(status(alerts))
    assert "<script>" not in html and "&lt;script&gt;" in html


@given(
    st.lists(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)), max_size=40),
    st.one_of(st.none(), st.floats(min_value=-1e6, max_value=1e6)),
)
def test_a_chart_is_well_formed_svg_inside_its_box_for_any_series(
    values: list[float | None], threshold: float | None
) -> None:
    svg = sparkline(values, label="x <y>", threshold=threshold)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<y>" not in svg
    for number in re.findall(r'(?:cx|cy|x1|x2|y1|y2)="([-\d.]+)"', svg) + [
        n
        for pair in re.findall(r'points="([^"]*)"', svg)
        for p in pair.split()
        for n in p.split(",")
    ]:
        assert -0.01 <= float(number) <= 240.01


def test_the_phase_is_shown_with_when_and_by_whom_it_was_entered() -> None:
    phase = PhaseView(T0, Phase.DYNAMO_READS, since=T0, by="<alice>", rollback=False)
    html = render_status_page(status(phase=phase))
    section = re.search(r'<section class="card" id="phase">(.*?)</section>', html, re.S)
    assert section is not None, html
    assert 'data-phase="dynamo_reads"' in section.group(1)
    assert re.search(r'<li class="current"><strong><code>dynamo_reads</code>', section.group(1))
    assert "entered" in section.group(1) and "&lt;alice&gt;" in section.group(1)
    assert 'href="/runbook#migration-phases"' in section.group(1)
    rolled = render_status_page(status(phase=PhaseView(T0, Phase.DUAL_WRITE, T0, "bob", True)))
    assert "rolled back" in rolled
    assert "Not read yet" in render_status_page(status())


def test_a_failed_phase_read_keeps_the_last_phase_and_says_why() -> None:
    board = StatusBoard({})
    board.record_phase(PhaseView(T0, Phase.DUAL_WRITE, since=T0, by="setup"))
    board.record_phase(PhaseView(T0 + timedelta(seconds=30), unavailable="PostgreSQL down"))
    shown = board.phase_json()
    assert shown is not None
    assert (shown["phase"], shown["by"], shown["unavailable"]) == (
        "dual_write",
        "setup",
        "PostgreSQL down",
    )
    html = render_status_page(status(phase=board.phase))
    assert "Phase unavailable: PostgreSQL down" in html
    assert 'data-phase="dual_write"' in html  # the last phase read, still shown


def test_the_phase_section_names_stopped_checks_and_the_daemons_repair() -> None:
    from dataclasses import replace

    page = replace(
        status(phase=PhaseView(T0, Phase.DYNAMO_ONLY, since=T0, by="ana", rollback=False)),
        stopped={"counts": "SQL is no longer written in dynamo_only: <why>"},
    )
    html = render_status_page(page)
    section = re.search(r'<section class="card" id="phase">(.*?)</section>', html, re.S)
    assert section is not None
    assert "<code>counts</code>: SQL is no longer written in dynamo_only: &lt;why&gt;" in (
        section.group(1)
    )
    assert "Repair by the daemon: off" in section.group(1)
    on = RepairStatus(
        enabled=True,
        interval_seconds=900.0,
        runs=3,
        last_run=RepairRun(T0.isoformat(), plan="p1", figures=RepairFigures(applied=4, left=1)),
    )
    html = render_status_page(replace(page, repair=on))
    assert "Repair by the daemon: on, every 900 s, 3 runs; last run applied 4" in html
    failed = replace(on, last_run=RepairRun(T0.isoformat(), error="PostgreSQL unreachable"))
    assert "last run failed: PostgreSQL unreachable" in render_status_page(
        replace(page, repair=failed)
    )
    assert "Repair by the daemon" in render_status_page(replace(page, phase=None))
