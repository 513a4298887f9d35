"""Realistic `IntegrationLogs` records for the traffic generator, repeatable from a seed.

Several services and loan applications (a few applications are much busier than the rest), a
success/error mix with error messages and status codes, JSON payloads from a few hundred bytes
to tens of KB, and correlation ids shared by a request and its response. The same seed gives the
same records; keys start at `first_key` and increase by one.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SERVICES = (
    "CreditCheckService",
    "IncomeVerification",
    "FraudScreen",
    "DocumentStore",
    "IdentityVerification",
    "BankStatementParser",
)
#: (status code, error message) of the failures a service reports.
FAILURES = (
    ("503", "upstream timeout"),
    ("502", "bad gateway from bureau"),
    ("429", "rate limited by provider"),
    ("500", "internal error while scoring"),
    ("422", "applicant record incomplete"),
)
ERROR_SHARE = 0.08
APPLICATIONS = 2000


def payload(rng: random.Random, *, target_bytes: int) -> str:
    """A JSON document of roughly `target_bytes`: nested objects, lists and numbers."""
    doc: dict[str, Any] = {
        "applicant": {"id": f"A{rng.randrange(10**7):07d}", "region": rng.choice("NSEW")},
        "amount": rng.randrange(1000, 500_000),
        "currency": "USD",
    }
    # One line item is about 60 bytes once serialised compactly.
    doc["items"] = [
        {"line": n, "code": f"C{rng.randrange(10**5):05d}", "score": round(rng.random() * 900, 2)}
        for n in range(max(0, (target_bytes - 110) // 60))
    ]
    return json.dumps(doc, separators=(",", ":"))


def payload_size(rng: random.Random) -> int:
    """Log-normal sizes: a median around 700 bytes, a tail into tens of KB (capped at 60 KB)."""
    return int(min(60_000, max(200, math.exp(rng.gauss(math.log(700), 1.2)))))


@dataclass
class RecordFactory:
    seed: int
    first_key: int
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _rng: random.Random = field(init=False)
    _next: int = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._next = self.first_key

    def application(self) -> str:
        # Zipf-like: a few applications produce most of the traffic.
        rank = int(APPLICATIONS ** self._rng.random())
        return f"APP-{rank:05d}"

    def make(self, *, invalid_json: bool = False) -> dict[str, Any]:
        """The next record (without write status or transaction id: the writer sets those)."""
        rng = self._rng
        key = self._next
        self._next += 1
        ok = rng.random() >= ERROR_SHARE
        code, message = ("200", None) if ok else rng.choice(FAILURES)
        request = payload(rng, target_bytes=payload_size(rng))
        if invalid_json:
            request = request[: len(request) // 2]  # a truncated document: not valid JSON
        response = payload(rng, target_bytes=payload_size(rng) // 2) if ok else None
        return {
            "log_id": key,
            "application_id": self.application(),
            "service_name": rng.choice(SERVICES),
            "log_type": "Response" if ok else "Error",
            "log_timestamp": self.clock(),
            "request_data": request,
            "response_data": response,
            "status_code": code,
            "is_success": ok,
            "error_message": message,
            "processing_time_ms": int(rng.expovariate(1 / 120)) + 3,
            "correlation_id": f"{rng.getrandbits(128):032x}",
        }
