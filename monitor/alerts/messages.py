"""A notification as a neutral message: title, state, sentence, facts, example keys, links.

Pure, and free of any channel's format: `monitor.alerts.blocks` renders it as Slack Block Kit,
`monitor.alerts.console` as text (the console) or a JSON log event. What a message may contain
is fixed here: the rule, the figure against its threshold (with the 95 % interval of a sampled
figure), the window, the table, up to five record keys, the incident's times, a value-free cause
(an error's type) and links (the runbook). A notification carries nothing else, so
request/response data and free-text values cannot reach a message. Renderers escape dynamic text
for their channel (Slack's mrkdwn: a key cannot ping a channel or forge a link).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

from monitor.checks.registry import RULE_FIGURES
from monitor.core.rules import Notification, Observation, RuleSpec
from monitor.core.ruleset import (
    CHECK_FAILED_PREFIX,
    CHECK_FAILURES_METRIC,
    STORE_UNREACHABLE_METRIC,
    runbook_link,
)

#: A message delivered this long after it was queued says so (and since when).
_LATE: Final = timedelta(minutes=1)

#: Rules no check declares; a check's rules are titled in its spec (`Figure.title`).
_TITLES: Final = {"store_unreachable": "Store unreachable"}

MessageState = Literal["firing", "repeat", "resolved", "test"]
#: How each state is named in every rendering.
STATUS: Final[dict[MessageState, str]] = {
    "firing": "FIRING",
    "repeat": "STILL FIRING",
    "resolved": "RESOLVED",
    "test": "TEST",
}


@dataclass(frozen=True, slots=True)
class Span:
    """A piece of the sentence: plain text, an emphasised figure, or a literal name."""

    text: str
    style: Literal["text", "strong", "code"] = "text"


@dataclass(frozen=True, slots=True)
class Link:
    """A link a message offers (the runbook; any other page on-call may need)."""

    label: str
    url: str


@dataclass(frozen=True, slots=True)
class Message:
    """One message's content; each notifier renders it in its channel's format."""

    state: MessageState
    title: str
    sentence: tuple[Span, ...]
    #: (label, value) pairs, in the order they are shown.
    facts: tuple[tuple[str, str], ...]
    example_keys: tuple[str, ...]
    links: tuple[Link, ...]
    rule: str
    #: A few words after the title in the one-line form (notification previews, log events).
    summary: str

    @property
    def status(self) -> str:
        return STATUS[self.state]

    @property
    def headline(self) -> str:
        """The message in one line."""
        return f"{self.status}: {self.title} — {self.summary}"

    @property
    def sentence_text(self) -> str:
        return "".join(span.text for span in self.sentence)


def rule_title(rule: str) -> str:
    if rule.startswith(CHECK_FAILED_PREFIX):
        return f"Check {rule.removeprefix(CHECK_FAILED_PREFIX)} failing"
    figure = RULE_FIGURES.get(rule)
    if figure is not None and figure.title:
        return figure.title
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
    return Message(
        state=kind,
        title=rule_title(note.rule),
        sentence=_sentence(note, at),
        facts=tuple(facts),
        example_keys=obs.example_keys if kind != "resolved" else (),
        links=_runbook(runbook_url, note.rule),
        rule=note.rule,
        summary=_summary(note),
    )


def render_test(*, at: datetime, runbook_url: str, table: str, destination: str) -> Message:
    """`alerts test`: proves the path works; says plainly that nothing is wrong."""
    return Message(
        state="test",
        title="dualwrite-monitor alerts",
        sentence=(
            Span("This is a test message from dualwrite-monitor: alerts about table "),
            Span(table, "code"),
            Span(" will arrive here. Nothing is wrong."),
        ),
        facts=(("Sent at", _iso(at)), ("Destination", destination)),
        example_keys=(),
        links=_runbook(runbook_url, "test"),
        rule="test",
        summary=f"test message for table {table}",
    )


def _runbook(template: str, rule: str) -> tuple[Link, ...]:
    url = runbook_link(template, rule)
    return (Link("Runbook", url),) if url else ()


def _strong(words: str) -> Span:
    return Span(words, "strong")


def _sentence(note: Notification, at: datetime) -> tuple[Span, ...]:
    obs, spec = note.observation, note.spec
    text = Span
    title = rule_title(note.rule)
    since = _iso(note.firing_since)
    lasted = _duration(at - note.firing_since)
    cause = f" ({obs.cause})" if obs.cause else ""
    if spec.metric == STORE_UNREACHABLE_METRIC:
        said = {
            "firing": f"A store could not be reached{cause}. "
            "Data and check rules are held back while this fires.",
            "repeat": f"A store is still unreachable{cause}, since {since} ({lasted}).",
            "resolved": f"Both stores answer again; they were unreachable from {since} "
            f"for {lasted}.",
        }[note.kind]
        return (text(said),)
    if spec.metric == CHECK_FAILURES_METRIC:
        check = _strong(note.rule.removeprefix(CHECK_FAILED_PREFIX))
        runs = _strong(_count(obs.value))
        if note.kind == "firing":
            fires_at = _count(spec.threshold + 0.5)
            return (
                text("Check "),
                check,
                text(" failed "),
                runs,
                text(f" runs in a row (the rule fires at {fires_at}){cause}."),
            )
        if note.kind == "repeat":
            return (
                text("Check "),
                check,
                text(" is still failing: "),
                runs,
                text(f" runs in a row, since {since}{cause}."),
            )
        return (
            text("Check "),
            check,
            text(f" finishes again; it failed from {since} for {lasted}."),
        )
    value = _strong(_percent(obs.value))
    threshold = _strong(_percent(spec.threshold))
    side = spec.direction
    if note.kind == "resolved":
        estimate = "the point estimate " if spec.sampled else ""
        return (
            text(f"{title} is back: {estimate}"),
            value,
            text(f" is no longer {side} the alert threshold of "),
            threshold,
            text(f". It fired from {since} for {lasted}."),
        )
    prefix = f"Still firing since {since} ({lasted}): " if note.kind == "repeat" else ""
    if spec.sampled and obs.lower is not None and obs.upper is not None:
        bound = "upper" if side == "below" else "lower"
        return (
            text(f"{prefix}{title} is "),
            value,
            text(
                f" on a sample (95 % confidence interval {_percent(obs.lower)} – "
                f"{_percent(obs.upper)}): even the interval's {bound} bound is {side} the alert "
                "threshold of "
            ),
            threshold,
            text("."),
        )
    return (
        text(f"{prefix}{title} is "),
        value,
        text(f", {side} the alert threshold of "),
        threshold,
        text("."),
    )


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
