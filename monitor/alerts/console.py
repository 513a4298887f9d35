"""Alerts as text on a stream (the demo, `alerts test` without Slack) or as JSON log events."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from monitor.alerts.messages import Message
from monitor.alerts.notifier import Delivery
from monitor.errors import AlertDeliveryError


def plain_text(message: Message) -> str:
    """The content of a Slack message as aligned plain lines."""
    lines = [f"[{message.status}] {message.title}", message.sentence_text]
    width = max((len(label) for label, _ in message.facts), default=0)
    lines += [f"  {label.ljust(width)}  {value}" for label, value in message.facts]
    if message.example_keys:
        lines.append(f"  {'Example keys'.ljust(width)}  {', '.join(message.example_keys)}")
    links = "; ".join(f"{link.label}: {link.url}" for link in message.links)
    lines.append(f"  {links} (rule {message.rule})" if links else f"  Rule: {message.rule}")
    return "\n".join(lines)


class ConsoleNotifier:
    """Prints the same content a Slack message carries, one block per notification."""

    def __init__(self, stream: TextIO | None = None) -> None:
        # Resolved at send time by default, so a redirected (or captured) stdout is honoured.
        self._stream = stream

    @property
    def destination(self) -> str:
        return "console (standard output)"

    async def send(self, delivery: Delivery) -> str | None:
        stream = self._stream if self._stream is not None else sys.stdout
        try:
            stream.write(plain_text(delivery.message) + "\n\n")
            stream.flush()
        except (OSError, ValueError) as exc:  # ValueError: the stream was closed
            raise AlertDeliveryError(f"console: {type(exc).__name__}") from None
        return None


class LogNotifier:
    """The daemon's console without Slack: each alert is one JSON log event (`alert.<kind>`),
    because the daemon's stdout is a stream of JSON lines that log shippers parse."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or logging.getLogger("monitor.alerts")

    @property
    def destination(self) -> str:
        return "log (alert.* events on standard output)"

    async def send(self, delivery: Delivery) -> str | None:
        message = delivery.message
        self._log.warning(
            "alert.%s",
            delivery.kind,
            extra={"summary": message.headline, "lines": plain_text(message).splitlines()},
        )
        return None
