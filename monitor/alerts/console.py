"""Alerts printed on a stream: for the demo and for installs without Slack."""

from __future__ import annotations

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
