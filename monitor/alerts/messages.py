"""A notification as a Slack message (Block Kit + plain `text` fallback) and as console text.

Pure. What a message may contain is fixed here: the rule, the figure against its threshold
(with the 95 % interval of a sampled figure), the window, the table, up to five record keys,
the incident's times, a value-free cause (an error's type) and the runbook link. A notification
carries nothing else, so request/response data and free-text values cannot reach a message.
Dynamic text is escaped for Slack's mrkdwn so a key cannot ping a channel or forge a link.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from monitor.core.rules import (
    CHECK_FAILED_PREFIX,
    CHECK_FAILURES_METRIC,
    STORE_UNREACHABLE_METRIC,
    Notification,
    Observation,
    RuleSpec,
    runbook_link,
)

#: Slack limits: a header's text, a key shown in a message.
_HEADER_MAX: Final = 150
_KEY_MAX: Final = 80
#: A message delivered this long after it was queued says so (and since when).
_LATE: Final = timedelta(minutes=1)

_TITLES: Final = {
    "data_consistency": "Data consistency",
    "write_success_rate": "Write success rate",
    "orphaned_records": "Orphaned records",
    "field_accuracy": "Field accuracy",
    "transaction_completion": "Transaction completion",
    "count_variance": "Count variance",
    "store_unreachable": "Store unreachable",
}
_STATUS: Final = {"firing": "FIRING", "repeat": "STILL FIRING", "resolved": "RESOLVED"}
_EMOJI: Final = {
    "firing": ":rotating_light:",
    "repeat": ":repeat:",
    "resolved": ":white_check_mark:",
    "test": ":wave:",
}


@dataclass(frozen=True, slots=True)
class Message:
    """One message, three renderings of the same content."""

    #: Slack's notification fallback: one line.
    text: str
    blocks: tuple[Block, ...]
    #: The same content as plain lines, for the console.
    plain: str

    def blocks_json(self) -> list[dict[str, Any]]:
        return [block.to_dict() for block in self.blocks]


@dataclass(frozen=True, slots=True)
class _Content:
    status: str
    emoji: str
    title: str
    #: The sentence, rendered for mrkdwn and for plain text.
    sentence_md: str
    sentence_plain: str
    facts: tuple[tuple[str, str], ...]
    keys: tuple[str, ...]
    runbook: str
    rule: str
    summary: str


def rule_title(rule: str) -> str:
    if rule.startswith(CHECK_FAILED_PREFIX):
        return f"Check {rule.removeprefix(CHECK_FAILED_PREFIX)} failing"
    return _TITLES.get(rule, rule.replace("_", " ").capitalize())


def render_notification(
    note: Notification, *, at: datetime, runbook_url: str, sent_at: datetime | None = None
) -> Message:
    """The message for `note`, emitted at `at`; `sent_at` when it goes out, if later."""
    obs, spec = note.observation, note.spec
    kind = note.kind
    facts: list[tuple[str, str]] = []
    if spec.metric not in (CHECK_FAILURES_METRIC, STORE_UNREACHABLE_METRIC):
        facts += [("Value", _value_with_interval(spec, obs)), ("Threshold", _threshold(spec))]
    if obs.table:
        facts.append(("Table", obs.table))
    if obs.window_start is not None and obs.window_end is not None:
        facts.append(("Window", f"{_iso(obs.window_start)} – {_iso(obs.window_end)}"))
    facts.append(("Firing since", _iso(note.firing_since)))
    if kind == "resolved":
        facts.append(("Resolved at", f"{_iso(at)} (after {_duration(at - note.firing_since)})"))
    elif kind == "repeat":
        facts.append(("Firing for", _duration(at - note.firing_since)))
    if obs.cause:
        facts.append(("Cause", obs.cause))
    if sent_at is not None and sent_at - at >= _LATE:
        facts.append(("Delivered late", f"queued {_iso(at)}, held {_duration(sent_at - at)}"))
    title = rule_title(note.rule)
    sentence_md = _sentence(note, at, md=True)
    sentence_plain = _sentence(note, at, md=False)
    content = _Content(
        status=_STATUS[kind],
        emoji=_EMOJI[kind],
        title=title,
        sentence_md=sentence_md,
        sentence_plain=sentence_plain,
        facts=tuple(facts),
        keys=obs.example_keys if kind != "resolved" else (),
        runbook=runbook_link(runbook_url, note.rule),
        rule=note.rule,
        summary=_summary(note),
    )
    return _render(content)


def render_test(*, at: datetime, runbook_url: str, table: str, destination: str) -> Message:
    """`alerts test`: proves the path works; says plainly that nothing is wrong."""
    sentence = (
        "This is a test message from dualwrite-monitor: alerts about table {t} will arrive "
        "here. Nothing is wrong."
    )
    content = _Content(
        status="TEST",
        emoji=_EMOJI["test"],
        title="dualwrite-monitor alerts",
        sentence_md=sentence.format(t=f"`{_escape(table)}`"),
        sentence_plain=sentence.format(t=table),
        facts=(("Sent at", _iso(at)), ("Destination", destination)),
        keys=(),
        runbook=runbook_link(runbook_url, "test"),
        rule="test",
        summary=f"test message for table {table}",
    )
    return _render(content)


# --- rendering ------------------------------------------------------------------------------


def _render(c: _Content) -> Message:
    header = f"{c.emoji} {c.status}: {c.title}"
    if len(header) > _HEADER_MAX:
        header = header[: _HEADER_MAX - 1] + "…"
    blocks: list[Block] = [
        HeaderBlock(text=header),
        SectionBlock(text=MarkdownTextObject(text=c.sentence_md)),
        SectionBlock(
            fields=[MarkdownTextObject(text=f"*{label}*\n{_escape(v)}") for label, v in c.facts]
        ),
    ]
    if c.keys:
        shown = "  ".join(f"`{_code(key)}`" for key in c.keys)
        blocks.append(
            SectionBlock(text=MarkdownTextObject(text=f"*Example keys* (up to 5)\n{shown}"))
        )
    blocks += [
        DividerBlock(),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=f"{_runbook_md(c.runbook)}rule `{_code(c.rule)}` · dualwrite-monitor"
                )
            ]
        ),
    ]
    plain = [f"[{c.status}] {c.title}", c.sentence_plain]
    width = max((len(label) for label, _ in c.facts), default=0)
    plain += [f"  {label.ljust(width)}  {value}" for label, value in c.facts]
    if c.keys:
        plain.append(f"  {'Example keys'.ljust(width)}  {', '.join(c.keys)}")
    plain.append(f"  Runbook: {c.runbook} (rule {c.rule})" if c.runbook else f"  Rule: {c.rule}")
    return Message(
        text=f"{c.status}: {c.title} — {c.summary}",
        blocks=tuple(blocks),
        plain="\n".join(plain),
    )


def _sentence(note: Notification, at: datetime, *, md: bool) -> str:
    obs, spec = note.observation, note.spec

    def bold(text: str) -> str:
        return f"*{text}*" if md else text

    title = rule_title(note.rule)
    since = _iso(note.firing_since)
    lasted = _duration(at - note.firing_since)
    cause = f" ({_escape(obs.cause) if md else obs.cause})" if obs.cause else ""
    if spec.metric == STORE_UNREACHABLE_METRIC:
        return {
            "firing": f"A store could not be reached{cause}. "
            "Data and check rules are held back while this fires.",
            "repeat": f"A store is still unreachable{cause}, since {since} ({lasted}).",
            "resolved": f"Both stores answer again; they were unreachable from {since} "
            f"for {lasted}.",
        }[note.kind]
    if spec.metric == CHECK_FAILURES_METRIC:
        check = note.rule.removeprefix(CHECK_FAILED_PREFIX)
        runs = _count(obs.value)
        return {
            "firing": f"Check {bold(check)} failed {bold(runs)} runs in a row "
            f"(the rule fires at {_count(spec.threshold + 0.5)}){cause}.",
            "repeat": f"Check {bold(check)} is still failing: {bold(runs)} runs in a row, "
            f"since {since}{cause}.",
            "resolved": f"Check {bold(check)} finishes again; it failed from {since} for {lasted}.",
        }[note.kind]
    value = bold(_percent(obs.value))
    threshold = bold(_percent(spec.threshold))
    side = spec.direction
    if note.kind == "resolved":
        estimate = "the point estimate " if spec.sampled else ""
        return (
            f"{title} is back: {estimate}{value} is no longer {side} the alert threshold of "
            f"{threshold}. It fired from {since} for {lasted}."
        )
    prefix = f"Still firing since {since} ({lasted}): " if note.kind == "repeat" else ""
    if spec.sampled and obs.lower is not None and obs.upper is not None:
        bound = "upper" if side == "below" else "lower"
        return (
            f"{prefix}{title} is {value} on a sample (95 % confidence interval "
            f"{_percent(obs.lower)} – {_percent(obs.upper)}): even the interval's {bound} bound "
            f"is {side} the alert threshold of {threshold}."
        )
    return f"{prefix}{title} is {value}, {side} the alert threshold of {threshold}."


def _summary(note: Notification) -> str:
    obs, spec = note.observation, note.spec
    where = f" on {obs.table}" if obs.table else ""
    if spec.metric == STORE_UNREACHABLE_METRIC:
        return (
            f"store unreachable{where}" if note.kind != "resolved" else f"stores reachable{where}"
        )
    if spec.metric == CHECK_FAILURES_METRIC:
        return f"{_count(obs.value)} failed runs in a row{where}"
    return f"{_percent(obs.value)} (alert {spec.direction} {_percent(spec.threshold)}){where}"


def _value_with_interval(spec: RuleSpec, obs: Observation) -> str:
    text = _percent(obs.value)
    if spec.sampled and obs.lower is not None and obs.upper is not None:
        text += f" (95 % CI {_percent(obs.lower)} – {_percent(obs.upper)})"
    return text


def _threshold(spec: RuleSpec) -> str:
    text = f"alert {spec.direction} {_percent(spec.threshold)}"
    if spec.target is not None:
        text += f" · target {_percent(spec.target)}"
    return text


def _percent(ratio: float) -> str:
    text = f"{ratio * 100:.4f}".rstrip("0").rstrip(".")
    return f"{'0' if text == '-0' else text} %"


def _count(value: float) -> str:
    return str(int(round(value)))


def _duration(span: timedelta) -> str:
    seconds = max(0, int(span.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts: Sequence[tuple[int, str]] = ((days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s"))
    shown = [f"{n}{unit}" for n, unit in parts if n][:2]
    return " ".join(shown) or "0s"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _escape(text: str) -> str:
    """Slack mrkdwn control characters; `<!channel>` or `<url|x>` in data must stay literal."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _code(text: str) -> str:
    if len(text) > _KEY_MAX:
        text = text[: _KEY_MAX - 1] + "…"
    return _escape(text.replace("`", "'"))


def _runbook_md(url: str) -> str:
    """The context line's runbook part, with its separator (nothing when there is no runbook)."""
    if not url:
        return ""
    if url.startswith(("https://", "http://")) and not any(c in url for c in "<>| "):
        return f"<{url}|Runbook> · "
    return f"Runbook: {_escape(url)} · "
