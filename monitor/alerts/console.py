"""Alerts printed on a stream: for the demo and for installs without Slack."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from monitor.alerts.notifier import Delivery
from monitor.errors import AlertDeliveryError


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
            stream.write(delivery.message.plain + "\n\n")
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
            extra={"summary": message.text, "lines": message.plain.splitlines()},
        )
        return None
