"""What the outbox hands a notifier, and what every notifier promises."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from monitor.alerts.messages import Message

DeliveryKind = Literal["firing", "repeat", "resolved", "test"]


@dataclass(frozen=True, slots=True)
class Delivery:
    kind: DeliveryKind
    message: Message
    #: The incident's first message as the notifier returned it (e.g. a Slack channel and ts):
    #: repeats go in its thread and the resolved edits it, where the notifier can.
    ref: str | None = None


class Notifier(Protocol):
    #: Where messages go, for people ("Slack bot token, #alerts"); never a secret.
    @property
    def destination(self) -> str: ...

    async def send(self, delivery: Delivery) -> str | None:
        """Deliver once; return a ref for threading/updating, if the notifier has one.

        Raises `AlertDeliveryError` (with `retry_after` when the receiver asked for a wait)
        for anything that stopped the delivery; the outbox decides when to try again.
        """
        ...
