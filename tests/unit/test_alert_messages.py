"""Alert messages (monitor/alerts/messages.py): what on-call reads, and what it never contains."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.alerts.blocks import blocks_json
from monitor.alerts.console import plain_text
from monitor.alerts.messages import Message, render_notification, render_test
from monitor.checks.registry import RULE_FIGURES
from monitor.core.alertmap import report_observations, run_observations
from monitor.core.rules import Notification, Observation
from monitor.core.ruleset import rules_from_thresholds
from monitor.model import CheckReport, Finding, FindingKind, Window
from monitor.stores.alert_codec import notification_from_json, notification_to_json
from tests.figures import NEUTRAL, figures_for

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
AT = T0 + timedelta(hours=4, minutes=12)
MINUTE = timedelta(minutes=1)
RUNBOOK = "https://runbooks.example/dualwrite#{rule}"
SENTINEL = "S3NT1NEL-field-value"
RULES = {
    rule.name: rule
    for rule in rules_from_thresholds(
        {
            "data_consistency": {"target": 99.9, "alert_below": 99.5},
            "write_success_rate": {"target": 99.95, "alert_below": 99.9},
            "orphaned_records": {"target": 0.01, "alert_above": 0.1},
            "field_accuracy": {"target": 99.99, "alert_below": 99.9},
            "transaction_completion": {"target": 99.9, "alert_below": 99.5},
        },
        count_threshold_percent=0.1,
        failure_runs=3,
        checks=["counts", "orphans", "sample"],
    )
}
OBS = Observation(
    0.992,
    window_start=T0 - timedelta(minutes=12),
    window_end=T0 - timedelta(minutes=2),
    example_keys=("log_id=1", "log_id=2"),
    table="integration_logs",
)


def note(rule: str = "data_consistency", kind: str = "firing", **changes: Any) -> Notification:
    base = Notification(
        rule=rule,
        kind="firing",
        observation=OBS,
        spec=RULES[rule],
        firing_since=T0,
        reply_to=None,
    )
    return replace(base, kind=kind, **changes)  # type: ignore[arg-type]


def everything(message: Message) -> str:
    return json.dumps(blocks_json(message)) + message.headline + plain_text(message)


def block_types(message: Message) -> list[str]:
    return [str(block["type"]) for block in blocks_json(message)]


def test_firing_says_what_crossed_against_the_threshold_where_and_when() -> None:
    message = render_notification(note(), at=T0, runbook_url=RUNBOOK)
    blocks = blocks_json(message)
    assert block_types(message) == ["header", "section", "section", "section", "divider", "context"]
    assert blocks[0]["text"]["text"] == ":rotating_light: FIRING: Data consistency"
    sentence = blocks[1]["text"]["text"]
    assert sentence == "Data consistency is *99.2 %*, below the alert threshold of *99.5 %*."
    facts = [field["text"] for field in blocks[2]["fields"]]
    assert facts == [
        "*Value*\n99.2 %",
        "*Threshold*\nalert below 99.5 % · target 99.9 %",
        "*Table*\nintegration_logs",
        "*Window*\n2026-11-24T09:48:00Z – 2026-11-24T09:58:00Z",
        "*Firing since*\n2026-11-24T10:00:00Z",
    ]
    assert blocks[3]["text"]["text"] == "*Example keys* (up to 5)\n`log_id=1`  `log_id=2`"
    context = blocks[5]["elements"][0]["text"]
    assert "<https://runbooks.example/dualwrite#data_consistency|Runbook>" in context
    assert message.headline == (
        "FIRING: Data consistency — 99.2 % (alert below 99.5 %) on integration_logs"
    )


def test_console_text_carries_the_same_content() -> None:
    message = render_notification(note(), at=T0, runbook_url="README.md#alerts")
    lines = plain_text(message).splitlines()
    assert lines[0] == "[FIRING] Data consistency"
    assert lines[1] == "Data consistency is 99.2 %, below the alert threshold of 99.5 %."
    assert "  Table         integration_logs" in lines
    assert "  Example keys  log_id=1, log_id=2" in lines
    assert lines[-1] == "  Runbook: README.md#alerts (rule data_consistency)"
    assert "*" not in plain_text(message)


def test_a_sampled_rule_shows_its_interval_and_why_it_fired() -> None:
    obs = replace(OBS, value=0.996, lower=0.993, upper=0.998)
    message = render_notification(
        note("field_accuracy", observation=obs), at=T0, runbook_url=RUNBOOK
    )
    blocks = blocks_json(message)
    assert blocks[1]["text"]["text"] == (
        "Field accuracy is *99.6 %* on a sample (95 % confidence interval 99.3 % – 99.8 %): "
        "even the interval's upper bound is below the alert threshold of *99.9 %*."
    )
    assert blocks[2]["fields"][0]["text"] == "*Value*\n99.6 % (95 % CI 99.3 % – 99.8 %)"


def test_an_above_rule_reads_the_lower_bound_side() -> None:
    obs = replace(OBS, value=0.004)
    message = render_notification(
        note("orphaned_records", observation=obs), at=T0, runbook_url=RUNBOOK
    )
    assert "is *0.4 %*, above the alert threshold of *0.1 %*" in message.headline + json.dumps(
        blocks_json(message)
    )


def test_repeat_and_resolved() -> None:
    repeat = render_notification(note(kind="repeat"), at=AT, runbook_url=RUNBOOK)
    blocks = blocks_json(repeat)
    assert blocks[0]["text"]["text"] == ":repeat: STILL FIRING: Data consistency"
    assert blocks[1]["text"]["text"].startswith(
        "Still firing since 2026-11-24T10:00:00Z (4h 12m): Data consistency is *99.2 %*"
    )
    assert "*Firing for*\n4h 12m" in [f["text"] for f in blocks[2]["fields"]]

    healthy = replace(OBS, value=0.9991)
    resolved = render_notification(
        note(kind="resolved", observation=healthy), at=AT, runbook_url=RUNBOOK
    )
    blocks = blocks_json(resolved)
    assert blocks[0]["text"]["text"] == ":white_check_mark: RESOLVED: Data consistency"
    assert blocks[1]["text"]["text"] == (
        "Data consistency is back: *99.91 %* is no longer below the alert threshold of "
        "*99.5 %*. It fired from 2026-11-24T10:00:00Z for 4h 12m."
    )
    assert "*Resolved at*\n2026-11-24T14:12:00Z (after 4h 12m)" in [
        f["text"] for f in blocks[2]["fields"]
    ]
    # A resolved message lists no example keys: they described the incident, not the fix.
    assert "section" in block_types(resolved) and "Example keys" not in everything(resolved)


def test_check_failed_and_store_unreachable_say_what_failed_without_error_text() -> None:
    failing = run_observations(
        "counts",
        None,
        failures=3,
        unreachable=True,
        table="t",
        figures=RULE_FIGURES,
        cause="StoreUnavailable (X)",
    )
    message = render_notification(
        note("check_failed:counts", observation=failing["check_failed:counts"]),
        at=T0,
        runbook_url=RUNBOOK,
    )
    blocks = blocks_json(message)
    assert blocks[0]["text"]["text"] == ":rotating_light: FIRING: Check counts failing"
    assert blocks[1]["text"]["text"] == (
        "Check *counts* failed *3* runs in a row (the rule fires at 3) (StoreUnavailable (X))."
    )
    assert message.headline == "FIRING: Check counts failing — 3 failed runs in a row on t"
    down = render_notification(
        note("store_unreachable", observation=failing["store_unreachable"]),
        at=T0,
        runbook_url=RUNBOOK,
    )
    assert "A store could not be reached (StoreUnavailable (X))" in everything(down)
    assert "Value" not in everything(down)


def test_a_late_delivery_says_when_it_was_queued() -> None:
    on_time = render_notification(note(), at=T0, runbook_url=RUNBOOK, sent_at=T0 + MINUTE / 2)
    assert "Delivered late" not in everything(on_time)
    late = render_notification(note(), at=T0, runbook_url=RUNBOOK, sent_at=T0 + 23 * MINUTE)
    facts = [field["text"] for field in blocks_json(late)[2]["fields"]]
    assert facts[-1] == "*Delivered late*\nqueued 2026-11-24T10:00:00Z, held 23m"


def test_dynamic_text_cannot_ping_or_forge_links() -> None:
    obs = replace(OBS, example_keys=("id=<!channel>", "id=<https://evil|click>", "id=`x`&"))
    text = json.dumps(
        blocks_json(render_notification(note(observation=obs), at=T0, runbook_url=RUNBOOK))
    )
    assert "<!channel>" not in text and "<https://evil" not in text
    assert "&lt;!channel&gt;" in text and "'x'&amp;" in text


def test_a_non_url_runbook_is_plain_text_and_long_names_fit_the_header() -> None:
    long_check = "c" * 200
    spec = rules_from_thresholds(
        {}, count_threshold_percent=0.1, failure_runs=1, checks=[long_check]
    )[-1]
    message = render_notification(
        Notification(f"check_failed:{long_check}", "firing", OBS, spec, T0, None),
        at=T0,
        runbook_url="README.md#alerts",
    )
    blocks = blocks_json(message)
    assert len(blocks[0]["text"]["text"]) <= 150
    assert "Runbook: README.md#alerts" in blocks[-1]["elements"][0]["text"]


def test_the_test_message_says_nothing_is_wrong() -> None:
    message = render_test(
        at=T0, runbook_url=RUNBOOK, table="integration_logs", destination="console"
    )
    assert blocks_json(message)[0]["text"]["text"] == ":wave: TEST: dualwrite-monitor alerts"
    assert "Nothing is wrong." in plain_text(message)
    assert "integration_logs" in message.headline


def test_a_notification_survives_the_outbox_codec() -> None:
    original = note("field_accuracy", observation=replace(OBS, lower=0.99, upper=0.995))
    restored = notification_from_json(json.loads(json.dumps(notification_to_json(original))))
    assert restored == original


# --- no data, ever ------------------------------------------------------------------------

values = st.text(min_size=0, max_size=30).map(lambda t: f"{t}{SENTINEL}")


@st.composite
def reports_full_of_data(draw: st.DrawFn) -> CheckReport:
    """A report whose every free-text place holds a field value (marked by the sentinel)."""
    check = draw(st.sampled_from(["counts", "orphans", "sample"]))
    findings = tuple(
        Finding(
            kind=draw(st.sampled_from(list(FindingKind))),
            key=draw(st.integers(min_value=0, max_value=2**63)),
            pk=draw(values),
            sk=draw(values),
            sql_status=draw(values),
            dynamodb_status=draw(values),
            field=draw(values),
            rule=draw(values),
            detail=draw(values),
        )
        for _ in range(draw(st.integers(min_value=0, max_value=8)))
    )
    ratio = st.floats(min_value=0.0, max_value=1.0)
    lower, upper = sorted((draw(ratio), draw(ratio)))
    summary = {
        "consistency": draw(ratio),
        "variance_percent": draw(st.floats(min_value=0, max_value=100)),
        "orphan_ratio": draw(ratio),
        "write_success": draw(ratio),
        "transaction_completion": draw(ratio),
        "accuracy": {"point": draw(ratio), "lower": lower, "upper": upper},
        "mismatches_by_field": {draw(values): 1},
    }
    # And each check's text figure holds one too.
    text = {"counts": "discovery_last_run", "orphans": "pending_source", "sample": "sampling"}
    known = NEUTRAL[check].to_summary()
    mine = {k: v for k, v in summary.items() if k in known} | {text[check]: draw(values)}
    return CheckReport(
        check=check,
        table="integration_logs",
        key_column="log_id",
        window=Window(T0, T0 + timedelta(minutes=10)),
        ok=False,
        figures=figures_for(check, mine),
        findings=findings,
        warnings=(draw(values),),
    )


@settings(max_examples=80, deadline=None)
@given(report=reports_full_of_data(), kind=st.sampled_from(["firing", "repeat", "resolved"]))
def test_no_value_of_a_finding_or_summary_ever_reaches_a_message(
    report: CheckReport, kind: str
) -> None:
    observations = report_observations(report, RULE_FIGURES)
    assert observations, "every generated report informs at least one rule"
    for rule, obs in observations.items():
        # Every kind of message for every observation, whatever the figure says.
        candidate = Notification(rule, kind, obs, RULES[rule], T0, "C1:1.0")  # type: ignore[arg-type]
        message = render_notification(candidate, at=AT, runbook_url=RUNBOOK)
        assert SENTINEL not in everything(message)
        assert SENTINEL not in json.dumps(notification_to_json(candidate))
        if kind != "resolved":
            # The keys are shown (keys are allowed): the check above read a full message.
            assert all(key in plain_text(message) for key in obs.example_keys)


def test_check_failures_link_to_their_own_runbook_anchor() -> None:
    spec = rules_from_thresholds({}, count_threshold_percent=0.1, failure_runs=3, checks=["counts"])
    failing = Notification("check_failed:counts", "firing", OBS, spec[-1], T0, None)
    template = "http://monitor.svc:9464/runbook#{rule}"
    message = render_notification(failing, at=T0, runbook_url=template)
    context = blocks_json(message)[-1]["elements"][0]["text"]
    assert "<http://monitor.svc:9464/runbook#check_failed:counts|Runbook>" in context
    assert "rule `check_failed:counts`" in context


def test_without_a_runbook_the_message_has_no_dangling_link() -> None:
    message = render_notification(note(), at=T0, runbook_url="")
    context = blocks_json(message)[-1]["elements"][0]["text"]
    assert context == "rule `data_consistency` · dualwrite-monitor"
    assert "Runbook" not in plain_text(message) and plain_text(message).endswith(
        "Rule: data_consistency"
    )
